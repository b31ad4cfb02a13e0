"""The audit ledger's arithmetic: canonical JSON and the SHA-256 hash chain over records.

Pure functions, no storage: `store.py` keeps the records, this module says what a record's
hash is and checks a sequence of them. A record's hash covers its sequence number, kind,
subject, actor, time, canonical content and the previous record's hash, so that changing,
removing or reordering any stored record breaks the chain at that record.

A chain kept in the same database can be rewritten whole from one record on (every hash
recomputed, the head updated): checkpoints catch that. A `Checkpoint` is the head's number
and hash at a time, kept outside the database (`allocator audit checkpoint` appends one to a
file); `verify` checks that the chain still holds each checkpoint's record with that hash.

>>> first = seal(1, "portfolio", 1, "alice", "2026-01-01T00:00:00+00:00", canonical({"a": 1}),
...              GENESIS)
>>> verify([first]).ok
True
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

GENESIS = "0" * 64
"""The `prev_sha256` of the first record."""


def canonical(content: Any) -> str:
    """JSON with sorted keys and no whitespace: the one text a content hashes as."""
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Record:
    """One stored ledger record, as read back from the store."""

    seq: int
    kind: str
    subject_id: int
    actor: str
    recorded_at: str
    content: str
    """Canonical JSON text of the record's content."""
    content_sha256: str
    prev_sha256: str
    sha256: str


def record_hash(
    seq: int,
    kind: str,
    subject_id: int,
    actor: str,
    recorded_at: str,
    content_sha256: str,
    prev_sha256: str,
) -> str:
    """The hash of a record: every column but its own hash, chained to the previous one."""
    header = canonical(
        {
            "seq": seq,
            "kind": kind,
            "subject_id": subject_id,
            "actor": actor,
            "recorded_at": recorded_at,
            "content_sha256": content_sha256,
            "prev_sha256": prev_sha256,
        }
    )
    return sha256(header)


def seal(
    seq: int,
    kind: str,
    subject_id: int,
    actor: str,
    recorded_at: str,
    content: str,
    prev_sha256: str,
) -> Record:
    """A new record, its hashes computed, ready to append after the record `prev_sha256`."""
    content_sha = sha256(content)
    digest = record_hash(seq, kind, subject_id, actor, recorded_at, content_sha, prev_sha256)
    return Record(
        seq, kind, subject_id, actor, recorded_at, content, content_sha, prev_sha256, digest
    )


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head as it was at a time, kept outside the database."""

    at: str
    seq: int
    sha256: str

    def line(self) -> str:
        """The checkpoint as one line of JSON (the checkpoint file holds one per line)."""
        return canonical({"at": self.at, "seq": self.seq, "sha256": self.sha256})

    @classmethod
    def parse(cls, line: str) -> Checkpoint:
        """A checkpoint from its line; ValueError when the line is not one."""
        data = json.loads(line)
        if not isinstance(data, dict) or not isinstance(data.get("seq"), int):
            raise ValueError("not a checkpoint: expected {at, seq, sha256}")
        return cls(str(data.get("at", "")), int(data["seq"]), str(data.get("sha256", "")))


@dataclass(frozen=True)
class Verdict:
    """The outcome of checking the chain: `first_bad` names the first record that fails."""

    ok: bool
    records: int
    head_sha256: str
    first_bad: Record | None = None
    reason: str = ""


def verify(
    records: Iterable[Record],
    head: tuple[int, str] | None = None,
    checkpoints: Sequence[Checkpoint] = (),
) -> Verdict:
    """Recompute the chain over `records` (in sequence order) and name the first bad one.

    `head` is the (seq, sha256) the store recorded as the chain's last record; a chain that
    ends earlier has lost records at its end. Each of `checkpoints` names a record the chain
    must still hold with that hash (a chain rewritten from that record on, head and all,
    fails here).
    """
    pinned: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        pinned.setdefault(checkpoint.seq, []).append(checkpoint)
    prev = GENESIS
    count = 0
    last: Record | None = None
    for record in records:
        count += 1
        expected_seq = 1 if last is None else last.seq + 1
        reason = ""
        if record.seq != expected_seq:
            reason = f"sequence number {record.seq} where {expected_seq} was expected"
        elif record.prev_sha256 != prev:
            reason = "does not link to the record before it (prev_sha256 differs)"
        elif sha256(record.content) != record.content_sha256:
            reason = "content does not match its SHA-256"
        elif (
            record_hash(
                record.seq,
                record.kind,
                record.subject_id,
                record.actor,
                record.recorded_at,
                record.content_sha256,
                record.prev_sha256,
            )
            != record.sha256
        ):
            reason = "fields do not match the record's SHA-256"
        for checkpoint in pinned.get(record.seq, ()):
            if not reason and checkpoint.sha256 != record.sha256:
                reason = (
                    f"differs from the checkpoint of {checkpoint.at} (the chain was rewritten "
                    "from this record or an earlier one on)"
                )
        if reason:
            return Verdict(False, count, prev, record, reason)
        prev = record.sha256
        last = record
    if head is not None and (head[0], head[1]) != ((last.seq if last else 0), prev):
        end = last.seq if last else 0
        reason = f"the chain ends at record {end} but the store's head is record {head[0]}"
        return Verdict(False, count, prev, last, reason)
    end = last.seq if last else 0
    beyond = [c for c in checkpoints if c.seq > end]
    if beyond:
        reason = (
            f"the chain ends at record {end}, but the checkpoint of {beyond[0].at} names "
            f"record {beyond[0].seq}: records were removed"
        )
        return Verdict(False, count, prev, last, reason)
    return Verdict(True, count, prev)
