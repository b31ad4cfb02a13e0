"""Guards in front of the routers: JSON bodies read strictly, and the answer to the unexpected.

An edge. `StrictJSONBody` reads every `application/json` body with `io.strictjson` before a
route sees it: NaN, Infinity, numbers that overflow, integers of thousands of digits and
nesting deeper than `ALLOCATOR_MAX_JSON_DEPTH` are answered 422 with each value's place
(`$.portfolio.horizon_weeks`), so that no parser downstream recurses into them or raises from
deep inside. Text that is not JSON at all goes on to the route, which says where it breaks.
The parsed document is left in the scope for a route that parses it itself (`uploads`).

`unexpected_error` answers any exception nothing else handled: 500 with a request id, and the
trace logged under the same id, so that a report can be matched with the log.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from allocator.errors import InvalidInputError
from allocator.io import strictjson
from allocator.web.routes.models import ErrorOut

log = logging.getLogger("allocator.api")

PARSED = "allocator.json"
"""The scope key under which `StrictJSONBody` leaves the parsed body."""
INLINE_BYTES = 65_536
"""Bodies up to this size are checked on the event loop; larger ones in the thread pool."""

ErrorHandler = Callable[[Request, Exception], Awaitable[Response]]


class StrictJSONBody:
    """422 for a JSON body that `strictjson` refuses, before any route reads it."""

    def __init__(self, app: ASGIApp, max_depth: int, on_error: ErrorHandler) -> None:
        self.app = app
        self.max_depth = max_depth
        self.on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers", ())) if scope["type"] == "http" else {}
        kind = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if kind != b"application/json":
            await self.app(scope, receive, send)
            return
        buffered: list[Message] = []
        chunks: list[bytes] = []
        while True:  # The body limit in front of this has bounded it already.
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            try:
                if len(body) <= INLINE_BYTES:
                    parsed = strictjson.loads(body, "request body", self.max_depth, column=True)
                else:
                    parsed = await run_in_threadpool(
                        strictjson.loads, body, "request body", self.max_depth, True
                    )
                scope[PARSED] = parsed
            except strictjson.JSONSyntaxError:
                pass  # The route reports where the text stops being JSON.
            except InvalidInputError as error:
                response = await self.on_error(Request(scope), error)
                await response(scope, receive, send)
                return

        async def replay() -> Message:
            return buffered.pop(0) if buffered else await receive()

        await self.app(scope, replay, send)


def parsed_body(request: Request) -> Any:
    """The body `StrictJSONBody` parsed, or None when it did not."""
    return request.scope.get(PARSED)


async def unexpected_error(request: Request, error: Exception) -> JSONResponse:
    """500 with a request id; the trace is logged with the same id."""
    request_id = secrets.token_hex(8)
    log.error(
        "request %s (%s %s) failed",
        request_id,
        request.method,
        request.url.path,
        exc_info=(type(error), error, error.__traceback__),
    )
    body = ErrorOut(
        detail=f"internal error; the server logged it under request id {request_id}",
        request_id=request_id,
    )
    return JSONResponse(
        body.model_dump(mode="json"), status_code=500, headers={"X-Request-ID": request_id}
    )
