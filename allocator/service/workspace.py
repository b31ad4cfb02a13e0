"""The workspace: the living plan the web app works on, and the requests sales files into it.

A workspace is one portfolio document with a version (engineers, opportunities, demands,
pins, forbids, policy), changed by forms, imports and requests; each change is validated by
the domain's own rules (`build_portfolio`) and stored only when it holds, with the version
checked so that two editors never overwrite each other silently. A weekly run snapshots it into
a stored portfolio (a ledger record, hash-chained like every upload) and submits a normal run
whose previous assignments come from the workspace's last run that ended with a result
(continuity). Each team (business unit) has its own workspace, its own runs and its own
requests: a planner, viewer or requester works on their key's team's, an auditor reads any
team's (another team's run or request is not found, as in the API). A request (role
`requester`) adds an opportunity (or roles on one of the
pipeline) and its demands; its life is read off the runs: submitted, in this week's run, then
staffed (by whom, which weeks) or not staffed with the reason the explanations give.

Orchestration only: storage through `WorkspaceStore` (implemented by `store.Store`), runs
through `RunService`, reasons through `allocator.explain` (imported when first asked: the
store imports this module's records and must load no solver).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from allocator.errors import InputIssue, InvalidInputError, NotFoundError, problems
from allocator.io.comparison import STATUS_QUO
from allocator.model import (
    Allocation,
    Hours,
    Portfolio,
    Proficiency,
    Tier,
    Week,
    build_portfolio,
)
from allocator.service.jobs import JobKind, JobStatus
from allocator.service.keys import (
    DEFAULT_TEAM,
    Permission,
    PermissionDeniedError,
    Principal,
    Role,
)
from allocator.service.runs import Feeder, RunRequest, RunService, RunState

log = logging.getLogger("allocator.workspace")

if TYPE_CHECKING:  # The explanations load the solver's compiled model: only when asked.
    from allocator.explain.explanations import Fairness, Run
    from allocator.io.report import Summary


@dataclass(frozen=True)
class WorkspaceRow:
    """The stored workspace: its document, version and the runs it submitted (oldest first)."""

    version: int
    content: dict[str, Any]
    updated_by: str
    updated_at: datetime
    run_ids: tuple[int, ...] = ()
    team: str = DEFAULT_TEAM


@dataclass(frozen=True)
class PlanRequest:
    """A request as stored: who filed it, the opportunity it concerns, the form's content."""

    id: int
    requester: str
    opportunity_id: str
    content: dict[str, Any]
    submitted_at: datetime
    run_id: int | None = None
    team: str = DEFAULT_TEAM


class WorkspaceStore(Protocol):
    """What the workspace needs from storage, per team; `store.Store` implements it."""

    def workspace_version(self, team: str) -> int | None: ...
    def get_workspace(self, team: str) -> WorkspaceRow | None: ...
    def save_workspace(
        self,
        team: str,
        content: dict[str, Any],
        expected_version: int | None,
        actor: str,
        request: PlanRequest | None = None,
        run_id: int | None = None,
    ) -> tuple[int, int | None]: ...
    def list_plan_requests(
        self, team: str | None, requester: str | None, limit: int, offset: int
    ) -> tuple[list[PlanRequest], int]: ...
    def get_plan_request(self, request_id: int) -> PlanRequest: ...
    def teams(self) -> list[str]: ...
    def link_plan_requests(self, team: str, opportunity_ids: list[str], run_id: int) -> int: ...


class VersionConflictError(InvalidInputError):
    """The workspace changed since the form was shown (someone else saved first)."""


class RoleIn(BaseModel):
    """One role a request asks for."""

    skill: str = Field(min_length=1, max_length=100)
    min_proficiency: Proficiency = 3
    hours: Hours = Field(gt=0)
    start_week: Week = 1
    end_week: Week = 1


