"""Durable stores: where instances and their audit records live.

Every instance lives in a store under (machine, instance id): a *head* (its present state
and its pending deadline, kept so that sweeping needs no replay) and its audit records,
each kept as canonical JSON with a sha256 hash chained to the record before it. The
records alone rebuild the instance. A write is one transaction: the new records and the
new head are committed together or not at all. Each write moves the instance's version
on, and only a writer holding the version it replaces may write: the loser of a race gets
:class:`ConcurrencyConflict` and nothing is written.

:class:`MemoryStore` keeps them in this process; :class:`SqlStore` in SQL tables over a
DB-API 2 connection, SQLite (``sqlite3``) or PostgreSQL (psycopg 3).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import sqlite3
import sys
import threading
from collections.abc import Callable, Collection, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

__all__ = [
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
]

_GENESIS = "0" * 64
"""The ``prev`` hash of every instance's first record."""


class StoreError(Exception):
    """A store refused a write; nothing was written."""


class ConcurrencyConflict(StoreError):
    """Another writer appended to the instance first: load it again and retry."""


class InstanceExists(StoreError):
    """``create`` was given an instance id the store already holds."""


class UnknownInstance(StoreError, LookupError):
    """The store holds no instance of this machine under this id."""


@dataclass(frozen=True, slots=True)
class StoreHead:
    """An instance's present, kept beside its records so that sweeping needs no replay.

    ``deadline`` is an :func:`instant` (fixed-width UTC text, so text order is time
    order) or None.
    """

    state: str
    deadline: str | None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One stored record: its number, canonical JSON body and the hashes that chain it."""

    seq: int
    body: str
    prev: str
    hash: str


@dataclass(frozen=True, slots=True)
class StoredInstance:
    """What a store holds of one instance: its head, the number and hash of its last
    record, its version (one more with every write) and its records."""

    head: StoreHead
    seq: int
    head_hash: str
    version: int
    entries: tuple[StoredRecord, ...]


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first record of one instance's chain that was altered, removed or reordered."""

    machine: str
    instance_id: str
    seq: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.machine} {self.instance_id!r} record {self.seq}: {self.kind}: {self.detail}"


class ChainBroken(StoreError):
    """An instance's stored records fail verification, so nothing may act on them.

    A record was altered, removed or reordered (its hash, its link to the record before
    it or its number is wrong, or its body is no JSON record), or the instance's head row
    is not what its records give. The instance is tampered: it needs a person, and
    ``statewright audit verify`` names it. ``problem`` says where.
    """

    def __init__(self, problem: ChainProblem) -> None:
        super().__init__(f"{problem}: the instance is tampered; it is not loaded")
        self.problem = problem

    def __reduce__(self) -> tuple[type[ChainBroken], tuple[ChainProblem]]:
        return type(self), (self.problem,)


@dataclass(frozen=True, slots=True, order=True)
class InstanceHead:
    """Where one instance's chain ends: its last record's number and hash.

    Kept outside the store (``statewright audit head``), these witness the chain's end:
    a hash chain alone cannot show that its last records were cut off and the head
    rewound, but a later ``verify`` against the kept heads can.
    """

    machine: str
    instance_id: str
    seq: int
    hash: str


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def _canonical(value: Any) -> str:
    """The one JSON text of ``value`` that is hashed: sorted keys, no spaces, no NaN."""
    return _ENCODER.encode(value)


def instant(moment: datetime) -> str:
    """A moment as fixed-width UTC text, the form deadlines are stored and compared in."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _link(machine: str, instance_id: str, prev: str, body: str) -> str:
    """The hash of a record: sha256 over its owner, the previous hash and its body."""
    owner = f"{len(machine)}:{machine}{len(instance_id)}:{instance_id}"
    return hashlib.sha256(f"{owner}{prev}{body}".encode()).hexdigest()


def _chain(
    machine: str, instance_id: str, seq: int, prev: str, records: Sequence[Mapping[str, Any]]
) -> list[StoredRecord]:
    """Number and hash ``records`` as the ones following record ``seq`` (hash ``prev``)."""
    entries: list[StoredRecord] = []
    for number, record in enumerate(records, start=seq + 1):
        if record.get("seq") != number:
            raise ValueError(f"record {record.get('seq')!r} cannot follow record {number - 1}")
        body = _canonical(record)
        digest = _link(machine, instance_id, prev, body)
        entries.append(StoredRecord(number, body, prev, digest))
        prev = digest
    return entries


Timers = Mapping[str, timedelta]
"""A machine's timers: each state with a timed exit, and how long it may rest there (its
earliest ``after``). With them a store can tell what an instance's deadline must be."""


