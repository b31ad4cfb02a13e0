"""Audit: the hash chain's verification, every run with its inputs and result to download, and
the diff of two runs: who moved where, and why (the explanation of the role in the later run).
Verification is the auditor's; the downloads are open to every reader."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from allocator.errors import AllocatorError
from allocator.explain.explanations import explain_role
from allocator.model import Allocation
from allocator.service.keys import Permission
from allocator.service.runs import RunFilter
from allocator.web.pages.kit import SignedIn, render, service_of, workspace_of

router = APIRouter(include_in_schema=False)

RunId = Annotated[int, Path(ge=1, le=2**53)]
PAGE = 50
DIFF_ROWS = 200


@dataclass(frozen=True)
class Move:
    """One role whose engineer differs between two runs."""

    opportunity_id: str
    demand_id: str
    before: str | None
    after: str | None
    why: str


@router.get("/app/audit")
def audit(
    request: Request,
    session: SignedIn,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    session.require(Permission.AUDIT)
    where = RunFilter(team=session.lists)
    runs, total = service_of(request).list_runs(where, PAGE, (page - 1) * PAGE)
    return render(
        request,
        "audit.html",
        session,
        runs=runs,
        total=total,
        page=page,
        pages=max(1, -(-total // PAGE)),
        values={},
        problems={},
        teams=workspace_of(request).teams(session.principal),
    )


@router.get("/app/audit/verify")
async def verify(request: Request, session: SignedIn) -> HTMLResponse:
    session.require(Permission.AUDIT)
    verdict = await run_in_threadpool(service_of(request).verify_audit)
    return render(request, "verdict.html", session, verdict=verdict)


def _download(content: Any, name: str) -> Response:
    return Response(
        json.dumps(content, indent=1),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/app/audit/runs/{run_id}/inputs.json")
def inputs(request: Request, session: SignedIn, run_id: RunId) -> Response:
    session.require(Permission.READ)
    service_of(request).get_run(run_id, session.principal)  # Another team's: 404.
    return _download(service_of(request).inputs(run_id), f"run-{run_id}-inputs.json")


@router.get("/app/audit/runs/{run_id}/result.json")
def result(request: Request, session: SignedIn, run_id: RunId) -> Response:
    session.require(Permission.READ)
    service_of(request).get_run(run_id, session.principal)  # Another team's: 404.
    _, allocation = service_of(request).result(run_id)
    return _download(allocation.model_dump(mode="json"), f"run-{run_id}-result.json")


def moves(before: Allocation, after: Allocation) -> list[tuple[str, str, str | None, str | None]]:
    """(opportunity, demand, engineer before, engineer after) of every role that changed."""
    old = {a.demand_id: a for a in before.assignments}
    new = {a.demand_id: a for a in after.assignments}
    changed = []
    for demand_id in sorted(set(old) | set(new)):
        was, now = old.get(demand_id), new.get(demand_id)
        if was is not None and now is not None and was.engineer_id == now.engineer_id:
            continue
        opportunity = (now or was).opportunity_id  # type: ignore[union-attr]
        changed.append(
            (
                opportunity,
                demand_id,
                None if was is None else was.engineer_id,
                None if now is None else now.engineer_id,
            )
        )
    return changed


@router.get("/app/audit/diff")
async def diff(
    request: Request,
    session: SignedIn,
    a: Annotated[str, Query(max_length=20)] = "",
    b: Annotated[str, Query(max_length=20)] = "",
) -> HTMLResponse:
    """Who moved where between run a and run b, and why (run b's explanation of the role)."""
    session.require(Permission.READ)
    values = {"a": a, "b": b}
    problems = {
        name: f"must be a run number (got {given!r})"
        for name, given in values.items()
        if not given.strip().isdigit()
    }
    workspace = workspace_of(request)
    if not problems:
        try:
            first = await run_in_threadpool(workspace.snapshot, int(a), session.principal)
        except AllocatorError as error:
            problems["a"] = str(error)
        try:
            second = await run_in_threadpool(workspace.explained, int(b), session.principal)
        except AllocatorError as error:
            problems["b"] = str(error)
    if problems:
        runs, total = service_of(request).list_runs(RunFilter(team=session.lists), PAGE, 0)
        return render(
            request,
            "audit.html",
            session,
            status=422,
            runs=runs,
            total=total,
            page=1,
            pages=max(1, -(-total // PAGE)),
            values=values,
            problems=problems,
            teams=workspace.teams(session.principal),
        )
    changed = moves(first[1], second.allocation)
    rows = []
    for opportunity_id, demand_id, before, after in changed[:DIFF_ROWS]:
        demand = second.demands.get(demand_id)
        why = explain_role(second, demand).reason if demand is not None else "role no longer asked"
        rows.append(Move(opportunity_id, demand_id, before, after, why))
    return render(
        request,
        "diff.html",
        session,
        a=int(a),
        b=int(b),
        rows=rows,
        total=len(changed),
        shown=DIFF_ROWS,
    )
