"""``SqlStore.scan`` reads a whole store in key order and verifies every instance as it
goes (what ``audit check`` reads). Held here against a second, plain implementation of
an intact chain written in the test (hashes recomputed with hashlib over the rows as
SQL returns them), on stores with random instances and random tampering, on SQLite and
PostgreSQL, with the chunk and head-batch sizes shrunk so that every boundary is crossed;
and on SQLite, every query a scan runs searches an index (none reads a table through)."""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from storekit import SQL_BACKENDS, Backend, backend_fixture

from statewright.generator.runtime import sqlstore
from statewright.generator.runtime.chain import ChainProblem
from statewright.generator.runtime.store import SqlStore, StoreHead

sql_backend = backend_fixture(SQL_BACKENDS)
MACHINES = ("alpha", "beta")
STATES = ("OPEN", "BUSY", "DONE")


def record(seq: int, rng: random.Random) -> dict[str, Any]:
    return {
        "seq": seq,
        "event": "created" if seq == 1 else "transition",
        "to_state": rng.choice(STATES),
        "at": f"2026-03-01T09:{seq % 60:02d}:00+00:00",
        "note": rng.choice(["", "é ✓", 'a "quoted" word', "x" * rng.randint(0, 40)]),
    }


def fill(store: SqlStore, rng: random.Random, instances: int) -> None:
    """``instances`` instances over two machines, 0 to 5 records each (a few appended
    later, so chains span writes)."""
    for n in range(instances):
        machine = MACHINES[n % 2]
        records = [record(seq, rng) for seq in range(1, rng.randint(0, 5) + 1)]
        head = StoreHead(records[-1]["to_state"] if records else "OPEN", None)
        split = rng.randint(0, len(records))
        store.create(machine, f"i-{n:04d}", StoreHead(head.state, None), records[:split])
        if split < len(records):
            store.append(machine, f"i-{n:04d}", 0, head, records[split:])


def owner(machine: str, instance_id: str) -> str:
    return f"{len(machine)}:{machine}{len(instance_id)}:{instance_id}"


def reformatted(body: str) -> str:
    """The same JSON, laid out another way (spaces after separators, a newline)."""
    return json.dumps(json.loads(body), indent=1, sort_keys=True, ensure_ascii=False)


def tamper(backend: Backend, rng: random.Random) -> list[str]:
    """Attacks on random instances behind the store's back; what was done."""
    rows = backend.execute(
        "SELECT machine, instance_id, seq, body, prev, hash FROM statewright_records"
    )
    done: list[str] = []
    for kind in rng.sample(
        ["body", "spaces", "delete", "head", "state", "swap", "resealed"] * 3, 12
    ):
        machine, instance_id, seq, body, prev, _ = rng.choice(rows)
        key = (machine, instance_id, seq)
        where = " WHERE machine = ? AND instance_id = ? AND seq = ?"
        if kind == "body":  # a value edited
            edited = body.replace('"seq":', '"seq" :', 1).replace("2026", "2025")
            backend.execute("UPDATE statewright_records SET body = ?" + where, (edited, *key))
        elif kind == "spaces":  # whitespace only: the same JSON value, other bytes
            backend.execute(
                "UPDATE statewright_records SET body = ?" + where, (reformatted(body), *key)
            )
        elif kind == "delete":
            backend.execute("DELETE FROM statewright_records" + where, key)
        elif kind == "head":
            backend.execute(
                "DELETE FROM statewright_instances WHERE machine = ? AND instance_id = ?",
                key[:2],
            )
        elif kind == "state":
            backend.execute(
                "UPDATE statewright_instances SET state = 'ELSEWHERE'"
                " WHERE machine = ? AND instance_id = ?",
                key[:2],
            )
        elif kind == "swap":
            backend.execute(
                "UPDATE statewright_records SET seq = -seq" + where, key
            )  # out of the way, then back as another number
            backend.execute(
                "UPDATE statewright_records SET seq = ? WHERE machine = ? AND instance_id = ?"
                " AND seq = ?",
                (seq + 100, machine, instance_id, -seq),
            )
        elif kind == "resealed" and seq == 1:
            # a body in another layout with its hash made over that text, and the
            # chain after it resealed: what a writer that stored other text would leave
            text = reformatted(body)
            fresh = hashlib.sha256(f"{owner(machine, instance_id)}{prev}{text}".encode())
            chain = [(seq, text, prev, fresh.hexdigest())]
            later = backend.execute(
                "SELECT seq, body FROM statewright_records WHERE machine = ? AND instance_id = ?"
                " AND seq > ? ORDER BY seq",
                key,
            )
            for number, after in later:
                link = f"{owner(machine, instance_id)}{chain[-1][3]}{after}"
                chain.append(
                    (number, after, chain[-1][3], hashlib.sha256(link.encode()).hexdigest())
                )
            for number, text, before, sealed in chain:
                backend.execute(
                    "UPDATE statewright_records SET body = ?, prev = ?, hash = ?" + where,
                    (text, before, sealed, machine, instance_id, number),
                )
            backend.execute(
                "UPDATE statewright_instances SET head = ? WHERE machine = ? AND instance_id = ?",
                (chain[-1][3], machine, instance_id),
            )
        done.append(f"{kind} {machine} {instance_id} {seq}")
    return done


