"""Calibration: the win probabilities the plans assumed against the outcomes that followed.

Only decided opportunities count (won, lost, no decision; no decision is not won). Per level
of a dimension (stage, industry, tier, region) and per bin of the assumed probability (the
reliability table): n, the mean assumed probability, the observed win rate with its Wilson
95 % interval, and their ratio `observed / assumed` (its interval: the Wilson ends over the
mean assumed). A well-calibrated pipeline has observed within the interval of assumed.

`calibrated_portfolio` scales each opportunity's probability by its level's ratio (levels
with fewer than `min_n` decided opportunities, and with `clear_only` those whose interval
holds 1, are left as they are, and said so), capped at 1; `calibrated_whatif` shows what
that would change before anyone uses it: the base run and the calibrated run, both solved
with the same seed and budget, compared under the calibrated probabilities
(`whatif.compare`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pydantic import BaseModel, Field

from allocator.insight.records import CLOSED, Outcome, OutcomeKind, period
from allocator.insight.stats import WILSON, Estimate, wilson
from allocator.model import Portfolio
from allocator.solver import SolveOptions, solve
from allocator.whatif.compare import Comparison, compare
from allocator.whatif.scenarios import AppliedScenario
from allocator.whatif.sweep import SolvedScenario

DIMENSIONS = ("stage", "industry", "tier", "region")
BINS = 10


class CalibrationRow(BaseModel):
    """Assumed against observed win probability in one group."""

    dimension: str = Field(description="stage, industry, tier, region, or bin.")
    level: str = Field(description="The group: a stage name, or a bin like 0.2-0.3.")
    n: int = Field(description="Decided opportunities in the group.")
    won: int
    assumed: float | None = Field(description="Mean assumed win probability.")
    observed: Estimate = Field(description="Observed win rate (Wilson 95 %).")
    ratio: float | None = Field(description="observed / assumed.")
    ratio_low: float | None
    ratio_high: float | None


class CalibrationReport(BaseModel):
    """Reliability per dimension and per probability bin."""

    period: str
    method: str
    decided: int
    rows: list[CalibrationRow]

    def of(self, dimension: str) -> list[CalibrationRow]:
        return [row for row in self.rows if row.dimension == dimension]


def calibration_row(
    dimension: str, level: str, pairs: Sequence[tuple[float, bool]]
) -> CalibrationRow:
    """One group's row from (assumed probability, won) pairs."""
    n = len(pairs)
    won = sum(w for _, w in pairs)
    observed = wilson(won, n)
    assumed = sum(p for p, _ in pairs) / n if n else None

    def over(x: float | None) -> float | None:
        return None if x is None or not assumed else x / assumed

    return CalibrationRow(
        dimension=dimension,
        level=level,
        n=n,
        won=won,
        assumed=assumed,
        observed=observed,
        ratio=over(observed.value),
        ratio_low=over(observed.low),
        ratio_high=over(observed.high),
    )


def bin_label(p: float, bins: int = BINS) -> str:
    """The reliability bin of a probability: `0.2-0.3` (the last bin includes 1)."""
    index = min(int(p * bins), bins - 1)
    return f"{index / bins:.1f}-{(index + 1) / bins:.1f}"


def calibration_report(
    portfolio: Portfolio,
    outcomes: Sequence[Outcome],
    dimensions: Sequence[str] = DIMENSIONS,
    bins: int = BINS,
) -> CalibrationReport:
    """Reliability rows per level of each dimension, then per probability bin."""
    opportunities = portfolio.opportunity_by_id()
    decided = [o for o in outcomes if o.outcome in CLOSED and o.opportunity_id in opportunities]
    rows = []
    for dimension in (*dimensions, "bin"):
        groups: dict[str, list[tuple[float, bool]]] = defaultdict(list)
        for outcome in decided:
            o = opportunities[outcome.opportunity_id]
            level = (
                bin_label(o.win_probability, bins)
                if dimension == "bin"
                else str(getattr(o, dimension))
            )
            groups[level].append((o.win_probability, outcome.outcome is OutcomeKind.WON))
        rows += [calibration_row(dimension, level, groups[level]) for level in sorted(groups)]
    method = (
        "Decided opportunities only (no decision counts as not won); assumed = the "
        "portfolio's win probability; observed: " + WILSON + "; ratio interval = the "
        "observed interval over the mean assumed probability."
    )
    return CalibrationReport(
        period=period(None, outcomes), method=method, decided=len(decided), rows=rows
    )


class CalibrationFactor(BaseModel):
    """The factor one level's probabilities are scaled by (1 when left as is)."""

    level: str
    n: int
    factor: float
    used: bool = Field(description="False when left as they are (see `reason`).")
    reason: str = Field("", description="Why a level is left as it is.")


def calibration_factors(
    report: CalibrationReport, by: str, min_n: int = 20, clear_only: bool = False
) -> list[CalibrationFactor]:
    """Per level of `by`: observed / assumed, used when the level has at least `min_n`
    decided opportunities (and, with `clear_only`, when its interval excludes 1)."""
    factors = []
    for row in report.of(by):
        usable = row.n >= min_n and row.ratio is not None
        clear = (row.ratio_low or 0.0) > 1.0 or (row.ratio_high or 0.0) < 1.0
        reason = ""
        if not usable:
            reason = f"n={row.n} < {min_n}"
        elif clear_only and not clear:
            reason = f"n={row.n}, interval {row.ratio_low:.2f}-{row.ratio_high:.2f} holds 1"
        factors.append(
            CalibrationFactor(
                level=row.level,
                n=row.n,
                factor=row.ratio if not reason and row.ratio is not None else 1.0,
                used=not reason,
                reason=reason,
            )
        )
    return factors


def calibrated_portfolio(
    portfolio: Portfolio, by: str, factors: Sequence[CalibrationFactor]
) -> Portfolio:
    """`portfolio` with each opportunity's win probability scaled by its level's factor (<= 1)."""
    scale = {f.level: f.factor for f in factors if f.used}
    data = portfolio.model_dump()
    for o in data["opportunities"]:
        factor = scale.get(str(o[by]), 1.0)
        o["win_probability"] = round(min(1.0, o["win_probability"] * factor), 4)
    return Portfolio.model_validate(data)


class CalibratedWhatIf(BaseModel):
    """The run with calibrated probabilities next to the run as planned."""

    by: str
    factors: list[CalibrationFactor]
    comparison: Comparison = Field(
        description="The calibrated run against the base run, both valued with the "
        "calibrated probabilities."
    )


def calibrated_whatif(
    portfolio: Portfolio,
    report: CalibrationReport,
    by: str = "stage",
    min_n: int = 20,
    options: SolveOptions | None = None,
    clear_only: bool = False,
) -> CalibratedWhatIf:
    """Solve the portfolio as it is and with calibrated probabilities; compare side by side."""
    options = options or SolveOptions(time_limit=5.0)
    factors = calibration_factors(report, by, min_n, clear_only)
    calibrated = calibrated_portfolio(portfolio, by, factors)
    base_allocation = solve(portfolio, options)
    calibrated_allocation = solve(calibrated, options)
    notes = tuple(
        f"{by} {f.level}: x{f.factor:.2f} (n={f.n})"
        if f.used
        else f"{by} {f.level}: {f.reason}, left as is"
        for f in factors
    )
    base = SolvedScenario(AppliedScenario("as planned", calibrated), base_allocation)
    mine = SolvedScenario(
        AppliedScenario("calibrated", calibrated, notes=notes), calibrated_allocation
    )
    return CalibratedWhatIf(by=by, factors=factors, comparison=compare(base, mine))
