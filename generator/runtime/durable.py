"""Instances kept in a :class:`~.store.Store`: creating, loading and sweeping them.

``Machine.create``, ``Machine.load`` and ``Machine.sweep`` (documented there) run the
functions here. A durable instance's every change is committed with its records in one
transaction by ``Machine._durably``, or refused with nothing changed; loading rebuilds the
instance from its records (:mod:`.replay`) and holds the result to the row the store keeps
beside them (state and deadline).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Generic, NamedTuple, TypeVar

from . import replay, versions
from .records import AuditRecord, Cancelled, Clock, check_clock, utc_now
from .store import (
    ChainBroken,
    ConcurrencyConflict,
    Store,
    StoredInstance,
    StoreError,
    instant,
    row_problem,
)

if TYPE_CHECKING:
    from .engine import Machine

__all__ = ["MIGRATION_RACES", "SweepReport", "create", "load", "migrate", "sweep"]

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)
M = TypeVar("M", bound="Machine[Any, Any, Any]")


class SweepReport(NamedTuple, Generic[S, T, R]):
    """What ``Machine.sweep`` did: the records it appended, by instance, and the
    instances it could not read (their id and why), which it skipped; ``errors`` holds
    the exception behind each of those, by id."""

    fired: list[tuple[str, AuditRecord[S, T, R]]]
    unreadable: list[tuple[str, str]]
    errors: dict[str, Exception]


def create(
    cls: type[M],
    store: Store,
    instance_id: str,
    clock: Clock | None,
    context: Mapping[str, object] | None,
) -> M:
    """A new instance of ``cls`` kept in ``store`` under ``instance_id``."""
    if not isinstance(instance_id, str) or not instance_id:
        raise TypeError(f"an instance id is a non-empty string, not {instance_id!r}")
    machine = cls(clock=clock, context=context)
    store.create(cls.spec.machine, instance_id, machine._head(), machine._bodies(0))
    machine._store, machine._id, machine._revision = store, instance_id, 0
    return machine


def load(cls: type[M], store: Store, instance_id: str, clock: Clock | None) -> M:
    """The instance of ``cls`` kept in ``store`` under ``instance_id``, rebuilt and
    checked against the stored row; moved to this version of the spec first if it runs
    under another (:func:`migrate`)."""
    for _ in range(MIGRATION_RACES):
        stored = store.load(cls.spec.machine, instance_id)
        try:
            return migrate(cls, store, instance_id, stored, clock) or _rebuilt(
                cls, store, instance_id, stored, clock
            )
        except ConcurrencyConflict:  # another process migrated it first: load it again
            continue
    raise ConcurrencyConflict(
        f"{cls.spec.machine} instance {instance_id!r} changed {MIGRATION_RACES} times while"
        " it was being migrated: load it again"
    )


MIGRATION_RACES = 5
"""How many times :func:`load` tries again when another writer changed an instance it
was migrating."""


def _records(cls: type[M], instance_id: str, text: str) -> tuple[AuditRecord[Any, Any, Any], ...]:
    try:
        return cls.load_audit(text)
    except ValueError as error:
        raise StoreError(
            f"{cls.spec.machine} instance {instance_id!r}: unreadable stored records: {error}"
        ) from error


def migrate(
    cls: type[M], store: Store, instance_id: str, stored: StoredInstance, clock: Clock | None
) -> M | None:
    """None when ``stored`` runs under ``cls``'s version of the spec (or records none);
    else the instance moved to it by the migration the spec declares, its ``migrated``
    record (and any automatic steps the new state takes at once) committed.
    :class:`~.versions.SpecMismatch` if the spec declares no migration from its version,
    :class:`~.versions.BadMigration` if the migration does not land in this spec."""
    spec = cls.spec
    current = spec.sha256
    if current is None:
        return None
    entries = stored.entries
    if not entries:
        return None
    marked = (e.body for e in entries[1:] if versions.MIGRATED_TEXT in e.body)
    version = versions.version_of([json.loads(entries[0].body), *map(json.loads, marked)])
    if version.spec is None or version.spec == current:
        return None
    bodies = [json.loads(entry.body) for entry in entries]
    if bodies[-1].get("event") == "cancelled":
        raise Cancelled(
            f"{spec.machine} instance {instance_id!r} was cancelled under spec "
            f"{version.spec[:12]}; a cancelled run is closed and not migrated (read it "
            "with the spec it ran under, or statewright runs show)"
        )
    migration = replay.migration_for(spec, version.spec)
    if migration is None:
        raise versions.SpecMismatch(spec.machine, instance_id, version.spec, current)
    at = (utc_now if clock is None else check_clock(clock))()
    where = f"{spec.machine} instance {instance_id!r}"
    body = versions.migrated_body(
        where, bodies, version.spec, migration, replay.landing(spec), at.isoformat()
    )
    text = "\n".join([*(entry.body for entry in stored.entries), json.dumps(body)])
    machine = cls.__new__(cls)
    machine._reset(clock)
    replay.moved(machine, _records(cls, instance_id, text))
    store.append(
        spec.machine,
        instance_id,
        stored.version,
        machine._head(),
        machine._bodies(len(stored.entries)),
    )
    machine._store, machine._id, machine._revision = store, instance_id, stored.version + 1
    return machine


def _rebuilt(
    cls: type[M], store: Store, instance_id: str, stored: StoredInstance, clock: Clock | None
) -> M:
    """The instance ``stored`` holds, rebuilt and checked against its row."""
    machine_name = cls.spec.machine
    records = _records(cls, instance_id, "\n".join(entry.body for entry in stored.entries))
    machine = cls.replay(records, clock=clock)
    derived = machine._head()
    if (derived.state, len(machine._log)) != (stored.head.state, stored.seq):
        raise ChainBroken(row_problem(machine_name, instance_id, stored.seq, stored.head, derived))
    if derived.deadline != stored.head.deadline:  # the spec's timer changed, or an edit
        if _same_spec(machine):  # the records ran under this very spec: the row was edited
            raise ChainBroken(
                row_problem(machine_name, instance_id, stored.seq, stored.head, derived)
            )
        raise StoreError(
            f"{row_problem(machine_name, instance_id, stored.seq, stored.head, derived)}"
            " under this spec's timers: the spec changed under the instance or the row"
            " was edited ('statewright audit verify' with the spec it ran under tells which)"
        )
    machine._store, machine._id, machine._revision = store, instance_id, stored.version
    return machine


def _same_spec(machine: Machine[Any, Any, Any]) -> bool:
    """Whether the instance was created under the spec ``machine`` runs (its created
    record names that spec's sha256; records written before they did name none)."""
    named = machine._log[0].spec_sha256
    return named is not None and named == machine.spec.sha256


def sweep(
    cls: type[Machine[S, T, R]],
    store: Store,
    clock: Clock | None,
    limit: int | None,
    due: Callable[[str, str, int | None], list[str]] | None,
) -> SweepReport[S, T, R]:
    """Fire every timed exit that is due across the instances of ``cls`` in ``store``."""
    now = (utc_now if clock is None else clock)()
    report: SweepReport[S, T, R] = SweepReport([], [], {})
    find = store.due if due is None else due
    seen: set[str] = set()
    moved = 0
    more = True
    while more and (limit is None or moved < limit):
        ask = None if limit is None else limit + 2 * len(seen)  # past the ones seen
        found = find(cls.spec.machine, instant(now), ask)
        more = ask is not None and len(found) == ask  # else nothing lies beyond them
        for instance_id in (i for i in found if i not in seen):
            if limit is not None and moved >= limit:
                break
            seen.add(instance_id)
            try:
                machine = cls.load(store, instance_id, clock=clock)
                seen_records = len(machine._log)
                machine.expire()
            except ConcurrencyConflict:
                continue
            except Exception as error:  # one bad instance: report it, go on
                report.unreadable.append((instance_id, str(error)))
                report.errors[instance_id] = error
                continue
            moved += 1
            report.fired.extend((instance_id, r) for r in machine._log[seen_records:])
    return report
