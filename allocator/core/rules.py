"""The rules of an allocation, each with a stable human label, declared hard or soft here.

This is where a newcomer looks first: every hard rule and every objective term is listed below
with the words reports use for it. The formulation (`formulation.py`) encodes them for the
engines, the checker (`check.py`) re-checks them without a solver, and explanations
(`explain.py`) name them.

Pure domain: imports only `model`.
"""

from __future__ import annotations

from dataclasses import dataclass

from allocator.model import Demand, Forbid


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
        "off): a 0-hour demand fits any engineer.",
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
        "time off)), per engineer and week, in 1/100 h; committed hours count as load.",
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
