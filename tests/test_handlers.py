"""Handlers attached to states and transitions, run in this process (plain and asyncio):
which run when, what their outcomes fire, the approval lock, ``allowed()``, and mypy
checking handlers against the machine's own enums."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from test_runtime_kit import Clock, runtime

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def rt() -> ModuleType:
    return runtime()  # the gatekeeper: IDLE -> RUNNING -> CHECKED -> REVIEW -> DONE


def reviewer(rt: ModuleType) -> Any:
    return rt.Actor("rita", frozenset({"tech_lead"}))


def test_allowed_lists_what_may_fire_now_and_who_may(rt: ModuleType) -> None:
    clock = Clock()
    machine = rt.Gatekeeper(clock=clock)
    assert [(a.trigger, a.human) for a in machine.allowed()] == [(rt.Trigger.TASK_RECEIVED, False)]
    machine.task_received()
    assert {a.trigger for a in machine.allowed()} == {
        rt.Trigger.AGENT_ERROR,
        rt.Trigger.CHECKS_PASSED,
    }
    machine.checks_passed()
    review = {a.trigger: a for a in machine.allowed()}
    assert set(review) == {rt.Trigger.APPROVED, rt.Trigger.REJECTED}  # the timeout is not due
    assert review[rt.Trigger.APPROVED].human
    assert review[rt.Trigger.APPROVED].roles == frozenset({"tech_lead", "architect"})
    assert review[rt.Trigger.APPROVED].target is rt.State.DONE
    clock.advance(hours=72)
    timeout = {a.trigger: a for a in machine.allowed()}[rt.Trigger.REVIEW_TIMEOUT]
    assert timeout.timed and not timeout.human and timeout.target is rt.State.FAILED


def handlers_for(rt: ModuleType, calls: list[str], *, fail: bool = False) -> Any:
    handlers = rt.Handlers()

    @handlers.on_enter(rt.State.RUNNING, error=rt.Trigger.AGENT_ERROR)
    def work(job: Any) -> Any:
        calls.append(f"enter {job.state} {job.key}")
        if fail:
            raise RuntimeError("the model provider is down")
        return rt.Fire(rt.Trigger.CHECKS_PASSED, context={"result": 42})

    @handlers.on_approval(rt.State.REVIEW)
    def ask(job: Any) -> None:
        calls.append(f"ask {sorted(job.reviewers)} {job.deadline is not None}")

    @handlers.on_leave(rt.State.RUNNING)
    def left(job: Any) -> None:
        calls.append(f"leave {job.state} by {job.record.trigger}")

    @handlers.after_transition
    def after(job: Any) -> None:
        calls.append(f"after {job.record.from_state}->{job.record.to_state}")

    return handlers


def test_a_runner_runs_handlers_and_fires_their_outcomes(rt: ModuleType) -> None:
    calls: list[str] = []
    machine = rt.Gatekeeper(clock=Clock())
    runner = rt.Runner(handlers_for(rt, calls), machine)
    assert runner.fire(rt.Trigger.TASK_RECEIVED) is rt.State.REVIEW
    assert calls == [
        "after IDLE->RUNNING",
        "enter RUNNING gatekeeper:-:2:enter",
        "leave RUNNING by checks_passed",
        "after RUNNING->CHECKED",
        "after CHECKED->REVIEW",
        "ask ['architect', 'tech_lead'] True",
    ]
    assert machine.context == {"result": 42}
    assert [r.actor for r in machine.audit[2:4]] == ["handler:work", "handler:work"]
    assert runner.run() is rt.State.REVIEW  # nothing more to do: it waits for a person
    assert len(calls) == 6


def test_an_exception_fires_the_error_trigger_with_the_traceback(rt: ModuleType) -> None:
    calls: list[str] = []
    machine = rt.Gatekeeper(clock=Clock())
    runner = rt.Runner(handlers_for(rt, calls, fail=True), machine)
    assert runner.fire(rt.Trigger.TASK_RECEIVED) is rt.State.FAILED
    snapshot = machine.failures[0]  # STAGE_FAILED; FAILED follows automatically
    assert snapshot.trigger is rt.Trigger.AGENT_ERROR
    assert snapshot.reason is rt.Reason.AGENT_ERROR
    assert "RuntimeError: the model provider is down" in snapshot.payload["error"]
    assert snapshot.payload["key"] == "gatekeeper:-:2:enter"


def test_without_an_error_trigger_a_failure_is_raised_and_delivered_again(
    rt: ModuleType,
) -> None:
    handlers = rt.Handlers()
    attempts: list[int] = []

    @handlers.on_enter(rt.State.RUNNING)
    def flaky(job: Any) -> Any:
        attempts.append(job.attempt)
        if len(attempts) == 1:
            raise ConnectionError("timeout")
        return rt.Trigger.CHECKS_PASSED

    runner = rt.Runner(handlers, rt.Gatekeeper(clock=Clock()))
    with pytest.raises(rt.HandlerFailed, match="ConnectionError"):
        runner.fire(rt.Trigger.TASK_RECEIVED)
    assert runner.machine.state is rt.State.RUNNING
    assert runner.run() is rt.State.REVIEW
    assert len(attempts) == 2


def test_no_handler_of_a_running_state_runs_while_an_approval_holds(rt: ModuleType) -> None:
    """A delivery that comes late (the instance moved on to review) runs nothing of the
    running state it was called for, and its outcome is never fired."""
    calls: list[str] = []
    handlers = handlers_for(rt, calls)
    machine = rt.Gatekeeper(clock=Clock())
    machine.task_received()
    machine.checks_passed()  # someone else finished the work: REVIEW holds now
    runner = rt.Runner(handlers, machine)
    assert runner.run() is rt.State.REVIEW
    assert not any(call.startswith("enter") for call in calls)
    assert "ask ['architect', 'tech_lead'] True" in calls
    with pytest.raises(rt.Locked):
        machine.update_context({"result": 1})


def test_an_outcome_the_state_does_not_enable_is_refused(rt: ModuleType) -> None:
    handlers = rt.Handlers()

    @handlers.on_enter(rt.State.RUNNING, error=rt.Trigger.AGENT_ERROR)
    def approves_itself(job: Any) -> Any:
        return rt.Trigger.APPROVED  # a human exit of another state

    machine = rt.Gatekeeper(clock=Clock())
    assert rt.Runner(handlers, machine).fire(rt.Trigger.TASK_RECEIVED) is rt.State.FAILED
    assert "approved, which is not an exit it enables" in machine.failures[-1].payload["error"]


def test_registration_checks_the_spec(rt: ModuleType) -> None:
    handlers = rt.Handlers()
    with pytest.raises(ValueError, match="approval state: attach to it with on_approval"):
        handlers.on_enter(rt.State.REVIEW)
    with pytest.raises(ValueError, match="not an approval state"):
        handlers.on_approval(rt.State.RUNNING)
    with pytest.raises(ValueError, match="error=approved is not a plain exit of RUNNING"):
        handlers.on_enter(rt.State.RUNNING, error=rt.Trigger.APPROVED)
    with pytest.raises(TypeError, match="takes a State of gatekeeper"):
        handlers.on_leave("RUNNING")
    handlers.on_leave(rt.State.RUNNING)(lambda job: None)
    with pytest.raises(ValueError, match="already has an on_leave handler"):
        handlers.on_leave(rt.State.RUNNING)(lambda job: None)


def test_an_async_handler_needs_the_async_runner(rt: ModuleType) -> None:
    handlers = rt.Handlers()
    order: list[str] = []

    @handlers.on_enter(rt.State.RUNNING, error=rt.Trigger.AGENT_ERROR)
    async def model_call(job: Any) -> Any:
        order.append("called")
        await asyncio.sleep(0)
        order.append("answered")
        return rt.Fire(rt.Trigger.CHECKS_PASSED, payload={"tokens": 12})

    machine = rt.Gatekeeper(clock=Clock())
    with pytest.raises(TypeError, match="model_call is async: run it with an AsyncRunner"):
        rt.Runner(handlers, machine).fire(rt.Trigger.TASK_RECEIVED)
    assert machine.state is rt.State.RUNNING  # the transition stands; its work waits

    async def main() -> Any:
        runner = rt.AsyncRunner(handlers, machine)
        return await runner.run()

    assert asyncio.run(main()) is rt.State.REVIEW
    assert order == ["called", "answered"]


def test_handlers_belong_to_their_machine(rt: ModuleType) -> None:
    other = runtime(
        """\
        statewright: 1
        machine: other
        initial: A
        states: {A: {kind: idle}, B: {kind: complete, final: true}}
        transitions: [{from: A, to: B, trigger: go}]
        """
    )
    with pytest.raises(TypeError, match="these handlers belong to Other, not Gatekeeper"):
        rt.Runner(other.Handlers(), rt.Gatekeeper())


TYPED = """\
from generated.discovery_pipeline.runtime import Fire, Handlers, Job, Reason, State, Trigger
from generated.orchestrator.runtime import State as OtherState, Trigger as OtherTrigger

