"""Fairness: the share of requested expected value each group got covered in a finished run, by
requester seniority quartile, region, industry and customer tier, next to the seniority-first
status quo on the same snapshot."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from allocator.errors import AllocatorError
from allocator.service.keys import Permission
from allocator.web.pages.kit import SignedIn, render, workspace_of

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
        last = await run_in_threadpool(workspace.last_done_run)
        if last is None:
            return render(request, "fairness.html", session, run=None, found=None)
        run = last.id
    try:
        found = await run_in_threadpool(workspace.fairness, run)
    except AllocatorError as error:
        return render(request, "error.html", session, 409, title="No fairness", message=str(error))
    groups = [
        ("Requester seniority quartile", found.by_seniority_quartile),
        ("Region", found.by_region),
        ("Industry", found.by_industry),
        ("Customer tier", found.by_tier),
    ]
    return render(request, "fairness.html", session, run=run, found=found, groups=groups)
