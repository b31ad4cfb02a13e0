"""The domain: engineers, opportunities, demands, policy, portfolio, and the allocation result.

Pure data with its invariants checked on construction; every error names the record, the field
and the value. This module must not import OR-Tools, HTTP, SQL or file formats.

Units: hours are hours per week (at most two decimals); weeks are numbered 1..horizon_weeks,
and with a `horizon_start` (an ISO week such as `2026-W49`) week 1 is that ISO week, so that
demands and time off may also be written as ISO weeks or dates (`calendar_week`, `week_label`);
deal values are in the portfolio's currency. Objective values are in *points*; internally the
solver and the checker count in hundredths of a point and hundredths of an hour so that every
coefficient is an integer (see `POINT_SCALE`, `HOUR_SCALE`).
"""

from __future__ import annotations

import enum
import functools
import math
import re
import types
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Annotated, Any, ClassVar, Literal, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from allocator.errors import InputIssue, InvalidInputError, problems

POINT_SCALE = 100
"""Internal objective unit: hundredths of a point."""
HOUR_SCALE = 100
"""Internal hour unit: hundredths of an hour."""

MAX_DEAL_VALUE = 1e12
"""Largest deal value (and value unit) accepted: keeps every objective coefficient exact."""
MAX_WEIGHT = 1_000_000
"""Largest objective weight accepted, for the same reason."""
MAX_OPPORTUNITIES_PER_ENGINEER = 1_000_000
"""Largest `max_opportunities_per_engineer`: far above any portfolio, well inside a C long."""

Proficiency = Annotated[int, Field(ge=1, le=5, description="Proficiency level, 1 (novice) to 5.")]
Hours = Annotated[float, Field(ge=0, le=168, description="Hours per week, at most two decimals.")]
Week = Annotated[int, Field(ge=1, description="Week number, 1 is the first week of the horizon.")]
Tier = Literal["A", "B", "C"]
ISO_WEEK_PATTERN = r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$"
TARGET_MEDIAN_POINTS = 100
"""A derived value unit makes the median opportunity's expected value worth this many points."""


class OpportunityType(enum.StrEnum):
    """How an opportunity is run; recorded for reporting and scenario filters."""

    HQ_SOLUTION = "hq_solution"
    REGION_SOLUTION = "region_solution"
    STANDARD_PRODUCT = "standard_product"


class _Record(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )

    @model_validator(mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, data: Any) -> Any:
        """`"value": true` is not a number: a boolean in a numeric field (or a numeric map's
        value) is handed on as its JSON text, so that the field's own validation refuses it
        by name (`Input should be a valid number ... (got 'true')`)."""
        if not isinstance(data, Mapping):
            return data
        scalars, maps = _numeric_fields(cls)
        changed: dict[str, Any] = {}
        for name, value in data.items():
            if isinstance(value, bool) and name in scalars:
                changed[name] = _bool_text(value)
            elif (
                isinstance(value, Mapping)
                and name in maps
                and any(isinstance(v, bool) for v in value.values())
            ):
                changed[name] = {k: _bool_text(v) for k, v in value.items()}
        return {**data, **changed} if changed else data


@functools.cache
def _numeric_fields(model: type[BaseModel]) -> tuple[frozenset[str], frozenset[str]]:
    """The model's numeric fields, and its fields that map keys to numbers."""
    scalars, maps = set(), set()
    for name, info in model.model_fields.items():
        if _is_number(info.annotation):
            scalars.add(name)
        elif get_origin(info.annotation) is dict and _is_number(get_args(info.annotation)[1]):
            maps.add(name)
    return frozenset(scalars), frozenset(maps)


def _is_number(annotation: Any) -> bool:
    if get_origin(annotation) is Annotated:
        return _is_number(get_args(annotation)[0])
    if get_origin(annotation) in (Union, types.UnionType):
        return any(_is_number(arg) for arg in get_args(annotation))
    return annotation in (int, float)


