"""Exports for the people who act on a result: a plan workbook and a CSV keyed by the CRM id.

An edge: turns a portfolio and its allocation into tables and writes them (openpyxl for the
workbook; every text cell passes `formats.spreadsheet_safe`, so none starts a formula). The
workbook's sheets: `By engineer` (hours per ISO week), `By opportunity` (team and value),
`Unstaffed` (the reason in words: the result's own for what cannot be staffed by construction,
else the binding reason the caller passes in from the explanations, else a generic one) and
`Objective` (the terms and the settings behind them).
The CSV has one row per opportunity, keyed by `crm_id` (the opportunity's external_id, else its
id), to load back into the CRM. Decides nothing; reads no solver.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from allocator.io.formats import spreadsheet_safe
from allocator.model import (
    Allocation,
    Opportunity,
    Policy,
    Portfolio,
    expected_value,
    iso_week_of,
)

if TYPE_CHECKING:
    from openpyxl import Workbook

NOT_CHOSEN = (
    "not chosen: the engineers who qualify were worth more on other opportunities or had no "
    "hours left (allocator explain RESULT --opportunity ID names who could have served it)"
)
Reasons = Mapping[str, str]
"""Opportunity id -> why it got nobody, in words, from the layer that explains runs
(`explain.explanations.unstaffed_in_words`); exports take them as given."""
NO_RESULT = "the run has no allocation: {status}"
CSV_COLUMNS = (
    "crm_id",
    "opportunity_id",
    "account",
    "staffed",
    "presales_team",
    "presales_hours",
    "first_week",
    "last_week",
    "expected_value",
    "tier_weighted_expected_value",
    "reason",
)


def plain_expected_value(opportunity: Opportunity) -> float:
    """Deal value x win probability, in currency (no tier factor)."""
    return opportunity.value * opportunity.win_probability


def unstaffed_reasons(
    portfolio: Portfolio, allocation: Allocation, reasons: Reasons | None = None
) -> dict[str, str]:
    """Opportunity id -> why it has nobody, in words, for every opportunity not staffed: the
    result's own reason when it cannot be staffed by construction, else the reason given in
    `reasons`, else a generic one."""
    staffed = set(allocation.staffed_opportunities)
    listed = {**(reasons or {}), **{u.opportunity_id: u.reason for u in allocation.unstaffable}}
    default = (
        NOT_CHOSEN
        if allocation.status.has_solution
        else NO_RESULT.format(status=allocation.status.value)
    )
    return {o.id: listed.get(o.id, default) for o in portfolio.opportunities if o.id not in staffed}


def _week_name(portfolio: Portfolio, week: int) -> str:
    """`2026-W50` with a calendar, else `week 1`."""
    start = portfolio.horizon_start
    return iso_week_of(start, week) if start else f"week {week}"


def _teams(portfolio: Portfolio, allocation: Allocation) -> dict[str, list[Any]]:
    engineers = portfolio.engineer_by_id()
    teams: dict[str, list[Any]] = defaultdict(list)
    for a in allocation.assignments:
        teams[a.opportunity_id].append((a, engineers.get(a.engineer_id)))
    return teams


def plan_rows(
    portfolio: Portfolio, allocation: Allocation, reasons: Reasons | None = None
) -> list[dict[str, Any]]:
    """One row per opportunity, keyed by the CRM id: the CSV's rows."""
    teams = _teams(portfolio, allocation)
    why = unstaffed_reasons(portfolio, allocation, reasons)
    rows = []
    for o in portfolio.opportunities:
        team = teams.get(o.id, [])
        weeks = [w for a, _ in team for w in (a.start_week, a.end_week)]
        rows.append(
            {
                "crm_id": o.external_id or o.id,
                "opportunity_id": o.id,
                "account": o.account or o.customer,
                "staffed": "yes" if team else "no",
                "presales_team": "; ".join(
                    f"{(e.name if e and e.name else a.engineer_id)} ({a.skill})" for a, e in team
                ),
                "presales_hours": round(
                    sum(a.hours * (a.end_week - a.start_week + 1) for a, _ in team), 2
                ),
                "first_week": _week_name(portfolio, min(weeks)) if weeks else "",
                "last_week": _week_name(portfolio, max(weeks)) if weeks else "",
                "expected_value": round(plain_expected_value(o), 2),
                "tier_weighted_expected_value": round(expected_value(o, portfolio.policy), 2),
                "reason": why.get(o.id, ""),
            }
        )
    return rows


