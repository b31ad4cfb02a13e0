"""The store's audit reads: sealed figures for the rows served, and the whole verify.

- `job_with_seals`: one job's row and the figures of its sealed records in one statement
  (the read behind every poll of a run); `job_seals`: the same for a page of jobs. Figures
  are cached by record number and content hash, so a record is parsed once per process;
- `verify`: the chain (every record's hashes and links, the head, the checkpoints), then every
  mutable row that matters against the records it must agree with: jobs (runs, scenario sets),
  the portfolio index, API keys. The first problem found is the verdict.

Part of the store (it holds SQL); the comparisons are `service.seals`.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Select, and_, bindparam, or_, select

from allocator.errors import NotFoundError
from allocator.service import ledger
from allocator.service.jobs import JobKind, JobState, job_figures
from allocator.service.seals import (
    KEY_RECORDS,
    Seal,
    job_mismatches,
    key_mismatches,
    portfolio_mismatches,
    sealed_figures,
)

if TYPE_CHECKING:
    from allocator.store.repository import Store

CACHE_SIZE = 20_000


def _seal(record_kind: str, seq: int, actor: str, recorded_at: str, content: str) -> Seal:
    try:
        parsed = json.loads(content)
    except ValueError:
        parsed = {}
    figures = sealed_figures(record_kind, parsed if isinstance(parsed, dict) else {})
    return Seal(record_kind, seq, actor, recorded_at, figures)


def seals_by_subject(
    store: Store, connection: Connection, kinds: Sequence[str], subjects: Sequence[int]
) -> dict[int, list[Seal]]:
    """The records of `kinds` about `subjects`, as seals, in order, by subject."""
    from allocator.store.repository import ledger_table as table

    heads = connection.execute(
        select(table.c.seq, table.c.subject_id, table.c.content_sha256)
        .where(table.c.kind.in_(list(kinds)), table.c.subject_id.in_(list(subjects)))
        .order_by(table.c.seq)
    ).all()
    seals = seals_of_heads(store, connection, [(row.seq, row.content_sha256) for row in heads])
    found: dict[int, list[Seal]] = defaultdict(list)
    for head, seal in zip(heads, seals, strict=True):
        found[head.subject_id].append(seal)
    return dict(found)


def seals_of_heads(
    store: Store, connection: Connection, heads: Sequence[tuple[int, str]]
) -> list[Seal]:
    """The seals of the records `heads` (number, content hash), in that order. Kept by both:
    a record is read and parsed once per process, and a record whose content changed since
    (another hash) is read again."""
    from allocator.store.repository import ledger_table as table

    cache: dict[tuple[int, str], Seal] = store.seal_cache
    missing = [seq for seq, sha in heads if (seq, sha) not in cache]
    if missing:
        if len(cache) > CACHE_SIZE:
            cache.clear()
        for row in connection.execute(
            select(
                table.c.seq,
                table.c.kind,
                table.c.actor,
                table.c.recorded_at,
                table.c.content,
                table.c.content_sha256,
            ).where(table.c.seq.in_(missing))
        ):
            seal = _seal(row.kind, row.seq, row.actor, row.recorded_at, row.content)
            cache[(row.seq, row.content_sha256)] = seal
    return [cache[head] for head in heads]


@functools.cache
def _job_with_heads(kind: JobKind) -> Select[Any]:
    """The statement of `job_with_seals` for jobs of `kind`, built once (building it is
    most of a read's cost): the job row's columns and the number and content hash of each of
    its accepted and finished records (the ledger's index on kind and subject), by seq."""
    from allocator.store.repository import JOB_STATE_COLUMNS, jobs, ledger_table

    record = ledger_table.c
    kinds = kind.ledger_kinds or ("", "")
    return (
        select(
            *JOB_STATE_COLUMNS,
            record.seq.label("sealed_seq"),
            record.content_sha256.label("sealed_sha256"),
        )
        .select_from(
            jobs.outerjoin(
                ledger_table,
                and_(
                    record.subject_id == jobs.c.number,
                    or_(record.kind == kinds[0], record.kind == kinds[1]),
                ),
            )
        )
        .where(jobs.c.kind == kind.value, jobs.c.number == bindparam("number"))
        .order_by(record.seq)
    )


def job_with_seals(store: Store, kind: JobKind, number: int) -> tuple[JobState, list[Seal]]:
    """A job's row and the seals of its records (accepted, finished), in one statement and
    one snapshot (a run that ends between two reads cannot look tampered with); their figures
    come from the cache (`seals_of_heads`: a record is read only the first time this process
    sees it). A poll of a run is one round trip to the database."""
    from allocator.store.repository import _job

    def read(connection: Connection) -> tuple[JobState, list[Seal]]:
        rows = connection.execute(_job_with_heads(kind), {"number": number}).all()
        if not rows:
            raise NotFoundError(f"{kind.label} {number} does not exist")
        heads = [(row.sealed_seq, row.sealed_sha256) for row in rows if row.sealed_seq is not None]
        return _job(rows[0]), seals_of_heads(store, connection, heads)

    return store.read(read)


def job_seals(store: Store, kind: JobKind, numbers: Sequence[int]) -> dict[int, list[Seal]]:
    """The seals of jobs `numbers`. An ended job's seals are kept after the first read: its
    records cannot legitimately change any more (verify still reads the ledger itself), so a
    job polled after it ended costs one read, its row, compared with them in memory."""
    kinds = kind.ledger_kinds
    if not kinds or not numbers:
        return {}
    kept = store.ended_seals
    found = {n: kept[(kind.value, n)] for n in numbers if (kind.value, n) in kept}
    missing = [n for n in numbers if n not in found]
    if missing:
        with store.engine.connect() as connection:
            fetched = seals_by_subject(store, connection, kinds, missing)
        if len(kept) > CACHE_SIZE:
            kept.clear()
        for number, seals in fetched.items():
            if any(seal.kind == kinds[1] for seal in seals):
                kept[(kind.value, number)] = seals
        found.update(fetched)
    return found


def portfolio_problems(store: Store, connection: Connection, row: Any) -> list[str]:
    """What differs between a portfolio's index row and its sealed record."""
    from allocator.store.repository import ledger_table

    found = seals_by_subject(store, connection, ["portfolio"], [row.id]).get(row.id, [])
    seal = found[0] if len(found) == 1 and found[0].seq == row.ledger_seq else None
    sha = ""
    if seal is not None:
        sha = connection.execute(
            select(ledger_table.c.content_sha256).where(ledger_table.c.seq == seal.seq)
        ).scalar_one()
    return portfolio_mismatches(portfolio_row_figures(row), seal, sha)


def portfolio_row_figures(row: Any) -> dict[str, Any]:
    """The figures of a `portfolios` index row that its sealed record fixes."""
    return {
        "name": row.name,
        "engineers": row.engineers,
        "opportunities": row.opportunities,
        "demands": row.demands,
        "created_by": row.created_by,
        "content_sha256": row.content_sha256,
    }


def verify(store: Store, checkpoints: Sequence[ledger.Checkpoint]) -> ledger.Verdict:
    """The chain, the checkpoints, then every row against its sealed records."""
    from allocator.store.repository import ledger_head, ledger_table

    columns = [ledger_table.c[name] for name in ledger.Record.__dataclass_fields__]
    seals: dict[tuple[str, int], list[Seal]] = defaultdict(list)
    sealed_sha: dict[int, str] = {}

    def records(rows: Any) -> Iterator[ledger.Record]:
        for row in rows:
            record = ledger.Record(*row)
            seal = _seal(record.kind, record.seq, record.actor, record.recorded_at, record.content)
            seals[(record.kind, record.subject_id)].append(seal)
            if record.kind == "portfolio":
                sealed_sha[record.seq] = record.content_sha256
            yield record

    with store.engine.connect() as connection:
        head = connection.execute(select(ledger_head.c.seq, ledger_head.c.sha256)).one()
        rows = connection.execution_options(yield_per=200).execute(
            select(*columns).order_by(ledger_table.c.seq)
        )
        verdict = ledger.verify(
            records(rows), head=(head.seq, head.sha256), checkpoints=checkpoints
        )
        if not verdict.ok:
            return verdict
        problem = _rows(store, connection, seals, sealed_sha)
    if problem:
        return ledger.Verdict(False, verdict.records, verdict.head_sha256, None, problem)
    return verdict


def _rows(
    store: Store,
    connection: Connection,
    seals: dict[tuple[str, int], list[Seal]],
    sealed_sha: dict[int, str],
) -> str:
    """The first row that does not match its sealed records, said in one line; '' if none."""
    from allocator.store.repository import _job, api_keys, jobs, portfolios

    audited = [kind.value for kind in JobKind if kind.ledger_kinds]
    for row in connection.execute(
        select(jobs).where(jobs.c.kind.in_(audited)).order_by(jobs.c.kind, jobs.c.number)
    ):
        job = _job(row)
        kinds = job.kind.ledger_kinds
        assert kinds is not None
        accepted = seals.get((kinds[0], job.id), [])
        finished = seals.get((kinds[1], job.id), [])
        _, problems = job_mismatches(job_figures(job), job.status.ended, accepted, finished)
        if problems:
            return f"{job.label}: its jobs row does not match its sealed records: {problems[0]}"
    for row in connection.execute(select(portfolios).order_by(portfolios.c.id)):
        found = seals.get(("portfolio", row.id), [])
        seal = found[0] if len(found) == 1 and found[0].seq == row.ledger_seq else None
        sha = sealed_sha.get(seal.seq, "") if seal else ""
        problems = portfolio_mismatches(portfolio_row_figures(row), seal, sha)
        if problems:
            return (
                f"portfolio {row.id}: its index row does not match its sealed record: {problems[0]}"
            )
    for row in connection.execute(select(api_keys).order_by(api_keys.c.id)):
        history = sorted(
            (seal for kind in KEY_RECORDS for seal in seals.get((kind, row.id), [])),
            key=lambda seal: seal.seq,
        )
        problems = key_mismatches(key_row_figures(row), history)
        if problems:
            return f"API key {row.name!r}: its row does not match its sealed records: {problems[0]}"
    return ""


def key_row_figures(row: Any) -> dict[str, Any]:
    """The figures of an `api_keys` row that its sealed records fix."""
    figures = {
        "name": row.name,
        "role": row.role,
        "key_sha256": row.key_sha256,
        "revoked": row.revoked_at is not None,
    }
    team = getattr(row, "team", None)
    if team is not None:
        figures["team"] = team
    return figures
