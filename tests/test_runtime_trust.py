"""The runtime refuses what it must, before anything changes, in memory and in a store.

Each test is an attack or a misuse a reviewer tried: a blank or non-text decision, an
actor that is not one, a payload that cannot be stored, a rollback by someone without
the role (or on a machine whose spec allows none), a log that replay could not rebuild
exactly, one unreadable instance holding up every sweep, and a stale instance told the
wrong story after a sweep moved it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from test_runtime_kit import ORCHESTRATOR, Clock, on_call, runtime

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def rt() -> Any:
    return runtime()


def whole(machine: Any) -> tuple[object, ...]:
    return (machine.state, machine.audit, machine.context, machine.failures, machine.reason)


def at_review(rt: Any, machine: Any) -> Any:
    machine.task_received()
    machine.checks_passed()
    return machine


@pytest.fixture(params=["memory", "store"])
def fresh(request: pytest.FixtureRequest, rt: Any) -> Any:
    """A new gatekeeper in memory, or kept in a MemoryStore."""
    if request.param == "memory":
        return rt.Gatekeeper(clock=Clock())
    return rt.Gatekeeper.create(rt.MemoryStore(), "g-1", clock=Clock())


@pytest.mark.parametrize(
    ("decision", "error", "message"),
    [
        ("", "Unauthorized", "needs a decision record, not a blank string"),
        ("   ", "Unauthorized", "needs a decision record, not a blank string"),
        (None, "Unauthorized", "needs a decision record: pass decision="),
        (5, "TypeError", "decision must be a string, not int"),
        (["a"], "TypeError", "decision must be a string, not list"),
    ],
)
def test_a_decision_is_a_non_blank_string(
    rt: Any, fresh: Any, decision: object, error: str, message: str
) -> None:
    machine = at_review(rt, fresh)
    before = whole(machine)
    refusal = TypeError if error == "TypeError" else rt.Unauthorized
    lead = rt.Actor("ann", frozenset({"tech_lead"}))
    with pytest.raises(refusal, match=message):
        machine.approved(actor=lead, decision=decision)
    assert whole(machine) == before
    if machine.instance_id is not None:
        assert rt.Gatekeeper.load(machine._store, "g-1").audit == machine.audit


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("",), "a non-empty string id"),
        (("  ",), "a non-empty string id"),
        ((7,), "a non-empty string id"),
        (("ann", "tech_lead"), "roles are a frozenset of non-empty strings"),
        (("ann", frozenset({""})), "roles are a frozenset of non-empty strings"),
        (("ann", frozenset({3})), "roles are a frozenset of non-empty strings"),
    ],
)
def test_an_actor_is_checked_when_it_is_made(rt: Any, args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        rt.Actor(*args)


def test_roles_given_as_a_list_or_set_become_a_frozenset(rt: Any) -> None:
    assert rt.Actor("ann", ["lead", "qa"]).roles == frozenset({"lead", "qa"})


def test_an_actor_that_is_not_one_is_a_clear_type_error(rt: Any, fresh: Any) -> None:
    before = whole(fresh)
    with pytest.raises(
        TypeError, match=r"actor must be an Actor, not str 'mia'; write actor=Actor"
    ):
        fresh.task_received(actor="mia")
    assert whole(fresh) == before
    machine = at_review(rt, fresh)
    with pytest.raises(TypeError, match="actor must be an Actor"):
        machine.approved(actor={"id": "ann"}, decision="ok")


def test_recovery_takes_a_reason(rt: Any) -> None:
    with pytest.raises(TypeError, match=r"recovery\(\) takes a Reason of gatekeeper, not None"):
        rt.Gatekeeper.recovery(None)
    with pytest.raises(TypeError, match="not 'REJECTED'"):
        rt.Gatekeeper.recovery("REJECTED")


def test_fire_takes_a_trigger(rt: Any) -> None:
    with pytest.raises(TypeError, match="fire\\(\\) takes a trigger, not int 3"):
        rt.Gatekeeper(clock=Clock()).fire(3)


def test_an_exception_as_payload_is_kept_as_its_traceback_text(rt: Any, fresh: Any) -> None:
    fresh.task_received()
    try:
        raise RuntimeError("the agent fell over")
    except RuntimeError as error:
        fresh.agent_error(payload={"error": error, "tb": sys.exc_info()[2]})
    snapshot = fresh.failures[0]
    assert snapshot.payload["error"].startswith("Traceback (most recent call last):")
    assert "RuntimeError: the agent fell over" in snapshot.payload["error"]
    assert "raise RuntimeError" in snapshot.payload["tb"]
    assert fresh.audit[-1].data == snapshot.payload  # the log keeps it, replay restores it
    assert rt.Gatekeeper.replay(fresh.audit).failures == fresh.failures


def test_a_payload_that_cannot_be_stored_is_refused_with_nothing_changed(
    rt: Any, fresh: Any
) -> None:
    fresh.task_received()
    before = whole(fresh)
    with pytest.raises(TypeError, match=r"payload must be JSON data: object .* is not JSON data"):
        fresh.agent_error(payload={"handle": object()})
    with pytest.raises(TypeError, match="payload must be JSON data"):
        fresh.agent_error(payload=float("nan"))
    assert whole(fresh) == before


# -- rollback is a human action ---------------------------------------------------------


def test_rollback_needs_a_rollback_role_and_a_decision(rt: Any, fresh: Any) -> None:
    fresh.task_received()
    before = whole(fresh)
    with pytest.raises(rt.Unauthorized, match="holds none of the roles rollback needs: on_call"):
        fresh.rollback(1, actor=rt.Actor("ann", frozenset({"tech_lead"})), decision="undo")
    with pytest.raises(rt.Unauthorized, match="needs an actor"):
        fresh.rollback(1, actor=None, decision="undo")
    with pytest.raises(rt.Unauthorized, match="not a blank string"):
        fresh.rollback(1, actor=on_call(rt), decision=" ")
    with pytest.raises(TypeError, match="takes a record number"):
        fresh.rollback("1", actor=on_call(rt), decision="undo")
    assert whole(fresh) == before
    assert fresh.rollback(1, actor=on_call(rt), decision="wrong task") is rt.State.IDLE
    record = fresh.audit[-1]
    assert (record.event, record.actor, record.decision) == (
        rt.Event.ROLLBACK,
        "olu",
        "wrong task",
    )


def test_without_the_rollback_key_rollback_is_refused(tmp_path: Path) -> None:
    rt = runtime(ORCHESTRATOR.replace("rollback: {reviewers: [on_call]}\n", ""), tmp_path)
    machine = rt.Gatekeeper(clock=Clock())
    machine.task_received()
    with pytest.raises(rt.Unauthorized, match="gatekeeper allows no rollback: its spec names no"):
        machine.rollback(1, actor=rt.Actor("root", frozenset({"on_call"})), decision="please")
    assert machine.state is rt.State.RUNNING


# -- replay from the log alone ----------------------------------------------------------

TIMED_START = """\
statewright: 1
machine: doorbell
initial: RINGING
states:
  RINGING: {kind: running}
  MISSED: {kind: failed, reviewers: [host]}
  ANSWERED: {kind: complete, final: true}
