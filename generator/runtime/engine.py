"""The engine every generated machine runs on: one class, :class:`Machine`, written once.

A generated module declares its machine's ``State``, ``Trigger`` and ``Reason`` enums and
a :class:`MachineSpec` of its transitions, and subclasses :class:`Machine` with one typed
method per trigger. Everything else is here: taking transitions by the spec's semantics
(the first declared transition of a state on a trigger wins; ``always`` chains follow at
once; a state's timed exits run on one clock, the shortest first), refusing what the spec
does not allow, authorising human triggers, locking approval states, keeping the audit
log (the one source of truth: creation, transitions, context changes and rollbacks, each
a record), failure snapshots, rollback and replay.

Durable instances (:meth:`Machine.create`, :meth:`Machine.load`, :meth:`Machine.sweep`)
keep the same log in a :class:`~.store.Store`: every change is committed with its records
in one transaction, or refused with nothing changed.
"""

from __future__ import annotations

import bisect
import copy
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import (
    Any,
    ClassVar,
    Final,
    Generic,
    NamedTuple,
    ParamSpec,
    TypeVar,
    get_args,
    get_origin,
)

from .data import Effect, Guard, OutOfBounds, VariablesSpec
from .history import ContextHistory
from .records import (
    MAX_JSON_BYTES,
    Actor,
    AuditRecord,
    Clock,
    Event,
    FailureSnapshot,
    InvalidTransition,
    JSONValue,
    Locked,
    Unauthorized,
    blank,
    check_actor,
    check_clock,
    check_decision,
    json_size,
    record_from_json,
    storable,
    storable_mapping,
    utc_now,
)
from .store import (
    ChainBroken,
    ConcurrencyConflict,
    Store,
    StoreError,
    StoreHead,
    instant,
    row_problem,
)

__all__ = ["Allowed", "Machine", "MachineSpec", "SweepReport", "Transition"]

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)
_P = ParamSpec("_P")
_V = TypeVar("_V")
M = TypeVar("M", bound="Machine[Any, Any, Any]")

AUTOMATIC: Final = "always"
"""The trigger of an automatic transition, taken as soon as its source is entered."""


@dataclass(frozen=True, slots=True)
class Transition(Generic[S, T, R]):
    """One transition as the spec declares it; ``when`` and ``effect`` are its guard and
    its ``set`` (on the machine's ``Variables``), if it has them."""

    source: S
    trigger: T
    target: S
    human: bool = False
    after: timedelta | None = None
    reason: R | None = None
    when: Guard[Any] | None = None
    effect: Effect[Any] | None = None


@dataclass(frozen=True, slots=True)
class MachineSpec(Generic[S, T, R]):
    """What a generated module declares of its machine; :class:`Machine` runs it.

    ``rollback`` holds the roles that may roll an instance back; None when the spec
    allows no rollback. ``data`` declares the variables; None when the spec has none.
    ``states``, ``triggers`` and ``reasons``, the machine's enums, are not declared: the
    class the spec is set on (``Machine[State, Trigger, Reason]``) names them already.
    """

    machine: str
    initial: S
    transitions: tuple[Transition[S, T, R], ...]
    approval: frozenset[S] = frozenset()
    failed: frozenset[S] = frozenset()
    reviewers: Mapping[S, frozenset[str]] = field(default_factory=dict)
    recovery: Mapping[R, tuple[str, ...]] = field(default_factory=dict)
    rollback: frozenset[str] | None = None
    data: VariablesSpec[Any] | None = None
    states: type[S] = field(init=False, repr=False, compare=False)
    triggers: type[T] = field(init=False, repr=False, compare=False)
    reasons: type[R] = field(init=False, repr=False, compare=False)

    def _bind(self, states: type[S], triggers: type[T], reasons: type[R]) -> None:
        """Set the enums, once, from the machine class (:meth:`Machine.__init_subclass__`)."""
        for name, enum in (("states", states), ("triggers", triggers), ("reasons", reasons)):
            object.__setattr__(self, name, enum)


@dataclass(slots=True, eq=False)
class _Node:
    """A state as the engine runs it: its exits by trigger, and what entering it means."""

    state: Any
    approval: bool
    failed: bool
    reviewers: frozenset[str]
    exits: dict[str, _Edge] = field(default_factory=dict)
    automatic: _Edge | None = None
    timed: _Edge | None = None


