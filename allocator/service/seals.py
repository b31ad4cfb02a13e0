"""What the mutable rows must agree with in the sealed ledger: jobs, portfolios, keys.

The ledger's chain proves its records unchanged; the rows beside it (`jobs`, `portfolios`,
`api_keys`) are mutable and are what lists and views read. This module says, for each kind of
row, which of its figures a sealed record fixes, and names every figure that differs:

- a job (run, scenario set): submitter, submission time and the accepted parameters (week,
  portfolio, time limit, seed...) from its accepted record; status, attempt, start and end
  times, solve status and objective from its finished record (a job whose row says it still
  runs while a finished record exists is named too);
- a portfolio's index row: name, counts, content hash and uploader from its `portfolio`
  record;
- an API key: name, role, team and hash from its `key_created` record and the `key_changed`
  records after it, revocation from `key_revoked`.

`sealed_figures` extracts the small set of figures from one record's content (so a cache
holds figures, never contents); the `*_mismatches` functions compare. Pure: no storage, no
solver; the store (verify) and the job service (reads) call it.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from allocator.errors import AllocatorError

KEY_CREATED = "key_created"
KEY_CHANGED = "key_changed"
KEY_REVOKED = "key_revoked"
KEY_RECORDS = (KEY_CREATED, KEY_CHANGED, KEY_REVOKED)


class SealMismatchError(AllocatorError):
    """A stored row does not match the sealed record it must agree with (HTTP 409): someone
    changed the database past the application; `allocator audit verify` names every such row."""


@dataclass(frozen=True)
class Seal:
    """One sealed record of a subject, reduced to the figures rows are checked against."""

    kind: str
    seq: int
    actor: str
    recorded_at: str
    figures: Mapping[str, Any]


def sealed_figures(kind: str, content: Mapping[str, Any]) -> dict[str, Any]:
    """The figures of a record's content that rows must agree with (see the module doc); only
    those the content has."""
    found: dict[str, Any] = {}
    if kind.endswith("_accepted"):
        parameters = content.get("parameters")
        parameters = parameters if isinstance(parameters, Mapping) else {}
        portfolio = content.get("portfolio")
        names = ("submitted_by", "submitted_at", "week", "portfolio_id")
        found = {k: content[k] for k in (*names, "previous_run_id", "base_run_id") if k in content}
        found.update({k: parameters[k] for k in ("time_limit", "seed") if k in parameters})
        if isinstance(portfolio, Mapping) and "name" in portfolio:
            found["portfolio_name"] = portfolio["name"]
    elif kind.endswith("_finished"):
        names = ("status", "attempt", "started_at", "finished_at")
        found = {k: content[k] for k in names if k in content}
        result = content.get("result")
        if isinstance(result, Mapping):
            sealed = {"result_status": "status", "objective": "objective"}
            found.update({k: result[v] for k, v in sealed.items() if v in result})
        elif "result" in content:  # Ended without one.
            found.update({"result_status": None, "objective": None})
    elif kind == "portfolio":
        found = {k: content[k] for k in ("name",) if k in content}
        for name in ("engineers", "opportunities", "demands"):
            if isinstance(content.get(name), list):
                found[name] = len(content[name])
    elif kind in KEY_RECORDS:
        found = {k: content[k] for k in ("name", "role", "team", "key_sha256") if k in content}
    for name in TIMES:  # Parsed once here, not at every comparison.
        if isinstance(found.get(name), str):
            with contextlib.suppress(ValueError):  # Kept as text: it differs from any time.
                found[name] = _instant(found[name])
    return found


TIMES = ("submitted_at", "started_at", "finished_at")


def _same(row: Any, sealed: Any) -> bool:
    if isinstance(row, datetime) or isinstance(sealed, datetime):
        return _instant(row) == _instant(sealed)
    if isinstance(row, float | int) and isinstance(sealed, float | int):
        return math.isclose(float(row), float(sealed), rel_tol=1e-12, abs_tol=1e-9)
    return bool(row == sealed)


def _instant(value: Any) -> datetime | None:
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _show(value: Any) -> str:
    return value.isoformat() if isinstance(value, datetime) else repr(value)


def differences(row: Mapping[str, Any], sealed: Mapping[str, Any]) -> list[str]:
    """`field: <row> in the database, <sealed> sealed` for each field both name that differs."""
    found = []
    for name, value in sealed.items():
        if name in row and not _same(row[name], value):
            found.append(f"{name}: {_show(row[name])} in the database, {_show(value)} sealed")
    return found


def job_mismatches(
    row: Mapping[str, Any], ended: bool, accepted: Sequence[Seal], finished: Sequence[Seal]
) -> tuple[dict[str, Any], list[str]]:
    """The sealed values of a job's figures (to serve instead of the row's) and what differs.
    `row` holds the job row's figures by the names `sealed_figures` uses."""
    problems: list[str] = []
    values: dict[str, Any] = {}
    if len(accepted) != 1:
        problems.append(f"{len(accepted)} accepted records are sealed for it, not 1")
    if len(finished) > 1:
        problems.append(f"{len(finished)} finished records are sealed for it")
    for seal in (*accepted[:1], *finished[:1]):
        values.update(seal.figures)
    if finished and not ended:
        problems.append(
            f"status: {row.get('status')!r} in the database, but a finished record "
            f"({finished[0].figures.get('status')!r}) is sealed"
        )
    elif ended and not finished:
        problems.append(f"status: {row.get('status')!r} in the database, no finished record")
    if not finished:  # Only the accepted figures are sealed while a job runs.
        values = {k: v for k, v in values.items() if k in accepted[0].figures} if accepted else {}
    problems += differences(row, values)
    return values, problems


def portfolio_mismatches(row: Mapping[str, Any], seal: Seal | None, sha256: str) -> list[str]:
    """What differs between a portfolio's index row and its sealed `portfolio` record."""
    if seal is None:
        return ["no portfolio record is sealed for it"]
    sealed = {**seal.figures, "created_by": seal.actor, "content_sha256": sha256}
    return differences(row, sealed)


def key_state(history: Sequence[Seal]) -> dict[str, Any] | None:
    """A key's sealed state after its records in order: name, role, team, hash, revoked."""
    state: dict[str, Any] | None = None
    for seal in history:
        if seal.kind == KEY_CREATED:
            state = {**seal.figures, "revoked": False}
        elif state is not None and seal.kind == KEY_CHANGED:
            state.update(seal.figures)
        elif state is not None and seal.kind == KEY_REVOKED:
            state["revoked"] = True
    return state


def key_mismatches(row: Mapping[str, Any], history: Sequence[Seal]) -> list[str]:
    """What differs between an `api_keys` row and the sealed history of that key."""
    state = key_state(history)
    if state is None:
        return ["no key_created record is sealed for it"]
    return differences(row, state)
