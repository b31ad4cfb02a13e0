"""Sign in with an API key, sign out, the start page, and the API documentation served from
local files (Swagger UI and ReDoc from the npm packages, under /static/vendor: no CDN)."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response

from allocator.errors import NotFoundError
from allocator.service.keys import AuthenticationError, Permission, Role
from allocator.web.pages.kit import (
    COOKIE,
    TEAM_COOKIE,
    SignedIn,
    authenticate,
    csrf_token,
    posted,
    redirect,
    render,
    workspace_of,
)

router = APIRouter(include_in_schema=False)

Next = Annotated[str, Query(max_length=500)]

HOME = {
    Role.REQUESTER: "/app/requests",
    Role.AUDITOR: "/app/audit",
}


def _safe(target: str) -> str:
    """Only paths of this site (no `//host`), so that sign-in never sends anyone away."""
    return target if target.startswith("/") and not target.startswith("//") else "/app"


@router.get("/")
def root() -> Response:
    return redirect("/app")


@router.get("/app/signin")
def sign_in_form(request: Request, next: Next = "/app") -> HTMLResponse:
    return render(request, "signin.html", None, next=_safe(next), problems={}, values={})


@router.post("/app/signin")
async def sign_in(request: Request) -> Response:
    form = await request.form()
    key = str(form.get("key") or "").strip()
    target = _safe(str(form.get("next") or "/app"))
    try:
        principal = await authenticate(request, key)
    except AuthenticationError as error:
        message = "is needed" if not key else f"is not known or was revoked ({error})"
        return render(
            request,
            "signin.html",
            None,
            status=401,
            next=target,
            problems={"key": f"API key {message}"},
            values={"key": key},
        )
    if target == "/app":
        target = HOME.get(principal.role, "/app")
    response = redirect(target)
    response.set_cookie(COOKIE, key, httponly=True, samesite="strict", max_age=12 * 3600)
    return response


@router.post("/app/signout")
async def sign_out(request: Request, session: SignedIn) -> Response:
    await posted(request, session)
    response = redirect("/app/signin")
    response.delete_cookie(COOKIE)
    response.delete_cookie(TEAM_COOKIE)
    return response


@router.post("/app/scope")
async def choose_team(request: Request, session: SignedIn) -> Response:
    """An auditor chooses the team whose plan, runs, scenario sets and requests the pages
    show (empty: every team's lists, and their own key's team's plan)."""
    session.require(Permission.AUDIT)
    form = await posted(request, session)
    team = str(form.get("team") or "").strip()
    if len(team) > 100:
        message = f"team: must be at most 100 characters (got {len(team)})"
        return render(request, "error.html", session, 422, title="Not chosen", message=message)
    response = redirect(_safe(str(form.get("next") or "/app/audit")))
    if team:
        response.set_cookie(TEAM_COOKIE, team, httponly=True, samesite="strict", max_age=12 * 3600)
    else:
        response.delete_cookie(TEAM_COOKIE)
    return response


@router.get("/app")
def start(request: Request, session: SignedIn) -> HTMLResponse:
    """The start page: the plan in figures, the last runs, what to do next."""
    workspace = workspace_of(request)
    plan = row = None
    with contextlib.suppress(NotFoundError):
        plan, row = workspace.current(session.principal, session.team)
    runs = workspace.weekly_runs(session.principal, session.team)[:5] if row is not None else []
    requests = workspace.requests(session.principal, 5, 0, session.team)
    return render(
        request,
        "start.html",
        session,
        plan=plan,
        row=row,
        runs=runs,
        requests=requests[0],
        request_total=requests[1],
        can_write=session.may(Permission.WRITE),
    )


@router.get("/docs")
def swagger() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="Presales allocation service - Swagger UI",
        swagger_js_url="/static/vendor/swagger/swagger-ui-bundle.js",
        swagger_css_url="/static/vendor/swagger/swagger-ui.css",
        swagger_favicon_url="/static/vendor/swagger/favicon-32x32.png",
    )


@router.get("/redoc")
def redoc() -> HTMLResponse:
    return get_redoc_html(
        openapi_url="/openapi.json",
        title="Presales allocation service - ReDoc",
        redoc_js_url="/static/vendor/redoc/redoc.standalone.js",
        redoc_favicon_url="/static/vendor/swagger/favicon-32x32.png",
        with_google_fonts=False,
    )


__all__ = ["csrf_token", "router"]