def _bool_text(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value


ID_PATTERN = re.compile(r"^[^/\x00-\x1f\x7f]*$")
MAX_ID_LENGTH = 200


def _plain_id(value: str) -> str:
    """An id that can stand in a URL path: no '/', no control characters."""
    if not ID_PATTERN.match(value):
        raise ValueError("must not contain '/' or control characters")
    return value


def _printable(value: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError("must not contain control characters")
    return value


RecordId = Annotated[str, Field(min_length=1, max_length=MAX_ID_LENGTH), AfterValidator(_plain_id)]
"""An engineer's, opportunity's or skill's id: it names the record in URLs
(`/explain/engineers/{id}`)."""


class Skill(_Record):
    """One entry of the skill catalogue."""

    id: RecordId = Field(description="Skill id used by engineers and demands.")
    name: str = Field("", description="Display name.")
    family: str = Field("", description="Skill family (for reports and decomposition).")


class Engineer(_Record):
    """A presales engineer and what they can give this horizon."""

    id: RecordId = Field(description="Unique engineer id.")
    external_id: str = Field(
        "", description="The id in the HR system; carried into results and exports."
    )
    name: str = Field("", description="Display name.")
    region: str = Field(min_length=1, description="Home region.")
    skills: dict[str, Proficiency] = Field(
        default_factory=dict, description="Skill id -> proficiency level (1..5)."
    )
    industries: tuple[str, ...] = Field((), description="Industries the engineer knows.")
    capacity_hours: Hours = Field(40.0, description="Contracted presales hours per week.")
    committed_hours: Hours = Field(
        0.0, description="Hours already committed elsewhere, in every week of the horizon."
    )
    commitments: dict[Week, Hours] = Field(
        default_factory=dict,
        description="Week -> hours committed elsewhere in that week only, on top of "
        "committed_hours. The key may be a week number, an ISO week or a date (with the "
        "portfolio's horizon_start), or a range of them like `2026-W50..2026-W52` or `3..5` "
        "(the hours in each week of the range); weeks outside the horizon are left out when "
        "given as ISO weeks or dates.",
    )
    time_off: dict[Week, Hours] = Field(
        default_factory=dict,
        description="Week -> hours off in that week (the key may be an ISO week or a date when "
        "the portfolio has a horizon_start, or a range `A..B` of them, the hours in each week; "
        "weeks outside the horizon are left out). May exceed "
        "the capacity: hours free (capacity - committed - off) and hours worked (capacity - off) "
        "are floored at 0.",
    )
    cost_rate: float = Field(0.0, ge=0, description="Cost per hour; recorded, not optimised.")
    seniority_years: float = Field(
        0.0, ge=0, description="Recorded only: never enters the objective or the rules."
    )
    title: str = Field("", description="Recorded only: never enters the objective or the rules.")


class Opportunity(_Record):
    """A sales opportunity asking for presales support."""

    id: RecordId = Field(description="Unique opportunity id.")
    external_id: str = Field("", description="The id in the CRM; carried into results and exports.")
    account: str = Field("", description="The CRM account, to group one account's deals.")
    owner: str = Field("", description="The CRM owner of the deal. Recorded only.")
    customer: str = Field("", description="Customer name.")
    tier: Tier = Field("C", description="Customer tier: A strategic, B key, C potential.")
    industry: str = Field(
        "", description="Customer industry; empty when unknown (then it earns no industry fit)."
    )
    region: str = Field(min_length=1, description="Region of the customer.")
    stage: str = Field("", description="Sales stage; selects the stage template.")
    value: float = Field(
        ge=0, le=MAX_DEAL_VALUE, description="Deal value in the portfolio's currency."
    )
    win_probability: float = Field(ge=0, le=1, description="Probability of winning, 0..1.")
    type: OpportunityType = Field(OpportunityType.REGION_SOLUTION, description="Project type.")
    requester: str = Field("", description="Salesperson who raised it. Recorded only.")
    requester_seniority_years: float | None = Field(
        None, ge=0, description="Seniority of the requester, when known. Recorded only."
    )
    requested_at: datetime | None = Field(None, description="When support was requested.")


class Demand(_Record):
    """One role needed on an opportunity: one engineer serves one demand."""

    id: Annotated[str, Field(max_length=2 * MAX_ID_LENGTH), AfterValidator(_printable)] = Field(
        "", description="Unique demand id; derived as OPP/skill when empty."
    )
    opportunity_id: str = Field(min_length=1, description="The opportunity this role belongs to.")
    skill: str = Field(min_length=1, description="Skill id required.")
    min_proficiency: Proficiency = Field(3, description="Minimum proficiency in the skill.")
    hours: Hours = Field(description="Hours per week in each week from start_week to end_week.")
    start_week: Week = Field(
        1,
        description="First week the role is needed (an ISO week or a date is turned into the "
        "week number when the portfolio has a horizon_start).",
    )
    end_week: Week | None = Field(None, description="Last week needed; default the horizon end.")
    required: bool = Field(True, description="Required roles form the team; optional ones add.")
    template_stage: str = Field(
        "", description="Stage template this demand was derived from; empty when explicit."
    )

    def weeks(self, horizon_weeks: int) -> range:
        """The weeks this demand is active in."""
        end = horizon_weeks if self.end_week is None else self.end_week
        return range(self.start_week, end + 1)


class TemplateRole(_Record):
    """One role of a stage template."""

    skill: str = Field(min_length=1)
    min_proficiency: Proficiency = 3
    hours: Hours
    weeks: int = Field(1, ge=1, description="Number of weeks, starting in week 1.")
    required: bool = True


class StageTemplate(_Record):
    """The roles an opportunity in a given sales stage needs when no demand is written."""

    stage: str = Field(min_length=1)
    roles: tuple[TemplateRole, ...] = ()


class Policy(_Record):
    """Objective weights and rule settings of a run. All weights are integers, in points."""

    value_weight: int = Field(
        1, ge=0, le=MAX_WEIGHT, description="Points per `value_unit` of expected value."
    )
    value_unit: float = Field(
        1000.0,
        ge=0.01,
        le=MAX_DEAL_VALUE,
        description="Currency per point of expected value. When a portfolio's policy leaves it "
        "out, it is derived from the portfolio (`derive_value_unit`: the median opportunity's "
        "expected value is worth about 100 points) and `value_unit_source` says `derived`.",
    )
    value_unit_source: Literal["set", "derived"] = Field(
        "set",
        description="`set` when the policy gave value_unit, `derived` when the portfolio did.",
    )
    tier_factors: dict[Tier, float] = Field(
        default_factory=lambda: {"A": 1.5, "B": 1.2, "C": 1.0},  # type: ignore[arg-type]
        description="Customer-tier multiplier of the expected value.",
    )
    skill_fit_weight: int = Field(
        2, ge=0, le=MAX_WEIGHT, description="Points per level above the minimum."
    )
    industry_fit_weight: int = Field(
        3, ge=0, le=MAX_WEIGHT, description="Points when the engineer knows the industry."
    )
    travel_penalty: int = Field(
        5, ge=0, le=MAX_WEIGHT, description="Points lost per cross-region assignment."
    )
    continuity_penalty: int = Field(
        20, ge=0, le=MAX_WEIGHT, description="Points lost per previous assignment not kept."
    )
    load_penalty: int = Field(
        1, ge=0, le=MAX_WEIGHT, description="Points lost per hour above the target, per week."
    )
    utilization_target: float = Field(
        0.85,
        ge=0,
        le=1,
        description="Target utilisation, 0..1, taken as the decimal it is written as: the "
        "target is floor(utilization_target x max(0, capacity - time off)) in 1/100 h.",
    )
    max_opportunities_per_engineer: int = Field(
        4, ge=1, le=MAX_OPPORTUNITIES_PER_ENGINEER, description="Opportunity limit."
    )

    @model_validator(mode="after")
    def _all_tiers(self) -> Policy:
        missing = {"A", "B", "C"} - set(self.tier_factors)
        if missing or any(not 0 <= f <= 1000 for f in self.tier_factors.values()):
            raise ValueError("tier_factors needs A, B and C, each between 0 and 1000")
        return self


class PreviousAssignment(_Record):
    """An assignment held in the previous run; moving the engineer off it costs continuity.
    Identical rows (same engineer, opportunity and demand) count once."""

    engineer_id: str = Field(min_length=1, description="The engineer.")
    opportunity_id: str = Field(min_length=1, description="The opportunity.")
    demand_id: str = Field("", description="When empty: any demand of the opportunity.")


class _Directive(PreviousAssignment):
    """A manager's decision about one engineer and one opportunity (or one of its demands)."""

    set_by: str = Field("", description="Who decided.")
    reason: str = Field("", description="Why, in words.")
    _word: ClassVar[str] = ""

    def label(self) -> str:
        """`pin E1 -> OPP-7` or `forbid E1 -> OPP-7/architect`: how reports name it."""
        return f"{self._word} {self.engineer_id} -> {self.demand_id or self.opportunity_id}"


class Pin(_Directive):
    """The engineer serves this opportunity (any of its demands) or this demand: always."""

    _word: ClassVar[str] = "pin"


class Forbid(_Directive):
    """The engineer never serves this opportunity (every demand) or this demand."""

    _word: ClassVar[str] = "forbid"


class Portfolio(_Record):
    """Everything one run needs. Invariants across records are checked on construction."""

    name: str = Field("", max_length=200, description="Free text label of the portfolio.")
    horizon_weeks: int = Field(1, ge=1, le=52, description="Number of weeks planned.")
    horizon_start: str | None = Field(
        None,
        pattern=ISO_WEEK_PATTERN,
        description="The ISO week of week 1, like 2026-W49; lets demands and time off be "
        "written as ISO weeks or dates, and results show ISO weeks and dates.",
    )
    skills: tuple[Skill, ...] = Field((), description="Skill catalogue; derived when empty.")
    engineers: tuple[Engineer, ...] = ()
    opportunities: tuple[Opportunity, ...] = ()
    demands: tuple[Demand, ...] = Field((), description="Explicit demands.")
    stage_templates: tuple[StageTemplate, ...] = ()
    policy: Policy = Field(default_factory=Policy)
    pins: tuple[Pin, ...] = ()
    forbids: tuple[Forbid, ...] = ()
    previous: tuple[PreviousAssignment, ...] = ()

    @field_validator("horizon_start")
    @classmethod
    def _a_real_iso_week(cls, value: str | None) -> str | None:
        if value is not None and not _is_iso_week(value):
            raise ValueError(f"{value} is no ISO week (that year has 52 weeks)")
        return value

    @model_validator(mode="before")
    @classmethod
    def _derive(cls, data: Any) -> Any:
        """Derive the skill catalogue, demands from stage templates, and demand ids."""
        if not isinstance(data, Mapping):
            return data
        return _derive_inputs(dict(data))

    @model_validator(mode="after")
    def _check_references(self) -> Portfolio:
        issues = _cross_record_issues(self)
        if issues:
            raise InvalidInputError(issues)
        return self

    # Look-ups used across the package. Cheap enough to rebuild; not cached on a frozen model.
    def engineer_by_id(self) -> dict[str, Engineer]:
        return {e.id: e for e in self.engineers}

    def opportunity_by_id(self) -> dict[str, Opportunity]:
        return {o.id: o for o in self.opportunities}

    def demand_by_id(self) -> dict[str, Demand]:
        return {d.id: d for d in self.demands}

    def demands_of(self) -> dict[str, list[Demand]]:
        """Opportunity id -> its demands, in input order."""
        grouped: dict[str, list[Demand]] = {o.id: [] for o in self.opportunities}
        for demand in self.demands:
            grouped[demand.opportunity_id].append(demand)
        return grouped

    def weeks(self) -> range:
        return range(1, self.horizon_weeks + 1)

    def week_label(self, week: int) -> str:
        """`week 3` or, with a horizon start, `week 3 (2026-W51, 14-20 Dec 2026)`."""
        return week_label(self.horizon_start, week)


# ---------------------------------------------------------------------------------------------
# The objective's definitions, shared by solver, checker and reports.


def expected_value(opportunity: Opportunity, policy: Policy) -> float:
    """Deal value x win probability x customer-tier factor, in currency."""
    return opportunity.value * opportunity.win_probability * policy.tier_factors[opportunity.tier]


def centi_hours(hours: float) -> int:
    """Hours as an integer count of hundredths of an hour."""
    return round(hours * HOUR_SCALE)


# ---------------------------------------------------------------------------------------------
# The result of a run.


class SolveStatus(enum.StrEnum):
    """Outcome of a solve, as CP-SAT reports it."""

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    INVALID = "invalid"
    UNKNOWN = "unknown"

    @property
    def has_solution(self) -> bool:
        return self in (SolveStatus.OPTIMAL, SolveStatus.FEASIBLE)


TERM_NAMES = ("expected_value", "skill_fit", "region_match", "continuity", "load_balance")
"""Objective terms, in the order reports show them; all in points, penalties negative."""


class Assignment(BaseModel):
    """One engineer serving one demand."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    engineer_id: str
    opportunity_id: str
    demand_id: str
    skill: str = ""
    hours: float = Field(0.0, description="Hours per week in each active week.")
    start_week: int = 1
    end_week: int = 1
    engineer_external_id: str = Field("", description="The engineer's HR id, when known.")
    opportunity_external_id: str = Field("", description="The opportunity's CRM id, when known.")
    start_date: date | None = Field(
        None, description="With a horizon start: the Monday of start_week."
    )
    end_date: date | None = Field(None, description="With a horizon start: the Sunday of end_week.")
    iso_weeks: str = Field("", description="With a horizon start: `2026-W50..2026-W51`.")


class Unstaffable(BaseModel):
    """An opportunity no allocation can staff, whatever the search: listed with its reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    opportunity_id: str
    external_id: str = Field("", description="The opportunity's CRM id, when known.")
    reason: str = Field(description="Why, in words.")


class Timings(BaseModel):
    """Wall-clock seconds of each phase of a run."""

    model_config = ConfigDict(extra="forbid")

    compile_seconds: float = 0.0
    build_seconds: float = 0.0
    solve_seconds: float = 0.0
    first_solution_seconds: float | None = None


class SolverInfo(BaseModel):
    """What produced a result, so that it can be reproduced."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="`cp-sat` or the name of a baseline.")
    version: str = ""
    parameters: dict[str, Any] = Field(default_factory=dict)


class Allocation(BaseModel):
    """The result of one run: status, objective with its terms, and the assignments."""

    model_config = ConfigDict(extra="forbid")

    status: SolveStatus
    objective: float | None = Field(
        None,
        description="Points, a whole number of hundredths: the sum of `terms`; null when "
        "there is no solution.",
    )
    best_bound: float | None = Field(
        None,
        description="Proven upper bound on the objective, in whole hundredths: equal to the "
        "objective when optimal; null (none proven) or >= the objective when feasible.",
    )
    gap: float | None = Field(
        None,
        description="(best_bound - objective) / max(1, |best_bound|), computed in double "
        "precision from the two reported figures; 0 when optimal, null without a bound.",
    )
    terms: dict[str, float] = Field(
        default_factory=dict,
        description="Each of the five objective terms -> points (whole hundredths); empty "
        "when there is no solution.",
    )
    assignments: list[Assignment] = Field(default_factory=list)
    staffed_opportunities: list[str] = Field(
        default_factory=list,
        description="The opportunities with every required demand served (= those with any "
        "assignment), each once.",
    )
    conflicts: list[str] = Field(
        default_factory=list,
        description="When infeasible: one minimal conflict set (the first of `conflict_sets`).",
    )
    conflict_sets: list[list[str]] = Field(
        default_factory=list,
        description=(
            "When infeasible: minimal conflict sets of pins, forbids and required demands. Each "
            "set cannot hold on its own, and removing any one of its items (dropping a pin or "
            "forbid, making a demand optional) lets the rest of that set hold."
        ),
    )
    conflicts_minimal: bool = Field(
        True,
        description=(
            "When infeasible: false when the time limit ended a check undecided, so that a set "
            "may hold an item it does not need (it still cannot hold on its own)."
        ),
    )
    conflicts_complete: bool = Field(
        False,
        description=(
            "When infeasible: true when `conflict_sets` lists every minimal conflict, so that "
            "the run becomes feasible exactly when at least one item of every set is removed; "
            "false when the search for more stopped before it had tried every way of removing "
            "them (10 s, or 20 sets), so that others may remain once these are resolved."
        ),
    )
    message: str = ""
    unstaffable: list[Unstaffable] = Field(
        default_factory=list,
        description="Opportunities that cannot be staffed by construction (no demands, or a "
        "required role nobody qualifies for), each with its reason; never silently dropped.",
    )
    horizon_start: str | None = Field(
        None, description="The ISO week of week 1, when the portfolio has a calendar."
    )
    value_unit: float | None = Field(
        None, description="The policy's value_unit this run counted in (currency per point)."
    )
    value_unit_source: Literal["set", "derived"] | None = Field(
        None, description="`set` by the policy or `derived` from the portfolio."
    )
    warnings: list[str] = Field(
        default_factory=list, description="What the planner should know about the figures."
    )
    solver: SolverInfo = Field(default_factory=lambda: SolverInfo(name="none"))
    timings: Timings = Field(default_factory=Timings)


def unstaffable_opportunities(portfolio: Portfolio) -> list[Unstaffable]:
    """The opportunities no allocation can staff: no demands (and no stage template), or a
    required demand no engineer has the skill level for. In portfolio order."""
    best: dict[str, int] = {}
    for engineer in portfolio.engineers:
        for skill, level in engineer.skills.items():
            best[skill] = max(best.get(skill, 0), level)
    demands = portfolio.demands_of()
    found: list[Unstaffable] = []
    for o in portfolio.opportunities:
        reason = ""
        if not demands[o.id]:
            stage = f"stage {o.stage!r}" if o.stage else "no stage"
            reason = f"no demands, and no stage template for {stage}"
        else:
            short = [
                d for d in demands[o.id] if d.required and best.get(d.skill, 0) < d.min_proficiency
            ]
            if short:
                d = short[0]
                reason = (
                    f"no engineer has {d.skill} at level {d.min_proficiency} or above "
                    f"(demand {d.id}; best level {best.get(d.skill, 0)})"
                )
        if reason:
            found.append(Unstaffable(opportunity_id=o.id, external_id=o.external_id, reason=reason))
    return found


def value_warnings(policy: Policy, terms: Mapping[str, float]) -> list[str]:
    """A warning when the terms other than expected value outweigh it (a value unit that
    does not fit the portfolio's currency makes skill fit, not value, drive the allocation)."""
    value = abs(terms.get("expected_value", 0.0))
    others = sum(abs(v) for k, v in terms.items() if k != "expected_value")
    if others <= value:
        return []
    return [
        f"the non-value terms ({others:,.2f} points) outweigh the expected value term "
        f"({value:,.2f} points) at value_unit {policy.value_unit:g} ({policy.value_unit_source}): "
        "fit and penalties, not deal value, drive this allocation; lower value_unit to let "
        "value count more"
    ]


# ---------------------------------------------------------------------------------------------
# Construction helpers: turning raw data into a Portfolio with located error messages.

Locate = Callable[[tuple[str | int, ...]], str]
"""Maps a location such as ('demands', 13) to text such as `demands.csv row 15`."""


def json_location(loc: tuple[str | int, ...]) -> str:
    """`('demands', 13)` -> `$.demands[13]`."""
    text = "$"
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def build_portfolio(data: Mapping[str, Any], locate: Locate = json_location) -> Portfolio:
    """Validate raw data into a Portfolio; every problem is reported with its location.

    Every input from outside (files, imports, the API) comes through here: a policy without
    `value_unit` gets one derived from the portfolio (`derive_value_unit`). A `Portfolio`
    built in code keeps the `Policy` defaults.

    >>> build_portfolio({"engineers": [], "opportunities": []}).horizon_weeks
    1
    """
    if isinstance(data, Mapping):
        data = dict(data)
        _derive_value_unit(data)
    try:
        return Portfolio.model_validate(data)
    except ValidationError as error:
        raise InvalidInputError(_issues_from_pydantic(error, locate)) from None
    except InvalidInputError as error:
        raise InvalidInputError([_relocate(issue, locate) for issue in error.issues]) from None


def _issue(loc: tuple[str | int, ...], field: str, message: str, value: Any = None) -> InputIssue:
    return InputIssue(where=json_location(loc), field=field, message=message, value=value, loc=loc)


def _relocate(issue: InputIssue, locate: Locate) -> InputIssue:
    if not issue.loc:
        return issue
    return InputIssue(locate(issue.loc), issue.field, issue.message, issue.value, issue.loc)


def split_location(loc: tuple[str | int, ...]) -> tuple[tuple[str | int, ...], str]:
    """Split a pydantic location into the record and the field path within it.

    `('engineers', 0, 'skills', 'arch')` -> `(('engineers', 0), 'skills[arch]')`;
    `('stage_templates', 1, 'roles', 2, 'hours')` -> `(('stage_templates', 1, 'roles', 2),
    'hours')`.
    """
    if (
        len(loc) >= 4
        and loc[0] == "stage_templates"
        and loc[2] == "roles"
        and isinstance(loc[3], int)
    ):
        cut = 4
    elif len(loc) >= 2 and isinstance(loc[1], int):
        cut = 2
    elif loc and loc[0] == "policy":
        cut = 1
    else:
        cut = 0
    record = loc[:cut]
    rest = [part for part in loc[cut:] if part != "[key]"]  # Pydantic marks a bad dict key.
    field = "".join(str(part) if i == 0 else f"[{part}]" for i, part in enumerate(rest))
    return record, field


def _issues_from_pydantic(error: ValidationError, locate: Locate) -> list[InputIssue]:
    def place(loc: tuple[str | int, ...]) -> tuple[str, str, tuple[str | int, ...]]:
        record, field = split_location(loc)
        return locate(record), field, record

    return problems(error, place)


def _derive_inputs(data: dict[str, Any]) -> dict[str, Any]:
    """Fill what may be left out: demands from stage templates, demand ids, the skill list."""
    collections = ("engineers", "opportunities", "demands", "stage_templates")
    if not all(isinstance(data.get(key, ()), list | tuple) for key in collections):
        return data  # Not lists: pydantic reports them with their location.
    demands = [_as_dict(d) for d in data.get("demands", ())]
    try:
        horizon = max(1, int(data.get("horizon_weeks", 1)))
    except (TypeError, ValueError, OverflowError):
        horizon = 1  # Pydantic reports the bad value.
    templates: dict[str, StageTemplate] = {}
    for raw in data.get("stage_templates", ()):
        try:
            template = StageTemplate.model_validate(raw)
        except ValidationError:
            continue  # Reported with its location when the portfolio itself is validated.
        templates.setdefault(template.stage, template)
    with_explicit = {str(d.get("opportunity_id", "")) for d in demands}
    for raw in data.get("opportunities", ()):
        opportunity = _as_dict(raw)
        opp_id = str(opportunity.get("id", "")).strip()
        found = templates.get(str(opportunity.get("stage", "")).strip())
        if opp_id in with_explicit or found is None:
            continue
        for role in found.roles:
            demands.append(
                {
                    "opportunity_id": opp_id,
                    "skill": role.skill,
                    "min_proficiency": role.min_proficiency,
                    "hours": role.hours,
                    "start_week": 1,
                    "end_week": min(role.weeks, horizon),
                    "required": role.required,
                    "template_stage": found.stage,
                }
            )
    taken: Counter[str] = Counter(str(d["id"]) for d in demands if d.get("id"))
    for demand in demands:
        if not demand.get("id"):
            base = f"{demand.get('opportunity_id', '')}/{demand.get('skill', '')}"
            taken[base] += 1
            demand["id"] = base if taken[base] == 1 else f"{base}-{taken[base]}"
    data["demands"] = demands
    _calendar_weeks(data)
    if not data.get("skills"):
        known: dict[str, None] = {}
        for engineer in data.get("engineers", ()):
            skills = _as_dict(engineer).get("skills") or {}
            if isinstance(skills, Mapping):
                known.update(dict.fromkeys(str(s) for s in skills))
        for template in templates.values():
            known.update(dict.fromkeys(role.skill for role in template.roles))
        data["skills"] = [{"id": skill} for skill in known if skill]
    return data


# ---------------------------------------------------------------------------------------------
# The calendar: week 1 is the ISO week `horizon_start`.


def week_monday(iso_week: str) -> date:
    """The Monday of an ISO week: `2026-W49` -> 2026-11-30."""
    return date.fromisoformat(f"{iso_week}-1")


def _is_iso_week(text: str) -> bool:
    try:
        week_monday(text)
    except ValueError:
        return False
    return True


def calendar_week(horizon_start: str, when: str | date) -> int:
    """The week number of a date or ISO week, week 1 being `horizon_start` (may be < 1).

    >>> calendar_week("2026-W49", "2026-W51"), calendar_week("2026-W49", "2026-12-02")
    (3, 1)
    """
    day = when if isinstance(when, date) else _parse_day(when)
    return (day - week_monday(horizon_start)).days // 7 + 1


def _parse_day(text: str) -> date:
    text = text.strip()
    if "W" in text.upper():
        return week_monday(text.upper())
    return date.fromisoformat(text[:10])


def iso_week_of(horizon_start: str, week: int) -> str:
    """The ISO week of week number `week`: `iso_week_of("2026-W52", 2)` is `2026-W53`."""
    monday = week_monday(horizon_start) + timedelta(weeks=week - 1)
    iso_year, iso_week, _ = monday.isocalendar()
    return f"{iso_year}-W{iso_week:02d}"


def week_dates(horizon_start: str, first: int, last: int) -> tuple[date, date]:
    """The Monday of week `first` and the Sunday of week `last`."""
    monday = week_monday(horizon_start)
    return monday + timedelta(weeks=first - 1), monday + timedelta(weeks=last, days=-1)


def week_label(horizon_start: str | None, week: int) -> str:
    """`week 3`, or with a horizon start `week 3 (2026-W51, 14-20 Dec 2026)`."""
    if not horizon_start:
        return f"week {week}"
    monday = week_monday(horizon_start) + timedelta(weeks=week - 1)
    sunday = monday + timedelta(days=6)
    first = f"{monday.day} {monday:%b}" if monday.month != sunday.month else f"{monday.day}"
    iso = iso_week_of(horizon_start, week)
    return f"week {week} ({iso}, {first}-{sunday.day} {sunday:%b %Y})"


def _calendar_weeks(data: dict[str, Any]) -> None:
    """Turn ISO weeks and dates in demands, time off and commitments into week numbers, and
    ranges of weeks (`A..B`) in time off and commitments into their weeks, in place."""
    start = data.get("horizon_start")
    start = start if isinstance(start, str) and re.match(ISO_WEEK_PATTERN, start) else None
    if start is not None and not _is_iso_week(start):
        start = None  # The field itself is reported.
    issues: list[InputIssue] = []

    def number(loc: tuple[str | int, ...], field: str, value: Any) -> Any:
        if not isinstance(value, date) and not _looks_like_a_day(value):
            return value  # A week number, or a bad value pydantic reports.
        if start is None:
            issues.append(_issue(loc, field, "a date or ISO week needs the horizon_start", value))
            return value
        try:
            return calendar_week(start, value)
        except ValueError:
            issues.append(_issue(loc, field, "must be a week number, an ISO week or a date", value))
            return value

    for index, demand in enumerate(data["demands"]):
        for field in ("start_week", "end_week"):
            if demand.get(field) is not None:
                demand[field] = number(("demands", index), field, demand[field])
    engineers = list(data.get("engineers", ()))
    data["engineers"] = engineers
    try:
        horizon = int(data.get("horizon_weeks", 1))
    except (TypeError, ValueError, OverflowError):
        horizon = 1  # Pydantic reports the bad value.
    for index, raw in enumerate(engineers):
        for name in ("time_off", "commitments"):
            per_week = raw.get(name) if isinstance(raw, Mapping) else None
            if not isinstance(per_week, Mapping) or not any(
                _looks_like_a_day(k) or _is_range(k) for k in per_week
            ):
                continue
            weeks: dict[Any, Any] = {}
            for key, hours in per_week.items():
                field = f"{name}[{key}]"
                first, _, last = str(key).partition("..") if _is_range(key) else (key, "", key)
                low = number(("engineers", index), field, _plain_week(first))
                high = (
                    low if last is key else number(("engineers", index), field, _plain_week(last))
                )
                if not isinstance(low, int) or not isinstance(high, int):
                    weeks[key] = hours  # Pydantic or the issues above report it.
                    continue
                if high < low:
                    issues.append(
                        _issue(("engineers", index), field, "the range ends before it starts", key)
                    )
                    continue
                for week in range(low, high + 1):
                    if _looks_like_a_day(first) and not 1 <= week <= horizon:
                        continue  # Hours outside the horizon change nothing.
                    weeks[week] = _add_hours(weeks.get(week), hours)
            engineers[index] = raw = {**raw, name: weeks}
    if issues:
        raise InvalidInputError(issues)


def _looks_like_a_day(value: Any) -> bool:
    """`2026-W50` or `2026-12-07` (a date or an ISO week), as opposed to a week number."""
    return isinstance(value, str) and re.match(r"^\s*\d{4}-(W\d|\d)", value, re.I) is not None


def _is_range(value: Any) -> bool:
    """`2026-W50..2026-W52`, `2026-12-07..2026-12-20` or `3..5`: the weeks from one to the other."""
    return isinstance(value, str) and value.count("..") == 1


def _plain_week(text: Any) -> Any:
    """One end of a week key: a week number as an int, an ISO week or date as its text."""
    text = str(text).strip() if isinstance(text, str) else text
    return int(text) if isinstance(text, str) and text.isdigit() else text


def _add_hours(before: Any, hours: Any) -> Any:
    try:
        return hours if before is None else float(before) + float(hours)
    except (TypeError, ValueError):
        return hours  # Pydantic reports the bad value.


# ---------------------------------------------------------------------------------------------
# The value unit a portfolio's policy leaves out.


def derive_value_unit(expected_values: Sequence[float], value_weight: int = 1) -> float:
    """A round value unit (1, 2 or 5 x a power of ten) that makes the median expected value
    worth about 100 points; 1000 when no opportunity has any value.

    >>> derive_value_unit([100.0, 2_000.0, 30_000.0]), derive_value_unit([3e6, 2e7, 5e7])
    (20.0, 200000.0)
    """
    positive = sorted(v for v in expected_values if 0 < v <= MAX_DEAL_VALUE)
    if not positive:
        return 1000.0
    median = positive[len(positive) // 2]
    target = median * max(1, value_weight) / TARGET_MEDIAN_POINTS
    power = 10.0 ** math.floor(math.log10(target))
    best = min((1, 2, 5, 10), key=lambda m: abs(math.log(target / (m * power))))
    return float(min(MAX_DEAL_VALUE, max(0.01, round(best * power, 2))))


def _derive_value_unit(data: dict[str, Any]) -> None:
    """Fill `policy.value_unit` from the opportunities when the policy leaves it out, or
    derive it anew when the policy says its unit was derived (a portfolio written and read
    back, or its pipeline changed). A Policy object is taken as is."""
    raw = data.get("policy", {})
    if not isinstance(raw, Mapping):
        return  # `"policy": null` or a list: pydantic reports it.
    if "value_unit" in raw and raw.get("value_unit_source", "set") != "derived":
        return
    factors = raw.get("tier_factors") or {"A": 1.5, "B": 1.2, "C": 1.0}
    values = []
    try:
        for item in data.get("opportunities", ()):
            o = _as_dict(item)
            tier = o.get("tier") or "C"
            values.append(
                float(o.get("value", 0)) * float(o.get("win_probability", 0)) * float(factors[tier])
            )
        weight = int(raw.get("value_weight", 1))
    except (TypeError, ValueError, KeyError, OverflowError):
        return  # Pydantic reports the bad value; the default unit stays.
    unit = derive_value_unit(values, weight)
    data["policy"] = {**raw, "value_unit": unit, "value_unit_source": "derived"}


def _as_dict(item: Any) -> dict[str, Any]:
    if isinstance(item, BaseModel):
        return item.model_dump(exclude_unset=False)
    return dict(item) if isinstance(item, Mapping) else {}


def _duplicates(kind: str, ids: Sequence[str]) -> list[InputIssue]:
    seen: dict[str, int] = {}
    issues: list[InputIssue] = []
    for index, item_id in enumerate(ids):
        if item_id in seen:
            issues.append(_issue((kind, index), "id", "duplicate id", item_id))
        seen.setdefault(item_id, index)
    return issues


def _cross_record_issues(p: Portfolio) -> list[InputIssue]:
    """Every invariant that spans records: unique ids, references, weeks in the horizon."""
    issues: list[InputIssue] = []
    issues += _duplicates("skills", [s.id for s in p.skills])
    issues += _duplicates("engineers", [e.id for e in p.engineers])
    issues += _duplicates("opportunities", [o.id for o in p.opportunities])
    issues += _duplicates("demands", [d.id for d in p.demands])
    stages = [t.stage for t in p.stage_templates]
    for index, stage in enumerate(stages):
        if stages.index(stage) != index:
            issues.append(_issue(("stage_templates", index), "stage", "duplicate stage", stage))

    skills = {s.id for s in p.skills}
    engineers = {e.id for e in p.engineers}
    demand_opp = {d.id: d.opportunity_id for d in p.demands}
    opportunities = {o.id for o in p.opportunities}
    templates = {t.stage for t in p.stage_templates}
    horizon = p.horizon_weeks

    def week_issue(loc: tuple[str | int, ...], field: str, week: int) -> None:
        if not 1 <= week <= horizon:
            issues.append(_issue(loc, field, f"must be within weeks 1..{horizon}", week))

    for index, engineer in enumerate(p.engineers):
        loc = ("engineers", index)
        for skill in engineer.skills:
            if skill not in skills:
                issues.append(_issue(loc, f"skills[{skill}]", "unknown skill", skill))
        for week, hours in engineer.time_off.items():
            week_issue(loc, f"time_off[{week}]", week)
            _check_hours(issues, loc, f"time_off[{week}]", hours)
        _check_hours(issues, loc, "capacity_hours", engineer.capacity_hours)
        _check_hours(issues, loc, "committed_hours", engineer.committed_hours)
        for week, hours in engineer.commitments.items():
            week_issue(loc, f"commitments[{week}]", week)
            _check_hours(issues, loc, f"commitments[{week}]", hours)

    with_demands: set[str] = set()
    required_of: set[str] = set()
    for index, demand in enumerate(p.demands):
        with_demands.add(demand.opportunity_id)
        if demand.required:
            required_of.add(demand.opportunity_id)
        loc = ("demands", index)
        if demand.opportunity_id not in opportunities:
            issues.append(
                _issue(loc, "opportunity_id", "unknown opportunity", demand.opportunity_id)
            )
        week_issue(loc, "start_week", demand.start_week)
        if demand.end_week is not None:
            week_issue(loc, "end_week", demand.end_week)
            if demand.end_week < demand.start_week:
                issues.append(_issue(loc, "end_week", "must be >= start_week", demand.end_week))
        if demand.template_stage in templates:
            continue  # Skill and hours come from a template role, checked below.
        if demand.skill not in skills:
            issues.append(_issue(loc, "skill", "unknown skill", demand.skill))
        _check_hours(issues, loc, "hours", demand.hours)

    for index, opportunity in enumerate(p.opportunities):
        loc = ("opportunities", index)
        if opportunity.id in with_demands and opportunity.id not in required_of:
            issues.append(
                _issue(loc, "id", "has demands but none of them is required", opportunity.id)
            )
        if opportunity.id not in with_demands and templates and opportunity.stage not in templates:
            issues.append(
                _issue(
                    loc,
                    "stage",
                    "no stage template and no demands for this stage",
                    opportunity.stage,
                )
            )
    for t_index, template in enumerate(p.stage_templates):
        for r_index, role in enumerate(template.roles):
            role_loc = ("stage_templates", t_index, "roles", r_index)
            if role.skill not in skills:
                issues.append(_issue(role_loc, "skill", "unknown skill", role.skill))
            _check_hours(issues, role_loc, "hours", role.hours)

    references: list[tuple[str, Sequence[Pin | Forbid | PreviousAssignment]]] = [
        ("pins", p.pins),
        ("forbids", p.forbids),
        ("previous", p.previous),
    ]
    for kind, records in references:
        for index, record in enumerate(records):
            loc = (kind, index)
            if record.engineer_id not in engineers:
                issues.append(_issue(loc, "engineer_id", "unknown engineer", record.engineer_id))
            if record.opportunity_id not in opportunities:
                issues.append(
                    _issue(loc, "opportunity_id", "unknown opportunity", record.opportunity_id)
                )
            if record.demand_id:
                owner = demand_opp.get(record.demand_id)
                if owner is None:
                    issues.append(_issue(loc, "demand_id", "unknown demand", record.demand_id))
                elif owner != record.opportunity_id:
                    issues.append(
                        _issue(
                            loc,
                            "demand_id",
                            f"belongs to opportunity {owner}, not {record.opportunity_id}",
                            record.demand_id,
                        )
                    )
    return issues


def _check_hours(
    issues: list[InputIssue], loc: tuple[str | int, ...], field: str, hours: float
) -> None:
    if not math.isclose(hours * HOUR_SCALE, round(hours * HOUR_SCALE), abs_tol=1e-6):
        issues.append(_issue(loc, field, "must have at most two decimals", hours))
