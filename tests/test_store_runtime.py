"""Stored instances of a generated runtime: create, load, durable fire, conflicts, sweep;
the same tests on memory, a SQLite file and a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from storekit import SQL_BACKENDS, Backend, backend_fixture, generate_runtime
from test_runtime_kit import Clock

backend = backend_fixture(("memory", *SQL_BACKENDS))
sql_backend = backend_fixture(SQL_BACKENDS)
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("runtime"))[0]


def lead(rt: Any) -> Any:
    return rt.Actor("ann", frozenset({"lead"}))


def in_review(rt: Any, store: Any, instance_id: str, clock: Clock) -> Any:
    machine = rt.Ticket.create(store, instance_id, clock=clock, context={"owner": "ann"})
    machine.start()
    machine.submit()
    return machine


def test_create_fire_load_round_trip(rt: Any, backend: Backend) -> None:
    clock = Clock(START)
    machine = in_review(rt, backend.open(rt), "t-1", clock)
    assert machine.instance_id == "t-1"
    loaded = rt.Ticket.load(backend.open(rt), "t-1", clock=clock)
    assert (loaded.state, loaded.audit, loaded.context) == (
        machine.state,
        machine.audit,
        {"owner": "ann"},
    )
    assert loaded.deadline == START + timedelta(hours=1) == machine.deadline
    loaded.approve(actor=lead(rt), decision="looks right")
    loaded.finish()
    again = rt.Ticket.load(backend.open(rt), "t-1", clock=clock)
    assert again.state is rt.State.OPEN
    assert [r.trigger for r in again.audit[-2:]] == [rt.Trigger.FINISH, rt.Trigger.ALWAYS]
    assert again.audit[3].actor == "ann" and again.audit[3].decision == "looks right"


def test_create_refuses_a_taken_id(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    rt.Ticket.create(store, "t-1")
    with pytest.raises(rt.InstanceExists, match="ticket instance 't-1' already exists"):
        rt.Ticket.create(store, "t-1")


def test_the_loser_of_a_race_changes_nothing_and_can_retry(rt: Any, backend: Backend) -> None:
    rt.Ticket.create(backend.open(rt), "t-1").start()
    first = rt.Ticket.load(backend.open(rt), "t-1")
    second = rt.Ticket.load(backend.open(rt), "t-1")
    first.submit()
    with pytest.raises(rt.ConcurrencyConflict, match="load it again and retry"):
        second.finish()
    assert second.state is rt.State.WORKING and len(second.audit) == 2
    retry = rt.Ticket.load(backend.open(rt), "t-1")
    retry.reject(actor=lead(rt), decision="no")
    assert rt.Ticket.load(backend.open(rt), "t-1").state is rt.State.STUCK


def test_failure_snapshots_and_context_survive_a_load(rt: Any, backend: Backend) -> None:
    clock = Clock(START)
    machine = in_review(rt, backend.open(rt), "t-1", clock)
    machine.reject(actor=lead(rt), decision="no", payload={"notes": ["a", 1]})
    machine.resume(actor=lead(rt), decision="fixed")
    machine.update_context({"round": 2})
    loaded = rt.Ticket.load(backend.open(rt), "t-1", clock=clock)
    assert loaded.failures == machine.failures
    assert loaded.failures[0].payload == {"notes": ["a", 1]}
    assert loaded.failures[0].context == {"owner": "ann"}
    assert loaded.context == {"owner": "ann", "round": 2}
    assert loaded.reason is None


def test_rollback_is_durable(rt: Any, backend: Backend) -> None:
    machine = rt.Ticket.create(backend.open(rt), "t-1", context={"v": 0})
    machine.start()
    machine.update_context({"v": 1})
    machine.step()
    machine.rollback(1, actor=lead(rt), decision="start again")
    loaded = rt.Ticket.load(backend.open(rt), "t-1")
    assert loaded.context == machine.context == {"v": 0}
    assert loaded.audit[-1].rollback_to == 1
    assert loaded.audit[-1].decision == "start again"
    assert loaded.state is machine.state is rt.State.OPEN
    loaded.start()
    assert loaded.audit[-1].seq == 6


def test_a_refused_payload_changes_nothing(rt: Any, backend: Backend) -> None:
    machine = in_review(rt, backend.open(rt), "t-1", Clock(START))
    with pytest.raises(TypeError, match="payload must be JSON data"):
        machine.reject(actor=lead(rt), decision="no", payload={"at": object()})
    assert machine.state is rt.State.REVIEW
    assert (len(machine.audit), machine.failures) == (3, ())
    machine.approve(actor=lead(rt), decision="yes")
    assert rt.Ticket.load(backend.open(rt), "t-1").state is rt.State.WORKING


def test_a_failed_write_changes_nothing(rt: Any, sql_backend: Backend) -> None:
    store = sql_backend.open(rt)
    machine = rt.Ticket.create(store, "t-1", context={"v": 0})
    machine.start()
    store.close()
    with pytest.raises(Exception, match="closed"):
        machine.step()
    with pytest.raises(Exception, match="closed"):
        machine.update_context({"v": 1})
    assert (machine.state, len(machine.audit), machine.context) == (rt.State.WORKING, 2, {"v": 0})
    assert len(rt.Ticket.load(sql_backend.open(rt), "t-1").audit) == 2


def test_batched_fires_are_durable_together(rt: Any, sql_backend: Backend) -> None:
    store = sql_backend.open(rt)
    machines = [rt.Ticket.create(store, f"t-{n}") for n in range(3)]
    with store.batch():
        for machine in machines:
            machine.start()
            machine.step()
    assert [len(rt.Ticket.load(sql_backend.open(rt), f"t-{n}").audit) for n in range(3)] == [3] * 3


def test_load_checks_every_record_against_the_spec(rt: Any, sql_backend: Backend) -> None:
    machine = rt.Ticket.create(sql_backend.open(rt), "t-1")
    machine.start()
    machine.finish()
    forged = [
        dict(json_record(r), to_state="DONE") if r.seq == 2 else json_record(r)
        for r in machine.audit
    ]
    rewrite_chain(rt, sql_backend, "t-1", forged)
    assert sql_backend.open(rt).verify() == []
    with pytest.raises(rt.InvalidTransition, match="record 2: OPEN --start--> DONE"):
        rt.Ticket.load(sql_backend.open(rt), "t-1")


def test_load_refuses_a_head_that_disagrees(rt: Any, sql_backend: Backend) -> None:
    rt.Ticket.create(sql_backend.open(rt), "t-1").start()
    sql_backend.execute("UPDATE statewright_instances SET state = 'REVIEW'")
    with pytest.raises(rt.ChainBroken, match=r"row says state 'REVIEW'.*records give 'WORKING'"):
        rt.Ticket.load(sql_backend.open(rt), "t-1")


def test_sweep_fires_every_due_timeout(rt: Any, backend: Backend) -> None:
    clock = Clock(START)
    store = backend.open(rt)
    in_review(rt, store, "early", clock)
    clock.now += timedelta(minutes=20)
    in_review(rt, store, "late", clock)
    rt.Ticket.create(store, "busy", clock=clock).start()
    clock.now = START + timedelta(minutes=70)
    swept = rt.Ticket.sweep(backend.open(rt), clock=clock)
    assert [(i, r.trigger, r.reason, r.at) for i, r in swept.fired] == [
        ("early", rt.Trigger.REVIEW_TIMEOUT, rt.Reason.TIMEOUT, clock.now)
    ]
    assert swept.unreadable == []
    assert rt.Ticket.sweep(store, clock=clock).fired == []
    clock.now += timedelta(minutes=15)
    assert [i for i, _ in rt.Ticket.sweep(store, clock=clock).fired] == ["late"]
    late = rt.Ticket.load(store, "late", clock=clock)
    assert (late.state, late.reason, late.deadline) == (rt.State.STUCK, rt.Reason.TIMEOUT, None)


def test_memory_instances_are_unchanged(rt: Any) -> None:
    machine = rt.Ticket()
    machine.start()
    assert machine.instance_id is None
    assert machine.state is rt.State.WORKING


def json_record(record: Any) -> dict[str, Any]:
    import json

    value: dict[str, Any] = json.loads(record.to_json())
    return value


def rewrite_chain(rt: Any, backend: Backend, instance_id: str, records: list[Any]) -> None:
    """Replace an instance's records with ``records``, hashes recomputed: a clever forger."""
    from statewright.generator.runtime.chain import started
    from statewright.generator.runtime.store import StoreHead

    _, entries = started("ticket", instance_id, StoreHead("?", None), records)
    backend.execute("DELETE FROM statewright_records WHERE instance_id = ?", (instance_id,))
    for e in entries:
        backend.execute(
            "INSERT INTO statewright_records VALUES (?, ?, ?, ?, ?, ?)",
            ("ticket", instance_id, e.seq, e.body, e.prev, e.hash),
        )
    backend.execute(
        "UPDATE statewright_instances SET head = ? WHERE instance_id = ?",
        (entries[-1].hash, instance_id),
    )


