"""The store in SQL tables over a DB-API 2 connection: SQLite or PostgreSQL.

Two tables: ``statewright_instances`` holds each instance's head row (its state and
deadline, the number and hash of its last record, its version, and its ``arrival``: set
when records arrive that no worker has delivered yet, an order number that only grows,
cleared by the worker once it has delivered them), ``statewright_records`` its records
(number, canonical JSON body, the previous hash and its own). Instances with an arrival
are indexed (a partial index), so a worker's claim reads what is due, oldest first,
however many instances have finished.

New work is announced on PostgreSQL: a write that creates an instance or appends to one
sends ``NOTIFY`` on the machine's channel (:func:`channel`; in the same statement, so no
round trip is added), delivered when it commits, and an idle worker waits on it
(:meth:`SqlStore.listen`) instead of polling. Workers write their own commits unannounced
(:meth:`SqlStore.unannounced`): they go on with that work themselves. What differs
between the two databases (how a transaction opens, how a write locks the head row, how
concurrent schema creation waits) is a :class:`Dialect`; the rest is one SQL text, its
``?`` placeholders turned into the driver's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import sqlite3
import sys
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .chain import ChainBroken, ChainProblem, Walk, extended, started, verified
from .stored import (
    ConcurrencyConflict,
    InstanceExists,
    InstanceHead,
    StoredInstance,
    StoredRecord,
    StoreHead,
    Timers,
    UnknownInstance,
    check_version,
)

__all__ = [
    "CHUNK",
    "POSTGRESQL",
    "SCHEMA_LOCK",
    "SQLITE",
    "DBConnection",
    "Dialect",
    "SqlStore",
    "channel",
]


def channel(machine: str) -> str:
    """The PostgreSQL ``NOTIFY`` channel on which new work of ``machine`` is announced:
    ``statewright:<machine>``, or a hash of the machine for a name too long (63 bytes)."""
    name = f"statewright:{machine}"
    if len(name.encode()) <= 63:
        return name
    return "statewright:" + hashlib.sha256(machine.encode()).hexdigest()[:48]


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
    " arrival BIGINT, PRIMARY KEY (machine, instance_id))",
    "CREATE INDEX IF NOT EXISTS statewright_due ON statewright_instances (machine, deadline)",
    # the instances in a state (the console's inbox: those at an approval gate), by deadline
    "CREATE INDEX IF NOT EXISTS statewright_state"
    " ON statewright_instances (machine, state, deadline)",
    "CREATE TABLE IF NOT EXISTS statewright_records ("
    " machine TEXT NOT NULL, instance_id TEXT NOT NULL, seq BIGINT NOT NULL,"
    " body TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL,"
    " PRIMARY KEY (machine, instance_id, seq))",
)

_CLAIMABLE = (
    "CREATE INDEX IF NOT EXISTS statewright_claimable ON statewright_instances"
    " (machine, arrival, instance_id) WHERE arrival IS NOT NULL"
)
"""The instances with records no worker has delivered, in order of arrival (and id, the
order a claim walks them in: one index step per instance, no sort)."""

_NEXT_ARRIVAL = (
    "(SELECT COALESCE(MAX(a.arrival), 0) + 1 FROM statewright_instances a"
    " WHERE a.machine = ? AND a.arrival IS NOT NULL)"
)
"""The arrival number of an instance whose records are now due: after every instance's
that is due already (read from the end of :data:`_CLAIMABLE`)."""

CHUNK = 1000
"""Records a :class:`SqlStore` reads per query when it walks or verifies chains."""

_HEADS_AT_ONCE = 200
"""Instances whose head rows :meth:`SqlStore.scan` reads in one query."""

SCHEMA_LOCK = 7_230_461
"""PostgreSQL advisory lock taken while creating tables, so concurrent stores do not race."""


@dataclass(frozen=True, slots=True)
class Dialect:
    """What a :class:`SqlStore` writes differently for one SQL database."""

    name: str
    begin_write: str
    """Opens a transaction that writes."""
    begin_read: str
    """Opens a transaction that only reads, in one snapshot."""
    read_snapshot: str | None
    """Makes a transaction the driver opened on its own read in one snapshot."""
    lock_row: str
    """Appended to the ``SELECT`` of a head row a write is about to change."""
    schema_lock: str | None
    """Makes concurrent ``CREATE TABLE``\\ s wait for one another (they would collide)."""
    opens_transactions: bool
    """The store opens every transaction itself (it puts a SQLite connection in
    autocommit mode); otherwise only when the connection is in autocommit mode."""

    def begin(self, connection: object, *, write: bool) -> str | None:
        """The statement that opens a transaction on ``connection``, if one is needed."""
        if self.opens_transactions or getattr(connection, "autocommit", False):
            return self.begin_write if write else self.begin_read
        return None if write else self.read_snapshot


SQLITE = Dialect(
    name="sqlite",
    begin_write="BEGIN IMMEDIATE",
    begin_read="BEGIN",
    read_snapshot=None,
    lock_row="",
    schema_lock=None,
    opens_transactions=True,
)
POSTGRESQL = Dialect(
    name="postgresql",
    begin_write="BEGIN",
    begin_read="BEGIN ISOLATION LEVEL REPEATABLE READ",
    read_snapshot="SET TRANSACTION ISOLATION LEVEL REPEATABLE READ",
    lock_row=" FOR UPDATE",
    schema_lock=f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})",
    opens_transactions=False,
)
_DIALECTS = {dialect.name: dialect for dialect in (SQLITE, POSTGRESQL)}


def _dialect_of(driver: str) -> str:
    if driver == "sqlite3":
        return "sqlite"
    if driver in ("psycopg", "psycopg2", "pg8000"):
        return "postgresql"
    raise ValueError(
        f"cannot tell the SQL dialect of a {driver} connection: pass dialect='sqlite' or "
        "dialect='postgresql'"
    )


_HEAD_ROW = "SELECT seq, head, version, state, deadline FROM statewright_instances"
"""The columns of a head row, in the order :func:`_head_row` reads them."""


def _head_row(row: Sequence[Any]) -> StoredInstance:
    """A head row, read by :data:`_HEAD_ROW`: an instance without its records."""
    return StoredInstance(StoreHead(row[3], row[4]), int(row[0]), row[1], int(row[2]))


STAGED_HEAD = (
    "UPDATE statewright_instances SET seq = ?, head = ?, version = ?, state = ?, deadline = ?,"
    " arrival = {arrival} WHERE machine = ? AND instance_id = ? AND version = ?{guard} RETURNING 1"
)
"""A held-back append's head row write (:meth:`SqlStore.staged`), for a ``WITH`` clause;
its parameters :meth:`Staged.head_params` (``arrival``: :data:`STAGED_ARRIVAL`, or NULL
when the write delivers the instance's last record; ``guard``: a further condition, or
nothing)."""

STAGED_ARRIVAL = f"COALESCE(arrival, {_NEXT_ARRIVAL})"
"""An appended instance's arrival: kept, or the next (its records are due)."""

