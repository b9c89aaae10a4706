"""Rebuilding an instance from its audit log, checking every record against the spec.

:meth:`Machine.replay <.engine.Machine.replay>` (and with it ``Machine.load``) hands each
record to :func:`rebuild`: it is checked (:func:`check`) against the machine as the records
before it left it, which transition it says was taken chosen by the step kernel
(:mod:`.kernel`) as a live call would choose it, then applied (:func:`apply`). A record
the spec does not allow raises ``InvalidTransition`` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import kernel
from .data import OutOfBounds
from .records import MAX_JSON_BYTES, AuditRecord, Event, InvalidTransition, blank, json_size

if TYPE_CHECKING:
    from .engine import Machine
    from .machinespec import Edge

__all__ = ["apply", "check", "rebuild"]

_Record = AuditRecord[Any, Any, Any]


def rebuild(machine: Machine[Any, Any, Any], records: Iterable[_Record]) -> None:
    """Check and apply ``records`` in order to a freshly reset ``machine``."""
    for record in records:
        check(machine, record)
        apply(machine, record)
    if not machine._log:
        raise InvalidTransition("an empty log: every log starts with its created record")
    if _automatic(machine) is not None:
        raise InvalidTransition(
            f"the log ends in {machine.state}, which the machine leaves automatically"
        )


def _automatic(machine: Machine[Any, Any, Any]) -> Edge | None:
    """The ``always`` exit the machine's state takes at once with its variables, or None."""
    return kernel.choose(machine._node.automatic, machine._variables)


def check(machine: Machine[Any, Any, Any], record: _Record) -> None:
    """Raise ``InvalidTransition`` unless the spec allows ``record`` next."""
    where = f"record {record.seq}"
    log = machine._log
    if record.seq != len(log) + 1:
        raise InvalidTransition(f"{where}: expected record {len(log) + 1}")
    if record.data is not None:
        try:
            json_size(record.data, f"{where}: its data")
        except TypeError as error:
            raise InvalidTransition(str(error)) from error
    if record.event is Event.CREATED or not log:
        _check_created(machine, record, where)
        return
    if record.from_state != machine._node.state:
        raise InvalidTransition(
            f"{where}: leaves {record.from_state} but the machine is in {machine.state}"
        )
    automatic = _automatic(machine)
    if automatic is not None and (
        record.event is not Event.TRANSITION or record.trigger != automatic.trigger
    ):
        raise InvalidTransition(
            f"{where}: {machine.state} is left automatically at once, not by this record"
        )
    if record.event is Event.ROLLBACK:
        _check_rollback(machine, record, where)
    elif record.event is Event.CONTEXT:
        _check_context(machine, record, where)
    else:
        _check_transition(machine, record, where)


def _check_created(machine: Machine[Any, Any, Any], record: _Record, where: str) -> None:
    spec = machine.spec
    initial = spec.initial
    if machine._log or record.event is not Event.CREATED:
        raise InvalidTransition(f"{where}: only the first record is, and must be, created")
    if (record.from_state, record.to_state) != (initial, initial) or record.trigger:
        raise InvalidTransition(f"{where}: an instance is created in {initial}")
    if not isinstance(record.data, dict):
        raise InvalidTransition(f"{where}: the created record's data is the context")
    declared = spec.data
    values = None if declared is None else declared.as_json(declared.initial())
    if record.variables != values:
        raise InvalidTransition(
            f"{where}: an instance is created with the variables {values}, not {record.variables}"
        )


def _edge_for(machine: Machine[Any, Any, Any], record: _Record) -> Edge | None:
    """The transition ``record`` says was taken, as the kernel chooses it now."""
    automatic = _automatic(machine)
    if automatic is not None:
        return automatic if record.trigger == automatic.trigger else None
    first = None if record.trigger is None else machine._node.exits.get(record.trigger)
    return kernel.choose(first, machine._variables)