def plan_csv(portfolio: Portfolio, allocation: Allocation, reasons: Reasons | None = None) -> str:
    """The CSV keyed by the CRM id, as text."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in plan_rows(portfolio, allocation, reasons):
        writer.writerow(
            {k: spreadsheet_safe(v) if isinstance(v, str) else v for k, v in row.items()}
        )
    return buffer.getvalue()


def plan_workbook(
    portfolio: Portfolio, allocation: Allocation, reasons: Reasons | None = None
) -> Workbook:
    """The plan as a workbook with the four sheets."""
    from openpyxl import Workbook  # Loaded by the first workbook written.

    book = Workbook()
    by_engineer = book.active
    assert by_engineer is not None
    by_engineer.title = "By engineer"
    weeks = list(portfolio.weeks())
    names = [_week_name(portfolio, w) for w in weeks]
    hours: dict[str, dict[int, float]] = defaultdict(lambda: defaultdict(float))
    for a in allocation.assignments:
        for week in range(a.start_week, a.end_week + 1):
            hours[a.engineer_id][week] += a.hours
    _append(by_engineer, ["engineer", "hr_id", "name", "region", *names, "total hours"], True)
    for e in portfolio.engineers:
        row = [round(hours[e.id][w], 2) for w in weeks]
        _append(by_engineer, [e.id, e.external_id, e.name, e.region, *row, round(sum(row), 2)])

    by_opportunity = book.create_sheet("By opportunity")
    head = [
        "crm_id",
        "opportunity",
        "account",
        "customer",
        "owner",
        "stage",
        "tier",
        "value",
        "win probability",
        "expected value",
        "tier-weighted expected value",
        "staffed",
        "team",
        "hours",
        "first week",
        "last week",
    ]
    _append(by_opportunity, head, True)
    rows = {r["opportunity_id"]: r for r in plan_rows(portfolio, allocation, reasons)}
    for o in portfolio.opportunities:
        r = rows[o.id]
        _append(
            by_opportunity,
            [
                r["crm_id"],
                o.id,
                o.account,
                o.customer,
                o.owner,
                o.stage,
                o.tier,
                o.value,
                o.win_probability,
                r["expected_value"],
                r["tier_weighted_expected_value"],
                r["staffed"],
                r["presales_team"],
                r["presales_hours"],
                r["first_week"],
                r["last_week"],
            ],
        )

    unstaffed = book.create_sheet("Unstaffed")
    _append(unstaffed, ["crm_id", "opportunity", "account", "stage", "value", "reason"], True)
    for o in portfolio.opportunities:
        r = rows[o.id]
        if r["staffed"] == "no":
            _append(unstaffed, [r["crm_id"], o.id, o.account, o.stage, o.value, r["reason"]])

    objective = book.create_sheet("Objective")
    _append(objective, ["item", "value", "unit"], True)
    for name, points in allocation.terms.items():
        _append(objective, [name, points, "points"])
    _append(objective, ["objective", allocation.objective, "points"])
    covered = [o for o in portfolio.opportunities if rows[o.id]["staffed"] == "yes"]
    _append(
        objective,
        [
            "expected value covered",
            round(sum(plain_expected_value(o) for o in covered), 2),
            "currency (value x win probability)",
        ],
    )
    _append(
        objective,
        [
            "tier-weighted expected value covered",
            round(sum(expected_value(o, portfolio.policy) for o in covered), 2),
            "currency x tier factor",
        ],
    )
    for key, value in _settings(portfolio.policy).items():
        _append(objective, [key, value, "policy"])
    for warning in allocation.warnings:
        _append(objective, ["warning", warning, ""])
    for sheet in book.worksheets:
        for column in sheet.columns:
            width = max(len(str(c.value or "")) for c in column)
            sheet.column_dimensions[column[0].column_letter].width = min(60, max(10, width + 2))
    return book


def _settings(policy: Policy) -> dict[str, Any]:
    settings = policy.model_dump()
    settings["tier_factors"] = ", ".join(f"{k} {v:g}" for k, v in policy.tier_factors.items())
    return settings


def _append(sheet: Any, values: list[Any], header: bool = False) -> None:
    sheet.append([spreadsheet_safe(v) if isinstance(v, str) else v for v in values])
    if header:
        from openpyxl.styles import Font

        for cell in sheet[sheet.max_row]:
            cell.font = Font(bold=True)


def write_plan_xlsx(
    portfolio: Portfolio, allocation: Allocation, path: str | Path, reasons: Reasons | None = None
) -> Path:
    """Write the plan workbook."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plan_workbook(portfolio, allocation, reasons).save(path)
    return path


def plan_xlsx_bytes(
    portfolio: Portfolio, allocation: Allocation, reasons: Reasons | None = None
) -> bytes:
    """The plan workbook as bytes (for the API)."""
    buffer = io.BytesIO()
    plan_workbook(portfolio, allocation, reasons).save(buffer)
    return buffer.getvalue()


def write_plan_csv(
    portfolio: Portfolio, allocation: Allocation, path: str | Path, reasons: Reasons | None = None
) -> Path:
    """Write the CSV keyed by the CRM id."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(plan_csv(portfolio, allocation, reasons), encoding="utf-8")
    return path
