"""A Step Functions execution simulator for the history checker's tests: the oracle side.

It walks an ASL definition (plain JSON, read with ``json``, sharing no code with
``statewright.verify.conformance.stepfunctions``) and writes the history the service would:
tasks that succeed, fail and time out, retries by the first matching retrier with their
back-off, catches, Choice branches picked by its own evaluation of the rules on a random
input it records, Wait states, Parallel branches and Map iterations interleaved by time,
and the execution's own time-out. ``Bug`` asks it to misbehave once, in one way, where it
can (``planted`` says whether it did): the mutants the checker must report.

Also :func:`random_definition`, random definitions for it to run.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any

__all__ = ["Bug", "Simulator", "random_definition", "simulate"]

START = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
ERRORS = ("Lambda.ServiceException", "Card.Declined", "States.Timeout", "Other.Error")

Json = dict[str, Any]


class Bug(Enum):
    SKIP_STATE = "a state skipped"
    WRONG_CHOICE = "a wrong Choice branch"
    LATE_ANSWER = "a task answered after its timeout"
    EXTRA_RETRY = "a retry beyond MaxAttempts"
    FOREIGN_EVENT = "an event of another state"
    SUCCESS_AFTER_FAILURE = "a success after an unhandled failure"


class _Budget(Exception):
    """The run went on too long (a loop in a committed definition): it is aborted."""


class _Failed(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


@dataclass
class _Event:
    type: str
    at: datetime
    previous: _Event | None
    details: Json = field(default_factory=dict)
    detail_key: str = ""


def _matches(names: list[str], error: str) -> bool:
    if error in names:
        return True
    if error in ("States.Runtime", "States.DataLimitExceeded"):
        return False
    return "States.ALL" in names or ("States.TaskFailed" in names and error != "States.Timeout")


def _get(data: Any, path: str) -> Any:
    """``$.a.b`` in ``data``; a KeyError when missing (names only)."""
    for part in path[2:].split(".") if path != "$" else []:
        if not isinstance(data, dict) or part not in data:
            raise KeyError(path)
        data = data[part]
    return data


_NUMERIC: dict[str, Callable[[Any, Any], bool]] = {
    "NumericEquals": lambda a, b: bool(a == b),
    "NumericGreaterThan": lambda a, b: bool(a > b),
    "NumericLessThan": lambda a, b: bool(a < b),
    "NumericGreaterThanEquals": lambda a, b: bool(a >= b),
    "NumericLessThanEquals": lambda a, b: bool(a <= b),
}


def _holds(rule: Json, data: Any) -> bool:
    """The oracle's evaluation of a Choice condition (the operators the tests use)."""
    if "And" in rule:
        return all(_holds(r, data) for r in rule["And"])
    if "Or" in rule:
        return any(_holds(r, data) for r in rule["Or"])
    if "Not" in rule:
        return not _holds(rule["Not"], data)
    try:
        value = _get(data, rule["Variable"])
    except KeyError:
        if "IsPresent" in rule:
            return rule["IsPresent"] is False
        raise _Failed("States.Runtime") from None
    if "IsPresent" in rule:
        return rule["IsPresent"] is True
    if "IsNull" in rule:
        return (value is None) == (rule["IsNull"] is True)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    for op, test in _NUMERIC.items():
        if op in rule:
            return number and test(value, rule[op])
    if "StringEquals" in rule:
        return isinstance(value, str) and value == rule["StringEquals"]
    if "BooleanEquals" in rule:
        return isinstance(value, bool) and value == rule["BooleanEquals"]
    raise NotImplementedError(f"the simulator does not evaluate {sorted(rule)}")


def _conditions(rule: Json) -> list[Json]:
    """Every leaf condition of a Choice rule."""
    for key in ("And", "Or"):
        if key in rule:
            return [c for r in rule[key] for c in _conditions(r)]
    if "Not" in rule:
        return _conditions(rule["Not"])
    return [rule]


def _set(data: Json, path: str, value: Any) -> None:
    """Set ``$.a.b`` in ``data``, making the objects on the way."""
    *parents, last = path[2:].split(".")
    for part in parents:
        child = data.get(part)
        if not isinstance(child, dict):
            child = data[part] = {}
        data = child
    data[last] = value


