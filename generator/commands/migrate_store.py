"""``statewright migrate OLD NEW --store TARGET``: moving every stored run of OLD to NEW.

Once ``migrate`` has proved the migration NEW declares for OLD, :func:`migrate_store`
moves every instance of the machine in the store that runs under OLD's version: it
appends to each the ``migrated`` record the runtime would append on loading it
(:func:`statewright.generator.runtime.versions.migrated_body`, the same function) and
replaces its head row (the mapped state, its deadline under NEW's timers, counted from
the migration), a batch of instances per transaction.

A crash loses at most the batch in flight, which its transaction rolls back; running the
command again finds the instances already moved by the version their records name (the
``to_spec`` of their ``migrated`` record) and passes them by, so each is migrated exactly
once however often the command is killed and run again. A write that races a live worker
(the instance moved meanwhile) retries the batch. Instances under another version, with
no recorded version, with a broken chain, or whose new state NEW leaves at once
(``always``: the runtime takes those steps when it loads the instance) are left alone
and counted.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from statewright.generator.runtime.chain import escalation
from statewright.generator.runtime.store import (
    ChainBroken,
    ConcurrencyConflict,
    SqlStore,
    StoreError,
    StoreHead,
    instant,
)
from statewright.generator.runtime.versions import (
    BadMigration,
    MigrationSpec,
    NewVersion,
    migrated_body,
    version_of,
)
from statewright.verify.load.migrations import accepts
from statewright.verify.model import Migration, Spec, Value
from statewright.verify.semantics.machine import Semantics

__all__ = [
    "BATCH",
    "RETRIES",
    "Moved",
    "landing",
    "migrate_store",
    "moved_lines",
    "runtime_migration",
]

BATCH = 1000
"""Instances migrated per transaction unless ``--batch`` says otherwise."""

RETRIES = 5
"""How many times a batch that raced a live writer is tried again before the command
gives up on it (and reports its instances as not migrated)."""


@dataclass
class Moved:
    """What :func:`migrate_store` did, by instance count."""

    migrated: int = 0
    already: int = 0
    """Already under NEW: moved by an earlier run of the command, or by a program
    holding NEW that loaded them, or created under NEW."""
    unrecorded: int = 0
    other: Counter[str] = field(default_factory=Counter)
    """Under another version (its 12-digit prefix): not the migration proved."""
    automatic: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    """Instances that could not be moved (a broken chain, a migration that does not land,
    a batch that kept racing a live writer), and why."""
    batches: int = 0
    closed: int = 0
    """Cancelled runs: closed, never migrated (nothing may follow a cancellation)."""

    def add(self, other: Moved) -> None:
        self.migrated += other.migrated
        self.already += other.already
        self.unrecorded += other.unrecorded
        self.other.update(other.other)
        self.automatic.extend(other.automatic)
        self.failed.update(other.failed)
        self.batches += other.batches
        self.closed += other.closed


def runtime_migration(migration: Migration) -> MigrationSpec:
    """The runtime's form of a migration the loader read."""
    return MigrationSpec(
        migration.source, dict(migration.states), dict(migration.values), tuple(migration.drop)
    )


def landing(spec: Spec) -> NewVersion:
    """What a migration needs to know of ``spec``, the version runs move to: as
    :func:`statewright.generator.runtime.replay.landing` gives it for a generated module."""
    variables = {v.name: v for v in spec.variables}

    def check(values: dict[str, Any]) -> None:
        if set(values) != set(variables):
            raise ValueError(f"the variables are {', '.join(variables) or 'none'}")
        for name, value in values.items():
            if not accepts(variables[name], value):
                raise ValueError(f"{name} cannot be {json.dumps(value)}")

    return NewVersion(
        spec.sha256,
        frozenset(s.name for s in spec.states),
        frozenset(s.name for s in spec.states if s.is_failed),
        frozenset(r.name for r in spec.reasons),
        check,
    )


