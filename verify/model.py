"""The spec model: plain, immutable data read from a YAML spec.

Every element keeps the :class:`Location` of the YAML node it came from, so that any
finding about it can point the author at the exact line and column. This module does
no I/O and imports neither YAML nor networkx: the loader builds these objects, the
graph module and the rules read them, the generator renders them.

Transitions are stored *expanded*: a transition written with a list or a glob as its
``from`` becomes one :class:`Transition` per matching source state, each keeping the
location and declaration index of the transition it was written as.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "AUTOMATIC_TRIGGER",
    "FORMAT_VERSION",
    "Duration",
    "Kind",
    "Location",
    "Reason",
    "Spec",
    "State",
    "Transition",
]

FORMAT_VERSION = 1
"""The spec format version this model describes (the ``statewright:`` key)."""

AUTOMATIC_TRIGGER = "always"
"""The reserved trigger of an automatic transition, taken as soon as its source is entered."""


@dataclass(frozen=True, slots=True, order=True)
class Location:
    """A 1-based position in a spec file."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Kind(StrEnum):
    """The kind of a state, as written in the spec's ``kind`` key."""

    IDLE = "idle"
    RUNNING = "running"
    APPROVAL = "approval"
    FAILED = "failed"
    COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class Duration:
    """A timed transition's delay: the text as written and its length in seconds."""

    text: str
    seconds: int


@dataclass(frozen=True, slots=True)
class State:
    """A named state of the machine."""

    name: str
    location: Location
    kind: Kind | None = None
    final: bool = False
    reviewers: tuple[str, ...] = ()
    stage: str | None = None
    description: str | None = None

    @property
    def is_approval(self) -> bool:
        return self.kind is Kind.APPROVAL

    @property
    def is_failed(self) -> bool:
        return self.kind is Kind.FAILED


@dataclass(frozen=True, slots=True)
class Transition:
    """One expanded transition: a single source, a single target, exactly one trigger.

    ``index`` is the position of the transition in the spec's ``transitions`` list; all
    the transitions expanded from one declaration share it and its ``location``.
    """

    source: str
    target: str
    trigger: str
    location: Location
    index: int
    human: bool = False
    after: Duration | None = None
    reason: str | None = None
    description: str | None = None

    @property
    def automatic(self) -> bool:
        """True for an ``always`` transition."""
        return self.trigger == AUTOMATIC_TRIGGER

    @property
    def timed(self) -> bool:
        """True for a transition with an ``after`` delay."""
        return self.after is not None

    @property
    def key(self) -> tuple[str, str, str]:
        """``(source, target, trigger)``: how reports name a transition."""
        return (self.source, self.target, self.trigger)


@dataclass(frozen=True, slots=True)
class Reason:
    """A failure reason code and its recovery procedure."""

    name: str
    location: Location
    recovery: tuple[str, ...] = ()
    description: str | None = None


@dataclass(frozen=True, slots=True)
class Spec:
    """A whole machine, as loaded from one spec file.

    ``states`` and ``reasons`` keep declaration order; ``transitions`` are expanded and
    ordered by declaration, then by source state order within a declaration.
    ``rollback`` holds the roles that may roll an instance back (the spec's
    ``rollback: {reviewers: [...]}``); None when the spec allows no rollback.
    """

    file: str
    machine: str
    initial: str
    states: tuple[State, ...]
    transitions: tuple[Transition, ...]
    reasons: tuple[Reason, ...] = ()
    description: str | None = None
    version: int = FORMAT_VERSION
    location: Location = field(default_factory=lambda: Location("<spec>", 1, 1))
    initial_location: Location | None = None
    sha256: str = ""
    rollback: tuple[str, ...] | None = None
    machine_location: Location | None = None
    _states: Mapping[str, State] = field(init=False, repr=False, compare=False)
    _reasons: Mapping[str, Reason] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_states", {s.name: s for s in self.states})
        object.__setattr__(self, "_reasons", {r.name: r for r in self.reasons})

    def state(self, name: str) -> State:
        """The state called ``name``; ``KeyError`` if there is none."""
        return self._states[name]

    def reason(self, name: str) -> Reason:
        """The reason called ``name``; ``KeyError`` if there is none."""
        return self._reasons[name]

    @property
    def state_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.states)

    @property
    def triggers(self) -> tuple[str, ...]:
        """Every distinct trigger, in order of first declaration."""
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))