@dataclass
class Simulator:
    """One run of one definition; :meth:`history` is the JSON text it wrote."""

    definition: Json
    rng: random.Random
    bug: Bug | None = None
    planted: bool = False
    failing: float = 0.3
    events: list[_Event] = field(default_factory=list)
    budget: int = 150

    def emit(self, kind: str, at: datetime, previous: _Event | None, **details: Any) -> _Event:
        key = _DETAIL_KEYS.get(kind, "")
        event = _Event(kind, at, previous, details, key)
        self.events.append(event)
        return event

    def plant(self, bug: Bug) -> bool:
        """Whether to misbehave now: once, for the bug asked, at a random opportunity."""
        if self.bug is bug and not self.planted and self.rng.random() < 0.5:
            self.planted = True
            return True
        return False

    # -- machines -------------------------------------------------------------------

    def machine(
        self, body: Json, at: datetime, previous: _Event
    ) -> tuple[datetime, _Event, str | None]:
        """Run a state machine (or branch, or iterator) from ``previous`` at ``at``: when
        it ended, its last event, and the error it failed with (None: it succeeded)."""
        states: Json = body["States"]
        name: str | None = body["StartAt"]
        while name is not None:
            self.budget -= 1
            if self.budget < 0:
                raise _Budget
            state = states[name]
            following = self.next_of(state, states, name)
            if following is not None and self.plant(Bug.SKIP_STATE):
                name = following
                continue
            try:
                at, previous, name = self.state(name, state, states, at, previous)
            except _Failed as failed:
                last = self.events[-1]
                return max(at, last.at), last, failed.error
        return at, previous, None

    def next_of(self, state: Json, states: Json, name: str) -> str | None:
        """The state after ``name`` when it is a plain step (Pass or Wait to a Pass),
        for a planted skip."""
        target = state.get("Next")
        if state["Type"] not in ("Pass", "Wait") or target is None or target == name:
            return None
        return target if states[target]["Type"] == "Pass" and target != name else None

    def state(
        self, name: str, state: Json, states: Json, at: datetime, previous: _Event
    ) -> tuple[datetime, _Event, str | None]:
        kind = state["Type"]
        data = self.input_for(state)
        entered = self.emit(f"{kind}StateEntered", at, previous, name=name, input=json.dumps(data))
        last = entered
        if kind == "Fail":
            raise _Failed(state.get("Error", ""))  # a Fail state without Error gives none
        if kind in ("Pass", "Wait", "Choice") and self.plant(Bug.FOREIGN_EVENT):
            last = self.emit("TaskScheduled", at, last, resourceType="lambda", resource="invoke")
        target = state.get("Next")
        if kind == "Wait":
            at = self.waited(state, at, data)
        elif kind == "Choice":
            target = self.chosen(state, data)
        elif kind in ("Task", "Parallel", "Map"):
            at, last, caught = self.attempts(name, state, at, last)
            if caught is not None:
                exited = self.emit(f"{kind}StateExited", at, last, name=name, output="{}")
                return at, exited, caught
        at += timedelta(milliseconds=self.rng.randint(0, 50))
        exited = self.emit(f"{kind}StateExited", at, last, name=name, output="{}")
        if kind == "Succeed" or state.get("End"):
            return at, exited, None
        return at, exited, target

    def input_for(self, state: Json) -> Json:
        """A random input, with values for the paths a Choice or Wait state reads."""
        data: Json = {}
        for rule in state.get("Choices", []):
            for condition in _conditions(rule):
                variable = condition.get("Variable", "$")
                if self.rng.random() < 0.15 or not variable.startswith("$."):
                    continue
                literal = next(
                    (v for k, v in condition.items() if k not in ("Variable", "Next")), 0
                )
                _set(data, variable, self.near(literal))
        for key in ("SecondsPath", "TimestampPath"):
            if key in state:
                seconds = self.rng.randint(0, 120)
                stamp = (START + timedelta(days=1, seconds=seconds)).isoformat()
                _set(data, state[key], seconds if key == "SecondsPath" else stamp)
        return data

    def near(self, literal: Any) -> Any:
        if isinstance(literal, bool):
            return self.rng.choice([True, False, None])
        if isinstance(literal, int | float):
            return literal + self.rng.choice([-1, 0, 0, 1])
        if isinstance(literal, str):
            return self.rng.choice([literal, literal + "x"])
        return self.rng.choice([True, 1, "x", None])

    def chosen(self, state: Json, data: Json) -> str:
        targets = [r["Next"] for r in state["Choices"]] + [state.get("Default")]
        choice = next((r["Next"] for r in state["Choices"] if _holds(r, data)), None)
        if choice is None:
            if state.get("Default") is None:
                raise _Failed("States.NoChoiceMatched")
            choice = state["Default"]
        others = sorted({t for t in targets if t is not None and t != choice})
        if others and self.plant(Bug.WRONG_CHOICE):
            return str(self.rng.choice(others))
        return str(choice)

    def waited(self, state: Json, at: datetime, data: Json) -> datetime:
        extra = timedelta(milliseconds=self.rng.randint(0, 900))
        if "Seconds" in state:
            return at + timedelta(seconds=state["Seconds"]) + extra
        if "SecondsPath" in state:
            return at + timedelta(seconds=_get(data, state["SecondsPath"])) + extra
        if "TimestampPath" in state:
            until = datetime.fromisoformat(_get(data, state["TimestampPath"]))
            return max(at, until) + extra
        return at + extra

    # -- tasks, retries, catches ----------------------------------------------------

    def attempts(
        self, name: str, state: Json, at: datetime, last: _Event
    ) -> tuple[datetime, _Event, str | None]:
        """Run a Task, Parallel or Map state with its retriers: when it ended, its last
        event, and the target of the Catch that took a failure (None: it succeeded)."""
        used: dict[int, int] = {}
        while True:
            at, last, error = self.attempt(state, at, last)
            if error is None:
                return at, last, None
            retriers = state.get("Retry", [])
            index = next(
                (i for i, r in enumerate(retriers) if _matches(r["ErrorEquals"], error)), None
            )
            if index is not None:
                retrier = retriers[index]
                done = used.get(index, 0)
                if done < retrier.get("MaxAttempts", 3) or self.plant(Bug.EXTRA_RETRY):
                    used[index] = done + 1
                    wait = (
                        retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** done
                    )
                    if "MaxDelaySeconds" in retrier:
                        wait = min(wait, retrier["MaxDelaySeconds"])
                    at += timedelta(seconds=wait, milliseconds=self.rng.randint(0, 400))
                    continue
            catch = next(
                (c["Next"] for c in state.get("Catch", []) if _matches(c["ErrorEquals"], error)),
                None,
            )
            if catch is not None:
                return at, last, catch
            raise _Failed(error)

    def attempt(
        self, state: Json, at: datetime, last: _Event
    ) -> tuple[datetime, _Event, str | None]:
        kind = state["Type"]
        if kind == "Parallel":
            return self.fan_out(state, at, last, [(b, None) for b in state["Branches"]])
        if kind == "Map":
            body = state.get("ItemProcessor") or state["Iterator"]
            return self.fan_out(state, at, last, [(body, i) for i in range(self.rng.randint(0, 3))])
        timeout = state.get("TimeoutSeconds")
        details: Json = {"resourceType": "lambda", "resource": "invoke"}
        if timeout is not None:
            details["timeoutInSeconds"] = timeout
        scheduled = self.emit("TaskScheduled", at, last, **details)
        at += timedelta(milliseconds=self.rng.randint(1, 200))
        started = self.emit("TaskStarted", at, scheduled, resourceType="lambda", resource="invoke")
        roll = self.rng.random()
        limit = timeout if timeout is not None else 3600
        if timeout is not None and roll < self.failing / 3:
            at = scheduled.at + timedelta(seconds=timeout, milliseconds=self.rng.randint(0, 300))
            ended = self.emit("TaskTimedOut", at, started, error="States.Timeout")
            return at, ended, "States.Timeout"
        took = timedelta(seconds=self.rng.uniform(0, limit * 0.9))
        if timeout is not None and self.plant(Bug.LATE_ANSWER):
            took = timedelta(seconds=timeout + self.rng.randint(5, 600))
        at = max(at, scheduled.at + took)
        if roll < self.failing:
            error = self.rng.choice(_errors_of(state))
            ended = self.emit("TaskFailed", at, started, error=error, cause="simulated")
            return at, ended, error
        ended = self.emit("TaskSucceeded", at, started, output="{}")
        return at, ended, None

    def fan_out(
        self, state: Json, at: datetime, last: _Event, runs: list[tuple[Json, int | None]]
    ) -> tuple[datetime, _Event, str | None]:
        """Parallel branches or Map iterations, each from its start event; the events
        of each run are written in their own order, all of them merged by time."""
        kind = state["Type"]
        extra = {"length": len(runs)} if kind == "Map" else {}
        started = self.emit(f"{kind}StateStarted", at, last, **extra)
        outer, ends = self.events, []
        failures: list[tuple[_Event, str]] = []
        merged: list[_Event] = []
        for body, index in runs:
            self.events = []
            begin = started
            if index is not None:
                begin = self.emit(
                    "MapIterationStarted", at, started, name=state.get("_name", ""), index=index
                )
            end_at, end_event, error = self.machine(body, at, begin)
            if error is not None:
                failures.append((end_event, error))
            if index is not None:
                verdict = "Failed" if error is not None else "Succeeded"
                end_event = self.emit(
                    f"MapIteration{verdict}",
                    end_at,
                    end_event,
                    name=state.get("_name", ""),
                    index=index,
                )
            ends.append((end_at, end_event))
            merged.extend(self.events)
        self.events = outer
        merged.sort(key=lambda e: (e.at, self.rng.random()))
        order = {id(e): n for n, e in enumerate(merged)}
        placed = _causal(merged, order)
        self.events.extend(placed)
        end_at, end_event = max(ends, key=lambda p: p[0]) if ends else (at, started)
        position = {id(e): n for n, e in enumerate(placed)}
        first = min(failures, key=lambda f: position[id(f[0])], default=None)
        error = first[1] if first else None  # the error of the run that failed first
        verdict = "Failed" if error is not None else "Succeeded"
        done = self.emit(f"{kind}State{verdict}", end_at, end_event)
        return end_at, done, error

    # -- the execution --------------------------------------------------------------

    def run(self) -> str:
        first = self.emit(
            "ExecutionStarted", START, None, input="{}", roleArn="arn:aws:iam::1:role/r"
        )
        _name_maps(self.definition)
        try:
            at, last, error = self.machine(self.definition, START, first)
        except _Budget:
            return self.history(abort=True)
        if error is None or self.plant(Bug.SUCCESS_AFTER_FAILURE):
            self.emit("ExecutionSucceeded", at, last, output="{}")
        else:
            details = {"error": error, "cause": "simulated"} if error else {}
            self.emit("ExecutionFailed", at, last, **details)
        return self.history()

    def history(self, abort: bool = False) -> str:
        events = list(self.events)
        timeout = self.definition.get("TimeoutSeconds")
        if timeout is not None:
            deadline = START + timedelta(seconds=timeout)
            kept = [e for e in events if e.at <= deadline]
            if len(kept) < len(events):
                kept = [
                    e
                    for e in kept
                    if not e.type.startswith("Execution") or e.type == "ExecutionStarted"
                ]
                kept.append(_Event("ExecutionTimedOut", deadline, kept[-1], {}, ""))
                events = kept
        if abort:
            events.append(_Event("ExecutionAborted", events[-1].at, events[-1], {}, ""))
        ids = {id(e): n for n, e in enumerate(events, start=1)}
        out = []
        for event in events:
            item: Json = {
                "id": ids[id(event)],
                "previousEventId": ids.get(id(event.previous), 0) if event.previous else 0,
                "timestamp": event.at.isoformat(),
                "type": event.type,
            }
            if event.type.endswith(("StateEntered", "StateExited")):
                key = (
                    "stateEnteredEventDetails"
                    if event.type.endswith("Entered")
                    else "stateExitedEventDetails"
                )
                item[key] = event.details
            elif event.detail_key:
                item[event.detail_key] = event.details
            out.append(item)
        return json.dumps({"events": out}, indent=1)


