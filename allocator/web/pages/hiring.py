"""What-if, continued: hiring recommendations and the ratio sweep, each built in a form and
queued as a scenario set on the last weekly run (the same service as POST /v1/scenarios:
solved by the workers, warm-started from the run, followed and compared on the set's page).

- Hiring: one scenario per candidate hire, one engineer of each (skill, region) in demand
  (`whatif.hiring.candidate_profiles`, optionally one region or skill), ranked on the set's
  page by the expected value each adds: the ranking of `allocator what-if hire` (its greedy
  K-hire plan, which re-solves round after round, stays with the CLI).
- Ratio sweep: a region's or an industry's presales headcount from one presales:sales ratio
  to another (`whatif.ratios`), the service's `ratio_sweep` set with its ratio plot.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from allocator.errors import AllocatorError, InvalidInputError
from allocator.model import Portfolio
from allocator.service.keys import Permission
from allocator.service.runs import RunState
from allocator.service.scenario_sets import MAX_SCENARIOS, ScenarioRequest, ScenarioService
from allocator.web.pages.kit import Session, SignedIn, posted, redirect, render, workspace_of
from allocator.whatif.hiring import candidate_profiles

router = APIRouter(include_in_schema=False)

HIRING_FIELDS = ("level", "capacity_hours", "region", "skill", "time_limit")
SWEEP_FIELDS = ("scope", "from", "to", "steps", "sales", "time_limit")
SWEEP_DEFAULTS = {"from": "1:6", "to": "1:2", "steps": "5", "time_limit": "5"}


def _service(request: Request) -> ScenarioService:
    found: ScenarioService = request.app.state.scenarios
    return found


def hire_scenarios(
    plan: Portfolio, level: int, capacity_hours: float, region: str = "", skill: str = ""
) -> list[dict[str, Any]]:
    """One `add_engineers` scenario per candidate profile in demand (of `region` and `skill`
    when given), named `+1 <skill> in <region>` as the CLI's ranking names them."""
    found = []
    for profile in candidate_profiles(plan, level, capacity_hours):
        main = profile.main_skill()
        if (region and profile.region != region) or (skill and main != skill):
            continue
        found.append(
            {
                "name": f"+1 {main} in {profile.region}",
                "edits": [
                    {
                        "kind": "add_engineers",
                        "profile": profile.model_dump(mode="json"),
                        "count": 1,
                    }
                ],
            }
        )
    return found