def _check_transition(machine: Machine[Any, Any, Any], record: _Record, where: str) -> None:
    edge = _edge_for(machine, record)
    if edge is None or edge.target.state != record.to_state:
        raise InvalidTransition(
            f"{where}: {record.from_state} --{record.trigger!s}--> {record.to_state} "
            "is not a transition of the spec"
        )
    if record.rollback_to is not None:
        raise InvalidTransition(f"{where}: a transition record has no rollback_to")
    if edge.human and (blank(record.actor or "") or blank(record.decision or "")):
        raise InvalidTransition(f"{where}: a human transition needs an actor and a decision")
    if not kernel.due(edge, machine._entered, record.at):
        raise InvalidTransition(f"{where}: {record.trigger!s} fired before it was due")
    if edge is _automatic(machine) and record.at != machine._entered:
        raise InvalidTransition(f"{where}: an automatic exit is taken at once")
    reason = edge.reason
    if reason is None and edge.source.failed and edge.target.failed:
        reason = machine._reason
    if record.reason != reason:
        raise InvalidTransition(f"{where}: the reason should be {reason}, not {record.reason}")
    if record.data is not None and not edge.target.failed:
        raise InvalidTransition(f"{where}: only an entry into a failed state keeps data")
    declared, changed = machine.spec.data, None
    if declared is not None and edge.effect is not None:
        try:
            after = declared.check(kernel.effect(edge, machine._variables), where)
        except OutOfBounds as error:
            raise InvalidTransition(str(error)) from error
        changed = declared.changed(machine._variables, after)
    if record.variables != changed:
        raise InvalidTransition(
            f"{where}: the step changes the variables {changed}, not {record.variables}"
        )


def _check_rollback(machine: Machine[Any, Any, Any], record: _Record, where: str) -> None:
    if machine._node.approval:
        raise InvalidTransition(f"{where}: a rollback out of {machine.state}, which is locked")
    if record.rollback_to is None or record.trigger is not None:
        raise InvalidTransition(f"{where}: a rollback names the record it returns to")
    if blank(record.actor or "") or blank(record.decision or ""):
        raise InvalidTransition(f"{where}: a rollback needs an actor and a decision")
    most = machine.spec.rollback_max
    if most is not None and machine._rollbacks() >= most:
        raise InvalidTransition(f"{where}: a rollback beyond the {most} the spec allows a run")
    try:
        state, reason, values = machine._after(record.rollback_to)
    except ValueError as error:
        raise InvalidTransition(f"{where}: {error}") from error
    values, kept = machine._kept(values)
    if record.data != kept:
        raise InvalidTransition(f"{where}: the rollback kept {kept}, not {record.data}")
    if (state, reason) != (record.to_state, record.reason):
        raise InvalidTransition(
            f"{where}: record {record.rollback_to} left the machine in {state} "
            f"(reason {reason}), not {record.to_state} (reason {record.reason})"
        )
    declared = machine.spec.data
    restored = None if declared is None else declared.as_json(values)
    if record.variables != restored:
        raise InvalidTransition(
            f"{where}: record {record.rollback_to} left the variables {restored}, "
            f"not {record.variables}"
        )


def _check_context(machine: Machine[Any, Any, Any], record: _Record, where: str) -> None:
    if machine._node.approval:
        raise InvalidTransition(f"{where}: a context change in {machine.state}, which is locked")
    if record.to_state != machine._node.state or record.trigger is not None:
        raise InvalidTransition(f"{where}: a context change stays in {machine.state}")
    if not isinstance(record.data, dict):
        raise InvalidTransition(f"{where}: a context change's data is the values merged")
    size = machine._contexts().size_with(record.data)
    if size > MAX_JSON_BYTES:
        raise InvalidTransition(
            f"{where}: the context would be {size:,} bytes as JSON; the limit is "
            f"{MAX_JSON_BYTES:,} (MAX_JSON_BYTES)"
        )
    if (record.decision, record.rollback_to, record.reason, record.variables) != (
        None,
        None,
        machine._reason,
        None,
    ):
        raise InvalidTransition(f"{where}: a context change records data and an actor only")


def apply(machine: Machine[Any, Any, Any], record: _Record) -> None:
    """Apply a record :func:`check` accepted."""
    if record.event is Event.CREATED:
        machine._log.append(record)
        machine._entered = record.at
    elif record.event is Event.ROLLBACK:
        assert record.rollback_to is not None
        _, _, values = machine._after(record.rollback_to)
        values, kept = machine._kept(values)
        machine._restore(
            record.to_state,
            record.reason,
            values,
            record.at,
            record.actor,
            record.decision,
            record.rollback_to,
            kept,
        )
    elif record.event is Event.CONTEXT:
        assert isinstance(record.data, dict)
        machine._merge_context(record.data, record.actor, record.at)
    else:
        edge = _edge_for(machine, record)
        assert edge is not None
        values = machine._effect(edge, machine._variables)
        machine._step(edge, values, record.at, record.actor, record.decision, record.data)