@dataclass(slots=True, eq=False)
class _Edge:
    """A transition between nodes; ``plain`` ones take the fast path of :meth:`Machine._take`.

    ``orelse`` is the next transition of the same source on the same trigger (guarded
    transitions share one): the first whose guard holds is taken.
    """

    source: _Node
    trigger: Any
    target: _Node
    human: bool
    after: timedelta | None
    reason: Any
    plain: bool = False
    when: Guard[Any] | None = None
    effect: Effect[Any] | None = None
    orelse: _Edge | None = None


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A :class:`MachineSpec` compiled for running, once per machine class."""

    spec: MachineSpec[Any, Any, Any]
    nodes: Mapping[Any, _Node]
    initial: _Node
    start: Any = None
    """Every variable at its initial value (a frozen value, so shared), or None."""
    start_json: Mapping[str, JSONValue] | None = None
    """``start`` as the created record holds it, or None."""


def _enums_of(cls: type) -> tuple[type[Any], type[Any], type[Any]]:
    """The state, trigger and reason enums ``cls`` subclasses ``Machine`` with."""
    for base in getattr(cls, "__orig_bases__", ()):
        arguments = get_args(base)
        enums = all(isinstance(a, type) and issubclass(a, StrEnum) for a in arguments)
        if get_origin(base) is Machine and len(arguments) == 3 and enums:
            return arguments[0], arguments[1], arguments[2]
    raise TypeError(
        f"{cls.__name__} sets spec, so it must subclass Machine[State, Trigger, Reason] "
        "with the machine's own StrEnum classes"
    )


def _compile(spec: MachineSpec[Any, Any, Any]) -> _Compiled:
    nodes = {
        state: _Node(
            state,
            approval=state in spec.approval,
            failed=state in spec.failed,
            reviewers=frozenset(spec.reviewers.get(state, ())),
        )
        for state in spec.states
    }
    edges = [
        _Edge(
            nodes[t.source],
            t.trigger,
            nodes[t.target],
            t.human,
            t.after,
            t.reason,
            when=t.when,
            effect=t.effect,
        )
        for t in spec.transitions
    ]
    last: dict[tuple[int, Any], _Edge] = {}  # the last edge of each source and trigger
    for edge in edges:  # the shortest timer of a state leads (the first among equals)
        source = edge.source
        if edge.trigger == AUTOMATIC:
            source.automatic = source.automatic or edge
        elif edge.after is not None and (source.timed is None or edge.after < _delay(source.timed)):
            source.timed = edge
    for edge in edges:  # a trigger by name takes the first declared of the rest whose guard holds
        if edge.trigger == AUTOMATIC or edge.after is None or edge is edge.source.timed:
            key = (id(edge.source), edge.trigger)
            if key in last:
                last[key].orelse = edge
            elif edge.trigger != AUTOMATIC:
                edge.source.exits[edge.trigger] = edge
            last[key] = edge
    for node in nodes.values():
        for edge in node.exits.values():
            edge.plain = not (
                edge.human
                or edge.after is not None
                or edge.source.failed
                or edge.target.failed
                or edge.target.automatic is not None
                or edge.when is not None
                or edge.effect is not None
                or edge.orelse is not None
            )
    data = spec.data
    start = None if data is None else data.initial()
    start_json = None if data is None else data.as_json(start)
    return _Compiled(spec, nodes, nodes[spec.initial], start, start_json)


def _delay(edge: _Edge) -> timedelta:
    return edge.after or timedelta()


def _allowed(node: _Node, values: Any = None) -> str:
    """The triggers ``node`` takes with ``values`` (a guarded one only where it holds)."""
    names = sorted(
        str(trigger) for trigger, edge in node.exits.items() if _holding(edge, values) is not None
    )
    return ", ".join(names) if names else "none"


def _holding(edge: _Edge | None, values: Any) -> _Edge | None:
    """The first of ``edge`` and its alternatives whose guard holds with ``values``."""
    while edge is not None and edge.when is not None and not edge.when.test(values):
        edge = edge.orelse
    return edge


def _shown(values: Mapping[str, JSONValue]) -> str:
    """``attempts=3, signed_off=false``."""
    return ", ".join(f"{name}={json.dumps(value)}" for name, value in values.items())


_CURRENT: Any = object()
"""The default of :meth:`Machine._automatic`: the machine's current variables."""


class Allowed(NamedTuple, Generic[S, T]):
    """One trigger that may fire now (:meth:`Machine.allowed`), and what firing it needs.

    ``human``: it needs an actor holding one of ``roles`` and a decision record;
    ``timed``: it is the state's timed exit, listed only once it is due (``expire()``
    takes it); ``target`` is the state it leads to (before any automatic exits).
    """

    trigger: T
    target: S
    human: bool
    roles: frozenset[str]
    timed: bool


class SweepReport(NamedTuple, Generic[S, T, R]):
    """What :meth:`Machine.sweep` did: the records it appended, by instance, and the
    instances it could not read (their id and why), which it skipped; ``errors`` holds
    the exception behind each of those, by id."""

    fired: list[tuple[str, AuditRecord[S, T, R]]]
    unreadable: list[tuple[str, str]]
    errors: dict[str, Exception]


_new_record = tuple.__new__
_NEVER = datetime.min
_TRANSITION = Event.TRANSITION
_CREATED = Event.CREATED