def _record(body: str) -> dict[str, Any] | None:
    """The JSON object a stored body holds, with its integer ``seq``; None for anything else."""
    try:
        record = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or type(record.get("seq")) is not int:
        return None
    return record


class _Walk:
    """Checks one instance's records as they are read, oldest first, keeping none of them.

    Each record must extend the chain: numbered one more than the last, pointing at its
    hash, hashed as stored, and its body the JSON record of that number. At the end the
    head row must name the last record and hold what the records give: its state, and its
    deadline when the machine's timers are known. This is the one definition of an intact
    instance; :func:`_diagnose` only says, once a record fails it, what was done to it.
    """

    __slots__ = ("entered", "instance_id", "last", "machine", "prev", "seq")

    def __init__(self, machine: str, instance_id: str) -> None:
        self.machine, self.instance_id = machine, instance_id
        self.seq, self.prev = 0, _GENESIS
        self.last: dict[str, Any] | None = None
        self.entered: object = None
        """The ``at`` of the last record that entered a state (any but a context change):
        the state's deadline counts from it."""

    def step(self, entry: StoredRecord) -> dict[str, Any] | None:
        """The record ``entry`` holds, if it extends the chain; else None, nothing changed."""
        return self.row(entry.seq, entry.body, entry.prev, entry.hash)

    def row(self, number: int, body: str, prev: str, digest: str) -> dict[str, Any] | None:
        """:meth:`step` on a stored row's columns (a scan of many rows makes no
        :class:`StoredRecord` of each)."""
        seq = self.seq + 1
        if (
            number != seq
            or prev != self.prev
            or _link(self.machine, self.instance_id, prev, body) != digest
        ):
            return None
        record = _record(body)
        if record is None or record["seq"] != seq:
            return None
        self.seq, self.prev, self.last = seq, digest, record
        if record.get("event") != "context":
            self.entered = record.get("at")
        return record

    def end(self, stored: StoredInstance, timers: Timers | None) -> ChainProblem | None:
        """What is wrong with the head row ``stored`` after the last record, or None."""
        machine, instance_id, seq = self.machine, self.instance_id, stored.seq
        if seq > self.seq:
            return ChainProblem(
                machine, instance_id, self.seq + 1, "removed", f"the head counts {seq} records"
            )
        if seq < self.seq:
            return ChainProblem(
                machine, instance_id, seq + 1, "altered", "a record beyond the instance's head"
            )
        if stored.head_hash != self.prev:
            return ChainProblem(
                machine, instance_id, seq, "altered", "it is not the record the head row names"
            )
        derived = self.derived(timers)
        if derived is None:
            return None
        if timers is None:
            derived = StoreHead(derived.state, stored.head.deadline)
        if derived != stored.head:
            return row_problem(machine, instance_id, seq, stored.head, derived)
        return None

    def derived(self, timers: Timers | None) -> StoreHead | None:
        """The head the records give: the last one's state and, with ``timers``, the
        deadline of that state counted from its entry. None for records that name no state
        (or no records): a store holds what it is given, and only a machine's records have
        states."""
        state = None if self.last is None else self.last.get("to_state")
        if not isinstance(state, str):
            return None
        delay = None if timers is None else timers.get(state)
        if delay is None:
            return StoreHead(state, None)
        try:
            entered = datetime.fromisoformat(str(self.entered))
            return StoreHead(state, instant(entered + delay) if entered.tzinfo else "?")
        except (ValueError, OverflowError):
            return StoreHead(state, "?")


def row_problem(
    machine: str, instance_id: str, seq: int, row: StoreHead, derived: StoreHead
) -> ChainProblem:
    """The problem of a head row that is not what the instance's records give."""
    return ChainProblem(
        machine,
        instance_id,
        seq,
        "altered",
        f"the instance row says state {row.state!r}, deadline {row.deadline}; "
        f"its records give {derived.state!r}, deadline {derived.deadline}",
    )


