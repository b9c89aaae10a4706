"""The chain's verdict against an oracle, and the SQL store's chunked verify against the
walk over a whole instance.

An instance is intact exactly when hashing its stored bodies afresh, from the genesis
hash, gives back every stored row and the head row (the brute-force oracle below, which
shares nothing with :class:`~statewright.generator.runtime.chain.Walk` but the hash
function). Random tampering (rows removed, swapped, renumbered, rewritten with or without
a recomputed hash, the head row moved) must get the oracle's verdict from
:func:`check_chain`, and ``SqlStore.verify`` (which reads every instance a chunk at a time)
must name the same problem as :func:`check_chain` over the instance read whole.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statewright.generator.runtime import sqlstore
from statewright.generator.runtime.chain import GENESIS, canonical, check_chain, link, started
from statewright.generator.runtime.store import SqlStore, StoredInstance, StoredRecord, StoreHead

M, ID = "orders", "i-1"
STATES = ("A", "B", "C")


def oracle(stored: StoredInstance) -> bool:
    """Whether ``stored`` is intact: its bodies hashed afresh give back every row."""
    prev = GENESIS
    for number, entry in enumerate(stored.entries, start=1):
        digest = hashlib.sha256(f"{len(M)}:{M}{len(ID)}:{ID}{prev}{entry.body}".encode())
        try:
            record = json.loads(entry.body)
        except ValueError:
            return False
        if (entry.seq, entry.prev, entry.hash) != (number, prev, digest.hexdigest()):
            return False
        if not isinstance(record, dict) or record.get("seq") != number:
            return False
        prev = entry.hash
    if (stored.seq, stored.head_hash) != (len(stored.entries), prev):
        return False
    last = json.loads(stored.entries[-1].body) if stored.entries else {}
    return "to_state" not in last or stored.head.state == last["to_state"]


@st.composite
def instances(draw: st.DrawFn) -> StoredInstance:
    """An intact instance of 0 to 8 records, then 0 to 3 random tamperings."""
    states = draw(st.lists(st.sampled_from(STATES), max_size=8))
    records = [{"seq": n, "to_state": s} for n, s in enumerate(states, start=1)]
    row, written = started(M, ID, StoreHead(states[-1] if states else "A", None), records)
    entries = list(written)
    head = row
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(
            st.sampled_from(["drop", "swap", "renumber", "body", "rehash", "head", "forge"])
        )
        if kind == "forge":  # the head row set to what the rows now end with
            last = json.loads(entries[-1].body) if entries else {"to_state": "A"}
            head = dataclasses.replace(
                head,
                head=StoreHead(str(last.get("to_state")), None),
                seq=len(entries),
                head_hash=entries[-1].hash if entries else GENESIS,
            )
            continue
        if kind == "head":
            head = dataclasses.replace(
                head,
                head=StoreHead(draw(st.sampled_from(STATES)), None),
                seq=draw(st.integers(0, 9)),
                head_hash=draw(st.sampled_from([head.head_hash, GENESIS, "f" * 64])),
            )
            continue
        if not entries:
            continue
        at = draw(st.integers(0, len(entries) - 1))
        entry = entries[at]
        if kind == "drop":
            del entries[at]
        elif kind == "swap":
            other = draw(st.integers(0, len(entries) - 1))
            entries[at], entries[other] = entries[other], entry
        elif kind == "renumber":
            entries[at] = dataclasses.replace(entry, seq=draw(st.integers(0, 9)))
        else:  # another record in its place, its hash recomputed or left
            body = canonical(
                {"seq": draw(st.integers(0, 9)), "to_state": draw(st.sampled_from(STATES))}
            )
            digest = link(M, ID, entry.prev, body) if kind == "rehash" else entry.hash
            entries[at] = dataclasses.replace(entry, body=body, hash=digest)
    return dataclasses.replace(head, entries=tuple(entries))


@settings(max_examples=1000)
@given(instances())
def test_the_walk_agrees_with_the_oracle(stored: StoredInstance) -> None:
    problem = check_chain(M, ID, stored)
    assert (problem is None) == oracle(stored), problem
    if problem is not None:
        assert 0 <= problem.seq <= max(len(stored.entries), stored.seq) + 1


def sql_rows(path: Path, stored: StoredInstance) -> None:
    """Store ``stored`` as its rows, tampered or not (unique record numbers only)."""
    store = SqlStore.sqlite(str(path))
    store.close()
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("DELETE FROM statewright_records")
    connection.execute("DELETE FROM statewright_instances")
    head = stored.head
    connection.execute(
        "INSERT INTO statewright_instances (machine, instance_id, seq, head, version, state,"
        " deadline) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (M, ID, stored.seq, stored.head_hash, stored.version, head.state, head.deadline),
    )
    connection.executemany(
        "INSERT INTO statewright_records VALUES (?, ?, ?, ?, ?, ?)",
        [(M, ID, e.seq, e.body, e.prev, e.hash) for e in stored.entries],
    )
    connection.close()


@pytest.mark.parametrize("chunk", [2, 1000])
def test_sql_verify_names_what_the_whole_walk_names(
    chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlstore, "CHUNK", chunk)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "store.sqlite"

        @settings(max_examples=60, deadline=None)
        @given(instances())
        def check(stored: StoredInstance) -> None:
            if len({entry.seq for entry in stored.entries}) < len(stored.entries):
                return  # the records' primary key holds each number once
            ordered = tuple(sorted(stored.entries, key=lambda entry: entry.seq))
            as_read: Any = dataclasses.replace(stored, entries=ordered)  # by seq, as SQL reads
            sql_rows(path, stored)
            store = SqlStore.sqlite(str(path))
            try:
                found = store.verify()
                walked: list[dict[str, Any]] = []
                expected = check_chain(M, ID, as_read, visit=walked.append)
                assert found == ([] if expected is None else [expected])
                if expected is None:
                    assert [r["seq"] for r in walked] == [e.seq for e in ordered]
            finally:
                store.close()

        check()


def test_a_stored_record_is_the_canonical_json_hashed_after_its_owner() -> None:
    """The bytes hashed, spelled out: owner as length-prefixed names, previous hash, body."""
    _, (entry,) = started(M, ID, StoreHead("A", None), [{"seq": 1, "é": [1.5, None]}])
    assert entry == StoredRecord(
        1,
        '{"seq":1,"é":[1.5,null]}',
        GENESIS,
        hashlib.sha256(f'6:orders3:i-1{GENESIS}{{"seq":1,"é":[1.5,null]}}'.encode()).hexdigest(),
    )
