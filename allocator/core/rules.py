"""The rules of an allocation, each with a stable human label, declared hard or soft here.

This is where a newcomer looks first: every hard rule and every objective term is listed below
with the words reports use for it, and the arithmetic the rules are made of is defined here once
(`committed_in`, `free_hours`, `worked_hours`, `load_target`, `proficient`, `forbids_pair`,
`value_points`): the compiler (`solve/compiled.py`) builds its candidate pairs and coefficients
from these functions, the checker (`core/check.py`) re-checks results with them without a
solver, and the explanations (`explain/explanations.py`) quote them. Change a rule here and all
three follow; the tests in `tests/test_rules.py` pin each one down.

Every figure is exact: hours in whole hundredths of an hour (`model.centi_hours`), points in whole
hundredths of a point (`POINT_SCALE`), a portfolio's decimals taken as the decimals they are
written as (`as_decimal`). The hour functions accept Python integers or NumPy integer arrays
alike (the compiler passes arrays), so they are written with operators only.

Pure domain: imports only `model`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple, TypeAlias

from allocator.model import (
    HOUR_SCALE,
    POINT_SCALE,
    Demand,
    Engineer,
    Forbid,
    Opportunity,
    Policy,
    centi_hours,
)


@dataclass(frozen=True)
class Rule:
    """A named rule: `key` is stable (tests, JSON), `label` is what people read."""

    key: str
    label: str
    hard: bool
    description: str


HARD_RULES = (
    Rule(
        "single_engineer",
        "Demand served twice",
        True,
        "A demand is served by at most one engineer.",
    ),
    Rule(
        "proficiency",
        "Proficiency below minimum",
        True,
        "The engineer's proficiency in the demand's skill is at least the demand's minimum.",
    ),
    Rule(
        "capacity",
        "Engineer over capacity",
        True,
        "In every week, hours assigned never exceed max(0, capacity - committed hours - time "
        "off), committed hours being those of every week plus that week's own commitments: a "
        "0-hour demand fits any engineer.",
    ),
    Rule(
        "one_role_per_opportunity",
        "Two roles on one opportunity",
        True,
        "An engineer serves at most one demand of any opportunity.",
    ),
    Rule(
        "opportunity_limit",
        "Too many opportunities",
        True,
        "An engineer works on at most policy.max_opportunities_per_engineer opportunities.",
    ),
    Rule("pin", "Pin not honoured", True, "Every pin holds."),
    Rule("forbid", "Forbidden assignment", True, "No forbidden assignment is made."),
    Rule(
        "team_completeness",
        "Half-staffed team",
        True,
        "An opportunity has all its required demands staffed or none of them.",
    ),
    Rule(
        "optional_needs_team",
        "Optional role without team",
        True,
        "Optional demands are staffed only on staffed opportunities.",
    ),
)

SOFT_TERMS = (
    Rule(
        "expected_value",
        "Expected value covered",
        False,
        "value x win probability x tier factor / value_unit x value_weight, "
        "per staffed opportunity.",
    ),
    Rule(
        "skill_fit",
        "Skill fit",
        False,
        "skill_fit_weight per proficiency level above the minimum, plus industry_fit_weight "
        "when the engineer knows the opportunity's industry, per assignment.",
    ),
    Rule(
        "region_match",
        "Cross-region travel",
        False,
        "minus travel_penalty per assignment outside the engineer's home region.",
    ),
    Rule(
        "continuity",
        "Continuity with the previous run",
        False,
        "minus continuity_penalty per previous assignment not kept.",
    ),
    Rule(
        "load_balance",
        "Load above target",
        False,
        "minus load_penalty per hour above floor(utilization_target x max(0, capacity - "
        "time off)), per engineer and week, in 1/100 h; the week's committed hours (every "
        "week's and that week's own) count as load.",
    ),
)

RESULT_CHECKS = (
    Rule(
        "objective",
        "Figure misreported",
        True,
        "Each term, the objective (= sum of the terms), the bound and the gap are reported "
        "exactly, in whole hundredths, and agree with the status.",
    ),
    Rule(
        "unknown",
        "Malformed result",
        True,
        "Assignments name existing engineers and demands with the demand's own skill, hours "
        "and weeks; the staffed list is exact; a result without a solution has no figures.",
    ),
    Rule(
        "conflict",
        "Conflict not proven",
        True,
        "An infeasible result names minimal conflict sets of existing pins, forbids and "
        "required demands, each infeasible on its own.",
    ),
    Rule(
        "unstaffable",
        "Unstaffable misreported",
        True,
        "Each opportunity a result lists as unstaffable cannot be staffed by construction: it "
        "has no demands, or a required demand no engineer is proficient enough for, free "
        "enough for in every week, and allowed to serve; each is listed once, with its CRM id "
        "and a reason. A result that has the list names every opportunity without demands or "
        "with a required demand nobody is proficient enough for (an older result without the "
        "list is not judged on it).",
    ),
    Rule(
        "recorded",
        "Recorded setting wrong",
        True,
        "The value unit and its source and the horizon start a result records are the "
        "portfolio's (an older result that records none is not judged on them).",
    ),
)
"""What the checker judges beyond the rules: the result's own fields."""

