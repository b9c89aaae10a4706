"""What a reviewer may do to a run from the console, and doing it through the runtime.

A decision is one of the run's human exits that may fire now (``Machine.allowed``), fired
with the requester's actor and decision text (``Machine.fire``); a rollback is
``Machine.rollback``; a cancellation, an operator's action the console allows only to
the roles it was started with (``serve --cancel-role``), is ``Machine.cancel``, the
record ``statewright runs cancel`` writes. The runtime validates, authorises and records;
the console adds one check of its own first: the form names the run as the reviewer saw
it (its number of records and its context's digest), and a run that changed since is
refused, so nobody approves (or cancels) what they did not review. Every refusal is the
runtime's message, with an HTTP status: 403 not authorised, 409 the run changed or does
not allow it now, 400 a malformed form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from statewright.generator.console.machines import Served
from statewright.generator.console.reading import context_digest
from statewright.generator.runtime import (
    Actor,
    Cancelled,
    ConcurrencyConflict,
    InvalidTransition,
    Locked,
    Machine,
    SqlStore,
    StaleDecision,
    StoreError,
    Unauthorized,
)

__all__ = [
    "Decision",
    "Outcome",
    "act",
    "cancel_refusal",
    "decide",
    "decisions",
    "rollback_choices",
]


@dataclass(frozen=True, slots=True)
class Decision:
    """A human exit of the run's state that may fire now: its trigger, where it leads,
    the roles it needs, and whether the requester holds one."""

    trigger: str
    target: str
    roles: tuple[str, ...]
    allowed: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action came to: 303 and what was done, or an error status and why."""

    status: int
    text: str


def decisions(run: Machine[Any, Any, Any], actor: Actor) -> list[Decision]:
    """The human exits of ``run``'s state that may fire now, for ``actor``: at an
    approval gate, the roles are those the runtime says may decide now (widened once the
    gate escalated)."""
    status = run.gate_status()
    found = []
    for a in run.allowed():
        if not a.human:
            continue
        roles = a.roles if status is None else status.reviewers
        found.append(
            Decision(
                str(a.trigger),
                str(a.target),
                tuple(sorted(roles)),
                not actor.roles.isdisjoint(roles),
            )
        )
    return found


def rollback_choices(run: Machine[Any, Any, Any], actor: Actor) -> tuple[str, ...] | None:
    """The roles rollback needs when ``actor`` may not roll ``run`` back, ``()`` when it
    may (the run's records are the choices), None when the spec allows no rollback."""
    roles = run.spec.rollback
    if roles is None:
        return None
    return () if not actor.roles.isdisjoint(roles) else tuple(sorted(roles))


def cancel_refusal(actor: Actor, roles: frozenset[str]) -> str | None:
    """Why ``actor`` may not cancel a run from this console (None: it may): the console
    lets only the holders of ``roles`` cancel, and nobody when there are none."""
    if not roles:
        return (
            "This console lets nobody cancel a run: its operator starts it with "
            "--cancel-role ROLE to let that role cancel (or cancels with "
            "'statewright runs cancel')."
        )
    if actor.roles.isdisjoint(roles):
        return (
            f"{actor.id} holds none of the roles this console lets cancel a run: "
            f"{', '.join(sorted(roles))}."
        )
    return None


def decide(
    run: Machine[Any, Any, Any], trigger: str, actor: Actor, decision: str, digest: str
) -> None:
    """Fire the human ``trigger`` on ``run`` for ``actor`` with ``decision``, the context
    reviewed having ``digest``: at a gate that binds its context the runtime holds the
    decision to that digest (``StaleDecision`` when the context changed since it was
    read); elsewhere the caller checked it against the run's context."""
    status = run.gate_status()
    bound = status is not None and status.digest is not None
    run.fire(trigger, actor=actor, decision=decision, digest=digest if bound else None)


def act(
    store: SqlStore,
    served: Served,
    instance_id: str,
    actor: Actor,
    form: Mapping[str, str],
    cancel_roles: frozenset[str] = frozenset(),
) -> Outcome:
    """Carry out the POSTed ``form`` on the run ``instance_id`` of ``served``; a
    cancellation only for an actor holding one of ``cancel_roles``."""
    action = form.get("action")
    if action not in ("decide", "rollback", "cancel"):
        return Outcome(400, "The form names no action: decide, rollback or cancel.")
    if action == "cancel" and (refusal := cancel_refusal(actor, cancel_roles)) is not None:
        return Outcome(403, refusal)
    try:
        run = served.machine.load(store, instance_id)
    except StoreError as error:
        return Outcome(409, f"This run cannot be read: {error}")
    seen, digest = form.get("seen", ""), form.get("digest", "")
    now = len(run.audit)
    status = run.gate_status()
    binds = action == "decide" and status is not None and status.digest is not None
    if not binds and (seen != str(now) or digest != context_digest(run.context)):
        return Outcome(
            409,
            f"This run changed since you opened it (it has {now} records now, you saw "
            f"{seen or 'none'}): review it again before you decide.",
        )
    decision = form.get("decision", "")
    try:
        if action == "cancel":
            record = run.cancel(actor=actor, reason=decision)
            return Outcome(303, f"cancelled in {record.to_state} (record {record.seq}): closed")
        if action == "decide":
            trigger = form.get("trigger", "")
            if trigger not in {d.trigger for d in decisions(run, actor)}:
                return Outcome(
                    409, f"{trigger or 'No decision'} cannot be taken in {run.state} now."
                )
            decide(run, trigger, actor, decision, digest)
            return Outcome(303, f"{trigger}: {run.state}")
        target = form.get("seq", "")
        if not target.isdigit():
            return Outcome(400, "Choose the record to roll back to.")
        run.rollback(int(target), actor=actor, decision=decision)
        return Outcome(303, f"rolled back to record {target}: {run.state}")
    except Unauthorized as error:
        return Outcome(403, str(error))
    except (StaleDecision, InvalidTransition, Locked, ConcurrencyConflict, Cancelled) as error:
        return Outcome(409, str(error))
    except (TypeError, ValueError) as error:
        return Outcome(400, str(error))
