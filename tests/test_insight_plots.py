"""The contribution plot: planned against actual hours per engineer, most actual hours on top,
each bar naming its weeks reported and missing, axes labelled with their units."""

from __future__ import annotations

from test_insight import ACTUALS, OUTCOMES, RUNS, _portfolio

from allocator.insight.contribution import contribution_report
from allocator.insight.plots import contribution_figure, contribution_png


def test_the_contribution_plot_shows_planned_and_actual_with_weeks_reported_and_missing() -> None:
    report = contribution_report(_portfolio(), ACTUALS, OUTCOMES, RUNS)
    figure = contribution_figure(report)
    axes = figure.axes[0]
    assert axes.get_xlabel() == "presales hours over the weeks reported (h)"
    bars = axes.patches
    assert len(bars) == 2 * len(report.engineers)
    ranked = sorted(report.engineers, key=lambda c: (-c.actual_hours, c.engineer_id))
    labels = [t.get_text() for t in axes.get_yticklabels()]
    assert labels[-1].endswith(f"({ranked[0].engineer_id})")  # The most hours on top.
    actual = {round(b.get_width(), 6) for b in bars}
    assert {round(c.actual_hours, 6) for c in report.engineers} <= actual
    notes = [t.get_text() for t in axes.texts]
    for c in report.engineers:
        expected = f"{c.weeks_reported} wk reported" + (
            f", {len(c.missing_weeks)} missing" if c.missing_weeks else ""
        )
        assert expected in notes
    assert contribution_png(report, most=1).startswith(b"\x89PNG")
    assert len(contribution_figure(report, most=1).axes[0].patches) == 2