def _causal(events: list[_Event], order: dict[int, int]) -> list[_Event]:
    """``events`` merged by time, each still after the event it follows."""
    placed: list[_Event] = []
    seen: set[int] = set()
    pending = list(events)
    while pending:
        for event in pending:
            if (
                event.previous is None
                or id(event.previous) in seen
                or id(event.previous) not in order
            ):
                placed.append(event)
                seen.add(id(event))
                pending.remove(event)
                break
    return placed


def _errors_of(state: Json) -> list[str]:
    """The errors a task may fail with: a few of any task's, and those its retriers
    and catchers name."""
    named = [
        e for h in [*state.get("Retry", []), *state.get("Catch", [])] for e in h["ErrorEquals"]
    ]
    wildcards = ("States.ALL", "States.TaskFailed", "States.Timeout")
    return sorted({*ERRORS, *named} - set(wildcards))


def _name_maps(body: Json) -> None:
    for name, state in body.get("States", {}).items():
        state["_name"] = name
        for inner in [
            *state.get("Branches", []),
            state.get("ItemProcessor") or state.get("Iterator") or {},
        ]:
            _name_maps(inner)


_DETAIL_KEYS = {
    "ExecutionStarted": "executionStartedEventDetails",
    "ExecutionSucceeded": "executionSucceededEventDetails",
    "ExecutionFailed": "executionFailedEventDetails",
    "TaskScheduled": "taskScheduledEventDetails",
    "TaskStarted": "taskStartedEventDetails",
    "TaskSucceeded": "taskSucceededEventDetails",
    "TaskFailed": "taskFailedEventDetails",
    "TaskTimedOut": "taskTimedOutEventDetails",
    "MapStateStarted": "mapStateStartedEventDetails",
    "MapIterationStarted": "mapIterationStartedEventDetails",
    "MapIterationSucceeded": "mapIterationSucceededEventDetails",
    "MapIterationFailed": "mapIterationFailedEventDetails",
}


