"""The engine every generated machine runs on: one class, :class:`Machine`, written once.

A generated module declares its machine's ``State``, ``Trigger`` and ``Reason`` enums and
a :class:`~.machinespec.MachineSpec` of its transitions, and subclasses :class:`Machine`
with one typed method per trigger. Which transition a trigger takes, what its effect
gives, what is refused, when a timed exit is due and which ``always`` steps follow are the
step kernel's (:mod:`.kernel`, the same code the checker explores a spec with). The
engine is the public face of an instance: it asks the kernel, refuses what the spec does
not allow with a message that says why, authorises human triggers, locks approval states,
and makes each change durable for a stored instance.

The rest of the machine lives beside it, by idea: :mod:`.machinespec` (the declaration and
its compilation), :mod:`.instance` (what an instance holds, and the records of the audit
log, the one source of truth, that change it), :mod:`.replay` (checking a log record by
record against the spec) and :mod:`.durable` (instances kept in a :class:`~.store.Store`:
every change is committed with its records in one transaction, or refused with nothing
changed).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import (
    Any,
    Generic,
    NamedTuple,
    ParamSpec,
    TypeVar,
    get_args,
    get_origin,
)

from . import cancel, durable, gates, kernel, replay, versions
from .durable import SweepReport
from .gates import GateStatus
from .instance import Instance
from .machinespec import Edge, MachineSpec, Node, Transition, compile_spec
from .records import (
    Actor,
    AuditRecord,
    Clock,
    Event,
    InvalidTransition,
    JSONValue,
    Locked,
    Refused,
    Unauthorized,
    check_actor,
    check_decision,
    record_from_json,
    storable,
    storable_mapping,
)
from .store import ConcurrencyConflict, Store, StoreError, StoreHead, instant

__all__ = ["Allowed", "Machine", "MachineSpec", "SweepReport", "Transition"]

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)
_P = ParamSpec("_P")
_V = TypeVar("_V")
M = TypeVar("M", bound="Machine[Any, Any, Any]")


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


def _allowed(node: Node, values: Any = None) -> str:
    """The triggers ``node`` takes with ``values`` (a guarded one only where it holds)."""
    names = sorted(str(edge.trigger) for edge in kernel.holding(node, values))
    return ", ".join(names) if names else "none"


def _shown(values: Mapping[str, JSONValue]) -> str:
    """``attempts=3, signed_off=false``."""
    return ", ".join(f"{name}={json.dumps(value)}" for name, value in values.items())


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


_new_record = tuple.__new__
"""``AuditRecord`` built from its fields in order, where the figures of
``benchmarks/bench_runtime.py`` show it pays: the created record of every new instance and
:meth:`Machine._take`'s short path (keywords cost twice as much as the tuple)."""
_TRANSITION = Event.TRANSITION
_CREATED = Event.CREATED


