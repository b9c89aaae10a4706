"""The spec model: plain, immutable data read from a YAML spec.

Every element keeps the :class:`Location` of the YAML node it came from, so that any
finding about it can point the author at the exact line and column. This module does
no I/O and imports neither YAML nor networkx: the loader builds these objects, the
graph module and the rules read them, the generator renders them.

Transitions are stored *expanded*: a transition written with a list or a glob as its
``from`` becomes one :class:`Transition` per matching source state, each keeping the
location and declaration index of the transition it was written as.

Data (the optional ``variables``, a transition's ``when`` and ``set``, and
``properties``) is plain data too: an :class:`Expression` keeps its text, its location
and its syntax tree (:data:`Expr`), already type-checked by the loader. What an
expression *means* is written once, in :mod:`statewright.verify.semantics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal as TypeLiteral

__all__ = [
    "AUTOMATIC_TRIGGER",
    "FORMAT_VERSION",
    "Binary",
    "BinaryOp",
    "Constant",
    "CurrentState",
    "Duration",
    "Effect",
    "EnumValue",
    "Escalation",
    "Expr",
    "Expression",
    "Kind",
    "Literal",
    "Location",
    "Member",
    "Migration",
    "Policy",
    "Property",
    "PropertyKind",
    "Reason",
    "Ref",
    "Separation",
    "Spec",
    "State",
    "StateName",
    "Transition",
    "Unary",
    "UnaryOp",
    "Value",
    "VarType",
    "Variable",
    "format_duration",
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
    WAITING = "waiting"
    FAILED = "failed"
    COMPLETE = "complete"


@dataclass(frozen=True, slots=True)
class Duration:
    """A timed transition's delay: the text as written and its length in seconds."""

    text: str
    seconds: int


_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def format_duration(seconds: int) -> str:
    """``seconds`` in the spec's duration units, largest first, parts joined by spaces.

    >>> format_duration(878_400), format_duration(90), format_duration(0)
    ('10d 4h', '1m 30s', '0s')
    """
    parts: list[str] = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0s"


@dataclass(frozen=True, slots=True)
class Escalation:
    """An approval state's ``escalate``: after ``after``, ``to`` joins its reviewers."""

    after: Duration
    to: tuple[str, ...]
    location: Location


@dataclass(frozen=True, slots=True)
class Separation:
    """A name listed in ``separate_from`` (``requester``, ``previous_approvers``)."""

    name: str
    location: Location


@dataclass(frozen=True, slots=True)
class Policy:
    """An approval state's policy, its keys as written (each None or empty when absent):
    ``quorum`` distinct actors approve, ``separate_from`` names who may not, ``escalate``
    widens the reviewers before the timeout, ``bind`` (``context``) binds an approval to
    the digest of the context the gate was entered with. ``location`` is the first
    policy key's."""

    location: Location
    quorum: int | None = None
    separate_from: tuple[Separation, ...] = ()
    escalate: Escalation | None = None
    bind: str | None = None


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
    policy: Policy | None = None
    """The approval policy keys, None when the state has none."""

    @property
    def is_approval(self) -> bool:
        return self.kind is Kind.APPROVAL

    @property
    def is_failed(self) -> bool:
        return self.kind is Kind.FAILED

    @property
    def is_waiting(self) -> bool:
        return self.kind is Kind.WAITING


Value = int | bool | str
"""A variable's value: an int, a bool, or an enum value (its name)."""


class VarType(StrEnum):
    """The type of a variable, as written in its ``type`` key."""

    INT = "int"
    BOOL = "bool"
    ENUM = "enum"


@dataclass(frozen=True, slots=True)
class Variable:
    """A bounded variable: an int within ``minimum``..``maximum``, a bool, or an enum of
    ``values``; ``initial`` is its value when a run starts."""

    name: str
    type: VarType
    initial: Value
    location: Location
    minimum: int = 0
    maximum: int = 1
    values: tuple[str, ...] = ()
    description: str | None = None

    @property
    def domain(self) -> tuple[Value, ...]:
        """Every value the variable can hold, in order (an enum's in declaration order)."""
        if self.type is VarType.BOOL:
            return (False, True)
        if self.type is VarType.ENUM:
            return self.values
        return tuple(range(self.minimum, self.maximum + 1))


