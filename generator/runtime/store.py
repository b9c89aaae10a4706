"""Durable stores: where instances and their audit records live.

Every instance lives in a store under (machine, instance id): a *head* (its present state
and its pending deadline, kept so that sweeping needs no replay) and its audit records,
each kept as canonical JSON with a sha256 hash chained to the record before it. The
records alone rebuild the instance. A write is one transaction: the new records and the
new head are committed together or not at all. Each write moves the instance's version
on, and only a writer holding the version it replaces may write: the loser of a race gets
:class:`ConcurrencyConflict` and nothing is written.

This module states what a store does (:class:`Store`) and is where every name of the
stores is imported from. The parts live apart, each one idea:

- :mod:`.stored`: what a store holds (:class:`StoreHead`, :class:`StoredRecord`,
  :class:`StoredInstance`, :class:`InstanceHead`) and the errors it raises;
- :mod:`.chain`: the hash chain, how it is written and verified (:class:`ChainProblem`,
  :class:`ChainBroken`, :func:`check_witness`);
- :mod:`.memorystore`: :class:`MemoryStore`, in this process;
- :mod:`.sqlstore`: :class:`SqlStore` in SQL tables over a DB-API 2 connection, SQLite
  (``sqlite3``) or PostgreSQL (psycopg 3), and what differs between the two
  (:class:`~.sqlstore.Dialect`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from .chain import ChainBroken, ChainProblem, check_witness, row_problem
from .memorystore import MemoryStore
from .sqlstore import CHUNK, DBConnection, SqlStore
from .stored import (
    ConcurrencyConflict,
    InstanceExists,
    InstanceHead,
    StoredInstance,
    StoredRecord,
    StoreError,
    StoreHead,
    Timers,
    UnknownInstance,
    instant,
)

__all__ = [
    "CHUNK",
    "ChainBroken",
    "ChainProblem",
    "ConcurrencyConflict",
    "DBConnection",
    "InstanceExists",
    "InstanceHead",
    "MemoryStore",
    "SqlStore",
    "Store",
    "StoreError",
    "StoreHead",
    "StoredInstance",
    "StoredRecord",
    "Timers",
    "UnknownInstance",
    "check_witness",
    "instant",
    "row_problem",
]


class Store(Protocol):
    """Where instances and their audit records live: :class:`MemoryStore`, :class:`SqlStore`."""

    def create(
        self, machine: str, instance_id: str, head: StoreHead, records: Sequence[Mapping[str, Any]]
    ) -> None:
        """Store a new instance with its first records; :class:`InstanceExists` if taken."""
        ...

    def append(
        self,
        machine: str,
        instance_id: str,
        version: int,
        head: StoreHead,
        records: Sequence[Mapping[str, Any]],
    ) -> None:
        """Add ``records`` after the last one and replace the head, in one transaction.

        ``version`` is the one the caller loaded; :class:`ConcurrencyConflict` if another
        write came first.
        """
        ...

    def load(self, machine: str, instance_id: str) -> StoredInstance:
        """The instance's head and records, verified: :class:`ChainBroken` if a record or
        the head row fails the chain (the head's state must be its last record's
        ``to_state``), :class:`UnknownInstance` if there is no such instance."""
        ...

    def walk(
        self,
        machine: str,
        instance_id: str,
        visit: Callable[[dict[str, Any]], None],
        timers: Timers | None = None,
    ) -> StoredInstance:
        """Hand each of the instance's records, verified, to ``visit`` as its JSON object,
        oldest first; the head. :class:`ChainBroken` (after the records that verify) if
        one fails, :class:`UnknownInstance` if there is no such instance."""
        ...

    def due(self, machine: str, now: str, limit: int | None = None) -> list[str]:
        """Ids of the instances whose deadline is at or before ``now``, earliest first."""
        ...

    def verify(
        self, machine: str | None = None, *, timers: Mapping[str, Timers] | None = None
    ) -> list[ChainProblem]:
        """The first broken record of every instance whose chain is broken, or its head
        row when that is not what its records give. ``timers`` (by machine) let it
        recompute the deadlines too, for the machines it names."""
        ...

    def version(self, machine: str, instance_id: str) -> int:
        """The instance's version; :class:`UnknownInstance` if there is none."""
        ...

    def heads(self, machine: str | None = None) -> list[InstanceHead]:
        """Where every instance's chain ends, by machine and instance id."""
        ...

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Group writes: they become durable together when the block ends."""
        ...
