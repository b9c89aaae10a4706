"""Hold a recorded run against its spec, record by record: what really ran, checked.

A :class:`RunChecker` is fed one run's records (:class:`~statewright.verify.audit.trace.Recorded`),
oldest first, and keeps only what the next record needs (the state and values, the
deadline, the pending ``always`` chain, and, where the spec allows rollback, the state and
values after each record), so a run is checked as it is read. Every answer about the spec
comes from its one semantics (:class:`statewright.verify.semantics.Semantics`: the
transition a trigger takes, its guard, the values its effects give, the ``always`` chain
that follows, a state's timed exit), asked once per configuration and shared by every run
of the spec (:class:`Moves`); this module only compares what the semantics says with what
the record says.

For each record:

- it follows the record before it (its seq one more, its time not earlier);
- ``created`` comes first, in the spec's initial state with the initial values;
- a transition is one the spec declares from the state before it on that trigger, the
  first whose guard held on the values before it (``run-undeclared-step``,
  ``run-guard-failed``); the values recorded after it are what its effects give
  (``run-effect-mismatch``); an ``always`` step happens exactly where the spec takes one;
- a human step names an actor and a decision, and the actor's roles (when recorded)
  include one of the state's reviewers (``run-unauthorised``);
- a timed step comes at or after its deadline (``run-early-timeout``), and no record
  comes after a deadline that passed unfired (``run-missed-deadline``);
- a rollback is allowed by the spec, by an actor with a rollback role and a decision,
  outside an approval state, back to the state and values after an earlier record
  (``run-rollback``); a context change leaves the state as it was and does not happen in
  an approval state (``run-locked``); a cancellation stays where the run rests and
  nothing follows it (``run-cancelled``);
- every ``always`` property holds after it, and every ``precedence`` holds over the run
  so far (``run-property``).

A record that breaks a rule gives one finding; the check then follows the record (its
state and the values it names), so one wrong step is not reported again at every record
after it. Findings name the run and the record's seq and sit at the spec's line for what
they are about (the transition, the state, the property). What a run does not record is
not compared (values: guards are then checked on the values the spec's effects give;
roles: a human step is checked for an actor and a decision); :attr:`RunChecker.notes`
says so, once per kind.

Hooks for the spec keys other work adds: :func:`rollback_limit` and :func:`rollback_keeps`
(``rollback: {max, keep}``), :func:`within_of` (``leads_to: {within}``, checked at each
record and, for a run still open, by :meth:`RunChecker.finish` at ``now``).

Standard library only; no I/O.

Over 600 lines because :class:`RunChecker`'s checks of one record (step, guard, effects,
actor, deadline, rollback, context change, properties) all read and move the one state it
keeps of the run; the property checks over the history are the part to move out next.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from statewright.verify.audit.gates import GATE_EVENTS, GateChecker
from statewright.verify.audit.trace import Recorded
from statewright.verify.findings import Finding, Severity, TransitionRef
from statewright.verify.model import (
    AUTOMATIC_TRIGGER,
    Location,
    Property,
    PropertyKind,
    Spec,
    Transition,
    Value,
    VarType,
)
from statewright.verify.semantics import AlwaysCycle, OutOfRange, Semantics, Values
from statewright.verify.semantics.data import show_value
from statewright.verify.semantics.kernel import APPROVAL_EVENT, widened

__all__ = ["RULES", "Chain", "Move", "Moves", "Plan", "RunChecker", "check_run"]

Chain = tuple[tuple[Transition, Values], ...]
"""``always`` steps, each with the values after it."""


@dataclass(frozen=True, slots=True)
class Move:
    """A step as the spec takes it: the transition, the values after it, the ``always``
    chain that follows, and the timed exit of the state it enters with its delay (read at
    most records of a store: a class with slots, whose fields are read faster than a
    named tuple's)."""

    transition: Transition
    values: Values
    chain: Chain
    timer: tuple[Transition, timedelta] | None


RULES: Mapping[str, str] = {
    "run-out-of-order": "a record does not follow the one before it (seq or time)",
    "run-spec-version": "the run was recorded under another version of the spec",
    "run-undeclared-step": "a step the spec does not declare from the state before it",
    "run-guard-failed": "a step whose guard did not hold (or another transition's did first)",
    "run-effect-mismatch": "the recorded values are not what the step's effects give",
    "run-unauthorised": "a human step without an authorised actor or a decision",
    "run-early-timeout": "a timed step before its deadline",
    "run-missed-deadline": "a record after a deadline that passed unfired",
    "run-rollback": "a rollback the spec does not allow, or to a place the run never was",
    "run-locked": "a change of a run held in an approval state, or a context record that moved",
    "run-property": "an always or precedence property that the run broke",
    "run-policy": "a decision, escalation or digest at an approval gate that its policy refuses",
    "run-malformed": "a record that cannot be read",
    "run-cancelled": "a record after the run's cancellation, or a cancellation that moved it",
    "run-migration": "a migrated record that is not what the new spec's migration makes of the run",
    "run-tampered": "a stored run whose hash chain or head row fails: not checked",
    "run-unchecked": "what a run does not record, and so was not checked (info)",
}
"""Every rule of a recorded run, by id: what a finding of it means."""

_NO_VALUES = (
    "the run records no values of the variables: guards were checked on the values the "
    "spec's effects give, but those were not compared with the system's"
)
_NO_ROLES = (
    "the run records no roles of its actors: human steps were checked for an actor and a "
    "decision only"
)


def rollback_limit(spec: Spec) -> int | None:
    """How many rollbacks a run of ``spec`` may take (``rollback: {max: N}``); None for
    no bound."""
    return spec.rollback_max


def rollback_keeps(spec: Spec) -> tuple[str, ...]:
    """The variables a rollback of ``spec`` carries over unchanged (``rollback: {keep}``)."""
    return spec.rollback_keep


def within_of(prop: Property) -> int | None:
    """The ``within`` bound of a ``leads_to`` property in seconds, or None.

    The hook of ``leads_to: {within: DURATION}`` (issue 22, added by the time work): a
    property model that carries ``within`` (a duration with ``seconds``) is checked on
    recorded runs by :meth:`RunChecker.finish`.
    """
    within = getattr(prop, "within", None)
    seconds = getattr(within, "seconds", None)
    return seconds if isinstance(seconds, int) else None


class Plan(NamedTuple):
    """What a :class:`RunChecker` reads of its spec at every record, worked out once per
    spec (:attr:`Moves.plan`) rather than once per run."""

    always: tuple[Property, ...]
    precedence: tuple[Property, ...]
    timed: tuple[tuple[Property, int], ...]
    """The ``leads_to`` properties with a ``within`` bound, with it in seconds."""
    at_most: tuple[Property, ...]
    watching: bool
    """Whether the spec has a property to follow at each record."""
    rollback: bool
    """Whether the spec allows a rollback (so the checker keeps where each record left)."""
    policies: bool
    """Whether a state of the spec has an approval policy (so gates are followed)."""
    sha256: str
    initial: Values
    """Every variable at its ``initial`` value."""

    @classmethod
    def of(cls, semantics: Semantics) -> Plan:
        spec = semantics.spec
        properties = spec.properties
        always = tuple(p for p in properties if p.kind is PropertyKind.ALWAYS)
        precedence = tuple(p for p in properties if p.kind is PropertyKind.PRECEDENCE)
        timed = tuple(
            (p, seconds)
            for p in properties
            if p.kind is PropertyKind.LEADS_TO and (seconds := within_of(p)) is not None
        )
        at_most = tuple(p for p in properties if p.kind is PropertyKind.AT_MOST)
        return cls(
            always,
            precedence,
            timed,
            at_most,
            bool(always or precedence or timed or at_most),
            spec.rollback is not None,
            any(node.policy is not None for node in semantics.nodes.values()),
            spec.sha256,
            semantics.data.initial,
        )


class Moves:
    """The answers of a spec's semantics that a checker asks for, memoized: built once per
    spec and shared by every run of it, so that a store of many runs asks the semantics
    each question once (the step a trigger takes from a configuration, the values and the
    ``always`` chain after a transition, a state's deadline)."""

    __slots__ = (
        "_chains",
        "_choices",
        "_declared",
        "_delays",
        "_moves",
        "_steps",
        "plan",
        "semantics",
    )

    def __init__(self, semantics: Semantics) -> None:
        self.semantics = semantics
        self.plan = Plan.of(semantics)
        """What every run's checker reads of the spec, worked out once."""
        self._choices: dict[tuple[str, str, Values], Transition | None] = {}
        self._declared: dict[
            tuple[str, str, str], tuple[Sequence[Transition], tuple[Transition, ...]]
        ] = {}
        self._steps: dict[tuple[int, Values], tuple[Values, Chain] | str] = {}
        self._chains: dict[tuple[str, Values], Chain | str] = {}
        self._delays: dict[str, tuple[Transition, timedelta] | None] = {}
        self._moves: dict[tuple[str, Values, str, str], Move | None] = {}

    def chosen(self, state: str, trigger: str, values: Values) -> Transition | None:
        """The transition ``trigger`` fired by name takes from ``state`` with ``values``."""
        key = (state, trigger, values)
        try:
            return self._choices[key]
        except KeyError:
            found = self._choices[key] = self.semantics.candidates(state, trigger, values)
            return found

    def declared(
        self, state: str, trigger: str, target: str
    ) -> tuple[Sequence[Transition], tuple[Transition, ...]]:
        """The transitions ``trigger`` may take from ``state`` (its ``always`` exits for
        ``always``), and those of them that lead to ``target``."""
        key = (state, trigger, target)
        found = self._declared.get(key)
        if found is None:
            semantics = self.semantics
            if trigger == AUTOMATIC_TRIGGER:
                declared: Sequence[Transition] = semantics.always.get(state, ())
            else:
                declared = semantics.choices[state].get(trigger, ())
            found = self._declared[key] = (
                declared,
                tuple(t for t in declared if t.target == target),
            )
        return found

    def move(self, state: str, values: Values, trigger: str, target: str) -> Move | None:
        """What the spec does when ``trigger`` takes a run in ``state`` with ``values`` to
        ``target``, when it does just that: the transition, the values after it, the
        ``always`` chain that follows and the deadline of ``target``. None when the spec
        does anything else (the checker then asks the questions one by one, to say what)."""
        key = (state, values, trigger, target)
        try:
            return self._moves[key]
        except KeyError:
            pass
        found: Move | None = None
        if trigger != AUTOMATIC_TRIGGER:
            taken = self.chosen(state, trigger, values)
            step = None if taken is None or taken.target != target else self.step(taken, values)
            if taken is not None and step is not None and not isinstance(step, str):
                found = Move(taken, step[0], step[1], self.timer(target))
        self._moves[key] = found
        return found

    def step(self, transition: Transition, values: Values) -> tuple[Values, Chain] | str:
        """The values after ``transition`` from ``values`` and the ``always`` chain its
        target then takes; the reason, when its effects leave a bound or the chain cycles."""
        key = (id(transition), values)
        found = self._steps.get(key)
        if found is None:
            try:
                after = self.semantics.take(transition, values)
                chain = self.entry(transition.target, after)
                found = chain if isinstance(chain, str) else (after, chain)
            except OutOfRange as error:
                found = str(error)
            self._steps[key] = found
        return found

    def entry(self, state: str, values: Values) -> Chain | str:
        """The ``always`` chain entering ``state`` with ``values`` takes (or why it never
        settles)."""
        key = (state, values)
        found = self._chains.get(key)
        if found is None:
            try:
                found = tuple(self.semantics.enter(state, values))
            except (AlwaysCycle, OutOfRange) as error:
                found = str(error)
            self._chains[key] = found
        return found

    def timer(self, state: str) -> tuple[Transition, timedelta] | None:
        """The timed exit ``state`` takes when due, and how long after its entry."""
        try:
            return self._delays[state]
        except KeyError:
            timed = self.semantics.timed_exit(state)
            found = None
            if timed is not None and timed.after is not None:
                found = (timed, timedelta(seconds=timed.after.seconds))
            self._delays[state] = found
            return found


class RunChecker:
    """Checks one recorded run against ``semantics`` as its records arrive (:meth:`feed`),
    then at its end (:meth:`finish`). ``run`` names the run in every finding."""

    __slots__ = (
        "_after",
        "_always",
        "_at_most",
        "_bits",
        "_broken",
        "_closed",
        "_counts",
        "_deadline",
        "_fired_at",
        "_gates",
        "_last",
        "_pending",
        "_plan",
        "_precedence",
        "_rollback_allowed",
        "_rollbacks",
        "_since",
        "_spec_named",
        "_started",
        "_state",
        "_timed",
        "_timer",
        "_top",
        "_values",
        "_watching",
        "findings",
        "moves",
        "name",
        "notes",
        "semantics",
        "spec",
    )

    def __init__(self, semantics: Semantics | Moves, run: str) -> None:
        self.moves = moves = semantics if isinstance(semantics, Moves) else Moves(semantics)
        self.semantics = moves.semantics
        self.spec = self.semantics.spec
        plan = self._plan = moves.plan
        always, precedence, timed, at_most, watching, rollback, policies, _, initial = plan
        self.name = run
        self.findings: list[Finding] = []
        self.notes: set[str] = set()
        """What the run did not record, so was not checked (:data:`_NO_VALUES`, ...)."""
        self._started = False
        self._state = ""
        self._values: Values = initial
        self._deadline: datetime | None = None
        self._timer: Transition | None = None
        self._pending: deque[tuple[Transition, Values]] = deque()
        self._after: dict[int, tuple[str, Values]] = {}
        """The state and values after each record: where a rollback may return to."""
        self._rollback_allowed = rollback
        self._spec_named = ""
        """The last spec hash a record named that is this spec's (most name the same)."""
        self._last: Recorded | None = None
        self._closed: Recorded | None = None
        """The record that cancelled the run: nothing may follow it."""
        self._top = 0
        """The highest seq so far: the next record's is one more."""
        self._rollbacks = 0
        self._broken: set[str] = set()
        """The properties already reported for this run (one finding each)."""
        self._always = always
        self._precedence = precedence
        self._bits = [False] * len(precedence)
        self._fired_at: dict[int, list[bool]] = {}
        """The ``precedence`` bits after each record: what a rollback returns them to."""
        self._timed = timed
        self._since: list[datetime | None] = [None] * len(timed)
        self._at_most = at_most
        self._counts = [0] * len(at_most)
        """The firings of each ``at_most`` trigger since the run last left its initial
        state (a rollback carries them over, as the explorer counts)."""
        self._watching = watching
        """Whether the spec has a property to follow at each record."""
        self._gates = GateChecker(self.semantics) if policies else None
        """The run's approval gates, followed where the spec has a policy (elsewhere a
        gate's own record is the one thing to find: :meth:`feed`)."""

    # -- the records ----------------------------------------------------------------------

    def feed(self, record: Recorded) -> None:
        """Check ``record``, the next of the run."""
        before, gates = self._state, self._gates
        if gates is None:  # no state has a policy: a gate's own record is all there is to find
            if (
                record.event in GATE_EVENTS
                and self._started
                and not self._pending
                and self._last is not None
            ):
                problem = f"a {record.event} record outside an approval gate with a policy"
                self._report("run-policy", record, problem, self._where(before))
            self._feed(record)
            return
        if self._started and not self._pending and self._last is not None:
            problem = gates.check(record, before, self._values)
            if problem:
                self._report("run-policy", record, problem, self._where(before))
        self._feed(record)
        gates.follow(record, before, before == self.spec.initial != self._state)

    def _feed(self, record: Recorded) -> None:
        last = self._last
        self._last = record
        named = record.spec
        if named is not None and named != self._spec_named:
            if self._plan.sha256.startswith(named.lower()):
                self._spec_named = named
            else:
                self._report(
                    "run-spec-version",
                    record,
                    f"recorded under the spec with sha256 {named}, not this one "
                    f"({self.spec.sha256[:12]}...)",
                    self.spec.location,
                )
        if last is None:
            self._top = record.seq
            self._created(record)
            return
        seq, top = record.seq, self._top
        if seq > top:
            self._top = seq
        if seq != top + 1:
            self._report(
                "run-out-of-order",
                record,
                f"follows record {last.seq}: records are numbered one after another",
                self.spec.location,
            )
        elif record.at < last.at:
            self._report(
                "run-out-of-order",
                record,
                f"recorded at {record.at.isoformat()}, before record {last.seq} "
                f"({last.at.isoformat()})",
                self.spec.location,
            )
        if not self._started:
            return
        if self._closed is not None:
            self._report(
                "run-cancelled",
                record,
                f"follows record {self._closed.seq}, which cancelled the run: a cancelled "
                "run is closed",
                self.spec.location,
            )
            return
        if self._pending:  # the spec takes an always step at once: nothing else comes first
            self._automatic(record, self._pending.popleft())
            return
        event = record.event
        if event == "transition":  # most records: the same checks as below, in order
            deadline = self._deadline
            if deadline is not None and record.at > deadline:  # _missed's first test
                self._missed(record)
            self._transition(record)
            return
        if event == "created":
            self._report(
                "run-malformed",
                record,
                "a second created record: only the first record creates the run",
                self.spec.location,
            )
            return
        if self._deadline is not None:
            self._missed(record)
        if record.event == "context":
            self._context(record)
        elif record.event == "cancelled":
            self._cancelled(record)
        elif record.event == "rollback":
            self._rollback(record)
        elif record.event == APPROVAL_EVENT:  # a vote: checked by _gates, its roles here
            self._vote(record)
        elif record.event not in GATE_EVENTS:  # a gate's own record: checked by _gates
            self._transition(record)

    def _vote(self, record: Recorded) -> None:
        """An approval counted toward a quorum: a human action by one of the gate's
        reviewers (widened once escalated), as the decision that completes it is."""
        state = self._state
        if self._gates is None or self.semantics.node(state).policy is None:
            return  # a vote outside a policy's gate: run-policy says so
        problem = self._human(record, self._reviewers(state))
        if problem:
            self._report(
                "run-unauthorised",
                record,
                f"an approval at {state} is a human step: {problem}",
                self._where(state),
            )

    def _reviewers(self, state: str) -> frozenset[str]:
        """The roles that may decide at ``state`` now: its reviewers, and those its
        escalation added once recorded."""
        reviewers = self.semantics.reviewers[state]
        if self._gates is not None:
            node = self.semantics.node(state)
            reviewers = reviewers | widened(node, self._gates.ledger.gate)
        return reviewers

    def _cancelled(self, record: Recorded) -> None:
        """A cancellation: it stays where the run rests, names who and why, and closes
        the run."""
        self._closed = record
        state = self._state
        if record.state != state or record.source not in (None, state):
            self._report(
                "run-cancelled",
                record,
                f"a cancellation stays in {state}, where the run rests, but this one "
                f"records {record.source} -> {record.state}",
                self._where(state),
            )
        elif not record.actor or not record.decision or record.trigger is not None:
            self._report(
                "run-cancelled",
                record,
                "a cancellation names who cancelled the run and why, and no trigger",
                self._where(state),
            )

    def resume(self, record: Recorded) -> None:
        """Start at ``record``, a ``migrated`` record: the run moved to this version of
        the spec there, in its state with its values, at its time (the records before it
        ran under another version; check them against that one)."""
        self._last, self._top = record, record.seq
        if record.state not in self.spec.state_names:
            self._report(
                "run-undeclared-step",
                record,
                f"migrated to {record.state}, which the spec does not declare",
                self.spec.location,
            )
            return
        self._started = True
        self._follow(record)
        self._arrived(record, None)

    def finish(self, now: datetime | None = None) -> list[Finding]:
        """The findings of the run; with ``now``, a run still waiting in a timed
        ``leads_to`` source past its bound is one too."""
        if now is not None and self._last is not None and self._closed is None:
            for index, (prop, seconds) in enumerate(self._timed):
                since = self._since[index]
                if since is not None and now - since > timedelta(seconds=seconds):
                    self._property(
                        prop,
                        self._last,
                        f"property {prop.name} fails: the run has been in "
                        f"{', '.join(prop.states)} since {since.isoformat()} without reaching "
                        f"{' or '.join(prop.targets)} within {seconds}s",
                    )
        return self.findings

    def _created(self, record: Recorded) -> None:
        spec, data = self.spec, self.semantics.data
        if record.event != "created":
            self._report(
                "run-malformed", record, "the first record must be the created one", spec.location
            )
            return
        if record.state != spec.initial:
            self._report(
                "run-undeclared-step",
                record,
                f"the run was created in {record.state}; the spec starts in {spec.initial}",
                spec.initial_location or spec.location,
            )
        if data.variables and record.variables is None:
            self.notes.add(_NO_VALUES)
        initial = self._plan.initial
        chain = self.moves.entry(spec.initial, initial)
        if isinstance(chain, str):
            self._report("run-undeclared-step", record, chain, spec.location)
            return
        self._started = True
        self._pending = deque(chain)
        self._state, self._values = spec.initial, initial
        self._entered(spec.initial, record.at)
        if record.variables is not None:
            self._compare(record, initial, spec.initial_location or spec.location)
        self._arrived(record, None)

    def _transition(self, record: Recorded) -> None:
        state, trigger = self._state, record.trigger or ""
        if record.source is not None and record.source != state:
            self._report(
                "run-undeclared-step",
                record,
                f"says it left {record.source}; the run was in {state}",
                self._where(state),
            )
            self._follow(record)
            return
        deadline, timed = self._deadline, self._timer
        # due only at or after the deadline (most records come before it)
        expired = deadline is not None and record.at >= deadline and self._expires(record)
        move = None if expired else self.moves.move(state, self._values, trigger, record.state)
        if move is not None:  # the spec takes this very step: check who and when
            taken = move.transition
            if taken.human:
                self._authorised(record, taken)
            if taken.after is not None and deadline is not None and record.at < deadline:
                self._early(record, taken, deadline)
            if move.chain:
                self._pending = deque(move.chain)
            self._state, self._values = taken.target, move.values
            if move.timer is None:
                self._deadline = self._timer = None
            else:
                self._timer, self._deadline = move.timer[0], record.at + move.timer[1]
            if record.variables is not None and not self._compare(
                record, move.values, taken.location, taken
            ):
                self._follow(record)
            if self._watching:
                self._arrived(record, state)
            elif self._rollback_allowed:  # what _arrived keeps where no property is watched
                self._after[record.seq] = (self._state, self._values)
                self._fired_at[record.seq] = self._bits
            return
        found = timed if expired else self._choose(record, state, trigger)
        if found is None:
            self._follow(record)
            return
        taken = found
        if taken.human:
            self._authorised(record, taken)
        if taken.after is not None and deadline is not None and record.at < deadline:
            self._early(record, taken, deadline)
        step = self.moves.step(taken, self._values)
        if isinstance(step, str):
            self._report("run-effect-mismatch", record, step, taken.location, taken)
            self._follow(record)
            return
        after, chain = step
        if chain:
            self._pending = deque(chain)
        self._step(record, taken, after)

    def _expires(self, record: Recorded) -> bool:
        """Whether ``record`` is the state's timed exit, due: taken by its trigger at or
        after the deadline (even where a manual exit shares the trigger)."""
        deadline, timed = self._deadline, self._timer
        return (
            deadline is not None
            and timed is not None
            and record.event == "transition"
            and record.at >= deadline
            and record.trigger == timed.trigger
            and record.state == timed.target
        )

    def _missed(self, record: Recorded) -> None:
        """A finding if ``record`` comes after a deadline that passed unfired."""
        deadline, timed = self._deadline, self._timer
        if deadline is None or timed is None or record.at <= deadline or self._expires(record):
            return
        what = record.trigger if record.event == "transition" else f"a {record.event} record"
        self._report(
            "run-missed-deadline",
            record,
            f"{what} at {record.at.isoformat()}, after {self._state}'s deadline "
            f"{deadline.isoformat()} passed: its timed exit {timed.trigger} "
            f"({timed.after.text if timed.after else ''}) should have fired first",
            timed.location,
            timed,
        )

    def _early(self, record: Recorded, taken: Transition, deadline: datetime) -> None:
        self._report(
            "run-early-timeout",
            record,
            f"the timed exit {taken.trigger} fired at {record.at.isoformat()}, before "
            f"{taken.source}'s deadline {deadline.isoformat()}",
            taken.location,
            taken,
        )

    def _choose(self, record: Recorded, state: str, trigger: str) -> Transition | None:
        """The transition the spec takes on ``record``'s trigger from ``state``; None, with
        a finding, when it takes none or another."""
        semantics = self.semantics
        declared, to_target = self.moves.declared(state, trigger, record.state)
        if not to_target:
            allowed = ", ".join(sorted(semantics.named[state])) or "none"
            self._report(
                "run-undeclared-step",
                record,
                f"{state} has no transition to {record.state} on {trigger} (its exits: {allowed})",
                declared[0].location if declared else self._where(state),
            )
            return None
        values = self._values
        # an always step that was not pending: no always exit was enabled
        chosen = None if trigger == AUTOMATIC_TRIGGER else self.moves.chosen(state, trigger, values)
        if chosen is not None and chosen.target == record.state:
            return chosen
        wanted = to_target[0]
        shown = self.semantics.data.show(values)
        if chosen is None:
            guard = wanted.when.text if wanted.when is not None else "(none)"
            message = f"{state} --{trigger}--> {record.state}: its guard {guard!r} did not hold" + (
                f" ({shown})" if shown else ""
            )
        else:
            message = (
                f"the spec takes {state} --{trigger}--> {chosen.target} here (the first "
                f"transition whose guard holds{', ' + shown if shown else ''}); the record "
                f"says {record.state}"
            )
        self._report("run-guard-failed", record, message, wanted.location, wanted)
        return wanted

    def _automatic(self, record: Recorded, expected: tuple[Transition, Values]) -> None:
        """``record`` must be the ``always`` step the spec takes at once: ``expected``."""
        step, after = expected
        if (
            record.event != "transition"
            or record.trigger != AUTOMATIC_TRIGGER
            or record.state != step.target
        ):
            self._report(
                "run-undeclared-step",
                record,
                f"the spec takes {step.source} --always--> {step.target} at once on "
                f"entering {step.source}; the record says "
                f"{record.trigger or record.event} -> {record.state}",
                step.location,
                step,
            )
            self._pending.clear()
            self._follow(record)
            return
        self._step(record, step, after)

    def _step(self, record: Recorded, step: Transition, after: Values) -> None:
        """Record ``record`` as the step the spec took: its values, the properties."""
        before = self._state
        self._state, self._values = step.target, after
        self._entered(step.target, record.at)
        if record.variables is not None and not self._compare(record, after, step.location, step):
            self._follow(record)
        self._arrived(record, before)

    def _entered(self, state: str, at: datetime) -> None:
        """The run entered ``state`` at ``at``: its deadline counts from here."""
        timer = self.moves.timer(state)
        if timer is None:
            self._deadline = self._timer = None
        else:
            self._timer, self._deadline = timer[0], at + timer[1]

    def _authorised(self, record: Recorded, taken: Transition) -> None:
        state = taken.source
        problem = self._human(record, self._reviewers(state))
        if problem:
            self._report(
                "run-unauthorised",
                record,
                f"{state} --{taken.trigger}--> {taken.target} is a human step: {problem}",
                taken.location,
                taken,
            )

    def _human(self, record: Recorded, roles: frozenset[str]) -> str:
        """What is wrong with ``record`` as a human action by one of ``roles``, or ''."""
        actor, held, decision = record.actor, record.roles, record.decision
        if not actor or not actor.strip():
            wanted = ", ".join(sorted(roles)) or "a role"
            return f"no actor is recorded (it needs one holding {wanted})"
        if held is None:
            self.notes.add(_NO_ROLES)
        elif roles.isdisjoint(held):
            shown = ", ".join(held) or "no role"
            return f"{actor} holds {shown}, none of the roles {', '.join(sorted(roles))}"
        if not decision or not decision.strip():
            return f"{actor} recorded no decision"
        return ""

    def _context(self, record: Recorded) -> None:
        state = self._state
        if record.state != state or (record.source is not None and record.source != state):
            self._report(
                "run-locked",
                record,
                f"a context change moved the run from {state} to {record.state}: only "
                "transitions and rollbacks move it",
                self._where(state),
            )
            self._follow(record)
        elif self.spec.state(state).is_approval:
            self._report(
                "run-locked",
                record,
                f"the context changed while {state} held the run for review",
                self._where(state),
            )

    def _rollback(self, record: Recorded) -> None:
        spec, state = self.spec, self._state
        where = spec.machine_location or spec.location
        problem = ""
        if spec.rollback is None:
            problem = "the spec allows no rollback (it has no rollback: {reviewers: [...]})"
        elif spec.state(state).is_approval:
            problem = f"{state} is an approval state: it is locked, and only its exits move it"
        else:
            problem = self._human(record, frozenset(spec.rollback))
            limit = rollback_limit(spec)
            self._rollbacks += 1
            if not problem and limit is not None and self._rollbacks > limit:
                problem = f"rollback number {self._rollbacks}; the spec allows {limit} a run"
        target = None if record.rollback_to is None else self._after.get(record.rollback_to)
        if not problem and target is None:
            problem = f"no record {record.rollback_to} before it to return to"
        elif not problem and target is not None:
            back, values = target
            values = self._kept(values)
            if record.state != back:
                problem = f"record {record.rollback_to} left the run in {back}, not {record.state}"
            elif self.semantics.automatic_in(back, values) is not None:
                problem = f"it returns to {back}, which the run leaves at once ('always')"
            else:
                self._state, self._values = back, values
                self._entered(back, record.at)
                if record.variables is not None:
                    self._compare(record, values, where)
                self._arrived(record, state, "rollback")
                return
        self._report("run-rollback", record, f"rollback to {record.state}: {problem}", where)
        self._follow(record)

    def _kept(self, values: Values) -> Values:
        keep = rollback_keeps(self.spec)
        if not keep:
            return values
        index = self.semantics.data.index
        merged = list(values)
        for name in keep:
            merged[index[name]] = self._values[index[name]]
        return tuple(merged)

    # -- after each record ----------------------------------------------------------------

    def _arrived(self, record: Recorded, source: str | None, trigger: str | None = None) -> None:
        """The run is at ``self._state`` after ``record`` (a step from ``source``)."""
        state, values = self._state, self._values
        if self._rollback_allowed:
            self._after[record.seq] = (state, values)
            self._fired_at[record.seq] = self._bits  # replaced, never changed in place
        if not self._watching:
            return
        for prop in self._always:
            if prop.name in self._broken or prop.invariant is None:
                continue
            if not self.semantics.data.holds(prop.invariant, values, state):
                shown = self.semantics.data.show(values)
                self._property(
                    prop,
                    record,
                    f"property {prop.name} fails: {prop.invariant.text!r} is false in {state}"
                    + (f" with {shown}" if shown else ""),
                )
        if source is None:
            return
        fired = trigger or record.trigger or ""
        rolled = trigger == "rollback"  # a rollback lowers no count of at_most
        # a rollback returns precedence to what had happened by the record it returns to
        back = None
        if rolled and record.rollback_to is not None:
            back = self._fired_at.get(record.rollback_to)
        bits = list(self._bits)
        for index, prop in enumerate(self._precedence):
            bit = back[index] if back is not None else bits[index] and source != self.spec.initial
            bit = bit or fired in prop.triggers
            bits[index] = bit
            if not bit and state in prop.states and prop.name not in self._broken:
                self._property(
                    prop,
                    record,
                    f"property {prop.name} fails: the run enters {state} without "
                    f"{' or '.join(prop.triggers)} since it last left {self.spec.initial}",
                )
        self._bits = bits
        if self._rollback_allowed:
            self._fired_at[record.seq] = bits
        for index, prop in enumerate(self._at_most):
            count = 0 if source == self.spec.initial and not rolled else self._counts[index]
            count += 1 if fired in prop.triggers else 0
            self._counts[index] = count
            if prop.times is not None and count > prop.times and prop.name not in self._broken:
                self._property(
                    prop,
                    record,
                    f"property {prop.name} fails: {fired} fires {count} times since the run "
                    f"last left {self.spec.initial}, more than the {prop.times} allowed",
                )
        for index, (prop, seconds) in enumerate(self._timed):
            since = self._since[index]
            if state in prop.targets:
                if since is not None and record.at - since > timedelta(seconds=seconds):
                    self._property(
                        prop,
                        record,
                        f"property {prop.name} fails: the run reached {state} "
                        f"{record.at - since} after entering {', '.join(prop.states)}, "
                        f"more than {seconds}s",
                    )
                self._since[index] = None
            elif state in prop.states and since is None:
                self._since[index] = record.at

    def _property(self, prop: Property, record: Recorded, message: str) -> None:
        self._broken.add(prop.name)
        self._report("run-property", record, message, prop.location)

    # -- helpers --------------------------------------------------------------------------

    def _compare(
        self,
        record: Recorded,
        values: Values,
        location: Location,
        transition: Transition | None = None,
    ) -> bool:
        """Whether the values ``record`` names are ``values``; a finding if not."""
        assert record.variables is not None
        data = self.semantics.data
        wrong = []
        for name, value in record.variables.items():
            index = data.index.get(name)
            if index is None:
                wrong.append(f"{name} is no variable of the spec")
            elif not _same(values[index], value):
                wrong.append(f"{name}={_shown(value)}, the spec gives {show_value(values[index])}")
        if not wrong:
            return True
        what = "the values it starts with" if record.event == "created" else "its values"
        self._report(
            "run-effect-mismatch",
            record,
            f"{what}: {'; '.join(wrong)}",
            location,
            transition,
        )
        return False

    def _follow(self, record: Recorded) -> None:
        """Go on from where ``record`` says the run is, after a finding about it."""
        spec = self.spec
        state = record.state if record.state in spec.state_names else self._state
        values = list(self._values)
        if record.variables is not None:
            for name, value in record.variables.items():
                index = self.semantics.data.index.get(name)
                if index is not None and _fits(spec.variables[index].type, value, spec, index):
                    values[index] = value
        self._state, self._values = state, tuple(values)
        self._after[record.seq] = (state, self._values)
        self._fired_at[record.seq] = self._bits
        self._entered(state, record.at)
        chain = self.moves.entry(state, self._values)
        self._pending = deque(() if isinstance(chain, str) else chain)

    def _where(self, state: str) -> Location:
        try:
            return self.spec.state(state).location
        except KeyError:
            return self.spec.location

    def _report(
        self,
        rule: str,
        record: Recorded,
        message: str,
        location: Location,
        transition: Transition | None = None,
    ) -> None:
        line = f" (line {record.line})" if record.line else ""
        self.findings.append(
            Finding(
                rule,
                Severity.ERROR,
                f"{self.name} record {record.seq}{line}: {message}",
                location,
                states=(self._state,) if self._state else (),
                transitions=() if transition is None else (TransitionRef.of(transition),),
            )
        )


def _same(expected: Value, recorded: Value) -> bool:
    return expected == recorded and type(expected) is type(recorded)


def _shown(value: object) -> str:
    return show_value(value) if isinstance(value, (bool, int, str)) else repr(value)


def _fits(kind: VarType, value: Value, spec: Spec, index: int) -> bool:
    variable = spec.variables[index]
    if kind is VarType.BOOL:
        return isinstance(value, bool)
    if kind is VarType.INT:
        return type(value) is int and variable.minimum <= value <= variable.maximum
    return value in variable.values


def check_run(
    spec: Spec, records: Iterable[Recorded], run: str, *, now: datetime | None = None
) -> tuple[list[Finding], set[str]]:
    """Every finding of one recorded run of ``spec``, and what it did not record
    (:attr:`RunChecker.notes`)."""
    checker = RunChecker(Moves(Semantics.of(spec)), run)
    for record in records:
        checker.feed(record)
    return checker.finish(now), checker.notes