UnaryOp = TypeLiteral["not", "-"]
"""The unary operators: ``not`` on a bool, ``-`` on an int."""

BinaryOp = TypeLiteral["and", "or", "+", "-", "==", "!=", "<", "<=", ">", ">="]
"""The binary operators, a closed set: a walker that matches on them is proven complete
by mypy (``typing.assert_never`` after the last case)."""


@dataclass(frozen=True, slots=True)
class Literal:
    """A constant int or ``true``/``false``."""

    value: int | bool


@dataclass(frozen=True, slots=True)
class EnumValue:
    """A value of an enum, resolved when the spec is loaded: ``member`` of the enum of
    variable ``enum`` (an enum is the values one variable declares)."""

    enum: str
    member: str


@dataclass(frozen=True, slots=True)
class StateName:
    """A state's name, in a property (``state == DONE``)."""

    name: str


@dataclass(frozen=True, slots=True)
class Ref:
    """A variable, by name."""

    name: str


@dataclass(frozen=True, slots=True)
class CurrentState:
    """``state`` in a property: the name of the current state."""


@dataclass(frozen=True, slots=True)
class Unary:
    """``not x`` (on a bool) or ``-x`` (on an int)."""

    op: UnaryOp
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    """``+ -`` on ints; ``== != < <= > >=``; ``and or`` on bools."""

    op: BinaryOp
    left: Expr
    right: Expr


Constant = Literal | EnumValue | StateName
"""A value written in an expression: an int, a bool, an enum value or a state's name."""


@dataclass(frozen=True, slots=True)
class Member:
    """``x in [a, b]`` (``negated``: ``x not in [a, b]``); the items are constants."""

    operand: Expr
    items: tuple[Constant, ...]
    negated: bool = False


Expr = Literal | EnumValue | StateName | Ref | CurrentState | Unary | Binary | Member
"""A node of an expression's syntax tree; :func:`statewright.verify.expr.fold` walks it."""


@dataclass(frozen=True, slots=True)
class Expression:
    """An expression as written (``text``, at ``location``) and its checked syntax tree."""

    text: str
    tree: Expr
    location: Location

    def __str__(self) -> str:
        return self.text


@dataclass(frozen=True, slots=True)
class Effect:
    """One assignment of a transition's ``set``: ``variable`` takes ``value``."""

    variable: str
    value: Expression

    def __str__(self) -> str:
        return f"{self.variable} = {self.value.text}"


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
    when: Expression | None = None
    effects: tuple[Effect, ...] = ()

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


class PropertyKind(StrEnum):
    """What a property says."""

    ALWAYS = "always"
    PRECEDENCE = "precedence"
    LEADS_TO = "leads_to"
    AT_MOST = "at_most"


@dataclass(frozen=True, slots=True)
class Property:
    """A property of every run, named by its key under ``properties``.

    ``always``: ``invariant`` holds in every reachable configuration. ``precedence``:
    every entry into one of ``states`` is preceded by a firing of one of ``triggers``
    since the machine last left its initial state. ``leads_to``: every run in one of
    ``states`` later reaches one of ``targets`` (``within``: at most that long after it
    entered ``states``, each rest charged up to its state's earliest deadline).
    ``at_most``: the trigger in ``triggers`` fires at most ``times`` times since the
    machine last left its initial state, rollbacks included (a rollback never lowers the
    count).
    """

    name: str
    kind: PropertyKind
    location: Location
    invariant: Expression | None = None
    states: tuple[str, ...] = ()
    triggers: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    description: str | None = None
    within: Duration | None = None
    times: int | None = None


