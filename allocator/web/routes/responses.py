"""The error answers each route documents, so that the OpenAPI schema lists every status a
client can get (and Schemathesis holds the API to it)."""

from __future__ import annotations

from typing import Any

from allocator.web.routes.models import ErrorOut

_WHY = {
    400: "The request could not be understood.",
    401: "No API key, or an unknown or revoked one.",
    403: "The key's role does not allow this.",
    404: "No such portfolio or run.",
    409: "The run is not in a state that allows this.",
    413: "The request body is larger than ALLOCATOR_MAX_BODY_BYTES.",
    415: "The body is neither JSON nor multipart/form-data.",
    422: "Invalid input: every problem with its place and the core's message.",
    429: "The run queue is full; retry after the seconds in Retry-After.",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before submitting again.",
        "schema": {"type": "integer"},
    }
}
AUTHENTICATE = {"WWW-Authenticate": {"description": "`Bearer`.", "schema": {"type": "string"}}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry documenting these error statuses (401 and 403 always)."""
    documented: dict[int | str, dict[str, Any]] = {}
    for code in sorted({401, 403, 422, *codes}):
        entry: dict[str, Any] = {"model": ErrorOut, "description": _WHY[code]}
        if code == 429:
            entry["headers"] = RETRY_AFTER
        if code == 401:
            entry["headers"] = AUTHENTICATE
        documented[code] = entry
    return documented
