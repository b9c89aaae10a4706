"""A reference interpreter: runs a :class:`~verify.model.Spec` exactly as the spec says.

It is the model side of the conformance harness (:mod:`verify.conformance`): the harness
drives an implementation and this interpreter side by side and compares them after every
step. It knows the spec's semantics and nothing else: a trigger is accepted only where a
transition declares it, a human trigger only from an actor holding one of the source
state's reviewer roles, ``always`` transitions follow at once, and a timed transition
fires when ``expire`` is called at or after its deadline. Every transition taken is
recorded as an :class:`Entry`.

Specs are taken as checked: where two transitions share a source and a trigger (a
``nondeterministic`` finding), the first one declared wins.

Standard library only; no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from verify.model import Spec, Transition

__all__ = ["Entry", "Outcome", "ReferenceMachine", "Table", "arrivals", "waits"]

MAX_AUTOMATIC_STEPS = 10_000
"""A guard against an ``always`` cycle (which the checker reports as an error)."""


class Outcome(Enum):
    """What the spec says should happen to a trigger fired in the current state."""

    ACCEPTED = "accepted"
    UNDECLARED = "undeclared"
    UNAUTHORISED = "unauthorised"


@dataclass(frozen=True, slots=True)
class Entry:
    """One transition the reference machine took, as an audit log records it."""

    source: str
    target: str
    trigger: str
    at: datetime
    actor: str | None = None


@dataclass(frozen=True, slots=True)
class Table:
    """A spec's transitions indexed for lookup: built once, shared by every run."""

    spec: Spec
    manual: Mapping[tuple[str, str], Transition]
    timed: Mapping[str, Transition]
    automatic: Mapping[str, Transition]

    @classmethod
    def of(cls, spec: Spec) -> Table:
        manual: dict[tuple[str, str], Transition] = {}
        timed: dict[str, Transition] = {}
        automatic: dict[str, Transition] = {}
        for t in spec.transitions:
            if t.automatic:
                automatic.setdefault(t.source, t)
            elif t.timed:
                timed.setdefault(t.source, t)
            else:
                manual.setdefault((t.source, t.trigger), t)
        return cls(spec, manual, timed, automatic)

    def exits(self, state: str) -> tuple[Transition, ...]:
        """The transitions a caller can fire from ``state`` (neither automatic nor timed)."""
        return tuple(t for (source, _), t in self.manual.items() if source == state)

    def reviewers(self, state: str) -> frozenset[str]:
        return frozenset(self.spec.state(state).reviewers)

    def roles_for(self, trigger: str) -> tuple[str, ...]:
        """The roles that may take ``trigger`` where it is a declared human exit, sorted."""
        sources = {t.source for (_, name), t in self.manual.items() if name == trigger and t.human}
        return tuple(sorted({role for source in sources for role in self.reviewers(source)}))

    @property
    def roles(self) -> tuple[str, ...]:
        """Every reviewer role of the spec, sorted."""
        return tuple(sorted({role for state in self.spec.states for role in state.reviewers}))

    def settle(self, state: str) -> str:
        """Where a machine entering ``state`` comes to rest after its ``always`` exits."""
        for _ in self.spec.states:
            transition = self.automatic.get(state)
            if transition is None:
                break
            state = transition.target
        return state


def arrivals(table: Table) -> dict[str, tuple[str, ...]]:
    """For each state a fresh machine can rest in (one it does not leave automatically),
    the shortest trigger sequence that brings it there; nearest first, the start first.

    A timed transition appears as its trigger, as in the checker's transition tour.
    """
    exits: dict[str, list[Transition]] = {}
    for t in table.spec.transitions:
        if not t.automatic:
            exits.setdefault(t.source, []).append(t)
    start = table.settle(table.spec.initial)
    found: dict[str, tuple[str, ...]] = {start: ()}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        for t in exits.get(state, ()):
            rest = table.settle(t.target)
            if rest not in found and rest not in table.automatic:
                found[rest] = (*found[state], t.trigger)
                queue.append(rest)
    return found


def waits(spec: Spec) -> tuple[int, ...]:
    """Clock moves worth trying: a minute, an hour, and half and all but a second of each
    of the spec's timeouts, in seconds."""
    found = {60, 3600}
    for t in spec.transitions:
        if t.after is not None:
            found |= {max(1, t.after.seconds // 2), max(1, t.after.seconds - 1)}
    return tuple(sorted(found))


def _authorised(reviewers: frozenset[str], roles: Iterable[str] | None) -> bool:
    return roles is not None and not reviewers.isdisjoint(roles)


class ReferenceMachine:
    """One run of a spec: its current state, when it was entered, and its log."""

    __slots__ = ("entered_at", "log", "state", "table")

    def __init__(self, table: Table, now: datetime) -> None:
        self.table = table
        self.state = table.spec.initial
        self.entered_at = now
        self.log: list[Entry] = []
        self._follow_automatic(now)

    def outcome(self, trigger: str, roles: Iterable[str] | None) -> Outcome:
        """What firing ``trigger`` by an actor with ``roles`` (None: no actor) must do."""
        transition = self.table.manual.get((self.state, trigger))
        if transition is None:
            return Outcome.UNDECLARED
        if transition.human and not _authorised(self.table.reviewers(self.state), roles):
            return Outcome.UNAUTHORISED
        return Outcome.ACCEPTED

    def fire(
        self, trigger: str, roles: Iterable[str] | None, actor: str | None, now: datetime
    ) -> Outcome:
        """Fire ``trigger``; the state and log change only when the outcome is ACCEPTED."""
        outcome = self.outcome(trigger, roles)
        if outcome is Outcome.ACCEPTED:
            transition = self.table.manual[(self.state, trigger)]
            self._take(transition, now, actor if transition.human else None)
        return outcome

    @property
    def timed_exit(self) -> Transition | None:
        """The current state's timed transition, if it has one."""
        return self.table.timed.get(self.state)

    @property
    def deadline(self) -> datetime | None:
        """When the current state's timed transition is due, or None."""
        timed = self.timed_exit
        if timed is None or timed.after is None:
            return None
        return self.entered_at + timedelta(seconds=timed.after.seconds)

    def expire(self, now: datetime) -> Transition | None:
        """Take the timed transition if ``now`` has reached its deadline; return it."""
        deadline = self.deadline
        timed = self.timed_exit
        if deadline is None or timed is None or now < deadline:
            return None
        self._take(timed, now, None)
        return timed

    def _take(self, transition: Transition, now: datetime, actor: str | None) -> None:
        self.log.append(Entry(self.state, transition.target, transition.trigger, now, actor))
        self.state = transition.target
        self.entered_at = now
        self._follow_automatic(now)

    def _follow_automatic(self, now: datetime) -> None:
        for _ in range(MAX_AUTOMATIC_STEPS):
            transition = self.table.automatic.get(self.state)
            if transition is None:
                return
            self.log.append(Entry(self.state, transition.target, transition.trigger, now))
            self.state = transition.target
        raise ValueError(f"'always' transitions from {self.state} never stop (always-cycle)")
