"""One instance of a machine: its state, variables, context and audit log, and the steps
that change them.

:class:`Instance` is the part of :class:`~.engine.Machine` that holds what an instance is
and records what happens to it: :meth:`Instance._enter` takes a transition the step kernel
(:mod:`.kernel`) chose, with the ``always`` steps that follow, as records of the log, a
failure snapshot on entering a failed state, and the variables each step leaves;
context changes and rollbacks are records too. The engine decides what may happen (the
public calls, refusals, durability); nothing here refuses a step but an effect that leaves
a variable's bounds or an ``always`` chain that never settles.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeVar

from . import gates, kernel
from .data import OutOfBounds
from .history import ContextHistory
from .machinespec import Compiled, Edge, MachineSpec, Node
from .records import (
    MAX_JSON_BYTES,
    Actor,
    AuditRecord,
    Clock,
    Event,
    FailureSnapshot,
    InvalidTransition,
    JSONValue,
    RollbackLimit,
    check_clock,
    json_copy,
    storable_mapping,
    utc_now,
)
from .store import Store

__all__ = ["Instance"]

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)
_V = TypeVar("_V")

_NEVER = datetime.min


class Instance(Generic[S, T, R]):
    """What an instance of a machine is, and the records that change it (see the module
    documentation); :class:`~.engine.Machine` is the class to use."""

    __slots__ = (
        "_clock",
        "_entered",
        "_failures",
        "_history",
        "_id",
        "_ledger",
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

    _compiled: ClassVar[Compiled]
    _clock: Clock
    _node: Node
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
    _ledger: Any
    """What the approval policies read, as of a point of the log (:func:`.gates.ledger`
    keeps it, so that each decision folds only the records since)."""

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
        self._ledger = None

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
        return json_copy(self._context())

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
        return self._node.deadline(self._entered)

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

    def _enter(
        self,
        edge: Edge,
        at: datetime,
        actor: Actor | None,
        decision: str | None,
        payload: JSONValue,
    ) -> None:
        """Take ``edge`` and the ``always`` steps that follow it, all at ``at``; refused
        with nothing changed when an effect leaves a bound or the chain never settles."""
        first = self._effect(edge, self._variables)
        try:
            chain = [(edge, first), *kernel.settle(edge.target, first, self._effect)]
        except kernel.AlwaysCycle as error:
            raise InvalidTransition(f"{error}; nothing changed") from error
        actor_id = None if actor is None else actor.id
        roles = None if actor is None or not edge.human else tuple(sorted(actor.roles))
        for step, values in chain:
            self._step(step, values, at, actor_id, decision, payload, roles)
            actor_id = decision = roles = None
        if self._node.policy is not None:
            gates.bind(self, at)

    def _effect(self, edge: Edge, values: Any) -> Any:
        """The variables after ``edge``'s effect (the kernel's), checked against their
        declaration: ``InvalidTransition`` when a value leaves its bounds."""
        declared, effect = self.spec.data, edge.effect
        if declared is None or effect is None:
            return values
        where = f"{edge.trigger!s} from {edge.source.state} ({effect.text})"
        try:
            return declared.check(kernel.effect(edge, values), where)
        except OutOfBounds as error:
            raise InvalidTransition(f"{error}; nothing changed") from error

    def _step(
        self,
        edge: Edge,
        values: Any,
        at: datetime,
        actor_id: str | None,
        decision: str | None,
        payload: JSONValue,
        roles: tuple[str, ...] | None = None,
    ) -> None:
        """Record ``edge``, taken at ``at``, leaving the variables ``values`` (``roles``:
        those of the actor of a human step)."""
        target = edge.target
        reason = edge.reason
        if reason is None and edge.source.failed and target.failed:
            reason = self._reason
        data = payload if target.failed else None
        declared = self.spec.data
        changed = None
        if declared is not None and edge.effect is not None:
            changed = declared.changed(self._variables, values)
            self._variables = values
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
                roles=roles,
            )
        )
        if changed is not None:
            self._values.append((len(log), values))
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
                    payload=json_copy(data),
                    context=json_copy(self._context()),
                    variables=self._variables,
                )
            )

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
        since = next((r.seq for r in reversed(self._log) if r.event is Event.MIGRATED), 1)
        if seq < since:
            raise ValueError(
                f"record {seq} was written under an earlier version of the spec (record "
                f"{since} migrated the instance): roll back to record {since} or later"
            )
        record = self._log[seq - 1]
        index = bisect.bisect_right(self._values, seq, key=lambda version: version[0])
        values = self._values[index - 1][1]
        if kernel.choose(self._compiled.nodes[record.to_state].automatic, values) is not None:
            raise ValueError(
                f"record {seq} left the machine in {record.to_state}, which it leaves "
                f"automatically; roll back to record {seq + 1} instead"
            )
        return record.to_state, record.reason, values

    def _rollbacks(self) -> int:
        """How many rollbacks the run has taken."""
        return sum(1 for record in self._log if record.event is Event.ROLLBACK)

    def _check_rollback_limit(self) -> None:
        """``RollbackLimit`` when the run has taken the most rollbacks its spec allows."""
        most = self.spec.rollback_max
        if most is not None and self._rollbacks() >= most:
            raise RollbackLimit(
                f"{self.spec.machine} allows {most} rollback{'s' if most != 1 else ''} per "
                f"run (rollback: {{max: {most}}}) and this run has taken them all"
            )

    def _kept(self, values: Any) -> tuple[Any, dict[str, JSONValue] | None]:
        """``values``, restored by a rollback, with the variables the spec's
        ``rollback: {keep: [...]}`` names carried over from the current ones; and those
        kept, as JSON (None when the spec keeps none)."""
        keep, declared = self.spec.rollback_keep, self.spec.data
        if not keep or declared is None:
            return values, None
        carried = {name: getattr(self._variables, name) for name in keep}
        current = declared.as_json(self._variables)
        return dataclasses.replace(values, **carried), {"kept": {n: current[n] for n in keep}}

    def _restore(
        self,
        state: S,
        reason: R | None,
        values: Any,
        at: datetime,
        actor_id: str | None,
        decision: str | None,
        seq: int,
        roles: tuple[str, ...] | None = None,
        kept: dict[str, JSONValue] | None = None,
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
                kept,
                variables=None if declared is None else declared.as_json(values),
                roles=roles,
            )
        )
        self._node = self._compiled.nodes[state]
        self._entered = at
        self._reason = reason
        self._contexts().restore(len(log), seq)
        self._variables = values
        self._values.append((len(log), values))
