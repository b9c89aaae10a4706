"""Walking an execution history through its definition, one thread of the execution at a time.

A thread is the execution itself, one Parallel branch or one Map iteration: it is in one
state at a time and moves as its definition allows. Each event joins the thread of the
event it follows (``previousEventId``; where a history lacks it, the open thread that can
take it). A ``...StateEntered`` event of a running Parallel state starts the branch whose
``StartAt`` it names; a ``MapIterationStarted`` event starts an iteration.

What the walk holds each event to:

- a state is entered only where the definition leads: ``StartAt``, the ``Next`` of the
  state exited, the branch of a Choice its rules select on its input (``Default`` when
  none matches), the ``Catch`` that matches a failure once no retrier may retry it;
- a failure is retried only by the first retrier whose ``ErrorEquals`` matches it,
  within its ``MaxAttempts`` and no sooner than its interval (``IntervalSeconds`` times
  ``BackoffRate`` per attempt, at most ``MaxDelaySeconds``; full jitter may retry at once);
- a task is answered within its ``TimeoutSeconds`` of being scheduled (and times out no
  sooner); a Wait state waits its ``Seconds`` or until its ``Timestamp``; nothing happens
  after the execution's own ``TimeoutSeconds`` but its time-out;
- the execution succeeds only from ``End`` or a Succeed state, fails only from a Fail
  state or a failure nothing handles, and nothing follows its end.

Each finding is located at the definition's state (its key in ``States``, or the field
it is about) and names the history event.

The module is over 600 lines because the walk's rules share one state per thread (the
state it is in, its retries and its open task); the retry and ``Catch`` rules and the
Parallel and Map handling are the parts to move out next, each with that state passed in.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from statewright.verify.conformance.stepfunctions import timing
from statewright.verify.conformance.stepfunctions.choice import (
    MISSING,
    NoChoice,
    NotJudged,
    choose,
    resolve,
)
from statewright.verify.conformance.stepfunctions.history import Event
from statewright.verify.conformance.stepfunctions.machine import Scope, matches
from statewright.verify.conformance.stepfunctions.thread import (
    ANSWERED,
    ENDS,
    FAILED,
    PROGRESS,
    SCHEDULED,
    STATE_TYPES,
    Thread,
)
from statewright.verify.findings import Finding, Severity
from statewright.verify.load.asl.definition import AslState
from statewright.verify.load.values import clip, suggest
from statewright.verify.model import Location
from statewright.verify.rules import stepfunctions as rules

__all__ = ["Walk"]


@dataclass
class Walk:
    """One history walked through one definition; :meth:`run` gives the findings."""

    root: Scope
    history: str
    tolerance: timedelta
    findings: list[Finding] = field(default_factory=list)
    owner: dict[int, Thread] = field(default_factory=dict)
    threads: list[Thread] = field(default_factory=list)
    start: datetime | None = None
    ended: Event | None = None
    judged: set[str] = field(default_factory=set)
    overdue: bool = False

    # -- findings ---------------------------------------------------------------------

    def report(
        self, rule: str, event: Event, message: str, where: Location, state: str | None = None
    ) -> None:
        self.findings.append(
            Finding(
                rule,
                Severity.ERROR,
                clip(f"{event}: {message}"),
                where,
                states=(state,) if state else (),
            )
        )

    def not_judged(self, what: str, where: Location, state: str | None = None) -> None:
        """Say once per kind what the walk could not check (``what`` is a noun phrase)."""
        if what in self.judged:
            return
        self.judged.add(what)
        at = f" (first at '{state}')" if state else ""
        self.findings.append(
            Finding(
                rules.NOT_JUDGED,
                Severity.INFO,
                clip(f"not checked against {self.history}: {what}{at}"),
                where,
                states=(state,) if state else (),
            )
        )

    def at(self, thread: Thread, key: str | None = None) -> Location:
        state = thread.state
        if state is None:
            return thread.scope.definition.location
        return state.fields.get(key, state.location) if key else state.location

    # -- the walk ---------------------------------------------------------------------

    def run(self, events: tuple[Event, ...]) -> list[Finding]:
        first = events[0]
        if first.type != "ExecutionStarted":
            where = self.root.definition.location
            self.report(rules.UNEXPECTED, first, "a history starts with ExecutionStarted", where)
            return self.findings
        self.start = first.timestamp
        main = self.spawn(self.root, "the execution", None)
        main.expected = {self.root.definition.start.target: '"StartAt"'}
        self.owner[first.id] = main
        for event in events[1:]:
            if event.type == "ExecutionRedriven":
                where = self.root.definition.location
                self.not_judged("a redriven execution (the events from ExecutionRedriven)", where)
                break
            if self.ended is not None:
                self.report(
                    rules.END_EVENT,
                    event,
                    f"the execution already ended at {self.ended}; nothing may follow",
                    self.root.definition.location,
                )
                break
            self.deadline(event)
            self.step(event)
        return self.findings

    def spawn(self, scope: Scope, label: str, parent: Thread | None) -> Thread:
        thread = Thread(scope, label, parent)
        thread.expected = {scope.definition.start.target: '"StartAt"'}
        self.threads.append(thread)
        return thread

    def step(self, event: Event) -> None:
        kind = event.type
        thread = self.route(event)
        if kind.endswith("StateEntered"):
            thread = self.branch_of(thread, event)
        self.owner[event.id] = thread
        for prefix in STATE_TYPES:
            if kind == f"{prefix}StateEntered":
                return self.enter(thread, event, prefix)
            if kind == f"{prefix}StateExited":
                return self.exit(thread, event)
            if kind == f"{prefix}StateAborted":
                return self.abort(thread)
        if kind in SCHEDULED or kind in ANSWERED or kind in PROGRESS or kind in FAILED:
            return self.task(thread, event)
        if kind.startswith(("ParallelState", "MapState", "MapIteration", "MapRun")):
            return self.fan(thread, event)
        if kind == "EvaluationFailed":
            return self.fail(thread, event, event.text("error") or "States.Runtime")
        if kind in ENDS:
            return self.end(event)
        if kind == "ExecutionStarted":
            self.report(rules.UNEXPECTED, event, "a second ExecutionStarted", self.at(thread))
            return None
        self.not_judged(f"{kind} events", self.root.definition.location)
        return None

    def route(self, event: Event) -> Thread:
        """The thread ``event`` belongs to: that of the event it follows, else the latest
        open thread that can take it."""
        if event.previous is not None and event.previous in self.owner:
            return self.owner[event.previous]
        name = event.state_name
        for thread in reversed(self.threads):
            if thread.outcome is not None:
                continue
            if name is not None and (
                name in thread.expected
                or (thread.state is not None and thread.state.name == name)
                or any(s.definition.start.target == name for s in self.nested(thread))
            ):
                return thread
            if name is None and thread.inside and not thread.running and _takes(thread, event):
                return thread
        return self.threads[0]

    def nested(self, thread: Thread) -> tuple[Scope, ...]:
        if thread.state is None or not thread.running:
            return ()
        return thread.scope.nested.get(thread.state.name, ())

    def branch_of(self, thread: Thread, event: Event) -> Thread:
        """The thread a state entered in ``thread`` starts: a branch of its running
        Parallel state whose ``StartAt`` is that state, or ``thread`` itself."""
        state = thread.state
        if state is None or state.type != "Parallel" or not thread.running or not thread.inside:
            return thread
        for number, scope in enumerate(self.nested(thread)):
            if scope.definition.start.target == event.state_name and number not in thread.children:
                child = self.spawn(scope, f"branch {number + 1} of '{state.name}'", thread)
                thread.children[number] = child
                return child
        return thread

    # -- states -----------------------------------------------------------------------

    def enter(self, thread: Thread, event: Event, kind: str) -> None:
        name = event.state_name or ""
        state = thread.scope.states.get(name)
        if state is None:
            return self.unknown(thread, event, name)
        where = state.location
        if state.type != kind:
            message = f"'{name}' is a {state.type} state, not a {kind} state"
            self.report(rules.UNEXPECTED, event, message, where, name)
        allowed = self.allowed(thread, event)
        if allowed is not None and name not in allowed:
            self.wrong_state(thread, event, state, allowed)
        self.attempts_left(thread, event)
        thread.state, thread.entered, thread.inside = state, event, True
        thread.failure, thread.scheduled, thread.attempts = None, None, {}
        thread.running, thread.children, thread.chosen = False, {}, None
        thread.expected = {}
        if state.type == "Fail":
            thread.inside, thread.outcome = False, "failed"
            thread.error = state.error or f"the error of Fail '{name}'"
            thread.failed_at = event.id
        elif state.type == "Choice":
            thread.chosen = self.choice(thread, event, state)
        return None

    def allowed(self, thread: Thread, event: Event) -> dict[str, str] | None:
        """The states ``thread`` may enter now, with why; None when the walk cannot say
        (after a finding that already told)."""
        if thread.failure is not None:
            error, _ = thread.failure
            target = self.catcher(thread, error)
            if target is None:
                return {}
            return {target: f"the Catch of '{self.name(thread)}' for {error}"}
        if thread.inside:
            return {}
        if thread.outcome is not None:
            return {}
        return thread.expected

    def wrong_state(
        self, thread: Thread, event: Event, state: AslState, allowed: dict[str, str]
    ) -> None:
        name = state.name
        if thread.failure is not None and not allowed:
            error, failed = thread.failure
            message = (
                f"entered '{name}' after {failed} failed '{self.name(thread)}' with {error}, "
                "which no Catch of it handles"
            )
        elif thread.inside:
            message = f"entered '{name}' while '{self.name(thread)}' had not exited"
        elif thread.outcome is not None:
            message = f"entered '{name}' after {thread.label} had ended ({thread.outcome})"
        elif thread.chosen is None and thread.state is not None and thread.state.type == "Choice":
            choices = ", ".join(f"'{t}'" for t in allowed)
            message = (
                f"entered '{name}', which Choice '{thread.state.name}' does not lead to ({choices})"
            )
        else:
            target, why = next(iter(allowed.items()))
            message = f"entered '{name}', but {why} leads to '{target}'"
        if (
            thread.state is not None
            and thread.state.type == "Choice"
            and thread.chosen is not None
            and any(e.target == name for e in (*thread.state.choices, thread.state.default) if e)
        ):
            where = self.at(thread)
            message = (
                f"Choice '{thread.state.name}' took the branch to '{name}', but its rules "
                f"select '{thread.chosen}' for the input it was given"
            )
            self.report(rules.CHOICE_BRANCH, event, message, where, thread.state.name)
            return
        self.report(rules.UNEXPECTED, event, message, state.location, name)

    def unknown(self, thread: Thread, event: Event, name: str) -> None:
        elsewhere = next((s for s in self.root.walk() if name in s.states), None)
        if elsewhere is not None:
            part = elsewhere.definition.part or "the state machine"
            message = f"'{name}' is a state of {part}, not of {thread.label}"
            where = elsewhere.states[name].location
        else:
            hint = suggest(name, thread.scope.states) or ""
            message = f"'{name}' is not a state of the definition{hint}"
            where = thread.scope.definition.location
        self.report(rules.UNEXPECTED, event, message, where)

    def exit(self, thread: Thread, event: Event) -> None:
        name = event.state_name or ""
        state = thread.state
        if state is None or not thread.inside or state.name != name:
            where = (
                thread.scope.states[name].location
                if name in thread.scope.states
                else self.at(thread)
            )
            current = f"'{state.name}'" if state is not None and thread.inside else "no state"
            message = f"exited '{name}', but {thread.label} was in {current}"
            self.report(rules.UNEXPECTED, event, message, where, name)
            return
        thread.inside = False
        if thread.failure is not None:
            error, failed = thread.failure
            target = self.catcher(thread, error)
            if target is not None:
                return  # to the Catch's target, which enter() checks
            message = (
                f"'{name}' exited after {failed} failed it with {error}, which no Catch handles: "
                "the execution went on as if it had succeeded"
            )
            self.report(rules.UNEXPECTED, event, message, state.location, name)
            thread.failure = None  # follow the history from here, one finding for the defect
        if state.type == "Wait":
            self.waited(thread, event, state)
        if state.type == "Task" and thread.scheduled is not None:
            message = (
                f"'{name}' exited while its task, scheduled at {thread.scheduled}, was unanswered"
            )
            self.report(rules.UNEXPECTED, event, message, state.location, name)
        self.leave(thread, state)

    def leave(self, thread: Thread, state: AslState) -> None:
        """``thread`` has left ``state`` normally: what it may enter next."""
        if state.type == "Succeed" or state.end is not None:
            thread.outcome = "succeeded"
            thread.expected = {}
        elif state.type == "Choice":
            targets = [e.target for e in (*state.choices, state.default) if e is not None]
            if thread.chosen is not None:
                thread.expected = {thread.chosen: f"Choice '{state.name}'"}
            else:
                thread.expected = dict.fromkeys(targets, f"Choice '{state.name}'")
        elif state.next is not None:
            thread.expected = {state.next.target: f"the \"Next\" of '{state.name}'"}

    def abort(self, thread: Thread) -> None:
        thread.inside, thread.outcome = False, "aborted"

    def name(self, thread: Thread) -> str:
        return thread.state.name if thread.state is not None else "?"

    # -- failures, retries, catches ---------------------------------------------------

    def catcher(self, thread: Thread, error: str) -> str | None:
        """The ``Next`` of the first Catch of the current state that matches ``error``."""
        state = thread.state
        if state is None:
            return None
        return next((c.next.target for c in state.catchers if matches(c.errors, error)), None)

    def retrier(self, thread: Thread, error: str) -> tuple[int, int] | None:
        """The index of the retrier that handles ``error`` and the number of the retry it
        would make; None when no retrier matches."""
        state = thread.state
        if state is None:
            return None
        for index, retrier in enumerate(thread.scope.retriers(state.name)):
            if matches(retrier.errors, error):
                return index, thread.attempts.get(index, 0) + 1
        return None

    def fail(self, thread: Thread, event: Event, error: str) -> None:
        if thread.state is None or not thread.inside:
            message = f"a failure ({error}) while {thread.label} was in no state"
            self.report(rules.UNEXPECTED, event, message, self.at(thread))
            return
        thread.failure = (error, event)
        thread.scheduled = None

    def attempts_left(self, thread: Thread, event: Event) -> None:
        """Report a failure that went on to a Catch (or ended the thread) while its
        retrier still allowed an attempt."""
        if thread.failure is None:
            return
        error, failed = thread.failure
        found = self.retrier(thread, error)
        if found is None:
            return
        index, attempt = found
        retrier = thread.scope.retriers(self.name(thread))[index]
        if attempt <= retrier.max_attempts:
            message = (
                f"{failed} failed '{self.name(thread)}' with {error}; retrier {index + 1} "
                f"allows {retrier.max_attempts} retries and {attempt - 1} were made, but it "
                "was not retried"
            )
            self.report(rules.RETRY, event, message, self.at(thread, "Retry"), self.name(thread))

    def retried(self, thread: Thread, event: Event) -> None:
        """``event`` runs the current state again after its failure: within a retrier?"""
        assert thread.failure is not None
        error, failed = thread.failure
        name, where = self.name(thread), self.at(thread, "Retry")
        found = self.retrier(thread, error)
        thread.failure = None
        if found is None:
            message = (
                f"'{name}' was retried after {error} ({failed}), which no retrier of it matches"
            )
            self.report(rules.RETRY, event, message, where, name)
            return
        index, attempt = found
        thread.attempts[index] = attempt
        retrier = thread.scope.retriers(name)[index]
        if attempt > retrier.max_attempts:
            message = (
                f"retry {attempt} of '{name}' after {error}, beyond the MaxAttempts "
                f"{retrier.max_attempts} of retrier {index + 1}"
            )
            self.report(rules.RETRY, event, message, where, name)
            return
        least = timedelta(seconds=retrier.delay(attempt))
        waited = event.timestamp - failed.timestamp
        if waited + self.tolerance < least:
            message = (
                f"retry {attempt} of '{name}' came {timing.span(waited)} after {failed}; "
                f"retrier {index + 1} waits {timing.span(least)}"
            )
            self.report(rules.RETRY, event, message, where, name)

    def settle(self, thread: Thread, event: Event) -> str | None:
        """The error ``thread`` failed with, now that nothing more happens in it (None
        if it did not fail); a failure a Catch or a retrier should have handled is
        reported."""
        if thread.failure is not None:
            error, failed = thread.failure
            self.attempts_left(thread, event)
            target = self.catcher(thread, error)
            if target is not None:
                message = (
                    f"{failed} failed '{self.name(thread)}' with {error}; its Catch leads to "
                    f"'{target}', but {thread.label} did not go on there"
                )
                self.report(
                    rules.UNEXPECTED, event, message, self.at(thread, "Catch"), self.name(thread)
                )
            thread.failure, thread.inside = None, False
            thread.outcome, thread.error = "failed", error
            thread.failed_at = failed.id
        return thread.error if thread.outcome == "failed" else None

    # -- tasks ------------------------------------------------------------------------

    def task(self, thread: Thread, event: Event) -> None:
        state = thread.state
        if state is None or state.type != "Task" or not thread.inside:
            current = (
                f"'{state.name}' ({state.type})"
                if state is not None and thread.inside
                else "no state"
            )
            message = f"a task event while {thread.label} was in {current}"
            self.report(rules.UNEXPECTED, event, message, self.at(thread))
            return
        kind = event.type
        if kind in SCHEDULED:
            if thread.failure is not None:
                self.retried(thread, event)
            elif thread.scheduled is not None:
                message = f"'{state.name}' scheduled again while {thread.scheduled} was unanswered"
                self.report(rules.UNEXPECTED, event, message, state.location, state.name)
            thread.scheduled, thread.started = event, None
            return
        if thread.scheduled is None:
            message = f"'{state.name}' has no task scheduled to answer"
            self.report(rules.UNEXPECTED, event, message, state.location, state.name)
            return
        if kind in PROGRESS:
            thread.started = event if kind.endswith("Started") else thread.started
            return
        self.answered(thread, event, state, thread.scheduled)
        if kind in ANSWERED:
            thread.scheduled = None
        else:
            self.fail(thread, event, event.text("error") or FAILED[kind])

    def answered(self, thread: Thread, event: Event, state: AslState, scheduled: Event) -> None:
        """A task answered (or timed out) at ``event``: within its ``TimeoutSeconds``,
        and timed out by its heartbeat no sooner than ``HeartbeatSeconds``?"""
        limit = scheduled.number("timeoutInSeconds")
        if limit is None and state.timeout is not None:
            limit = state.timeout.seconds
        message = timing.task_timeout(state.name, scheduled, event, limit, self.tolerance)
        if message:
            self.report(
                rules.TASK_TIMEOUT, event, message, self.at(thread, "TimeoutSeconds"), state.name
            )
        beat = scheduled.number("heartbeatInSeconds")
        if beat is None and state.heartbeat is not None:
            beat = state.heartbeat.seconds
        since = thread.started or scheduled
        message = timing.heartbeat(state.name, since, event, beat, self.tolerance)
        if message:
            where = self.at(thread, "HeartbeatSeconds")
            self.report(rules.TASK_TIMEOUT, event, message, where, state.name)
        elif beat is not None and event.timestamp - since.timestamp > timedelta(seconds=beat):
            self.not_judged(
                "heartbeats (SendTaskHeartbeat is not recorded in a history)",
                self.at(thread, "HeartbeatSeconds"),
                state.name,
            )

    # -- Choice and Wait --------------------------------------------------------------

    def input(self, thread: Thread, event: Event, state: AslState) -> object:
        """The state's effective input (its ``InputPath`` applied), or MISSING."""
        text = event.text("input")
        if text is None:
            self.not_judged("data (the history records no state input)", state.location, state.name)
            return MISSING
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            self.not_judged(
                "data (a recorded state input is cut short)", state.location, state.name
            )
            return MISSING
        path = thread.scope.raw.get(state.name, {}).get("InputPath", "$")
        if path is None:
            return {}
        return resolve(path, data) if isinstance(path, str) else MISSING

    def choice(self, thread: Thread, event: Event, state: AslState) -> str | None:
        """The target ``state``'s rules select for its input (None when not judged); a
        Choice that fails is a failure of the thread."""
        raw = thread.scope.raw.get(state.name, {})
        rules_ = raw.get("Choices")
        default = state.default.target if state.default is not None else None
        try:
            if thread.scope.jsonata or raw.get("QueryLanguage") == "JSONata":
                raise NotJudged("a JSONata Choice condition")
            data = self.input(thread, event, state)
            if data is MISSING:
                return None
            return choose(rules_ if isinstance(rules_, list) else [], default, data)
        except NotJudged as reason:
            self.not_judged(str(reason), state.location, state.name)
            return None
        except NoChoice as failed:
            self.fail(thread, event, str(failed))
            return None

    def waited(self, thread: Thread, event: Event, state: AslState) -> None:
        entered = thread.entered
        assert entered is not None
        wait = state.wait
        if wait is None:
            return
        raw = thread.scope.raw.get(state.name, {})
        until: datetime | None = None
        if wait.seconds is not None:
            until = entered.timestamp + timedelta(seconds=wait.seconds)
        else:
            try:
                value = raw.get(wait.field)
                if wait.field.endswith("Path") and isinstance(value, str):
                    value = resolve(value, self.input(thread, entered, state))
                until = timing.wait_until(wait.field, value, entered.timestamp)
            except NotJudged as reason:
                self.not_judged(str(reason), wait.location, state.name)
            if until is None:
                return
        message = timing.early_wait(state.name, wait.field, entered, event, until, self.tolerance)
        if message:
            self.report(rules.WAIT_EARLY, event, message, wait.location, state.name)

    # -- Parallel and Map -------------------------------------------------------------

    def fan(self, thread: Thread, event: Event) -> None:
        kind = event.type
        wanted = "Parallel" if kind.startswith("Parallel") else "Map"
        owner = self.up(
            thread, wanted, event.state_name if kind.startswith("MapIteration") else None
        )
        if owner is None or owner.state is None:
            message = f"a {wanted} event while no {wanted} state was running"
            self.report(rules.UNEXPECTED, event, message, self.at(thread))
            return
        self.owner[event.id] = owner
        state = owner.state
        if kind.endswith("StateStarted") or kind == "MapRunStarted":
            if owner.failure is not None:
                self.retried(owner, event)
            owner.running, owner.children = True, {}
            if kind == "MapRunStarted":
                self.not_judged(
                    "the child executions of a distributed Map", state.location, state.name
                )
        elif kind == "MapIterationStarted":
            index = event.number("index")
            label = f"iteration {int(index) if index is not None else '?'} of '{state.name}'"
            scopes = owner.scope.nested.get(state.name, ())
            if scopes:
                iteration = self.spawn(scopes[0], label, owner)
                owner.children[index] = iteration
                self.owner[event.id] = iteration
        elif kind.startswith("MapIteration"):
            ended = owner.children.get(event.number("index"))
            if ended is not None and kind == "MapIterationFailed":
                self.settle(ended, event)
        elif kind.endswith(("StateSucceeded", "RunSucceeded")):
            self.joined(owner, event, state)
            owner.running = False
        elif kind.endswith(("StateFailed", "RunFailed")):
            failed = [
                (c.failed_at, e) for c in owner.children.values() if (e := self.settle(c, event))
            ]
            owner.running = False
            first = min(failed)[1] if failed else "States.BranchFailed"
            error = event.text("error") or first
            self.fail(owner, event, error)
        elif kind.endswith("Aborted"):
            owner.running = False

    def up(self, thread: Thread | None, wanted: str, name: str | None = None) -> Thread | None:
        """``thread`` or its nearest ancestor that is in a ``wanted`` state (named
        ``name``, if given)."""
        while thread is not None:
            state = thread.state
            in_it = state is not None and state.type == wanted and thread.inside
            if in_it and (name is None or (state is not None and state.name == name)):
                return thread
            thread = thread.parent
        return None

    def joined(self, owner: Thread, event: Event, state: AslState) -> None:
        """A Parallel or Map state succeeded: every branch (iteration) ran and succeeded?"""
        if state.type == "Parallel":
            ran = len(owner.children)
            if ran != len(state.branches):
                message = (
                    f"Parallel '{state.name}' succeeded after {ran} of its "
                    f"{len(state.branches)} branches ran"
                )
                self.report(rules.UNEXPECTED, event, message, state.location, state.name)
        tolerated = {"ToleratedFailurePercentage", "ToleratedFailureCount"} & set(state.fields)
        for child in owner.children.values():
            error = self.settle(child, event)
            if child.outcome is None or (error is not None and not tolerated):
                how = f"failed with {error}" if error else "had not ended"
                message = f"'{state.name}' succeeded, but {child.label} {how}"
                self.report(rules.UNEXPECTED, event, message, state.location, state.name)

    # -- the execution ----------------------------------------------------------------

    def deadline(self, event: Event) -> None:
        """Nothing but the time-out happens after the execution's ``TimeoutSeconds``."""
        timeout = self.root.definition.timeout
        if timeout is None or timeout.seconds is None or self.start is None:
            return
        if self.overdue:
            return
        message = timing.overdue(self.start, timeout.seconds, event, self.tolerance)
        if message:
            self.overdue = event.type != "ExecutionTimedOut"
            self.report(rules.EXECUTION_TIMEOUT, event, message, timeout.location)

    def end(self, event: Event) -> None:
        self.ended = event
        main = self.threads[0]
        if event.type in ("ExecutionAborted", "ExecutionTimedOut"):
            return
        error = self.settle(main, event)
        where = self.at(main)
        if event.type == "ExecutionSucceeded":
            if error is not None:
                message = (
                    f"the execution succeeded after an unhandled {error} in '{self.name(main)}'"
                )
                self.report(rules.END_EVENT, event, message, where, self.name(main))
            elif main.outcome != "succeeded":
                at = f"in '{self.name(main)}'" if main.inside else f"after '{self.name(main)}'"
                message = (
                    f"the execution succeeded {at}; it succeeds only at a state with "
                    '"End": true or a Succeed state'
                )
                self.report(rules.END_EVENT, event, message, where, self.name(main))
            return
        if main.outcome == "succeeded":
            message = f"the execution failed although it had ended at '{self.name(main)}'"
            self.report(rules.END_EVENT, event, message, where, self.name(main))
        elif main.outcome == "failed":
            written, recorded = main.error, event.text("error")
            fail = main.state if main.state is not None and main.state.type == "Fail" else None
            written = fail.error if fail is not None else None
            if written and recorded and written != recorded:
                message = (
                    f"the execution failed with {recorded}, but Fail '{self.name(main)}' "
                    f"gives {written}"
                )
                self.report(rules.END_EVENT, event, message, where, self.name(main))
        elif not main.inside:
            message = f"the execution failed between states, after '{self.name(main)}'"
            self.report(rules.END_EVENT, event, message, where, self.name(main))
        else:
            recorded = event.text("error") or "States.Runtime"
            target = self.catcher(main, recorded)
            if target is not None:
                message = (
                    f"the execution failed with {recorded} in '{self.name(main)}', whose "
                    f"Catch leads to '{target}'"
                )
                self.report(rules.END_EVENT, event, message, where, self.name(main))


def _takes(thread: Thread, event: Event) -> bool:
    """Whether a thread inside a state can take ``event`` (which names no state): a task
    is scheduled when none is pending, and answered when one is."""
    if event.type in SCHEDULED:
        return thread.scheduled is None
    if event.type in ANSWERED or event.type in PROGRESS or event.type in FAILED:
        return thread.scheduled is not None
    return True