def test_a_store_file_reopens(rt: Any, tmp_path: Path) -> None:
    path = str(tmp_path / "reopen.sqlite")
    rt.Ticket.create(rt.SqlStore.sqlite(path), "t").start()
    assert rt.Ticket.load(rt.SqlStore.sqlite(path), "t").state is rt.State.WORKING


def test_the_runtime_support_is_exported_and_its_names_reserved(rt: Any) -> None:
    import statewright.generator.runtime
    from statewright.generator.naming import MODULE_NAMES, RESERVED_METHODS
    from statewright.generator.view import USER_NAMES

    support = set(statewright.generator.runtime.__all__)
    exported = {name for _, names in USER_NAMES for name in names}
    assert exported <= set(rt.__all__) and exported <= support  # what a user needs, no more
    assert not {"Machine", "MachineSpec", "Transition"} & set(rt.__all__)
    assert support <= MODULE_NAMES
    assert {"create", "load", "sweep", "instance_id", "spec", "_take"} <= RESERVED_METHODS


def test_triggers_named_like_the_store_methods_get_safe_names(tmp_path: Path) -> None:
    spec = """\
statewright: 1
machine: loader
initial: IDLE
states:
  IDLE: {kind: idle}
  BUSY: {kind: running}
transitions:
  - {from: IDLE, to: BUSY, trigger: load}
  - {from: BUSY, to: IDLE, trigger: sweep}
"""
    rt, _ = generate_runtime(tmp_path, spec)
    store = rt.MemoryStore()
    machine = rt.Loader.create(store, "x")
    machine.load_()
    assert rt.Loader.load(store, "x").state is rt.State.BUSY
    machine.sweep_()
    assert rt.Loader.sweep(store).fired == []
    assert rt.Loader.load(store, "x").state is rt.State.IDLE


def test_stored_bodies_are_the_records_json(rt: Any, backend: Backend) -> None:
    import json

    machine = in_review(rt, backend.open(rt), "t-1", Clock(START))
    machine.reject(actor=lead(rt), decision="no")
    stored = backend.open(rt).load("ticket", "t-1")
    expected = [json.loads(r.to_json()) for r in machine.audit]
    expected[0]["spec"] = rt.SOURCE_SHA256  # the created record carries the spec version
    assert [json.loads(e.body) for e in stored.entries] == expected


def test_load_refuses_unreadable_stored_data(rt: Any, sql_backend: Backend) -> None:
    rt.Ticket.create(sql_backend.open(rt), "t-1").start()
    sql_backend.execute("UPDATE statewright_records SET body = '{\"created\": 1}' WHERE seq = 2")
    with pytest.raises(rt.ChainBroken, match="'t-1' record 2: altered: its content no longer"):
        rt.Ticket.load(sql_backend.open(rt), "t-1")
