"""The generated runtime, driven: transitions, refusals, humans, automatic and timed exits,
failure snapshots, recovery and the approval lock."""

from __future__ import annotations

from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from test_runtime_kit import START, Clock, on_call, runtime


@pytest.fixture(scope="module")
def rt() -> ModuleType:
    return runtime()


def snapshot(machine: Any) -> tuple[object, ...]:
    return (machine.state, machine.audit, machine.context, machine.failures, machine.reason)


def at_review(rt: ModuleType, clock: Clock | None = None) -> Any:
    machine = rt.Gatekeeper(clock=clock or Clock(), context={"run": 1})
    machine.task_received()
    machine.checks_passed()
    return machine


def test_starts_in_the_initial_state_with_its_created_record(rt: ModuleType) -> None:
    machine = rt.Gatekeeper(clock=Clock(), context={"run": 7})
    assert machine.state is rt.State.IDLE is rt.Gatekeeper.spec.initial
    (created,) = machine.audit
    assert created == rt.AuditRecord(
        *(1, START, rt.State.IDLE, rt.State.IDLE),
        event=rt.Event.CREATED,
        data={"run": 7},
        spec_sha256=rt.SOURCE_SHA256,
    )
    assert machine.context == {"run": 7}
    assert machine.deadline is None


def test_fire_and_typed_methods_record_each_transition(rt: ModuleType) -> None:
    clock = Clock()
    machine = rt.Gatekeeper(clock=clock)
    assert machine.fire(rt.Trigger.TASK_RECEIVED) is rt.State.RUNNING
    clock.advance(seconds=5)
    bot = rt.Actor("bot")
    assert machine.agent_error(actor=bot, payload={"error": "boom"}) is rt.State.FAILED
    _, first, second, third = machine.audit
    assert first == rt.AuditRecord(
        2, START, rt.State.IDLE, rt.State.RUNNING, rt.Trigger.TASK_RECEIVED
    )
    later = START.replace(second=5)
    assert second == rt.AuditRecord(
        3,
        later,
        rt.State.RUNNING,
        rt.State.STAGE_FAILED,
        rt.Trigger.AGENT_ERROR,
        actor="bot",
        reason=rt.Reason.AGENT_ERROR,
        data={"error": "boom"},
    )
    # The automatic exit follows at once, with the same timestamp and the inherited reason.
    assert third == rt.AuditRecord(
        4,
        later,
        rt.State.STAGE_FAILED,
        rt.State.FAILED,
        rt.Trigger.ALWAYS,
        reason=rt.Reason.AGENT_ERROR,
        data={"error": "boom"},
    )
    assert machine.reason is rt.Reason.AGENT_ERROR


def test_undeclared_trigger_is_refused_and_changes_nothing(rt: ModuleType) -> None:
    machine = rt.Gatekeeper(clock=Clock(), context={"k": [1]})
    before = snapshot(machine)
    with pytest.raises(rt.InvalidTransition) as refused:
        machine.fire(rt.Trigger.CHECKS_PASSED)
    assert str(refused.value) == "IDLE has no exit on checks_passed; allowed: task_received"
    assert snapshot(machine) == before
    with pytest.raises(rt.InvalidTransition):
        machine.fire(rt.Trigger.ALWAYS)  # automatic exits cannot be fired by hand
    assert snapshot(machine) == before


def test_the_clock_is_read_once_per_event(rt: ModuleType) -> None:
    clock = Clock()
    machine = rt.Gatekeeper(clock=clock)
    calls = clock.calls
    machine.task_received()
    machine.checks_passed()  # and its automatic exit into REVIEW
    assert clock.calls == calls + 2


@pytest.mark.parametrize(
    ("actor", "decision", "message"),
    [
        (None, "ok", "approved from REVIEW needs an actor holding one of the roles"),
        (("ann", frozenset({"intern"})), "ok", "ann holds none of the roles"),
        (("ann", frozenset({"architect"})), None, "needs a decision record"),
    ],
)
def test_human_exit_needs_an_authorised_actor_and_a_decision(
    rt: ModuleType, actor: tuple[str, frozenset[str]] | None, decision: str | None, message: str
) -> None:
    machine = at_review(rt)
    before = snapshot(machine)
    who = None if actor is None else rt.Actor(*actor)
    with pytest.raises(rt.Unauthorized, match=message):
        machine.fire(rt.Trigger.APPROVED, actor=who, decision=decision)
    assert snapshot(machine) == before