handlers = Handlers()
Work = Job[State, Trigger, Reason]


@handlers.on_enter(State.SCOUT_RUNNING, error=Trigger.AGENT_ERROR)
def scout(job: Work) -> Fire[Trigger]:
    return Fire(Trigger.SCOUT_SUCCEEDED)


@handlers.on_enter(State.HUNTER_RUNNING)
async def hunter(job: Work) -> Trigger | None:
    return Trigger.HUNTER_SUCCEEDED


@handlers.on_enter(OtherState.RUNNING)  # a state of another machine
def wrong_state(job: Work) -> None:
    return None


@handlers.on_enter(State.ATLAS_RUNNING)
def wrong_outcome(job: Work) -> OtherTrigger:  # a trigger of another machine (line 24)
    return OtherTrigger.TASK_RECEIVED


@handlers.on_approval(State.WAITING_ARCHITECTURE_APPROVAL)
def ask(job: Job[OtherState, OtherTrigger, Reason]) -> None:  # another job type
    return None
"""


@pytest.mark.slow
def test_mypy_checks_handlers_against_the_machine(tmp_path: Path) -> None:
    module = tmp_path / "typed_handlers.py"
    module.write_text(TYPED)
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(module)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "MYPYPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    lines = {int(line.split(":")[1]) for line in done.stdout.splitlines() if ": error:" in line}
    assert lines == {18, 23, 28}, done.stdout


def test_a_rollback_into_a_running_state_runs_its_agent_again(rt: ModuleType) -> None:
    calls: list[str] = []
    handlers = rt.Handlers()

    @handlers.on_enter(rt.State.RUNNING, error=rt.Trigger.AGENT_ERROR)
    def work(job: Any) -> Any:
        calls.append(job.key)
        return None if len(calls) > 1 else rt.Trigger.AGENT_ERROR

    machine = rt.Gatekeeper(clock=Clock())
    runner = rt.Runner(handlers, machine)
    assert runner.fire(rt.Trigger.TASK_RECEIVED) is rt.State.FAILED
    machine.rollback(2, actor=rt.Actor("olu", frozenset({"on_call"})), decision="Try again.")
    assert runner.run() is rt.State.RUNNING
    assert calls == ["gatekeeper:-:2:enter", "gatekeeper:-:5:enter"]
