"""Insight in the app (issue 15): the investment, calibration and contribution reports with
their plots, and the actuals page (hours per engineer, opportunity and ISO week; an
opportunity's outcome; upload of an actuals or outcomes file with the table of its problems).

Role rules as the API's (`routes/actuals.py`, `routes/reports.py`): reading a report needs
READ, storing actuals or outcomes WRITE. The reports are worked out off the request by
`service.reporting.ReportDesk` (about a second at L): a page shows the kept report at once, or
says it is being computed and polls its fragment (a Reload link without JavaScript). Every
figure carries its sample size, each report its period; a figure without data reads
"missing", never 0.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, cast
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile

from allocator.errors import AllocatorError, InputIssue, InvalidInputError, NotFoundError
from allocator.insight.contribution import ContributionReport
from allocator.insight.records import OutcomeKind, iso_week
from allocator.io.formats import ExcelLimits
from allocator.service.insight import InsightService, rows_from_file
from allocator.service.keys import Permission
from allocator.service.reporting import (
    CALIBRATION_BY,
    INVESTMENT_BY,
    Failed,
    ReadyReport,
    ReportDesk,
)
from allocator.store.insight import InsightRepository
from allocator.store.repository import Store
from allocator.web.pages.kit import (
    PageOf,
    Session,
    SignedIn,
    field_problems,
    posted,
    render,
    service_of,
    workspace_of,
)

router = APIRouter(include_in_schema=False)

GROUPINGS = {"investment": INVESTMENT_BY, "calibration": CALIBRATION_BY, "contribution": ("all",)}
PLOTTED = ("investment", "calibration", "contribution")
ACTUAL_FIELDS = ("engineer_id", "opportunity_id", "week", "hours")
OUTCOME_FIELDS = ("opportunity_id", "outcome", "value", "date")


def insight_of(request: Request) -> InsightService:
    found = getattr(request.app.state, "insight", None)
    if found is None:
        service = service_of(request)
        found = InsightService(service, InsightRepository(cast(Store, service.store)))
        request.app.state.insight = found
    return cast(InsightService, found)


def desk_of(request: Request) -> ReportDesk:
    found = getattr(request.app.state, "report_desk", None)
    if found is None:
        found = ReportDesk(insight_of(request), workspace_of(request))
        request.app.state.report_desk = found
    return cast(ReportDesk, found)


# ---------------------------------------------------------------------------------------------
# Reports


@router.get("/app/reports")
def reports_start(session: SignedIn) -> Response:
    session.require(Permission.READ)
    return Response(status_code=303, headers={"Location": "/app/reports/investment"})


class UnknownReport(NotFoundError):
    """No report of that name (a 404 page naming the reports there are)."""


def _by(kind: str, by: str | None) -> str:
    """The grouping asked, or the report's first when it has no such grouping."""
    if kind not in GROUPINGS:
        raise UnknownReport(f"no report {kind[:40]!r}; there are {', '.join(GROUPINGS)}")
    choices = GROUPINGS[kind]
    return by if by in choices else choices[0]


async def _ready(
    request: Request, session: Session, kind: str, by: str
) -> ReadyReport | Failed | None:
    try:
        return await run_in_threadpool(
            desk_of(request).ready, kind, by, session.principal, session.team
        )
    except NotFoundError as error:  # An empty workspace: nothing to report on.
        return Failed(str(error))


def _context(
    kind: str, by: str, found: ReadyReport | Failed | None, engineer: str, q: str, page: int
) -> dict[str, Any]:
    context: dict[str, Any] = {
        "kind": kind,
        "by": by,
        "choices": GROUPINGS[kind],
        "found": found,
        "failed": found.message if isinstance(found, Failed) else None,
        "q": q,
        "engineer": engineer,
        "query": urlencode({"by": by, "engineer": engineer, "q": q, "page": page}),
    }
    if isinstance(found, ReadyReport) and kind == "contribution":
        report = cast(ContributionReport, found.report)
        needle = q.strip().lower()
        shown = [
            c
            for c in report.engineers
            if not needle or needle in c.engineer_id.lower() or needle in c.name.lower()
        ]
        context["listing"] = PageOf.of(shown, page)
        context["listing_query"] = urlencode({"q": q})
        context["chosen"] = next((c for c in report.engineers if c.engineer_id == engineer), None)
    return context


@router.get("/app/reports/{kind}.png")
async def report_plot(
    request: Request,
    session: SignedIn,
    kind: str,
    by: Annotated[str | None, Query(max_length=40)] = None,
) -> Response:
    """The report's plot as the server drew it with the report (409 while it is computed).
    Declared before the report's page, whose path would take `calibration.png` as a kind."""
    session.require(Permission.READ)
    if kind not in PLOTTED:
        return Response(f"no plot {kind[:40]!r}; there are {', '.join(PLOTTED)}", 404)
    found = await _ready(request, session, kind, _by(kind, by))
    if isinstance(found, ReadyReport):
        return Response(found.png, media_type="image/png")
    message = found.message if isinstance(found, Failed) else "being computed; try again shortly"
    return Response(f"no plot: {message}", status_code=409, media_type="text/plain")


Query200 = Annotated[str, Query(max_length=200)]
Page = Annotated[int, Query(ge=1, le=100_000)]
By = Annotated[str | None, Query(max_length=40)]


