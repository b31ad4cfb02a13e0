"""The planning web app: server-rendered pages (Jinja2, htmx for partial updates) in the API's
FastAPI app, over the same services as the API (runs, explanations, the workspace).

    home      sign in / out, the start page, the local API documentation
    requests  the request form (role requester) and each request's life
    plan      pipeline and team: lists with filters, sorting and paging, edits, import
    timeoff   an engineer's time off, as ranges of weeks, added and removed
    runs      the weekly run: submit, live progress, cancel, summary
    board     engineers x weeks by utilization, unstaffed demand, the explanation drawer
    contrast  the drawer's contrast of an opportunity with another
    fairness  coverage by requester seniority, region, industry and tier vs the status quo
    whatif    scenarios built in a form, solved by the workers, compared with plots
    hiring    hiring recommendations and the ratio sweep, queued as scenario sets
    insight   the investment, calibration and contribution reports; actuals and outcomes
    audit     the chain's verification, every run's inputs and result, a diff of two runs

`mount(app, store)` adds them, the static files (one CSS file; htmx, Swagger UI and ReDoc
vendored from npm) and the page errors (sign-in redirect, 403 page).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from allocator.core.recent import Recent
from allocator.service.runs import RunService
from allocator.service.workspace import WorkspaceService, WorkspaceStore
from allocator.web.pages import (
    audit,
    board,
    contrast,
    fairness,
    hiring,
    home,
    insight,
    plan,
    requests,
    runs,
    timeoff,
    whatif,
)
from allocator.web.pages.curve import progress_curve
from allocator.web.pages.kit import (
    WEB,
    PageForbidden,
    SignInNeeded,
    render,
    templates,
    to_sign_in,
)


def mount(app: FastAPI, store: WorkspaceStore) -> None:
    """Add the pages, static files and page error handlers to the API's app."""
    service: RunService = app.state.service
    app.state.workspace = WorkspaceService(store, service)
    app.state.contrasts = Recent(contrast.KEEP)  # By (run, a, b): `contrast.contrast_page`.
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    templates.env.globals["progress_curve"] = progress_curve  # run_progress.html draws it.
    for module in (
        home,
        requests,
        plan,
        timeoff,
        runs,
        board,
        contrast,
        fairness,
        whatif,
        hiring,
        insight,
        audit,
    ):
        app.include_router(module.router)
    app.add_exception_handler(SignInNeeded, _sign_in)
    app.add_exception_handler(PageForbidden, _forbidden)


async def _sign_in(request: Request, error: Exception) -> Response:
    assert isinstance(error, SignInNeeded)
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": "/app/signin"})
    return to_sign_in(error.back)


PAGE_TITLES = {403: "Not allowed", 404: "Not found", 409: "Not possible now", 429: "Busy"}


def error_page(request: Request, status: int, message: str) -> Response | None:
    """A service error raised under a page (`/app/...`) as the app's error page with its
    status (an empty workspace, another team's thing); None for the API's paths, which answer
    JSON."""
    if not request.url.path.startswith("/app/") and request.url.path != "/app":
        return None
    title = PAGE_TITLES.get(status, "Not done")
    return render(request, "error.html", None, status=status, title=title, message=message)


async def _forbidden(request: Request, error: Exception) -> Response:
    return render(request, "error.html", None, status=403, title="Not allowed", message=str(error))
