"""The outbox of a SQL store: which instances have effects to deliver, and who delivers them.

The effects of a transition are its records: a transition's record (and so the work it
calls for: start the agent of the state entered, ask its reviewers) is committed in the
same transaction as the transition itself. What the outbox adds is one row per instance,
in the table ``statewright_outbox``, with its *delivery cursor* (``delivered``: how many
of its records have had their handlers run) and a *lease*: an instance whose last record
lies beyond its cursor has effects due. A worker claims due instances (on PostgreSQL with
``SELECT ... FOR UPDATE SKIP LOCKED``, so several workers never claim the same one),
holding each under a lease token that expires at ``lease_until``: a worker that dies
loses its claims when their leases run out, and another worker delivers them again.
Moving the cursor on checks the token, in the same transaction as the outcome the
handlers returned, so a worker that lost its lease commits nothing.

An instance that keeps failing (its handlers, its loading, the bookkeeping around them) is
*quarantined*: ``quarantined`` holds when, ``error`` why. Claims and the workers' timeout
sweeps pass it over until an operator lifts the quarantine (:meth:`Outbox.lift`,
``statewright runs release``). Outbox tables made before quarantine existed gain the
column when a worker next opens them.

Times are the workers' clocks, as :func:`~.store.instant` text.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .sqlstore import (
    SCHEMA_LOCK,
    STAGED_ARRIVAL,
    STAGED_HEAD,
    STAGED_RECORDS,
    STAGED_ROW,
    SqlStore,
    Staged,
)
from .stored import StoreError

__all__ = ["Claim", "LeaseLost", "LeaseRevoked", "Outbox", "Pending", "forget_results"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS statewright_outbox ("
    " machine TEXT NOT NULL, instance_id TEXT NOT NULL,"
    " delivered BIGINT NOT NULL DEFAULT 0, lease TEXT, lease_until TEXT,"
    " attempts BIGINT NOT NULL DEFAULT 0, available_at TEXT NOT NULL DEFAULT '', error TEXT,"
    " quarantined TEXT, skip BIGINT NOT NULL DEFAULT 0, errors TEXT,"
    " PRIMARY KEY (machine, instance_id))",
)

_ADDED = ("quarantined TEXT", "skip BIGINT NOT NULL DEFAULT 0", "errors TEXT")
"""Columns added since the outbox table was first made: older tables gain them on opening."""

_ENROL = (
    "INSERT INTO statewright_outbox (machine, instance_id)"
    " SELECT d.machine, d.instance_id FROM (SELECT c.machine, c.instance_id, c.free FROM"
    " (SELECT i.machine, i.instance_id, (SELECT CASE WHEN (o.lease_until IS NULL"
    " OR o.lease_until <= ?) AND o.available_at <= ? AND o.quarantined IS NULL THEN 1 ELSE 0"
    " END FROM statewright_outbox o WHERE o.machine = i.machine"
    " AND o.instance_id = i.instance_id) AS free FROM statewright_instances i"
    " WHERE i.machine = ? AND i.arrival IS NOT NULL ORDER BY i.arrival, i.instance_id) c"
    " WHERE COALESCE(c.free, 1) = 1 LIMIT {limit}) d WHERE d.free IS NULL"
    " ON CONFLICT (machine, instance_id) DO NOTHING"
)
"""Gives an outbox row to the instances with records due that the next claims, up to
``limit`` instances, would take (oldest arrival first: free ones, or new ones without a row
yet). Bounded, and each instance's row looked up by its key (a subquery, never a join the
planner could turn into a scan of every row when a new store has no statistics yet)."""

_ENROL_AHEAD = 16
"""How many claims' worth of instances a claim gives outbox rows to: enough that workers
claiming at once seldom insert the same new rows (one would wait for the other's commit)."""

_ENROL_ONE = (
    "INSERT INTO statewright_outbox (machine, instance_id) VALUES (?, ?)"
    " ON CONFLICT (machine, instance_id) DO NOTHING"
)

_DUE = (
    "SELECT o.instance_id, o.delivered, o.attempts, o.skip, o.errors FROM statewright_instances i"
    " JOIN statewright_outbox o ON o.machine = i.machine AND o.instance_id = i.instance_id"
    " WHERE i.machine = ? AND i.arrival IS NOT NULL"
    " AND (o.lease_until IS NULL OR o.lease_until <= ?) AND o.available_at <= ?"
    " AND o.quarantined IS NULL ORDER BY i.arrival, i.instance_id LIMIT {limit}"
)
"""The instances with records due, oldest arrival first, read from the claimable index."""

_WALK = (
    "WITH RECURSIVE walk (arrival, instance_id) AS ((SELECT arrival, instance_id"
    " FROM statewright_instances WHERE machine = ? AND arrival IS NOT NULL"
    " ORDER BY arrival, instance_id LIMIT 1) UNION ALL SELECT n.arrival, n.instance_id"
    " FROM walk w CROSS JOIN LATERAL (SELECT i.arrival, i.instance_id"
    " FROM statewright_instances i WHERE i.machine = ? AND i.arrival IS NOT NULL"
    " AND (i.arrival, i.instance_id) > (w.arrival, w.instance_id)"
    " ORDER BY i.arrival, i.instance_id LIMIT 1) n)"
)
"""The instances with records due, oldest arrival first, one step of the claimable index at a
time, only as far as the query reading it reads (a recursive query is evaluated lazily):
however many instances wait, and whatever the planner knows of the tables, a claim looks at
those it takes and those before them that others hold (PostgreSQL)."""

_DUE_WALK = _WALK + (
    " SELECT w.instance_id, b.delivered, b.attempts, b.skip, b.errors FROM walk w"
    " LEFT JOIN LATERAL (SELECT o.delivered, o.attempts, o.skip, o.errors"
    " FROM statewright_outbox o WHERE o.machine = ? AND o.instance_id = w.instance_id"
    " AND (o.lease_until IS NULL OR o.lease_until <= ?) AND o.available_at <= ?"
    " AND o.quarantined IS NULL FOR UPDATE SKIP LOCKED) b ON TRUE"
    " LEFT JOIN LATERAL (SELECT 1 AS known FROM statewright_outbox x"
    " WHERE x.machine = ? AND x.instance_id = w.instance_id LIMIT 1) k ON TRUE"
    " WHERE b.delivered IS NOT NULL OR k.known IS NULL LIMIT {limit}"
)
""":data:`_DUE` on PostgreSQL, along :data:`_WALK`: the first ``limit`` instances that are
free (their outbox row locked, ``SKIP LOCKED``) or new (no outbox row yet: ``delivered``
NULL, so the claim enrols before it takes them)."""

_ADVANCED = "delivered = ?, attempts = 0, available_at = '', error = NULL, skip = 0, errors = NULL"
"""A moved delivery cursor: the failures before it cleared."""

_DELIVERED = (
    "UPDATE statewright_instances SET arrival = NULL"
    " WHERE machine = ? AND instance_id = ? AND seq <= ?"
)
"""Takes an instance out of the claimable index once its records are all delivered (and
no later record arrived meanwhile)."""

_TIMED = (
    "SELECT i.instance_id FROM statewright_instances i"
    " WHERE i.machine = ? AND i.deadline IS NOT NULL AND i.deadline <= ?"
    " AND NOT EXISTS (SELECT 1 FROM statewright_outbox o WHERE o.machine = i.machine"
    " AND o.instance_id = i.instance_id AND o.quarantined IS NOT NULL)"
    " ORDER BY i.deadline, i.instance_id"
)


_NEXT_DEADLINE = (
    "SELECT i.deadline FROM statewright_instances i"
    " WHERE i.machine = ? AND i.deadline IS NOT NULL"
    " AND NOT EXISTS (SELECT 1 FROM statewright_outbox o WHERE o.machine = i.machine"
    " AND o.instance_id = i.instance_id AND o.quarantined IS NOT NULL)"
    " ORDER BY i.deadline LIMIT 1"
)


_NEXT_CLAIM = (
    "SELECT MIN(CASE WHEN o.lease_until IS NOT NULL AND o.lease_until > o.available_at"
    " THEN o.lease_until ELSE o.available_at END) FROM statewright_instances i"
    " JOIN statewright_outbox o ON o.machine = i.machine AND o.instance_id = i.instance_id"
    " WHERE i.machine = ? AND i.arrival IS NOT NULL AND o.quarantined IS NULL"
)
"""When the next instance with records due can be claimed (its retry's wait or its
lease over), read from the claimable index."""


class LeaseLost(StoreError):
    """The claim's lease ran out and another worker took the instance: nothing was written."""


class LeaseRevoked(LeaseLost):
    """The claim's lease was revoked while it was held: the run was cancelled
    (:meth:`Outbox.settle`), and the worker writes nothing for it."""


@dataclass(slots=True)
class Claim:
    """An instance a worker holds: its id, its delivery cursor, the failed deliveries so
    far, and the lease token that every write checks."""

    machine: str
    instance_id: str
    delivered: int
    attempts: int
    token: str
    until: str
    """When the lease runs out, as :func:`~.store.instant` text."""
    skip: int = 0
    """How many calls of the record at the cursor already ran (a handler after them
    failed): they are not made again."""
    errors: list[dict[str, str]] = field(default_factory=list)
    """The failed attempts at the call the cursor stands at: when and what, oldest first."""
    renew_after: datetime | None = field(default=None, compare=False)
    """When its worker renews the lease next, by the worker's clock (half of it spent):
    compared as a datetime, not formatted as ``until`` is. None: renew at the next look."""

    def failures_at(self, at: tuple[int, int]) -> list[dict[str, str]]:
        """The failed attempts before this one at the call ``at`` (record, calls before
        it in that record): none when the cursor stood elsewhere."""
        return self.errors if (self.delivered, self.skip) == at else []


@dataclass(frozen=True, slots=True)
class Pending:
    """An instance with effects due or held, as operators see it."""

    machine: str
    instance_id: str
    delivered: int
    seq: int
    attempts: int
    lease_until: str | None
    available_at: str
    error: str | None
    quarantined: str | None = None
    """When the instance was quarantined (its ``error`` says why), or None."""


class Outbox:
    """The delivery cursors and leases kept beside a :class:`~.store.SqlStore`'s
    instances, written in the store's transactions (so inside ``store.batch()``)."""

    def __init__(self, store: SqlStore, *, create: bool = True) -> None:
        self.store = store
        with store._transaction(write=create) as cursor:
            if create:
                if store.dialect == "postgresql":  # concurrent CREATE TABLEs would collide
                    store._run(cursor, f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
                for statement in _SCHEMA:
                    store._run(cursor, statement)
            columns = _columns(store, cursor)
            for column in _ADDED if create else ():
                if column.split()[0] not in columns:
                    store._run(cursor, f"ALTER TABLE statewright_outbox ADD COLUMN {column}")
        self._held = "o.quarantined" if create or "quarantined" in columns else "NULL"
        """How to read when an instance was quarantined (NULL in a table made before)."""

    def claim(self, machine: str, now: str, until: str, limit: int) -> list[Claim]:
        """Claim up to ``limit`` instances of ``machine`` with effects due at ``now``,
        leased until ``until``; new instances join the outbox on the way."""
        store = self.store
        skip = " FOR UPDATE OF o SKIP LOCKED" if store.dialect == "postgresql" else ""
        with store._transaction(write=True) as cursor:
            enrol = _ENROL.format(limit=int(limit) * _ENROL_AHEAD)
            if store.dialect == "postgresql":
                rows = self._walk(cursor, machine, now, limit)
                if any(row[1] is None for row in rows):  # new ones among them: enrol first
                    store._run(cursor, enrol, (now, now, machine))
                    rows = self._walk(cursor, machine, now, limit)
                rows = [row for row in rows if row[1] is not None]
            else:
                store._run(cursor, enrol, (now, now, machine))
                store._run(cursor, _DUE.format(limit=int(limit)) + skip, (machine, now, now))
                rows = cursor.fetchall()
            claims = [
                Claim(
                    machine,
                    str(row[0]),
                    int(row[1]),
                    int(row[2]),
                    uuid.uuid4().hex,
                    until,
                    int(row[3]),
                    _errors(row[4]),
                )
                for row in rows
            ]
            if claims:
                cursor.executemany(
                    "UPDATE statewright_outbox SET lease = ?, lease_until = ?"
                    " WHERE machine = ? AND instance_id = ?".replace("?", store._placeholder),
                    [(c.token, until, machine, c.instance_id) for c in claims],
                )
        return claims

    def _walk(self, cursor: Any, machine: str, now: str, limit: int) -> list[Any]:
        """The first ``limit`` instances free or new, along :data:`_WALK` (PostgreSQL)."""
        params = (machine, machine, machine, now, now, machine)
        self.store._run(cursor, _DUE_WALK.format(limit=int(limit)), params)
        return list(cursor.fetchall())

    def hold(self, machine: str, instance_id: str, now: str, until: str) -> Claim | None:
        """Claim the one instance ``instance_id`` of ``machine``, due or not, leased until
        ``until``; None while another claim on it is leased beyond ``now``. (An
        in-process driver, the LangGraph graph, delivers through the same cursor.)"""
        store = self.store
        lock = " FOR UPDATE SKIP LOCKED" if store.dialect == "postgresql" else ""
        with store._transaction(write=True) as cursor:
            store._run(
                cursor,
                "INSERT INTO statewright_outbox (machine, instance_id) VALUES (?, ?)"
                " ON CONFLICT (machine, instance_id) DO NOTHING",
                (machine, instance_id),
            )
            store._run(
                cursor,
                "SELECT delivered, attempts, skip, errors FROM statewright_outbox"
                " WHERE machine = ? AND instance_id = ?"
                f" AND (lease_until IS NULL OR lease_until <= ?){lock}",
                (machine, instance_id, now),
            )
            row = cursor.fetchone()
            if row is None:
                return None
            token = uuid.uuid4().hex
            skip, errors = int(row[2]), _errors(row[3])
            claim = Claim(
                machine, instance_id, int(row[0]), int(row[1]), token, until, skip, errors
            )
            self._update(
                cursor, claim, "lease = ?, lease_until = ?", (claim.token, until), check=False
            )
        return claim

    def renew(self, claim: Claim, until: str) -> None:
        """Keep holding ``claim`` until ``until``; :class:`LeaseLost` if it was lost."""
        with self.store._transaction(write=True) as cursor:
            self._update(cursor, claim, "lease_until = ?", (until,))

    def check(self, claim: Claim) -> None:
        """Raise :class:`LeaseRevoked` if ``claim``'s lease was revoked (the run was
        cancelled), :class:`LeaseLost` if another claim holds the instance; a worker looks
        while a handler runs, so that a cancelled run's call is abandoned."""
        with self.store._transaction(write=False, single=True) as cursor:
            self.store._run(
                cursor,
                "SELECT lease FROM statewright_outbox WHERE machine = ? AND instance_id = ?",
                (claim.machine, claim.instance_id),
            )
            row = cursor.fetchone()
        lease = None if row is None else row[0]
        if lease == claim.token:
            return
        if lease is None:
            raise LeaseRevoked(
                f"{claim.machine} instance {claim.instance_id!r}: its claim was revoked "
                "(the run was cancelled); nothing was written"
            )
        raise _lost(claim)

    def settle(self, machine: str, instance_id: str, delivered: int) -> None:
        """Settle the instance's entry for good, a cancelled run's: its cursor moved past
        its ``delivered`` records, any lease revoked, failures, retry wait and quarantine
        cleared, and the instance out of the claimable index. Inside ``store.batch()`` it
        commits with the cancellation."""
        store = self.store
        with store._transaction(write=True) as cursor:
            store._run(
                cursor,
                "UPDATE statewright_outbox SET delivered = ?, lease = NULL, lease_until = NULL,"
                " attempts = 0, available_at = '', error = NULL, quarantined = NULL, skip = 0,"
                " errors = NULL WHERE machine = ? AND instance_id = ?",
                (delivered, machine, instance_id),
            )
            store._run(cursor, _DELIVERED, (machine, instance_id, delivered))

    def advance(self, claim: Claim, delivered: int, *, release: bool) -> None:
        """Move the cursor to ``delivered`` records, clear failures, and with ``release``
        let the instance go; :class:`LeaseLost` (nothing written) if the lease was lost.
        Inside ``store.batch()`` it commits with the outcome the handlers fired."""
        lease = ", lease = NULL, lease_until = NULL" if release else ""
        with self.store._transaction(write=True) as cursor:
            staged = self.store.take_staged(claim.machine, claim.instance_id)
            if staged is not None:  # the outcome's append, the cursor and the lease at once
                self._advance_with(cursor, staged, claim, delivered, lease)
                claim.delivered, claim.attempts, claim.skip, claim.errors = delivered, 0, 0, []
                return
            self._update(cursor, claim, f"{_ADVANCED}{lease}", (delivered,))
            if release:  # with an outcome fired, its own records are due next
                self.store._run(cursor, _DELIVERED, (claim.machine, claim.instance_id, delivered))
        claim.delivered, claim.attempts, claim.skip, claim.errors = delivered, 0, 0, []

    def _advance_with(
        self, cursor: Any, staged: Staged, claim: Claim, delivered: int, lease: str
    ) -> None:
        """:meth:`advance` with the append the store held back (:meth:`SqlStore.staged`):
        one statement writes the head row, the records and the cursor (and, when the
        instance is delivered, takes it out of the claimable index).

        The statement writes all of them or nothing by itself (it locks the outbox row
        under the claim's token first, and writes the head row only under that lock and
        at the version loaded, the records and the cursor only with the head row), so it
        is sent alone: on a connection in autocommit mode it is the whole transaction."""
        store = self.store
        done = delivered >= staged.row.seq and bool(lease)
        head = STAGED_HEAD.format(
            arrival="NULL" if done else STAGED_ARRIVAL, guard=" AND EXISTS (SELECT 1 FROM held)"
        )
        records = STAGED_RECORDS.format(rows=", ".join([STAGED_ROW] * len(staged.entries)))
        mine = "machine = ? AND instance_id = ? AND lease = ?"
        keys = (claim.machine, claim.instance_id, claim.token)
        store._run_alone(
            cursor,
            f"WITH held AS (SELECT 1 FROM statewright_outbox WHERE {mine} FOR UPDATE),"
            f" head AS ({head}), records AS ({records}), box AS ("
            f"UPDATE statewright_outbox SET {_ADVANCED}{lease}"
            f" WHERE {mine} AND EXISTS (SELECT 1 FROM head) RETURNING 1)"
            " SELECT (SELECT count(*) FROM held), (SELECT count(*) FROM head),"
            " (SELECT count(*) FROM box)",
            (
                *keys,
                *staged.head_params(arrival=not done),
                *staged.record_params(),
                delivered,
                *keys,
            ),
        )
        row = cursor.fetchone()
        if row is None or int(row[0]) != 1:
            raise _lost(claim)
        if int(row[1]) != 1:
            store.staged_conflict(cursor, staged)
        if int(row[2]) != 1:
            raise _lost(claim)

    def fail(
        self,
        machine: str,
        instance_id: str,
        error: str,
        now: str,
        *,
        retry_at: Callable[[int], str],
        max_attempts: int,
        at_once: bool = False,
        claim: Claim | None = None,
        at: tuple[int, int] | None = None,
    ) -> bool | None:
        """Count a failed attempt on the instance: it is due again at ``retry_at(n)``
        (``n``: the failed attempts before this one), or quarantined from ``now`` on once
        it has failed ``max_attempts`` times (``at_once``: now). True when the instance is
        (already) quarantined, False when it will be retried.

        With ``claim``, the lease is checked (:class:`LeaseLost`, nothing written) and let
        go. Without (a failure found outside a claim, by a sweep), a failure while the
        instance waits out an earlier one's backoff is not counted: None.

        With ``claim`` and ``at`` (the failed call: its record, and the calls of that
        record that ran before it), the cursor moves there, so the calls before it are
        not made again, and the attempt joins the claim's ``errors`` (which start afresh,
        with the attempts, when the cursor moved).
        """
        store = self.store
        keys: tuple[str, ...] = (machine, instance_id)
        where = " WHERE machine = ? AND instance_id = ?"
        if claim is not None:
            where, keys = where + " AND lease = ?", (*keys, claim.token)
        lock = " FOR UPDATE" if store.dialect == "postgresql" else ""
        with store._transaction(write=True) as cursor:
            if claim is None:
                store._run(cursor, _ENROL_ONE, keys)
            store._run(
                cursor,
                f"SELECT attempts, available_at, quarantined FROM statewright_outbox{where}{lock}",
                keys,
            )
            row = cursor.fetchone()
            if row is None and claim is not None:
                raise _lost(claim)
            attempts, available_at, quarantined = int(row[0]), str(row[1]), row[2]
            if quarantined is not None:
                return True
            if claim is None and available_at > now and not at_once:
                return None
            moved: tuple[Any, ...] = ()
            if claim is not None and at is not None:
                errors = [*claim.failures_at(at), {"at": now, "error": error}]
                attempts = claim.attempts if (claim.delivered, claim.skip) == at else 0
                moved = (at[0], at[1], json.dumps(errors[-_ERRORS_KEPT:]))
            held = now if at_once or attempts + 1 >= max_attempts else None
            let_go = ", lease = NULL, lease_until = NULL" if claim is not None else ""
            if moved:
                let_go += ", delivered = ?, skip = ?, errors = ?"
            store._run(
                cursor,
                "UPDATE statewright_outbox SET attempts = ?, error = ?, available_at = ?,"
                f" quarantined = ?{let_go}{where}",
                (attempts + 1, error, retry_at(attempts), held, *moved, *keys),
            )
        return held is not None

    def lift(self, machine: str, instance_id: str) -> bool:
        """Lift the instance's quarantine: due again at once, its failures forgotten (the
        last error stays on record until the next delivery). False if it was not held."""
        with self.store._transaction(write=True) as cursor:
            self.store._run(
                cursor,
                "UPDATE statewright_outbox SET quarantined = NULL, attempts = 0,"
                " available_at = '' WHERE machine = ? AND instance_id = ?"
                " AND quarantined IS NOT NULL",
                (machine, instance_id),
            )
            return bool(cursor.rowcount == 1)

    def next_deadline(self, machine: str) -> str | None:
        """The earliest deadline of ``machine``'s instances (read from the deadline index),
        leaving out the quarantined; None if no instance has one."""
        store = self.store
        with store._transaction(write=False, single=True) as cursor:
            store._run(cursor, _NEXT_DEADLINE, (machine,))
            row = cursor.fetchone()
        return None if row is None else str(row[0])

    def next_claimable(self, machine: str) -> str | None:
        """When the next of ``machine``'s instances with effects due can be claimed (the
        end of its retry's wait or of the lease another worker holds it under), leaving
        out the quarantined; None if no instance has effects due."""
        store = self.store
        with store._transaction(write=False, single=True) as cursor:
            store._run(cursor, _NEXT_CLAIM, (machine,))
            row = cursor.fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def due(self, machine: str, now: str, limit: int | None = None) -> list[str]:
        """Ids of the instances of ``machine`` whose deadline is at or before ``now``,
        earliest first, leaving out the quarantined: :meth:`SqlStore.due` for sweeps."""
        store = self.store
        with store._transaction(write=False, single=True) as cursor:  # one statement
            tail = "" if limit is None else f" LIMIT {int(limit)}"
            store._run(cursor, _TIMED + tail, (machine, now))
            return [str(row[0]) for row in cursor.fetchall()]

    def release(self, claim: Claim) -> None:
        """Let the instance go without moving its cursor (another worker may take it)."""
        with self.store._transaction(write=True) as cursor:
            self._update(cursor, claim, "lease = NULL, lease_until = NULL", ())
            keys = (claim.machine, claim.instance_id, claim.delivered)
            self.store._run(cursor, _DELIVERED, keys)

    def pending(self, machine: str | None = None, *, due_only: bool = True) -> list[Pending]:
        """Every instance whose effects are due, held or failing, by machine and id (with
        ``due_only=False``: every instance a worker has seen)."""
        store = self.store
        held = self._held
        conditions = [f"(i.seq > o.delivered OR o.error IS NOT NULL OR {held} IS NOT NULL)"]
        conditions = conditions if due_only else []
        params: tuple[str, ...] = ()
        if machine is not None:
            conditions.append("o.machine = ?")
            params = (machine,)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        with store._transaction(write=False) as cursor:
            store._run(
                cursor,
                "SELECT o.machine, o.instance_id, o.delivered, i.seq, o.attempts,"
                f" o.lease_until, o.available_at, o.error, {held} FROM statewright_outbox o"
                " JOIN statewright_instances i"
                " ON i.machine = o.machine AND i.instance_id = o.instance_id"
                f"{where} ORDER BY o.machine, o.instance_id",
                params,
            )
            rows = cursor.fetchall()
        return [
            Pending(
                str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), r[5], str(r[6]), r[7], r[8]
            )
            for r in rows
        ]

    def _update(
        self,
        cursor: Any,
        claim: Claim,
        assignments: str,
        params: tuple[Any, ...],
        *,
        check: bool = True,
    ) -> None:
        where = " WHERE machine = ? AND instance_id = ?"
        keys: tuple[Any, ...] = (claim.machine, claim.instance_id)
        if check:
            where += " AND lease = ?"
            keys += (claim.token,)
        sql = f"UPDATE statewright_outbox SET {assignments}{where}"
        self.store._run(cursor, sql, params + keys)
        if cursor.rowcount != 1:
            raise _lost(claim)


_ERRORS_KEPT = 50
"""The most attempts' errors an outbox row keeps (the latest)."""


def _errors(text: Any) -> list[dict[str, str]]:
    """The attempts' errors an outbox row keeps (JSON text, or NULL)."""
    if not text:
        return []
    loaded = json.loads(str(text))
    return [dict(entry) for entry in loaded] if isinstance(loaded, list) else []


def _lost(claim: Claim) -> LeaseLost:
    return LeaseLost(
        f"{claim.machine} instance {claim.instance_id!r}: the lease ran out and another "
        "worker took it; nothing was written"
    )


def _columns(store: SqlStore, cursor: Any) -> set[str]:
    """The names of the outbox table's columns (none if there is no such table)."""
    if store.dialect == "postgresql":
        store._run(
            cursor,
            "SELECT column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND table_name = 'statewright_outbox'",
        )
        return {str(row[0]) for row in cursor.fetchall()}
    store._run(cursor, "PRAGMA table_info(statewright_outbox)")
    return {str(row[1]) for row in cursor.fetchall()}


def forget_results(store: SqlStore, machine: str, instance_id: str) -> None:
    """Delete every result cached for the instance under its jobs' keys (:mod:`.effects`;
    a cancelled or archived run), in the caller's transaction; nothing when the store
    keeps no cached results."""
    with store._transaction(write=True) as cursor:
        if store.dialect == "postgresql":
            store._run(cursor, "SELECT to_regclass('statewright_effects') IS NOT NULL")
        else:
            store._run(
                cursor,
                "SELECT COUNT(*) > 0 FROM sqlite_master"
                " WHERE type = 'table' AND name = 'statewright_effects'",
            )
        row = cursor.fetchone()
        if row is not None and row[0]:
            store._run(
                cursor,
                "DELETE FROM statewright_effects WHERE machine = ? AND instance_id = ?",
                (machine, instance_id),
            )
