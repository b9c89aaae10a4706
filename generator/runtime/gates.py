"""Approval gates under a policy: what the runtime records and refuses at them.

What a policy means (a quorum of distinct actors, one reject rejecting, separation from
the requester and earlier approvers, escalation, the digest an approval is bound to) is
the step kernel's (:mod:`.kernel`: :class:`~.kernel.Policy`, :class:`~.kernel.Ledger`,
:func:`~.kernel.vote`). This module reads an instance's :class:`~.kernel.Ledger` from its
audit log (:func:`ledger`, every record folded by :func:`~.kernel.observe`), takes a
human decision at a gate (:func:`take`: an ``approval`` record for a vote counted toward
the quorum, the transition itself once the quorum is met), records the escalation
(``escalation``, stamped at its due time) and the bound digest (``bound``, on entering a
``bind: context`` gate), and answers what a gate waits for (:func:`status`,
:class:`GateStatus`), which a console shows. :mod:`.replay` checks recorded gates with the
same kernel functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import kernel
from .records import (
    Actor,
    AuditRecord,
    Event,
    InvalidTransition,
    JSONValue,
    Refused,
    Unauthorized,
    blank,
    check_decision,
    storable,
)
from .signing import signed_content

if TYPE_CHECKING:
    from .instance import Instance

__all__ = ["Approval", "GateStatus", "StaleDecision", "ledger", "status"]


class StaleDecision(Refused):
    """A decision named a digest other than the one its gate bound: the reviewer saw
    another context than the one waiting now. Nothing changed; read the gate again."""


@dataclass(frozen=True, slots=True)
class Approval:
    """One approval counted at a gate: who, on which trigger, with what decision, when,
    and the record that holds it."""

    actor: str
    trigger: str
    decision: str
    at: datetime
    seq: int


@dataclass(frozen=True, slots=True)
class GateStatus:
    """What an approval gate waits for now (:meth:`Machine.gate_status`).

    ``approvals`` are the votes counted so far (oldest first), ``quorum`` how many
    distinct actors an approve exit needs (1 without a policy), ``missing`` how many
    more; ``reviewers`` the roles that may decide now (widened once escalated);
    ``escalates_at`` when the gate escalates (None: it does not, or it did);
    ``deadline`` when its timeout fires; ``digest`` the digest an approval must name
    (None without ``bind: context``); ``excluded`` the actors the policy refuses as
    approvers (the requester, earlier approvers, and those who approved here already).
    """

    state: str
    entered: datetime
    deadline: datetime | None
    quorum: int
    approvals: tuple[Approval, ...]
    missing: int
    reviewers: frozenset[str]
    escalated: bool
    escalates_at: datetime | None
    digest: str | None
    excluded: frozenset[str]


def _human(node: kernel.Node[Any], trigger: Any) -> bool:
    first = node.exits.get(trigger)
    return first is not None and any(edge.human for edge in first.alternatives())


def ledger(machine: Instance[Any, Any, Any]) -> kernel.Ledger:
    """The instance's ledger: its log folded by :func:`kernel.observe`.

    The ledger is kept with the record it was folded up to (``Instance._ledger``), so a
    decision folds only the records since: a log undone past that record, or whose last
    folded record was replaced (a signature added), is folded again from the start."""
    log = machine._log
    kept = machine._ledger
    book, start = kernel.Ledger(), 0
    if kept is not None:
        length, last, folded = kept
        if length <= len(log) and (length == 0 or log[length - 1] is last):
            book, start = folded, length
    book = ledger_of(machine, log[start:], book)
    machine._ledger = (len(log), log[-1] if log else None, book)
    return book


def ledger_of(
    machine: Instance[Any, Any, Any],
    records: list[AuditRecord[Any, Any, Any]],
    book: kernel.Ledger | None = None,
) -> kernel.Ledger:
    """``book`` (a fresh ledger by default) moved past ``records`` of ``machine``'s
    machine by :func:`kernel.observe`."""
    nodes = machine._compiled.nodes
    initial = machine.spec.initial
    book = kernel.Ledger() if book is None else book
    for record in records:
        source, target = nodes[record.from_state], nodes[record.to_state]
        book = kernel.observe(
            book,
            record.event.value,
            source=source,
            target=target,
            actor=record.actor,
            trigger=record.trigger,
            human=record.trigger is not None and _human(source, record.trigger),
            leaves_initial=record.from_state == initial != record.to_state,
            bound=bound_digest(record.data),
        )
    return book


def bound_digest(data: JSONValue) -> str | None:
    """The digest a ``bound`` record's data holds (None for any other data)."""
    digest = data.get("digest") if isinstance(data, dict) else None
    return digest if isinstance(digest, str) else None


