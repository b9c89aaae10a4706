"""Approval gates of a recorded run, held against their policies.

:class:`GateChecker` follows one run beside :class:`~statewright.verify.audit.replay.RunChecker`:
it keeps the run's :class:`~statewright.verify.semantics.kernel.Ledger` (the requester, the
earlier approvers, the open gate's votes, escalation and digest) with the step kernel's own
:func:`~statewright.verify.semantics.kernel.observe`, and asks the kernel's
:func:`~statewright.verify.semantics.kernel.vote` what each decision at a gate did, so the
runtime, the console and ``audit check`` share one meaning of a policy. Each problem is a
``run-policy`` finding: a vote or a transition the policy refuses (the requester or an
earlier approver approving, an actor counted twice, a quorum taken short), a gate record
outside a gate, an escalation at another time than its due time, a decision before the
digest a binding gate records on entry, or an approval naming another digest.

A recorded run that holds no gate records was not recorded by a policy-aware runtime:
its quorum gates then show as taken short, which is the truth of what it records.
"""

from __future__ import annotations

from datetime import datetime

from statewright.verify.audit.trace import Recorded
from statewright.verify.semantics import Semantics, Values
from statewright.verify.semantics.kernel import (
    APPROVAL_EVENT,
    BOUND_EVENT,
    ESCALATION_EVENT,
    Ledger,
    Verdict,
    choose,
    escalation_due,
    observe,
    vote,
)

__all__ = ["GATE_EVENTS", "GateChecker"]

GATE_EVENTS = (APPROVAL_EVENT, ESCALATION_EVENT, BOUND_EVENT)
"""The records a gate keeps of its own while the run stays in it."""


class GateChecker:
    """The policies of one run's gates, record by record (see the module documentation)."""

    def __init__(self, semantics: Semantics) -> None:
        self.semantics = semantics
        self.ledger = Ledger()
        self.entered: datetime | None = None

    def check(self, record: Recorded, state: str, values: Values) -> str:
        """What the policy of ``state``'s gate finds wrong with ``record`` (the next
        record of a run in ``state`` with ``values``), or ''."""
        node = self.semantics.node(state)
        policy, gate = node.policy, self.ledger.gate
        own = record.event in GATE_EVENTS
        if policy is None:
            return f"a {record.event} record outside an approval gate with a policy" if own else ""
        if record.event not in (*GATE_EVENTS, "transition"):
            return ""
        if policy.bind and gate.digest is None and record.event != BOUND_EVENT:
            return f"{state} binds its context, but no digest was recorded on entering it"
        if record.event == BOUND_EVENT:
            if not policy.bind or gate.digest is not None or not record.digest:
                return "a digest is bound once, on entering a gate with bind: context"
            return ""
        entered = self.entered
        due = None if entered is None else escalation_due(node, gate, entered)
        if record.event == ESCALATION_EVENT:
            if due is None or record.at != due:
                when = "never again" if due is None else f"at {due.isoformat()}"
                return f"{state} escalates {when}, not at {record.at.isoformat()}"
            return ""
        if due is not None and record.at >= due:
            return f"{state} escalated at {due.isoformat()}, but no escalation is recorded"
        first = None if record.trigger is None else node.exits.get(record.trigger)
        edge = choose(first, values)
        if edge is None or not edge.human or not record.actor:
            return "an approval names a human exit and an actor" if own else ""
        named = record.digest if record.event == APPROVAL_EVENT else None
        verdict = vote(edge, self.ledger, record.actor, named)
        wanted = Verdict.COUNT if record.event == APPROVAL_EVENT else Verdict.TAKE
        if verdict is wanted:
            return ""
        if verdict is Verdict.COUNT:
            count = gate.count(edge.trigger) + 1
            return (
                f"{record.actor}'s {record.trigger} took {state} with {count} of "
                f"{policy.quorum} approvals"
            )
        return f"{record.actor}'s {record.trigger} at {state} is {verdict.value} under its policy"

    def follow(self, record: Recorded, source: str, leaves_initial: bool) -> None:
        """Move the ledger past ``record``, which left ``source``."""
        if record.event == "created":
            self.ledger, self.entered = Ledger(), record.at
            return
        node = self.semantics.node(source)
        first = None if record.trigger is None else node.exits.get(record.trigger)
        self.ledger = observe(
            self.ledger,
            record.event,
            source=node,
            target=self.semantics.node(record.state),
            actor=record.actor,
            trigger=record.trigger,
            human=first is not None and first.human,
            leaves_initial=leaves_initial,
            bound=record.digest,
        )
        if record.event in ("created", "transition", "rollback"):
            self.entered = record.at
