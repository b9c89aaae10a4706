"""The adapter contract of the conformance harness (:mod:`statewright.verify.conformance`).

An adapter tells the harness how to drive one implementation of a machine: create an
instance with an injected clock, fire a trigger (with an actor and a decision record for
human triggers), read the state and, optionally, read the audit log and expire timeouts.
It translates the implementation's own refusals into :class:`InvalidTransition` and
:class:`Unauthorized`, and its audit records into :class:`AuditEntry` values. An
implementation that can roll a run back to an earlier record offers ``rollback``
(:class:`RollbackAdapter`), refusing with :class:`Unauthorized`, :class:`Locked` or
:class:`RollbackLimit`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

if TYPE_CHECKING:
    from statewright.verify.conformance.rollback import RollbackRecord

__all__ = [
    "START",
    "Actor",
    "Adapter",
    "AuditEntry",
    "AuditedAdapter",
    "Clock",
    "InvalidTransition",
    "Locked",
    "ManualClock",
    "Refused",
    "RollbackAdapter",
    "RollbackLimit",
    "TimedAdapter",
    "Unauthorized",
    "VariablesAdapter",
]

M = TypeVar("M")

Clock = Callable[[], datetime]
"""What an implementation reads the time from: returns an aware UTC datetime."""

START = datetime(2026, 1, 1, tzinfo=UTC)
"""The time every run starts at."""


@dataclass(frozen=True, slots=True)
class Actor:
    """A person firing a human trigger: an id and the roles they hold."""

    id: str
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record of an implementation's audit log, as its adapter reports it.

    ``actor`` is the id of the person who fired a human transition; ``seq`` (a number
    that grows by one per record) and ``at`` (when it happened) are checked when given.
    """

    from_state: str
    to_state: str
    trigger: str
    actor: str | None = None
    seq: int | None = None
    at: datetime | None = None


class Refused(Exception):
    """The implementation refused a trigger and changed nothing."""


class InvalidTransition(Refused):
    """Refused: the current state declares no transition for the trigger."""


class Unauthorized(Refused):
    """Refused: a human trigger without an actor holding one of the reviewer roles."""


class Locked(Refused):
    """Refused: an approval state holds, and only its human and timed exits may act."""


class RollbackLimit(Refused):
    """Refused: the run has taken the rollbacks its spec's ``rollback: {max: N}`` allows."""


class ManualClock:
    """A clock that stands still until the harness moves it."""

    __slots__ = ("now",)

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)

    def __repr__(self) -> str:
        return f"ManualClock({self.now.isoformat()})"


class Adapter(Protocol[M]):
    """How the harness drives an implementation whose instances are of type ``M``."""

    def create(self, clock: Clock) -> M:
        """A fresh instance in the initial state that reads the time from ``clock``."""
        ...

    def fire(self, machine: M, trigger: str, actor: Actor | None, decision: str | None) -> None:
        """Fire ``trigger``; on refusal raise :class:`InvalidTransition` or
        :class:`Unauthorized`."""
        ...

    def state(self, machine: M) -> str:
        """The name of the current state."""
        ...


@runtime_checkable
class AuditedAdapter(Adapter[M], Protocol[M]):
    """An adapter for an implementation with an audit log."""

    def audit(self, machine: M) -> Sequence[AuditEntry]:
        """Every record so far, oldest first."""
        ...


@runtime_checkable
class VariablesAdapter(Adapter[M], Protocol[M]):
    """An adapter for an implementation of a spec with variables."""

    def variables(self, machine: M) -> Mapping[str, object]:
        """The current value of every variable, by name (ints, bools, enum values as
        their names)."""
        ...


@runtime_checkable
class TimedAdapter(Adapter[M], Protocol[M]):
    """An adapter for an implementation with timeouts."""

    def expire(self, machine: M) -> None:
        """Take the current state's timed transition if the clock has reached its deadline."""
        ...


@runtime_checkable
class RollbackAdapter(Adapter[M], Protocol[M]):
    """An adapter for an implementation that rolls a run back to an earlier record
    (DESIGN.md, "Rollback inside the proof").

    Records are numbered from 1 in the order the harness expects them in the audit log
    (the spec's transitions and gate records, and each rollback's own record, ``trigger``
    ``"rollback"``, from the state rolled back from to the one returned to, naming the
    actor); ``to_seq`` 0 is the run as it was created."""

    def rollback(
        self, machine: M, to_seq: int, actor: Actor, decision: str
    ) -> RollbackRecord | None:
        """Return the run to where it was after record ``to_seq``: its state, and its
        variables but the ``keep`` ones, which carry their current values over. Returns
        what the implementation recorded of it (None: nothing beyond its audit record);
        on refusal raises :class:`Unauthorized` (the actor holds no rollback role, or the
        spec allows none), :class:`Locked` (at an approval gate) or :class:`RollbackLimit`
        (the run has taken ``max``)."""
        ...