transitions:
  - {from: RINGING, to: MISSED, trigger: no_answer, after: 30s, reason: NOBODY_HOME}
  - {from: RINGING, to: ANSWERED, trigger: answered}
  - {from: MISSED, to: RINGING, trigger: ring_again, human: true}
reasons:
  NOBODY_HOME: {recovery: [Ring again later]}
"""


def test_replay_rebuilds_a_timed_exit_from_the_initial_state_and_the_context(
    tmp_path: Path,
) -> None:
    rt = runtime(TIMED_START, tmp_path)
    clock = Clock(START)
    machine = rt.Doorbell(clock=clock, context={"door": "front"})
    clock.advance(seconds=30)
    assert machine.expire() is rt.State.MISSED
    machine.ring_again(actor=rt.Actor("h", frozenset({"host"})), decision="try once more")
    machine.update_context({"tries": 2})
    log = rt.Doorbell.dump_audit(machine.audit)
    again = rt.Doorbell.replay(rt.Doorbell.load_audit(log), clock=clock)
    assert (again.state, again.context, again.deadline, again.failures) == (
        machine.state,
        {"door": "front", "tries": 2},
        machine.deadline,
        machine.failures,
    )
    early = [r._replace(at=START) if r.seq == 2 else r for r in machine.audit]
    with pytest.raises(rt.InvalidTransition, match="record 2: no_answer fired before it was due"):
        rt.Doorbell.replay(early)


# -- sweeping many instances ------------------------------------------------------------


def test_one_unreadable_instance_does_not_stop_the_sweep(rt: Any) -> None:
    clock = Clock(START)
    store = rt.MemoryStore()
    for name in ("a-broken", "b-fine"):
        at_review(rt, rt.Gatekeeper.create(store, name, clock=clock))
    entries = store._records["gatekeeper", "a-broken"]
    entries[1] = entries[1].__class__(2, '{"not": "a record"}', entries[1].prev, entries[1].hash)
    clock.advance(hours=73)
    report = rt.Gatekeeper.sweep(store, clock=clock)
    assert [(i, r.trigger) for i, r in report.fired] == [("b-fine", rt.Trigger.REVIEW_TIMEOUT)]
    ((bad, why),) = report.unreadable
    assert bad == "a-broken" and "record 2: altered: its content no longer matches" in why
    assert rt.Gatekeeper.load(store, "b-fine").state is rt.State.FAILED


def test_a_stale_instance_reports_the_conflict_a_sweep_made(rt: Any) -> None:
    clock = Clock(START)
    store = rt.MemoryStore()
    stale = at_review(rt, rt.Gatekeeper.create(store, "g", clock=clock))
    clock.advance(hours=73)
    rt.Gatekeeper.sweep(store, clock=clock)  # REVIEW -> FAILED in the store
    # the stale object first takes REVIEW's overdue timeout, which the store refuses
    with pytest.raises(
        rt.ConcurrencyConflict, match=r"changed (in the store )?since it was loaded"
    ):
        stale.resumed(actor=on_call(rt), decision="back to work")  # valid in FAILED only
    assert stale.state is rt.State.REVIEW
    fresh = rt.Gatekeeper.load(store, "g", clock=clock)
    assert fresh.resumed(actor=on_call(rt), decision="back to work") is rt.State.RUNNING


def test_a_stored_created_record_carries_the_creation_time(rt: Any) -> None:
    clock = Clock(START)
    store = rt.MemoryStore()
    rt.Gatekeeper.create(store, "g", clock=clock, context={"k": 1})
    clock.advance(days=3)
    loaded = rt.Gatekeeper.load(store, "g", clock=clock)
    created = loaded.audit[0]
    assert (created.event, created.at, created.data) == (rt.Event.CREATED, START, {"k": 1})
    assert loaded.context == {"k": 1}
    assert START + timedelta(days=3) == clock.now
