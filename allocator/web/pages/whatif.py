"""What-if: scenarios built in a form (hire, leave, capacity change, policy change, pipeline
change), run as a scenario set on the last weekly run (the same service as POST
/v1/scenarios: solved by the workers, warm-started from the run), followed live, and compared
side by side: the table of figures and the server's plots."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from allocator.errors import AllocatorError, InvalidInputError, NotFoundError
from allocator.service.jobs import JobKind
from allocator.service.keys import Permission
from allocator.service.scenario_sets import ScenarioRequest, ScenarioService
from allocator.web.pages.kit import (
    SignedIn,
    posted,
    redirect,
    render,
    workspace_of,
)

router = APIRouter(include_in_schema=False)

SetId = Annotated[int, Path(ge=1, le=2**53)]
ROWS = 3
KINDS = {
    "": "(none)",
    "add_engineers": "Hire engineers",
    "remove_engineers": "Engineers leave",
    "change_capacity": "Change capacity (percent)",
    "change_policy": "Change a policy weight",
    "change_pipeline": "Grow or shrink the pipeline (percent)",
}
FIELDS = ("name", "kind", "skill", "level", "region", "count", "percent", "ids", "field", "value")


def scenarios_of(form: dict[str, str]) -> list[dict[str, Any]]:
    """The scenario rows of the form as the what-if edits' JSON (checked by the service,
    which names `$.scenarios[i].edits[0].<field>`)."""
    found = []
    for row in range(ROWS):
        given = {name: form.get(f"s{row}.{name}", "").strip() for name in FIELDS}
        kind = given["kind"]
        if not kind:
            continue
        edit: dict[str, Any] = {"kind": kind}
        if kind == "add_engineers":
            edit["profile"] = {
                "skills": {given["skill"]: given["level"] or "3"} if given["skill"] else {},
                "region": given["region"],
            }
            edit["count"] = given["count"] or "1"
        elif kind == "remove_engineers":
            edit["ids"] = [i.strip() for i in given["ids"].split(",") if i.strip()]
        elif kind == "change_capacity":
            edit["select"] = {"region": given["region"] or None, "skill": given["skill"] or None}
            edit["percent"] = given["percent"] or None
        elif kind == "change_policy":
            edit["changes"] = {given["field"]: given["value"]} if given["field"] else {}
        elif kind == "change_pipeline":
            edit["percent"] = given["percent"] or "0"
            edit["region"] = given["region"] or None
        found.append({"name": given["name"] or f"scenario {row + 1}", "edits": [edit]})
    return found


def _form_problems(
    error: InvalidInputError, rows: list[int], names_sent: list[str]
) -> dict[str, str]:
    """`$.scenarios[1].edits[0]`, field `count` (or `scenario 'name' edit 1`, field `ids`) ->
    the form's field `s1.count` of that row; `rows`: the form row of each scenario sent."""
    names = {"profile": "skill", "skills": "skill", "ids": "ids", "changes": "field"}
    found: dict[str, str] = {}
    for issue in error.issues:
        place = f"{issue.where}.{issue.field}" if issue.field else issue.where
        index = place.partition("scenarios[")[2].partition("]")[0]
        edit = place.partition(".edits[")[2].partition("]")[2].lstrip(".")
        if place.startswith("scenario '"):  # The edits checked against the base.
            named = place.partition("'")[2].rpartition("'")[0]
            index = str(next((i for i, n in enumerate(names_sent) if n == named), ""))
            edit = issue.field
        name = place
        if index.isdigit() and int(index) < len(rows):
            head = edit.replace("[", ".").split(".")[0] if edit else "kind"
            name = f"s{rows[int(index)]}.{names.get(head, head)}"
        shown = "" if issue.value in (None, "") else f" (got {issue.value!r})"
        text = issue.message + shown
        found[name] = f"{found[name]}; {text}" if name in found else text
    return found


def _service(request: Request) -> ScenarioService:
    found: ScenarioService = request.app.state.scenarios
    return found


@router.get("/app/whatif")
def whatif_form(request: Request, session: SignedIn) -> HTMLResponse:
    session.require(Permission.READ)
    return _page(request, session, {"time_limit": "5"}, {})


def _page(
    request: Request,
    session: SignedIn,
    values: dict[str, str],
    problems: dict[str, str],
    status: int = 200,
) -> HTMLResponse:
    workspace = workspace_of(request)
    plan = workspace.plan(session.principal, session.team)
    base = workspace.last_done_run(session.principal, session.team)
    sets, _ = _service(request).list(limit=20, offset=0, team=session.lists)
    return render(
        request,
        "whatif.html",
        session,
        status=status,
        base=base,
        sets=sets,
        rows=ROWS,
        kinds=KINDS,
        values=values,
        problems=problems,
        skills=sorted(s.id for s in plan.skills),
        regions=sorted({e.region for e in plan.engineers}),
    )


@router.post("/app/whatif")
async def run_scenarios(request: Request, session: SignedIn) -> Response:
    session.require(Permission.WRITE)
    form = {k: str(v) for k, v in (await posted(request, session)).items() if k != "csrf"}
    base = await run_in_threadpool(workspace_of(request).last_done_run, session.principal)
    problems: dict[str, str] = {}
    scenarios = scenarios_of(form)
    if base is None:
        problems["base"] = "no weekly run has finished yet: run the week first"
    if not scenarios:
        problems["s0.kind"] = "choose what the first scenario changes"
    try:
        seconds = float(form.get("time_limit", ""))
    except ValueError:
        problems["time_limit"] = f"must be a number of seconds (got {form.get('time_limit')!r})"
    if not problems and base is not None:
        asked = ScenarioRequest(base_run_id=base.id, scenarios=scenarios, time_limit=seconds)
        try:
            found = await run_in_threadpool(_service(request).submit, asked, session.principal)
            return redirect(f"/app/whatif/{found.id}")
        except InvalidInputError as error:
            rows = [r for r in range(ROWS) if form.get(f"s{r}.kind", "").strip()]
            problems = _form_problems(error, rows, [s["name"] for s in scenarios])
        except AllocatorError as error:
            problems = {"time_limit": str(error)}
    return _page(request, session, form, problems, 422)


@router.get("/app/whatif/{set_id}")
def scenario_set(
    request: Request,
    session: SignedIn,
    set_id: SetId,
    order: Annotated[str, Query(pattern="^(|value)$")] = "",
) -> HTMLResponse:
    """The set's state (htmx polls it while it is solved) and, once done, the comparison
    (`order=value`: the scenarios ranked by the value they add, as hiring shows them)."""
    session.require(Permission.READ)
    service = _service(request)
    try:
        service.jobs.scoped(JobKind.SCENARIO_SET, set_id, session.principal)
        state = service.get(set_id)
    except NotFoundError as error:
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    comparison = None
    if state.status.ended:
        try:
            comparison = service.comparison(set_id)[1]
        except AllocatorError:
            comparison = None
    template = "whatif_part.html" if request.headers.get("hx-request") else "whatif_set.html"
    return render(request, template, session, state=state, comparison=comparison, order=order)


@router.get("/app/whatif/{set_id}/{name}.png")
def plot(request: Request, session: SignedIn, set_id: SetId, name: str) -> Response:
    session.require(Permission.READ)
    try:
        _service(request).jobs.scoped(JobKind.SCENARIO_SET, set_id, session.principal)
        image = _service(request).plot(set_id, name)
    except AllocatorError as error:
        return render(request, "error.html", session, 404, title="No plot", message=str(error))
    return Response(image, media_type="image/png")