def simulate(
    definition: Json, seed: int, bug: Bug | None = None, failing: float = 0.3
) -> tuple[str, bool]:
    """The history of one random run of ``definition`` and whether ``bug`` was planted;
    ``failing`` is the chance that a task fails."""
    copy = json.loads(json.dumps(definition))
    simulator = Simulator(copy, random.Random(seed), bug, failing=failing)
    return simulator.run(), simulator.planted


# -- random definitions -----------------------------------------------------------------


def random_definition(rng: random.Random, size: int = 7, prefix: str = "S") -> Json:
    """A random, valid definition whose states only lead forward (so every run ends);
    a nested one (a Parallel branch, a Map iterator) has no Parallel or Map itself."""
    nested = prefix != "S"
    names = [f"{prefix}{n}" for n in range(size)]
    states: Json = {}
    for index, name in enumerate(names):
        later = names[index + 1 :]
        kinds = ["Task", "Task", "Pass", "Wait", "Choice", "Succeed"]
        kind = rng.choice(kinds + ([] if nested else ["Parallel", "Map"])) if later else "End"
        states[name] = _random_state(rng, kind, name, later)
    definition: Json = {"StartAt": names[0], "States": states}
    if not nested and rng.random() < 0.3:
        definition["TimeoutSeconds"] = rng.choice([60, 600, 7200])
    return definition


