"""Pictures of what-if results, as PNG bytes: the ratio curve, the scenario comparison, unmet
demand, and the hiring ranking.

An edge helper: renders the service's results (`ratios`, `compare`, `hiring`), decides
nothing. Uses Matplotlib's object API with the Agg canvas (no pyplot, no global state), so it
is safe in a server's threads. The CLI writes these bytes to files; the API serves them.

Every plot labels its axes with units (currency is the portfolio's own; hours are presales
hours over the planning horizon) and has a legend.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from allocator.whatif.compare import Comparison, Figures, SweepComparison
from allocator.whatif.hiring import HiringRecommendation
from allocator.whatif.ratios import RatioCurve

GAIN = "#2a9d8f"
LOSS = "#e76f51"
BASE = "#6c757d"
TIER_COLOURS = {"A": "#264653", "B": "#2a9d8f", "C": "#e9c46a"}
ABOVE: dict[str, Any] = {
    "loc": "lower right",
    "bbox_to_anchor": (1.0, 1.0),
    "fontsize": 8,
    "ncols": 2,
    "frameon": False,
    "borderaxespad": 0.2,
}
"""Legend placement above the panel's top right corner (titles are on the left), clear of
the bars."""
PALETTE = ("#264653", "#2a9d8f", "#e9c46a", "#f4a261", "#e76f51", "#8d99ae", "#6a4c93")


def _money(value: float, _: object = None) -> str:
    """Axis labels in thousands or millions: 1.2M, 350k."""
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:,.2f}".rstrip("0").rstrip(".") + "M"
    if size >= 1e3:
        return f"{value / 1e3:,.1f}".rstrip("0").rstrip(".") + "k"
    return f"{value:,.0f}"


def _png(figure: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    return buffer.getvalue()


def ratio_figure(curve: RatioCurve) -> Figure:
    """Value covered against headcount (top) and the marginal value per engineer (bottom)."""
    figure = Figure(figsize=(9, 7.5), layout="constrained")
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    x = np.array([p.presales for p in curve.points])
    y = np.array([p.expected_value_covered for p in curve.points])
    top.plot(x, y, marker="o", color=PALETTE[0], label="expected value covered")
    current = [p for p in curve.points if p.current]
    if current:
        top.scatter(
            [current[0].presales],
            [current[0].expected_value_covered],
            s=140,
            facecolors="none",
            edgecolors=LOSS,
            linewidths=2,
            zorder=3,
            label=f"today ({current[0].presales} presales, {current[0].ratio})",
        )
    for point in curve.points:
        if point.requested:
            top.annotate(
                " / ".join(point.requested),
                (point.presales, point.expected_value_covered),
                textcoords="offset points",
                xytext=(0, 9),
                ha="center",
                fontsize=8,
                color=BASE,
            )
    top.set_ylabel("Expected value covered\n(currency, whole portfolio)")
    top.yaxis.set_major_formatter(FuncFormatter(_money))
    top.set_title(
        f"Presales-to-sales ratio sweep, {curve.scope} ({curve.sales} salespeople)", loc="left"
    )
    top.grid(alpha=0.3)
    top.legend(loc="lower right")

    marginal = [p.marginal_value for p in curve.points]
    xs = [p.presales for p, m in zip(curve.points, marginal, strict=True) if m is not None]
    ms = [m for m in marginal if m is not None]
    colours = [GAIN if m >= 0 else LOSS for m in ms]
    bottom.bar(
        xs, ms, color=colours, width=0.6, label="value per engineer added since the previous point"
    )
    bottom.axhline(0, color=BASE, linewidth=0.8)
    bottom.set_ylabel("Marginal value\n(currency per engineer)")
    bottom.set_xlabel(f"Presales engineers in {curve.scope} (headcount)")
    bottom.yaxis.set_major_formatter(FuncFormatter(_money))
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    bottom.grid(alpha=0.3, axis="y")
    bottom.legend(loc="upper right")
    figure.text(
        0.01,
        -0.02,
        f"Each point re-solved (seed {curve.seed}, {curve.time_limit:g} s budget, warm start). "
        f"Releases: {curve.release_rule}.",
        fontsize=7,
        color=BASE,
    )
    return figure


def comparison_figure(result: SweepComparison) -> Figure:
    """Four panels, one row per scenario: value covered against the base, opportunities
    staffed by tier, utilization by region, assignment churn."""
    rows = [result.base, *(c.figures for c in result.scenarios)]
    names = [f.name for f in rows]
    height = max(6.0, 0.42 * len(rows) * 2 + 2.5)
    figure = Figure(figsize=(15, height), layout="constrained")
    (value_ax, tier_ax), (util_ax, churn_ax) = figure.subplots(2, 2, sharey=True)
    y = np.arange(len(rows))

    deltas = [f.expected_value_covered - result.base.expected_value_covered for f in rows]
    colours = [BASE] + [GAIN if d >= 0 else LOSS for d in deltas[1:]]
    value_ax.barh(y, deltas, color=colours)
    base_value = result.base.expected_value_covered
    for k, delta in enumerate(deltas[1:], start=1):
        share = f" ({100 * delta / base_value:+.1f}%)" if base_value else ""
        value_ax.annotate(
            f"{'+' if delta >= 0 else '-'}{_money(abs(delta))}{share}",
            (delta, k),
            xytext=(4 if delta >= 0 else -4, 0),
            textcoords="offset points",
            ha="left" if delta >= 0 else "right",
            va="center",
            fontsize=8,
        )
    value_ax.margins(x=0.25)
    value_ax.axvline(0, color=BASE, linewidth=0.8)
    value_ax.set_xlabel("Expected value covered minus the base's (currency)")
    value_ax.xaxis.set_major_formatter(FuncFormatter(_money))
    value_ax.set_title(
        f"Value covered (base: {_money(result.base.expected_value_covered)} of "
        f"{_money(result.base.expected_value_requested)})",
        loc="left",
    )
    value_ax.legend(
        handles=[
            Patch(color=GAIN, label="more than the base"),
            Patch(color=LOSS, label="less than the base"),
        ],
        **ABOVE,
    )
    value_ax.grid(alpha=0.3, axis="x")

    _grouped(
        tier_ax,
        y,
        {
            f"tier {tier}": [f.staffed_by_tier[tier].staffed for f in rows]
            for tier in ("A", "B", "C")
        },
        [TIER_COLOURS[t] for t in ("A", "B", "C")],
    )
    tier_ax.set_xlabel("Opportunities staffed (count)")
    tier_ax.set_title("Opportunities staffed by customer tier", loc="left")

    regions = sorted({r for f in rows for r in f.utilization_by_region})
    _grouped(
        util_ax,
        y,
        {region: [100 * _share(f, region) for f in rows] for region in regions},
        list(PALETTE),
    )
    util_ax.set_xlabel("Utilization (% of available presales hours assigned)")
    util_ax.set_title("Utilization by region", loc="left")

    churn = [c.churn for c in result.scenarios]
    parts = {
        "kept": [0, *(c.kept for c in churn)],
        "reassigned": [0, *(c.reassigned for c in churn)],
        "dropped": [0, *(c.dropped for c in churn)],
        "added": [0, *(c.added for c in churn)],
    }
    left = np.zeros(len(rows))
    for (label, values), colour in zip(parts.items(), (BASE, PALETTE[3], LOSS, GAIN), strict=True):
        churn_ax.barh(y, values, left=left, color=colour, label=label)
        left += np.array(values)
    churn_ax.set_xlabel("Assignments against the base's (count)")
    churn_ax.set_title("Assignment churn", loc="left")
    churn_ax.legend(**{**ABOVE, "ncols": 4})
    churn_ax.grid(alpha=0.3, axis="x")

    for ax in (value_ax, util_ax):
        ax.set_yticks(y, names)
    value_ax.invert_yaxis()  # Shared: the base on top in every panel.
    figure.suptitle(
        f"Scenarios against the base (seed {result.seed}, {result.time_limit:g} s per solve, "
        f"{result.executor} executor)",
        x=0.01,
        ha="left",
    )
    return figure


def _share(figures: Figures, region: str) -> float:
    found = figures.utilization_by_region.get(region)
    return found.share if found is not None else 0.0


def _grouped(
    ax: Axes, y: np.ndarray, series: dict[str, list[float]], colours: Sequence[str]
) -> None:
    """Horizontal bars, one group per row, one bar per series."""
    n = max(1, len(series))
    height = 0.8 / n
    for k, (label, values) in enumerate(series.items()):
        ax.barh(
            y - 0.4 + height * (k + 0.5),
            values,
            height=height,
            color=colours[k % len(colours)],
            label=label,
        )
    ax.legend(**{**ABOVE, "ncols": min(n, 5)})
    ax.grid(alpha=0.3, axis="x")


def unmet_figure(base: Figures, scenario: Comparison | None = None) -> Figure:
    """Unmet demand hours by skill x region: the base, and the change in `scenario`."""
    skills = sorted(
        set(base.unmet_demand_hours) | set(scenario.figures.unmet_demand_hours if scenario else {})
    )
    regions = sorted(
        {r for by in base.unmet_demand_hours.values() for r in by}
        | (
            {r for by in scenario.figures.unmet_demand_hours.values() for r in by}
            if scenario
            else set()
        )
    )

    def grid(figures: Figures) -> np.ndarray:
        return np.array(
            [[figures.unmet_demand_hours.get(s, {}).get(r, 0.0) for r in regions] for s in skills]
        )

    panels = 2 if scenario is not None else 1
    figure = Figure(figsize=(6.5 * panels + 1, 0.45 * len(skills) + 2.5), layout="constrained")
    axes = figure.subplots(1, panels, squeeze=False)[0]
    base_grid = grid(base)
    image = axes[0].imshow(base_grid, cmap="Oranges", aspect="auto")
    figure.colorbar(image, ax=axes[0], label="Unstaffed demand (hours over the horizon)")
    axes[0].set_title("Unmet demand in the base", loc="left")
    _label_grid(axes[0], base_grid, skills, regions)
    if scenario is not None:
        change = grid(scenario.figures) - base_grid
        limit = max(1.0, float(np.abs(change).max()))
        image = axes[1].imshow(change, cmap="RdYlGn_r", vmin=-limit, vmax=limit, aspect="auto")
        figure.colorbar(
            image, ax=axes[1], label="Change in unstaffed hours (negative: more staffed)"
        )
        axes[1].set_title(f"Change in {scenario.name}", loc="left")
        _label_grid(axes[1], change, skills, regions)
    return figure


def _label_grid(ax: Axes, values: np.ndarray, skills: list[str], regions: list[str]) -> None:
    ax.set_xticks(range(len(regions)), regions)
    ax.set_yticks(range(len(skills)), skills)
    ax.set_xlabel("Region of the opportunity")
    ax.set_ylabel("Skill of the role")
    for i in range(len(skills)):
        for j in range(len(regions)):
            if values[i, j]:
                ax.text(j, i, f"{values[i, j]:,.0f}", ha="center", va="center", fontsize=7)


def hiring_figure(recommendation: HiringRecommendation, top: int = 15) -> Figure:
    """The best single hires by marginal value covered, and the greedy plan's picks."""
    shown = recommendation.ranking[:top]
    labels = [f"{c.skill} in {c.region}" for c in shown]
    values = [c.value_delta for c in shown]
    picked = {(p.skill, p.region): p.round for p in recommendation.plan}
    figure = Figure(figsize=(10, 0.4 * len(shown) + 2.5), layout="constrained")
    ax = figure.subplots()
    y = np.arange(len(shown))
    colours = [GAIN if (c.skill, c.region) in picked else PALETTE[0] for c in shown]
    ax.barh(y, values, color=colours)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.axvline(0, color=BASE, linewidth=0.8)
    ax.set_xlim(right=max([0.0, *values]) * 1.15 + 1)  # Room for the notes.
    ax.set_xlabel("Marginal expected value covered by one more engineer (currency)")
    ax.xaxis.set_major_formatter(FuncFormatter(_money))
    ax.grid(alpha=0.3, axis="x")
    for k, c in enumerate(shown):
        note = "" if c.exact else " (heuristic)"
        if (c.skill, c.region) in picked:
            note += f"  pick {picked[(c.skill, c.region)]}"
        if note:
            ax.annotate(
                note,
                (max(0.0, c.value_delta), k),
                xytext=(3, 0),
                textcoords="offset points",
                va="center",
                fontsize=8,
            )
    ax.legend(
        handles=[
            Patch(color=PALETTE[0], label="one more engineer, on the base"),
            Patch(color=GAIN, label="in the greedy plan (first-round value)"),
        ],
        loc="lower right",
        fontsize=8,
    )
    ax.set_title(
        f"Which hire adds the most covered value (re-solve, budget {recommendation.budget})",
        loc="left",
    )
    return figure


def ratio_plot(curve: RatioCurve) -> bytes:
    """`ratio_figure` as PNG bytes."""
    return _png(ratio_figure(curve))


def comparison_plot(result: SweepComparison) -> bytes:
    """`comparison_figure` as PNG bytes."""
    return _png(comparison_figure(result))


def unmet_plot(base: Figures, scenario: Comparison | None = None) -> bytes:
    """`unmet_figure` as PNG bytes."""
    return _png(unmet_figure(base, scenario))


def hiring_plot(recommendation: HiringRecommendation, top: int = 15) -> bytes:
    """`hiring_figure` as PNG bytes."""
    return _png(hiring_figure(recommendation, top))
