"""The HTTP API: the FastAPI app, its routers, and the one place errors become status codes.

An edge. `create_app(settings)` opens the store (migrating it), builds the services (runs,
scenario sets, explanations: per-kind views over one job pipeline) and wires the routers under
/v1; its lifespan re-queues the jobs a dead server left and starts the worker processes.
Errors: the project's classes map to 401/403/404/409/413/415/422/429 with an `ErrorOut` body;
request validation becomes the same 422 shape with each problem's place. Bad input never
answers 500.

>>> app = create_app(Settings(database_url="sqlite:///var/demo.db"))  # doctest: +SKIP
>>> uvicorn.run(app, port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from allocator import __version__
from allocator.core.recent import Recent
from allocator.errors import (
    AllocatorError,
    InfeasibleError,
    InputIssue,
    InvalidInputError,
    NotFoundError,
    json_place,
    problems,
)
from allocator.service.admission import QuotaExceededError
from allocator.service.explanations import ExplanationService
from allocator.service.jobs import ConflictError, QueueFullError
from allocator.service.keys import AuthenticationError, PermissionDeniedError
from allocator.service.runs import RunService
from allocator.service.scenario_sets import ScenarioService
from allocator.service.seals import SealMismatchError
from allocator.service.settings import Settings
from allocator.store.repository import Store
from allocator.web import pages
from allocator.web.guards import StrictJSONBody, unexpected_error
from allocator.web.routes import (
    actuals,
    audit,
    explain,
    health,
    portfolios,
    reports,
    runs,
    scenarios,
)
from allocator.web.routes.models import ErrorOut, Problem
from allocator.web.uploads import UnsupportedMediaTypeError

DESCRIPTION = """\
Assigns presales engineers to sales opportunities with CP-SAT, and records every run so that
it can be trusted later.

1. `POST /v1/portfolios` a portfolio (JSON, or its CSV/XLSX files); keep its `id`.
2. `POST /v1/runs` with `portfolio_id`: answered at once (202) with the run's `id`.
3. Poll `GET /v1/runs/{id}` (status, progress, timings); then `GET /v1/runs/{id}/result`.
4. Auditors: `GET /v1/audit/verify` recomputes the hash chain over every stored record.

Every request but `/healthz` needs `Authorization: Bearer KEY` (keys from
`allocator keys create --role planner|viewer|auditor --name NAME`). Planners upload, submit,
cancel and read; viewers read; auditors read and verify.
"""

STATUS: list[tuple[type[AllocatorError], int]] = [
    (InvalidInputError, 422),
    (InfeasibleError, 422),
    (NotFoundError, 404),
    (ConflictError, 409),
    (SealMismatchError, 409),
    (QueueFullError, 429),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (UnsupportedMediaTypeError, 415),
    (QuotaExceededError, 413),
]
"""The project's error classes and their HTTP status, most specific first."""


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over the store named by `settings.database_url` (migrated on the way)."""
    settings = settings or Settings()
    store = Store(settings.database_url)
    store.migrate()
    service = RunService(store, settings, partial(Store, settings.database_url))
    what_if = ScenarioService(store, settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()  # Recovers the jobs of every kind; starts the one worker pool.
        try:
            yield
        finally:
            service.stop()
            store.close()

    app = FastAPI(
        title="Presales allocation service",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        dependencies=[Depends(_known_query)],
        docs_url=None,  # Served by the pages from local files (no CDN).
        redoc_url=None,
    )
    app.state.service = service
    app.state.scenarios = what_if
    app.state.explanations = ExplanationService(store, settings)
    app.state.explained_runs = Recent(explain.CACHED_RUNS)  # A finished run's look-ups.
    routers = (portfolios, runs, explain, scenarios, actuals, reports, audit, health)
    for module in routers:
        app.include_router(module.router)
    pages.mount(app, store)
    app.add_exception_handler(AllocatorError, _allocator_error)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, unexpected_error)  # 500 with a request id.
    # Outermost last: the body limit first, then the strict reading of JSON bodies.
    app.add_middleware(StrictJSONBody, max_depth=settings.max_json_depth, on_error=_allocator_error)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.openapi = partial(_openapi, app)  # type: ignore[method-assign]
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, with one correction: the domain's `requested_at` is a date-time that
    may come without a UTC offset (CSV exports usually have none), so it is served as given;
    the schema says so instead of claiming RFC 3339 `date-time`."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        opportunity = schema["components"]["schemas"]["Opportunity"]["properties"]
        opportunity["requested_at"]["anyOf"][0] = {
            "type": "string",
            "description": "ISO 8601 date and time, with or without a UTC offset.",
        }
        app.openapi_schema = schema
    return app.openapi_schema


async def _known_query(request: Request) -> None:
    """Refuse query parameters the route does not take: `?stauts=done` would otherwise list
    every run without a word."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        expected = ", ".join(sorted(known)) or "none"
        raise InvalidInputError(
            [
                InputIssue(f"query parameter {name}", "", f"is not known (expected: {expected})")
                for name in unknown
            ]
        )


