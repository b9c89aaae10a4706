"""``Machine.allowed()`` lists what the runtime would accept now: once the current
state's deadline has passed, its timed exit alone (the runtime takes it first whatever
fires). Checked against the runtime itself: every listed non-human trigger fires without
``InvalidTransition``, at any moment, and a trigger it leaves out while overdue is one the
runtime would judge from another state."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from storekit import generate_runtime
from test_approval_policies import SPEC, START, who
from test_runtime_kit import Clock


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("release"), SPEC)[0]


def building(rt: Any, clock: Clock) -> Any:
    machine = rt.Release(clock=clock)
    machine.requested(actor=who(rt, "alice", "engineer"))
    return machine


def test_an_overdue_state_lists_its_timed_exit_alone(rt: Any) -> None:
    clock = Clock(START)
    machine = building(rt, clock)
    assert [str(a.trigger) for a in machine.allowed()] == ["built"]
    clock.advance(hours=2)  # at the deadline: not yet passed
    assert [str(a.trigger) for a in machine.allowed()] == ["build_timeout", "built"]
    clock.advance(minutes=1)
    assert [(str(a.trigger), str(a.target)) for a in machine.allowed()] == [
        ("build_timeout", "FAILED")
    ]
    with pytest.raises(rt.InvalidTransition, match="timed exit build_timeout was taken"):
        machine.built()  # what the old listing offered: judged from FAILED


@settings(max_examples=40, deadline=None)
@given(minutes=st.integers(0, 200), gate=st.booleans())
def test_every_listed_non_human_trigger_is_accepted(rt: Any, minutes: int, gate: bool) -> None:
    clock = Clock(START)
    machine = building(rt, clock)
    if gate:
        machine.built()
    clock.advance(minutes=minutes * (30 if gate else 1))
    listed = [a for a in machine.allowed() if not a.human]
    for choice in listed:
        fresh = rt.Release.replay(machine.audit, clock=clock)
        fresh.fire(choice.trigger)  # never InvalidTransition
        assert fresh.audit[-1].trigger == choice.trigger or fresh.state == choice.target
    if machine.deadline is not None and machine.deadline < clock.now:
        assert [a.trigger for a in machine.allowed()] == [machine._node.timed.trigger]
