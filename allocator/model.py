"""The domain: engineers, opportunities, demands, policy, portfolio, and the allocation result.

Pure data with its invariants checked on construction; every error names the record, the field
and the value. This module must not import OR-Tools, HTTP, SQL or file formats.

Units: hours are hours per week (at most two decimals); weeks are numbered 1..horizon_weeks;
deal values are in the portfolio's currency. Objective values are in *points*; internally the
solver and the checker count in hundredths of a point and hundredths of an hour so that every
coefficient is an integer (see `POINT_SCALE`, `HOUR_SCALE`).
"""

from __future__ import annotations

import enum
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from allocator.errors import InputIssue, InvalidInputError, problems

POINT_SCALE = 100
"""Internal objective unit: hundredths of a point."""
HOUR_SCALE = 100
"""Internal hour unit: hundredths of an hour."""

MAX_DEAL_VALUE = 1e12
"""Largest deal value (and value unit) accepted: keeps every objective coefficient exact."""
MAX_WEIGHT = 1_000_000
"""Largest objective weight accepted, for the same reason."""

Proficiency = Annotated[int, Field(ge=1, le=5, description="Proficiency level, 1 (novice) to 5.")]
Hours = Annotated[float, Field(ge=0, le=168, description="Hours per week, at most two decimals.")]
Week = Annotated[int, Field(ge=1, description="Week number, 1 is the first week of the horizon.")]
Tier = Literal["A", "B", "C"]


class OpportunityType(enum.StrEnum):
    """How an opportunity is run; recorded for reporting and scenario filters."""

    HQ_SOLUTION = "hq_solution"
    REGION_SOLUTION = "region_solution"
    STANDARD_PRODUCT = "standard_product"


class _Record(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )


class Skill(_Record):
    """One entry of the skill catalogue."""

    id: str = Field(min_length=1, description="Skill id used by engineers and demands.")
    name: str = Field("", description="Display name.")
    family: str = Field("", description="Skill family (for reports and decomposition).")


class Engineer(_Record):
    """A presales engineer and what they can give this horizon."""

    id: str = Field(min_length=1, description="Unique engineer id.")
    name: str = Field("", description="Display name.")
    region: str = Field(min_length=1, description="Home region.")
    skills: dict[str, Proficiency] = Field(
        default_factory=dict, description="Skill id -> proficiency level (1..5)."
    )
    industries: tuple[str, ...] = Field((), description="Industries the engineer knows.")
    capacity_hours: Hours = Field(40.0, description="Contracted presales hours per week.")
    committed_hours: Hours = Field(0.0, description="Hours per week already committed elsewhere.")
    time_off: dict[Week, Hours] = Field(
        default_factory=dict,
        description="Week -> hours off in that week. May exceed the capacity: hours free "
        "(capacity - committed - off) and hours worked (capacity - off) are floored at 0.",
    )
    cost_rate: float = Field(0.0, ge=0, description="Cost per hour; recorded, not optimised.")
    seniority_years: float = Field(
        0.0, ge=0, description="Recorded only: never enters the objective or the rules."
    )
    title: str = Field("", description="Recorded only: never enters the objective or the rules.")


class Opportunity(_Record):
    """A sales opportunity asking for presales support."""

    id: str = Field(min_length=1, description="Unique opportunity id.")
    customer: str = Field("", description="Customer name.")
    tier: Tier = Field("C", description="Customer tier: A strategic, B key, C potential.")
    industry: str = Field(min_length=1, description="Customer industry.")
    region: str = Field(min_length=1, description="Region of the customer.")
    stage: str = Field("", description="Sales stage; selects the stage template.")
    value: float = Field(
        ge=0, le=MAX_DEAL_VALUE, description="Deal value in the portfolio's currency."
    )
    win_probability: float = Field(ge=0, le=1, description="Probability of winning, 0..1.")
    type: OpportunityType = Field(OpportunityType.REGION_SOLUTION, description="Project type.")
    requester: str = Field("", description="Salesperson who raised it. Recorded only.")
    requester_seniority_years: float = Field(
        0.0, ge=0, description="Seniority of the requester. Recorded only."
    )
    requested_at: datetime | None = Field(None, description="When support was requested.")


class Demand(_Record):
    """One role needed on an opportunity: one engineer serves one demand."""

    id: str = Field("", description="Unique demand id; derived as OPP/skill when empty.")
    opportunity_id: str = Field(min_length=1, description="The opportunity this role belongs to.")
    skill: str = Field(min_length=1, description="Skill id required.")
    min_proficiency: Proficiency = Field(3, description="Minimum proficiency in the skill.")
    hours: Hours = Field(description="Hours per week in each week from start_week to end_week.")
    start_week: Week = Field(1, description="First week the role is needed.")
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
        1000.0, ge=0.01, le=MAX_DEAL_VALUE, description="Currency per point of expected value."
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
    max_opportunities_per_engineer: int = Field(4, ge=1, description="Opportunity limit.")

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

    name: str = Field("", description="Free text label of the portfolio.")
    horizon_weeks: int = Field(1, ge=1, le=52, description="Number of weeks planned.")
    skills: tuple[Skill, ...] = Field((), description="Skill catalogue; derived when empty.")
    engineers: tuple[Engineer, ...] = ()
    opportunities: tuple[Opportunity, ...] = ()
    demands: tuple[Demand, ...] = Field((), description="Explicit demands.")
    stage_templates: tuple[StageTemplate, ...] = ()
    policy: Policy = Field(default_factory=Policy)
    pins: tuple[Pin, ...] = ()
    forbids: tuple[Forbid, ...] = ()
    previous: tuple[PreviousAssignment, ...] = ()

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
    solver: SolverInfo = Field(default_factory=lambda: SolverInfo(name="none"))
    timings: Timings = Field(default_factory=Timings)


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

    >>> build_portfolio({"engineers": [], "opportunities": []}).horizon_weeks
    1
    """
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
    except (TypeError, ValueError):
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
