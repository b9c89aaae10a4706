"""The audit log as the compliance record: rollback, replay and JSON lines round trips."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from test_runtime_kit import Clock, runtime


@pytest.fixture(scope="module")
def rt() -> ModuleType:
    return runtime()


def busy(rt: ModuleType, clock: Clock) -> Any:
    """A run through failure, resumption, review and approval, with context updates."""
    machine = rt.Gatekeeper(clock=clock, context={"round": 0})
    on_call = rt.Actor("olu", frozenset({"on_call"}))
    machine.task_received()  # 1
    machine.update_context({"round": 1})
    clock.advance(minutes=1)
    machine.agent_error(payload={"why": "quota"})  # 2, 3 (automatic)
    machine.resumed(actor=on_call, decision="quota raised")  # 4
    machine.update_context({"round": 2})
    machine.checks_passed()  # 5, 6 (automatic into REVIEW)
    clock.advance(hours=80)
    machine.expire()  # 7
    return machine


def test_rollback_restores_state_and_context_and_is_recorded(rt: ModuleType) -> None:
    clock = Clock()
    machine = busy(rt, clock)
    assert machine.state is rt.State.FAILED
    length = len(machine.audit)
    assert machine.rollback(4, actor=rt.Actor("olu"), decision="retry review") is rt.State.RUNNING
    assert machine.context == {"round": 2}
    assert machine.reason is None
    record = machine.audit[-1]
    assert len(machine.audit) == length + 1
    assert (record.seq, record.from_state, record.to_state, record.trigger) == (
        length + 1,
        rt.State.FAILED,
        rt.State.RUNNING,
        None,
    )
    assert (record.rollback_to, record.actor, record.decision) == (4, "olu", "retry review")
    machine.rollback(1)
    assert (machine.state, machine.context) == (rt.State.RUNNING, {"round": 1})
    machine.rollback(3)
    assert (machine.state, machine.reason) == (rt.State.FAILED, rt.Reason.AGENT_ERROR)
    machine.rollback(0)
    assert (machine.state, machine.context) == (rt.State.IDLE, {"round": 0})
    assert [r.rollback_to for r in machine.audit[length:]] == [4, 1, 3, 0]


def test_rollback_refuses_records_that_do_not_exist_or_are_transient(rt: ModuleType) -> None:
    machine = busy(rt, Clock())
    before = machine.audit
    with pytest.raises(ValueError, match="no record 99"):
        machine.rollback(99)
    with pytest.raises(ValueError, match="roll back to record 3 instead"):
        machine.rollback(2)  # STAGE_FAILED, left automatically
    assert machine.audit == before


def test_replay_rebuilds_the_same_machine_after_rollback(rt: ModuleType) -> None:
    clock = Clock()
    machine = busy(rt, clock)
    machine.rollback(4)
    machine.checks_passed()
    replayed = rt.Gatekeeper.replay(machine.audit, clock=clock, context={"round": 0})
    assert replayed.state is machine.state is rt.State.REVIEW
    assert replayed.audit == machine.audit
    assert replayed.deadline == machine.deadline
    assert [f.seq for f in replayed.failures] == [f.seq for f in machine.failures]
    ann = rt.Actor("ann", frozenset({"tech_lead"}))
    assert replayed.approved(actor=ann, decision="fine") is rt.State.DONE


def test_json_lines_round_trip_exactly(rt: ModuleType) -> None:
    machine = busy(rt, Clock())
    machine.rollback(4, actor=rt.Actor("olu"), decision='a "quoted" \u2713 decision\n')
    text = rt.dump_audit(machine.audit)
    assert text.count("\n") == len(machine.audit)
    loaded = rt.load_audit(text)
    assert loaded == machine.audit
    assert all(type(r.from_state) is rt.State for r in loaded)
    assert rt.dump_audit(loaded) == text
    assert rt.Gatekeeper.replay(loaded).state is machine.state


def test_load_audit_names_the_bad_line(rt: ModuleType) -> None:
    good = rt.dump_audit(busy(rt, Clock()).audit).splitlines()
    for bad, message in [
        ("not json", "line 3"),
        (good[0].replace('"IDLE"', '"NOWHERE"'), "NOWHERE"),
        (good[0].replace('"seq": 1', '"seq": true'), "seq must be an integer"),
        (good[0].replace('"actor": null, ', ""), "exactly the keys"),
    ]:
        with pytest.raises(ValueError, match=message):
            rt.load_audit("\n".join([*good[:2], bad]))


def edit(record: Any, **changes: object) -> Any:
    return record._replace(**changes)


@pytest.mark.parametrize(
    ("index", "changes", "message"),
    [
        (0, {"seq": 5}, "record 5: expected record 1"),
        (0, {"to_state": "DONE"}, "is not a transition of the spec"),
        (1, {"from_state": "IDLE"}, "leaves IDLE but the machine is in RUNNING"),
        (3, {"actor": None}, "needs an actor and a decision"),
        (1, {"reason": None}, "the reason should be AGENT_ERROR"),
        (2, {"reason": "REJECTED"}, "the reason should be AGENT_ERROR"),
        (6, {"at": None}, "fired before it was due"),
        (0, {"rollback_to": 0}, "a transition record has no rollback_to"),
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
        if key == "at":
            changes[key] = records[index - 1].at
    records[index] = edit(records[index], **changes)
    with pytest.raises(rt.InvalidTransition, match=message):
        rt.Gatekeeper.replay(records)


def test_replay_rejects_a_log_ending_mid_event_and_forged_rollbacks(rt: ModuleType) -> None:
    records = busy(rt, Clock()).audit
    with pytest.raises(rt.InvalidTransition, match="leaves automatically"):
        rt.Gatekeeper.replay(records[:2])
    machine = busy(rt, Clock())
    machine.rollback(4)
    forged = edit(machine.audit[-1], to_state=rt.State.IDLE)
    with pytest.raises(rt.InvalidTransition, match="record 4 left the machine in RUNNING"):
        rt.Gatekeeper.replay((*machine.audit[:-1], forged))