def _diagnose(
    machine: str,
    instance_id: str,
    entry: StoredRecord,
    position: int,
    prev: str,
    later: Callable[[], Collection[str]],
) -> ChainProblem:
    """What was done to ``entry``, stored at ``position`` after the record hashed ``prev``,
    which :meth:`_Walk.step` refused. ``later`` reads the hashes of the records stored after
    it (only asked when the chain does not lead to it: it tells a reordering)."""

    def problem(seq: int, kind: str, detail: str) -> ChainProblem:
        return ChainProblem(machine, instance_id, seq, kind, detail)

    if _link(machine, instance_id, entry.prev, entry.body) != entry.hash:
        return problem(position, "altered", "its content no longer matches its hash")
    record = _record(entry.body)
    numbered = None if record is None else record["seq"]
    if entry.prev != prev:
        if entry.prev in later():
            return problem(position, "reordered", f"record {numbered} stands in its place")
        if entry.seq == numbered == position:
            return problem(
                position - 1, "altered", "its hash was rewritten; the next record disagrees"
            )
        return problem(position, "removed", "the chain skips it")
    if record is None:
        return problem(position, "altered", "its body is not a JSON record")
    return problem(position, "altered", f"renumbered as {entry.seq} (body: {numbered})")


def _check_chain(
    machine: str, instance_id: str, stored: StoredInstance, timers: Timers | None = None
) -> ChainProblem | None:
    """The first record of one instance that was altered, removed or reordered, or its
    head row if that is not what the records give; None when it is intact.

    ``stored.entries`` are in stored order (by record number).
    """
    walk = _Walk(machine, instance_id)
    entries = stored.entries
    for position, entry in enumerate(entries, start=1):
        if walk.step(entry) is None:
            return _diagnose(
                machine,
                instance_id,
                entry,
                position,
                walk.prev,
                functools.partial(_hashes_after, entries, position),
            )
    return walk.end(stored, timers)


def _hashes_after(entries: Sequence[StoredRecord], position: int) -> set[str]:
    return {entry.hash for entry in entries[position:]}


def _verified(machine: str, instance_id: str, stored: StoredInstance) -> StoredInstance:
    """``stored``, if its records and head row are intact; else :class:`ChainBroken`."""
    problem = _check_chain(machine, instance_id, stored)
    if problem is not None:
        raise ChainBroken(problem)
    return stored


def check_witness(store: Store, heads: Sequence[InstanceHead]) -> list[ChainProblem]:
    """Where ``store`` no longer extends the chain ends ``heads`` saw (kept elsewhere).

    A chain a witness saw end at record N with hash H must still hold record N with hash
    H: cutting records off the end and rewinding the head, or rewriting a chain with
    recomputed hashes, is found here even though the chain itself stays consistent. An
    instance whose chain is broken is left to ``verify``, which names it.
    """
    problems: list[ChainProblem] = []
    for seen in heads:
        try:
            entries = store.load(seen.machine, seen.instance_id).entries
        except UnknownInstance:
            problems.append(
                ChainProblem(seen.machine, seen.instance_id, 1, "removed", "the instance is gone")
            )
            continue
        except ChainBroken:
            continue
        if len(entries) < seen.seq:
            problems.append(
                ChainProblem(
                    seen.machine,
                    seen.instance_id,
                    len(entries) + 1,
                    "removed",
                    f"the store holds {len(entries)} records; the witness saw {seen.seq}",
                )
            )
        elif seen.seq and entries[seen.seq - 1].hash != seen.hash:
            problems.append(
                ChainProblem(
                    seen.machine,
                    seen.instance_id,
                    seen.seq,
                    "altered",
                    "its hash is not the one the witness saw: the chain was rewritten",
                )
            )
    return problems


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