STAGED_RECORDS = (
    "INSERT INTO statewright_records (machine, instance_id, seq, body, prev, hash)"
    " SELECT * FROM (VALUES {rows}) AS v (machine, instance_id, seq, body, prev, hash)"
    " WHERE EXISTS (SELECT 1 FROM head)"
)
"""A held-back append's records, written only if its head row was (the ``head`` clause)."""

STAGED_ROW = "(?, ?, CAST(? AS BIGINT), ?, ?, ?)"


@dataclass(frozen=True, slots=True)
class Staged:
    """An append held back (:meth:`SqlStore.staged`): the instance, the version it was
    loaded at, and the head row and records to write."""

    machine: str
    instance_id: str
    version: int
    head: StoreHead
    row: StoredInstance
    entries: list[StoredRecord]

    def head_params(self, *, arrival: bool = True) -> tuple[Any, ...]:
        """The parameters of :data:`STAGED_HEAD` (``arrival``: with :data:`STAGED_ARRIVAL`'s)."""
        row, head = self.row, self.head
        keys = (self.machine, self.instance_id, self.version)
        own = (self.machine,) if arrival else ()
        return (row.seq, row.head_hash, row.version, head.state, head.deadline, *own, *keys)

    def record_params(self) -> tuple[Any, ...]:
        """The parameters of :data:`STAGED_RECORDS`' rows (one :data:`STAGED_ROW` each)."""
        return tuple(
            part
            for e in self.entries
            for part in (self.machine, self.instance_id, e.seq, e.body, e.prev, e.hash)
        )


_STORED = (
    "SELECT i.seq, i.head, i.version, i.state, i.deadline, r.seq, r.body, r.prev, r.hash"
    " FROM statewright_instances i LEFT JOIN statewright_records r"
    " ON r.machine = i.machine AND r.instance_id = i.instance_id"
)
"""An instance's head row joined with its records, as :func:`_stored` reads them."""


