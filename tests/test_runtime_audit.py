"""The audit log as the compliance record: rollback, replay and JSON lines round trips."""

from __future__ import annotations

from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from test_runtime_kit import Clock, on_call, runtime


@pytest.fixture(scope="module")
def rt() -> ModuleType:
    return runtime()


def busy(rt: ModuleType, clock: Clock) -> Any:
    """A run through failure, resumption, review and time-out, with context updates."""
    machine = rt.Gatekeeper(clock=clock, context={"round": 0})  # 1 created
    machine.task_received()  # 2
    machine.update_context({"round": 1})  # 3
    clock.advance(minutes=1)
    machine.agent_error(payload={"why": "quota"})  # 4, 5 (automatic)
    machine.resumed(actor=on_call(rt), decision="quota raised")  # 6
    machine.update_context({"round": 2})  # 7
    machine.checks_passed()  # 8, 9 (automatic into REVIEW)
    clock.advance(hours=80)
    machine.expire()  # 10
    return machine


def test_rollback_restores_state_and_context_and_is_recorded(rt: ModuleType) -> None:
    clock = Clock()
    machine = busy(rt, clock)
    assert machine.state is rt.State.FAILED
    length = len(machine.audit)
    assert machine.rollback(7, actor=on_call(rt), decision="retry review") is rt.State.RUNNING
    assert machine.context == {"round": 2}
    assert machine.reason is None
    record = machine.audit[-1]
    assert len(machine.audit) == length + 1
    assert (record.seq, record.from_state, record.to_state, record.trigger, record.event) == (
        length + 1,
        rt.State.FAILED,
        rt.State.RUNNING,
        None,
        rt.Event.ROLLBACK,
    )
    assert (record.rollback_to, record.actor, record.decision) == (7, "olu", "retry review")
    machine.rollback(6, actor=on_call(rt), decision="before the second update")
    assert (machine.state, machine.context) == (rt.State.RUNNING, {"round": 1})
    machine.rollback(5, actor=on_call(rt), decision="back to the failure")
    assert (machine.state, machine.reason) == (rt.State.FAILED, rt.Reason.AGENT_ERROR)
    machine.rollback(1, actor=on_call(rt), decision="start over")
    assert (machine.state, machine.context) == (rt.State.IDLE, {"round": 0})
    assert [r.rollback_to for r in machine.audit[length:]] == [7, 6, 5, 1]


def test_rollback_refuses_records_that_do_not_exist_or_are_transient(rt: ModuleType) -> None:
    machine = busy(rt, Clock())
    before = machine.audit
    with pytest.raises(ValueError, match="no record 99"):
        machine.rollback(99, actor=on_call(rt), decision="undo")
    with pytest.raises(ValueError, match="no record 0"):
        machine.rollback(0, actor=on_call(rt), decision="undo")
    with pytest.raises(ValueError, match="roll back to record 5 instead"):
        machine.rollback(4, actor=on_call(rt), decision="undo")  # STAGE_FAILED: left at once
    assert machine.audit == before


def test_replay_rebuilds_the_same_machine_after_rollback(rt: ModuleType) -> None:
    clock = Clock()
    machine = busy(rt, clock)
    machine.rollback(6, actor=on_call(rt), decision="retry")
    machine.checks_passed()
    replayed = rt.Gatekeeper.replay(machine.audit, clock=clock)
    assert replayed.state is machine.state is rt.State.REVIEW
    assert replayed.audit == machine.audit
    assert replayed.context == machine.context == {"round": 1}
    assert replayed.deadline == machine.deadline
    assert replayed.failures == machine.failures
    ann = rt.Actor("ann", frozenset({"tech_lead"}))
    assert replayed.approved(actor=ann, decision="fine") is rt.State.DONE


