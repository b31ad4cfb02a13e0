"""Dependencies shared by the routers: the service, and the caller's key checked for a role.

`Reader`, `Planner` and `Auditor` are `Annotated` parameters: a route that takes one answers
401 without a known key and 403 when the key's role lacks the permission.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

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
