"""What a run waits for next, as ``runs list`` and ``runs show`` say it: an escalation
or a timeout, and when.

A store keeps one due time per instance (the head row's ``deadline``): the runtime's
``Machine.next_due``, the earlier of the state's timed exit and, at an approval gate whose
policy escalates, the escalation until it is recorded. The row alone cannot say which
of the two it is. For an instance at such a gate the answer is asked of the runtime: the
instance is loaded through its spec's generated runtime (rendered in memory, as the
console does) and its ``next_due`` (the kernel's ``escalation_due`` while the escalation
is not recorded, if sooner than the timed exit) and ``deadline`` (the timed exit) say
which. Anywhere else the due time is the timed exit's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from statewright.generator.runtime.engine import Machine
from statewright.generator.runtime.store import SqlStore, instant
from statewright.verify.model import Escalation, Spec

__all__ = ["Classes", "due_of", "escalates", "now", "relative"]


def now() -> datetime:
    """The moment ``runs`` reads as now (the wall clock; a test may replace it)."""
    return datetime.now(UTC)


def escalates(spec: Spec | None, state: str) -> Escalation | None:
    """The escalation of ``state`` of ``spec``, an approval gate whose policy escalates;
    else None."""
    if spec is None or state not in spec.state_names:
        return None
    policy = spec.state(state).policy
    return None if policy is None else policy.escalate


class Classes:
    """The generated runtime class of each spec, rendered once per spec version."""

    def __init__(self) -> None:
        self._made: dict[str, type[Machine[Any, Any, Any]]] = {}

    def of(self, spec: Spec) -> type[Machine[Any, Any, Any]]:
        key = f"{spec.machine}@{spec.sha256}"
        if key not in self._made:
            from statewright.generator.console.machines import serve_specs

            self._made[key] = serve_specs([spec])[spec.machine].machine
        return self._made[key]

    def load(self, spec: Spec, store: SqlStore, instance_id: str) -> Machine[Any, Any, Any]:
        """The instance, rebuilt from its records by the runtime of ``spec``."""
        return self.of(spec).load(store, instance_id)


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _timed_trigger(spec: Spec | None, state: str) -> str | None:
    """The trigger of ``state``'s timed exit (the one that fires first), if it has one."""
    timed = None if spec is None else spec.deadline(state)
    return None if timed is None else timed.trigger


def due_of(
    spec: Spec | None,
    state: str,
    deadline: str | None,
    machine: Callable[[Spec], Machine[Any, Any, Any]],
    at: datetime,
) -> list[dict[str, Any]]:
    """What comes next for an instance resting in ``state`` whose head row's due time is
    ``deadline`` (stored form), as ``at`` sees it: the escalation (``event``
    ``escalation``, ``to`` the roles it adds) and the timed exit (``timeout``, its
    ``trigger``), each with ``at`` (stored form) and ``overdue``, earliest first (the
    first is what the store's due time holds: ``Machine.next_due``). ``machine(spec)`` loads
    the instance; it is called only at a gate that escalates (where it fails, ``event``
    is ``due``: the stored due time, without saying which of the two it is)."""
    trigger = _timed_trigger(spec, state)
    found: list[tuple[datetime, dict[str, Any]]] = []
    escalation = None if spec is None else escalates(spec, state)
    run = None
    if spec is not None and escalation is not None:
        try:
            run = machine(spec)
        except Exception:  # the runtime cannot read it here: say the stored due time
            run = None
    if run is not None and escalation is not None:
        if run.cancelled is not None:  # closed for good: nothing comes
            return []
        # next_due is the escalation while it is unrecorded and earlier than the timed
        # exit (at the same moment the runtime records both, the timeout is what is due)
        timeout, next_due = run.deadline, run.next_due
        if next_due is not None and next_due != timeout:
            found.append((next_due, {"event": "escalation", "to": list(escalation.to)}))
        if timeout is not None:
            found.append((timeout, {"event": "timeout", "trigger": trigger}))
    elif deadline is not None:
        # without the runtime's word at an escalating gate, only that something is due
        what = "timeout" if escalation is None else "due"
        found.append((_moment(deadline), {"event": what, "trigger": trigger}))
    # earliest first; at one moment the escalation, as the runtime records it first: the
    # first is Machine.next_due, the due time the store keeps
    found.sort(key=lambda item: (item[0], item[1]["event"] != "escalation"))
    return [{**what, "at": instant(when), "overdue": when <= at} for when, what in found]


def relative(moment: str, at: datetime) -> str:
    """How far ``moment`` (stored form) is from ``at``: ``in 3 h``, ``2 d ago`` (as the
    console says it)."""
    from statewright.generator.console.reading import distance

    return distance(_moment(moment), at)