def _query_names(dependant: Dependant) -> set[str]:
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _error(status: int, detail: str, problems: list[Problem] | None = None) -> JSONResponse:
    body = ErrorOut(detail=detail, problems=problems or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status)


def _problem(issue: InputIssue) -> Problem:
    value = issue.value if isinstance(issue.value, str | int | float | bool) else None
    if value is not None and not isinstance(value, str):
        value = str(value)
    return Problem(
        where=issue.where, field=issue.field, message=issue.message, value=value, text=str(issue)
    )


async def _allocator_error(request: Request, error: Exception) -> Response:
    status = next((code for kind, code in STATUS if isinstance(error, kind)), 400)
    page = pages.error_page(request, status, str(error))  # Under /app: the app's error page.
    if page is not None:
        return page
    problems = None
    if isinstance(error, InvalidInputError):
        problems = [_problem(issue) for issue in error.issues[:200]]
    response = _error(status, str(error), problems)
    if isinstance(error, QueueFullError):
        response.headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, AuthenticationError):
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


async def _request_invalid(_: Request, error: Exception) -> JSONResponse:
    """FastAPI's validation of the body, path and query, in the same shape as the core's."""
    assert isinstance(error, RequestValidationError)
    items = list(error.errors())
    unreadable = [item for item in items if item.get("type") == "json_invalid"]
    issues = [
        InputIssue(
            "request body",
            "",
            f"is not valid JSON: {item.get('ctx', {}).get('error', '')}".strip(),
        )
        for item in unreadable
    ]
    issues += problems([item for item in items if item not in unreadable], _request_place)
    if not issues:
        issues.append(InputIssue("request", "", "is not valid"))
    invalid = InvalidInputError(issues)
    return _error(422, str(invalid), [_problem(issue) for issue in issues[:200]])


def _request_place(loc: tuple[str | int, ...]) -> tuple[str, str, tuple[str | int, ...]]:
    """`('body', 'pins', 0, 'engineer_id')` -> `$.pins[0]`, `engineer_id`;
    `('query', 'limit')` -> `query parameter limit`."""
    source, rest = (str(loc[0]), loc[1:]) if loc else ("body", ())
    if source == "body":
        where, field, _ = json_place(rest)
        return where, field, loc
    return f"{source} parameter {'.'.join(str(p) for p in rest)}".strip(), "", loc


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400:  # FastAPI could not parse the body: bad input, so 422.
        issue = InputIssue("request body", "", f"cannot be read: {error.detail}")
        return _error(422, str(issue), [_problem(issue)])
    response = _error(error.status_code, str(error.detail))
    for name, value in (error.headers or {}).items():
        response.headers[name] = value
    if error.status_code == 405:  # Starlette names only the first route of the path.
        paths = request.app.openapi()["paths"]
        for template, operations in paths.items():
            if compile_path(template)[0].match(request.url.path):
                response.headers["Allow"] = ", ".join(sorted(m.upper() for m in operations))
    return response


class BodyLimit:
    """Answers 413 to a body larger than `max_bytes` before any route reads it. A declared
    Content-Length is checked as is (the server never passes on more); a body sent in chunks
    is read here first, up to the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None:
            if not declared.isdigit() or int(declared) > self.max_bytes:
                await self._refuse(scope, receive, send)
            else:
                await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        size = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = _error(413, f"the request body is larger than {self.max_bytes} bytes")
        await response(scope, receive, send)