@router.get("/app/reports/{kind}")
@router.get("/app/reports/{kind}/part")
async def report_page(
    request: Request,
    session: SignedIn,
    kind: str,
    by: By = None,
    engineer: Query200 = "",
    q: Query200 = "",
    page: Page = 1,
) -> HTMLResponse:
    """The report's page, or (`/part`) the report alone, which htmx polls while it is
    computed: the report when ready, else a note saying so."""
    template = "report_part.html" if request.url.path.endswith("/part") else "report.html"
    return await _report(request, session, kind, by, engineer, q, page, template)


async def _report(
    request: Request,
    session: Session,
    kind: str,
    by: str | None,
    engineer: str,
    q: str,
    page: int,
    template: str,
) -> HTMLResponse:
    session.require(Permission.READ)
    try:
        by = _by(kind, by)
    except UnknownReport as error:
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    found = await _ready(request, session, kind, by)
    return render(request, template, session, **_context(kind, by, found, engineer, q, page))


# ---------------------------------------------------------------------------------------------
# Actuals and outcomes


def _actuals_page(
    request: Request, session: Session, status: int = 200, **context: Any
) -> HTMLResponse:
    version = insight_of(request).version()
    defaults: dict[str, Any] = {
        "actual": {"week": iso_week(date.today())},
        "outcome": {"o-date": date.today().isoformat(), "o-outcome": "won"},
        "actual_problems": {},
        "outcome_problems": {},
        "issues": [],
        "stored": None,
    }
    return render(
        request,
        "actuals.html",
        session,
        status,
        imports={"actuals": version[0], "outcomes": version[1]},
        outcome_kinds=[kind.value for kind in OutcomeKind],
        **{**defaults, **context},
    )


@router.get("/app/actuals")
def actuals_page(request: Request, session: SignedIn) -> HTMLResponse:
    session.require(Permission.READ)
    return _actuals_page(request, session)


def _values(form: FormData, names: tuple[str, ...]) -> dict[str, str]:
    return {name: str(form.get(name, "")).strip()[:200] for name in names}


@router.post("/app/actuals")
async def enter_actual(request: Request, session: SignedIn) -> Response:
    """One engineer's hours on one opportunity in one ISO week, checked against the plan."""
    session.require(Permission.WRITE)
    values = _values(await posted(request, session), ACTUAL_FIELDS)
    return await _store_one(request, session, "actuals", values)


@router.post("/app/outcomes")
async def enter_outcome(request: Request, session: SignedIn) -> Response:
    """One opportunity's outcome (won with the value won, lost, no decision, open) and date."""
    session.require(Permission.WRITE)
    form = await posted(request, session)
    values = {name: str(form.get(f"o-{name}", "")).strip()[:200] for name in OUTCOME_FIELDS}
    return await _store_one(request, session, "outcomes", values)


async def _store_one(
    request: Request, session: Session, kind: str, values: dict[str, str]
) -> Response:
    insight = insight_of(request)
    single = kind[:-1]  # actual, outcome
    prefix = "o-" if kind == "outcomes" else ""  # The outcome form's fields: o-opportunity_id.
    shown = {f"{prefix}{name}": value for name, value in values.items()}
    if not any(values.values()):
        first = f"{prefix}{next(iter(values))}"
        problems = {first: "must not be empty"}
        return _actuals_page(
            request, session, 422, **{single: shown, f"{single}_problems": problems}
        )
    try:
        plan = await run_in_threadpool(workspace_of(request).plan, session.principal, session.team)
        store = insight.import_actuals if kind == "actuals" else insight.import_outcomes
        entry = await run_in_threadpool(store, "form", [values], session.principal, plan, True)
    except InvalidInputError as error:
        problems = {f"{prefix}{k}": v for k, v in field_problems(error).items()}
        return _actuals_page(
            request, session, 422, **{single: shown, f"{single}_problems": problems}
        )
    except AllocatorError as error:  # No plan yet to check the names against.
        problems = {f"{prefix}opportunity_id": str(error)}
        return _actuals_page(
            request, session, 409, **{single: shown, f"{single}_problems": problems}
        )
    return _actuals_page(request, session, stored=entry)


@router.post("/app/actuals/upload")
async def upload(request: Request, session: SignedIn) -> Response:
    """An actuals or outcomes file (CSV or .xlsx, the API's columns); a bad row refuses the
    whole file, with the table of its problems (file, row, column, value)."""
    session.require(Permission.WRITE)
    form = await posted(request, session)
    kind = str(form.get("kind", ""))
    file = form.get("file")
    issues: list[InputIssue] = []
    if kind not in ("actuals", "outcomes"):
        issues = [InputIssue("form", "kind", "must be actuals or outcomes", kind)]
    elif not isinstance(file, UploadFile) or not file.filename:
        issues = [InputIssue("form", "file", "choose a .csv or .xlsx file")]
    else:
        name = file.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if not name.lower().endswith((".csv", ".xlsx")):
            issues = [InputIssue(name[:100], "file", "must be a .csv or .xlsx file")]
        else:
            data = await file.read()
            settings = service_of(request).settings
            limits = ExcelLimits(settings.max_xlsx_cells, settings.max_xlsx_bytes)
            insight = insight_of(request)
            store = insight.import_actuals if kind == "actuals" else insight.import_outcomes
            try:
                rows = await run_in_threadpool(rows_from_file, name, data, limits)
                entry = await run_in_threadpool(store, name, rows, session.principal)
            except InvalidInputError as error:
                issues = list(error.issues[:200])
            else:
                return _actuals_page(request, session, stored=entry)
    return _actuals_page(request, session, 422, issues=issues, kind=kind)