def test_json_lines_round_trip_exactly(rt: ModuleType) -> None:
    machine = busy(rt, Clock())
    machine.rollback(6, actor=on_call(rt), decision='a "quoted" \u2713 decision\n')
    text = rt.Gatekeeper.dump_audit(machine.audit)
    assert text.count("\n") == len(machine.audit)
    loaded = rt.Gatekeeper.load_audit(text)
    assert loaded == machine.audit
    assert all(type(r.from_state) is rt.State for r in loaded)
    assert rt.Gatekeeper.dump_audit(loaded) == text
    replayed = rt.Gatekeeper.replay(loaded)
    assert (replayed.state, replayed.context) == (machine.state, machine.context)


def test_load_audit_names_the_bad_line(rt: ModuleType) -> None:
    good = rt.Gatekeeper.dump_audit(busy(rt, Clock()).audit).splitlines()
    for bad, message in [
        ("not json", "line 3"),
        (good[0].replace('"IDLE"', '"NOWHERE"'), "NOWHERE"),
        (good[0].replace('"seq": 1', '"seq": true'), "seq must be an integer"),
        (good[0].replace('"actor": null, ', ""), "exactly the keys"),
        (good[0].replace('"created"', '"forged"'), "forged"),
    ]:
        with pytest.raises(ValueError, match=message):
            rt.Gatekeeper.load_audit("\n".join([*good[:2], bad]))


def edit(record: Any, **changes: object) -> Any:
    return record._replace(**changes)


@pytest.mark.parametrize(
    ("index", "changes", "message"),
    [
        (0, {"seq": 5}, "record 5: expected record 1"),
        (0, {"event": "transition"}, "only the first record is, and must be, created"),
        (1, {"to_state": "DONE"}, "is not a transition of the spec"),
        (3, {"from_state": "IDLE"}, "leaves IDLE but the machine is in RUNNING"),
        (5, {"actor": None}, "needs an actor and a decision"),
        (5, {"decision": "  "}, "needs an actor and a decision"),
        (3, {"reason": None}, "the reason should be AGENT_ERROR"),
        (4, {"reason": "REJECTED"}, "the reason should be AGENT_ERROR"),
        (9, {"at": "previous"}, "fired before it was due"),
        (1, {"rollback_to": 1}, "a transition record has no rollback_to"),
        (2, {"to_state": "FAILED"}, "a context change stays in RUNNING"),
        (1, {"data": {"x": 1}}, "only an entry into a failed state keeps data"),
        (4, {"at": "earlier"}, "an automatic exit is taken at once"),
    ],
)
def test_replay_rejects_records_the_spec_does_not_allow(
    rt: ModuleType, index: int, changes: dict[str, object], message: str
) -> None:
    records = list(busy(rt, Clock()).audit)
    for key, value in changes.items():
        if key in ("to_state", "from_state") and value is not None:
            changes[key] = rt.State(value)
        if key == "reason" and value is not None:
            changes[key] = rt.Reason(value)
        if key == "event":
            changes[key] = rt.Event(value)
        if key == "at":
            earlier = records[index].at - timedelta(seconds=1)
            changes[key] = records[index - 1].at if value == "previous" else earlier
    records[index] = edit(records[index], **changes)
    with pytest.raises(rt.InvalidTransition, match=message):
        rt.Gatekeeper.replay(records)


def test_replay_rejects_a_log_ending_mid_event_and_forged_rollbacks(rt: ModuleType) -> None:
    records = busy(rt, Clock()).audit
    with pytest.raises(rt.InvalidTransition, match="leaves automatically"):
        rt.Gatekeeper.replay(records[:4])
    with pytest.raises(rt.InvalidTransition, match="an empty log"):
        rt.Gatekeeper.replay(())
    machine = busy(rt, Clock())
    machine.rollback(6, actor=on_call(rt), decision="retry")
    forged = edit(machine.audit[-1], to_state=rt.State.IDLE)
    with pytest.raises(rt.InvalidTransition, match="record 6 left the machine in RUNNING"):
        rt.Gatekeeper.replay((*machine.audit[:-1], forged))
    unsigned = edit(machine.audit[-1], actor=None)
    with pytest.raises(rt.InvalidTransition, match="a rollback needs an actor and a decision"):
        rt.Gatekeeper.replay((*machine.audit[:-1], unsigned))