class RequestIn(BaseModel):
    """The request form: an opportunity of the pipeline, or a new one, and its roles."""

    opportunity_id: str = Field("", max_length=200)
    customer: str = Field("", max_length=200)
    tier: Tier = "C"
    industry: str = Field("", max_length=100)
    region: str = Field("", max_length=100)
    value: float = Field(0.0, ge=0, le=1e12)
    win_probability: float = Field(0.5, ge=0, le=1)
    roles: list[RoleIn] = Field(min_length=1, max_length=10)
    notes: str = Field("", max_length=2000)


@dataclass(frozen=True)
class Staffing:
    """One role of a request and who serves it, if anyone."""

    demand_id: str
    skill: str
    engineer_id: str | None
    weeks: tuple[int, ...]


@dataclass(frozen=True)
class RequestLife:
    """Where a request stands: `submitted`, `in_run`, `staffed`, `not_staffed`, `failed`,
    `withdrawn`."""

    request: PlanRequest
    stage: str
    words: str
    run: RunState | None = None
    roles: list[Staffing] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


def _now() -> datetime:
    return datetime.now(UTC)


def _form_place(loc: tuple[str | int, ...]) -> tuple[str, str, tuple[str | int, ...]]:
    """`('roles', 0, 'hours')` -> `request`, field `roles.0.hours`: the form's own names."""
    return "request", ".".join(str(part) for part in loc), loc


TEAMS_KEPT = 8
"""How many teams' plans are kept in memory (the rest are read again when asked)."""


