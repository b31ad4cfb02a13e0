"""The hash chain: every change to a stored record is found, at that record."""

from __future__ import annotations

import dataclasses

from allocator.service.ledger import GENESIS, Record, canonical, seal, verify


def chain(n: int) -> list[Record]:
    records: list[Record] = []
    prev = GENESIS
    for seq in range(1, n + 1):
        content = canonical({"run_id": seq, "objective": 10.5 * seq, "note": "é"})
        record = seal(seq, "run_accepted", seq, "alice", f"2026-01-0{seq}T00:00:00", content, prev)
        records.append(record)
        prev = record.sha256
    return records


def test_canonical_json_sorts_keys_without_whitespace() -> None:
    assert canonical({"b": [1, 2.5], "a": {"d": None, "c": "é"}}) == (
        '{"a":{"c":"é","d":null},"b":[1,2.5]}'
    )


def test_an_untouched_chain_verifies() -> None:
    records = chain(4)
    verdict = verify(records, head=(4, records[-1].sha256))
    assert verdict.ok and verdict.records == 4 and verdict.first_bad is None
    assert verdict.head_sha256 == records[-1].sha256


def test_changed_content_is_named() -> None:
    records = chain(4)
    records[2] = dataclasses.replace(records[2], content=records[2].content.replace("é", "e"))
    verdict = verify(records)
    assert not verdict.ok
    assert verdict.first_bad is not None and verdict.first_bad.seq == 3
    assert verdict.reason == "content does not match its SHA-256"


def test_content_rehashed_by_the_tamperer_still_breaks_the_record_hash() -> None:
    records = chain(3)
    forged = seal(2, "run_accepted", 2, "alice", records[1].recorded_at, "{}", records[0].sha256)
    records[1] = dataclasses.replace(forged, sha256=records[1].sha256)
    verdict = verify(records)
    assert verdict.first_bad is not None and verdict.first_bad.seq == 2
    assert verdict.reason == "fields do not match the record's SHA-256"


def test_a_changed_actor_is_named() -> None:
    records = chain(3)
    records[0] = dataclasses.replace(records[0], actor="mallory")
    verdict = verify(records)
    assert verdict.first_bad is not None and verdict.first_bad.seq == 1
    assert "fields" in verdict.reason


def test_a_resealed_record_breaks_the_link_of_the_next() -> None:
    records = chain(3)
    records[1] = seal(
        2, "run_accepted", 2, "alice", records[1].recorded_at, "{}", records[0].sha256
    )
    verdict = verify(records)
    assert verdict.first_bad is not None and verdict.first_bad.seq == 3
    assert "does not link" in verdict.reason


def test_a_removed_record_is_named() -> None:
    records = chain(4)
    del records[1]
    verdict = verify(records)
    assert verdict.first_bad is not None and verdict.first_bad.seq == 3
    assert verdict.reason == "sequence number 3 where 2 was expected"


def test_records_lost_at_the_end_are_found_through_the_head() -> None:
    records = chain(4)
    verdict = verify(records[:3], head=(4, records[-1].sha256))
    assert not verdict.ok
    assert verdict.reason == "the chain ends at record 3 but the store's head is record 4"


def test_an_empty_chain_verifies() -> None:
    assert verify([], head=(0, GENESIS)).ok