def take(
    machine: Instance[Any, Any, Any],
    trigger: Any,
    who: Actor | None,
    decision: str | None,
    payload: object,
    named: str | None,
    at: datetime,
    where: str,
) -> None:
    """Fire ``trigger`` at the gate the machine rests in, by ``who``, naming the digest
    ``named``: refused, or recorded (an escalation that fell due first, then the vote or
    the transition); the caller undoes what a refusal leaves (``Machine._at_gate``)."""
    node = machine._node
    book = escalate_if_due(machine, at)
    widened = kernel.widened(node, book.gate)
    roles = None if who is None else who.roles
    values = machine._variables
    outcome, edge = kernel.decide(node, trigger, values, roles, machine._entered, at, widened)
    if outcome is kernel.Outcome.UNAUTHORISED:
        allowed = ", ".join(sorted(node.reviewers | widened))
        if who is None:
            raise Unauthorized(f"{where} needs an actor holding one of the roles: {allowed}")
        raise Unauthorized(f"{who.id} holds none of the roles {where} needs: {allowed}")
    if outcome is not kernel.Outcome.ACCEPTED or edge is None:
        machine._refuse(outcome, trigger, edge, who, where)  # type: ignore[attr-defined]
        return
    data = None if payload is None else storable(payload, "payload")
    if not edge.human:
        machine._enter(edge, at, who, decision, data)
        return
    decision = check_decision(decision, where=where)
    assert who is not None
    verdict = kernel.vote(edge, book, who.id, named)
    _refuse(verdict, who.id, book, where)
    first = len(machine._log)  # the decision's own record: signed below
    if verdict is kernel.Verdict.COUNT:
        policy = node.policy
        assert policy is not None
        count = book.gate.count(edge.trigger) + 1
        body: dict[str, JSONValue] = {"approvals": count, "quorum": policy.quorum}
        if book.gate.digest is not None:
            body["digest"] = book.gate.digest
        held = tuple(sorted(who.roles))
        _append(machine, Event.APPROVAL, at, edge.trigger, who.id, decision, body, held)
    else:
        machine._enter(edge, at, who, decision, data)
    sign(machine, first, who)


def _refuse(verdict: kernel.Verdict, actor: str, book: kernel.Ledger, where: str) -> None:
    """Raise the refusal ``verdict`` stands for, saying why; nothing for TAKE and COUNT."""
    if verdict is kernel.Verdict.STALE:
        raise StaleDecision(
            f"{where} names another digest than the context under review "
            f"({book.gate.digest}): the context changed since it was read; read the gate "
            "again and decide on what it holds now"
        )
    if verdict is kernel.Verdict.REQUESTER:
        raise Unauthorized(f"{actor} started this run, and {where} is separate from its requester")
    if verdict is kernel.Verdict.PREVIOUS_APPROVER:
        raise Unauthorized(
            f"{actor} approved earlier in this run, and {where} is separate from previous approvers"
        )
    if verdict is kernel.Verdict.REPEATED:
        raise Unauthorized(
            f"{actor} already approved at this gate; a quorum counts distinct actors"
        )


def sign(machine: Instance[Any, Any, Any], index: int, who: Actor) -> None:
    """Have ``who`` sign log record ``index`` (by position), if the actor signs."""
    signer = who.signer
    if signer is None:
        return
    record = machine._log[index]
    content = signed_content(machine.spec.machine, machine._id, record.as_json())
    signature = signer(content)
    if not isinstance(signature, str) or not signature:
        raise TypeError(
            f"the signer of {who.id} returned {signature!r}; a signer returns the signature "
            "as non-empty text"
        )
    machine._log[index] = record._replace(signature=signature)


