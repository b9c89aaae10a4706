"""Rebuilding an instance from its audit log, checking every record against the spec.

:meth:`Machine.replay <.engine.Machine.replay>` (and with it ``Machine.load``) hands each
record to :func:`rebuild`: it is checked (:func:`check`) against the machine as the records
before it left it, which transition it says was taken chosen by the step kernel
(:mod:`.kernel`) as a live call would choose it, then applied (:func:`apply`). A record
the spec does not allow raises ``InvalidTransition`` naming it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from . import cancel, gates, kernel, versions
from .data import OutOfBounds
from .records import (
    MAX_JSON_BYTES,
    AuditRecord,
    Event,
    InvalidTransition,
    JSONValue,
    blank,
    json_size,
)

if TYPE_CHECKING:
    from .engine import Machine
    from .machinespec import Edge, MachineSpec

__all__ = ["apply", "check", "landing", "migration_for", "moved", "rebuild"]

_Record = AuditRecord[Any, Any, Any]
_MIGRATED = Event.MIGRATED


def rebuild(machine: Machine[Any, Any, Any], records: Iterable[_Record]) -> None:
    """Check and apply ``records`` in order to a freshly reset ``machine``.

    Records before the last ``migrated`` one ran under an earlier version of the spec:
    they are taken as the store's chain gives them (:func:`_earlier`), and the migrated
    record is checked to be what the declared migration makes of them."""
    records = list(records)
    cut = next((i for i in range(len(records) - 1, -1, -1) if records[i].event is _MIGRATED), -1)
    for record in records[: max(cut, 0)]:
        _earlier(machine, record)
    for record in records[max(cut, 0) :]:
        check(machine, record)
        apply(machine, record)
    if not machine._log:
        raise InvalidTransition("an empty log: every log starts with its created record")
    if _automatic(machine) is not None:
        raise InvalidTransition(
            f"the log ends in {machine.state}, which the machine leaves automatically"
        )


def moved(machine: Machine[Any, Any, Any], records: Sequence[_Record]) -> None:
    """Rebuild ``machine`` from ``records``, the last of them a ``migrated`` record just
    made, and take the ``always`` steps its new state takes at once (at its time)."""
    *earlier, record = records
    for each in earlier:
        _earlier(machine, each)
    check(machine, record)
    apply(machine, record)
    automatic = _automatic(machine)
    if automatic is not None:
        machine._enter(automatic, record.at, None, None, None)


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
    cancel.check_record(machine, record)  # nothing follows a cancellation
    if record.event is _MIGRATED:
        _check_migrated(machine, record, where)
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
    if record.event is Event.CANCELLED:
        return  # cancel.check_record checked it
    if record.event is not Event.ROLLBACK:
        gates.check_record(machine, record, where)  # a gate's own record, or its policy
    if record.event is Event.APPROVAL:  # a vote: its actor's roles, as a human step's
        node = machine._node
        _check_roles(
            record, node.reviewers | kernel.widened(node, gates.ledger(machine).gate), where
        )
    elif gates.is_own(record) and record.roles is not None:
        raise InvalidTransition(f"{where}: only a human step or a rollback records roles")
    if gates.is_own(record):
        return
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
    needed = None
    if edge.human:  # the gate's reviewers, widened once its escalation is recorded
        needed = edge.source.reviewers
        if edge.source.policy is not None:
            needed = needed | kernel.widened(edge.source, gates.ledger(machine).gate)
    _check_roles(record, needed, where)
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
    _check_roles(record, machine.spec.rollback or frozenset(), where)
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


def _check_roles(record: _Record, needed: frozenset[str] | None, where: str) -> None:
    """The roles ``record`` says its actor held (records written before roles were kept
    say none) must include one of ``needed``; a step that needs none records none."""
    held = record.roles
    if held is None:
        return
    if needed is None:
        raise InvalidTransition(f"{where}: only a human step or a rollback records roles")
    if needed.isdisjoint(held):
        raise InvalidTransition(
            f"{where}: {record.actor} held {', '.join(held) or 'no role'}, none of the roles "
            f"it needs: {', '.join(sorted(needed))}"
        )


def landing(spec: MachineSpec[Any, Any, Any]) -> versions.NewVersion:
    """What a migration needs to know of ``spec``, the version runs move to."""
    declared = spec.data

    def values(found: dict[str, JSONValue]) -> None:
        if declared is not None:
            declared.from_json(found, "the variables")
        elif found:
            raise ValueError(f"{spec.machine} has no variables")

    return versions.NewVersion(
        spec.sha256 or "",
        frozenset(s.value for s in spec.states),
        frozenset(s.value for s in spec.failed),
        frozenset(r.value for r in spec.reasons),
        values,
    )


def migration_for(spec: MachineSpec[Any, Any, Any], sha256: str) -> versions.MigrationSpec | None:
    """The migration ``spec`` declares for runs of the version ``sha256``, or None."""
    return next((m for m in spec.migrations if m.matches(sha256)), None)


def _earlier(machine: Machine[Any, Any, Any], record: _Record) -> None:
    """Take a record written under an earlier version of the spec: kept in the log, its
    context kept (the context is the spec's no more than the chain is)."""
    log = machine._log
    seq = len(log) + 1
    if record.seq != seq or (record.event is Event.CREATED) != (seq == 1):
        raise InvalidTransition(f"record {record.seq}: expected record {seq}")
    log.append(record)
    if record.event is Event.CONTEXT and isinstance(record.data, dict):
        machine._contexts().merge(seq, record.data)
    elif record.event is Event.ROLLBACK and record.rollback_to is not None:
        machine._contexts().restore(seq, record.rollback_to)
    elif record.event is Event.CREATED and not isinstance(record.data, dict):
        raise InvalidTransition(f"record {seq}: the created record's data is the context")


def _check_migrated(machine: Machine[Any, Any, Any], record: _Record, where: str) -> None:
    spec = machine.spec
    if not isinstance(record.to_state, spec.states):
        raise InvalidTransition(f"{where}: migrates to {record.to_state}, not a state of the spec")
    data = record.data if isinstance(record.data, dict) else {}
    old, to = data.get("from_spec"), data.get("to_spec")
    if not isinstance(old, str) or (spec.sha256 is not None and to != spec.sha256):
        raise InvalidTransition(
            f"{where}: migrates to spec {str(to)[:12]}, not this version {spec.sha256}"
        )
    migration = migration_for(spec, old)
    if migration is None:
        raise InvalidTransition(f"{where}: this spec declares no migration from {old[:12]}")
    earlier = [r.as_json() for r in machine._log]
    try:
        made = versions.migrated_body(where, earlier, old, migration, landing(spec), "")
    except (versions.BadMigration, ValueError) as error:
        raise InvalidTransition(str(error)) from error
    found = record.as_json()
    for key in ("from_state", "to_state", "reason", "data", "variables", "trigger", "actor"):
        if found.get(key) != made.get(key):
            raise InvalidTransition(
                f"{where}: its {key} is {found.get(key)!r}; the migration from "
                f"{migration.source} gives {made.get(key)!r}"
            )


def _apply_migrated(machine: Machine[Any, Any, Any], record: _Record) -> None:
    machine._log.append(record)
    machine._node = machine._compiled.nodes[record.to_state]
    machine._reason = record.reason
    declared = machine.spec.data
    if declared is not None:
        machine._variables = declared.from_json(record.variables, f"record {record.seq}")
        machine._values.append((record.seq, machine._variables))
    machine._entered = record.at


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
    elif record.event is _MIGRATED:
        _apply_migrated(machine, record)
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
            record.roles,
            kept,
        )
    elif record.event is Event.CONTEXT:
        assert isinstance(record.data, dict)
        machine._merge_context(record.data, record.actor, record.at)
    elif record.event is Event.CANCELLED:
        machine._log.append(record)
        machine._node = cancel.closed_node(machine._node)
    elif gates.is_own(record):
        machine._log.append(record)
    else:
        edge = _edge_for(machine, record)
        assert edge is not None
        values = machine._effect(edge, machine._variables)
        machine._step(
            edge, values, record.at, record.actor, record.decision, record.data, record.roles
        )
    if record.signature is not None:  # a decision's or a rollback's signature, as recorded
        log, index = machine._log, record.seq - 1
        log[index] = log[index]._replace(signature=record.signature)
