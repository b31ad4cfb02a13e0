"""How large a portfolio may be, and a cheap estimate of what solving it would take.

Core layer: imports the domain only. The service checks every portfolio it accepts (an upload,
a run's snapshot, a scenario set's base) and every scenario's edited portfolio against one
`Limits` (built from the settings), before anything is queued or materialised; the what-if
edits check their growth against it before they create a record. The estimate needs no
compile: candidate pairs are counted per skill and minimum level as demands x engineers
able to serve them (the compiler's eligibility before the capacity filter, so never fewer),
and memory is a linear model of pairs, demands and engineer-weeks.

>>> size = estimate([], [], [], 4)
>>> size.candidate_pairs, size_issues(size, Limits(), "$")
(0, [])
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

from allocator.errors import InputIssue, InvalidInputError
from allocator.model import POINT_SCALE, Demand, Engineer, Opportunity, Policy, Portfolio

BYTES_PER_PAIR = 250
"""Peak bytes per candidate pair of a solve (compiled arrays, the model's variables and
constraints, the search's copies); measured on generated portfolios (benchmarks/README.md)."""
BYTES_PER_DEMAND_WEEK = 200
BYTES_PER_ENGINEER_WEEK = 200
BASE_BYTES = 300 * 2**20
"""A worker's own footprint: the interpreter, NumPy, pandas, OR-Tools, HiGHS."""


@dataclass(frozen=True)
class Limits:
    """The largest portfolio a server accepts; each a setting (`ALLOCATOR_MAX_*`)."""

    engineers: int = 5_000
    opportunities: int = 20_000
    demands: int = 100_000
    """After stage templates have derived their roles."""
    candidate_pairs: int = 20_000_000
    memory_mb: int = 8_000
    """Estimated peak memory of one solve, in MiB."""


@dataclass(frozen=True)
class Size:
    """What a portfolio holds, and what solving it is estimated to take."""

    engineers: int
    opportunities: int
    demands: int
    candidate_pairs: int
    memory_mb: int


def candidate_pairs(engineers: Iterable[Engineer], demands: Iterable[Demand]) -> int:
    """Demands x the engineers whose level in the demand's skill reaches its minimum, summed
    per skill and minimum level (O(engineers x skills + demands), no pair is made).

    >>> e = Engineer(id="E1", region="N", skills={"a": 3})
    >>> d = Demand(id="D1", opportunity_id="O1", skill="a", hours=1, min_proficiency=3)
    >>> candidate_pairs([e, e], [d, d, d])
    6
    """
    able: Counter[tuple[str, int]] = Counter()
    for engineer in engineers:
        for skill, level in engineer.skills.items():
            for minimum in range(1, level + 1):
                able[skill, minimum] += 1
    wanted = Counter((d.skill, d.min_proficiency) for d in demands)
    return sum(count * able[key] for key, count in wanted.items())


def estimate(
    engineers: Sequence[Engineer],
    opportunities: Sequence[Opportunity],
    demands: Sequence[Demand],
    horizon_weeks: int,
) -> Size:
    """The size of a portfolio given as its records (an edited one need not be built)."""
    pairs = candidate_pairs(engineers, demands)
    weeks = max(1, horizon_weeks)
    memory = (
        BASE_BYTES
        + BYTES_PER_PAIR * pairs
        + BYTES_PER_DEMAND_WEEK * len(demands) * weeks
        + BYTES_PER_ENGINEER_WEEK * len(engineers) * weeks
    )
    return Size(len(engineers), len(opportunities), len(demands), pairs, -(-memory // 2**20))


def size_of(portfolio: Portfolio) -> Size:
    return estimate(
        portfolio.engineers, portfolio.opportunities, portfolio.demands, portfolio.horizon_weeks
    )


LIMIT_WORDS: Mapping[str, tuple[str, str]] = {
    "engineers": ("engineers", "ALLOCATOR_MAX_ENGINEERS"),
    "opportunities": ("opportunities", "ALLOCATOR_MAX_OPPORTUNITIES"),
    "demands": ("demands (after stage templates)", "ALLOCATOR_MAX_DEMANDS"),
    "candidate_pairs": ("candidate (engineer, demand) pairs", "ALLOCATOR_MAX_CANDIDATE_PAIRS"),
    "memory_mb": ("MiB of estimated solver memory", "ALLOCATOR_MAX_MEMORY_MB"),
}


def size_issues(size: Size, limits: Limits, where: str) -> list[InputIssue]:
    """One issue per limit `size` exceeds, naming the limit, its setting and the figure.

    >>> size_issues(Size(6, 1, 1, 1, 1), Limits(engineers=5), "$")[0].message
    'at most 5 engineers are accepted by this server (ALLOCATOR_MAX_ENGINEERS)'
    """
    issues = []
    for name, (words, setting) in LIMIT_WORDS.items():
        figure, limit = getattr(size, name), getattr(limits, name)
        if figure > limit:
            message = f"at most {limit} {words} are accepted by this server ({setting})"
            issues.append(InputIssue(where, name, message, figure))
    return issues


def check_size(portfolio: Portfolio, limits: Limits, where: str) -> Size:
    """The portfolio's size; InvalidInputError when it exceeds a limit or its objective
    cannot be counted exactly (the compiler's check, made before anything is queued)."""
    size = size_of(portfolio)
    issues = size_issues(size, limits, where)
    policy_where = f"{where}.policy" if where.startswith("$") else "policy"
    issues += objective_issues(portfolio.opportunities, portfolio.policy, policy_where)
    if issues:
        raise InvalidInputError(issues)
    return size


EXACT_OBJECTIVE = 2**53
"""Largest objective (1/100 point) counted exactly: the compiler's `EXACT_LIMIT`."""


def objective_issues(
    opportunities: Sequence[Opportunity], policy: Policy, where: str = "policy"
) -> list[InputIssue]:
    """The compiler refuses a portfolio whose expected values, in 1/100 point and each
    rounded half up, sum past `EXACT_OBJECTIVE`; this finds it first (the exact sum plus the
    most the rounding can add), in the compiler's words.

    >>> o = Opportunity(id="O", industry="i", region="r", value=1e12, win_probability=1)
    >>> objective_issues([o], Policy(value_unit=0.01, value_weight=10**6))[0].field
    'value_unit'
    """

    def exact(x: float) -> Fraction:
        return Fraction(Decimal(repr(x)))

    # Far below the limit in floating point (bounded by absolute values, with a margin much
    # wider than the rounding of a few thousand products and sums): no exact sum needed.
    factors = {tier: abs(factor) for tier, factor in policy.tier_factors.items()}
    rough = sum(abs(o.value * o.win_probability) * factors.get(o.tier, 0.0) for o in opportunities)
    scale = policy.value_weight * POINT_SCALE / policy.value_unit if policy.value_unit else math.inf
    if rough * abs(scale) * 1.001 + len(opportunities) / 2 < EXACT_OBJECTIVE / 2:
        return []
    tiers = {tier: exact(factor) for tier, factor in policy.tier_factors.items()}
    value = sum(
        (exact(o.value) * exact(o.win_probability) * tiers[o.tier] for o in opportunities),
        Fraction(0),
    )
    points = value * policy.value_weight * POINT_SCALE / exact(policy.value_unit)
    if points + Fraction(len(opportunities), 2) <= EXACT_OBJECTIVE:
        return []
    message = (
        "deal values x value_weight / value_unit make the objective too large to count "
        f"exactly (over {EXACT_OBJECTIVE / POINT_SCALE:.3g} points); raise value_unit"
    )
    return [InputIssue(where, "value_unit", message, policy.value_unit)]


def raw_demands(data: Mapping[str, Any]) -> int:
    """How many demands a raw portfolio document holds once its stage templates have derived
    theirs (the explicit ones, plus each stage's roles for every opportunity without any),
    counted before a single one is made; 0 for a document too malformed to count.

    >>> raw_demands({"opportunities": [{"id": "O1", "stage": "s"}, {"id": "O2"}],
    ...              "stage_templates": [{"stage": "s", "roles": [{}, {}, {}]}]})
    3
    """
    shapes = [data.get(key) or () for key in ("demands", "opportunities", "stage_templates")]
    if not all(isinstance(shape, list | tuple) for shape in shapes):
        return 0
    demands, opportunities, templates = shapes
    roles: dict[str, int] = {}
    for template in templates:
        if isinstance(template, Mapping) and isinstance(template.get("roles"), list | tuple):
            roles.setdefault(str(template.get("stage", "")).strip(), len(template["roles"]))
    explicit = {str(d.get("opportunity_id", "")) for d in demands if isinstance(d, Mapping)}
    derived = sum(
        roles.get(str(o.get("stage", "")).strip(), 0)
        for o in opportunities
        if isinstance(o, Mapping) and str(o.get("id", "")).strip() not in explicit
    )
    return len(demands) + derived


def growth_issue(
    where: str, field: str, what: str, now: int, added: int, limit: int
) -> InputIssue | None:
    """An edit would add `added` records to `now`: the issue when that passes `limit`, found
    before any record is made."""
    if now + added <= limit:
        return None
    message = (
        f"would make {now + added} {what} ({now} + {added}); this server accepts at most {limit}"
    )
    return InputIssue(where, field, message, now + added)
