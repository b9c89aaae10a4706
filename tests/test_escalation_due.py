"""An approval gate's escalation is a due time like a timeout: ``Machine.next_due``, a
runner's ``next_due``, the store's due index and so ``Worker.next_due`` and a sweep hold
it, and it is recorded at its time (stamped at its due time) exactly once, whoever gets
there first. ``audit verify`` with the spec recomputes the same due time from the records.

Every time here comes from a fake clock; the tests count records, never seconds."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from storekit import SQL_BACKENDS, Backend, backend_fixture, generate_runtime
from test_approval_policies import ROWS, SPEC, START, in_review, who
from test_runtime_kit import Clock, load_spec

from statewright.generator.commands.stores import timers_of
from statewright.generator.runtime import chain

ESCALATES, TIMES_OUT = START + timedelta(hours=24), START + timedelta(hours=72)

sql_backend = backend_fixture(SQL_BACKENDS)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("release"), SPEC)[0]


def events(machine: Any) -> list[tuple[str, Any]]:
    return [(r.event.value, r.at) for r in machine.audit]


def test_next_due_is_the_escalation_until_it_is_recorded(rt: Any) -> None:
    clock = Clock(START)
    machine = in_review(rt, clock)
    runner = rt.Runner(rt.Handlers(), machine)
    assert (machine.deadline, machine.next_due, runner.next_due) == (
        TIMES_OUT,
        ESCALATES,
        ESCALATES,
    )
    assert runner.next_deadline == TIMES_OUT  # the timed exit alone, as before
    clock.advance(hours=23)
    assert machine.expire() is None and machine.next_due == ESCALATES
    clock.advance(hours=2)
    before = len(machine.audit)
    assert machine.expire() == "REVIEW"
    assert events(machine)[before:] == [("escalation", ESCALATES)]
    assert machine.next_due == TIMES_OUT == runner.next_due
    assert machine.gate_status().escalated


def test_a_state_without_escalation_is_due_at_its_deadline(rt: Any) -> None:
    machine = rt.Release(clock=Clock(START))
    machine.requested(actor=who(rt, "alice", "engineer"))
    assert machine.next_due == machine.deadline == START + timedelta(hours=2)
    machine.built()
    machine.approved(actor=who(rt, "bob"), decision="ok")
    machine.approved(actor=who(rt, "carol"), decision="ok")
    assert machine.state == "SECOND_LOOK"  # an approval gate without escalate
    assert machine.next_due == machine.deadline == machine.audit[-1].at + timedelta(hours=24)


def test_a_late_decision_past_the_timeout_records_the_escalation_first(rt: Any) -> None:
    clock = Clock(START)
    machine = in_review(rt, clock)
    clock.advance(hours=80)
    with pytest.raises(rt.InvalidTransition, match="timed exit review_timeout was taken"):
        machine.approved(actor=who(rt, "bob"), decision="too late")
    assert events(machine)[-2:] == [("escalation", ESCALATES), ("transition", TIMES_OUT)]
    assert machine.state == "FAILED"
    assert rt.Release.replay(machine.audit).audit == machine.audit  # replay accepts it


def test_a_worker_records_the_escalation_at_its_time(rt: Any, sql_backend: Backend) -> None:
    clock = Clock(START)
    store = sql_backend.open(rt)
    in_review(rt, clock, store)
    worker = rt.Worker(store, rt.Handlers(), clock=clock)
    worker.run_once()
    assert worker.next_due() == ESCALATES
    clock.advance(hours=23, minutes=59)
    assert worker.run_once().timeouts == 0
    assert not [e for e, _ in events(rt.Release.load(store, "r-1")) if e == "escalation"]
    clock.advance(minutes=2)
    assert worker.run_once().timeouts == 1
    machine = rt.Release.load(store, "r-1")
    assert [(e, at) for e, at in events(machine) if e == "escalation"] == [
        ("escalation", ESCALATES)
    ]
    assert worker.next_due() == TIMES_OUT
    other = rt.Worker(sql_backend.open(rt), rt.Handlers(), clock=clock)
    assert other.run_once().timeouts == 0  # a second worker finds nothing due
    assert len(rt.Release.load(store, "r-1").audit) == len(machine.audit)
    status = machine.gate_status()
    assert status.escalated and status.reviewers == {"maintainer", "director"}
    dave = who(rt, "dave", "director")
    assert machine.approved(actor=dave, decision="escalated to me") == "REVIEW"


def test_two_workers_racing_record_the_escalation_once(rt: Any, sql_backend: Backend) -> None:
    clock = Clock(START)
    store = sql_backend.open(rt)
    in_review(rt, clock, store)
    clock.advance(hours=30)
    first = rt.Release.load(store, "r-1", clock=clock)
    second = rt.Release.load(sql_backend.open(rt), "r-1", clock=clock)
    assert first.expire() == "REVIEW"
    with pytest.raises(rt.ConcurrencyConflict):
        second.expire()
    swept = rt.Release.sweep(sql_backend.open(rt), clock=clock)  # the loser sweeps again
    assert (swept.fired, swept.unreadable) == ([], [])
    machine = rt.Release.load(store, "r-1")
    assert [e for e, _ in events(machine)].count("escalation") == 1


def test_audit_verify_recomputes_the_due_time_with_the_escalation(
    rt: Any, sql_backend: Backend
) -> None:
    clock = Clock(START)
    store = sql_backend.open(rt)
    machine = in_review(rt, clock, store)
    clock.advance(hours=1)
    machine.approved(actor=who(rt, "bob"), decision="ok")  # a vote does not restart the wait
    timers = {"release": timers_of(load_spec(SPEC))}
    assert timers["release"][chain.escalation("REVIEW")] == timedelta(hours=24)
    assert store.verify(timers=timers) == []
    clock.advance(hours=30)
    machine.expire()
    assert store.verify(timers=timers) == []  # escalated: due at the timeout now
    sql_backend.execute(f"UPDATE {ROWS} SET deadline = ? WHERE instance_id = ?", (None, "r-1"))
    problems = store.verify(timers=timers)
    assert [(p.seq, p.kind) for p in problems] == [(len(machine.audit), "altered")]
    assert "deadline 2026-12-06T09:00:00.000000Z" in problems[0].detail