def _page(
    request: Request,
    session: Session,
    template: str,
    values: dict[str, str],
    problems: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    workspace = workspace_of(request)
    plan = workspace.plan(session.principal, session.team)
    base = workspace.last_done_run(session.principal, session.team)
    regions = sorted({e.region for e in plan.engineers} | {o.region for o in plan.opportunities})
    industries = sorted({o.industry for o in plan.opportunities})
    return render(
        request,
        template,
        session,
        status=status,
        base=base,
        values=values,
        problems=problems,
        skills=sorted(s.id for s in plan.skills),
        regions=regions,
        scopes=[f"region:{r}" for r in regions] + [f"industry:{i}" for i in industries],
        candidates=len(candidate_profiles(plan)),
        most=MAX_SCENARIOS,
    )


def _seconds(given: str, problems: dict[str, str]) -> float:
    try:
        seconds = float(given)
        if seconds > 0:
            return seconds
    except ValueError:
        pass
    problems["time_limit"] = f"must be a number of seconds above 0 (got {given!r})"
    return 0.0


def _number(name: str, given: str, low: float, high: float, problems: dict[str, str]) -> float:
    try:
        value = float(given)
        if low <= value <= high:
            return value
    except ValueError:
        pass
    problems[name] = f"must be a number from {low:g} to {high:g} (got {given!r})"
    return 0.0


async def _queue(
    request: Request,
    session: Session,
    asked: ScenarioRequest,
    problems: dict[str, str],
    fallback: str,
) -> Response | None:
    """Submit the set; its page (ranked by value added) on success, None with `problems`
    filled otherwise: a ratio sweep's field by its name, anything else on `fallback`."""
    try:
        found = await run_in_threadpool(_service(request).submit, asked, session.principal)
    except InvalidInputError as error:
        for issue in error.issues:
            place = f"{issue.where}.{issue.field}".rstrip(".")
            name = place.rpartition("ratio_sweep.")[2] if "ratio_sweep." in place else fallback
            name = {"region": "scope", "industry": "scope", "start": "from", "stop": "to"}.get(
                name, name
            )
            shown = "" if issue.value in (None, "") else f" (got {issue.value!r})"
            problems[name if name in SWEEP_FIELDS else fallback] = issue.message + shown
        return None
    except AllocatorError as error:
        problems["time_limit"] = str(error)
        return None
    return redirect(f"/app/whatif/{found.id}?order=value")


async def _values(request: Request, session: Session, fields: tuple[str, ...]) -> dict[str, str]:
    """A planner's form (its CSRF token checked), each field's text trimmed and bounded."""
    session.require(Permission.WRITE)
    form = await posted(request, session)
    return {name: str(form.get(name, "")).strip()[:100] for name in fields}


async def _base(request: Request, session: Session, problems: dict[str, str]) -> RunState | None:
    """The last weekly run that finished, on which the set is solved; a problem without one."""
    workspace = workspace_of(request)
    base = await run_in_threadpool(workspace.last_done_run, session.principal, session.team)
    if base is None:
        problems["base"] = "no weekly run has finished yet: run the week first"
    return base


@router.get("/app/hiring")
def hiring_form(request: Request, session: SignedIn) -> HTMLResponse:
    session.require(Permission.READ)
    values = {"level": "4", "capacity_hours": "40", "time_limit": "5"}
    return _page(request, session, "hiring.html", values, {})


@router.post("/app/hiring")
async def recommend(request: Request, session: SignedIn) -> Response:
    """Queue one scenario per candidate hire on the last weekly run."""
    values = await _values(request, session, HIRING_FIELDS)
    problems: dict[str, str] = {}
    level = _number("level", values["level"], 1, 5, problems)
    hours = _number("capacity_hours", values["capacity_hours"], 1, 168, problems)
    seconds = _seconds(values["time_limit"], problems)
    base = await _base(request, session, problems)
    if not problems and base is not None:
        workspace = workspace_of(request)
        plan = await run_in_threadpool(workspace.plan, session.principal, session.team)
        scenarios = hire_scenarios(plan, int(level), hours, values["region"], values["skill"])
        if not scenarios:
            problems["skill"] = "no role in demand has that skill in that region"
        elif len(scenarios) > MAX_SCENARIOS:
            problems["region"] = (
                f"{len(scenarios)} candidate hires, at most {MAX_SCENARIOS} in one set: "
                "choose a region or a skill"
            )
        else:
            asked = ScenarioRequest(base_run_id=base.id, scenarios=scenarios, time_limit=seconds)
            queued = await _queue(request, session, asked, problems, "skill")
            if queued is not None:
                return queued
    return _page(request, session, "hiring.html", values, problems, 422)


@router.get("/app/ratio-sweep")
def sweep_form(request: Request, session: SignedIn) -> HTMLResponse:
    session.require(Permission.READ)
    return _page(request, session, "sweep.html", dict(SWEEP_DEFAULTS), {})


@router.post("/app/ratio-sweep")
async def sweep(request: Request, session: SignedIn) -> Response:
    """Queue a ratio sweep of a region or an industry on the last weekly run."""
    values = await _values(request, session, SWEEP_FIELDS)
    problems: dict[str, str] = {}
    dimension, _, level = values["scope"].partition(":")
    if dimension not in ("region", "industry") or not level:
        problems["scope"] = f"choose a region or an industry (got {values['scope']!r})"
    steps = _number("steps", values["steps"], 2, 50, problems)
    sales = _number("sales", values["sales"], 1, 1_000_000, problems) if values["sales"] else None
    seconds = _seconds(values["time_limit"], problems)
    base = await _base(request, session, problems)
    if not problems and base is not None:
        spec: dict[str, Any] = {
            dimension: level,
            "from": values["from"],
            "to": values["to"],
            "steps": int(steps),
        }
        if sales is not None:
            spec["sales"] = int(sales)
        asked = ScenarioRequest(base_run_id=base.id, ratio_sweep=spec, time_limit=seconds)
        queued = await _queue(request, session, asked, problems, "scope")
        if queued is not None:
            return queued
    return _page(request, session, "sweep.html", values, problems, 422)
