"""What every page shares: the signed-in session, CSRF, the templates and form problems.

The session is the API key itself in an HttpOnly, SameSite=Strict cookie (nothing to keep on
the server, and a revoked key ends its sessions within the key cache's seconds); each form
carries a CSRF token derived from the key (HMAC), checked on every POST, also sent by htmx as
the `X-CSRF-Token` header. A page without a session redirects to the sign-in page; a role
without the permission gets a 403 page. Form problems are `InputIssue`s keyed by the form's
field names, shown next to their field with the value kept.

Team scope: a session works on its key's team's workspace, runs and requests; an auditor may
choose a team to look at (`POST /app/scope`, kept in a cookie; none chosen: every team's runs
and requests, and their own key's team's plan).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from allocator.errors import InputIssue, InvalidInputError
from allocator.service.keys import AuthenticationError, Permission, Principal, allows
from allocator.service.runs import RunService
from allocator.service.workspace import WorkspaceService

COOKIE = "allocator_session"
TEAM_COOKIE = "allocator_team"
"""The team an auditor chose to look at."""
WEB = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=str(WEB / "templates"))
PAGE_SIZE = 50


class SignInNeeded(Exception):
    """No session, or its key is no longer known: go to the sign-in page."""

    def __init__(self, back: str) -> None:
        super().__init__(back)
        self.back = back


class PageForbidden(Exception):
    """The role may not do this (or the form's CSRF token is wrong): a 403 page."""


def csrf_token(key: str) -> str:
    """The CSRF token of a session: an HMAC of a fixed label under the session's key."""
    return hmac.new(key.encode("utf-8"), b"allocator-web-csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Session:
    """Who is signed in, and the token their forms carry."""

    principal: Principal
    csrf: str
    team: str | None = None
    """The team an auditor chose (None: none chosen); always None for the other roles, who
    see their key's team only."""

    @property
    def lists(self) -> str | None:
        """The team whose runs, scenario sets and requests the lists show: the key's; for an
        auditor the chosen team, or None (every team's)."""
        return self.team if self.principal.sees_all else self.principal.team

    def may(self, permission: Permission) -> bool:
        return allows(self.principal.role, permission)

    def require(self, permission: Permission) -> None:
        if not self.may(permission):
            raise PageForbidden(
                f"{self.principal.name} ({self.principal.role.value}) may not do this"
            )


def service_of(request: Request) -> RunService:
    found: RunService = request.app.state.service
    return found


def workspace_of(request: Request) -> WorkspaceService:
    found: WorkspaceService = request.app.state.workspace
    return found


async def authenticate(request: Request, key: str | None) -> Principal:
    service = service_of(request)
    known = service.recently_authenticated(key)
    return known if known is not None else await run_in_threadpool(service.authenticate, key)


async def _session(request: Request) -> Session:
    key = request.cookies.get(COOKIE)
    try:
        principal = await authenticate(request, key)
    except AuthenticationError:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(back) from None
    assert key is not None
    chosen = request.cookies.get(TEAM_COOKIE, "").strip()[:100] if principal.sees_all else ""
    return Session(principal, csrf_token(key), chosen or None)


SignedIn = Annotated[Session, Depends(_session)]


async def posted(request: Request, session: Session) -> FormData:
    """The form of a POST, after its CSRF token (field `csrf` or header) is checked."""
    form = await request.form()
    sent = str(form.get("csrf") or request.headers.get("x-csrf-token") or "")
    if not hmac.compare_digest(sent, session.csrf):
        raise PageForbidden("the form's security token is missing or out of date; reload")
    return form


def render(
    request: Request,
    template: str,
    session: Session | None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """The template with the session (`me`, `csrf`) and the page's context."""
    return templates.TemplateResponse(
        request,
        template,
        {
            "me": None if session is None else session.principal,
            "team": None if session is None else session.team,
            "csrf": "" if session is None else session.csrf,
            "may": (lambda p: False) if session is None else session.may,
            "Permission": Permission,
            **context,
        },
        status_code=status,
    )


def redirect(url: str, request: Request | None = None) -> Response:
    """303 to `url`; an htmx request is told with `HX-Redirect` instead."""
    if request is not None and request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def to_sign_in(back: str) -> RedirectResponse:
    return RedirectResponse(f"/app/signin?next={quote(back, safe='')}", status_code=303)


def field_problems(error: InvalidInputError, prefix: str = "") -> dict[str, str]:
    """Form field name -> its problem(s) in words (`roles.0.hours` stays as it is)."""
    found: dict[str, str] = {}
    for issue in error.issues:
        name = issue.field.removeprefix(prefix) or issue.where
        text = (
            issue.message if issue.value in (None, "") else f"{issue.message} (got {issue.value!r})"
        )
        found[name] = f"{found[name]}; {text}" if name in found else text
    return found


def problem(field: str, message: str, value: Any = None) -> InvalidInputError:
    return InvalidInputError([InputIssue("form", field, message, value)])


@dataclass(frozen=True)
class PageOf:
    """One page of a long list, and the links around it."""

    items: list[Any]
    total: int
    page: int
    pages: int

    @classmethod
    def of(cls, items: Iterable[Any], page: int, size: int = PAGE_SIZE) -> PageOf:
        everything = list(items)
        pages = max(1, -(-len(everything) // size))
        page = min(max(1, page), pages)
        start = (page - 1) * size
        return cls(everything[start : start + size], len(everything), page, pages)