class _Mover:
    """Moves the instances of one batch, inside its transaction."""

    def __init__(
        self,
        store: SqlStore,
        new: Spec,
        migration: Migration,
        timers: Mapping[str, timedelta],
        clock: Callable[[], datetime],
    ) -> None:
        self.store, self.new, self.clock, self.timers = store, new, clock, timers
        self.migration = runtime_migration(migration)
        self.landing = landing(new)
        self.semantics = Semantics.of(new)

    def batch(self, ids: Sequence[str]) -> Moved:
        """Move ``ids`` in one transaction; what it did (once it committed)."""
        moved = Moved(batches=1)
        with self.store.batch():
            for instance_id in ids:
                self.one(instance_id, moved)
        return moved

    def one(self, instance_id: str, moved: Moved) -> None:
        machine = self.new.machine
        try:
            stored = self.store.load(machine, instance_id)
        except ChainBroken as error:
            moved.failed[instance_id] = str(error)
            return
        bodies = [json.loads(entry.body) for entry in stored.entries]
        version = version_of(bodies)
        if version.spec == self.new.sha256:
            moved.already += 1
            return
        if version.spec is None:
            moved.unrecorded += 1
            return
        if not self.migration.matches(version.spec):
            moved.other[version.short] += 1
            return
        if bodies[-1].get("event") == "cancelled":
            moved.closed += 1
            return
        at = self.clock()
        where = f"{machine} instance {instance_id!r}"
        try:
            body = migrated_body(
                where, bodies, version.spec, self.migration, self.landing, at.isoformat()
            )
        except (BadMigration, ValueError) as error:
            moved.failed[instance_id] = str(error)
            return
        state = str(body["to_state"])
        found = body.get("variables")
        values = found if isinstance(found, dict) else {}
        start = tuple(cast(Value, values[v.name]) for v in self.new.variables)
        if self.semantics.automatic_in(state, start):
            moved.automatic.append(instance_id)
            return
        delays = (self.timers.get(state), self.timers.get(escalation(state)))
        delay = min((d for d in delays if d is not None), default=None)
        head = StoreHead(state, None if delay is None else instant(at + delay))
        self.store.append(machine, instance_id, stored.version, head, [body])
        moved.migrated += 1


def migrate_store(
    store: SqlStore,
    new: Spec,
    migration: Migration,
    timers: Mapping[str, timedelta],
    *,
    batch: int = BATCH,
    clock: Callable[[], datetime] | None = None,
    after_batch: Callable[[Moved], None] | None = None,
) -> Moved:
    """Move every instance of ``new``'s machine in ``store`` that runs under a version
    ``migration`` moves, ``batch`` instances a transaction; what it did. ``after_batch``
    is told each batch's count once it committed."""
    mover = _Mover(store, new, migration, timers, clock or (lambda: datetime.now(UTC)))
    ids = [instance_id for _, instance_id, _ in store.instances(new.machine)]
    total = Moved()
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        for _ in range(RETRIES):
            try:
                done = mover.batch(chunk)
            except ConcurrencyConflict:  # a live writer moved one meanwhile: again
                continue
            except StoreError as error:
                done = Moved(failed=dict.fromkeys(chunk, str(error)))
            break
        else:
            done = Moved(failed=dict.fromkeys(chunk, "kept racing a live writer"))
        total.add(done)
        if after_batch is not None:
            after_batch(done)
    return total


def _many(n: int, word: str, words: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else words or word + 's'}"


def moved_lines(target: str, new: Spec, old_sha: str, moved: Moved, batch: int) -> list[str]:
    """What the command prints of what it did to the store."""
    lines = [
        f"{target}: {_many(moved.migrated, new.machine + ' instance')} migrated from spec "
        f"{old_sha[:12]} to {new.sha256[:12]} "
        f"({_many(moved.batches, 'batch', 'batches')} of at most {batch:,}); "
        f"{moved.already:,} already under {new.sha256[:12]}."
    ]
    if moved.unrecorded:
        lines.append(
            f"  {_many(moved.unrecorded, 'instance')} record no spec version (written before "
            "versions were recorded): left as they are"
        )
    for version, count in sorted(moved.other.items()):
        lines.append(
            f"  {_many(count, 'instance')} under spec {version}, which this migration does "
            "not move: left as they are"
        )
    if moved.closed:
        lines.append(
            f"  {_many(moved.closed, 'cancelled instance')}: closed, left as they are "
            "(nothing follows a cancellation)"
        )
    if moved.automatic:
        lines.append(
            f"  {_many(len(moved.automatic), 'instance')} would land where {new.machine} "
            "moves on at once (an always exit): the runtime migrates them when it loads them"
        )
    for instance_id, why in sorted(moved.failed.items())[:20]:
        lines.append(f"  not migrated: {json.dumps(instance_id)}: {why}")
    if len(moved.failed) > 20:
        lines.append(f"  ... and {len(moved.failed) - 20:,} more not migrated")
    return lines