class WorkspaceService:
    """The living plans (one per team) over one store; runs and results through the run
    service. Every method takes the principal: its team's workspace, runs and requests."""

    def __init__(self, store: WorkspaceStore, runs: RunService) -> None:
        self.store = store
        self.runs = runs
        self._cached: OrderedDict[str, tuple[int, Portfolio, WorkspaceRow]] = OrderedDict()
        self._explained: OrderedDict[int, Run] = OrderedDict()
        self._building: dict[int, threading.Lock] = {}
        self._snapshots: OrderedDict[int, tuple[Portfolio, Allocation]] = OrderedDict()
        self._fairness: OrderedDict[int, Fairness] = OrderedDict()
        self._lock = threading.Lock()

    # -----------------------------------------------------------------------------------------
    # The plan

    @staticmethod
    def team_of(principal: Principal, team: str | None = None) -> str:
        """The team whose workspace `principal` works on: their key's; an auditor may choose
        any (`team`). Another team's, asked by anyone else: NotFoundError (not told)."""
        chosen = team or principal.team
        if not principal.sees(chosen):
            raise NotFoundError(f"no workspace of team {chosen!r}")
        return chosen

    def teams(self, principal: Principal) -> list[str]:
        """The teams `principal` may look at: every team a key or a workspace names for an
        auditor, their own otherwise."""
        return self.store.teams() if principal.sees_all else [principal.team]

    def exists(self, principal: Principal, team: str | None = None) -> bool:
        return self.store.workspace_version(self.team_of(principal, team)) is not None

    def current(
        self, principal: Principal, team: str | None = None
    ) -> tuple[Portfolio, WorkspaceRow]:
        """The team's plan and its row; NotFoundError before anything was imported."""
        return self._current(self.team_of(principal, team))

    def _current(self, team: str) -> tuple[Portfolio, WorkspaceRow]:
        version = self.store.workspace_version(team)
        empty = f"the workspace of team {team!r} is empty: import a portfolio first"
        if version is None:
            raise NotFoundError(empty)
        with self._lock:
            cached = self._cached.get(team)
        if cached is not None and cached[0] == version:
            return cached[1], cached[2]
        row = self.store.get_workspace(team)
        if row is None:
            raise NotFoundError(empty)
        portfolio = build_portfolio(row.content)
        self._remember(team, row.version, portfolio, row)
        return portfolio, row

    def _remember(self, team: str, version: int, plan: Portfolio, row: WorkspaceRow) -> None:
        with self._lock:
            self._cached[team] = (version, plan, row)
            self._cached.move_to_end(team)
            while len(self._cached) > TEAMS_KEPT:
                self._cached.popitem(last=False)

    def plan(self, principal: Principal, team: str | None = None) -> Portfolio:
        return self.current(principal, team)[0]

    def replace(self, portfolio: Portfolio, principal: Principal) -> int:
        """Import: the team's plan becomes `portfolio` (its previous assignments are dropped:
        runs bring their own). Returns the new version."""
        principal.require(Permission.WRITE)
        team = principal.team
        version = self.store.workspace_version(team)
        plan = portfolio.model_copy(update={"previous": ()})
        content = plan.model_dump(mode="json")
        saved = self.store.save_workspace(team, content, version, principal.name)[0]
        with self._lock:
            cached = self._cached.get(team)
        if cached is not None and cached[0] == version:  # Its runs are known: keep the plan.
            self._keep(saved, plan, content, principal, cached[2].run_ids)
        return saved

    def change(
        self,
        edit: Callable[[dict[str, Any]], None],
        principal: Principal,
        version: int | None = None,
    ) -> int:
        """Apply `edit` to a copy of the plan's document and store it when the domain's rules
        hold; InvalidInputError (nothing stored) otherwise. `version`: the one the form was
        shown at, refused when the plan moved on since. Returns the new version."""
        return self._change(edit, principal, version, Permission.WRITE, None)[0]

    def _change(
        self,
        edit: Callable[[dict[str, Any]], None],
        principal: Principal,
        version: int | None,
        permission: Permission,
        request: PlanRequest | None,
    ) -> tuple[int, int | None]:
        """`change`, for a role's permission, with the request it files or edits (stored in
        the same transaction); returns the new version and the request's id."""
        principal.require(permission)
        portfolio, row = self._current(principal.team)
        if version is not None and version != row.version:
            raise VersionConflictError(
                [
                    InputIssue(
                        "workspace",
                        "version",
                        f"changed since this form was shown (now version {row.version}, by "
                        f"{row.updated_by}); reload and try again",
                        version,
                    )
                ]
            )
        content = portfolio.model_dump(mode="json")
        edit(content)
        changed = build_portfolio(content)  # InvalidInputError naming record, field and value.
        saved = self.store.save_workspace(
            principal.team, content, row.version, principal.name, request
        )
        self._keep(saved[0], changed, content, principal, row.run_ids)
        return saved

    def _keep(
        self,
        version: int,
        plan: Portfolio,
        content: dict[str, Any],
        principal: Principal,
        run_ids: tuple[int, ...],
    ) -> None:
        """Keep the plan just saved as `version` (of the principal's team), so that the next
        view or weekly run does not read and validate it again (at L: a second or more)."""
        row = WorkspaceRow(version, content, principal.name, _now(), run_ids, principal.team)
        self._remember(principal.team, version, plan, row)

    def set_fields(
        self, kind: str, record_id: str, fields: dict[str, Any], principal: Principal, version: int
    ) -> int:
        """Change some fields of one engineer or opportunity."""
        if kind not in ("engineers", "opportunities"):
            raise NotFoundError(f"no kind of record {kind!r}")

        def edit(content: dict[str, Any]) -> None:
            for record in content[kind]:
                if record["id"] == record_id:
                    record.update(fields)
                    return
            raise NotFoundError(f"no {kind[:-1]} {record_id!r} in the workspace")

        return self.change(edit, principal, version)

    def direct(
        self,
        kind: str,
        engineer_id: str,
        opportunity_id: str,
        principal: Principal,
        reason: str = "",
    ) -> int:
        """Add a pin or a forbid (`kind`: pins | forbids) of an engineer on an opportunity,
        replacing any directive of the other kind on the same pair."""
        if kind not in ("pins", "forbids"):
            raise NotFoundError(f"no kind of directive {kind!r}")
        other = "forbids" if kind == "pins" else "pins"
        portfolio = self._current(principal.team)[0]
        issues = []
        if engineer_id not in portfolio.engineer_by_id():
            issues.append(InputIssue("directive", "engineer_id", "no such engineer", engineer_id))
        if opportunity_id not in portfolio.opportunity_by_id():
            issues.append(
                InputIssue("directive", "opportunity_id", "no such opportunity", opportunity_id)
            )
        if issues:
            raise InvalidInputError(issues)

        def edit(content: dict[str, Any]) -> None:
            def same(d: dict[str, Any]) -> bool:
                return bool(
                    d["engineer_id"] == engineer_id and d["opportunity_id"] == opportunity_id
                )

            content[other] = [d for d in content.get(other, []) if not same(d)]
            content[kind] = [d for d in content.get(kind, []) if not same(d)]
            content[kind].append(
                {
                    "engineer_id": engineer_id,
                    "opportunity_id": opportunity_id,
                    "demand_id": "",
                    "set_by": principal.name,
                    "reason": reason,
                }
            )

        return self.change(edit, principal)

    def undirect(self, kind: str, index: int, principal: Principal) -> int:
        """Remove the `index`-th pin or forbid."""

        def edit(content: dict[str, Any]) -> None:
            items = content.get(kind, [])
            if kind not in ("pins", "forbids") or not 0 <= index < len(items):
                raise NotFoundError(f"no {kind[:-1] if kind else 'directive'} number {index}")
            del items[index]

        return self.change(edit, principal)

    # -----------------------------------------------------------------------------------------
    # Requests

    def file_request(self, form: dict[str, Any], principal: Principal) -> PlanRequest:
        """Validate the request form and add its opportunity (when new) and demands to the
        plan. InvalidInputError names each bad field by the form's names (`roles.0.hours`)."""
        return self._file(form, principal, None)

    def edit_request(
        self, request_id: int, form: dict[str, Any], principal: Principal
    ) -> PlanRequest:
        """A requester changes their own request: its roles and notes (and the opportunity's
        fields when the request made it); the plan's roles of the request are replaced."""
        before = self._own(request_id, principal)
        return self._file(
            {
                **form,
                "opportunity_id": before.content["opportunity_id"]
                if not before.content.get("new")
                else "",
            },
            principal,
            before,
        )

    def withdraw_request(self, request_id: int, principal: Principal) -> PlanRequest:
        """Take the request's roles (and the opportunity it made) out of the plan."""
        before = self._own(request_id, principal)
        gone = set(before.content.get("demand_ids", []))
        content = {**before.content, "withdrawn": True}
        request = replace(before, content=content)

        def edit(document: dict[str, Any]) -> None:
            document["demands"] = [d for d in document["demands"] if d.get("id") not in gone]
            if before.content.get("new"):
                document["opportunities"] = [
                    o for o in document["opportunities"] if o["id"] != before.opportunity_id
                ]

        self._change(edit, principal, None, Permission.REQUEST, request)
        return self.store.get_plan_request(request_id)

    def _own(self, request_id: int, principal: Principal) -> PlanRequest:
        """The principal's own request to change: another team's is PermissionDeniedError
        (acting on it), another requester's of the team NotFoundError."""
        principal.require(Permission.REQUEST)
        if not principal.sees(self.store.get_plan_request(request_id).team):
            raise PermissionDeniedError(
                f"key {principal.name!r} may not change request {request_id}: it belongs to "
                "another team"
            )
        found = self.request(request_id, principal)
        if found.requester != principal.name:
            raise NotFoundError(f"no request {request_id} of yours")
        if found.content.get("withdrawn"):
            raise InvalidInputError(
                [InputIssue("request", "", "was withdrawn; file a new one", request_id)]
            )
        return found

    def _file(
        self, form: dict[str, Any], principal: Principal, before: PlanRequest | None
    ) -> PlanRequest:
        principal.require(Permission.REQUEST)
        try:
            asked = RequestIn.model_validate(form)
        except ValidationError as error:
            raise InvalidInputError(problems(error, _form_place)) from None
        portfolio, _ = self._current(principal.team)
        issues = self._request_issues(asked, portfolio)
        if issues:
            raise InvalidInputError(issues)
        token = secrets.token_hex(3).upper()
        if before is not None:
            opportunity_id = before.opportunity_id
        else:
            opportunity_id = asked.opportunity_id or f"REQ-{token}"
        made = before.content.get("new", False) if before is not None else not asked.opportunity_id
        demands = [
            {
                "id": f"{opportunity_id}/{role.skill}-{token}-{number}",
                "opportunity_id": opportunity_id,
                "skill": role.skill,
                "min_proficiency": role.min_proficiency,
                "hours": role.hours,
                "start_week": role.start_week,
                "end_week": role.end_week,
                "required": True,
            }
            for number, role in enumerate(asked.roles, start=1)
        ]
        content = {
            **asked.model_dump(mode="json"),
            "opportunity_id": opportunity_id,
            "new": made,
            "demand_ids": [d["id"] for d in demands],
        }
        if before is None:
            request = PlanRequest(
                id=0,
                requester=principal.name,
                opportunity_id=opportunity_id,
                content=content,
                submitted_at=_now(),
            )
        else:
            request = replace(before, content={**content, "edited_at": _now().isoformat()})
        gone = set() if before is None else set(before.content.get("demand_ids", []))

        def edit(document: dict[str, Any]) -> None:
            document["demands"] = [d for d in document["demands"] if d.get("id") not in gone]
            if made:
                record = {
                    "id": opportunity_id,
                    "customer": asked.customer,
                    "tier": asked.tier,
                    "industry": asked.industry,
                    "region": asked.region,
                    "value": asked.value,
                    "win_probability": asked.win_probability,
                    "requester": principal.name,
                    "requested_at": request.submitted_at.isoformat(),
                }
                others = [o for o in document["opportunities"] if o["id"] != opportunity_id]
                document["opportunities"] = [*others, record]
            document["demands"].extend(demands)

        _, number = self._change(edit, principal, None, Permission.REQUEST, request)
        assert number is not None
        return self.store.get_plan_request(number)

    @staticmethod
    def _request_issues(asked: RequestIn, portfolio: Portfolio) -> list[InputIssue]:
        issues = []
        if asked.opportunity_id:
            if asked.opportunity_id not in portfolio.opportunity_by_id():
                issues.append(
                    InputIssue(
                        "request",
                        "opportunity_id",
                        "is not in the pipeline (leave it empty for a new opportunity)",
                        asked.opportunity_id,
                    )
                )
        else:
            for name in ("customer", "industry", "region"):
                if not getattr(asked, name).strip():
                    issues.append(
                        InputIssue("request", name, "is needed for a new opportunity", "")
                    )
            if asked.value <= 0:
                issues.append(
                    InputIssue("request", "value", "must be above 0 for a new one", asked.value)
                )
        skills = {s.id for s in portfolio.skills}
        for number, role in enumerate(asked.roles):
            if role.skill not in skills:
                issues.append(
                    InputIssue(
                        "request", f"roles.{number}.skill", "is not a known skill", role.skill
                    )
                )
            if role.end_week < role.start_week:
                issues.append(
                    InputIssue(
                        "request",
                        f"roles.{number}.end_week",
                        f"must not be before the start week {role.start_week}",
                        role.end_week,
                    )
                )
            if role.end_week > portfolio.horizon_weeks:
                issues.append(
                    InputIssue(
                        "request",
                        f"roles.{number}.end_week",
                        f"is after the plan's last week {portfolio.horizon_weeks}",
                        role.end_week,
                    )
                )
        return issues

    def requests(
        self, principal: Principal, limit: int = 50, offset: int = 0, team: str | None = None
    ) -> tuple[list[PlanRequest], int]:
        """A requester's own requests; every request of the team for planners and viewers;
        an auditor's: every team's, or the chosen `team`'s."""
        mine = principal.name if principal.role is Role.REQUESTER else None
        every = principal.sees_all and team is None
        scope = None if every else self.team_of(principal, team)
        return self.store.list_plan_requests(scope, mine, limit, offset)

    def request(self, request_id: int, principal: Principal) -> PlanRequest:
        """The request, if `principal` may see it (NotFoundError for another team's, and for
        another requester's)."""
        found = self.store.get_plan_request(request_id)
        if not principal.sees(found.team):
            raise NotFoundError(f"no request {request_id}")
        if principal.role is Role.REQUESTER and found.requester != principal.name:
            raise NotFoundError(f"no request {request_id} of yours")
        return found

    def life(self, request: PlanRequest) -> RequestLife:
        """Where the request stands, read off the last run that took it in."""
        if request.content.get("withdrawn"):
            return RequestLife(request, "withdrawn", "Withdrawn: its roles left the plan.")
        if request.run_id is None:
            return RequestLife(request, "submitted", "Submitted; waiting for this week's run.")
        run = self.runs.get_run(request.run_id)
        if not run.status.ended:
            return RequestLife(
                request, "in_run", f"In this week's run (run {run.id}, {run.status.value}).", run
            )
        if run.status is not JobStatus.DONE:
            return RequestLife(
                request,
                "failed",
                f"Run {run.id} ended {run.status.value} without a result; it waits for the next.",
                run,
            )
        explained = self._look_ups(run.id)
        demand_ids = list(request.content.get("demand_ids", []))
        roles = []
        for demand_id in demand_ids:
            demand = explained.demands.get(demand_id)
            served = explained.by_demand.get(demand_id)
            weeks = tuple(demand.weeks(explained.portfolio.horizon_weeks)) if demand else ()
            roles.append(
                Staffing(
                    demand_id,
                    demand.skill if demand else "",
                    served.engineer_id if served else None,
                    weeks,
                )
            )
        if roles and all(role.engineer_id for role in roles):
            names = ", ".join(f"{r.engineer_id} ({r.skill})" for r in roles)
            return RequestLife(request, "staffed", f"Staffed in run {run.id}: {names}.", run, roles)
        from allocator.explain.explanations import explain_opportunity

        explanation = explain_opportunity(explained, request.opportunity_id, with_price=False)
        return RequestLife(
            request,
            "not_staffed",
            f"Not staffed in run {run.id}. {explanation.summary}",
            run,
            roles,
            explanation.reasons,
        )

    # -----------------------------------------------------------------------------------------
    # Weekly runs

    def run_week(
        self,
        principal: Principal,
        time_limit: float | None = None,
        seed: int = 0,
        feed: Feeder | None = None,
    ) -> RunState:
        """Snapshot the plan into a stored portfolio and submit its run, continuing from the
        workspace's last run that ended with a result; with `feed`, the recorded actuals taken
        in first (`RunRequest.feed`)."""
        principal.require(Permission.WRITE)
        team = principal.team
        portfolio, row = self._current(team)
        entry = self.runs.add_portfolio(portfolio, principal)
        previous = self.last_done_run(principal)
        run = self.runs.submit(
            RunRequest(
                portfolio_id=entry.id,
                previous_run_id=None if previous is None else previous.id,
                time_limit=time_limit,
                seed=seed,
                validated=portfolio,  # Validated and sized when stored just now.
                feed=feed,
            ),
            principal,
        )
        version, _ = self.store.save_workspace(
            team, row.content, row.version, principal.name, run_id=run.id
        )
        # The plan is the same, with one more run: kept, not read and validated again.
        kept = replace(row, version=version, run_ids=(*row.run_ids, run.id))
        self._remember(team, version, portfolio, kept)
        self.store.link_plan_requests(team, [o.id for o in portfolio.opportunities], run.id)
        return run

    def run_ids(self, principal: Principal, team: str | None = None) -> tuple[int, ...]:
        """The runs the team's workspace submitted, newest first."""
        chosen = self.team_of(principal, team)
        with self._lock:
            known = chosen in self._cached
        row = self._current(chosen)[1] if known else self.store.get_workspace(chosen)
        return tuple(reversed(row.run_ids)) if row else ()

    def weekly_runs(self, principal: Principal, team: str | None = None) -> list[RunState]:
        return [self.runs.get_run(number) for number in self.run_ids(principal, team)]

    def last_done_run(self, principal: Principal, team: str | None = None) -> RunState | None:
        for number in self.run_ids(principal, team):
            run = self.runs.get_run(number)
            if run.status is JobStatus.DONE:
                return run
        return None

    def visible(self, run_id: int, principal: Principal, acting: bool = False) -> None:
        """NotFoundError when `principal` may not see run `run_id` (another team's, or none),
        PermissionDeniedError when `acting` on another team's (as the API answers)."""
        self.runs.jobs.scoped(JobKind.RUN, run_id, principal, acting)

    def snapshot(self, run_id: int, principal: Principal) -> tuple[Portfolio, Allocation]:
        """A finished run's portfolio and allocation (of a run `principal` may see), read
        typed once and kept for a few runs (a run's records never change); ConflictError
        while it has no result."""
        self.visible(run_id, principal)
        return self._snapshot(run_id)

    def _snapshot(self, run_id: int) -> tuple[Portfolio, Allocation]:
        with self._lock:
            if run_id in self._snapshots:
                self._snapshots.move_to_end(run_id)
                return self._snapshots[run_id]
        _, allocation = self.runs.result(run_id)
        found = (self.runs.accepted(run_id).portfolio, allocation)
        with self._lock:
            self._snapshots[run_id] = found
            while len(self._snapshots) > 4:
                self._snapshots.popitem(last=False)
        return found

    def compared(self, run_id: int, principal: Principal) -> list[tuple[str, Summary]] | None:
        """The run's headline figures next to the status quo (seniority first, first come
        first served) and the greedy (value density) on the same snapshot, as the worker that
        solved the run recorded them; None when they were not worked out for this run.
        Nothing is solved here."""
        self.visible(run_id, principal)
        found = self.runs.comparison(run_id)
        return None if found is None else found.rows()

    def fairness(self, run_id: int, principal: Principal) -> Fairness | None:
        """Coverage by requester seniority quartile, region, industry and tier, next to the
        seniority-first status quo the worker recorded with the run (kept per run); None when
        the run has no recorded status quo (ask an explanation job then: nothing is solved
        here)."""
        from allocator.explain.explanations import Coverage, fairness

        self.visible(run_id, principal)
        with self._lock:
            if run_id in self._fairness:
                return self._fairness[run_id]
        recorded = self.runs.comparison(run_id)
        status_quo = None if recorded is None else recorded.staffed_by(STATUS_QUO)
        if status_quo is None:
            return None
        with self._lock:
            explained = self._explained.get(run_id)
        # The shares need no compiled problem: read off the snapshot unless built already.
        run = explained or Coverage.of(*self._snapshot(run_id))
        found = fairness(run, verify=False, status_quo=status_quo)
        with self._lock:
            self._fairness[run_id] = found
            while len(self._fairness) > 4:
                self._fairness.popitem(last=False)
        return found

    def explained(self, run_id: int, principal: Principal) -> Run:
        """The explanations' look-ups of a finished run `principal` may see (the portfolio
        compiled; no solver), built once, by one caller while the others wait for it, and
        kept for a few runs."""
        self.visible(run_id, principal)
        return self._look_ups(run_id)

    def _look_ups(self, run_id: int) -> Run:
        with self._lock:
            if run_id in self._explained:
                self._explained.move_to_end(run_id)
                return self._explained[run_id]
            building = self._building.setdefault(run_id, threading.Lock())
        with building:
            with self._lock:
                if run_id in self._explained:
                    return self._explained[run_id]
            from allocator.explain.explanations import Run

            try:
                run = Run.of(*self._snapshot(run_id))
            finally:
                with self._lock:
                    self._building.pop(run_id, None)
            with self._lock:
                self._explained[run_id] = run
                while len(self._explained) > 4:
                    self._explained.popitem(last=False)
        return run

    def warm(self, run_id: int) -> None:
        """Build the run's look-ups in the background (the board calls it once it has shown
        the run, so that the first explanation drawer opened on it finds them ready)."""
        with self._lock:
            if run_id in self._explained or run_id in self._building:
                return
        threading.Thread(target=self._warm, args=(run_id,), daemon=True).start()

    def _warm(self, run_id: int) -> None:
        try:
            self._look_ups(run_id)
        except Exception:  # A view asking later reports it; nothing waits on this thread.
            log.exception("the look-ups of run %s could not be built", run_id)


__all__ = [
    "PlanRequest",
    "RequestIn",
    "RequestLife",
    "RoleIn",
    "Staffing",
    "VersionConflictError",
    "WorkspaceRow",
    "WorkspaceService",
    "WorkspaceStore",
]
