"""What-if scenarios: a base portfolio plus a list of typed edits, and what each edit does.

Service layer, pure: it turns (portfolio, edits) into a new `Portfolio` and never solves
(`sweep.py` solves, `compare.py` compares). Imports the domain only.

The edits, applied in order, each to the result of the previous one:

- `add_engineers`: `count` engineers of a `Profile` (skills with levels, home region,
  industries, weekly capacity). Ids are `HIRE-<region>-<skill>-<n>`, `<skill>` the profile's
  strongest skill and `<n>` the next free number, so hires are the same run after run.
- `remove_engineers`: by `ids`, or every engineer a selection (region, skill, industry)
  matches, or `count` of them chosen by the **release rule** below. Their pins, forbids and
  previous assignments go with them (listed in the scenario's notes).
- `change_capacity`: weekly capacity of the selected engineers changed by `hours` (added) or
  by `percent`, rounded to 1/100 h and kept within 0..168 h.
- `set_ratio`: reach a presales-to-sales ratio in a region or an industry. Sales are the
  distinct salespeople (`Opportunity.requester`) with opportunities there; presales are the
  engineers whose home region is the region (for an industry: who list the industry). The
  target is `ceil(sales x presales_part / sales_part)` engineers: below it, engineers of the
  profile are hired; above it, engineers are released by the release rule. A ratio `1:4` is
  one presales engineer per four salespeople.
- `change_policy`: policy fields (objective weights, rule settings) set to new values.
- `change_pipeline`: `percent` more (or fewer) opportunities in a region and/or industry.
  Growth copies opportunities with their demands (`<id>-G<k>`, same requester, value and
  roles); whole copies of every match first, then a seeded sample for the remainder.
  Shrinking removes a seeded sample (`seed`, default 0) with its demands, pins, forbids and
  previous assignments.

**Release rule** (remove by `count`, `set_ratio` above target): the engineers with the fewest
hours assigned in the base run go first; ties go to the one with fewer available hours, then
to the smaller id. Without a base run every engineer counts as unused.

Every edit is validated like any input: a structural problem (a negative count, an unknown
field) or a reference the portfolio does not know (a region, skill, industry or engineer id)
raises `InvalidInputError` naming the scenario, the edit, the field and the value.

>>> from allocator.core.generate import generate
>>> east = Scenario(name="East +2", edits=[AddEngineers(profile=Profile(
...     skills={"solution_architect": 4}, region="East"), count=2)])
>>> [e.id for e in apply_scenario(generate(5, 10, seed=1), east).portfolio.engineers][-2:]
['HIRE-East-solution_architect-1', 'HIRE-East-solution_architect-2']
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator

from allocator.core.limits import (
    Limits,
    estimate,
    growth_issue,
    objective_issues,
    size_issues,
)
from allocator.core.rules import hours_free
from allocator.errors import InputIssue, InvalidInputError, problems
from allocator.model import (
    Allocation,
    Demand,
    Engineer,
    Forbid,
    Hours,
    Opportunity,
    Pin,
    Policy,
    Portfolio,
    PreviousAssignment,
    Proficiency,
    build_portfolio,
    json_location,
)

HIRE_PREFIX = "HIRE"
MAX_HOURS = 168.0
MAX_RATIO_PART = 10_000.0
"""Each side of a ratio at most (so that a ratio's steps keep four decimals)."""
_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*$")


class _Edit(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Profile(_Edit):
    """The engineer a hire would be."""

    skills: dict[str, Proficiency] = Field(
        min_length=1, description="Skill id -> proficiency level (1..5)."
    )
    region: str = Field(
        "", description="Home region; for a region's ratio it defaults to that region."
    )
    industries: tuple[str, ...] = Field((), description="Industries the hire knows.")
    capacity_hours: Hours = Field(40.0, description="Weekly presales capacity in hours.")

    def main_skill(self) -> str:
        """The strongest skill (the first listed among equals): names the hire."""
        return max(self.skills, key=lambda s: self.skills[s])


class Selection(_Edit):
    """Engineers that match every criterion given (all engineers when none is)."""

    region: str | None = Field(None, description="Home region.")
    skill: str | None = Field(None, description="Has this skill, at any level.")
    industry: str | None = Field(None, description="Lists this industry.")

    def matches(self, engineer: Engineer) -> bool:
        return (
            (self.region is None or engineer.region == self.region)
            and (self.skill is None or self.skill in engineer.skills)
            and (self.industry is None or self.industry in engineer.industries)
        )

    def describe(self) -> str:
        parts = [
            f"{name} {value}"
            for name, value in (
                ("region", self.region),
                ("skill", self.skill),
                ("industry", self.industry),
            )
            if value is not None
        ]
        return ", ".join(parts) or "all engineers"


class AddEngineers(_Edit):
    """Hire `count` engineers of `profile`."""

    kind: Literal["add_engineers"] = "add_engineers"
    profile: Profile
    count: int = Field(1, ge=1, le=1000, description="How many engineers to add.")


class RemoveEngineers(_Edit):
    """Remove engineers by id, or the ones a selection matches (`count` of them: release rule)."""

    kind: Literal["remove_engineers"] = "remove_engineers"
    ids: tuple[str, ...] = Field((), description="Engineer ids to remove.")
    select: Selection | None = Field(None, description="Remove the engineers this matches.")
    count: int | None = Field(
        None, ge=1, description="Remove only this many of the matches, by the release rule."
    )


class ChangeCapacity(_Edit):
    """Weekly capacity of the selected engineers, changed by hours or by percent."""

    kind: Literal["change_capacity"] = "change_capacity"
    select: Selection = Field(default_factory=Selection)
    hours: float | None = Field(None, ge=-168, le=168, description="Hours per week added.")
    percent: float | None = Field(None, ge=-100, le=1000, description="Percent change.")


class SetRatio(_Edit):
    """Hire or release presales engineers to reach `ratio` (presales:sales) in a scope."""

    kind: Literal["set_ratio"] = "set_ratio"
    region: str | None = Field(None, description="The region (exactly one of region/industry).")
    industry: str | None = Field(None, description="The industry.")
    ratio: str = Field(description="Presales to sales, like `1:4` (one per four salespeople).")
    profile: Profile | None = Field(
        None, description="Who is hired; default: `default_profile` of the scope."
    )
    sales: int | None = Field(
        None,
        ge=1,
        le=1_000_000,
        description="The scope's real sales headcount; default: the distinct requesters of "
        "its opportunities (salespeople with no open request are not counted then).",
    )

    @field_validator("ratio")
    @classmethod
    def _ratio(cls, text: str) -> str:
        parse_ratio(text)
        return text


class ChangePolicy(_Edit):
    """Set policy fields (objective weights, rule settings) to new values."""

    kind: Literal["change_policy"] = "change_policy"
    changes: dict[str, Any] = Field(min_length=1, description="Policy field -> new value.")


class ChangePipeline(_Edit):
    """Grow (percent > 0) or shrink (percent < 0) the opportunities of a region/industry."""

    kind: Literal["change_pipeline"] = "change_pipeline"
    percent: float = Field(ge=-100, le=1000, description="Percent more (or fewer) opportunities.")
    region: str | None = Field(None, description="Only opportunities in this region.")
    industry: str | None = Field(None, description="Only opportunities in this industry.")
    seed: int = Field(0, ge=0, description="Seed of the sample copied or removed.")


Edit = Annotated[
    AddEngineers | RemoveEngineers | ChangeCapacity | SetRatio | ChangePolicy | ChangePipeline,
    Field(discriminator="kind"),
]
EDIT_KINDS = (
    "add_engineers",
    "remove_engineers",
    "change_capacity",
    "set_ratio",
    "change_policy",
    "change_pipeline",
)


class Scenario(_Edit):
    """A named list of edits to a base portfolio; no edits is the base itself."""

    name: str = Field(min_length=1, max_length=100, description="Unique name in a sweep.")
    edits: tuple[Edit, ...] = Field((), description="Applied in order.")


_SCENARIOS = TypeAdapter(list[Scenario])


def parse_scenarios(data: Any, where: str = "$") -> list[Scenario]:
    """Scenarios from JSON data: a list, or `{"scenarios": [...]}`; names must be unique.

    >>> parse_scenarios([{"name": "unchanged"}])[0].edits
    ()
    """
    if isinstance(data, Mapping) and "scenarios" in data:
        data, where = data["scenarios"], f"{where}.scenarios"
    try:
        scenarios = _SCENARIOS.validate_python(data)
    except ValidationError as error:
        raise InvalidInputError(
            problems(
                error,
                lambda loc: (where + json_location(loc)[1:], "", loc),
                {"union_tag_invalid": f"unknown edit kind; choose from {', '.join(EDIT_KINDS)}"},
                skip=_is_tag,
            )
        ) from None
    check_names(scenarios)
    return scenarios


def _is_tag(part: Any) -> bool:
    """Pydantic puts the union's tag (`add_engineers`) into locations; it is not a field."""
    return isinstance(part, str) and part in EDIT_KINDS


def check_names(scenarios: Sequence[Scenario]) -> None:
    """Scenario names are unique, and none is `base` (the name of the unchanged portfolio)."""
    issues = []
    seen: set[str] = set()
    for index, scenario in enumerate(scenarios):
        if scenario.name in seen or scenario.name == "base":
            why = "is reserved for the base" if scenario.name == "base" else "duplicate name"
            issues.append(InputIssue(f"scenario {index + 1}", "name", why, scenario.name))
        seen.add(scenario.name)
    if issues:
        raise InvalidInputError(issues)


# ---------------------------------------------------------------------------------------------
# Ratios


@dataclass(frozen=True)
class Ratio:
    """Presales to sales, `1:4` = one presales engineer per four salespeople."""

    presales: float
    sales: float

    def sales_per_presales(self) -> float:
        return self.sales / self.presales

    def target(self, sales: int) -> int:
        """Presales engineers needed for `sales` salespeople (rounded up)."""
        return math.ceil(sales * self.presales / self.sales - 1e-9)

    def __str__(self) -> str:
        return f"{_short(self.presales)}:{_short(self.sales)}"


def _short(value: float) -> str:
    return f"{value:g}"


def parse_ratio(text: str, where: str = "ratio") -> Ratio:
    """`"1:4"` -> Ratio(1, 4); both parts > 0.

    >>> parse_ratio("1:4").sales_per_presales()
    4.0
    """
    found = _RATIO.match(text) if len(text) <= 40 else None
    parts = (0.0, 0.0) if found is None else (float(found[1]), float(found[2]))
    if not all(part > 0 for part in parts):
        raise ValueError("must look like 1:4 (presales:sales, both > 0)")
    if max(parts) > MAX_RATIO_PART:
        raise ValueError(f"each side must be at most {MAX_RATIO_PART:g}")
    return Ratio(*parts)


@dataclass(frozen=True)
class Staffing:
    """Presales engineers and salespeople in a scope (a region or an industry)."""

    scope: str
    presales: int
    sales: int

    def ratio(self) -> str:
        """`1:2.3`: salespeople per presales engineer (`0:N` with nobody)."""
        if not self.presales:
            return f"0:{self.sales}"
        return f"1:{self.sales / self.presales:.3g}"


def staffing(
    engineers: Iterable[Engineer],
    opportunities: Iterable[Opportunity],
    region: str | None = None,
    industry: str | None = None,
) -> Staffing:
    """Presales and sales headcount of a region or an industry (see the module doc)."""
    if region is not None:
        presales = sum(e.region == region for e in engineers)
        sales = {o.requester for o in opportunities if o.region == region and o.requester}
        return Staffing(f"region {region}", presales, len(sales))
    if industry is None:
        raise ValueError("staffing needs a region or an industry")
    presales = sum(industry in e.industries for e in engineers)
    sales = {o.requester for o in opportunities if o.industry == industry and o.requester}
    return Staffing(f"industry {industry}", presales, len(sales))


def default_profile(
    portfolio: Portfolio, region: str | None = None, industry: str | None = None, level: int = 4
) -> Profile:
    """The hire a scope needs most, when none is given: the skill with the most demand hours
    there, at `level` (4 meets the generator's demands), 40 h a week; home region the region
    (for an industry: the region with the most demand hours in it); industries: the industry
    (for a region: its most common one)."""
    opportunities = portfolio.opportunity_by_id()
    hours: dict[str, float] = defaultdict(float)
    regions: dict[str, float] = defaultdict(float)
    industries: dict[str, float] = defaultdict(float)
    for demand in portfolio.demands:
        o = opportunities[demand.opportunity_id]
        if (region is not None and o.region != region) or (
            industry is not None and o.industry != industry
        ):
            continue
        work = demand.hours * len(demand.weeks(portfolio.horizon_weeks))
        hours[demand.skill] += work
        regions[o.region] += work
        industries[o.industry] += work
    if not hours:
        scope = f"region {region}" if region is not None else f"industry {industry}"
        raise InvalidInputError([InputIssue(scope, "", "has no demand to derive a profile from")])
    skill = _most(hours)
    return Profile(
        skills={skill: level},
        region=region if region is not None else _most(regions),
        industries=(industry,) if industry is not None else (_most(industries),),
    )


def _most(counts: Mapping[str, float]) -> str:
    """The key with the largest count; the smallest key among equals."""
    return min(counts, key=lambda k: (-counts[k], k))


# ---------------------------------------------------------------------------------------------
# Applying edits


@dataclass(frozen=True)
class AppliedScenario:
    """A scenario's portfolio, and what its edits did."""

    name: str
    portfolio: Portfolio
    hired: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    opportunities_added: tuple[str, ...] = ()
    opportunities_removed: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def hours_used(portfolio: Portfolio, allocation: Allocation) -> dict[str, float]:
    """Engineer id -> presales hours assigned over the horizon in `allocation`."""
    used: dict[str, float] = defaultdict(float)
    for a in allocation.assignments:
        used[a.engineer_id] += a.hours * (a.end_week - a.start_week + 1)
    return dict(used)


def apply_scenario(
    base: Portfolio,
    scenario: Scenario,
    usage: Mapping[str, float] | None = None,
    limits: Limits | None = None,
) -> AppliedScenario:
    """The scenario's portfolio: `scenario.edits` applied in order to `base`.

    `usage` (engineer id -> hours assigned in the base run, see `hours_used`) orders
    releases; without it every engineer counts as unused. The edited portfolio must stay
    within `limits` (an edit that would pass one is refused before it makes a record).
    """
    return _edited(base, scenario, usage or {}, limits or Limits()).build(scenario.name)


def check_scenario(base: Portfolio, scenario: Scenario, limits: Limits | None = None) -> None:
    """Raise `InvalidInputError` if an edit of `scenario` is invalid on `base`, or the edited
    portfolio would pass `limits` (cheap: the edits are applied to lists, the new portfolio
    is not validated as a whole)."""
    _edited(base, scenario, {}, limits or Limits())


def _edited(
    base: Portfolio, scenario: Scenario, usage: Mapping[str, float], limits: Limits
) -> _State:
    state = _State.of(base, usage, limits)
    for index, edit in enumerate(scenario.edits):
        where = f"scenario {scenario.name!r} edit {index + 1} ({edit.kind})"
        issues = state.apply(edit, where)
        if issues:
            raise InvalidInputError(issues)
    size = estimate(state.engineers, state.opportunities, state.demands, base.horizon_weeks)
    where = f"scenario {scenario.name!r}"
    issues = size_issues(size, limits, where)
    issues += objective_issues(state.opportunities, state.policy, where)
    if issues:
        raise InvalidInputError(issues)
    return state


@dataclass
class _State:
    """The portfolio being edited, as lists, and a log of what changed."""

    base: Portfolio
    usage: Mapping[str, float]
    engineers: list[Engineer]
    opportunities: list[Opportunity]
    demands: list[Demand]
    pins: list[Pin]
    forbids: list[Forbid]
    previous: list[PreviousAssignment]
    policy: Policy
    hired: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    opportunities_added: list[str] = field(default_factory=list)
    opportunities_removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def of(cls, base: Portfolio, usage: Mapping[str, float], limits: Limits) -> _State:
        return cls(
            base,
            usage,
            list(base.engineers),
            list(base.opportunities),
            list(base.demands),
            list(base.pins),
            list(base.forbids),
            list(base.previous),
            base.policy,
            limits=limits,
        )

    def build(self, name: str) -> AppliedScenario:
        data = self.base.model_dump(exclude={"engineers", "opportunities", "demands"})
        data.update(
            engineers=self.engineers,
            opportunities=self.opportunities,
            demands=self.demands,
            pins=self.pins,
            forbids=self.forbids,
            previous=self.previous,
            policy=self.policy,
        )
        portfolio = build_portfolio(data, lambda loc: f"scenario {name!r} {json_location(loc)}")
        return AppliedScenario(
            name,
            portfolio,
            tuple(self.hired),
            tuple(self.removed),
            tuple(self.opportunities_added),
            tuple(self.opportunities_removed),
            tuple(self.notes),
        )

    # -- references --------------------------------------------------------------------------

    def regions(self) -> set[str]:
        return {e.region for e in self.engineers} | {o.region for o in self.opportunities}

    def industries(self) -> set[str]:
        known = {o.industry for o in self.opportunities}
        return known.union(*(e.industries for e in self.engineers))

    def skills(self) -> set[str]:
        return {s.id for s in self.base.skills}

    def _known(
        self, where: str, field_name: str, value: str | None, known: set[str], what: str
    ) -> list[InputIssue]:
        if value is None or value in known:
            return []
        listed = ", ".join(sorted(known)) or "none"
        return [InputIssue(where, field_name, f"unknown {what}; known: {listed}", value)]

    def _selection_issues(self, where: str, prefix: str, select: Selection) -> list[InputIssue]:
        return (
            self._known(where, f"{prefix}region", select.region, self.regions(), "region")
            + self._known(where, f"{prefix}skill", select.skill, self.skills(), "skill")
            + self._known(
                where, f"{prefix}industry", select.industry, self.industries(), "industry"
            )
        )

    def _profile_issues(self, where: str, profile: Profile) -> list[InputIssue]:
        issues = self._known(
            where, "profile.region", profile.region or None, self.regions(), "region"
        )
        for skill in profile.skills:
            issues += self._known(where, f"profile.skills[{skill}]", skill, self.skills(), "skill")
        for industry in profile.industries:
            issues += self._known(
                where, "profile.industries", industry, self.industries(), "industry"
            )
        return issues

    # -- edits -------------------------------------------------------------------------------

    def apply(self, edit: Any, where: str) -> list[InputIssue]:
        """Apply one edit; the issues found instead (nothing is applied then)."""
        if isinstance(edit, AddEngineers):
            return self._add(edit, where)
        if isinstance(edit, RemoveEngineers):
            return self._remove(edit, where)
        if isinstance(edit, ChangeCapacity):
            return self._capacity(edit, where)
        if isinstance(edit, SetRatio):
            return self._ratio(edit, where)
        if isinstance(edit, ChangePolicy):
            return self._policy(edit, where)
        if isinstance(edit, ChangePipeline):
            return self._pipeline(edit, where)
        raise TypeError(f"not an edit: {edit!r}")

    def _add(self, edit: AddEngineers, where: str) -> list[InputIssue]:
        issues = self._profile_issues(where, edit.profile)
        if not edit.profile.region:
            issues.append(InputIssue(where, "profile.region", "is required", ""))
        if issues:
            return issues
        return self._hire(edit.profile, edit.count, where, "count")

    def _hire(self, profile: Profile, count: int, where: str, field_name: str) -> list[InputIssue]:
        """Add `count` engineers of `profile`; the issue instead when that passes the limit."""
        too_many = growth_issue(
            where, field_name, "engineers", len(self.engineers), count, self.limits.engineers
        )
        if too_many is not None:
            return [too_many]
        taken = {e.id for e in self.engineers} | set(self.removed)
        stem = f"{HIRE_PREFIX}-{profile.region}-{profile.main_skill()}"
        n = 0
        for _ in range(count):
            n += 1
            while f"{stem}-{n}" in taken:
                n += 1
            new_id = f"{stem}-{n}"
            taken.add(new_id)
            self.engineers.append(
                Engineer(
                    id=new_id,
                    name=f"Hire {n} ({profile.main_skill()}, {profile.region})",
                    region=profile.region,
                    skills=dict(profile.skills),
                    industries=profile.industries,
                    capacity_hours=profile.capacity_hours,
                    title="planned hire",
                )
            )
            self.hired.append(new_id)
        return []

    def _remove(self, edit: RemoveEngineers, where: str) -> list[InputIssue]:
        if bool(edit.ids) == (edit.select is not None):
            return [InputIssue(where, "ids", "give either ids or select, not both or neither")]
        if edit.ids:
            present = {e.id for e in self.engineers}
            unknown = [i for i in edit.ids if i not in present]
            if unknown:
                return [InputIssue(where, "ids", "unknown engineer", ", ".join(unknown))]
            if edit.count is not None:
                return [InputIssue(where, "count", "only applies with select", edit.count)]
            self._drop(set(edit.ids))
            return []
        assert edit.select is not None
        issues = self._selection_issues(where, "select.", edit.select)
        if issues:
            return issues
        matched = [e for e in self.engineers if edit.select.matches(e)]
        if not matched:
            return [InputIssue(where, "select", "matches no engineer", edit.select.describe())]
        chosen = self._release_order(matched)[: edit.count or len(matched)]
        self._drop({e.id for e in chosen})
        return []

    def _release_order(self, engineers: Sequence[Engineer]) -> list[Engineer]:
        """The release rule: fewest hours in the base run, then fewest hours available,
        then the smallest id."""
        weeks = self.base.weeks()
        return sorted(
            engineers,
            key=lambda e: (
                self.usage.get(e.id, 0.0),
                hours_free(e, weeks),
                e.id,
            ),
        )

    def _drop(self, ids: set[str]) -> None:
        self.engineers = [e for e in self.engineers if e.id not in ids]
        self.removed.extend(sorted(ids))
        self._drop_references(lambda r: r.engineer_id in ids)

    def _drop_references(self, gone: Any) -> None:
        for kind in ("pins", "forbids", "previous"):
            records = getattr(self, kind)
            kept = [r for r in records if not gone(r)]
            for record in records:
                if gone(record):
                    label = record.label() if hasattr(record, "label") else "previous"
                    if kind == "previous":
                        label = f"previous {record.engineer_id} -> {record.opportunity_id}"
                    self.notes.append(f"dropped {label}")
            setattr(self, kind, kept)

    def _capacity(self, edit: ChangeCapacity, where: str) -> list[InputIssue]:
        if (edit.hours is None) == (edit.percent is None):
            return [InputIssue(where, "hours", "give either hours or percent, not both or neither")]
        issues = self._selection_issues(where, "select.", edit.select)
        if issues:
            return issues
        matched = 0
        for i, e in enumerate(self.engineers):
            if not edit.select.matches(e):
                continue
            matched += 1
            if edit.hours is not None:
                new = e.capacity_hours + edit.hours
            else:
                assert edit.percent is not None
                new = e.capacity_hours * (1 + edit.percent / 100)
            new = min(MAX_HOURS, max(0.0, round(new, 2)))
            self.engineers[i] = e.model_copy(update={"capacity_hours": new})
        if not matched:
            return [InputIssue(where, "select", "matches no engineer", edit.select.describe())]
        return []

    def _ratio(self, edit: SetRatio, where: str) -> list[InputIssue]:
        if (edit.region is None) == (edit.industry is None):
            return [InputIssue(where, "region", "give either region or industry")]
        issues = self._known(where, "region", edit.region, self.regions(), "region")
        issues += self._known(where, "industry", edit.industry, self.industries(), "industry")
        if edit.profile is not None:
            issues += self._profile_issues(where, edit.profile)
        if issues:
            return issues
        now = staffing(self.engineers, self.opportunities, edit.region, edit.industry)
        if edit.sales is not None:
            now = Staffing(now.scope, now.presales, edit.sales)
        if not now.sales:
            return [InputIssue(where, "ratio", f"{now.scope} has no salespeople", edit.ratio)]
        target = parse_ratio(edit.ratio).target(now.sales)
        if target > now.presales:
            profile = edit.profile or default_profile(self._portfolio(), edit.region, edit.industry)
            profile, problem = fit_profile(profile, edit.region, edit.industry)
            if problem:
                return [InputIssue(where, "profile.region", problem, profile.region)]
            hired = self._hire(profile, target - now.presales, where, "ratio")
            if hired:
                return hired
        elif target < now.presales:
            inside = [
                e
                for e in self.engineers
                if (edit.region is not None and e.region == edit.region)
                or (edit.industry is not None and edit.industry in e.industries)
            ]
            chosen = self._release_order(inside)[: now.presales - target]
            self._drop({e.id for e in chosen})
        self.notes.append(
            f"{now.scope}: {now.presales} presales for {now.sales} salespeople, "
            f"{target} for {edit.ratio}"
        )
        return []

    def _portfolio(self) -> Portfolio:
        """The state as a portfolio, without validation (for `default_profile`)."""
        return self.base.model_copy(
            update={"opportunities": tuple(self.opportunities), "demands": tuple(self.demands)}
        )

    def _policy(self, edit: ChangePolicy, where: str) -> list[InputIssue]:
        merged = {**self.policy.model_dump(), **edit.changes}
        if "value_unit" in edit.changes:  # Set by the scenario, not derived.
            merged["value_unit_source"] = "set"
        try:
            self.policy = Policy.model_validate(merged)
        except ValidationError as error:
            return problems(
                error, lambda loc: (where, f"changes[{loc[0]}]" if loc else "changes", ())
            )
        return []

    def _pipeline(self, edit: ChangePipeline, where: str) -> list[InputIssue]:
        issues = self._known(where, "region", edit.region, self.regions(), "region")
        issues += self._known(where, "industry", edit.industry, self.industries(), "industry")
        if issues:
            return issues
        matching = [
            i
            for i, o in enumerate(self.opportunities)
            if (edit.region is None or o.region == edit.region)
            and (edit.industry is None or o.industry == edit.industry)
        ]
        if not matching:
            scope = ", ".join(
                f"{k} {v}" for k, v in (("region", edit.region), ("industry", edit.industry)) if v
            )
            return [InputIssue(where, "region", "matches no opportunity", scope or "all")]
        count = round(len(matching) * abs(edit.percent) / 100)
        rng = np.random.default_rng(edit.seed)
        if edit.percent >= 0:
            too_many = growth_issue(
                where,
                "percent",
                "opportunities",
                len(self.opportunities),
                count,
                self.limits.opportunities,
            )
            if too_many is not None:
                return [too_many]
            whole, rest = divmod(count, len(matching))
            picks = [m for _ in range(whole) for m in matching]
            sample: list[int] = rng.choice(len(matching), size=rest, replace=False).tolist()
            picks += [matching[k] for k in sorted(sample)]
            return self._copy_opportunities(picks, where)
        else:
            sample = rng.choice(len(matching), size=count, replace=False).tolist()
            gone = {self.opportunities[matching[k]].id for k in sample}
            self.opportunities = [o for o in self.opportunities if o.id not in gone]
            self.demands = [d for d in self.demands if d.opportunity_id not in gone]
            self.opportunities_removed.extend(sorted(gone))
            self._drop_references(lambda r: r.opportunity_id in gone)
        return []

    def _copy_opportunities(self, picks: Sequence[int], where: str) -> list[InputIssue]:
        """Copy the opportunities at `picks` with their demands; the issue instead when the
        demands would pass the limit."""
        taken = {o.id for o in self.opportunities}
        demand_ids = {d.id for d in self.demands}
        demands_of: dict[str, list[Demand]] = defaultdict(list)
        for demand in self.demands:
            demands_of[demand.opportunity_id].append(demand)
        originals = [self.opportunities[i] for i in picks]
        added = sum(len(demands_of[o.id]) for o in originals)
        too_many = growth_issue(
            where, "percent", "demands", len(self.demands), added, self.limits.demands
        )
        if too_many is not None:
            return [too_many]
        for original in originals:
            k = 1
            while f"{original.id}-G{k}" in taken:
                k += 1
            new_id = f"{original.id}-G{k}"
            taken.add(new_id)
            self.opportunities.append(original.model_copy(update={"id": new_id}))
            self.opportunities_added.append(new_id)
            for demand in demands_of[original.id]:
                tail = demand.id[len(original.id) :] if demand.id.startswith(original.id) else ""
                copy_id = f"{new_id}{tail}" if tail else f"{new_id}/{demand.id}"
                while copy_id in demand_ids:
                    copy_id += "+"
                demand_ids.add(copy_id)
                self.demands.append(
                    demand.model_copy(update={"id": copy_id, "opportunity_id": new_id})
                )
        return []


def fit_profile(profile: Profile, region: str | None, industry: str | None) -> tuple[Profile, str]:
    """The profile made to count towards the scope: a region's hires live there (default),
    an industry's hires list the industry. Returns (profile, problem or '')."""
    if region is not None:
        if profile.region and profile.region != region:
            return profile, f"must be {region} (or empty) for a ratio of region {region}"
        return profile.model_copy(update={"region": region}), ""
    if not profile.region:
        return profile, "is required for an industry's ratio"
    assert industry is not None
    if industry not in profile.industries:
        profile = profile.model_copy(update={"industries": (*profile.industries, industry)})
    return profile, ""


# ---------------------------------------------------------------------------------------------
# Ratio sweeps


def ratio_steps(start: Ratio, stop: Ratio, steps: int) -> list[Ratio]:
    """`steps` ratios from `start` to `stop`, evenly spaced in salespeople per presales.

    >>> [str(r) for r in ratio_steps(parse_ratio("1:6"), parse_ratio("1:2"), 5)]
    ['1:6', '1:5', '1:4', '1:3', '1:2']
    """
    if steps < 2:
        return [start]
    a, b = start.sales_per_presales(), stop.sales_per_presales()
    return [Ratio(1.0, max(1e-4, round(a + (b - a) * k / (steps - 1), 4))) for k in range(steps)]
