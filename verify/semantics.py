"""The one executable meaning of a spec: which transition fires, how ``always`` chains and
timers behave.

Everything in statewright that runs a spec runs it through this module: the checker's
transition tour (:mod:`verify.coverage`), the conformance harness's model of the spec
(:mod:`verify.conformance`) and with it the generated hypothesis tests, and the test suite
that holds the generated runtime engine to it. The rules, written once:

- A trigger fired in a state takes the first declared transition of that state with that
  trigger (a second one is a ``nondeterministic`` finding and never fires). ``always``
  and timed (``after``) transitions are not fired by name: a caller's trigger reaches
  only the state's *manual* exits.
- Entering a state that has an ``always`` exit moves on at once along its first declared
  one, and so on down the chain; its other exits never fire (``shadowed-transition``).
  A chain that comes back on itself (``always-cycle``) never settles.
- A state's timed exits run on one clock: the state is *due* when it has been held as
  long as its shortest ``after`` (the first declared among equals), and expiring it takes
  that exit, stamped with the time of the expiry. Firing that exit's trigger by name is
  the same as expiring: accepted once due, refused before. A longer timed exit of the
  same state never fires.
- A human transition is taken only by an actor holding one of its source state's
  reviewer roles.

:class:`Semantics` holds the spec's transitions indexed for these rules, built once per
spec; :class:`Run` is one run of it, with a clock, a log and the outcome of every request
(:class:`Outcome`). Guards and effects on data (``when``, ``set``) belong here too, in
:meth:`Semantics.candidates` and :meth:`Run.take`, so that every user of the semantics
gets them at once.

Standard library only; no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from verify.model import AUTOMATIC_TRIGGER, Spec, Transition

__all__ = ["AlwaysCycle", "Entry", "Outcome", "Run", "Semantics"]


class Outcome(Enum):
    """What the spec says must happen to a trigger fired in the current state."""

    ACCEPTED = "accepted"
    UNDECLARED = "undeclared"
    UNAUTHORISED = "unauthorised"


class AlwaysCycle(ValueError):
    """A chain of ``always`` transitions came back on itself: the machine never settles."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One transition a run took, as an audit log records it."""

    source: str
    target: str
    trigger: str
    at: datetime
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class Semantics:
    """A spec's transitions indexed by the rules of the module documentation.

    ``named[state][trigger]`` is the transition a trigger fired by name takes: the first
    declared among the state's manual exits and its leading timed exit; ``manual`` is the
    same without the timed one. ``timed[state]`` holds the state's timed exits, the one
    that fires first leading; ``automatic[state]`` the ``always`` exit taken on entry;
    ``steps[state]`` the values of ``named[state]`` in declaration order: every exit that
    can fire from the state at rest.
    """

    spec: Spec
    manual: Mapping[str, Mapping[str, Transition]]
    timed: Mapping[str, tuple[Transition, ...]]
    automatic: Mapping[str, Transition]
    reviewers: Mapping[str, frozenset[str]] = field(repr=False)
    steps: Mapping[str, tuple[Transition, ...]] = field(repr=False)
    named: Mapping[str, Mapping[str, Transition]] = field(repr=False)

    @classmethod
    def of(cls, spec: Spec) -> Semantics:
        timed: dict[str, list[Transition]] = {}
        automatic: dict[str, Transition] = {}
        named: dict[str, dict[str, Transition]] = {s.name: {} for s in spec.states}
        for t in spec.transitions:
            if t.trigger == AUTOMATIC_TRIGGER:
                automatic.setdefault(t.source, t)
            elif t.after is not None:
                timed.setdefault(t.source, []).append(t)
            else:
                named[t.source].setdefault(t.trigger, t)
        leading = {name: min(found, key=_delay) for name, found in timed.items()}
        if leading:  # a state's leading timer takes its trigger too, in declaration order
            named = {s.name: {} for s in spec.states}
            for t in spec.transitions:
                if t.trigger != AUTOMATIC_TRIGGER and (t.after is None or leading[t.source] is t):
                    named[t.source].setdefault(t.trigger, t)
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
        )

    @property
    def initial(self) -> str:
        return self.spec.initial

    def candidates(self, state: str, trigger: str) -> Transition | None:
        """The transition ``trigger`` fired by name takes from ``state``, or None."""
        return self.named[state].get(trigger)

    def timed_exit(self, state: str) -> Transition | None:
        """The timed exit ``state`` takes when it is due, or None if it has none."""
        found = self.timed.get(state)
        return found[0] if found else None

    def chain(self, state: str) -> list[Transition]:
        """The ``always`` transitions taken on entering ``state``, in order.

        Raises :class:`AlwaysCycle` when the chain never settles.
        """
        taken: list[Transition] = []
        seen = {state}
        step = self.automatic.get(state)
        while step is not None:
            taken.append(step)
            if step.target in seen:
                raise AlwaysCycle(f"'always' transitions from {state} never stop")
            seen.add(step.target)
            step = self.automatic.get(step.target)
        return taken

    def settle(self, state: str) -> str | None:
        """Where entering ``state`` comes to rest; None when its ``always`` chain cycles."""
        try:
            chain = self.chain(state)
        except AlwaysCycle:
            return None
        return chain[-1].target if chain else state

    def outcome(self, state: str, trigger: str, roles: Iterable[str] | None) -> Outcome:
        """What firing ``trigger`` in ``state`` by an actor with ``roles`` (None: no
        actor) must do, its timed exit aside (:meth:`Run.outcome` knows the time)."""
        transition = self.manual[state].get(trigger)
        if transition is None:
            return Outcome.UNDECLARED
        if transition.human and (roles is None or self.reviewers[state].isdisjoint(roles)):
            return Outcome.UNAUTHORISED
        return Outcome.ACCEPTED

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

    def arrivals(self) -> dict[str, tuple[str, ...]]:
        """For each state a fresh run can rest in, the shortest trigger sequence that brings
        it there, nearest first, the start first. A timed exit appears as its trigger."""
        start = self.settle(self.initial)
        if start is None:
            return {}
        found: dict[str, tuple[str, ...]] = {start: ()}
        queue = deque([start])
        while queue:
            state = queue.popleft()
            for t in self.steps[state]:
                rest = self.settle(t.target)
                if rest is not None and rest not in found:
                    found[rest] = (*found[state], t.trigger)
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
    """One run of a spec: its current state, when it was entered, and its log."""

    __slots__ = ("entered_at", "log", "semantics", "state")

    def __init__(self, semantics: Semantics, now: datetime) -> None:
        self.semantics = semantics
        self.state = semantics.initial
        self.entered_at = now
        self.log: list[Entry] = []
        self._settle(now)

    def outcome(self, trigger: str, roles: Iterable[str] | None, now: datetime) -> Outcome:
        """What firing ``trigger`` at ``now`` by an actor with ``roles`` must do."""
        transition = self.semantics.candidates(self.state, trigger)
        if transition is not None and transition.after is not None:
            due = self.deadline
            return Outcome.ACCEPTED if due is not None and now >= due else Outcome.UNDECLARED
        return self.semantics.outcome(self.state, trigger, roles)

    def fire(
        self, trigger: str, roles: Iterable[str] | None, actor: str | None, now: datetime
    ) -> Outcome:
        """Fire ``trigger``; the run changes only when the outcome is ACCEPTED."""
        outcome = self.outcome(trigger, roles, now)
        if outcome is Outcome.ACCEPTED:
            transition = self.semantics.candidates(self.state, trigger)
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
        """Take ``transition``, then the ``always`` chain of its target."""
        self.log.append(Entry(self.state, transition.target, transition.trigger, now, actor))
        self.state = transition.target
        self.entered_at = now
        self._settle(now)

    def restore(self, state: str, now: datetime) -> None:
        """Return to ``state`` (a rollback), entered at ``now``; the log records transitions
        only, so a rollback adds nothing to it."""
        self.state = state
        self.entered_at = now

    def _settle(self, now: datetime) -> None:
        for step in self.semantics.chain(self.state):
            self.log.append(Entry(step.source, step.target, step.trigger, now))
            self.state = step.target
