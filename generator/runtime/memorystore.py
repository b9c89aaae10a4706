"""The store in this process's memory: the runtime's behaviour without a database."""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .chain import ChainBroken, ChainProblem, check_chain, extended, started, verified
from .stored import (
    InstanceExists,
    InstanceHead,
    StoredInstance,
    StoredRecord,
    StoreHead,
    Timers,
    UnknownInstance,
)

__all__ = ["MemoryStore"]


class MemoryStore:
    """A store in this process's memory: the runtime's behaviour without a database.

    Thread-safe; the same rules as :class:`~.sqlstore.SqlStore` (conflicts, hash chain),
    so code written against it moves to a database unchanged.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._instances: dict[tuple[str, str], StoredInstance] = {}
        """Each instance's head row: its records are kept apart in ``_records``."""
        self._records: dict[tuple[str, str], list[StoredRecord]] = {}

    def create(
        self, machine: str, instance_id: str, head: StoreHead, records: Sequence[Mapping[str, Any]]
    ) -> None:
        row, entries = started(machine, instance_id, head, records)
        with self._lock:
            if (machine, instance_id) in self._instances:
                raise InstanceExists.of(machine, instance_id)
            self._instances[machine, instance_id] = row
            self._records[machine, instance_id] = entries

    def append(
        self,
        machine: str,
        instance_id: str,
        version: int,
        head: StoreHead,
        records: Sequence[Mapping[str, Any]],
    ) -> None:
        with self._lock:
            held = self._held(machine, instance_id)
            row, entries = extended(machine, instance_id, held, version, head, records)
            self._records[machine, instance_id] += entries
            self._instances[machine, instance_id] = row

    def load(self, machine: str, instance_id: str) -> StoredInstance:
        return verified(machine, instance_id, self._fetch(machine, instance_id))

    def _fetch(self, machine: str, instance_id: str) -> StoredInstance:
        """The instance as stored, unverified (what :meth:`load` checks)."""
        with self._lock:
            held = self._held(machine, instance_id)
            entries = tuple(self._records[machine, instance_id])
        return dataclasses.replace(held, entries=entries)

    def walk(
        self,
        machine: str,
        instance_id: str,
        visit: Callable[[dict[str, Any]], None],
        timers: Timers | None = None,
    ) -> StoredInstance:
        """As :meth:`~.sqlstore.SqlStore.walk` (here every record is verified before the
        first visit)."""
        stored = self._fetch(machine, instance_id)
        records: list[dict[str, Any]] = []
        problem = check_chain(machine, instance_id, stored, timers, records.append)
        if problem is not None:
            raise ChainBroken(problem)
        for record in records:
            visit(record)
        return dataclasses.replace(stored, entries=())

    def _held(self, machine: str, instance_id: str) -> StoredInstance:
        held = self._instances.get((machine, instance_id))
        if held is None:
            raise UnknownInstance.of(machine, instance_id)
        return held

    def due(self, machine: str, now: str, limit: int | None = None) -> list[str]:
        with self._lock:
            heads = [
                (held.head.deadline, instance_id)
                for (owner, instance_id), held in self._instances.items()
                if owner == machine and held.head.deadline is not None and held.head.deadline <= now
            ]
        return [instance_id for _, instance_id in sorted(heads)[:limit]]

    def verify(
        self, machine: str | None = None, *, timers: Mapping[str, Timers] | None = None
    ) -> list[ChainProblem]:
        with self._lock:
            held = sorted(
                (key, dataclasses.replace(stored, entries=tuple(self._records[key])))
                for key, stored in self._instances.items()
                if machine in (None, key[0])
            )
        found = [
            check_chain(*key, stored, None if timers is None else timers.get(key[0]))
            for key, stored in held
        ]
        return [problem for problem in found if problem is not None]

    def version(self, machine: str, instance_id: str) -> int:
        with self._lock:
            return self._held(machine, instance_id).version

    def heads(self, machine: str | None = None) -> list[InstanceHead]:
        with self._lock:
            return sorted(
                InstanceHead(owner, instance_id, held.seq, held.head_hash)
                for (owner, instance_id), held in self._instances.items()
                if machine in (None, owner)
            )

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()
