"""Map ASL definitions onto statewright machines: one :class:`~statewright.verify.model.Spec` each.

The whole mapping is documented, with a worked example, in ``docs/asl.md``; in short:

- every ASL state becomes one state named in UPPER_SNAKE_CASE, at the state's key;
  Task, Parallel and Map are ``running``; a callback (``.waitForTaskToken``, or an
  activity) is ``waiting``, or ``approval`` when :class:`AslOptions` says it is human;
  Succeed is a final ``complete`` state, Fail a final ``failed`` one; Pass, Wait and
  Choice have no kind;
- ``Next`` is the trigger ``succeeded`` (``approved``, by a reviewer, out of an approval),
  ``End: true`` leads to ``EXECUTION_SUCCEEDED``; a Pass moves on ``always``, a Wait
  ``after`` its ``Seconds``; each Choice rule and the ``Default`` is a trigger named after
  its target, and a Choice without ``Default`` can fail with ``States.NoChoiceMatched``;
- every error a state can raise is a trigger named after the error (``States.Timeout``
  is ``states_timeout``): to the first ``Catch`` that matches it, else to
  ``EXECUTION_FAILED`` with the error as its reason (``STATES_TIMEOUT``); a Task fails
  with ``States.TaskFailed``, a Parallel or Map with ``States.BranchFailed``, and
  ``TimeoutSeconds``/``HeartbeatSeconds`` add timed ones;
- the machine's own ``TimeoutSeconds`` is a timed exit from every Task, Wait, Parallel
  and Map state to ``EXECUTION_FAILED``;
- each Parallel branch and Map iterator is a machine of its own, whose ends are
  ``BRANCH_SUCCEEDED``/``BRANCH_FAILED`` (``ITERATION_...`` for an iterator).

Every reason gets two recovery steps marked as placeholders.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import PurePath

from statewright.verify.load.asl.definition import AslState, Definition, Delay, Exit
from statewright.verify.load.asl.names import Namer, duration_text, snake_name, upper_name
from statewright.verify.model import (
    AUTOMATIC_TRIGGER,
    Duration,
    Kind,
    Location,
    Reason,
    Spec,
    State,
    Transition,
)

__all__ = [
    "HUMAN_HINT",
    "PLACEHOLDER_DELAY",
    "RECOVERY_PLACEHOLDERS",
    "AslOptions",
    "Machine",
    "error_catcher",
    "errors_of",
    "map_definitions",
]

HUMAN_HINT = re.compile(r"approv|review|human|manual", re.IGNORECASE)
"""A callback whose ASL name matches this is taken as a human approval, unless the user
names the human ones."""

PLACEHOLDER_DELAY = Duration("1d", 86_400)
"""The delay of a timed exit whose time comes from data (``TimeoutSecondsPath``, a Wait's
``Timestamp``, ...): a placeholder, reported as such."""

RECOVERY_PLACEHOLDERS = (
    "Placeholder (imported from ASL): find the failed execution in the Step Functions "
    "console and read its error and cause",
    "Placeholder (imported from ASL): fix the cause, then redrive the execution or start a new one",
)

TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
_GENERIC_ERRORS = {"Task": "States.TaskFailed", "Parallel": "States.BranchFailed"}
_WILDCARDS = frozenset({"States.ALL", "States.TaskFailed"})
_TIMEOUTS = frozenset({TIMEOUT, HEARTBEAT_TIMEOUT})
_TIMED_TYPES = frozenset({"Task", "Wait", "Parallel", "Map"})
_KINDS = {
    "Task": Kind.RUNNING,
    "Parallel": Kind.RUNNING,
    "Map": Kind.RUNNING,
    "Succeed": Kind.COMPLETE,
    "Fail": Kind.FAILED,
}
_FIXED_TRIGGERS = (AUTOMATIC_TRIGGER, "succeeded", "approved", "wait_elapsed", "execution_timeout")
_ERROR_MEANINGS = {
    "States.TaskFailed": "the task failed",
    "States.BranchFailed": "a branch (or a Map iteration) failed",
    TIMEOUT: "the state (or the execution) ran longer than its TimeoutSeconds",
    HEARTBEAT_TIMEOUT: "no heartbeat came within HeartbeatSeconds",
    NO_CHOICE_MATCHED: "no Choice rule matched and there is no Default",
}


@dataclass(frozen=True, slots=True)
class AslOptions:
    """What the ASL does not say: which callbacks a person answers, and their roles.

    ``human`` names the callback states (by their ASL names) that are human approvals;
    None applies the heuristics: a name that matches :data:`HUMAN_HINT`, or a result that
    a Choice on an approve/reject-like field decides on (:attr:`AslState.decision`).
    """

    human: frozenset[str] | None = None
    reviewers: tuple[str, ...] = ("reviewer",)

    def is_human(self, state: AslState) -> bool:
        if not state.callback:
            return False
        if self.human is None:
            return state.decision or HUMAN_HINT.search(state.name) is not None
        return state.name in self.human


@dataclass(frozen=True, slots=True)
class Machine:
    """One statewright machine mapped from one ASL definition.

    ``part`` is the definition's place in its file (``""`` for the whole machine);
    ``asl_names`` gives each state's ASL name (empty for the states the mapping adds).
    """

    part: str
    spec: Spec
    asl_names: Mapping[str, str]


def map_definitions(
    top: Definition, file: str, sha256: str, options: AslOptions, name: str | None = None
) -> tuple[Machine, ...]:
    """The machine of ``top`` followed by one per nested branch or iterator, depth first.

    Each is named after the file and its part (``order_ship_branch0``); parts whose names
    differ only in what a name cannot hold ("Fan out" and "Fan-out") get distinct
    machine names all the same (``..._2``), since a machine name is a file name too.
    ``name`` replaces the file's name (a state machine of a template: its logical id).
    """
    base = snake_name(name or _stem(file), "machine")
    machines = Namer()

    def walk(definition: Definition) -> Iterator[Machine]:
        wanted = snake_name(f"{base} {definition.part}".replace("/", " "), "machine")
        name = machines.name(definition.part, wanted)
        yield _Builder(definition, file, sha256, options, name, top.timeout).machine()
        for state in definition.states:
            for nested in state.branches:
                yield from walk(nested)

    return tuple(walk(top))


def _stem(file: str) -> str:
    name = PurePath(file).name
    for suffix in (".asl.json", ".asl.yaml", ".asl.yml", ".json", ".yaml", ".yml"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def errors_of(state: AslState) -> list[tuple[str, Delay | None]]:
    """The errors the mapping lets ``state`` raise, each with its delay if it is a timeout.

    A Task raises ``States.TaskFailed``, a Parallel or Map ``States.BranchFailed``; a
    timeout and a heartbeat timeout when written; and every other error a Catch names.
    """
    generic = _GENERIC_ERRORS.get(state.type, "States.BranchFailed")
    found: list[tuple[str, Delay | None]] = [(generic, None)]
    if state.timeout is not None:
        found.append((TIMEOUT, state.timeout))
    if state.heartbeat is not None:
        found.append((HEARTBEAT_TIMEOUT, state.heartbeat))
    named = (e for c in state.catchers for e in c.errors)
    extra = dict.fromkeys(e for e in named if e not in _WILDCARDS | _TIMEOUTS | {generic})
    found.extend((e, None) for e in extra)
    return found


def error_catcher(state: AslState, error: str) -> Exit | None:
    """Where the first Catch of ``state`` that matches ``error`` leads, if one does.

    ``States.ALL`` matches every error; ``States.TaskFailed`` every error but the
    timeouts; ``States.Timeout`` also a heartbeat timeout.
    """
    for catcher in state.catchers:
        names = catcher.errors
        if (
            "States.ALL" in names
            or error in names
            or ("States.TaskFailed" in names and error not in _TIMEOUTS)
            or (error == HEARTBEAT_TIMEOUT and TIMEOUT in names)
        ):
            return Exit(catcher.next.target, catcher.location)
    return None


def _duration(delay: Delay) -> Duration:
    if delay.seconds is None:
        return PLACEHOLDER_DELAY
    return Duration(duration_text(delay.seconds), delay.seconds)


class _Builder:
    """Builds the machine of one definition."""

    def __init__(
        self,
        definition: Definition,
        file: str,
        sha256: str,
        options: AslOptions,
        machine_name: str,
        timeout: Delay | None,
    ) -> None:
        self.definition = definition
        self.file = file
        self.sha256 = sha256
        self.options = options
        self.timeout = timeout
        self.machine_name = machine_name
        scope = definition.part.rsplit("/", 1)[-1]
        self.scope = "EXECUTION" if not scope else "ITERATION" if scope == "iterator" else "BRANCH"
        self.asl = {s.name: s for s in definition.states}
        self.states = Namer()
        for s in definition.states:
            self.states.name(s.name, upper_name(s.name))
        self.triggers = Namer()
        for fixed in _FIXED_TRIGGERS:
            self.triggers.name(("fixed", fixed), fixed)
        self.reason_names = Namer()
        self.reasons: dict[str, Reason] = {}
        self.ends: dict[str, State] = {}
        self.transitions: dict[tuple[str, str, str], Transition] = {}

    # -- names ----------------------------------------------------------------------

    def end(self, outcome: str, location: Location) -> str:
        """The name of the state the mapping adds for an end: ``succeeded`` or ``failed``."""
        known = self.ends.get(outcome)
        if known is None:
            name = self.states.name(("end", outcome), f"{self.scope}_{outcome.upper()}")
            kind = Kind.COMPLETE if outcome == "succeeded" else Kind.FAILED
            what = self.scope.lower()
            known = State(name, location, kind, final=True, description=f"The {what} {outcome}.")
            self.ends[outcome] = known
        return known.name

    def reason(self, key: tuple[str, str], wanted: str, description: str, at: Location) -> str:
        name = self.reason_names.name(key, upper_name(wanted, "FAILED"))
        if name not in self.reasons:
            self.reasons[name] = Reason(name, at, RECOVERY_PLACEHOLDERS, description)
        return name

    def error_reason(self, error: str, at: Location) -> str:
        meaning = _ERROR_MEANINGS.get(error)
        description = f"Step Functions error {error}" + (f": {meaning}." if meaning else ".")
        return self.reason(("error", error), error, description, at)

    def fail_reason(self, state: AslState) -> str:
        """The reason an execution fails with in a Fail state: its ``Error``."""
        cause = f" ({state.cause})" if state.cause else ""
        if state.error and not state.error.lstrip().startswith("{%"):
            description = f"Fail state '{state.name}': {state.error}{cause}."
            return self.reason(("error", state.error), state.error, description, state.location)
        description = f"Fail state '{state.name}'{cause}."
        return self.reason(("fail", state.name), state.name, description, state.location)

    # -- transitions ----------------------------------------------------------------

    def add(
        self,
        source: str,
        target: str,
        trigger: str,
        at: Location,
        *,
        human: bool = False,
        after: Duration | None = None,
        reason: str | None = None,
    ) -> None:
        key = (source, target, trigger)
        if key not in self.transitions:
            index = len(self.transitions)
            self.transitions[key] = Transition(
                source, target, trigger, at, index, human=human, after=after, reason=reason
            )

    def to_state(self, exit_: Exit) -> tuple[str, str | None]:
        """The target of an ``Exit`` and, for a Fail state, the reason it fails with."""
        asl = self.asl[exit_.target]
        return self.states.name(asl.name, ""), self.fail_reason(asl) if asl.type == "Fail" else None

    def onward(self, state: AslState) -> tuple[str, str | None, Location]:
        """Where ``state`` goes when it is done: its ``Next``, or the succeeded end."""
        if state.next is not None:
            return (*self.to_state(state.next), state.next.location)
        at = state.end or state.location
        return self.end("succeeded", at), None, at

    def exits(self, state: AslState) -> None:
        source = self.states.name(state.name, "")
        if state.type == "Pass":
            target, reason, at = self.onward(state)
            self.add(source, target, AUTOMATIC_TRIGGER, at, reason=reason)
        elif state.type == "Wait" and state.wait is not None:
            target, reason, at = self.onward(state)
            if state.wait.seconds == 0:
                self.add(source, target, AUTOMATIC_TRIGGER, at, reason=reason)
            else:
                after = _duration(state.wait)
                self.add(source, target, "wait_elapsed", at, after=after, reason=reason)
        elif state.type == "Choice":
            self.choice(source, state)
        elif state.type in ("Task", "Parallel", "Map"):
            human = self.options.is_human(state)
            target, reason, at = self.onward(state)
            self.add(
                source, target, "approved" if human else "succeeded", at, human=human, reason=reason
            )
            self.errors(source, state, human)
        if self.timeout is not None and state.type in _TIMED_TYPES:
            failed = self.end("failed", self.timeout.location)
            reason = self.error_reason(TIMEOUT, self.timeout.location)
            after = _duration(self.timeout)
            self.add(
                source,
                failed,
                "execution_timeout",
                self.timeout.location,
                after=after,
                reason=reason,
            )

    def choice(self, source: str, state: AslState) -> None:
        for rule in (*state.choices, *((state.default,) if state.default else ())):
            target, reason = self.to_state(rule)
            trigger = self.triggers.name(
                ("choice", rule.target), snake_name(f"choose {rule.target}")
            )
            self.add(source, target, trigger, rule.location, reason=reason)
        if state.default is None:
            failed = self.end("failed", state.location)
            reason = self.error_reason(NO_CHOICE_MATCHED, state.location)
            trigger = self.triggers.name(
                ("error", NO_CHOICE_MATCHED), snake_name(NO_CHOICE_MATCHED, "error")
            )
            self.add(source, failed, trigger, state.location, reason=reason)

    def errors(self, source: str, state: AslState, human: bool) -> None:
        for error, delay in errors_of(state):
            trigger = self.triggers.name(("error", error), snake_name(error, "error"))
            after = None if delay is None else _duration(delay)
            caught = error_catcher(state, error)
            if caught is not None:
                target, reason = self.to_state(caught)
                at = caught.location
            else:
                at = state.location if delay is None else delay.location
                target, reason = self.end("failed", at), self.error_reason(error, at)
            self.add(
                source,
                target,
                trigger,
                at,
                human=human and after is None,
                after=after,
                reason=reason,
            )

    # -- the machine ----------------------------------------------------------------

    def state(self, asl: AslState) -> State:
        kind = _KINDS.get(asl.type)
        human = self.options.is_human(asl)
        if asl.callback:
            kind = Kind.APPROVAL if human else Kind.WAITING
        resource = f" ({asl.resource})" if asl.resource else ""
        return State(
            self.states.name(asl.name, ""),
            asl.location,
            kind,
            final=asl.type in ("Succeed", "Fail"),
            reviewers=self.options.reviewers if human else (),
            description=f"ASL {asl.type} state '{asl.name}'{resource}.",
        )

    def machine(self) -> Machine:
        definition = self.definition
        states = [self.state(s) for s in definition.states]
        for asl in definition.states:
            self.exits(asl)
        states.extend(self.ends.values())
        where = f"branch {definition.part} of " if definition.part else ""
        spec = Spec(
            file=self.file,
            machine=self.machine_name,
            initial=self.states.name(definition.start.target, ""),
            states=tuple(states),
            transitions=tuple(self.transitions.values()),
            reasons=tuple(self.reasons.values()),
            description=definition.comment or f"Imported from {where}{self.file}.",
            location=definition.location,
            initial_location=definition.start.location,
            sha256=self.sha256,
            from_asl=True,
        )
        names = {self.states.name(s.name, ""): s.name for s in definition.states}
        return Machine(definition.part, spec, {s.name: names.get(s.name, "") for s in states})