class Machine(Instance[S, T, R]):
    """An instance of a machine; subclasses set ``spec`` and add a method per trigger.

    Undeclared triggers raise ``InvalidTransition``, human triggers without an authorised
    actor and a decision raise ``Unauthorized``, and anything but the human and timed
    exits of an approval state raises ``Locked``; a refusal changes nothing.
    """

    __slots__ = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "spec" in cls.__dict__:
            cls.spec._bind(*_enums_of(cls))
            cls._compiled = compile_spec(cls.spec)

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
                (
                    *(1, at, state, state, None, None, None, None, None, _CREATED, data, values),
                    *(None, self.spec.sha256, None),
                ),
            )
        )
        self._entered = at
        if initial.automatic is not None:
            automatic = kernel.choose(initial.automatic, self._variables)
            if automatic is not None:
                self._enter(automatic, at, None, None, None)

    # -- reading ------------------------------------------------------------------------

    def allowed(self) -> tuple[Allowed[S, T], ...]:
        """The triggers that may fire now, sorted by name, each saying whether it needs a
        human: the exits of the current state the spec enables, the timed one once due.

        A guarded trigger is listed only while one of its guards holds, with the target of
        the transition it would take. An approval state lists only its human exits (and its
        timeout once due): it is locked. Once the state's deadline has passed, only its
        timed exit is listed: the runtime takes it first whatever fires (:meth:`fire`), so
        :meth:`expire`, then ask again. Firing a listed non-human trigger cannot raise
        ``InvalidTransition``.
        """
        at = self._clock()
        enabled = self._overdue_exit(at) or self._enabled(at)
        return tuple(
            Allowed(
                edge.trigger,
                edge.target.state,
                edge.human,
                edge.source.reviewers if edge.human else frozenset(),
                edge.after is not None,
            )
            for edge in sorted(enabled, key=lambda e: str(e.trigger))
        )

    def _listed(self, trigger: str) -> Edge | None:
        """The exit ``trigger`` takes now if :meth:`allowed` lists it, else None: the same
        question for one trigger, without building the list."""
        at = self._clock()
        for edge in self._overdue_exit(at) or self._enabled(at):
            if edge.trigger == trigger:
                return edge
        return None

    def _overdue_exit(self, at: datetime) -> list[Edge]:
        """The current state's timed exit if its deadline passed before ``at`` (what
        :meth:`_overdue` takes first), else none."""
        timed, deadline = self._node.timed, self.deadline
        return [timed] if timed is not None and deadline is not None and deadline < at else []

    def _enabled(self, at: datetime) -> list[Edge]:
        """The current state's exits that may be taken at ``at``: per trigger, the first
        whose guard holds, a timed one only once due."""
        entered = self._entered
        holding = kernel.holding(self._node, self._variables)
        return [edge for edge in holding if kernel.due(edge, entered, at)]

    def gate_status(self) -> GateStatus | None:
        """What the approval gate the machine rests in waits for now (approvals so far,
        quorum, the roles that may decide, escalation, the digest an approval names, the
        actors the policy refuses); None outside an approval state."""
        return gates.status(self, self._clock())

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
        digest: str | None = None,
    ) -> S:
        """Take the current state's ``trigger`` exit, then any automatic ones; the new state.

        Raises ``InvalidTransition`` if the state has no such exit (or it is timed and not
        yet due) and ``Unauthorized`` for a human exit without an actor holding one of the
        state's reviewer roles or without a decision; either way nothing changes.
        ``payload`` is the event's input, kept in the snapshot (as JSON; an exception or a
        traceback as its text) if a failed state is entered.

        A trigger that comes after the current state's deadline finds its timed exit
        taken: that is recorded first, stamped at the deadline (and so on while the next
        state's deadline passed too), and the trigger is judged from the state it led to
        (a refusal then says so; the timed exit stays taken, as a sweep would take it).
        At an approval gate with a policy, a human approval the quorum still lacks is
        recorded as an ``approval`` and the machine stays (:meth:`gate_status` says what
        the gate waits for); the requester or an earlier approver where the policy
        separates them, and an actor who approved here already, are refused
        (``Unauthorized``); ``digest`` is the digest of the context the reviewer read
        (``GateStatus.digest``), refused (``StaleDecision``) if it is not the one the gate
        bound.
        """
        if not isinstance(trigger, str):
            raise TypeError(f"fire() takes a trigger, not {type(trigger).__name__} {trigger!r}")
        if digest is not None and not isinstance(digest, str):
            raise TypeError(f"fire() takes a digest as text, not {digest!r}")
        if digest is not None:
            cancel.refuse(self, f"fire {trigger!s}")
            self._overdue(trigger)
            return self._durably(self._at_gate, trigger, actor, decision, payload, digest)
        return self._take(trigger, actor, decision, payload)

    def expire(self) -> S | None:
        """Take the timed exit whose time is up, stamped with the clock; else do nothing.

        An approval gate's escalation that fell due is recorded first (stamped at its due
        time); the state it leaves the machine in is returned even when no exit fired.
        A cancelled run is refused (``Cancelled``)."""
        cancel.refuse(self, "expire()")
        at = self._clock()
        escalates = self._node.policy is not None and self._escalation_due(at)
        if escalates:
            self._durably(gates.escalate_if_due, self, at)
        timed = self._node.timed
        if timed is None:
            return self.state if escalates else None
        if not kernel.due(timed, self._entered, at):
            return self.state if escalates else None
        self._durably(self._time_out, timed, at)
        return self.state

    def _time_out(self, timed: Edge, at: datetime) -> None:
        """Take the timed exit ``timed`` at ``at``; an approval gate's escalation that fell
        due before it is recorded first, as :meth:`expire` records it."""
        if self._node.policy is not None:
            gates.escalate_if_due(self, at)
        self._enter(timed, at, None, None, None)

    def _escalation_due(self, at: datetime) -> bool:
        due = self._escalates_at()
        return due is not None and at >= due

    def _escalates_at(self) -> datetime | None:
        """When the approval gate the machine rests in escalates, if its policy escalates
        and the escalation is not recorded yet; else None."""
        policy = self._node.policy
        if policy is None or policy.escalate_after is None:
            return None
        return kernel.escalation_due(self._node, gates.ledger(self).gate, self._entered)

    @property
    def next_due(self) -> datetime | None:
        """When the machine next changes by itself: the earlier of its :attr:`deadline`
        and the escalation of the approval gate it rests in (until that is recorded);
        None when neither comes. :meth:`expire` at that time records what fell due, and
        a store keeps it as the instance's due time, so a sweep or a worker wakes then.
        """
        deadline, escalates = self.deadline, self._escalates_at()
        if escalates is None or (deadline is not None and deadline <= escalates):
            return deadline
        return escalates

    def update_context(self, values: Mapping[str, object], *, actor: Actor | None = None) -> None:
        """Merge JSON ``values`` into the context, recorded in the log; refused (``Locked``)
        in an approval state. A timed exit whose deadline passed is taken first, as
        :meth:`fire` takes it."""
        cancel.refuse(self, "update the context")
        _, at = self._overdue(None)
        self._unlocked("update the context")
        data = self._checked_context(values, "context values")
        who = check_actor(actor, required=False, where="update_context()")
        at = self._clock() if at is None else at
        self._durably(self._merge_context, data, None if who is None else who.id, at)

    def rollback(self, seq: int, *, actor: Actor, decision: str) -> S:
        """Return to the state and context as they were after record ``seq``: a human action.

        ``actor`` must hold one of the roles the spec's ``rollback: {reviewers: [...]}``
        names (``Unauthorized`` otherwise, and always when the spec names none) and
        ``decision`` is the reason, recorded with the return as a record of its own.
        Refused (``Locked``) in an approval state, and (``RollbackLimit``) once the run
        has taken the spec's ``rollback: {max: N}`` rollbacks; ``ValueError`` for a record
        that does not exist or that left the machine in a state it leaves automatically.
        The variables the spec's ``rollback: {keep: [...]}`` names keep their current
        values, and the record says so in its data (``{"kept": {name: value}}``). A timed
        exit whose deadline passed is taken first, as :meth:`fire` takes it.
        """
        cancel.refuse(self, "roll back")
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
        _, now = self._overdue(None)
        self._unlocked("roll back")
        if isinstance(seq, bool) or not isinstance(seq, int):
            raise TypeError(f"rollback() takes a record number, not {seq!r}")
        self._check_rollback_limit()
        state, reason, values = self._after(seq)
        values, kept = self._kept(values)
        at = self._clock() if now is None else now
        held = tuple(sorted(who.roles))
        self._durably(
            self._rolled_back, state, reason, values, at, who.id, note, seq, held, kept, who
        )
        return self.state

    def _rolled_back(
        self,
        state: S,
        reason: R | None,
        values: Any,
        at: datetime,
        actor_id: str,
        decision: str,
        seq: int,
        roles: tuple[str, ...],
        kept: dict[str, JSONValue] | None,
        who: Actor | None = None,
    ) -> None:
        """Restore the state after record ``seq`` (by an actor holding ``roles``, with the
        ``kept`` values carried over); a gate entered so binds its digest. The rollback
        record is signed by ``who`` if that actor signs, as a human decision is."""
        first = len(self._log)
        self._restore(state, reason, values, at, actor_id, decision, seq, roles, kept)
        if who is not None:
            gates.sign(self, first, who)
        gates.bind(self, at)

    def cancel(self, *, actor: Actor, reason: str) -> AuditRecord[S, T, R]:
        """Cancel the run: an operator closes it for good; the ``cancelled`` record.

        ``actor`` (an :class:`Actor`; its roles are recorded, not checked: whoever may
        write the store may cancel) and ``reason`` (non-blank text, kept as the record's
        ``decision``) are required (``Unauthorized`` otherwise); an actor with a
        ``signer`` signs the record, as a human decision is signed. A timed exit (or an
        escalation) already due is taken first, stamped at its due time. From then on
        every change is refused with ``Cancelled``, the run has no deadline, and its
        replay refuses any record after this one. Refused (``Cancelled``) when it was
        cancelled already, and (``InvalidTransition``) when the run has finished in a
        state with no exit. In a SQL store the same transaction settles its outbox entry:
        workers never deliver, sweep or retry it again, and one running a handler for
        it abandons the call, committing nothing (:mod:`.cancel`).
        """
        return cancel.cancel(self, actor, reason)

    @property
    def cancelled(self) -> AuditRecord[S, T, R] | None:
        """The record that cancelled the run, or None while it is open."""
        return cancel.closed(self)

    # -- the audit log ------------------------------------------------------------------

    @staticmethod
    def dump_audit(records: Iterable[AuditRecord[Any, Any, Any]]) -> str:
        """The records as JSON lines, oldest first; :meth:`load_audit` reads them back."""
        return "".join(record.to_json() + "\n" for record in records)

    @classmethod
    def load_audit(cls, text: str) -> tuple[AuditRecord[S, T, R], ...]:
        """The records in JSON lines; ``ValueError`` naming the line of a malformed one.

        Lines end at ``\n`` alone: a JSON string may hold U+2028 unescaped, where
        ``str.splitlines`` would split a record in two."""
        spec = cls.spec
        lines = [(n, line) for n, line in enumerate(text.split("\n"), start=1) if line.strip()]
        bodies = []
        for number, line in lines:
            try:
                bodies.append(json.loads(line))
            except ValueError as error:
                raise ValueError(f"audit line {number}: {error}") from error
        enums = (spec.states, spec.triggers, spec.reasons)
        earlier = tuple(map(versions.lenient, enums))  # before the last migration
        cut = versions.last_migrated(bodies)
        records = []
        for index, ((number, _), data) in enumerate(zip(lines, bodies, strict=True)):
            try:
                records.append(record_from_json(data, *(earlier if index <= cut else enums)))
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
        replay.rebuild(machine, records)
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
        return durable.create(cls, store, instance_id, clock, context)

    @classmethod
    def load(cls: type[M], store: Store, instance_id: str, *, clock: Clock | None = None) -> M:
        """The instance kept in ``store`` under ``instance_id``, rebuilt from its records.

        The store verifies the chain first, and every record is checked against the spec
        as :meth:`replay` checks it. Raises ``UnknownInstance`` if there is none,
        ``ChainBroken`` if a record fails the chain or the stored state is not what the
        records give (or the stored deadline, for an instance created under this very
        spec: its row was edited), ``StoreError`` if the stored deadline is not what this
        spec's timers give to an instance created under another (the spec changed under
        it, or the row was edited),
        ``InvalidTransition`` on a record the spec does not allow and ``StoreError`` if a
        record cannot be read.
        """
        return durable.load(cls, store, instance_id, clock)

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
        return durable.sweep(cls, store, clock, limit, due)

    def _durably(self, change: Callable[_P, _V], /, *args: _P.args, **kwargs: _P.kwargs) -> _V:
        """Make ``change``; for a stored instance commit it, or undo it and raise."""
        if self._store is None:
            return change(*args, **kwargs)
        start = len(self._log)
        undo = self._checkpoint()
        try:
            result = change(*args, **kwargs)
            machine = self.spec.machine
            self._store.append(
                machine, str(self._id), self._revision, self._head(), self._bodies(start)
            )
        except BaseException:
            undo()
            raise
        self._revision += 1
        return result

    def _checkpoint(self) -> Callable[[], None]:
        """A function that puts the instance back as it is now (its records, failures,
        variables, state and context), undoing a change that failed part way."""
        marks = (len(self._log), len(self._failures), len(self._values))
        kept = (self._node, self._reason, self._entered, self._variables)
        history = self._history
        mark = None if history is None else history.mark()

        def undo() -> None:
            del self._log[marks[0] :], self._failures[marks[1] :], self._values[marks[2] :]
            self._node, self._reason, self._entered, self._variables = kept
            if history is not None and mark is not None:
                history.undo(mark)
            self._history = history

        return undo

    def _head(self) -> StoreHead:
        """The present as the store keeps it beside the records: state and due time (the
        deadline, or an unrecorded escalation if sooner: :attr:`next_due`)."""
        deadline = self.next_due
        return StoreHead(self._node.state.value, None if deadline is None else instant(deadline))

    def _bodies(self, start: int) -> list[dict[str, JSONValue]]:
        """The records from ``start`` on, as the JSON objects the store keeps (the
        created record names the spec version, :mod:`.versions`)."""
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
        if self._node.timed is not None:
            return self._take_timed(trigger, actor, decision, payload)
        node = self._node
        if node.policy is not None:
            return self._durably(self._at_gate, trigger, actor, decision, payload, None)
        edge = node.exits.get(trigger)
        if self._store is not None:
            return self._durably(self._take_checked, trigger, actor, decision, payload)
        if (
            edge is None
            or not edge.bare
            or payload is not None
            or (actor is not None and type(actor) is not Actor)
        ):
            return self._take_checked(trigger, actor, decision, payload)
        # The short path of a bare exit (kernel.Edge.bare), most events of a busy machine:
        # what _take_checked, _enter and _step do for it, without what a bare step cannot
        # need; an event costs a third of the long path's (benchmarks/bench_runtime.py).
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
                    None,
                    None,
                    None,
                ),
            )
        )
        self._node = target
        self._entered = at
        state: S = target.state
        return state

    def _overdue(self, trigger: str | None) -> tuple[str, datetime | None]:
        """Take every timed exit whose deadline passed before now, each stamped at its
        deadline with the ``always`` steps that follow it (DESIGN.md, "Checking what really
        ran"), so that whatever comes late (a trigger, a context change, a rollback) is
        judged from where the run is by then and the log never shows a deadline passed
        unfired. ``trigger``, when it is the overdue exit itself, is left to the caller.

        Returns what it took (said by a refusal that follows; '' for nothing) and the
        clock's reading, which the caller's own record takes (None when the state has no
        timed exit, and the clock was not read)."""
        if self._node.timed is None:
            return "", None
        at = self._clock()
        taken: list[str] = []
        while True:
            node, timed = self._node, self._node.timed
            deadline = node.deadline(self._entered)
            if timed is None or deadline is None or deadline >= at or timed.trigger == trigger:
                return "; ".join(taken), at
            self._durably(self._time_out, timed, deadline)
            taken.append(
                f"{node.state}'s deadline {deadline.isoformat()} passed, so its timed exit "
                f"{timed.trigger!s} was taken first (to {self.state})"
            )

    def _take_timed(
        self, trigger: T, actor: Actor | None, decision: str | None, payload: object
    ) -> S:
        """Take ``trigger`` in a state with a timed exit, once :meth:`_overdue` took any
        that is overdue; a refusal says what it took."""
        passed, at = self._overdue(trigger)
        try:
            if self._node.policy is not None:  # an approval gate with a policy
                return self._durably(self._at_gate, trigger, actor, decision, payload, None)
            if self._store is not None:
                return self._durably(self._take_checked, trigger, actor, decision, payload, at)
            return self._take_checked(trigger, actor, decision, payload, at)
        except Refused as error:
            if not passed:
                raise
            raise type(error)(f"{passed}: {error}") from error

    def _at_gate(
        self,
        trigger: str,
        actor: Actor | None,
        decision: str | None,
        payload: object,
        digest: str | None,
    ) -> S:
        """Fire ``trigger`` at an approval gate with a policy (or naming a digest):
        :func:`.gates.take` decides what is recorded."""
        node = self._node
        where = f"{trigger!s} from {node.state}"
        who = check_actor(actor, required=False, where=where)
        undo = self._checkpoint()
        try:
            gates.take(self, trigger, who, decision, payload, digest, self._clock(), where)
        except BaseException:
            undo()
            raise
        return self.state

    def _take_checked(
        self,
        trigger: str,
        actor: Actor | None,
        decision: str | None,
        payload: object,
        at: datetime | None = None,
    ) -> S:
        node = self._node
        where = f"{trigger!s} from {node.state}"
        who = check_actor(actor, required=False, where=where)
        at = self._clock() if at is None else at
        roles = None if who is None else who.roles
        outcome, edge = kernel.decide(node, trigger, self._variables, roles, self._entered, at)
        if outcome is not kernel.Outcome.ACCEPTED:
            self._refuse(outcome, trigger, edge, who, where)
        assert edge is not None
        if edge.human:
            decision = check_decision(decision, where=where)
        data = None if payload is None else storable(payload, "payload")
        self._enter(edge, at, who, decision, data)
        return self.state

    def _refuse(
        self,
        outcome: kernel.Outcome,
        trigger: str,
        edge: Edge | None,
        who: Actor | None,
        where: str,
    ) -> None:
        """Raise the refusal the kernel's ``outcome`` stands for, saying why."""
        cancel.refuse(self, f"fire {trigger!s}")  # a cancelled run rests where no exit is
        node, values = self._node, self._variables
        if outcome is kernel.Outcome.UNAUTHORISED:
            assert edge is not None
            roles = ", ".join(sorted(node.reviewers))
            if who is None:
                raise Unauthorized(f"{where} needs an actor holding one of the roles: {roles}")
            raise Unauthorized(f"{who.id} holds none of the roles {where} needs: {roles}")
        if outcome is kernel.Outcome.BLOCKED:
            first = node.exits[trigger]
            failed = " / ".join(repr(e.when.text) for e in first.alternatives() if e.when)
            declared = self.spec.data
            shown = "" if declared is None else f" ({_shown(declared.as_json(values))})"
            raise InvalidTransition(
                f"{where} is blocked: its guard {failed} does not hold{shown}; "
                f"allowed: {_allowed(node, values)}"
            )
        due = node.deadline(self._entered)
        if edge is not None and due is not None:  # the timed exit, not due yet
            raise InvalidTransition(
                f"{trigger!s} is timed and not due in {node.state} until {due.isoformat()}; "
                "call expire() once the clock reaches it"
            )
        if self._stale():
            raise ConcurrencyConflict(
                f"{self.spec.machine} instance {self._id!r} changed in the store since it "
                "was loaded (a sweep or another writer moved it): load it again and retry"
            )
        lock = " (locked for review)" if node.approval else ""
        raise InvalidTransition(
            f"{node.state}{lock} has no exit on {trigger!s}; allowed: {_allowed(node, values)}"
        )

    def _unlocked(self, action: str) -> None:
        node = self._node
        if node.approval:
            raise Locked(
                f"cannot {action}: {node.state} is locked for review; "
                f"only its human and timed exits are allowed: {_allowed(node, self._variables)}"
            )
