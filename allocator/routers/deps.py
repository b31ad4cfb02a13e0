"""Dependencies shared by the routers: the service, and the caller's key checked for a role.

`Reader`, `Planner` and `Auditor` are `Annotated` parameters: a route that takes one answers
401 without a known key and 403 when the key's role lacks the permission.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from allocator.keys import Permission, Principal
from allocator.runs import RunService

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key from `allocator keys create`, sent as `Authorization: Bearer KEY`.",
)


def get_service(request: Request) -> RunService:
    service: RunService = request.app.state.service
    return service


ServiceDep = Annotated[RunService, Depends(get_service)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _principal(service: ServiceDep, credentials: Credentials) -> Principal:
    return service.authenticate(None if credentials is None else credentials.credentials)


def _reader(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    principal.require(Permission.READ)
    return principal


def _planner(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    principal.require(Permission.WRITE)
    return principal


def _auditor(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    principal.require(Permission.AUDIT)
    return principal


Reader = Annotated[Principal, Depends(_reader)]
Planner = Annotated[Principal, Depends(_planner)]
Auditor = Annotated[Principal, Depends(_auditor)]