class MemoryStore:
    """A store in this process's memory: the runtime's behaviour without a database.

    Thread-safe; the same rules as :class:`SqlStore` (conflicts, hash chain), so code
    written against it moves to a database unchanged.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._instances: dict[tuple[str, str], StoredInstance] = {}
        """Each instance as stored, but for its records: kept apart in ``_records``."""
        self._records: dict[tuple[str, str], list[StoredRecord]] = {}

    def create(
        self, machine: str, instance_id: str, head: StoreHead, records: Sequence[Mapping[str, Any]]
    ) -> None:
        entries = _chain(machine, instance_id, 0, _GENESIS, records)
        with self._lock:
            if (machine, instance_id) in self._instances:
                raise InstanceExists(f"{machine} instance {instance_id!r} already exists")
            self._instances[machine, instance_id] = StoredInstance(
                head, len(entries), _last_hash(entries), 0, ()
            )
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
            _check_version(machine, instance_id, held.version, version)
            entries = self._records[machine, instance_id]
            entries += _chain(machine, instance_id, held.seq, held.head_hash, records)
            self._instances[machine, instance_id] = StoredInstance(
                head, len(entries), _last_hash(entries), version + 1, ()
            )

    def load(self, machine: str, instance_id: str) -> StoredInstance:
        return _verified(machine, instance_id, self._fetch(machine, instance_id))

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
        """As :meth:`SqlStore.walk` (here every record is verified before the first visit)."""
        stored = self._fetch(machine, instance_id)
        problem = _check_chain(machine, instance_id, stored, timers)
        if problem is not None:
            raise ChainBroken(problem)
        for entry in stored.entries:
            visit(json.loads(entry.body))
        return dataclasses.replace(stored, entries=())

    def _held(self, machine: str, instance_id: str) -> StoredInstance:
        held = self._instances.get((machine, instance_id))
        if held is None:
            raise UnknownInstance(f"no {machine} instance {instance_id!r} in this store")
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
            _check_chain(*key, stored, None if timers is None else timers.get(key[0]))
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


def _last_hash(entries: Sequence[StoredRecord]) -> str:
    return entries[-1].hash if entries else _GENESIS


def _check_version(machine: str, instance_id: str, stored: int, loaded: int) -> None:
    if stored != loaded:
        raise ConcurrencyConflict(
            f"{machine} instance {instance_id!r} changed since it was loaded (version "
            f"{stored}, not {loaded}): another writer came first; load it again and retry"
        )


class DBConnection(Protocol):
    """The part of a DB-API 2 connection a :class:`SqlStore` uses."""

    def cursor(self) -> Any: ...

    def commit(self) -> Any: ...

    def rollback(self) -> Any: ...

    def close(self) -> Any: ...


_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS statewright_instances ("
    " machine TEXT NOT NULL, instance_id TEXT NOT NULL, seq BIGINT NOT NULL,"
    " head TEXT NOT NULL, version BIGINT NOT NULL, state TEXT NOT NULL, deadline TEXT,"
    " PRIMARY KEY (machine, instance_id))",
    "CREATE INDEX IF NOT EXISTS statewright_due ON statewright_instances (machine, deadline)",
    "CREATE TABLE IF NOT EXISTS statewright_records ("
    " machine TEXT NOT NULL, instance_id TEXT NOT NULL, seq BIGINT NOT NULL,"
    " body TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL,"
    " PRIMARY KEY (machine, instance_id, seq))",
)

CHUNK = 1000
"""Records a :class:`SqlStore` reads per query when it walks or verifies chains."""

_HEADS_AT_ONCE = 200
"""Instances whose head rows :meth:`SqlStore.scan` reads in one query (two parameters
each: well within every SQLite's limit of 999)."""

_SCHEMA_LOCK = 7_230_461
"""PostgreSQL advisory lock taken while creating tables, so concurrent stores do not race."""


class SqlStore:
    """A store in SQL tables over a DB-API 2 connection: SQLite (``sqlite3``) or
    PostgreSQL (psycopg 3), one connection per store, one store per thread.

    The store takes over the connection's transactions: on SQLite it switches the
    connection to autocommit mode and opens each write with ``BEGIN IMMEDIATE`` (WAL,
    ``synchronous=FULL``); on PostgreSQL each write locks the instance's head row
    (``SELECT ... FOR UPDATE``) and reads run in ``REPEATABLE READ`` snapshots.
    """

    def __init__(
        self, connection: DBConnection, *, dialect: str | None = None, create: bool = True
    ) -> None:
        driver = type(connection).__module__.split(".")[0]
        self.dialect = dialect or _dialect_of(driver)
        if self.dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported SQL dialect {self.dialect!r}: sqlite or postgresql")
        paramstyle = getattr(sys.modules.get(driver), "paramstyle", "qmark")
        self._placeholder = "%s" if paramstyle in ("format", "pyformat") else "?"
        self._connection = connection
        self._cursor: Any = None
        self._depth = 0
        self._known: dict[tuple[str, str], tuple[int, int, str]] = {}
        """(version, seq, head hash) of the instances this store last wrote or read: a
        write at a known version needs no read first (the version check still guards)."""
        if isinstance(connection, sqlite3.Connection):
            connection.isolation_level = None
            if create:
                connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
        if not create:
            return
        with self._transaction(write=True) as cursor:
            if self.dialect == "postgresql":
                self._run(cursor, f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            for statement in _SCHEMA:
                self._run(cursor, statement)

    @classmethod
    def sqlite(cls, path: str, *, timeout: float = 60.0) -> SqlStore:
        """The embedded default: a SQLite file at ``path`` (created if missing), in WAL mode.

        ``timeout`` is how long a writer waits for another process's write lock.
        """
        return cls(sqlite3.connect(path, timeout=timeout, isolation_level=None))

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    def create(
        self, machine: str, instance_id: str, head: StoreHead, records: Sequence[Mapping[str, Any]]
    ) -> None:
        entries = _chain(machine, instance_id, 0, _GENESIS, records)
        with self._transaction(write=True) as cursor:
            self._run(
                cursor,
                "INSERT INTO statewright_instances"
                " (machine, instance_id, seq, head, version, state, deadline)"
                " VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT (machine, instance_id) DO NOTHING",
                (machine, instance_id, len(entries), _last_hash(entries), *_columns(head)),
            )
            if cursor.rowcount != 1:
                raise InstanceExists(f"{machine} instance {instance_id!r} already exists")
            self._insert(cursor, machine, instance_id, entries)
            self._known[machine, instance_id] = (0, len(entries), _last_hash(entries))

    def append(
        self,
        machine: str,
        instance_id: str,
        version: int,
        head: StoreHead,
        records: Sequence[Mapping[str, Any]],
    ) -> None:
        key = (machine, instance_id)
        with self._transaction(write=True) as cursor:
            known = self._known.get(key)
            if known is None or known[0] != version:
                known = self._read_head(cursor, machine, instance_id)
                _check_version(machine, instance_id, known[0], version)
            entries = _chain(machine, instance_id, known[1], known[2], records)
            self._run(
                cursor,
                "UPDATE statewright_instances"
                " SET seq = ?, head = ?, version = ?, state = ?, deadline = ?"
                " WHERE machine = ? AND instance_id = ? AND version = ?",
                (
                    known[1] + len(entries),
                    entries[-1].hash if entries else known[2],
                    version + 1,
                    *_columns(head),
                    machine,
                    instance_id,
                    version,
                ),
            )
            if cursor.rowcount != 1:
                stored = self._read_head(cursor, machine, instance_id)
                _check_version(machine, instance_id, stored[0], version)
            self._insert(cursor, machine, instance_id, entries)
            self._known[key] = (
                version + 1,
                known[1] + len(entries),
                entries[-1].hash if entries else known[2],
            )

    def _read_head(self, cursor: Any, machine: str, instance_id: str) -> tuple[int, int, str]:
        """The stored (version, seq, head hash) of an instance, locked until the commit."""
        lock = " FOR UPDATE" if self.dialect == "postgresql" else ""
        self._run(
            cursor,
            f"SELECT version, seq, head FROM statewright_instances"
            f" WHERE machine = ? AND instance_id = ?{lock}",
            (machine, instance_id),
        )
        row = cursor.fetchone()
        if row is None:
            raise UnknownInstance(f"no {machine} instance {instance_id!r} in this store")
        return int(row[0]), int(row[1]), str(row[2])

    def load(self, machine: str, instance_id: str) -> StoredInstance:
        loaded = _verified(machine, instance_id, self._fetch(machine, instance_id))
        if not self._depth:
            self._known[machine, instance_id] = (loaded.version, loaded.seq, loaded.head_hash)
        return loaded

    def _fetch(self, machine: str, instance_id: str) -> StoredInstance:
        """The instance as stored, unverified (what :meth:`load` checks)."""
        with self._transaction(write=False) as cursor:
            head = self._head_row(cursor, machine, instance_id)
            self._run(
                cursor,
                "SELECT seq, body, prev, hash FROM statewright_records"
                " WHERE machine = ? AND instance_id = ? ORDER BY seq",
                (machine, instance_id),
            )
            entries = tuple(StoredRecord(int(r[0]), r[1], r[2], r[3]) for r in cursor.fetchall())
        return dataclasses.replace(head, entries=entries)

    def _head_row(self, cursor: Any, machine: str, instance_id: str) -> StoredInstance:
        """The instance's head row, without its records."""
        self._run(
            cursor,
            "SELECT seq, head, version, state, deadline FROM statewright_instances"
            " WHERE machine = ? AND instance_id = ?",
            (machine, instance_id),
        )
        row = cursor.fetchone()
        if row is None:
            raise UnknownInstance(f"no {machine} instance {instance_id!r} in this store")
        return StoredInstance(StoreHead(row[3], row[4]), int(row[0]), row[1], int(row[2]), ())

    def walk(
        self,
        machine: str,
        instance_id: str,
        visit: Callable[[dict[str, Any]], None],
        timers: Timers | None = None,
    ) -> StoredInstance:
        """Read one instance's records oldest first, :data:`CHUNK` at a time, verify each
        as it is read and hand it to ``visit`` as its JSON object; return the head (with no
        entries). Memory stays one chunk, however long the instance.

        Raises :class:`ChainBroken` at the first record that fails, or after the last when
        the head row is not what they give (its deadline too, with the machine's
        ``timers``): ``visit`` may then have seen records, and nothing may act on them.
        :class:`UnknownInstance` if there is no such instance.
        """
        with self._transaction(write=False) as cursor:
            head = self._head_row(cursor, machine, instance_id)
            problem = self._walk(cursor, machine, instance_id, head, visit, timers)
        if problem is not None:
            raise ChainBroken(problem)
        return head

    def _walk(
        self,
        cursor: Any,
        machine: str,
        instance_id: str,
        head: StoredInstance,
        visit: Callable[[dict[str, Any]], None],
        timers: Timers | None,
    ) -> ChainProblem | None:
        """What :meth:`walk` finds wrong with the instance, or None; ``visit`` sees each
        record that extends the chain, until one does not."""
        walk = _Walk(machine, instance_id)
        while True:
            after = ("", ()) if not walk.seq else (" AND seq > ?", (walk.seq,))
            self._run(
                cursor,
                "SELECT seq, body, prev, hash FROM statewright_records"
                f" WHERE machine = ? AND instance_id = ?{after[0]} ORDER BY seq LIMIT {CHUNK}",
                (machine, instance_id, *after[1]),
            )
            rows = cursor.fetchall()
            for position, row in enumerate(rows, start=walk.seq + 1):
                entry = StoredRecord(int(row[0]), row[1], row[2], row[3])
                record = walk.step(entry)
                if record is None:
                    return _diagnose(
                        machine,
                        instance_id,
                        entry,
                        position,
                        walk.prev,
                        functools.partial(self._later, cursor, machine, instance_id, entry.seq),
                    )
                visit(record)
            if len(rows) < CHUNK:
                return walk.end(head, timers)

    def _later(self, cursor: Any, machine: str, instance_id: str, seq: int) -> set[str]:
        """The hashes of the instance's records stored after record ``seq``."""
        self._run(
            cursor,
            "SELECT hash FROM statewright_records WHERE machine = ? AND instance_id = ?"
            " AND seq > ?",
            (machine, instance_id, seq),
        )
        return {str(row[0]) for row in cursor.fetchall()}

    def due(self, machine: str, now: str, limit: int | None = None) -> list[str]:
        with self._transaction(write=False) as cursor:
            self._run(
                cursor,
                "SELECT instance_id FROM statewright_instances"
                " WHERE machine = ? AND deadline IS NOT NULL AND deadline <= ?"
                " ORDER BY deadline, instance_id"
                + ("" if limit is None else f" LIMIT {int(limit)}"),
                (machine, now),
            )
            return [str(row[0]) for row in cursor.fetchall()]

    def verify(
        self, machine: str | None = None, *, timers: Mapping[str, Timers] | None = None
    ) -> list[ChainProblem]:
        """Every instance's chain and head row, read :data:`CHUNK` records at a time (one
        hash and one JSON parse per record; memory for the head rows and one chunk). An
        instance that fails is walked again on its own, to say what was done to it."""
        mine, params = ("", ()) if machine is None else ("machine = ?", (machine,))
        timers = timers or {}
        problems: dict[tuple[str, str], ChainProblem] = {}
        with self._transaction(write=False) as cursor:
            heads = self._heads(cursor, mine, params)
            walks = self._scan(cursor, mine, params)
            seen: set[tuple[str, str]] = set()
            broken: list[tuple[str, str]] = []
            for walk, intact, _ in walks:
                key = (walk.machine, walk.instance_id)
                seen.add(key)
                head = heads.get(key)
                found: ChainProblem | None
                if head is None:
                    found = ChainProblem(*key, 0, "removed", "its head row is gone; records remain")
                elif not intact:
                    broken.append(key)
                    continue
                else:
                    found = walk.end(head, timers.get(key[0]))
                if found is not None:
                    problems[key] = found
            for key in heads.keys() - seen:  # instances without records
                found = _Walk(*key).end(heads[key], timers.get(key[0]))
                if found is not None:
                    problems[key] = found
            for key in broken:
                found = self._walk(cursor, *key, heads[key], _ignore, timers.get(key[0]))
                problems[key] = found or ChainProblem(*key, 0, "altered", "it changed while read")
        return [problems[key] for key in sorted(problems)]

    def _heads(
        self, cursor: Any, mine: str, params: Sequence[Any]
    ) -> dict[tuple[str, str], StoredInstance]:
        """Every head row (of one machine, with ``mine``), by machine and instance id."""
        self._run(
            cursor,
            "SELECT seq, head, version, state, deadline, machine, instance_id"
            " FROM statewright_instances" + (f" WHERE {mine}" if mine else ""),
            params,
        )
        return {
            (str(r[5]), str(r[6])): StoredInstance(
                StoreHead(r[3], r[4]), int(r[0]), r[1], int(r[2]), ()
            )
            for r in cursor.fetchall()
        }

    def scan(
        self, machine: str | None = None, *, timers: Mapping[str, Timers] | None = None
    ) -> Generator[tuple[str, str, list[dict[str, Any]] | ChainProblem], None, None]:
        """Every instance that has records, verified, one at a time in (machine, instance
        id) order: its records as JSON objects, oldest first, or the :class:`ChainProblem`
        of a chain or head row that fails, as :meth:`verify` finds it (its deadline too,
        for the machines ``timers`` names).

        What reading a whole store needs: one query per :data:`CHUNK` records and one for
        the head rows of every 200 instances, in one read transaction; memory for those
        200 instances, however many the store holds. (An instance without
        records is :meth:`verify`'s to find.)"""
        mine, params = ("", ()) if machine is None else ("machine = ?", (machine,))
        timers = timers or {}
        with self._transaction(write=False) as cursor:
            batch: list[tuple[_Walk, bool, list[dict[str, Any]]]] = []
            for found in self._scan(cursor, mine, params, keep=True):
                batch.append(found)
                if len(batch) == _HEADS_AT_ONCE:
                    yield from self._verified_batch(cursor, batch, timers)
                    batch = []
            yield from self._verified_batch(cursor, batch, timers)

    def _verified_batch(
        self,
        cursor: Any,
        batch: Sequence[tuple[_Walk, bool, list[dict[str, Any]]]],
        timers: Mapping[str, Timers],
    ) -> Iterator[tuple[str, str, list[dict[str, Any]] | ChainProblem]]:
        """The instances ``batch`` walked, each against its head row (read for all at once)."""
        if not batch:
            return
        keys = [(walk.machine, walk.instance_id) for walk, _, _ in batch]
        self._run(
            cursor,
            "SELECT seq, head, version, state, deadline, machine, instance_id"
            " FROM statewright_instances WHERE (machine, instance_id) IN ("
            + ", ".join(["(?, ?)"] * len(keys))
            + ")",
            [part for key in keys for part in key],
        )
        heads = {
            (str(r[5]), str(r[6])): StoredInstance(
                StoreHead(r[3], r[4]), int(r[0]), r[1], int(r[2]), ()
            )
            for r in cursor.fetchall()
        }
        for (walk, intact, records), key in zip(batch, keys, strict=True):
            head = heads.get(key)
            found: ChainProblem | None
            if head is None:
                found = ChainProblem(*key, 0, "removed", "its head row is gone; records remain")
            elif not intact:
                found = self._walk(cursor, *key, head, _ignore, timers.get(key[0]))
                found = found or ChainProblem(*key, 0, "altered", "it changed while read")
            else:
                found = walk.end(head, timers.get(key[0]))
            yield (*key, records if found is None else found)

    def _scan(
        self, cursor: Any, mine: str, params: Sequence[Any], *, keep: bool = False
    ) -> Iterator[tuple[_Walk, bool, list[dict[str, Any]]]]:
        """Walk every instance's records in (machine, instance id, seq) order, a chunk at a
        time: each instance's walk once its records are read, whether all extended it and,
        with ``keep``, the records (while they extend it)."""
        walk: _Walk | None = None
        intact = True
        kept: list[dict[str, Any]] = []
        after: tuple[Any, ...] = ()
        while True:
            where = [mine] if mine else []
            if after:
                where.append("(machine, instance_id, seq) > (?, ?, ?)")
            self._run(
                cursor,
                "SELECT machine, instance_id, seq, body, prev, hash FROM statewright_records"
                + (f" WHERE {' AND '.join(where)}" if where else "")
                + f" ORDER BY machine, instance_id, seq LIMIT {CHUNK}",
                (*params, *after),
            )
            rows = cursor.fetchall()
            for row in rows:
                if walk is None or walk.machine != row[0] or walk.instance_id != row[1]:
                    if walk is not None:
                        yield walk, intact, kept
                    walk, intact, kept = _Walk(str(row[0]), str(row[1])), True, []
                if intact:
                    record = walk.row(int(row[2]), row[3], row[4], row[5])
                    intact = record is not None
                    if keep and record is not None:
                        kept.append(record)
            if len(rows) < CHUNK:
                break
            after = (rows[-1][0], rows[-1][1], rows[-1][2])
        if walk is not None:
            yield walk, intact, kept

    def version(self, machine: str, instance_id: str) -> int:
        with self._transaction(write=False) as cursor:
            self._run(
                cursor,
                "SELECT version FROM statewright_instances WHERE machine = ? AND instance_id = ?",
                (machine, instance_id),
            )
            row = cursor.fetchone()
        if row is None:
            raise UnknownInstance(f"no {machine} instance {instance_id!r} in this store")
        return int(row[0])

    def heads(self, machine: str | None = None) -> list[InstanceHead]:
        where, params = ("", ()) if machine is None else (" WHERE machine = ?", (machine,))
        with self._transaction(write=False) as cursor:
            self._run(
                cursor,
                "SELECT machine, instance_id, seq, head FROM statewright_instances"
                f"{where} ORDER BY machine, instance_id",
                params,
            )
            rows = cursor.fetchall()
        return [InstanceHead(str(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows]

    def instances(self, machine: str | None = None) -> list[tuple[str, str, StoreHead]]:
        """Every instance's machine, id and head (state and deadline), by machine and id."""
        where, params = ("", ()) if machine is None else (" WHERE machine = ?", (machine,))
        with self._transaction(write=False) as cursor:
            self._run(
                cursor,
                "SELECT machine, instance_id, state, deadline FROM statewright_instances"
                f"{where} ORDER BY machine, instance_id",
                params,
            )
            rows = cursor.fetchall()
        return [(str(r[0]), str(r[1]), StoreHead(str(r[2]), r[3])) for r in rows]

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        with self._transaction(write=True) as cursor:
            self._cursor, self._depth = cursor, 1
            try:
                yield
            finally:
                self._cursor, self._depth = None, 0

    @contextlib.contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Any]:
        if self._depth:
            yield self._cursor
            return
        cursor = self._connection.cursor()
        try:
            if self.dialect == "sqlite":
                cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            elif getattr(self._connection, "autocommit", False):
                cursor.execute("BEGIN" if write else "BEGIN ISOLATION LEVEL REPEATABLE READ")
            elif not write:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield cursor
            self._connection.commit()
        except BaseException:
            self._known.clear()
            with contextlib.suppress(Exception):
                self._connection.rollback()
            raise
        finally:
            cursor.close()

    def _run(self, cursor: Any, sql: str, params: Sequence[Any] = ()) -> None:
        cursor.execute(sql.replace("?", self._placeholder), params)

    def _insert(
        self, cursor: Any, machine: str, instance_id: str, entries: list[StoredRecord]
    ) -> None:
        if entries:
            cursor.executemany(
                "INSERT INTO statewright_records (machine, instance_id, seq, body, prev, hash)"
                " VALUES (?, ?, ?, ?, ?, ?)".replace("?", self._placeholder),
                [(machine, instance_id, e.seq, e.body, e.prev, e.hash) for e in entries],
            )


def _ignore(record: dict[str, Any]) -> None:
    """A visitor that keeps nothing: the walk only verifies."""


def _dialect_of(driver: str) -> str:
    if driver == "sqlite3":
        return "sqlite"
    if driver in ("psycopg", "psycopg2", "pg8000"):
        return "postgresql"
    raise ValueError(
        f"cannot tell the SQL dialect of a {driver} connection: pass dialect='sqlite' or "
        "dialect='postgresql'"
    )


def _columns(head: StoreHead) -> tuple[str, str | None]:
    return head.state, head.deadline
