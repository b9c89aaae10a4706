"""Cancelling a run: an operator closes it, with a record of its own, for good.

A ``cancelled`` record (:attr:`~.records.Event.CANCELLED`) names the operator who
cancelled the run (``actor``, with the ``roles`` they held) and why (``decision``); it
stays in the state the run rested in (keeping its failure reason) and is the run's last
record: the machine refuses every later change with :class:`~.records.Cancelled`
(``fire``, ``expire``, ``update_context``, ``rollback``, a migration), a cancelled run
has no deadline (no sweep fires its timed exit) and its replay refuses any record after
it. Timed exits (and an escalation) already due are taken first, stamped at their due
times, as any late action takes them, so the log never shows a deadline passed unfired.

Who may cancel: whoever may write the store. Cancelling is an operator's action on the
run, outside the spec's graph (as ``runs release`` and ``runs archive`` are, and as
Temporal's, DBOS's and Step Functions' cancellations are a permission on the execution,
not a step of the workflow): the spec's reviewer roles govern its decisions, not whether
an operator may stop it. The record keeps who did it and why, so the chain holds them to
it; refuse it by not granting write access to the store.

In a SQL store (:class:`~.sqlstore.SqlStore`) the cancellation also settles the
instance's outbox entry in the same transaction: its cursor moves past every record, its
lease is revoked and any quarantine or retry wait cleared, so nothing is delivered or
retried for it again. A worker running a handler for it sees the revoked lease at its
next heartbeat (:meth:`~.worker.Worker` looks at it while a handler runs): an ``async``
handler's task is cancelled, a plain handler's thread (which cannot be killed) is left to
finish and what it returns is discarded; either way the worker commits nothing for it
(its lease is gone, its version stale, and the machine closed).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import gates
from .kernel import Node
from .outbox import Outbox, forget_results
from .records import (
    Actor,
    AuditRecord,
    Cancelled,
    Event,
    InvalidTransition,
    Unauthorized,
    blank,
    check_actor,
    check_decision,
)
from .sqlstore import SqlStore

if TYPE_CHECKING:
    from .engine import Machine

__all__ = ["cancel", "check_record", "closed", "refuse"]

_CANCELLED = Event.CANCELLED


def closed(machine: Machine[Any, Any, Any]) -> AuditRecord[Any, Any, Any] | None:
    """The record that cancelled ``machine``'s run, or None while it is open."""
    log = machine._log
    return log[-1] if log and log[-1].event is _CANCELLED else None


def refuse(machine: Machine[Any, Any, Any], action: str) -> None:
    """Raise :class:`~.records.Cancelled` for ``action`` if the run was cancelled."""
    record = closed(machine)
    if record is None:
        return
    who = "" if machine.instance_id is None else f" instance {machine.instance_id!r}"
    raise Cancelled(
        f"cannot {action}: {machine.spec.machine}{who} was cancelled by {record.actor} at "
        f"{record.at.isoformat()} (record {record.seq}: {record.decision}); a cancelled run "
        "is closed"
    )


def cancel(
    machine: Machine[Any, Any, Any], actor: Actor, reason: str
) -> AuditRecord[Any, Any, Any]:
    """Cancel ``machine``'s run (see the module documentation); its ``cancelled`` record.

    ``Unauthorized`` without an actor or a reason, :class:`~.records.Cancelled` if it was
    cancelled already, ``InvalidTransition`` if it has finished (it rests in a state
    with no exit that is not a failed one)."""
    who = check_actor(actor, required=True, where="cancel()")
    assert who is not None
    if not isinstance(reason, str) or blank(reason):
        raise Unauthorized(
            f"cancel() needs a reason, the text the record keeps of why, not {reason!r}"
        )
    note = check_decision(reason, where="cancel()")  # its size
    refuse(machine, "cancel")
    node = machine._node
    if not node.exits and node.automatic is None and not node.failed:
        raise InvalidTransition(
            f"cannot cancel: the run has finished in {node.state}, which has no exit"
        )
    at = machine._clock()
    store = machine._store
    if not isinstance(store, SqlStore):
        _close(machine, at, who, note)
        return machine._log[-1]
    outbox = Outbox(store)
    marks = len(machine._log), machine._revision
    undo = machine._checkpoint()
    try:
        with store.batch():  # one transaction: the records and the settled outbox entry
            _close(machine, at, who, note)
            outbox.settle(machine.spec.machine, str(machine._id), len(machine._log))
            forget_results(store, machine.spec.machine, str(machine._id))
    except BaseException:
        if len(machine._log) > marks[0]:  # the writes in the batch were rolled back
            undo()
            machine._revision = marks[1]
        raise
    return machine._log[-1]


def _close(machine: Machine[Any, Any, Any], at: datetime, who: Actor, note: str) -> None:
    """Take what is overdue at ``at`` (a timed exit, an escalation), then append the
    ``cancelled`` record, each durably."""
    at = machine._overdue(None)[1] or at
    if machine._node.policy is not None and machine._escalation_due(at):
        machine._durably(gates.escalate_if_due, machine, at)
    machine._durably(_append, machine, at, who, note)


def _append(machine: Machine[Any, Any, Any], at: datetime, who: Actor, note: str) -> None:
    log = machine._log
    record: AuditRecord[Any, Any, Any] = AuditRecord.cancelled(
        len(log) + 1,
        at=at,
        state=machine._node.state,
        actor=who.id,
        decision=note,
        reason=machine._reason,
        roles=tuple(sorted(who.roles)),
    )
    log.append(record)
    gates.sign(machine, len(log) - 1, who)  # an operator's record, signed as a decision is
    machine._node = closed_node(machine._node)


def closed_node(node: Node[Any]) -> Node[Any]:
    """``node`` as a cancelled run rests in it: its state (failed or not), with no exit,
    no timer and no gate, so that every trigger is refused (:meth:`Machine._refuse
    <.engine.Machine._refuse>` says it was cancelled), nothing is allowed and no
    deadline comes, at no cost to a step of an open run."""
    return Node(node.state, failed=node.failed)


def check_record(machine: Machine[Any, Any, Any], record: AuditRecord[Any, Any, Any]) -> None:
    """Replay: raise ``InvalidTransition`` unless ``record`` may come next as far as
    cancellation goes: nothing follows a ``cancelled`` record, and one stays in the
    state the run rests in, keeping its reason, naming an actor and why."""
    where = f"record {record.seq}"
    done = closed(machine)
    if done is not None:
        raise InvalidTransition(
            f"{where}: the run was cancelled by record {done.seq}; no record follows it"
        )
    if record.event is not _CANCELLED:
        return
    if record.from_state != machine._node.state or record.to_state != record.from_state:
        raise InvalidTransition(f"{where}: a cancellation stays in {machine.state}")
    if blank(record.actor or "") or blank(record.decision or ""):
        raise InvalidTransition(f"{where}: a cancellation names its actor and why")
    if (record.trigger, record.rollback_to, record.data, record.variables) != (
        None,
        None,
        None,
        None,
    ):
        raise InvalidTransition(f"{where}: a cancellation records an actor and why only")
    if record.reason != machine._reason:
        raise InvalidTransition(
            f"{where}: a cancellation keeps the reason {machine._reason}, not {record.reason}"
        )
