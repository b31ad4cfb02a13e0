"""Fairness: the share of requested expected value each group got covered in a finished run, by
requester seniority quartile, region, industry and customer tier, next to the seniority-first
status quo on the same snapshot (recorded with the run by the worker that solved it; for a run
without it, an explanation job works it out: nothing is solved in this process)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from allocator.errors import AllocatorError, NotFoundError
from allocator.explain.explanations import Fairness
from allocator.explain.job import Question
from allocator.service.explanations import ExplanationAsked, ExplanationService
from allocator.service.keys import Permission, Principal
from allocator.web.pages.kit import SignedIn, render, service_of, workspace_of

router = APIRouter(include_in_schema=False)


@router.get("/app/fairness")
async def fairness(
    request: Request,
    session: SignedIn,
    run: Annotated[int | None, Query(ge=1, le=2**53)] = None,
) -> HTMLResponse:
    session.require(Permission.READ)
    workspace = workspace_of(request)
    if run is None:
        last = await run_in_threadpool(workspace.last_done_run, session.principal, session.team)
        if last is None:
            return render(request, "fairness.html", session, run=None, found=None)
        run = last.id
    try:
        found = await run_in_threadpool(workspace.fairness, run, session.principal)
        if found is None:  # A run without its recorded status quo: a worker works it out.
            found = await run_in_threadpool(_asked, request, run, session.principal)
    except NotFoundError as error:  # Another team's run is not told to exist.
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    except AllocatorError as error:
        return render(request, "error.html", session, 409, title="No fairness", message=str(error))
    groups = [
        ("Requester seniority quartile", found.by_seniority_quartile),
        ("Region", found.by_region),
        ("Industry", found.by_industry),
        ("Customer tier", found.by_tier),
    ]
    return render(request, "fairness.html", session, run=run, found=found, groups=groups)


def _asked(request: Request, run_id: int, principal: Principal) -> Fairness:
    """Fairness of a run whose status quo was not recorded, as an explanation job (the API's
    way: no solver runs in this process)."""
    service_of(request).result(run_id)  # 404 or 409 here, before anything is queued.
    explanations: ExplanationService = request.app.state.explanations
    asked = ExplanationAsked(run_id=run_id, question=Question(kind="fairness"))
    return Fairness.model_validate(explanations.ask(asked, principal))