RULES = {rule.key: rule for rule in HARD_RULES + SOFT_TERMS + RESULT_CHECKS}


def forbids_pair(forbid: Forbid, engineer_id: str, demand: Demand) -> bool:
    """Whether `forbid` rules out `engineer_id` serving `demand`."""
    return (
        forbid.engineer_id == engineer_id
        and forbid.opportunity_id == demand.opportunity_id
        and forbid.demand_id in ("", demand.id)
    )


# ---------------------------------------------------------------------------------------------
# The arithmetic of the rules, defined once.

Count: TypeAlias = Any
"""Whole hundredths: a Python int, or a NumPy integer array (element-wise); typed loosely so
that this module needs no NumPy."""


def as_decimal(x: float) -> Fraction:
    """A portfolio or policy figure as the decimal it is written as, not the binary float.

    >>> as_decimal(0.7499999999999)
    Fraction(7499999999999, 10000000000000)
    """
    return Fraction(Decimal(repr(x)))


def _at_least_zero(x: Count) -> Count:
    return x * (x > 0)  # max(x, 0), for ints and arrays alike


def free_hours(capacity: Count, committed: Count, time_off: Count) -> Count:
    """The capacity rule: hours an engineer may be assigned in a week, in 1/100 h.

    max(0, capacity - committed - time off): committed hours and time off come first, time off
    above the capacity leaves 0 h (not less), and a 0-hour demand fits anyone.

    >>> free_hours(4000, 800, 1600), free_hours(4000, 800, 4000)
    (1600, 0)
    """
    return _at_least_zero(capacity - committed - time_off)


def worked_hours(capacity: Count, time_off: Count) -> Count:
    """Hours an engineer works in a week (the utilization base), in 1/100 h: max(0, capacity -
    time off)."""
    return _at_least_zero(capacity - time_off)


def load_target(worked: int, utilization_target: float) -> int:
    """The load-balance term's target, in 1/100 h: floor(utilization_target x worked hours),
    the target taken as the decimal it is written as.

    >>> load_target(4000, 0.7499999999999)  # 29.99 h, not the float product's 30.00 h
    2999
    """
    share = as_decimal(utilization_target)
    return worked * share.numerator // share.denominator


class WeekHours(NamedTuple):
    """An engineer's hours in one week, in 1/100 h."""

    free: int
    """Hours that may be assigned (the capacity rule, `free_hours`)."""
    worked: int
    """Hours worked, the utilization base (`worked_hours`)."""


def committed_in(engineer: Engineer, week: int) -> int:
    """Hours `engineer` has committed elsewhere in `week`, in 1/100 h: `committed_hours`, which
    holds for every week, plus the week's own `commitments`.

    >>> from allocator.model import Engineer
    >>> e = Engineer(id="E", region="r", committed_hours=4, commitments={2: 12.5})
    >>> committed_in(e, 1), committed_in(e, 2)
    (400, 1650)
    """
    return centi_hours(engineer.committed_hours) + centi_hours(engineer.commitments.get(week, 0.0))


def engineer_week(engineer: Engineer, week: int) -> WeekHours:
    """`engineer`'s free and worked hours in `week`, in 1/100 h.

    >>> from allocator.model import Engineer
    >>> engineer_week(Engineer(id="E", region="r", capacity_hours=40, committed_hours=8,
    ...                        time_off={2: 36}), 2)
    WeekHours(free=0, worked=400)
    """
    capacity = centi_hours(engineer.capacity_hours)
    off = centi_hours(engineer.time_off.get(week, 0.0))
    return WeekHours(
        free_hours(capacity, committed_in(engineer, week), off),
        worked_hours(capacity, off),
    )


def hours_free(engineer: Engineer, weeks: Iterable[int]) -> float:
    """Hours `engineer` has free for assignments over `weeks`, in hours (for reports)."""
    return sum(engineer_week(engineer, week).free for week in weeks) / HOUR_SCALE


def proficient(level: Count, minimum: Count) -> Count:
    """The proficiency rule: the engineer's level in the demand's skill (0 without the skill) is
    at least the demand's minimum. Ints or arrays."""
    return level >= minimum


def level_in(engineer: Engineer, demand: Demand) -> int:
    """The engineer's proficiency in the demand's skill; 0 when they do not have it."""
    return engineer.skills.get(demand.skill, 0)


def value_points(opportunity: Opportunity, policy: Policy) -> int:
    """The expected-value term of a staffed opportunity, in 1/100 point, rounded half up:
    value x win probability x tier factor x value_weight / value_unit, exactly.

    >>> from allocator.model import Opportunity, Policy
    >>> value_points(Opportunity(id="O", industry="i", region="r", value=1000,
    ...              win_probability=0.5, tier="C"), Policy(value_unit=1000))
    50
    """
    points = (
        as_decimal(opportunity.value)
        * as_decimal(opportunity.win_probability)
        * as_decimal(policy.tier_factors[opportunity.tier])
        * policy.value_weight
        * POINT_SCALE
        / as_decimal(policy.value_unit)
    )
    return (2 * points.numerator + points.denominator) // (2 * points.denominator)
