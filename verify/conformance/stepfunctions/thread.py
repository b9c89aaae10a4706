"""The threads of an execution as the history walk follows them, and the event types it knows.

A thread is the execution itself, one Parallel branch or one Map iteration: it is in one
state at a time, and remembers what the walk needs to judge its next event (the states
it may enter, a failure a retrier or a Catch may still handle, the task it waits on).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from statewright.verify.conformance.stepfunctions.history import Event
from statewright.verify.conformance.stepfunctions.machine import Scope
from statewright.verify.load.asl.definition import AslState

__all__ = [
    "ANSWERED",
    "ENDS",
    "FAILED",
    "PROGRESS",
    "SCHEDULED",
    "STATE_TYPES",
    "TIMED_OUT",
    "Thread",
]

STATE_TYPES = ("Task", "Pass", "Wait", "Choice", "Parallel", "Map", "Succeed", "Fail")
SCHEDULED = {"TaskScheduled", "ActivityScheduled", "LambdaFunctionScheduled"}
ANSWERED = {"TaskSucceeded", "ActivitySucceeded", "LambdaFunctionSucceeded"}
PROGRESS = {"TaskStarted", "TaskSubmitted", "ActivityStarted", "LambdaFunctionStarted"}
FAILED = {
    "TaskFailed": "States.TaskFailed",
    "TaskStartFailed": "States.TaskFailed",
    "TaskSubmitFailed": "States.TaskFailed",
    "TaskTimedOut": "States.Timeout",
    "ActivityFailed": "States.TaskFailed",
    "ActivityScheduleFailed": "States.TaskFailed",
    "ActivityTimedOut": "States.Timeout",
    "LambdaFunctionFailed": "States.TaskFailed",
    "LambdaFunctionStartFailed": "States.TaskFailed",
    "LambdaFunctionScheduleFailed": "States.TaskFailed",
    "LambdaFunctionTimedOut": "States.Timeout",
}
TIMED_OUT = {"TaskTimedOut", "ActivityTimedOut", "LambdaFunctionTimedOut"}
ENDS = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"}


@dataclass(eq=False)
class Thread:
    """The execution, a Parallel branch or a Map iteration, as far as the history went."""

    scope: Scope
    label: str
    parent: Thread | None = None
    expected: dict[str, str] = field(default_factory=dict)
    """The states it may enter next, each with why (for messages)."""
    state: AslState | None = None
    entered: Event | None = None
    inside: bool = False
    """Entered and not yet exited."""
    outcome: str | None = None
    """None while it runs; ``"succeeded"``, ``"failed"`` or ``"aborted"``."""
    error: str | None = None
    failure: tuple[str, Event] | None = None
    """A failure of the current state that a retry or a Catch may still handle."""
    scheduled: Event | None = None
    started: Event | None = None
    attempts: dict[int, int] = field(default_factory=dict)
    children: dict[object, Thread] = field(default_factory=dict)
    running: bool = False
    """A Parallel or Map state whose branches or iterations have started."""
    chosen: str | None = None
    """The target a Choice state's rules select, when they could be evaluated."""
    failed_at: int = 0
    """The id of the event it failed at: a Parallel or Map state fails with the error of
    its branch or iteration that failed first."""