_RESOURCES = ["arn:aws:states:::lambda:invoke", "arn:aws:states:::sqs:sendMessage.waitForTaskToken"]
_RETRY_ERRORS = ["Lambda.ServiceException", "States.Timeout", "States.TaskFailed", "States.ALL"]


def _random_state(rng: random.Random, kind: str, name: str, later: list[str]) -> Json:
    if kind == "End":
        ends: list[Json] = [{"Type": "Succeed"}, {"Type": "Fail", "Error": "Gave.Up"}]
        return rng.choice([*ends, {"Type": "Pass", "End": True}])
    state: Json = {"Type": kind}
    if kind == "Task":
        state["Resource"] = rng.choice(_RESOURCES)
        if rng.random() < 0.7:
            state["TimeoutSeconds"] = rng.choice([5, 60, 3600])
    if kind == "Parallel":
        count = rng.randint(1, 3)
        state["Branches"] = [
            random_definition(rng, rng.randint(1, 3), f"{name}b{b}_") for b in range(count)
        ]
    if kind == "Map":
        state["ItemProcessor"] = random_definition(rng, rng.randint(1, 3), f"{name}i_")
    if kind in ("Task", "Parallel", "Map"):
        if rng.random() < 0.6:
            retrier: Json = {
                "ErrorEquals": [rng.choice(_RETRY_ERRORS)],
                "IntervalSeconds": rng.choice([1, 2, 3]),
                "BackoffRate": rng.choice([1, 1.5, 2]),
                "MaxAttempts": rng.choice([0, 1, 2, 3]),
            }
            if rng.random() < 0.3:
                retrier["MaxDelaySeconds"] = 4
            state["Retry"] = [retrier]
        if rng.random() < 0.5:
            errors = [rng.choice(["Card.Declined", "States.ALL"])]
            state["Catch"] = [{"ErrorEquals": errors, "Next": rng.choice(later)}]
    if kind == "Wait":
        state.update(rng.choice([{"Seconds": rng.randint(0, 30)}, {"SecondsPath": "$.wait"}]))
    if kind == "Choice":
        approved = [
            {"Variable": "$.ok", "IsPresent": True},
            {"Variable": "$.ok", "BooleanEquals": True},
        ]
        state["Choices"] = [
            {"Variable": "$.total", "NumericGreaterThan": 100, "Next": rng.choice(later)},
            {"And": approved, "Next": rng.choice(later)},
        ]
        if rng.random() < 0.7:
            state["Default"] = rng.choice(later)
    elif kind != "Succeed":
        state.update({"Next": rng.choice(later[:3])} if rng.random() < 0.9 else {"End": True})
    return state