def _append(
    machine: Instance[Any, Any, Any],
    event: Event,
    at: datetime,
    trigger: Any,
    actor: str | None,
    decision: str | None,
    data: dict[str, JSONValue],
    roles: tuple[str, ...] | None = None,
) -> None:
    """Append a gate's own record (the machine stays); ``roles``: the voter's, on a vote."""
    state = machine._node.state
    log = machine._log
    log.append(
        AuditRecord(
            len(log) + 1,
            at,
            state,
            state,
            trigger,
            actor,
            decision,
            machine._reason,
            event=event,
            data=data,
            roles=roles,
        )
    )


def escalate_if_due(machine: Instance[Any, Any, Any], at: datetime) -> kernel.Ledger:
    """Record the gate's escalation, stamped at its due time, if it is due at ``at`` and
    not recorded; the ledger after it."""
    node = machine._node
    book = ledger(machine)
    due = kernel.escalation_due(node, book.gate, machine._entered)
    if due is None or at < due:
        return book
    assert node.policy is not None
    roles: list[JSONValue] = list(sorted(node.policy.escalate_to))
    _append(machine, Event.ESCALATION, due, None, None, None, {"roles": roles})
    return kernel.observe(book, kernel.ESCALATION_EVENT)


def bind(machine: Instance[Any, Any, Any], at: datetime) -> None:
    """On entering a ``bind: context`` gate, record the digest of the context."""
    policy = machine._node.policy
    if policy is not None and policy.bind:
        digest = kernel.digest(machine._context())
        _append(machine, Event.BOUND, at, None, None, None, {"digest": digest})


def status(machine: Instance[Any, Any, Any], at: datetime) -> GateStatus | None:
    """What the gate the machine rests in waits for at ``at``; None outside an approval
    state. An escalation due by ``at`` counts as done (it is recorded with the next
    change)."""
    node = machine._node
    if not node.approval:
        return None
    book = ledger(machine)
    due = kernel.escalation_due(node, book.gate, machine._entered)
    if due is not None and at >= due:
        book = kernel.observe(book, kernel.ESCALATION_EVENT)
        due = None
    policy = node.policy or kernel.Policy()
    approvals = tuple(
        Approval(str(r.actor), str(r.trigger), str(r.decision), r.at, r.seq)
        for r in machine._log
        if r.event is Event.APPROVAL and r.seq > _entry(machine)
    )
    excluded = {v.actor for v in book.gate.votes}
    if kernel.REQUESTER in policy.separate_from and book.requester is not None:
        excluded.add(book.requester)
    if kernel.PREVIOUS_APPROVERS in policy.separate_from:
        excluded |= book.approvers
    counted = max((book.gate.count(t) for t in node.exits), default=0)
    return GateStatus(
        state=str(node.state),
        entered=machine._entered,
        deadline=node.deadline(machine._entered),
        quorum=policy.quorum,
        approvals=approvals,
        missing=max(policy.quorum - counted, 0),
        reviewers=node.reviewers | kernel.widened(node, book.gate),
        escalated=book.gate.escalated,
        escalates_at=due,
        digest=book.gate.digest,
        excluded=frozenset(excluded),
    )


def _entry(machine: Instance[Any, Any, Any]) -> int:
    """The seq of the record that entered the current state (the last one that is not a
    gate's own: an approval, an escalation, a bound digest)."""
    for record in reversed(machine._log):
        if not is_own(record):
            seq: int = record.seq
            return seq
    return 0


# -- checking a recorded gate (replay) ---------------------------------------------------

_OWN = (Event.APPROVAL, Event.ESCALATION, Event.BOUND)
"""The records a gate keeps of its own while the machine stays in it."""


def is_own(record: AuditRecord[Any, Any, Any]) -> bool:
    """Whether ``record`` is one a gate keeps of its own (an approval, an escalation, a
    bound digest)."""
    return record.event in _OWN


