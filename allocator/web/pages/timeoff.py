"""Time off on the team page: an engineer's weeks off listed as ranges (labelled with their
ISO weeks when the plan has a horizon start), a range added with its hours per week (weeks
given as numbers, or as ISO weeks or dates when the plan has a horizon start) or removed.

Each change goes through the workspace like every edit: the domain's rules check it (a week
outside the horizon, hours out of range are named) and the version shown with the form must
still be the plan's, otherwise nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from allocator.errors import AllocatorError, InputIssue, InvalidInputError, NotFoundError
from allocator.model import Engineer, Portfolio, calendar_week
from allocator.service.keys import Permission
from allocator.web.pages.kit import Session, SignedIn, posted, redirect, render, workspace_of

router = APIRouter(include_in_schema=False)

EngineerId = Annotated[str, Path(min_length=1, max_length=200)]
FIELDS = ("from", "to", "hours")


@dataclass(frozen=True)
class Range:
    """Consecutive weeks off with the same hours."""

    first: int
    last: int
    hours: float
    label: str


def ranges(plan: Portfolio, engineer: Engineer) -> list[Range]:
    """The engineer's time off as ranges of consecutive weeks with equal hours."""
    found: list[Range] = []
    for week, hours in sorted(engineer.time_off.items()):
        if found and found[-1].last == week - 1 and found[-1].hours == hours:
            found[-1] = Range(found[-1].first, week, hours, "")
        else:
            found.append(Range(week, week, hours, ""))
    return [
        Range(
            r.first,
            r.last,
            r.hours,
            plan.week_label(r.first)
            if r.first == r.last
            else f"{plan.week_label(r.first)} to {plan.week_label(r.last)}",
        )
        for r in found
    ]


def week_of(plan: Portfolio, field: str, given: str) -> int:
    """A week number from the form: a number, or an ISO week or date with a horizon start."""
    text = given.strip()
    if text.isdigit():
        return int(text)
    if plan.horizon_start:
        try:
            return calendar_week(plan.horizon_start, text)
        except ValueError:
            pass
        hint = "a week number, an ISO week (2026-W50) or a date (2026-12-07)"
    else:
        hint = "a week number (the plan has no horizon start for ISO weeks or dates)"
    raise InvalidInputError([InputIssue("form", field, f"must be {hint}", given)])


def _engineer(plan: Portfolio, engineer_id: str) -> Engineer:
    found = plan.engineer_by_id().get(engineer_id)
    if found is None:
        raise NotFoundError(f"no engineer {engineer_id!r} in the workspace")
    return found


def _page(
    request: Request,
    session: Session,
    engineer_id: str,
    values: dict[str, str] | None = None,
    problems: dict[str, str] | None = None,
    status: int = 200,
    notice: str = "",
) -> HTMLResponse:
    plan, row = workspace_of(request).current(session.principal, session.team)
    try:
        engineer = _engineer(plan, engineer_id)
    except NotFoundError as error:
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    return render(
        request,
        "timeoff.html",
        session,
        status=status,
        engineer=engineer,
        ranges=ranges(plan, engineer),
        horizon=plan.horizon_weeks,
        start=plan.horizon_start,
        version=row.version,
        values=values or {"hours": f"{engineer.capacity_hours:g}"},
        problems=problems or {},
        notice=notice,
    )


@router.get("/app/engineers/{engineer_id}/time-off")
def time_off(request: Request, session: SignedIn, engineer_id: EngineerId) -> HTMLResponse:
    session.require(Permission.READ)
    return _page(request, session, engineer_id)


def _problems(error: InvalidInputError) -> dict[str, str]:
    """The domain's `time_off[12]` (a week) or `hours` back on the form's fields."""
    found: dict[str, str] = {}
    for issue in error.issues:
        field = issue.field
        if field in (*FIELDS, "version"):
            name = field
        else:  # `time_off[12]`: the week (out of the horizon) or its hours.
            name = "from" if "week" in issue.message else "hours"
        shown = "" if issue.value in (None, "") else f" (got {issue.value!r})"
        text = f"{field}: {issue.message}{shown}" if name != field else issue.message + shown
        found[name] = f"{found[name]}; {text}" if name in found else text
    return found


@router.post("/app/engineers/{engineer_id}/time-off")
async def change_time_off(request: Request, session: SignedIn, engineer_id: EngineerId) -> Response:
    """Add a range (`from`, `to`, `hours` a week: they replace what those weeks had) or remove
    one (`remove` = `first..last`)."""
    session.require(Permission.WRITE)
    form = await posted(request, session)
    values = {name: str(form.get(name, "")).strip()[:40] for name in FIELDS}
    removing = str(form.get("remove", "")).strip()[:40]
    given = str(form.get("version", ""))
    version = int(given) if given.isdigit() else 0
    workspace = workspace_of(request)
    try:
        plan = await run_in_threadpool(workspace.plan, session.principal, session.team)
        _engineer(plan, engineer_id)
        if removing:
            first, _, last = removing.partition("..")
            low, high = week_of(plan, "remove", first), week_of(plan, "remove", last or first)
            hours = None
        else:
            low = week_of(plan, "from", values["from"])
            high = week_of(plan, "to", values["to"]) if values["to"] else low
            if high < low:
                raise InvalidInputError(
                    [InputIssue("form", "to", "the range ends before it starts", values["to"])]
                )
            try:
                hours = float(values["hours"])
            except ValueError:
                raise InvalidInputError(
                    [InputIssue("form", "hours", "must be a number of hours", values["hours"])]
                ) from None

        def edit(content: dict[str, Any]) -> None:
            for record in content["engineers"]:
                if record["id"] == engineer_id:
                    weeks = {int(k): v for k, v in (record.get("time_off") or {}).items()}
                    for week in range(low, high + 1):
                        weeks.pop(week, None)
                        if hours is not None:
                            weeks[week] = hours
                    record["time_off"] = {str(k): v for k, v in sorted(weeks.items())}

        await run_in_threadpool(workspace.change, edit, session.principal, version)
    except InvalidInputError as error:
        return _page(request, session, engineer_id, values, _problems(error), 422)
    except NotFoundError as error:
        return render(request, "error.html", session, 404, title="Not found", message=str(error))
    except AllocatorError as error:
        return _page(request, session, engineer_id, values, {"from": str(error)}, 409)
    return redirect(f"/app/engineers/{engineer_id}/time-off")
