"""The drawer's contrast: an opportunity side by side with another of the same run (who got
whom, the reasons, the shared runners-up: `explain.contrast`), asked from the explanation
drawer. Two staffed opportunities are contrasted from the run's look-ups at once (no price,
no solve, as the API does); otherwise the contrast re-solves, so an explanation job answers
it and the page waits for the worker. Nothing is solved in this process; an answer is kept per
run and pair (a finished run's records never change), after the run's team is checked."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from allocator.core.recent import Recent
from allocator.errors import AllocatorError, NotFoundError
from allocator.explain.explanations import Contrast, contrast
from allocator.explain.job import Question
from allocator.service.explanations import ExplanationAsked, ExplanationService
from allocator.service.keys import Permission
from allocator.web.pages.kit import Session, SignedIn, render, service_of, workspace_of

router = APIRouter(include_in_schema=False)

RunId = Annotated[int, Path(ge=1, le=2**53)]
Text = Annotated[str, Query(max_length=200)]


@router.get("/app/board/{run_id}/contrast")
async def contrast_page(
    request: Request, session: SignedIn, run_id: RunId, a: Text = "", b: Text = ""
) -> HTMLResponse:
    """`a` next to `b`: a fragment for htmx (into the drawer), a page without JavaScript."""
    session.require(Permission.READ)
    template = "contrast.html" if request.headers.get("hx-request") else "contrast_page.html"
    a, b = a.strip(), b.strip()
    problems: dict[str, str] = {}
    found: Contrast | None = None
    try:
        run = await run_in_threadpool(workspace_of(request).explained, run_id, session.principal)
        for name, value in (("a", a), ("b", b)):
            if not value:
                problems[name] = "name an opportunity of this run"
            elif value not in run.opportunities:
                problems[name] = f"no opportunity {value!r} in run {run_id}"
        if not problems and a == b:
            problems["b"] = f"choose another opportunity than {a!r}"
        kept: Recent[tuple[int, str, str], Contrast] = request.app.state.contrasts
        if not problems:
            found = kept.get((run_id, a, b))
        if not problems and found is None:
            if {a, b} <= run.staffed:  # Both staffed: no price, no solve.
                found = await run_in_threadpool(contrast, run, a, b)
            else:
                found = await run_in_threadpool(_asked, request, session, run_id, a, b)
            kept.put((run_id, a, b), found)
    except NotFoundError as error:  # No such run, or another team's.
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    except AllocatorError as error:
        return render(request, "error.html", session, 409, title="No contrast", message=str(error))
    # htmx swaps only 2xx answers in: the fragment's problems come as 200, the page's as 422.
    status = 422 if problems and template == "contrast_page.html" else 200
    values = {"a": a, "b": b}
    return render(
        request, template, session, status, run_id=run_id, c=found, values=values, problems=problems
    )


KEEP = 64
"""Contrasts kept per app: a finished run's records never change, so neither does its answer."""


def _asked(request: Request, session: Session, run_id: int, a: str, b: str) -> Contrast:
    """The contrast as an explanation job (a worker re-solves for the price of the one not
    staffed), as GET /v1/runs/{id}/explain/contrast asks it."""
    explanations: ExplanationService = request.app.state.explanations
    seconds = min(3.0, service_of(request).settings.max_time_limit)
    asked = ExplanationAsked(
        run_id=run_id,
        asked_by=session.principal.name,
        question=Question(kind="contrast", a=a, b=b, time_limit=seconds),
    )
    return Contrast.model_validate(explanations.ask(asked, session.principal))