def check_record(
    machine: Instance[Any, Any, Any], record: AuditRecord[Any, Any, Any], where: str
) -> None:
    """Raise ``InvalidTransition`` unless the policy of the gate the machine rests in
    allows ``record`` next: a gate's own record, or a decision out of it."""
    node = machine._node
    policy = node.policy
    if policy is None:
        if is_own(record):
            raise InvalidTransition(f"{where}: a {record.event} record outside a policy's gate")
        return
    book = ledger(machine)  # read from the log only at a gate with a policy
    bound = book.gate.digest is not None or not policy.bind
    if record.event is Event.BOUND:
        _check_bound(machine, record, where, bound)
        return
    if not bound:
        raise InvalidTransition(f"{where}: {node.state} binds the context; its digest comes first")
    if record.event is Event.ESCALATION:
        _check_escalation(machine, record, book, where)
        return
    due = kernel.escalation_due(node, book.gate, machine._entered)
    if due is not None and record.at >= due:
        raise InvalidTransition(f"{where}: {node.state} escalated at {due.isoformat()} first")
    if record.trigger is None or not _human(node, record.trigger) or record.actor is None:
        if record.event is Event.APPROVAL:
            raise InvalidTransition(f"{where}: an approval names a human exit and an actor")
        return  # the timeout, or what the step checks refuse
    edge = kernel.choose(node.exits.get(record.trigger), machine._variables)
    assert edge is not None
    named = bound_digest(record.data) if record.event is Event.APPROVAL else None
    verdict = kernel.vote(edge, book, record.actor, named)
    wanted = kernel.Verdict.COUNT if record.event is Event.APPROVAL else kernel.Verdict.TAKE
    if verdict is not wanted:
        raise InvalidTransition(
            f"{where}: {record.actor}'s {record.trigger} at {node.state} is "
            f"{verdict.value} under its policy, not {wanted.value}"
        )
    if record.event is Event.APPROVAL:
        body: dict[str, JSONValue] = {
            "approvals": book.gate.count(edge.trigger) + 1,
            "quorum": policy.quorum,
        }
        if book.gate.digest is not None:
            body["digest"] = book.gate.digest
        _same(record, body, where)


def _check_bound(
    machine: Instance[Any, Any, Any],
    record: AuditRecord[Any, Any, Any],
    where: str,
    bound: bool,
) -> None:
    policy = machine._node.policy
    if policy is None or not policy.bind or bound:
        raise InvalidTransition(f"{where}: a digest is bound once, on entering a binding gate")
    if record.at != machine._entered:
        raise InvalidTransition(f"{where}: the digest is bound when the gate is entered")
    _same(record, {"digest": kernel.digest(machine._context())}, where)


def _check_escalation(
    machine: Instance[Any, Any, Any],
    record: AuditRecord[Any, Any, Any],
    book: kernel.Ledger,
    where: str,
) -> None:
    node = machine._node
    due = kernel.escalation_due(node, book.gate, machine._entered)
    if due is None or record.at != due:
        raise InvalidTransition(
            f"{where}: {node.state} escalates once, at {'no time' if due is None else due}"
        )
    assert node.policy is not None
    _same(record, {"roles": list(sorted(node.policy.escalate_to))}, where)


def _same(record: AuditRecord[Any, Any, Any], body: dict[str, JSONValue], where: str) -> None:
    """Refuse ``record`` unless it holds exactly ``body`` (and nothing a gate's record
    does not keep)."""
    if record.data != body:
        raise InvalidTransition(
            f"{where}: the {record.event} record holds {body}, not {record.data}"
        )
    if record.event is not Event.APPROVAL and (record.actor or record.decision or record.trigger):
        raise InvalidTransition(f"{where}: a {record.event} record names no actor or trigger")
    if record.event is Event.APPROVAL and blank(record.decision or ""):
        raise InvalidTransition(f"{where}: an approval needs a decision")
    if record.from_state != record.to_state or record.variables or record.rollback_to:
        raise InvalidTransition(f"{where}: a {record.event} record stays in its gate")