@dataclass(frozen=True, slots=True)
class Migration:
    """How a run of an earlier version of the spec moves to this one: an entry of the
    spec's ``migrations``.

    ``source`` is a prefix (at least 8 hex digits, lower case) of the sha256 of the old
    spec file, the hash every stored instance records. ``states`` renames or merges old
    states (an old state not named keeps its name); ``values`` gives variables of this
    spec a value (those the old spec lacked, or a reset of one it had); ``drop`` names
    the old variables this spec no longer has, whose values are discarded.
    ``locations`` holds where each part is written (``states.OLD``, ``variables.name``,
    ``drop.name``, and ``from``) so a finding can point at it.

    :meth:`apply` is the migration itself, a pure function of an old configuration; the
    proof that it strands no run is :mod:`statewright.verify.migration`.
    """

    source: str
    location: Location
    states: tuple[tuple[str, str], ...] = ()
    values: tuple[tuple[str, Value], ...] = ()
    drop: tuple[str, ...] = ()
    description: str | None = None
    locations: Mapping[str, Location] = field(default_factory=dict, compare=False, repr=False)

    def matches(self, sha256: str) -> bool:
        """Whether this migration moves runs of the spec whose file has hash ``sha256``."""
        return sha256.lower().startswith(self.source)

    def state(self, old: str) -> str:
        """The state an old run in ``old`` moves to."""
        return dict(self.states).get(old, old)

    def apply(self, state: str, values: Mapping[str, Value]) -> tuple[str, dict[str, Value]]:
        """The configuration a run in ``state`` with ``values`` (by variable name) moves
        to: its state mapped, the dropped variables removed, the given values set.

        >>> m = Migration("3b76db81", Location("new.yaml", 3, 5), (("REVIEWING", "WAITING"),),
        ...               (("revisions", 0),), ("legacy",))
        >>> m.apply("REVIEWING", {"legacy": True, "attempts": 2})
        ('WAITING', {'attempts': 2, 'revisions': 0})
        """
        moved = {name: value for name, value in values.items() if name not in self.drop}
        moved.update(self.values)
        return self.state(state), moved

    def where(self, part: str) -> Location:
        """Where ``part`` (``states.OLD``, ``variables.name``, ``drop.name``, ``from``) is
        written; the entry's own location if it is not."""
        return self.locations.get(part, self.location)


@dataclass(frozen=True, slots=True)
class Spec:
    """A whole machine, as loaded from one spec file.

    ``states`` and ``reasons`` keep declaration order; ``transitions`` are expanded and
    ordered by declaration, then by source state order within a declaration.
    ``rollback`` holds the roles that may roll an instance back (the spec's
    ``rollback: {reviewers: [...]}``); None when the spec allows no rollback.
    ``rollback_keep`` names the variables a rollback carries over from the configuration
    it leaves, and ``rollback_max`` bounds the rollbacks of a run (None: unbounded).
    ``variables`` and ``properties`` keep declaration order; ``migrations`` say how
    runs of earlier versions move to this one. ``from_asl`` marks a machine mapped from
    an AWS Step Functions definition: its Choice states are instantaneous there, so the
    time analysis and ``running-without-deadline`` leave it to the ASL rules.
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
    rollback_keep: tuple[str, ...] = ()
    rollback_max: int | None = None
    machine_location: Location | None = None
    variables: tuple[Variable, ...] = ()
    properties: tuple[Property, ...] = ()
    migrations: tuple[Migration, ...] = ()
    from_asl: bool = field(default=False, compare=False)
    _states: Mapping[str, State] = field(init=False, repr=False, compare=False)
    _reasons: Mapping[str, Reason] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_states", {s.name: s for s in self.states})
        object.__setattr__(self, "_reasons", {r.name: r for r in self.reasons})

    def variable(self, name: str) -> Variable:
        """The variable called ``name``; ``KeyError`` if there is none."""
        for variable in self.variables:
            if variable.name == name:
                return variable
        raise KeyError(name)

    def migration_from(self, sha256: str) -> Migration | None:
        """The migration that moves runs of the spec whose file hash is ``sha256``; None
        if the spec declares none (the loader refuses two that could both match)."""
        return next((m for m in self.migrations if m.matches(sha256)), None)

    @property
    def has_data(self) -> bool:
        """True when the spec declares variables: the data rules replace the graph rules
        of the same id."""
        return bool(self.variables)

    def deadline(self, name: str) -> Transition | None:
        """The timed exit of state ``name`` that fires first (the shortest ``after``, the
        first declared among equals): its ``after`` is the longest the state can be held;
        None when it has no timed exit (it can be held for ever)."""
        timed = [t for t in self.transitions if t.source == name and t.after is not None]
        return min(timed, key=lambda t: t.after.seconds if t.after else 0, default=None)

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
