"""The audit log is the truth: a store verifies an instance's chain and head row when it
loads it, and ``audit verify`` recomputes every head row from the records. Each attack is
made behind the store's back, on memory, a SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import dataclasses
import importlib
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from storekit import SQL_BACKENDS, TICKET_SPEC, Backend, backend_fixture, generate_runtime
from test_runtime_kit import Clock

from statewright.generator.commands.audit import audit_command
from statewright.generator.runtime import chain, sqlstore
from statewright.generator.runtime import store as S

backend = backend_fixture(("memory", *SQL_BACKENDS))
sql_backend = backend_fixture(SQL_BACKENDS)
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
ROWS = "statewright_instances"
RECORDS = "statewright_records"


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("runtime"))[0]


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "ticket.yaml").write_text(TICKET_SPEC)
    return folder


def lead(rt: Any, name: str = "ann") -> Any:
    return rt.Actor(name, frozenset({"lead"}))


def in_review(rt: Any, store: Any, instance_id: str = "t-1") -> Any:
    """A ticket waiting for review (records 1 to 3), its one-hour timeout pending."""
    machine = rt.Ticket.create(store, instance_id, clock=Clock(START))
    machine.start()
    machine.submit()
    return machine


class Tamperer:
    """Whoever writes the database behind the store's back: raw SQL, or for a memory
    store its dictionaries."""

    def __init__(self, backend: Backend, store: Any) -> None:
        self.backend, self.store = backend, store

    def set_row(self, instance_id: str, **columns: Any) -> None:
        """Overwrite columns of the instance's head row (``state``, ``deadline``, ``seq``,
        ``head``)."""
        if self.backend.name == "memory":
            key = ("ticket", instance_id)
            held = self.store._instances[key]
            head = dataclasses.replace(
                held.head,
                state=columns.pop("state", held.head.state),
                deadline=columns.pop("deadline", held.head.deadline),
            )
            renamed = {"head_hash" if k == "head" else k: v for k, v in columns.items()}
            self.store._instances[key] = dataclasses.replace(held, head=head, **renamed)
            return
        names = ", ".join(f"{name} = ?" for name in columns)
        self.backend.execute(
            f"UPDATE {ROWS} SET {names} WHERE instance_id = ?", (*columns.values(), instance_id)
        )

    def records(self, instance_id: str) -> list[Any]:
        if self.backend.name == "memory":
            return list(self.store._records["ticket", instance_id])
        rows = self.backend.execute(
            f"SELECT seq, body, prev, hash FROM {RECORDS} WHERE instance_id = ? ORDER BY seq",
            (instance_id,),
        )
        return [S.StoredRecord(int(r[0]), r[1], r[2], r[3]) for r in rows]

    def set_record(self, instance_id: str, entry: Any) -> None:
        """Store ``entry`` under its seq, replacing any record there."""
        if self.backend.name == "memory":
            held = self.store._records["ticket", instance_id]
            if entry.seq <= len(held):
                held[entry.seq - 1] = entry
            else:
                held.append(entry)
            return
        self.backend.execute(
            f"DELETE FROM {RECORDS} WHERE instance_id = ? AND seq = ?", (instance_id, entry.seq)
        )
        self.backend.execute(
            f"INSERT INTO {RECORDS} (machine, instance_id, seq, body, prev, hash)"
            " VALUES ('ticket', ?, ?, ?, ?, ?)",
            (instance_id, entry.seq, entry.body, entry.prev, entry.hash),
        )


def audit(target: str, specs: Path | None) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    status = audit_command(target, stdout=out, stderr=err, specs=[] if specs is None else [specs])
    return status, out.getvalue() + err.getvalue()


def forged_approval(rt: Any, records: list[Any], actor: str = "cto") -> dict[str, Any]:
    """The record of an approval by ``actor`` following ``records`` (in review)."""
    last = json.loads(records[-1].body)
    return {
        **last,
        "seq": len(records) + 1,
        "at": (START + timedelta(minutes=5)).isoformat(),
        "event": "transition",
        "from_state": "REVIEW",
        "to_state": "WORKING",
        "trigger": "approve",
        "actor": actor,
        "decision": "ship it",
        "reason": None,
        "rollback_to": None,
        "data": None,
    }


# -- the instance row is derived data ---------------------------------------------------


def test_a_row_update_is_reported_by_audit_verify(
    rt: Any, sql_backend: Backend, specs: Path
) -> None:
    store = sql_backend.open(rt)
    in_review(rt, store)
    in_review(rt, store, "bystander")
    sql_backend.execute(
        f"UPDATE {ROWS} SET state = 'DONE', deadline = NULL WHERE instance_id = 't-1'"
    )
    status, out = audit(sql_backend.target, specs)
    assert status == 1
    assert (
        "ticket 't-1' record 3: altered: the instance row says state 'DONE', deadline None; "
        "its records give 'REVIEW', deadline 2026-03-01T10:00:00.000000Z"
    ) in out
    assert "bystander" not in out
    assert out.endswith("audit verify: 1 broken chain(s)\n")
    # without the spec the state is still recomputed; the deadline cannot be, and it says so
    other = specs.parent / "other.yaml"
    other.write_text(TICKET_SPEC.replace("machine: ticket", "machine: other"))
    status, out = audit(sql_backend.target, other)
    assert status == 1
    assert "the instance row says state 'DONE'" in out
    assert "ticket: deadlines not recomputed: no spec of this machine (pass --specs)" in out


def test_a_deadline_update_is_reported_with_the_spec(
    rt: Any, sql_backend: Backend, specs: Path
) -> None:
    in_review(rt, sql_backend.open(rt))
    assert audit(sql_backend.target, specs)[0] == 0
    for deadline in (None, "2099-01-01T00:00:00.000000Z"):
        sql_backend.execute(f"UPDATE {ROWS} SET deadline = ?", (deadline,))
        status, out = audit(sql_backend.target, specs)
        assert status == 1
        assert (
            f"the instance row says state 'REVIEW', deadline {deadline}; its records give "
            "'REVIEW', deadline 2026-03-01T10:00:00.000000Z"
        ) in out


def test_the_stores_verify_recomputes_the_row(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    in_review(rt, store)
    timers = {"ticket": {"REVIEW": timedelta(hours=1)}}
    assert store.verify(timers=timers) == []
    Tamperer(backend, store).set_row("t-1", deadline=None)
    assert store.verify() == []  # without timers the deadline is not known
    (problem,) = store.verify(timers=timers)
    assert (problem.instance_id, problem.seq, problem.kind) == ("t-1", 3, "altered")
    Tamperer(backend, store).set_row("t-1", state="DONE")
    (problem,) = store.verify()
    assert "row says state 'DONE'" in problem.detail


def test_load_refuses_a_row_that_is_not_what_the_records_give(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    in_review(rt, store)
    tamper = Tamperer(backend, store)
    tamper.set_row("t-1", deadline=None)  # the timeout would never fire
    # A broken chain: the instance was created under this very spec (its created record
    # names its sha256), so no change of the spec's timer explains the row; under another
    # version it would be a StoreError (test_verified_loading.py).
    with pytest.raises(rt.ChainBroken, match="deadline None; its records give 'REVIEW', dead"):
        rt.Ticket.load(backend.open(rt), "t-1")
    tamper.set_row("t-1", state="DONE", deadline=None)
    with pytest.raises(rt.ChainBroken, match="row says state 'DONE'") as raised:
        backend.open(rt).load("ticket", "t-1")
    assert isinstance(raised.value, rt.StoreError)
    assert raised.value.problem.seq == 3


# -- records are verified when they are loaded ------------------------------------------


def test_a_forged_approval_with_a_bad_hash_is_never_loaded(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    in_review(rt, store)
    tamper = Tamperer(backend, store)
    records = tamper.records("t-1")
    body = chain.canonical(forged_approval(rt, records))
    tamper.set_record("t-1", S.StoredRecord(4, body, records[-1].hash, "f" * 64))
    tamper.set_row("t-1", seq=4, head="f" * 64, state="WORKING", deadline=None)
    with pytest.raises(rt.ChainBroken, match="'t-1' record 4: altered: its content no longer"):
        rt.Ticket.load(backend.open(rt), "t-1")
    assert [p.seq for p in backend.open(rt).verify()] == [4]


def test_an_edited_actor_or_decision_is_never_loaded(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    in_review(rt, store).approve(actor=lead(rt), decision="looks right")
    tamper = Tamperer(backend, store)
    approval = tamper.records("t-1")[3]
    for field, value in (("actor", "cto"), ("decision", "approved by the board")):
        edited = {**json.loads(approval.body), field: value}
        tamper.set_record("t-1", dataclasses.replace(approval, body=chain.canonical(edited)))
        with pytest.raises(rt.ChainBroken, match="record 4: altered: its content no longer"):
            rt.Ticket.load(backend.open(rt), "t-1")
    tamper.set_record("t-1", approval)
    assert rt.Ticket.load(backend.open(rt), "t-1").audit[3].actor == "ann"


def test_a_body_that_is_no_json_record_is_never_loaded(rt: Any, backend: Backend) -> None:
    """Even with its hash recomputed, so that only the body itself can tell."""
    store = backend.open(rt)
    in_review(rt, store)
    tamper = Tamperer(backend, store)
    last = tamper.records("t-1")[-1]
    for body in ("not json", "[3]", '{"seq": "3"}', '{"seq": true}', "[" * 100_000):
        digest = chain.link("ticket", "t-1", last.prev, body)
        tamper.set_record("t-1", dataclasses.replace(last, body=body, hash=digest))
        tamper.set_row("t-1", head=digest)
        with pytest.raises(rt.ChainBroken, match="record 3: altered: its body is not a JSON rec"):
            rt.Ticket.load(backend.open(rt), "t-1")


def test_a_gap_in_the_numbering_is_never_loaded(rt: Any, sql_backend: Backend) -> None:
    in_review(rt, sql_backend.open(rt))
    sql_backend.execute(f"DELETE FROM {RECORDS} WHERE seq = 2")
    with pytest.raises(rt.ChainBroken, match="'t-1' record 2: removed: the chain skips it"):
        rt.Ticket.load(sql_backend.open(rt), "t-1")


def test_loading_hashes_each_record_once(
    rt: Any, backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cost of a verified load: one hash per record."""
    machine = in_review(rt, backend.open(rt))
    machine.approve(actor=lead(rt), decision="ok")
    for _ in range(20):
        machine.step()
    chain_module = importlib.import_module(rt.SqlStore.__module__ + ".chain")
    hashed: list[bytes] = []
    real = chain_module._sha256

    def counting(data: bytes) -> Any:
        hashed.append(data)
        return real(data)

    monkeypatch.setattr(chain_module, "_sha256", counting)  # what every record's hash takes
    loaded = rt.Ticket.load(backend.open(rt), "t-1")
    assert len(hashed) == len(loaded.audit) == 24