def expected(backend: Backend, machine: str | None) -> list[tuple[str, str, Any]]:
    """What a scan must give, worked out here: each instance that has records, in key
    order, with its records if its chain and head row are intact, else None."""
    heads = {
        (m, i): (seq, head, state)
        for m, i, seq, head, state in backend.execute(
            "SELECT machine, instance_id, seq, head, state FROM statewright_instances"
        )
    }
    grouped: dict[tuple[str, str], list[tuple[int, str, str, str]]] = {}
    for m, i, seq, body, prev, digest in backend.execute(
        "SELECT machine, instance_id, seq, body, prev, hash FROM statewright_records"
    ):
        grouped.setdefault((m, i), []).append((seq, body, prev, digest))
    found: list[tuple[str, str, Any]] = []
    for key in sorted(grouped):
        if machine is not None and key[0] != machine:
            continue
        records: list[dict[str, Any]] = []
        last = "0" * 64
        intact = True
        for number, (seq, body, prev, digest) in enumerate(sorted(grouped[key]), start=1):
            text = f"{owner(*key)}{prev}{body}"
            if seq != number or prev != last or hashlib.sha256(text.encode()).hexdigest() != digest:
                intact = False
                break
            value = json.loads(body)
            if type(value.get("seq")) is not int or value["seq"] != number:
                intact = False
                break
            records.append(value)
            last = digest
        head = heads.get(key)
        intact = (
            intact
            and head is not None
            and head[0] == len(records)
            and head[1] == last
            and head[2] == records[-1]["to_state"]
        )
        found.append((*key, records if intact else None))
    return found


def scanned(store: SqlStore, machine: str | None) -> list[tuple[str, str, Any]]:
    return [
        (m, i, None if isinstance(found, ChainProblem) else found)
        for m, i, found in store.scan(machine)
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("sizes", [(1000, 200), (7, 3), (1, 1)])
def test_scan_is_the_plain_definition_of_intact(
    sql_backend: Backend, monkeypatch: pytest.MonkeyPatch, seed: int, sizes: tuple[int, int]
) -> None:
    rng = random.Random(seed)
    store = sql_backend.open()
    fill(store, rng, 90 if sizes[0] < 10 else 450)
    done = tamper(sql_backend, rng)
    monkeypatch.setattr(sqlstore, "CHUNK", sizes[0])
    monkeypatch.setattr(sqlstore, "_HEADS_AT_ONCE", sizes[1])
    for machine in (None, *MACHINES):
        want = expected(sql_backend, machine)
        assert scanned(store, machine) == want, done
        assert any(found is None for *_, found in want)  # the tampering is there to find
    assert sum(found is None for *_, found in expected(sql_backend, None)) >= 6, done


def test_whitespace_is_caught_and_a_resealed_layout_reads(tmp_path: Path) -> None:
    """The hash is over the body's text as stored: new spaces in a canonical body are an
    alteration, though the JSON value is the same; a body stored in another layout with
    its hash over that text is intact, and read as its JSON value."""
    path = tmp_path / "store.sqlite"
    store = SqlStore.sqlite(str(path))
    rng = random.Random(5)
    records = [record(seq, rng) for seq in (1, 2, 3)]
    store.create("alpha", "a", StoreHead(records[-1]["to_state"], None), records)
    store.create("alpha", "b", StoreHead(records[-1]["to_state"], None), records)
    connection = sqlite3.connect(path)
    (body,) = connection.execute(
        "SELECT body FROM statewright_records WHERE instance_id = 'a' AND seq = 2"
    ).fetchone()
    connection.execute(
        "UPDATE statewright_records SET body = ? WHERE instance_id = 'a' AND seq = 2",
        (reformatted(body),),
    )
    rows = connection.execute(
        "SELECT seq, body FROM statewright_records WHERE instance_id = 'b' ORDER BY seq"
    ).fetchall()
    prev = "0" * 64
    for seq, text in rows:
        text = reformatted(text)
        digest = hashlib.sha256(f"{owner('alpha', 'b')}{prev}{text}".encode()).hexdigest()
        connection.execute(
            "UPDATE statewright_records SET body = ?, prev = ?, hash = ?"
            " WHERE instance_id = 'b' AND seq = ?",
            (text, prev, digest, seq),
        )
        prev = digest
    connection.execute("UPDATE statewright_instances SET head = ? WHERE instance_id = 'b'", (prev,))
    connection.commit()
    connection.close()
    (_, _, problem), (_, _, read) = store.scan()
    assert isinstance(problem, ChainProblem)
    assert (problem.seq, problem.kind) == (2, "altered")
    assert read == records
    store.close()


def test_every_query_of_a_scan_searches_an_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many instances a store holds, a scan reads a chunk of records or a batch
    of head rows per query by a search of the primary key, with a machine or without:
    no query reads a table through (one did, once per 200 instances, for the head rows;
    and with a machine, every chunk of records read the machine's from its first)."""
    path = tmp_path / "store.sqlite"
    store = SqlStore.sqlite(str(path))
    fill(store, random.Random(9), 300)
    monkeypatch.setattr(sqlstore, "CHUNK", 50)
    statements: list[str] = []
    store._connection.set_trace_callback(statements.append)  # type: ignore[attr-defined]
    for machine in (None, "alpha"):
        statements.clear()
        runs = list(store.scan(machine))
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        rows = sum(len(found) for *_, found in runs if isinstance(found, list))
        instances = len(store.instances(machine))
        assert 100 < len(runs) <= instances
        chunks = [s for s in selects if "statewright_records" in s]
        heads = [s for s in selects if "statewright_instances" in s]
        assert len(chunks) == rows // 50 + 1  # the last one short
        assert len(heads) <= -(-instances // 200) + 1
        plain = sqlite3.connect(path)
        for statement in selects:
            plan = plain.execute(f"EXPLAIN QUERY PLAN {statement}").fetchall()
            details = [str(row[-1]) for row in plan]
            # a search of the index, or its first LIMIT rows in its order: no table scan
            assert all("INDEX" in d for d in details), (statement, details)
        plain.close()
    store.close()
