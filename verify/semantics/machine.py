"""The one executable meaning of a spec: which transition fires, how ``always`` chains,
timers, guards and effects behave.

Everything in statewright that runs a spec runs it through this module: the checker's
transition tour (:mod:`statewright.verify.coverage`) and configuration search
(:mod:`statewright.verify.explore`, which compiles the same rules to faster code and is tested
against this module), the conformance harness's model of the spec
(:mod:`statewright.verify.conformance`) and with it the generated hypothesis tests, and the test
suite that holds the generated runtime engine to it. A *configuration* is a state and a value of
every variable (:data:`Values`; a spec without variables has one configuration per state). The
rules, written once:

- A trigger fired in a configuration takes the first declared transition of its state
  with that trigger whose guard (``when``) holds; when several share a source and a
  trigger and more than one holds, the others never fire (``nondeterministic``). A
  trigger declared there whose guards all fail is *blocked*, and changes nothing.
  ``always`` and timed (``after``) transitions are not fired by name: a caller's trigger
  reaches only the state's *manual* exits.
- Firing a transition assigns every ``set`` at once, computed from the values before the
  step; a value outside its bounds is an ``out-of-range`` step (:class:`OutOfRange`).
- Entering a configuration in which an ``always`` exit is enabled moves on at once along
  the first declared enabled one, and so on down the chain, before any other trigger.
  A chain that comes back to a configuration it passed (``always-cycle``) never settles.
- A state's timed exits run on one clock: the state is *due* when it has been held as
  long as its shortest ``after`` (the first declared among equals), and expiring it takes
  that exit, stamped with the time of the expiry. Firing that exit's trigger by name is
  the same as expiring: accepted once due, refused before. A longer timed exit of the
  same state never fires. Timed exits take no guard.
- A human transition is taken only by an actor holding one of its source state's
  reviewer roles (a trigger is first declared, then its guards are evaluated, then its
  actor is authorised, then a timed one's time is checked).

:class:`Semantics` holds the spec's transitions indexed for these rules, built once per
spec; :class:`Run` is one run of it, with a clock, its data, a log and the outcome of
every request (:class:`Outcome`). What expressions mean is in
:mod:`statewright.verify.semantics.data`.

Standard library only; no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from statewright.verify.model import AUTOMATIC_TRIGGER, Spec, Transition
from statewright.verify.semantics.data import Data, Values

__all__ = ["AlwaysCycle", "Entry", "Outcome", "Run", "Semantics"]


class Outcome(Enum):
    """What the spec says must happen to a trigger fired in the current configuration."""

    ACCEPTED = "accepted"
    UNDECLARED = "undeclared"
    BLOCKED = "blocked"
    """Declared in the state, but the guard of every transition on the trigger fails."""
    UNAUTHORISED = "unauthorised"


class AlwaysCycle(ValueError):
    """A chain of ``always`` transitions came back on itself: the machine never settles."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One transition a run took, as an audit log records it, and the values after it
    (``transition`` is the one taken)."""

    source: str
    target: str
    trigger: str
    at: datetime
    actor: str | None = None
    values: Values = ()
    transition: Transition | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Semantics:
    """A spec's transitions indexed by the rules of the module documentation.

    ``named[state][trigger]`` is the transition a trigger fired by name takes: the first
    declared among the state's manual exits and its leading timed exit; ``manual`` is the
    same without the timed one. ``timed[state]`` holds the state's timed exits, the one
    that fires first leading; ``automatic[state]`` the ``always`` exit taken on entry;
    ``steps[state]`` the values of ``named[state]`` in declaration order: every exit that
    can fire from the state at rest.

    These tables name the *first declared* transition; with guards, ``choices[state]
    [trigger]`` holds every transition a trigger fired by name may take, in declaration
    order, and ``always[state]`` every ``always`` exit: the first whose guard holds is
    taken. ``data`` knows the variables.
    """

    spec: Spec
    manual: Mapping[str, Mapping[str, Transition]]
    timed: Mapping[str, tuple[Transition, ...]]
    automatic: Mapping[str, Transition]
    reviewers: Mapping[str, frozenset[str]] = field(repr=False)
    steps: Mapping[str, tuple[Transition, ...]] = field(repr=False)
    named: Mapping[str, Mapping[str, Transition]] = field(repr=False)
    choices: Mapping[str, Mapping[str, Sequence[Transition]]] = field(repr=False)
    always: Mapping[str, Sequence[Transition]] = field(repr=False)
    data: Data = field(repr=False)

    @classmethod
    def of(cls, spec: Spec) -> Semantics:
        timed: dict[str, list[Transition]] = {}
        automatic: dict[str, Transition] = {}
        always: dict[str, list[Transition]] = {}
        for t in spec.transitions:
            if t.trigger == AUTOMATIC_TRIGGER:
                automatic.setdefault(t.source, t)
                always.setdefault(t.source, []).append(t)
            elif t.after is not None:
                timed.setdefault(t.source, []).append(t)
        # a state's leading timer takes its trigger too, in declaration order
        leading = {name: min(found, key=_delay) for name, found in timed.items()}
        choices: dict[str, dict[str, list[Transition]]] = {s.name: {} for s in spec.states}
        for t in spec.transitions:
            if t.trigger != AUTOMATIC_TRIGGER and (t.after is None or leading[t.source] is t):
                by_trigger = choices[t.source]
                found = by_trigger.get(t.trigger)
                if found is None:
                    by_trigger[t.trigger] = [t]
                else:
                    found.append(t)
        named = {
            name: {trigger: found[0] for trigger, found in by_trigger.items()}
            for name, by_trigger in choices.items()
        }
        return cls(
            spec,
            {
                name: {k: t for k, t in found.items() if t.after is None}
                for name, found in named.items()
            },
            {name: tuple(sorted(found, key=_delay)) for name, found in timed.items()},
            automatic,
            {s.name: frozenset(s.reviewers) for s in spec.states},
            {name: tuple(found.values()) for name, found in named.items()},
            named,
            choices,
            always,
            Data(spec.variables),
        )

    @property
    def initial(self) -> str:
        return self.spec.initial

    def candidates(self, state: str, trigger: str, values: Values = ()) -> Transition | None:
        """The transition ``trigger`` fired by name takes from ``state`` with ``values``:
        the first declared whose guard holds, or None."""
        for transition in self.choices[state].get(trigger, ()):
            if self.data.holds(transition.when, values):
                return transition
        return None

    def timed_exit(self, state: str) -> Transition | None:
        """The timed exit ``state`` takes when it is due, or None if it has none."""
        found = self.timed.get(state)
        return found[0] if found else None

    def automatic_in(self, state: str, values: Values = ()) -> Transition | None:
        """The ``always`` exit entering ``state`` with ``values`` takes at once, or None."""
        for transition in self.always.get(state, ()):
            if self.data.holds(transition.when, values):
                return transition
        return None

    def take(self, transition: Transition, values: Values) -> Values:
        """The values after ``transition``'s effects (:class:`OutOfRange` past a bound)."""
        return self.data.apply(transition.effects, values)

    def enter(self, state: str, values: Values = ()) -> list[tuple[Transition, Values]]:
        """The ``always`` transitions taken on entering ``state`` with ``values``, in
        order, each with the values after it.

        Raises :class:`AlwaysCycle` when the chain never settles.
        """
        taken: list[tuple[Transition, Values]] = []
        seen = {(state, values)}
        step = self.automatic_in(state, values)
        while step is not None:
            values = self.take(step, values)
            taken.append((step, values))
            if (step.target, values) in seen:
                raise AlwaysCycle(f"'always' transitions from {state} never stop")
            seen.add((step.target, values))
            step = self.automatic_in(step.target, values)
        return taken

    def chain(self, state: str, values: Values = ()) -> list[Transition]:
        """The ``always`` transitions taken on entering ``state``, in order.

        Raises :class:`AlwaysCycle` when the chain never settles.
        """
        return [step for step, _ in self.enter(state, values)]

    def settle(self, state: str) -> str | None:
        """Where entering ``state`` (with the initial values) comes to rest; None when its
        ``always`` chain cycles."""
        try:
            chain = self.chain(state, self.data.initial)
        except AlwaysCycle:
            return None
        return chain[-1].target if chain else state

    def outcome(
        self, state: str, trigger: str, roles: Iterable[str] | None, values: Values = ()
    ) -> Outcome:
        """What firing ``trigger`` in ``state`` with ``values`` by an actor with ``roles``
        (None: no actor) must do, its timed exit aside (:meth:`Run.outcome` knows the
        time)."""
        declared = [t for t in self.choices[state].get(trigger, ()) if t.after is None]
        if not declared:
            return Outcome.UNDECLARED
        transition = next((t for t in declared if self.data.holds(t.when, values)), None)
        if transition is None:
            return Outcome.BLOCKED
        if transition.human and (roles is None or self.reviewers[state].isdisjoint(roles)):
            return Outcome.UNAUTHORISED
        return Outcome.ACCEPTED

    def failed_guards(self, state: str, trigger: str) -> tuple[str, ...]:
        """The guards of the transitions ``trigger`` may take from ``state``, as written."""
        return tuple(
            t.when.text for t in self.choices[state].get(trigger, ()) if t.when is not None
        )

    def exits(self, state: str) -> tuple[Transition, ...]:
        """The transitions a caller can fire from ``state`` (neither automatic nor timed)."""
        return tuple(self.manual[state].values())

    def roles_for(self, trigger: str) -> tuple[str, ...]:
        """The roles that may take ``trigger`` where it is a declared human exit, sorted."""
        return tuple(
            sorted(
                {
                    role
                    for state, exits in self.manual.items()
                    if (t := exits.get(trigger)) is not None and t.human
                    for role in self.reviewers[state]
                }
            )
        )

    @property
    def roles(self) -> tuple[str, ...]:
        """Every reviewer role of the spec, sorted."""
        return tuple(sorted({role for roles in self.reviewers.values() for role in roles}))

    def steps_in(self, state: str, values: Values = ()) -> tuple[Transition, ...]:
        """Every transition that can fire from ``state`` at rest with ``values``: for each
        trigger, in declaration order, the one it takes, and the leading timed exit."""
        found = (self.candidates(state, trigger, values) for trigger in self.named[state])
        return tuple(t for t in found if t is not None)

    def arrivals(self, limit: int = 10_000) -> dict[str, tuple[str, ...]]:
        """For each state a fresh run can rest in, the shortest trigger sequence that brings
        it there, nearest first, the start first. A timed exit appears as its trigger.

        With variables, the search runs over configurations (at most ``limit`` of them)
        and a state's sequence brings the run to the first configuration of it found.
        """
        initial = self.data.initial
        try:
            chain = self.enter(self.initial, initial)
        except AlwaysCycle:
            return {}
        start = (chain[-1][0].target, chain[-1][1]) if chain else (self.initial, initial)
        paths: dict[tuple[str, Values], tuple[str, ...]] = {start: ()}
        found: dict[str, tuple[str, ...]] = {start[0]: ()}
        queue = deque([start])
        while queue and len(paths) < limit:
            state, values = queue.popleft()
            for t in self.steps_in(state, values):
                try:
                    after = self.take(t, values)
                    chain = self.enter(t.target, after)
                except (AlwaysCycle, ValueError):
                    continue
                rest = (chain[-1][0].target, chain[-1][1]) if chain else (t.target, after)
                if rest not in paths:
                    paths[rest] = (*paths[state, values], t.trigger)
                    found.setdefault(rest[0], paths[rest])
                    queue.append(rest)
        return found

    def waits(self) -> tuple[int, ...]:
        """Clock moves worth trying, in seconds: a minute, an hour, and half and all but a
        second of each of the spec's timeouts."""
        found = {60, 3600}
        for t in self.spec.transitions:
            if t.after is not None:
                found |= {max(1, t.after.seconds // 2), max(1, t.after.seconds - 1)}
        return tuple(sorted(found))


def _delay(transition: Transition) -> int:
    return 0 if transition.after is None else transition.after.seconds


class Run:
    """One run of a spec: its current state and values, when the state was entered, and
    its log."""

    __slots__ = ("entered_at", "log", "semantics", "state", "values")

    def __init__(self, semantics: Semantics, now: datetime) -> None:
        self.semantics = semantics
        self.state = semantics.initial
        self.values: Values = semantics.data.initial
        self.entered_at = now
        self.log: list[Entry] = []
        self._settle(now)

    def candidate(self, trigger: str) -> Transition | None:
        """The transition ``trigger`` would take now, if any."""
        return self.semantics.candidates(self.state, trigger, self.values)

    def outcome(self, trigger: str, roles: Iterable[str] | None, now: datetime) -> Outcome:
        """What firing ``trigger`` at ``now`` by an actor with ``roles`` must do."""
        transition = self.candidate(trigger)
        if transition is not None and transition.after is not None:
            due = self.deadline
            return Outcome.ACCEPTED if due is not None and now >= due else Outcome.UNDECLARED
        return self.semantics.outcome(self.state, trigger, roles, self.values)

    def fire(
        self, trigger: str, roles: Iterable[str] | None, actor: str | None, now: datetime
    ) -> Outcome:
        """Fire ``trigger``; the run changes only when the outcome is ACCEPTED."""
        outcome = self.outcome(trigger, roles, now)
        if outcome is Outcome.ACCEPTED:
            transition = self.candidate(trigger)
            assert transition is not None
            self.take(transition, now, actor if transition.human else None)
        return outcome

    @property
    def timed_exit(self) -> Transition | None:
        """The timed exit the current state takes when it is due."""
        return self.semantics.timed_exit(self.state)

    @property
    def deadline(self) -> datetime | None:
        """When the current state is due, or None if it has no timed exit."""
        timed = self.timed_exit
        return None if timed is None else self.entered_at + timedelta(seconds=_delay(timed))

    def expire(self, now: datetime) -> Transition | None:
        """Take the timed exit if ``now`` has reached the deadline; the exit taken."""
        deadline, timed = self.deadline, self.timed_exit
        if deadline is None or timed is None or now < deadline:
            return None
        self.take(timed, now, None)
        return timed

    def take(self, transition: Transition, now: datetime, actor: str | None) -> None:
        """Take ``transition`` with its effects, then the ``always`` chain of its target.

        Raises :class:`~statewright.verify.semantics.data.OutOfRange`, changing nothing, when an
        effect leaves its variable's bounds.
        """
        values = self.semantics.take(transition, self.values)
        self.log.append(
            Entry(self.state, transition.target, transition.trigger, now, actor, values, transition)
        )
        self.state = transition.target
        self.values = values
        self.entered_at = now
        self._settle(now)

    def restore(self, state: str, now: datetime, values: Values | None = None) -> None:
        """Return to ``state`` and ``values`` (a rollback), entered at ``now``; the log
        records transitions only, so a rollback adds nothing to it."""
        self.state = state
        if values is not None:
            self.values = values
        self.entered_at = now

    def _settle(self, now: datetime) -> None:
        for step, values in self.semantics.enter(self.state, self.values):
            self.log.append(Entry(step.source, step.target, step.trigger, now, None, values, step))
            self.state = step.target
            self.values = values