def test_human_exit_records_actor_and_decision(rt: ModuleType) -> None:
    machine = at_review(rt)
    ann = rt.Actor("ann", frozenset({"architect", "intern"}))
    assert machine.approved(actor=ann, decision="ship it") is rt.State.DONE
    record = machine.audit[-1]
    assert (record.trigger, record.actor, record.decision) == (
        rt.Trigger.APPROVED,
        "ann",
        "ship it",
    )


def test_approval_state_is_locked(rt: ModuleType) -> None:
    machine = at_review(rt)
    before = snapshot(machine)
    with pytest.raises(rt.Locked, match="REVIEW is locked for review"):
        machine.update_context({"sneaky": True})
    with pytest.raises(rt.Locked):
        machine.rollback(1, actor=on_call(rt), decision="undo")
    with pytest.raises(rt.InvalidTransition, match="locked for review"):
        machine.fire(rt.Trigger.TASK_RECEIVED)
    assert snapshot(machine) == before


def test_timed_exit_fires_only_when_due(rt: ModuleType) -> None:
    clock = Clock()
    machine = at_review(rt, clock)
    assert machine.deadline == START + timedelta(hours=72)
    clock.advance(hours=71, minutes=59)
    assert machine.expire() is None
    with pytest.raises(rt.InvalidTransition, match="not due"):
        machine.review_timeout()
    assert machine.state is rt.State.REVIEW
    clock.advance(minutes=1)
    assert machine.expire() is rt.State.FAILED
    record = machine.audit[-1]
    assert (record.trigger, record.reason, record.at) == (
        rt.Trigger.REVIEW_TIMEOUT,
        rt.Reason.TIMEOUT_APPROVAL,
        clock.now,
    )
    assert machine.deadline is None
    assert machine.expire() is None


def test_failure_snapshot_copies_context_and_payload(rt: ModuleType) -> None:
    machine = rt.Gatekeeper(clock=Clock(), context={"items": [1, 2]})
    machine.task_received()
    payload = {"error": ["timeout"]}
    machine.agent_error(payload=payload)
    payload["error"].append("mutated later")
    stage, final = machine.failures
    assert (stage.from_state, stage.to_state, stage.trigger) == (
        rt.State.RUNNING,
        rt.State.STAGE_FAILED,
        rt.Trigger.AGENT_ERROR,
    )
    assert (final.from_state, final.to_state, final.seq) == (
        rt.State.STAGE_FAILED,
        rt.State.FAILED,
        4,
    )
    assert stage.reason is final.reason is rt.Reason.AGENT_ERROR
    assert stage.payload == {"error": ["timeout"]}
    assert stage.context == {"items": [1, 2]}
    machine.update_context({"items": []})
    assert stage.context == {"items": [1, 2]}
    final.context["items"].append(3)
    machine.rollback(2, actor=on_call(rt), decision="retry the stage")
    assert machine.context == {"items": [1, 2]}
    assert machine.recovery(stage.reason) == ("Read the snapshot", "Resume")
    assert rt.Gatekeeper.recovery(rt.Reason.REJECTED)[-1] == "Resubmit"


def test_context_is_json_and_reads_are_copies(rt: ModuleType) -> None:
    machine = rt.Gatekeeper(clock=Clock(), context={"a": (1, 2)})
    assert machine.context == {"a": [1, 2]}
    machine.context["a"].append(3)
    assert machine.context == {"a": [1, 2]}
    with pytest.raises(TypeError, match="context values must be JSON"):
        machine.update_context({"when": START})
    assert machine.context == {"a": [1, 2]}


def test_initial_automatic_exit_is_taken_on_construction() -> None:
    rt = runtime(
        """\
        statewright: 1
        machine: autostart
        initial: BOOT
        states:
          BOOT: {kind: idle}
          READY: {kind: running}
          END: {kind: complete, final: true}
        transitions:
          - {from: BOOT, to: READY, trigger: always}
          - {from: READY, to: END, trigger: finish}
        """
    )
    machine = rt.Autostart(clock=Clock())
    assert machine.state is rt.State.READY
    assert [r.trigger for r in machine.audit] == [None, rt.Trigger.ALWAYS]
    machine.finish()
    with pytest.raises(rt.InvalidTransition, match="allowed: none"):
        machine.fire(rt.Trigger.FINISH)


def test_default_clock_is_aware_utc(rt: ModuleType) -> None:
    machine = rt.Gatekeeper()
    machine.task_received()
    assert machine.audit[0].at.utcoffset() == timedelta(0)
