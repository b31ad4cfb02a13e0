"""Pictures of the insight reports, as PNG bytes: the reliability plot, the investment plot and
the contribution plot.

Like `whatif/plots.py`: Matplotlib's object API on the Agg canvas (no pyplot, no global
state), axes labelled with their units, every point's sample size written next to it, the
95 % intervals drawn as error bars.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from allocator.insight.calibration import CalibrationReport, CalibrationRow
from allocator.insight.contribution import ContributionReport
from allocator.insight.investment import InvestmentReport
from allocator.whatif.plots import PALETTE, _png


def _errors(rows: Sequence[CalibrationRow]) -> tuple[np.ndarray, np.ndarray]:
    values = np.array([r.observed.value or 0.0 for r in rows])
    low = np.array([r.observed.low or 0.0 for r in rows])
    high = np.array([r.observed.high or 0.0 for r in rows])
    return values, np.vstack([values - low, high - values])


def reliability_figure(report: CalibrationReport, dimension: str = "stage") -> Figure:
    """Observed win rate against assumed probability: the bins (left), one dimension (right)."""
    figure = Figure(figsize=(11, 5), layout="constrained")
    left, right = figure.subplots(1, 2)
    for axes, rows, title in (
        (left, report.of("bin"), "by bin of assumed probability"),
        (right, report.of(dimension), f"by {dimension}"),
    ):
        rows = [r for r in rows if r.n and r.assumed is not None]
        axes.plot([0, 1], [0, 1], color="#adb5bd", linestyle="--", label="perfect calibration")
        if rows:
            x = np.array([r.assumed or 0.0 for r in rows])
            y, spread = _errors(rows)
            axes.errorbar(
                x,
                y,
                yerr=spread,
                fmt="o",
                color=PALETTE[0],
                ecolor=PALETTE[1],
                capsize=3,
                label="observed (95 % Wilson interval)",
            )
            for r, xi, yi in zip(rows, x, y, strict=True):
                tag = f"n={r.n}" if dimension == "bin" or axes is left else f"{r.level} n={r.n}"
                axes.annotate(
                    tag, (xi, yi), textcoords="offset points", xytext=(5, -11), fontsize=7
                )
        axes.set_xlim(0, 1)
        axes.set_ylim(0, 1)
        axes.set_xlabel("assumed win probability (mean of the plans, 0-1)")
        axes.set_ylabel("observed win rate (won / decided, 0-1)")
        axes.set_title(title, loc="left", fontsize=10)
        axes.legend(loc="upper left", fontsize=8, frameon=False)
    figure.suptitle(
        f"Calibration, {report.decided} decided opportunities; {report.period}", fontsize=10
    )
    return figure


def reliability_png(report: CalibrationReport, dimension: str = "stage") -> bytes:
    return _png(reliability_figure(report, dimension))


def investment_figure(report: InvestmentReport, grouping: str = "stage") -> Figure:
    """Win rate with and without presales hours per group (left), won value per hour (right)."""
    rows = [r for r in report.rows if r.grouping == grouping]
    figure = Figure(figsize=(11, 5), layout="constrained")
    left, right = figure.subplots(1, 2)
    x = np.arange(len(rows))
    for offset, name, colour, label in (
        (-0.18, "win_rate_supported", PALETTE[1], "with presales hours"),
        (0.18, "win_rate_unsupported", PALETTE[3], "without"),
    ):
        estimates = [getattr(r, name) for r in rows]
        y = np.array([e.value if e.value is not None else np.nan for e in estimates])
        low = np.array([e.low if e.low is not None else np.nan for e in estimates])
        high = np.array([e.high if e.high is not None else np.nan for e in estimates])
        left.errorbar(
            x + offset,
            y,
            yerr=np.vstack([y - low, high - y]),
            fmt="o",
            color=colour,
            capsize=3,
            label=label,
        )
        for xi, yi, e in zip(x + offset, y, estimates, strict=True):
            if not np.isnan(yi):
                left.annotate(
                    f"n={e.n}", (xi, yi), textcoords="offset points", xytext=(4, 4), fontsize=7
                )
    left.set_ylim(0, 1)
    left.set_ylabel("win rate (won / decided, 0-1, 95 % Wilson interval)")
    per_hour = [r.won_value_per_hour for r in rows]
    y = np.array([e.value if e.value is not None else 0.0 for e in per_hour])
    low = np.array([e.low if e.low is not None else 0.0 for e in per_hour])
    high = np.array([e.high if e.high is not None else 0.0 for e in per_hour])
    right.bar(
        x,
        y,
        color=PALETTE[0],
        yerr=np.vstack([y - low, high - y]),
        capsize=3,
        label="won value per hour",
    )
    right.set_ylabel("value won per presales hour (currency / h, 95 % bootstrap)")
    for axes in (left, right):
        axes.set_xticks(x, [r.level for r in rows], rotation=20)
        axes.set_xlabel(grouping)
        axes.legend(loc="best", fontsize=8, frameon=False)
    figure.suptitle(f"Presales investment by {grouping}; {report.period}", fontsize=10)
    return figure


def investment_png(report: InvestmentReport, grouping: str = "stage") -> bytes:
    return _png(investment_figure(report, grouping))


def contribution_figure(report: ContributionReport, most: int = 25) -> Figure:
    """Planned against actual hours over the weeks each engineer reported, for the `most`
    engineers with the most actual hours; each bar names its weeks reported and missing (a
    missing timesheet is not 0 h: it is left out of both bars)."""
    shown = sorted(report.engineers, key=lambda c: (-c.actual_hours, c.engineer_id))[:most]
    shown.reverse()  # The most hours on top.
    figure = Figure(figsize=(10, 1.6 + 0.32 * max(1, len(shown))), layout="constrained")
    axes = figure.subplots()
    y = np.arange(len(shown))
    axes.barh(
        y + 0.2,
        [c.planned_hours_reported_weeks for c in shown],
        height=0.4,
        color=PALETTE[3],
        label="planned (weeks reported)",
    )
    axes.barh(
        y - 0.2, [c.actual_hours for c in shown], height=0.4, color=PALETTE[0], label="actual"
    )
    for yi, c in zip(y, shown, strict=True):
        tag = f"{c.weeks_reported} wk reported" + (
            f", {len(c.missing_weeks)} missing" if c.missing_weeks else ""
        )
        top = max(c.actual_hours, c.planned_hours_reported_weeks)
        axes.annotate(tag, (top, yi), textcoords="offset points", xytext=(4, -3), fontsize=7)
    axes.set_yticks(y, [f"{c.name or c.engineer_id} ({c.engineer_id})" for c in shown], fontsize=8)
    axes.set_xlabel("presales hours over the weeks reported (h)")
    axes.set_ylabel("engineer")
    axes.legend(loc="lower right", fontsize=8, frameon=False)
    figure.suptitle(
        f"Planned against actual hours, the {len(shown)} engineers with the most actual hours "
        f"of {len(report.engineers)}; {report.period}",
        fontsize=10,
    )
    return figure


def contribution_png(report: ContributionReport, most: int = 25) -> bytes:
    return _png(contribution_figure(report, most))