class Machine(Generic[S, T, R]):
    """An instance of a machine; subclasses set ``spec`` and add a method per trigger.

    Undeclared triggers raise ``InvalidTransition``, human triggers without an authorised
    actor and a decision raise ``Unauthorized``, and anything but the human and timed
    exits of an approval state raises ``Locked``; a refusal changes nothing.
    """

    __slots__ = (
        "_clock",
        "_entered",
        "_failures",
        "_history",
        "_id",
        "_log",
        "_node",
        "_reason",
        "_revision",
        "_store",
        "_values",
        "_variables",
    )

    spec: ClassVar[MachineSpec[Any, Any, Any]]
    """The machine's declaration, set by the generated subclass."""

    _compiled: ClassVar[_Compiled]
    _clock: Clock
    _node: _Node
    _log: list[AuditRecord[S, T, R]]
    _history: ContextHistory | None
    """The context after each record that changed it; None until the first change (the
    created record's data is the context until then)."""
    _entered: datetime
    """When the current state was entered: its timed exit counts from here."""
    _reason: R | None
    _failures: list[FailureSnapshot[S, T, R]]
    _store: Store | None
    _id: str | None
    _revision: int
    _variables: Any
    """The current values of the variables (the generated ``Variables``), or None."""
    _values: list[tuple[int, Any]]
    """The variables after each record that changed them: (record number, values)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            cls.spec._bind(*_enums_of(cls))
            cls._compiled = _compile(cls.spec)

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        context: Mapping[str, object] | None = None,
    ) -> None:
        data: dict[str, JSONValue] = {} if context is None else storable_mapping(context, "context")
        self._reset(clock)
        at = self._clock()
        initial = self._node
        state = initial.state
        start = self._compiled.start_json
        values = None if start is None else dict(start)
        self._log.append(
            _new_record(
                AuditRecord,
                (1, at, state, state, None, None, None, None, None, _CREATED, data, values),
            )
        )
        self._entered = at
        if initial.automatic is not None:
            automatic = self._automatic(initial)
            if automatic is not None:
                self._enter(automatic, at, None, None, None)

    def _reset(self, clock: Clock | None) -> None:
        self._clock = utc_now if clock is None else check_clock(clock)
        self._node = self._compiled.initial
        self._log = []
        self._history = None
        self._entered = _NEVER
        self._reason = None
        self._failures = []
        self._store = None
        self._id = None
        self._revision = 0
        self._variables = start = self._compiled.start
        self._values = [(1, start)]

    # -- reading ------------------------------------------------------------------------

    @property
    def state(self) -> S:
        """The current state."""
        state: S = self._node.state
        return state

    @property
    def audit(self) -> tuple[AuditRecord[S, T, R], ...]:
        """Every record so far, oldest first; nothing is ever removed."""
        return tuple(self._log)

    @property
    def context(self) -> dict[str, JSONValue]:
        """A copy of the machine's JSON data; change it with :meth:`update_context`."""
        return copy.deepcopy(self._context())

    def _context(self) -> dict[str, JSONValue]:
        """The context now (the machine's own: copy it before handing it out)."""
        if self._history is not None:
            return self._history.current
        created = self._log[0].data
        assert isinstance(created, dict)
        return created

    def _contexts(self) -> ContextHistory:
        """The context's history, started at its first change."""
        if self._history is None:
            created = self._log[0].data
            assert isinstance(created, dict)
            self._history = ContextHistory(created)
        return self._history

    def _checked_context(self, values: Mapping[str, object], what: str) -> dict[str, JSONValue]:
        """``values`` (copied) if they are JSON data the context can take: refused with
        ``TypeError`` as a stored value is, and when merging them would make the context
        larger than ``MAX_JSON_BYTES`` as JSON."""
        data = storable_mapping(values, what)
        size = self._contexts().size_with(data)
        if size > MAX_JSON_BYTES:
            raise TypeError(
                f"{what} would make the context {size:,} bytes as JSON; the limit is "
                f"{MAX_JSON_BYTES:,} (MAX_JSON_BYTES)"
            )
        return data

    @property
    def reason(self) -> R | None:
        """The reason the machine is in a failed state, or None."""
        return self._reason

    @property
    def failures(self) -> tuple[FailureSnapshot[S, T, R], ...]:
        """A snapshot for every entry into a failed state, oldest first."""
        return tuple(self._failures)

    @property
    def deadline(self) -> datetime | None:
        """When the current state's timed exit is due, or None if it has none."""
        timed = self._node.timed
        return None if timed is None else self._entered + _delay(timed)

    def _variables_of(self, kind: type[_V]) -> _V:
        """The current variables, as the generated ``Variables`` type ``kind``."""
        values = self._variables
        if not isinstance(values, kind):
            raise TypeError(f"{self.spec.machine} has no variables of type {kind.__name__}")
        return values

    @property
    def instance_id(self) -> str | None:
        """The id the instance is stored under; None for one that lives in memory only."""
        return self._id

    def allowed(self) -> tuple[Allowed[S, T], ...]:
        """The triggers that may fire now, sorted by name, each saying whether it needs a
        human: the exits of the current state the spec enables, the timed one once due.

        A guarded trigger is listed only while one of its guards holds, with the target of
        the transition it would take. An approval state lists only its human exits (and its
        timeout once due): it is locked. Firing a listed non-human trigger cannot raise
        ``InvalidTransition``.
        """
        return tuple(
            Allowed(
                edge.trigger,
                edge.target.state,
                edge.human,
                edge.source.reviewers if edge.human else frozenset(),
                edge.after is not None,
            )
            for edge in sorted(self._enabled(self._clock()), key=lambda e: str(e.trigger))
        )

    def _enabled(self, at: datetime) -> list[_Edge]:
        """The current state's exits that may be taken at ``at``: per trigger, the first
        whose guard holds, a timed one only once due. (The one place that says which exits
        are enabled.)"""
        entered, values = self._entered, self._variables
        holding = (_holding(first, values) for first in self._node.exits.values())
        return [
            edge
            for edge in holding
            if edge is not None and (edge.after is None or at >= entered + edge.after)
        ]

    @classmethod
    def recovery(cls, reason: R) -> tuple[str, ...]:
        """The recovery procedure of ``reason``, step by step."""
        spec = cls.spec
        if not isinstance(reason, spec.reasons):
            raise TypeError(
                f"recovery() takes a {spec.reasons.__name__} of {spec.machine}, not {reason!r}"
            )
        return tuple(spec.recovery.get(reason, ()))

    # -- changing -----------------------------------------------------------------------

    def fire(
        self,
        trigger: T,
        *,
        actor: Actor | None = None,
        decision: str | None = None,
        payload: object = None,
    ) -> S:
        """Take the current state's ``trigger`` exit, then any automatic ones; the new state.

        Raises ``InvalidTransition`` if the state has no such exit (or it is timed and not
        yet due) and ``Unauthorized`` for a human exit without an actor holding one of the
        state's reviewer roles or without a decision; either way nothing changes.
        ``payload`` is the event's input, kept in the snapshot (as JSON; an exception or a
        traceback as its text) if a failed state is entered.
        """
        if not isinstance(trigger, str):
            raise TypeError(f"fire() takes a trigger, not {type(trigger).__name__} {trigger!r}")
        return self._take(trigger, actor, decision, payload)

    def expire(self) -> S | None:
        """Take the timed exit whose time is up, stamped with the clock; else do nothing."""
        timed = self._node.timed
        if timed is None:
            return None
        at = self._clock()
        if at < self._entered + _delay(timed):
            return None
        self._durably(self._enter, timed, at, None, None, None)
        return self.state

    def update_context(self, values: Mapping[str, object], *, actor: Actor | None = None) -> None:
        """Merge JSON ``values`` into the context, recorded in the log; refused (``Locked``)
        in an approval state."""
        self._unlocked("update the context")
        data = self._checked_context(values, "context values")
        who = check_actor(actor, required=False, where="update_context()")
        self._durably(self._merge_context, data, None if who is None else who.id, self._clock())

    def rollback(self, seq: int, *, actor: Actor, decision: str) -> S:
        """Return to the state and context as they were after record ``seq``: a human action.

        ``actor`` must hold one of the roles the spec's ``rollback: {reviewers: [...]}``
        names (``Unauthorized`` otherwise, and always when the spec names none) and
        ``decision`` is the reason, recorded with the return as a record of its own.
        Refused (``Locked``) in an approval state; ``ValueError`` for a record that does
        not exist or that left the machine in a state it leaves automatically.
        """
        roles = self.spec.rollback
        where = "rollback()"
        if roles is None:
            raise Unauthorized(
                f"{self.spec.machine} allows no rollback: its spec names no "
                "rollback: {reviewers: [...]}"
            )
        who = check_actor(actor, required=True, where=where)
        assert who is not None
        if who.roles.isdisjoint(roles):
            raise Unauthorized(
                f"{who.id} holds none of the roles rollback needs: {', '.join(sorted(roles))}"
            )
        note = check_decision(decision, where=where)
        self._unlocked("roll back")
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise TypeError(f"rollback() takes a record number, not {seq!r}")
        state, reason, values = self._after(seq)
        at = self._clock()
        self._durably(self._restore, state, reason, values, at, who.id, note, seq)
        return self.state

    # -- the audit log ------------------------------------------------------------------

    @staticmethod
    def dump_audit(records: Iterable[AuditRecord[Any, Any, Any]]) -> str:
        """The records as JSON lines, oldest first; :meth:`load_audit` reads them back."""
        return "".join(record.to_json() + "\n" for record in records)

    @classmethod
    def load_audit(cls, text: str) -> tuple[AuditRecord[S, T, R], ...]:
        """The records in JSON lines; ``ValueError`` naming the line of a malformed one."""
        spec = cls.spec
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                records.append(record_from_json(data, spec.states, spec.triggers, spec.reasons))
            except (ValueError, KeyError, TypeError) as error:
                raise ValueError(f"audit line {number}: {error}") from error
        return tuple(records)

    @classmethod
    def replay(
        cls: type[M], records: Iterable[AuditRecord[Any, Any, Any]], *, clock: Clock | None = None
    ) -> M:
        """Rebuild an instance from its audit log, checking every record against the spec.

        The log holds everything: the creation time and context, every transition, context
        change and rollback; the rebuilt instance has the same state, context, failures
        and deadline. Raises ``InvalidTransition`` (naming the record) on a record the
        spec does not allow.
        """
        machine = cls.__new__(cls)
        machine._reset(clock)
        for record in records:
            machine._check(record)
            machine._apply(record)
        if not machine._log:
            raise InvalidTransition("an empty log: every log starts with its created record")
        if machine._automatic(machine._node) is not None:
            raise InvalidTransition(
                f"the log ends in {machine.state}, which the machine leaves automatically"
            )
        return machine

    # -- durable instances --------------------------------------------------------------

    @classmethod
    def create(
        cls: type[M],
        store: Store,
        instance_id: str,
        *,
        clock: Clock | None = None,
        context: Mapping[str, object] | None = None,
    ) -> M:
        """A new instance kept in ``store`` under ``instance_id`` (``InstanceExists`` if taken).

        From then on a change is durable when the call that made it returns: its records
        and the new state are committed in one transaction, or the call raises and nothing
        changed. A write that lost a race raises ``ConcurrencyConflict``: :meth:`load` the
        instance again and retry.
        """
        if not isinstance(instance_id, str) or not instance_id:
            raise TypeError(f"an instance id is a non-empty string, not {instance_id!r}")
        machine = cls(clock=clock, context=context)
        store.create(cls.spec.machine, instance_id, machine._head(), machine._bodies(0))
        machine._store, machine._id, machine._revision = store, instance_id, 0
        return machine

    @classmethod
    def load(cls: type[M], store: Store, instance_id: str, *, clock: Clock | None = None) -> M:
        """The instance kept in ``store`` under ``instance_id``, rebuilt from its records.

        The store verifies the chain first, and every record is checked against the spec
        as :meth:`replay` checks it. Raises ``UnknownInstance`` if there is none,
        ``ChainBroken`` if a record fails the chain or the stored state is not what the
        records give, ``StoreError`` if the stored deadline is not what this spec's timers
        give (the spec changed under the instance, or the row was edited),
        ``InvalidTransition`` on a record the spec does not allow and ``StoreError`` if a
        record cannot be read.
        """
        machine_name = cls.spec.machine
        stored = store.load(machine_name, instance_id)
        try:
            records = cls.load_audit("\n".join(entry.body for entry in stored.entries))
        except ValueError as error:
            raise StoreError(
                f"{machine_name} instance {instance_id!r}: unreadable stored records: {error}"
            ) from error
        machine = cls.replay(records, clock=clock)
        derived = machine._head()
        if (derived.state, len(machine._log)) != (stored.head.state, stored.seq):
            raise ChainBroken(
                row_problem(machine_name, instance_id, stored.seq, stored.head, derived)
            )
        if derived.deadline != stored.head.deadline:  # the spec's timer changed, or an edit
            raise StoreError(
                f"{row_problem(machine_name, instance_id, stored.seq, stored.head, derived)}"
                " under this spec's timers: the spec changed under the instance or the row"
                " was edited ('statewright audit verify' with the spec it ran under tells which)"
            )
        machine._store, machine._id, machine._revision = store, instance_id, stored.version
        return machine

    @classmethod
    def sweep(
        cls,
        store: Store,
        *,
        clock: Clock | None = None,
        limit: int | None = None,
        due: Callable[[str, str, int | None], list[str]] | None = None,
    ) -> SweepReport[S, T, R]:
        """Fire every timed exit that is due across the instances in ``store``.

        Reports every record it appended, by instance id (timed and automatic). ``limit``
        bounds how many instances' timeouts fire in one sweep; ``due`` finds the due ids
        (``store.due`` unless given: a worker's leaves out the instances it quarantined).
        Safe from several workers at once: an instance another worker changed first is
        skipped (its deadline is that worker's now). An instance that cannot be read or
        moved on is skipped and reported with why, and the sweep goes on past it, so one
        bad instance (or a ``limit``'s worth of them) never holds up the others.
        """
        now = (utc_now if clock is None else clock)()
        report: SweepReport[S, T, R] = SweepReport([], [], {})
        find = store.due if due is None else due
        seen: set[str] = set()
        moved = 0
        more = True
        while more and (limit is None or moved < limit):
            ask = None if limit is None else limit + 2 * len(seen)  # past the ones seen
            found = find(cls.spec.machine, instant(now), ask)
            more = ask is not None and len(found) == ask  # else nothing lies beyond them
            for instance_id in (i for i in found if i not in seen):
                if limit is not None and moved >= limit:
                    break
                seen.add(instance_id)
                try:
                    machine = cls.load(store, instance_id, clock=clock)
                    seen_records = len(machine._log)
                    machine.expire()
                except ConcurrencyConflict:
                    continue
                except Exception as error:  # one bad instance: report it, go on
                    report.unreadable.append((instance_id, str(error)))
                    report.errors[instance_id] = error
                    continue
                moved += 1
                report.fired.extend((instance_id, r) for r in machine._log[seen_records:])
        return report

    def _durably(self, change: Callable[_P, _V], /, *args: _P.args, **kwargs: _P.kwargs) -> _V:
        """Make ``change``; for a stored instance commit it, or undo it and raise."""
        if self._store is None:
            return change(*args, **kwargs)
        marks = (len(self._log), len(self._failures), len(self._values))
        kept = (self._node, self._reason, self._entered, self._variables)
        history = self._history
        mark = None if history is None else history.mark()
        try:
            result = change(*args, **kwargs)
            machine = self.spec.machine
            self._store.append(
                machine, str(self._id), self._revision, self._head(), self._bodies(marks[0])
            )
        except BaseException:
            del self._log[marks[0] :], self._failures[marks[1] :], self._values[marks[2] :]
            self._node, self._reason, self._entered, self._variables = kept
            if history is not None and mark is not None:
                history.undo(mark)
            self._history = history
            raise
        self._revision += 1
        return result

    def _head(self) -> StoreHead:
        """The present as the store keeps it beside the records: state and deadline."""
        deadline = self.deadline
        return StoreHead(self._node.state.value, None if deadline is None else instant(deadline))

    def _bodies(self, start: int) -> list[dict[str, JSONValue]]:
        """The records from ``start`` on, as the JSON objects the store keeps."""
        return [record.as_json() for record in self._log[start:]]

    def _stale(self) -> bool:
        """True when the store holds a newer version of this instance than this object."""
        if self._store is None or self._id is None:
            return False
        try:
            return self._store.version(self.spec.machine, self._id) != self._revision
        except StoreError:
            return False

    # -- taking transitions -------------------------------------------------------------

    def _take(self, trigger: T, actor: Actor | None, decision: str | None, payload: object) -> S:
        node = self._node
        edge = node.exits.get(trigger)
        if self._store is not None:
            return self._durably(self._take_checked, trigger, edge, actor, decision, payload)
        if (
            edge is None
            or not edge.plain
            or payload is not None
            or (actor is not None and type(actor) is not Actor)
        ):
            return self._take_checked(trigger, edge, actor, decision, payload)
        # The fast path: a plain transition, written out (most events of a busy machine).
        log = self._log
        target = edge.target
        at = self._clock()
        log.append(
            _new_record(
                AuditRecord,
                (
                    len(log) + 1,
                    at,
                    node.state,
                    target.state,
                    edge.trigger,
                    None if actor is None else actor.id,
                    decision,
                    None,
                    None,
                    _TRANSITION,
                    None,
                    None,
                ),
            )
        )
        self._node = target
        self._entered = at
        state: S = target.state
        return state

    def _take_checked(
        self,
        trigger: str,
        edge: _Edge | None,
        actor: Actor | None,
        decision: str | None,
        payload: object,
    ) -> S:
        node = self._node
        where = f"{trigger!s} from {node.state}"
        who = check_actor(actor, required=False, where=where)
        if edge is not None and (edge.when is not None or edge.orelse is not None):
            edge = self._guarded(edge, where)
        if edge is None:
            if self._stale():
                raise ConcurrencyConflict(
                    f"{self.spec.machine} instance {self._id!r} changed in the store since it "
                    "was loaded (a sweep or another writer moved it): load it again and retry"
                )
            lock = " (locked for review)" if node.approval else ""
            raise InvalidTransition(
                f"{node.state}{lock} has no exit on {trigger!s}; "
                f"allowed: {_allowed(node, self._variables)}"
            )
        if edge.human:
            decision = self._authorise(edge, who, decision)
        data = None if payload is None else storable(payload, "payload")
        at = self._clock()
        if edge.after is not None and at < self._entered + edge.after:
            due = (self._entered + edge.after).isoformat()
            raise InvalidTransition(
                f"{trigger!s} is timed and not due in {node.state} until {due}; "
                "call expire() once the clock reaches it"
            )
        self._enter(edge, at, who, decision, data)
        return self.state

    def _guarded(self, first: _Edge, where: str) -> _Edge:
        """The first of ``first`` and its alternatives whose guard holds now; refused,
        naming every guard that failed, when none does."""
        edge: _Edge | None = first
        failed: list[str] = []
        while edge is not None:
            if edge.when is None or edge.when.test(self._variables):
                return edge
            failed.append(edge.when.text)
            edge = edge.orelse
        declared = self.spec.data
        values = "" if declared is None else f" ({_shown(declared.as_json(self._variables))})"
        raise InvalidTransition(
            f"{where} is blocked: its guard {' / '.join(repr(g) for g in failed)} does not "
            f"hold{values}; allowed: {_allowed(self._node, self._variables)}"
        )

    def _automatic(self, node: _Node, values: Any = _CURRENT) -> _Edge | None:
        """The ``always`` exit entering ``node`` takes at once with ``values`` (default:
        the current ones), or None."""
        if values is _CURRENT:
            values = self._variables
        return _holding(node.automatic, values)

    def _authorise(self, edge: _Edge, actor: Actor | None, decision: str | None) -> str:
        roles = ", ".join(sorted(edge.source.reviewers))
        where = f"{edge.trigger!s} from {edge.source.state}"
        if actor is None:
            raise Unauthorized(f"{where} needs an actor holding one of the roles: {roles}")
        if actor.roles.isdisjoint(edge.source.reviewers):
            raise Unauthorized(f"{actor.id} holds none of the roles {where} needs: {roles}")
        return check_decision(decision, where=where)

    def _unlocked(self, action: str) -> None:
        node = self._node
        if node.approval:
            raise Locked(
                f"cannot {action}: {node.state} is locked for review; "
                f"only its human and timed exits are allowed: {_allowed(node, self._variables)}"
            )

    def _enter(
        self,
        edge: _Edge,
        at: datetime,
        actor: Actor | None,
        decision: str | None,
        payload: JSONValue,
    ) -> None:
        actor_id = None if actor is None else actor.id
        step: _Edge | None = edge
        if self.spec.data is None:
            while step is not None:
                self._step(step, at, actor_id, decision, payload)
                step = self._automatic(step.target)
                actor_id = decision = None
            return
        marks = (len(self._log), len(self._values), len(self._failures))
        kept = (self._node, self._reason, self._entered, self._variables)
        try:  # a step's effects may be refused: then none of the chain happened
            while step is not None:
                self._step(step, at, actor_id, decision, payload)
                step = self._automatic(step.target)
                actor_id = decision = None
        except BaseException:
            del self._log[marks[0] :], self._values[marks[1] :], self._failures[marks[2] :]
            self._node, self._reason, self._entered, self._variables = kept
            raise

    def _step(
        self,
        edge: _Edge,
        at: datetime,
        actor_id: str | None,
        decision: str | None,
        payload: JSONValue,
    ) -> None:
        target = edge.target
        reason = edge.reason
        if reason is None and edge.source.failed and target.failed:
            reason = self._reason
        data = payload if target.failed else None
        changed = None
        if edge.effect is not None:
            changed = self._effect(edge)
        log = self._log
        log.append(
            AuditRecord(
                len(log) + 1,
                at,
                edge.source.state,
                target.state,
                edge.trigger,
                actor_id,
                decision,
                reason,
                data=data,
                variables=changed,
            )
        )
        if changed is not None:
            self._values.append((len(log), self._variables))
        self._node = target
        self._entered = at
        self._reason = reason if target.failed else None
        if target.failed:
            self._failures.append(
                FailureSnapshot(
                    seq=len(log),
                    from_state=edge.source.state,
                    to_state=target.state,
                    trigger=edge.trigger,
                    reason=reason,
                    payload=copy.deepcopy(data),
                    context=copy.deepcopy(self._context()),
                    variables=self._variables,
                )
            )

    def _effect(self, edge: _Edge) -> dict[str, JSONValue] | None:
        """Apply ``edge``'s effect to the variables; the ones it changed. Refused with
        ``InvalidTransition`` (the caller undoes the step) when a value leaves its bounds."""
        declared, effect = self.spec.data, edge.effect
        assert declared is not None and effect is not None
        where = f"{edge.trigger!s} from {edge.source.state} ({effect.text})"
        try:
            after = declared.check(effect.apply(self._variables), where)
        except OutOfBounds as error:
            raise InvalidTransition(f"{error}; nothing changed") from error
        changed = declared.changed(self._variables, after)
        self._variables = after
        return changed

    def _merge_context(
        self, values: dict[str, JSONValue], actor_id: str | None, at: datetime
    ) -> None:
        state = self._node.state
        log = self._log
        log.append(
            AuditRecord(
                len(log) + 1,
                at,
                state,
                state,
                actor=actor_id,
                reason=self._reason,
                event=Event.CONTEXT,
                data=values,
            )
        )
        self._contexts().merge(len(log), values)

    def _after(self, seq: int) -> tuple[S, R | None, Any]:
        """The state, failure reason and variables after record ``seq``."""
        if not 1 <= seq <= len(self._log):
            raise ValueError(f"no record {seq}: the log holds records 1 to {len(self._log)}")
        record = self._log[seq - 1]
        index = bisect.bisect_right(self._values, seq, key=lambda version: version[0])
        values = self._values[index - 1][1]
        if self._automatic(self._compiled.nodes[record.to_state], values) is not None:
            raise ValueError(
                f"record {seq} left the machine in {record.to_state}, which it leaves "
                f"automatically; roll back to record {seq + 1} instead"
            )
        return record.to_state, record.reason, values

    def _restore(
        self,
        state: S,
        reason: R | None,
        values: Any,
        at: datetime,
        actor_id: str | None,
        decision: str | None,
        seq: int,
    ) -> None:
        declared = self.spec.data
        log = self._log
        log.append(
            AuditRecord(
                len(log) + 1,
                at,
                self._node.state,
                state,
                None,
                actor_id,
                decision,
                reason,
                seq,
                Event.ROLLBACK,
                variables=None if declared is None else declared.as_json(values),
            )
        )
        self._node = self._compiled.nodes[state]
        self._entered = at
        self._reason = reason
        self._contexts().restore(len(log), seq)
        self._variables = values
        self._values.append((len(log), values))

    # -- replaying ----------------------------------------------------------------------

    def _check(self, record: AuditRecord[Any, Any, Any]) -> None:
        """Raise ``InvalidTransition`` unless the spec allows ``record`` next."""
        where = f"record {record.seq}"
        if record.seq != len(self._log) + 1:
            raise InvalidTransition(f"{where}: expected record {len(self._log) + 1}")
        if record.data is not None:
            try:
                json_size(record.data, f"{where}: its data")
            except TypeError as error:
                raise InvalidTransition(str(error)) from error
        if record.event is Event.CREATED or not self._log:
            self._check_created(record, where)
            return
        if record.from_state != self._node.state:
            raise InvalidTransition(
                f"{where}: leaves {record.from_state} but the machine is in {self.state}"
            )
        automatic = self._automatic(self._node)
        if automatic is not None and (
            record.event is not Event.TRANSITION or record.trigger != automatic.trigger
        ):
            raise InvalidTransition(
                f"{where}: {self.state} is left automatically at once, not by this record"
            )
        if record.event is Event.ROLLBACK:
            self._check_rollback(record, where)
        elif record.event is Event.CONTEXT:
            self._check_context(record, where)
        else:
            self._check_transition(record, where)

    def _check_created(self, record: AuditRecord[Any, Any, Any], where: str) -> None:
        initial = self.spec.initial
        if self._log or record.event is not Event.CREATED:
            raise InvalidTransition(f"{where}: only the first record is, and must be, created")
        if (record.from_state, record.to_state) != (initial, initial) or record.trigger:
            raise InvalidTransition(f"{where}: an instance is created in {initial}")
        if not isinstance(record.data, dict):
            raise InvalidTransition(f"{where}: the created record's data is the context")
        declared = self.spec.data
        initial = None if declared is None else declared.as_json(declared.initial())
        if record.variables != initial:
            raise InvalidTransition(
                f"{where}: an instance is created with the variables {initial}, "
                f"not {record.variables}"
            )

    def _edge_for(self, record: AuditRecord[Any, Any, Any]) -> _Edge | None:
        """The transition ``record`` says was taken, as the spec chooses it now."""
        automatic = self._automatic(self._node)
        if automatic is not None:
            return automatic if record.trigger == automatic.trigger else None
        edge = None if record.trigger is None else self._node.exits.get(record.trigger)
        while edge is not None and edge.when is not None and not edge.when.test(self._variables):
            edge = edge.orelse
        return edge

    def _check_transition(self, record: AuditRecord[Any, Any, Any], where: str) -> None:
        edge = self._edge_for(record)
        automatic = self._automatic(self._node)
        if edge is None or edge.target.state != record.to_state:
            raise InvalidTransition(
                f"{where}: {record.from_state} --{record.trigger!s}--> {record.to_state} "
                "is not a transition of the spec"
            )
        if record.rollback_to is not None:
            raise InvalidTransition(f"{where}: a transition record has no rollback_to")
        if edge.human and (blank(record.actor or "") or blank(record.decision or "")):
            raise InvalidTransition(f"{where}: a human transition needs an actor and a decision")
        if edge.after is not None and record.at < self._entered + edge.after:
            raise InvalidTransition(f"{where}: {record.trigger!s} fired before it was due")
        if edge is automatic and record.at != self._entered:
            raise InvalidTransition(f"{where}: an automatic exit is taken at once")
        reason = edge.reason
        if reason is None and edge.source.failed and edge.target.failed:
            reason = self._reason
        if record.reason != reason:
            raise InvalidTransition(f"{where}: the reason should be {reason}, not {record.reason}")
        if record.data is not None and not edge.target.failed:
            raise InvalidTransition(f"{where}: only an entry into a failed state keeps data")
        declared, changed = self.spec.data, None
        if declared is not None and edge.effect is not None:
            try:
                after = declared.check(edge.effect.apply(self._variables), where)
            except OutOfBounds as error:
                raise InvalidTransition(str(error)) from error
            changed = declared.changed(self._variables, after)
        if record.variables != changed:
            raise InvalidTransition(
                f"{where}: the step changes the variables {changed}, not {record.variables}"
            )

    def _check_rollback(self, record: AuditRecord[Any, Any, Any], where: str) -> None:
        if self._node.approval:
            raise InvalidTransition(f"{where}: a rollback out of {self.state}, which is locked")
        if record.rollback_to is None or record.trigger is not None:
            raise InvalidTransition(f"{where}: a rollback names the record it returns to")
        if blank(record.actor or "") or blank(record.decision or ""):
            raise InvalidTransition(f"{where}: a rollback needs an actor and a decision")
        try:
            state, reason, values = self._after(record.rollback_to)
        except ValueError as error:
            raise InvalidTransition(f"{where}: {error}") from error
        if (state, reason) != (record.to_state, record.reason):
            raise InvalidTransition(
                f"{where}: record {record.rollback_to} left the machine in {state} "
                f"(reason {reason}), not {record.to_state} (reason {record.reason})"
            )
        declared = self.spec.data
        restored = None if declared is None else declared.as_json(values)
        if record.variables != restored:
            raise InvalidTransition(
                f"{where}: record {record.rollback_to} left the variables {restored}, "
                f"not {record.variables}"
            )

    def _check_context(self, record: AuditRecord[Any, Any, Any], where: str) -> None:
        if self._node.approval:
            raise InvalidTransition(f"{where}: a context change in {self.state}, which is locked")
        if record.to_state != self._node.state or record.trigger is not None:
            raise InvalidTransition(f"{where}: a context change stays in {self.state}")
        if not isinstance(record.data, dict):
            raise InvalidTransition(f"{where}: a context change's data is the values merged")
        size = self._contexts().size_with(record.data)
        if size > MAX_JSON_BYTES:
            raise InvalidTransition(
                f"{where}: the context would be {size:,} bytes as JSON; the limit is "
                f"{MAX_JSON_BYTES:,} (MAX_JSON_BYTES)"
            )
        if (record.decision, record.rollback_to, record.reason, record.variables) != (
            None,
            None,
            self._reason,
            None,
        ):
            raise InvalidTransition(f"{where}: a context change records data and an actor only")

    def _apply(self, record: AuditRecord[Any, Any, Any]) -> None:
        """Apply a record :meth:`_check` accepted."""
        if record.event is Event.CREATED:
            self._log.append(record)
            self._entered = record.at
        elif record.event is Event.ROLLBACK:
            assert record.rollback_to is not None
            _, _, values = self._after(record.rollback_to)
            self._restore(
                record.to_state,
                record.reason,
                values,
                record.at,
                record.actor,
                record.decision,
                record.rollback_to,
            )
        elif record.event is Event.CONTEXT:
            assert isinstance(record.data, dict)
            self._merge_context(record.data, record.actor, record.at)
        else:
            edge = self._edge_for(record)
            assert edge is not None
            self._step(edge, record.at, record.actor, record.decision, record.data)
