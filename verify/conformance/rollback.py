"""A rollback as DESIGN.md "Rollback inside the proof" defines it, for the conformance harness.

The explorer takes rollback steps over packed configurations
(:mod:`statewright.verify.explore.rollback`); this is the same definition over one run,
as the harness holds an implementation's rollback to it:

- :func:`refusal`: who may roll back, and where: a person holding one of the
  ``rollback: {reviewers}`` roles, outside an approval state, while the run has taken
  fewer than ``max`` rollbacks (the hidden counter); the refusal otherwise;
- :func:`restored`: the variables after it: those of the record rolled back to, but the
  ``keep`` variables, which carry their current values over;
- :func:`rollback_record`: what the rollback's own audit record holds (the record it
  returns to, the actor's roles, the values, the kept ones in its data);
- :func:`past_a_change`: the record a harness rolls back to so that ``keep`` is put to
  the test (the latest one whose variables differ from the present ones).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from statewright.verify.conformance.adapters import Locked, Refused, RollbackLimit, Unauthorized
from statewright.verify.model import Value
from statewright.verify.semantics import Semantics, Values

__all__ = [
    "RollbackRecord",
    "past_a_change",
    "refusal",
    "restored",
    "rollback_record",
    "rollbacks_left",
]


@dataclass(frozen=True, slots=True)
class RollbackRecord:
    """The fields of a rollback's audit record the spec fixes."""

    rollback_to: int
    """The record returned to."""
    roles: tuple[str, ...]
    """The roles the actor held, sorted."""
    variables: dict[str, Value] | None
    """Every variable's value after the rollback (None for a spec without variables)."""
    kept: dict[str, Value] | None
    """The ``keep`` variables' values carried over (None when the spec keeps none)."""


def rollbacks_left(semantics: Semantics, taken: int) -> int | None:
    """How many more rollbacks ``max`` allows a run that has taken ``taken`` (None: no
    bound)."""
    most = semantics.spec.rollback_max
    return None if most is None else most - taken


def refusal(
    semantics: Semantics, roles: Iterable[str], state: str, taken: int
) -> type[Refused] | None:
    """The refusal a rollback by an actor holding ``roles``, in ``state``, after ``taken``
    rollbacks must meet; None when it must go through. The checks run in the runtime's
    order: the role first, then the approval state, then the count."""
    allowed = semantics.spec.rollback
    if not allowed or set(allowed).isdisjoint(roles):
        return Unauthorized
    if semantics.spec.state(state).is_approval:
        return Locked
    if rollbacks_left(semantics, taken) == 0:
        return RollbackLimit
    return None


def restored(semantics: Semantics, target: Values, current: Values) -> Values:
    """The variables after a rollback from ``current`` to a record holding ``target``:
    ``target``'s, the ``keep`` variables carried from ``current``."""
    keep = semantics.spec.rollback_keep
    names = semantics.data.names
    return tuple(
        now if name in keep else then
        for name, now, then in zip(names, current, target, strict=True)
    )


def rollback_record(
    semantics: Semantics, seq: int, roles: Iterable[str], target: Values, current: Values
) -> RollbackRecord:
    """The record of a rollback to record ``seq`` (holding ``target``) from ``current``,
    by an actor holding ``roles``."""
    data = semantics.data
    keep = semantics.spec.rollback_keep
    now = data.scope(current)
    return RollbackRecord(
        seq,
        tuple(sorted(roles)),
        data.scope(restored(semantics, target, current)) if data.variables else None,
        {name: now[name] for name in keep} if keep and data.variables else None,
    )


def past_a_change(
    semantics: Semantics, points: Sequence[tuple[int, Values]], now: Values, kept: bool
) -> int | None:
    """Of ``points`` (the records a rollback may return to, oldest first, each with the
    variables after it), the latest whose variables differ from ``now``: in a ``keep``
    variable (with ``kept``) or in one a rollback restores (without), if any record does,
    else in any; None when none differs."""
    keep = semantics.spec.rollback_keep
    names = semantics.data.names
    differ: list[tuple[int, bool]] = []  # a record, and whether it differs as wanted
    for seq, then in points:
        changed = {n for n, a, b in zip(names, now, then, strict=True) if a != b}
        if changed:
            wanted = not changed.isdisjoint(keep) if kept else not changed <= set(keep)
            differ.append((seq, wanted))
    chosen = [seq for seq, wanted in differ if wanted] or [seq for seq, _ in differ]
    return chosen[-1] if chosen else None