# -- verification reads a chunk at a time -----------------------------------------------


def synthetic(store: Any, instances: int, records: int) -> None:
    """``instances`` instances of ``records`` records each (states, no spec needed)."""
    for n in range(instances):
        store.create(
            "orders",
            f"i-{n}",
            S.StoreHead("B", None),
            [{"seq": s, "to_state": "A" if s < records else "B"} for s in range(1, records + 1)],
        )


def test_verify_in_small_chunks_finds_what_a_whole_read_finds(
    sql_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sql_backend.open()
    synthetic(store, 5, 7)
    store.create("other", "z", S.StoreHead("A", None), [])
    sql_backend.execute(f"UPDATE {RECORDS} SET seq = -seq WHERE instance_id = 'i-1' AND seq = 4")
    sql_backend.execute(f"UPDATE {ROWS} SET state = 'A' WHERE instance_id = 'i-3'")
    sql_backend.execute(f"UPDATE {RECORDS} SET body = 'x' WHERE instance_id = 'i-4' AND seq = 7")
    sql_backend.execute(f"UPDATE {RECORDS} SET machine = 'gone' WHERE instance_id = 'i-0'")
    whole = [(p.machine, p.instance_id, p.seq, p.kind) for p in store.verify()]
    assert whole == [
        ("gone", "i-0", 0, "removed"),
        ("orders", "i-0", 1, "removed"),
        ("orders", "i-1", 1, "reordered"),
        ("orders", "i-3", 7, "altered"),
        ("orders", "i-4", 7, "altered"),
    ]
    reads: list[str] = []
    run = store._run

    def counting(cursor: Any, sql: str, params: Any = ()) -> None:
        reads.append(sql)
        run(cursor, sql, params)

    monkeypatch.setattr(sqlstore, "CHUNK", 3)
    monkeypatch.setattr(store, "_run", counting)
    assert [(p.machine, p.instance_id, p.seq, p.kind) for p in store.verify()] == whole
    assert sum("FROM statewright_records" in sql for sql in reads) >= 35 // 3
    assert [(p.instance_id, p.seq) for p in store.verify("other")] == []


def test_walk_hands_every_record_in_chunks(
    sql_backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sql_backend.open()
    synthetic(store, 1, 10)
    monkeypatch.setattr(sqlstore, "CHUNK", 4)
    seen: list[int] = []
    head = store.walk("orders", "i-0", lambda record: seen.append(record["seq"]))
    assert (seen, head.seq, head.entries) == (list(range(1, 11)), 10, ())
    sql_backend.execute(f"UPDATE {RECORDS} SET body = '{{}}' WHERE seq = 9")
    seen.clear()
    with pytest.raises(S.ChainBroken, match="record 9: altered"):
        store.walk("orders", "i-0", lambda record: seen.append(record["seq"]))
    assert seen == list(range(1, 9))


def test_a_sweep_never_fires_on_a_tampered_instance(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    in_review(rt, store)
    tamper = Tamperer(backend, store)
    started = tamper.records("t-1")[1]
    edited = {**json.loads(started.body), "actor": "mallory"}
    tamper.set_record("t-1", dataclasses.replace(started, body=chain.canonical(edited)))
    swept = rt.Ticket.sweep(backend.open(rt), clock=Clock(START + timedelta(hours=2)))
    assert swept.fired == []
    assert [(i, "record 2: altered" in why) for i, why in swept.unreadable] == [("t-1", True)]
