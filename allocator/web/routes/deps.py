"""Dependencies shared by the routers: the service, and the caller's key checked for a role.

`Reader`, `Planner` and `Auditor` are `Annotated` parameters: a route that takes one answers
401 without a known key and 403 when the key's role lacks the permission.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from allocator.service.jobs import JobKind
from allocator.service.keys import Permission, Principal
from allocator.service.runs import RunService

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `allocator keys create`, sent as `Authorization: Bearer KEY`.",
)


async def get_service(request: Request) -> RunService:
    service: RunService = request.app.state.service
    return service


ServiceDep = Annotated[RunService, Depends(get_service)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def _principal(service: ServiceDep, credentials: Credentials) -> Principal:
    # Async, and a key seen in the last seconds needs no lookup: a read costs the event loop
    # one hop to the thread pool (the route itself), not three.
    key = None if credentials is None else credentials.credentials
    known = service.recently_authenticated(key)
    return known if known is not None else await run_in_threadpool(service.authenticate, key)


async def _reader(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    principal.require(Permission.READ)
    return principal


async def _planner(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    principal.require(Permission.WRITE)
    return principal


async def _auditor(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    principal.require(Permission.AUDIT)
    return principal


Reader = Annotated[Principal, Depends(_reader)]
Planner = Annotated[Principal, Depends(_planner)]
Auditor = Annotated[Principal, Depends(_auditor)]

SCOPED_JOBS = {"run_id": JobKind.RUN, "set_id": JobKind.SCENARIO_SET}
"""The path parameters that name a team's job."""


async def in_scope(
    request: Request,
    service: ServiceDep,
    principal: Annotated[Principal, Depends(_principal)],
) -> None:
    """A router's guard: the run, scenario set or portfolio its path names must be the
    caller's team's (auditors see all). Another team's is 404 to a read (its existence is not
    told) and 403 to an action (cancel)."""
    if principal.sees_all:
        return
    acting = request.method not in ("GET", "HEAD")
    for name, kind in SCOPED_JOBS.items():
        raw = request.path_params.get(name)
        if isinstance(raw, str) and raw.isdigit() and len(raw) < 19:
            await run_in_threadpool(service.jobs.scoped, kind, int(raw), principal, acting)
    raw = request.path_params.get("portfolio_id")
    if isinstance(raw, str) and raw.isdigit() and len(raw) < 19:
        await run_in_threadpool(service.portfolio_scoped, int(raw), principal)


Scoped = [Depends(in_scope)]
"""`APIRouter(dependencies=Scoped)`: every route of the router checks the team."""
