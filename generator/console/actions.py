"""What a reviewer may do to a run from the console, and doing it through the runtime.

A decision is one of the run's human exits that may fire now (``Machine.allowed``), fired
with the requester's actor and decision text (``Machine.fire``); a rollback is
``Machine.rollback``. The runtime validates, authorises and records; the console adds one
check of its own first: the form names the run as the reviewer saw it (its number of
records and its context's digest), and a run that changed since is refused, so nobody
approves what they did not review. Every refusal is the runtime's message, with an HTTP
status: 403 not authorised, 409 the run changed or does not allow it now, 400 a malformed
form.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from statewright.generator.console.machines import Served
from statewright.generator.console.reading import context_digest
from statewright.generator.runtime import (
    Actor,
    ConcurrencyConflict,
    InvalidTransition,
    Locked,
    Machine,
    SqlStore,
    StaleDecision,
    StoreError,
    Unauthorized,
)

__all__ = ["Decision", "Outcome", "act", "decide", "decisions", "rollback_choices"]


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
    store: SqlStore, served: Served, instance_id: str, actor: Actor, form: Mapping[str, str]
) -> Outcome:
    """Carry out the POSTed ``form`` on the run ``instance_id`` of ``served``."""
    action = form.get("action")
    if action not in ("decide", "rollback"):
        return Outcome(400, "The form names no action: decide or rollback.")
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
    except (StaleDecision, InvalidTransition, Locked, ConcurrencyConflict) as error:
        return Outcome(409, str(error))
    except (TypeError, ValueError) as error:
        return Outcome(400, str(error))