def _stored(rows: Sequence[Sequence[Any]]) -> StoredInstance:
    """An instance as stored, from its rows read by :data:`_STORED` (oldest record first)."""
    entries = tuple(StoredRecord(int(r[5]), r[6], r[7], r[8]) for r in rows if r[5] is not None)
    return dataclasses.replace(_head_row(rows[0][:5]), entries=entries)


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
        if self.dialect not in _DIALECTS:
            raise ValueError(f"unsupported SQL dialect {self.dialect!r}: sqlite or postgresql")
        self._dialect = _DIALECTS[self.dialect]
        paramstyle = getattr(sys.modules.get(driver), "paramstyle", "qmark")
        self._placeholder = "%s" if paramstyle in ("format", "pyformat") else "?"
        self._connection = connection
        self._cursor: Any = None
        self._depth = 0
        self._spare: Any = None
        """A cursor of the connection's no transaction uses: the next one's."""
        self._known: dict[tuple[str, str], StoredInstance] = {}
        """The head rows of the instances this store last wrote or read: a write at a
        known version needs no read first (the version check still guards)."""
        if isinstance(connection, sqlite3.Connection):
            connection.isolation_level = None
            if create:
                connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=FULL")
        self._quiet = False
        """Whether writes go unannounced (:meth:`unannounced`)."""
        self._staging = False
        """Whether an unannounced append is held back (:meth:`staged`)."""
        self._staged: Staged | None = None
        """The append held back, if any."""
        self._arrival: bool | None = None
        """Whether the head rows have the ``arrival`` column (None: not looked yet)."""
        if not create:
            return
        with self._transaction(write=True) as cursor:
            if self._dialect.schema_lock is not None:
                self._run(cursor, self._dialect.schema_lock)
            for statement in _SCHEMA:
                self._run(cursor, statement)
            self._add_arrival(cursor)

    def _add_arrival(self, cursor: Any) -> None:
        """Give a table made before ``arrival`` existed the column, set for every
        instance some records of which no worker delivered, and index it."""
        if "arrival" not in self._columns(cursor, "statewright_instances"):
            self._run(cursor, "ALTER TABLE statewright_instances ADD COLUMN arrival BIGINT")
            undelivered = ""
            if self._columns(cursor, "statewright_outbox"):
                undelivered = (
                    " WHERE NOT EXISTS (SELECT 1 FROM statewright_outbox o"
                    " WHERE o.machine = statewright_instances.machine"
                    " AND o.instance_id = statewright_instances.instance_id"
                    " AND o.delivered >= statewright_instances.seq)"
                )
            self._run(cursor, f"UPDATE statewright_instances SET arrival = 1{undelivered}")
        self._index_claimable(cursor)
        self._arrival = True

    def _index_claimable(self, cursor: Any) -> None:
        """Make the :data:`_CLAIMABLE` index, or make it again where an older store has it
        without the instance id (claims would sort every due instance to walk it)."""
        if self.dialect == "postgresql":
            self._run(
                cursor,
                "SELECT indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                " AND indexname = 'statewright_claimable'",
            )
        else:
            self._run(
                cursor,
                "SELECT sql FROM sqlite_master WHERE type = 'index'"
                " AND name = 'statewright_claimable'",
            )
        row = cursor.fetchone()
        if row is not None and "instance_id" not in str(row[0]):
            self._run(cursor, "DROP INDEX statewright_claimable")
        self._run(cursor, _CLAIMABLE)

    def _columns(self, cursor: Any, table: str) -> set[str]:
        """The names of ``table``'s columns (none if there is no such table)."""
        if self.dialect == "postgresql":
            self._run(
                cursor,
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = ?",
                (table,),
            )
            return {str(row[0]) for row in cursor.fetchall()}
        self._run(cursor, f"PRAGMA table_info({table})")
        return {str(row[1]) for row in cursor.fetchall()}

    def _arrives(self, cursor: Any) -> bool:
        """Whether writes keep ``arrival`` (a store opened with ``create=False`` on a
        table made before it does not)."""
        if self._arrival is None:
            self._arrival = "arrival" in self._columns(cursor, "statewright_instances")
        return self._arrival

    @classmethod
    def sqlite(cls, path: str, *, timeout: float = 60.0) -> SqlStore:
        """The embedded default: a SQLite file at ``path`` (created if missing), in WAL mode.

        ``timeout`` is how long a writer waits for another process's write lock.
        """
        return cls(sqlite3.connect(path, timeout=timeout, isolation_level=None))

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()

    # -- writing ------------------------------------------------------------------------

    def create(
        self, machine: str, instance_id: str, head: StoreHead, records: Sequence[Mapping[str, Any]]
    ) -> None:
        row, entries = started(machine, instance_id, head, records)
        with self._transaction(write=True) as cursor:
            arrival = (", arrival", f", {_NEXT_ARRIVAL}", (machine,))
            column, value, params = arrival if self._arrives(cursor) else ("", "", ())
            self._run(
                cursor,
                "INSERT INTO statewright_instances"
                f" (machine, instance_id, seq, head, version, state, deadline{column})"
                f" VALUES (?, ?, ?, ?, ?, ?, ?{value}) ON CONFLICT (machine, instance_id)"
                f" DO NOTHING{self._announce()}",
                (
                    machine,
                    instance_id,
                    row.seq,
                    row.head_hash,
                    row.version,
                    head.state,
                    head.deadline,
                    *params,
                    *self._channel(machine),
                ),
            )
            if cursor.rowcount != 1:
                raise InstanceExists.of(machine, instance_id)
            self._insert(cursor, machine, instance_id, entries)
            self._known[machine, instance_id] = row

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
            self._flush_staged(cursor)
            held = self._known.get(key)
            if held is None or held.version != version:
                held = self._locked_row(cursor, machine, instance_id)
            row, entries = extended(machine, instance_id, held, version, head, records)
            if self._staging and entries and self._arrives(cursor) and not self._announcing():
                self._staged = Staged(machine, instance_id, version, head, row, entries)
                self._known[key] = row  # as written: a write that fails rolls back and forgets
                return
            arrival = (f", arrival = COALESCE(arrival, {_NEXT_ARRIVAL})", (machine,))
            assignment, params = arrival if self._arrives(cursor) else ("", ())
            self._run(
                cursor,
                "UPDATE statewright_instances"
                f" SET seq = ?, head = ?, version = ?, state = ?, deadline = ?{assignment}"
                f" WHERE machine = ? AND instance_id = ? AND version = ?{self._announce()}",
                (
                    row.seq,
                    row.head_hash,
                    row.version,
                    head.state,
                    head.deadline,
                    *params,
                    machine,
                    instance_id,
                    version,
                    *self._channel(machine),
                ),
            )
            if cursor.rowcount != 1:
                stored = self._locked_row(cursor, machine, instance_id)
                check_version(machine, instance_id, stored.version, version)
            self._insert(cursor, machine, instance_id, entries)
            self._known[key] = row

    # -- an append written with what follows it (PostgreSQL) ------------------------------

    @contextlib.contextmanager
    def staged(self) -> Iterator[None]:
        """Inside ``batch()``: hold the next unannounced :meth:`append` back, so that the
        write that follows it (a worker's moved delivery cursor, :meth:`take_staged`)
        sends both in one statement; one not taken is written as usual before the next
        statement or at the end. PostgreSQL only (elsewhere appends are written at once).

        A held-back append is checked (its version, ``ConcurrencyConflict``) when it is
        written, not when the machine made it: a caller whose batch then fails must drop
        the instance it holds in memory and load it again (the worker does)."""
        staging = self._staging
        self._staging = self.dialect == "postgresql" and self._depth > 0
        try:
            yield
            if self._staged is not None:
                self._flush_staged(self._cursor)
        finally:
            self._staging, self._staged = staging, None

    def take_staged(self, machine: str, instance_id: str) -> Staged | None:
        """The append :meth:`staged` holds back for the instance, now the caller's to write
        (:data:`STAGED_HEAD`, :data:`STAGED_RECORDS`); None if none is held. One held for
        another instance is written first."""
        staged, self._staged = self._staged, None
        if staged is None or (staged.machine, staged.instance_id) == (machine, instance_id):
            return staged
        self._staged = staged
        self._flush_staged(self._cursor)
        return None

    def staged_conflict(self, cursor: Any, staged: Staged) -> None:
        """Raise what :meth:`append` raises when the head row did not match ``staged``'s
        version: :class:`~.stored.ConcurrencyConflict` (or ``UnknownInstance``)."""
        self._known.pop((staged.machine, staged.instance_id), None)
        stored = self._locked_row(cursor, staged.machine, staged.instance_id)
        check_version(staged.machine, staged.instance_id, stored.version, staged.version)
        raise ConcurrencyConflict(
            f"{staged.machine} instance {staged.instance_id!r} was not written at version "
            f"{staged.version}: load it again and retry"
        )

    def _flush_staged(self, cursor: Any) -> None:
        """Write the append :meth:`staged` holds back, as :meth:`append` would have."""
        staged, self._staged = self._staged, None
        if staged is None:
            return
        self._run(
            cursor,
            f"WITH head AS ({STAGED_HEAD.format(arrival=STAGED_ARRIVAL, guard='')})"
            " SELECT count(*) FROM head",
            staged.head_params(),
        )
        row = cursor.fetchone()
        if row is None or int(row[0]) != 1:
            self.staged_conflict(cursor, staged)
        self._insert(cursor, staged.machine, staged.instance_id, staged.entries)

    # -- announcing new work (PostgreSQL) -------------------------------------------------

    def _announce(self) -> str:
        """What a head row's write ends with to ``NOTIFY`` the machine's channel when it
        commits (PostgreSQL, unless :meth:`unannounced`): one statement, no round trip."""
        return " RETURNING pg_notify(?, '')" if self._announcing() else ""

    def _channel(self, machine: str) -> tuple[str, ...]:
        return (channel(machine),) if self._announcing() else ()

    def _announcing(self) -> bool:
        return self.dialect == "postgresql" and not self._quiet

    @contextlib.contextmanager
    def unannounced(self) -> Iterator[None]:
        """Write without announcing the new work: for a worker's own commits, which it
        goes on with itself (announcing them would only wake idle workers for nothing)."""
        quiet, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = quiet

    def listen(self, machine: str) -> Callable[[float], bool] | None:
        """Start listening for new work of ``machine`` (``LISTEN`` on its :func:`channel`)
        and return a function that waits up to a number of seconds for it: True when
        woken by an announcement (all those received so far are taken), False at the end
        of the wait. None when the connection cannot wait for notifications (SQLite, or a
        driver without psycopg 3's ``notifies()``): poll instead."""
        notifies = getattr(self._connection, "notifies", None)
        if self.dialect != "postgresql" or not callable(notifies):
            return None
        quoted = '"' + channel(machine).replace('"', '""') + '"'
        with self._transaction(write=True) as cursor:
            cursor.execute(f"LISTEN {quoted}")

        def wait(seconds: float) -> bool:
            return bool(list(notifies(timeout=max(seconds, 0.0), stop_after=1)))

        return wait

    def _locked_row(self, cursor: Any, machine: str, instance_id: str) -> StoredInstance:
        """The instance's head row, locked until the commit."""
        return self._row(cursor, machine, instance_id, self._dialect.lock_row)

    def _insert(
        self, cursor: Any, machine: str, instance_id: str, entries: list[StoredRecord]
    ) -> None:
        if entries:
            cursor.executemany(
                "INSERT INTO statewright_records (machine, instance_id, seq, body, prev, hash)"
                " VALUES (?, ?, ?, ?, ?, ?)".replace("?", self._placeholder),
                [(machine, instance_id, e.seq, e.body, e.prev, e.hash) for e in entries],
            )

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

    # -- reading ------------------------------------------------------------------------

    def load(self, machine: str, instance_id: str) -> StoredInstance:
        loaded = verified(machine, instance_id, self._fetch(machine, instance_id))
        if not self._depth:
            self._known[machine, instance_id] = dataclasses.replace(loaded, entries=())
        return loaded

    def _fetch(self, machine: str, instance_id: str) -> StoredInstance:
        """The instance as stored, unverified (what :meth:`load` checks): its head row and
        records in one statement, so in one snapshot without opening a transaction for it
        (one round trip where a worker loads an instance)."""
        with self._transaction(write=False, single=True) as cursor:
            self._run(
                cursor,
                _STORED + " WHERE i.machine = ? AND i.instance_id = ? ORDER BY r.seq",
                (machine, instance_id),
            )
            rows = cursor.fetchall()
        if not rows:
            raise UnknownInstance.of(machine, instance_id)
        return _stored(rows)

    def _row(self, cursor: Any, machine: str, instance_id: str, lock: str = "") -> StoredInstance:
        """The instance's head row, without its records."""
        where = f" WHERE machine = ? AND instance_id = ?{lock}"
        self._run(cursor, _HEAD_ROW + where, (machine, instance_id))
        row = cursor.fetchone()
        if row is None:
            raise UnknownInstance.of(machine, instance_id)
        return _head_row(row)

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

        Raises :class:`~.chain.ChainBroken` at the first record that fails, or after the
        last when the head row is not what they give (its deadline too, with the machine's
        ``timers``): ``visit`` may then have seen records, and nothing may act on them.
        :class:`~.stored.UnknownInstance` if there is no such instance.
        """
        with self._transaction(write=False) as cursor:
            row = self._row(cursor, machine, instance_id)
            problem = self._walk(cursor, machine, instance_id, row, visit, timers)
        if problem is not None:
            raise ChainBroken(problem)
        return row

    def _walk(
        self,
        cursor: Any,
        machine: str,
        instance_id: str,
        row: StoredInstance,
        visit: Callable[[dict[str, Any]], None] | None,
        timers: Timers | None,
    ) -> ChainProblem | None:
        """What :meth:`walk` finds wrong with the instance, or None; ``visit`` sees each
        record that extends the chain, until one does not."""

        def later(position: int, entry: StoredRecord) -> set[str]:
            """The hashes of the instance's records stored after ``entry``."""
            self._run(
                cursor,
                "SELECT hash FROM statewright_records WHERE machine = ? AND instance_id = ?"
                " AND seq > ?",
                (machine, instance_id, entry.seq),
            )
            return {str(found[0]) for found in cursor.fetchall()}

        walk = Walk(machine, instance_id)
        while True:
            after = ("", ()) if not walk.seq else (" AND seq > ?", (walk.seq,))
            self._run(
                cursor,
                "SELECT seq, body, prev, hash FROM statewright_records"
                f" WHERE machine = ? AND instance_id = ?{after[0]} ORDER BY seq LIMIT {CHUNK}",
                (machine, instance_id, *after[1]),
            )
            rows = cursor.fetchall()
            entries = [StoredRecord(int(r[0]), r[1], r[2], r[3]) for r in rows]
            problem = walk.run(entries, later, visit)
            if problem is not None:
                return problem
            if len(rows) < CHUNK:
                return walk.end(row, timers)

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
                found = Walk(*key).end(heads[key], timers.get(key[0]))
                if found is not None:
                    problems[key] = found
            for key in broken:
                found = self._walk(cursor, *key, heads[key], None, timers.get(key[0]))
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
        return {(str(r[5]), str(r[6])): _head_row(r) for r in cursor.fetchall()}

    def scan(
        self, machine: str | None = None, *, timers: Mapping[str, Timers] | None = None
    ) -> Generator[tuple[str, str, list[dict[str, Any]] | ChainProblem], None, None]:
        """Every instance that has records, verified, one at a time in (machine, instance
        id) order: its records as JSON objects, oldest first, or the :class:`ChainProblem`
        of a chain or head row that fails, as :meth:`verify` finds it (its deadline too,
        for the machines ``timers`` names).

        What reading a whole store needs: one query per :data:`CHUNK` records and one for
        the head rows of every 200 instances, in one read transaction; memory for one
        chunk, one instance's records and 200 head rows, however many the store holds. (An
        instance without records is :meth:`verify`'s to find.)"""
        mine, params = ("", ()) if machine is None else ("machine = ?", (machine,))
        timers = timers or {}
        heads: dict[tuple[str, str], StoredInstance] = {}
        with self._transaction(write=False) as cursor:
            for walk, intact, records in self._scan(cursor, mine, params, keep=True):
                key = (walk.machine, walk.instance_id)
                head = heads.get(key)
                if head is None:  # the head rows from this instance's on, read ahead
                    heads = self._heads_from(cursor, mine, params, key)
                    head = heads.get(key)
                found: ChainProblem | None
                if head is None:
                    found = ChainProblem(*key, 0, "removed", "its head row is gone; records remain")
                elif not intact:
                    found = self._walk(cursor, *key, head, None, timers.get(key[0]))
                    found = found or ChainProblem(*key, 0, "altered", "it changed while read")
                else:
                    found = walk.end(head, timers.get(key[0]))
                yield (*key, records if found is None else found)

    def _heads_from(
        self, cursor: Any, mine: str, params: Sequence[Any], key: tuple[str, str]
    ) -> dict[tuple[str, str], StoredInstance]:
        """The head rows of :data:`_HEADS_AT_ONCE` instances in (machine, instance id)
        order, from the one ``key`` names on (as the database orders them: the order in
        which a scan reads the records), by machine and instance id."""
        where = f"{mine} AND instance_id >= ?" if mine else "(machine, instance_id) >= (?, ?)"
        self._run(
            cursor,
            "SELECT seq, head, version, state, deadline, machine, instance_id"
            f" FROM statewright_instances WHERE {where}"
            f" ORDER BY machine, instance_id LIMIT {_HEADS_AT_ONCE}",
            (*params, key[1]) if mine else key,
        )
        return {(str(r[5]), str(r[6])): _head_row(r) for r in cursor.fetchall()}

    def _scan(
        self, cursor: Any, mine: str, params: Sequence[Any], *, keep: bool = False
    ) -> Iterator[tuple[Walk, bool, list[dict[str, Any]]]]:
        """Walk every instance's records in (machine, instance id, seq) order, a chunk at a
        time: each instance's walk once its records are read, whether all extended it and,
        with ``keep``, the records (while they extend it)."""
        walk: Walk | None = None
        intact = True
        kept: list[dict[str, Any]] = []
        for rows in self._record_chunks(cursor, mine, params):
            index, size = 0, len(rows)
            while index < size:
                row = rows[index]
                if walk is None or row[1] != walk.instance_id or row[0] != walk.machine:
                    if walk is not None:
                        yield walk, intact, kept
                    walk, intact, kept = Walk(str(row[0]), str(row[1])), True, []
                if intact:  # every row of the instance in this chunk that extends the chain
                    index += walk.rows(rows, index, kept if keep else None)
                    if index < size:
                        row = rows[index]
                        intact = row[1] != walk.instance_id or row[0] != walk.machine
                else:
                    index += 1
        if walk is not None:
            yield walk, intact, kept

    def _record_chunks(self, cursor: Any, mine: str, params: Sequence[Any]) -> Iterator[list[Any]]:
        """Every record row (machine, instance id, seq, body, prev, hash) (of one machine,
        with ``mine``), in (machine, instance id, seq) order, :data:`CHUNK` at a time, one
        query each (keyset: each chunk starts after the last row of the one before, a
        search of the primary key's index)."""
        after: tuple[Any, ...] = ()
        keyset = (
            "(instance_id, seq) > (?, ?)" if mine else "(machine, instance_id, seq) > (?, ?, ?)"
        )
        while True:
            where = [mine] if mine else []
            if after:
                where.append(keyset)
            self._run(
                cursor,
                "SELECT machine, instance_id, seq, body, prev, hash FROM statewright_records"
                + (f" WHERE {' AND '.join(where)}" if where else "")
                + f" ORDER BY machine, instance_id, seq LIMIT {CHUNK}",
                (*params, *after),
            )
            rows = cursor.fetchall()
            if rows:
                yield rows
            if len(rows) < CHUNK:
                return
            after = (rows[-1][1], rows[-1][2]) if mine else (rows[-1][0], rows[-1][1], rows[-1][2])

    def version(self, machine: str, instance_id: str) -> int:
        with self._transaction(write=False) as cursor:
            self._run(
                cursor,
                "SELECT version FROM statewright_instances WHERE machine = ? AND instance_id = ?",
                (machine, instance_id),
            )
            row = cursor.fetchone()
        if row is None:
            raise UnknownInstance.of(machine, instance_id)
        return int(row[0])

    def heads(self, machine: str | None = None) -> list[InstanceHead]:
        rows = self._head_rows("seq, head", machine)
        return [InstanceHead(str(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows]

    def instances(self, machine: str | None = None) -> list[tuple[str, str, StoreHead]]:
        """Every instance's machine, id and head (state and deadline), by machine and id."""
        rows = self._head_rows("state, deadline", machine)
        return [(str(r[0]), str(r[1]), StoreHead(str(r[2]), r[3])) for r in rows]

    def _head_rows(self, columns: str, machine: str | None) -> list[Any]:
        """The machine, instance id and ``columns`` of every head row (of ``machine``), by
        machine and instance id."""
        where, params = ("", ()) if machine is None else (" WHERE machine = ?", (machine,))
        with self._transaction(write=False) as cursor:
            self._run(
                cursor,
                f"SELECT machine, instance_id, {columns} FROM statewright_instances"
                f"{where} ORDER BY machine, instance_id",
                params,
            )
            return list(cursor.fetchall())

    # -- transactions -------------------------------------------------------------------

    def _transaction(self, *, write: bool, single: bool = False) -> _Transaction:
        """A transaction's cursor (the batch's, inside one). ``single``: it reads with one
        statement, which sees one snapshot by itself, so nothing is sent to open it."""
        return _Transaction(self, write, single)

    def _open(self, write: bool, single: bool) -> tuple[Any, Any]:
        """Begin a transaction: the cursor it runs on (the spare one, if any), and that
        cursor as it is to be used (a :class:`_Deferred` that sends the ``BEGIN`` with the
        first statement, on PostgreSQL)."""
        cursor, self._spare = self._spare or self._connection.cursor(), None
        try:
            begin = (
                None if single and not write else self._dialect.begin(self._connection, write=write)
            )
            if begin is not None and write and self.dialect == "postgresql":
                return cursor, _Deferred(cursor, begin)  # sent with the first statement, if any
            if begin is not None:
                cursor.execute(begin)
        except BaseException:
            self._end(cursor, failed=True)
            raise
        return cursor, cursor

    def _end(self, cursor: Any, *, failed: bool) -> None:
        """End the transaction on ``cursor``: commit it (unless it ``failed``, or the
        commit does: then roll it back, forgetting the head rows known); keep the cursor
        as the spare one if it ended well, else close it."""
        try:
            if not failed:
                self._connection.commit()
        except BaseException:
            failed = True
            raise
        finally:
            if failed:
                self._known.clear()
                with contextlib.suppress(Exception):
                    self._connection.rollback()
            if failed or self._spare is not None:
                cursor.close()
            else:  # a cursor is dear to make (psycopg: 3% of a worker's transition)
                self._spare = cursor

    def _run(self, cursor: Any, sql: str, params: Sequence[Any] = ()) -> None:
        if self._staged is not None:  # a held-back append goes first, as it came first
            self._flush_staged(cursor)
        cursor.execute(sql.replace("?", self._placeholder), params)

    def _run_alone(self, cursor: Any, sql: str, params: Sequence[Any] = ()) -> None:
        """:meth:`_run` for the last statement of a write transaction: when nothing was
        sent in the transaction before it, it is sent alone, without opening the
        transaction (on a connection in autocommit mode, :meth:`own_transactions`, it is
        a transaction by itself: one round trip, no ``BEGIN`` or ``COMMIT``). So it must
        write all or nothing by itself, and nothing may be written after it."""
        if self._staged is not None:
            self._flush_staged(cursor)
        sql = sql.replace("?", self._placeholder)
        if isinstance(cursor, _Deferred):
            cursor.alone(sql, params)
        else:
            cursor.execute(sql, params)

    def own_transactions(self) -> bool:
        """Put a PostgreSQL connection in autocommit mode, as the store puts a SQLite one
        from the start: the store then opens each transaction itself (it does), and a
        statement that is a transaction by itself is sent alone (a read in one statement,
        a worker's commit: one round trip instead of three). True when the connection is
        (now) in autocommit mode; False if it cannot be put there (a transaction of the
        caller's is open on it, or its driver has no such mode): it is then left as it
        was, and works as before. Use the connection through the store only."""
        connection = self._connection
        if self.dialect != "postgresql" or not hasattr(connection, "autocommit"):
            return False
        if not connection.autocommit:
            with contextlib.suppress(Exception):
                connection.autocommit = True
        return bool(connection.autocommit)


class _Transaction:
    """:meth:`SqlStore._transaction`: a class, not a generator (a worker enters a few
    every transition, and a generator-based context manager costs about three times
    as much)."""

    __slots__ = ("_cursor", "_single", "_store", "_write")

    def __init__(self, store: SqlStore, write: bool, single: bool) -> None:
        self._store, self._write, self._single = store, write, single
        self._cursor: Any = None

    def __enter__(self) -> Any:
        store = self._store
        if store._depth:  # inside a batch: its cursor, its transaction
            return store._cursor
        self._cursor, used = store._open(self._write, self._single)
        return used

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if self._cursor is not None:
            cursor, self._cursor = self._cursor, None
            self._store._end(cursor, failed=kind is not None)


class _Deferred:
    """The cursor of a PostgreSQL write transaction whose ``BEGIN`` waits for its first
    statement (nothing is sent for a transaction that sends none), or is never sent when
    its only statement goes alone (:meth:`SqlStore._run_alone`)."""

    __slots__ = ("_begin", "_cursor")

    def __init__(self, cursor: Any, begin: str) -> None:
        self._cursor = cursor
        self._begin: str | None = begin

    def _open(self) -> None:
        if self._begin is not None:
            begin, self._begin = self._begin, None
            self._cursor.execute(begin)

    def execute(self, *args: Any) -> Any:
        self._open()
        return self._cursor.execute(*args)

    def executemany(self, *args: Any) -> Any:
        self._open()
        return self._cursor.executemany(*args)

    def alone(self, sql: str, params: Sequence[Any]) -> Any:
        """Send ``sql`` without opening the transaction if nothing was sent yet."""
        self._begin = None
        return self._cursor.execute(sql, params)

    def close(self) -> None:
        self._cursor.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)
