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

Times are the workers' clocks, as :func:`~.store.instant` text.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .store import _SCHEMA_LOCK, SqlStore, StoreError

__all__ = ["Claim", "LeaseLost", "Outbox", "Pending"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS statewright_outbox ("
    " machine TEXT NOT NULL, instance_id TEXT NOT NULL,"
    " delivered BIGINT NOT NULL DEFAULT 0, lease TEXT, lease_until TEXT,"
    " attempts BIGINT NOT NULL DEFAULT 0, available_at TEXT NOT NULL DEFAULT '', error TEXT,"
    " PRIMARY KEY (machine, instance_id))",
)

_ENROL = (
    "INSERT INTO statewright_outbox (machine, instance_id)"
    " SELECT i.machine, i.instance_id FROM statewright_instances i"
    " WHERE i.machine = ? AND NOT EXISTS (SELECT 1 FROM statewright_outbox o"
    " WHERE o.machine = i.machine AND o.instance_id = i.instance_id)"
    " ON CONFLICT (machine, instance_id) DO NOTHING"
)

_DUE = (
    "SELECT o.instance_id, o.delivered, o.attempts FROM statewright_outbox o"
    " JOIN statewright_instances i ON i.machine = o.machine AND i.instance_id = o.instance_id"
    " WHERE o.machine = ? AND i.seq > o.delivered"
    " AND (o.lease_until IS NULL OR o.lease_until <= ?) AND o.available_at <= ?"
    " ORDER BY o.available_at, o.instance_id LIMIT {limit}"
)


class LeaseLost(StoreError):
    """The claim's lease ran out and another worker took the instance: nothing was written."""


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


class Outbox:
    """The delivery cursors and leases kept beside a :class:`~.store.SqlStore`'s
    instances, written in the store's transactions (so inside ``store.batch()``)."""

    def __init__(self, store: SqlStore, *, create: bool = True) -> None:
        self.store = store
        if create:
            with store._transaction(write=True) as cursor:
                if store.dialect == "postgresql":  # concurrent CREATE TABLEs would collide
                    store._run(cursor, f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
                for statement in _SCHEMA:
                    store._run(cursor, statement)

    def claim(self, machine: str, now: str, until: str, limit: int) -> list[Claim]:
        """Claim up to ``limit`` instances of ``machine`` with effects due at ``now``,
        leased until ``until``; new instances join the outbox on the way."""
        store = self.store
        skip = " FOR UPDATE OF o SKIP LOCKED" if store.dialect == "postgresql" else ""
        with store._transaction(write=True) as cursor:
            store._run(cursor, _ENROL, (machine,))
            store._run(cursor, _DUE.format(limit=int(limit)) + skip, (machine, now, now))
            rows = cursor.fetchall()
            claims = [
                Claim(machine, str(row[0]), int(row[1]), int(row[2]), uuid.uuid4().hex, until)
                for row in rows
            ]
            for claim in claims:
                self._update(
                    cursor, claim, "lease = ?, lease_until = ?", (claim.token, until), check=False
                )
        return claims

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
                "SELECT delivered, attempts FROM statewright_outbox"
                " WHERE machine = ? AND instance_id = ?"
                f" AND (lease_until IS NULL OR lease_until <= ?){lock}",
                (machine, instance_id, now),
            )
            row = cursor.fetchone()
            if row is None:
                return None
            claim = Claim(machine, instance_id, int(row[0]), int(row[1]), uuid.uuid4().hex, until)
            self._update(
                cursor, claim, "lease = ?, lease_until = ?", (claim.token, until), check=False
            )
        return claim

    def renew(self, claim: Claim, until: str) -> None:
        """Keep holding ``claim`` until ``until``; :class:`LeaseLost` if it was lost."""
        with self.store._transaction(write=True) as cursor:
            self._update(cursor, claim, "lease_until = ?", (until,))

    def advance(self, claim: Claim, delivered: int, *, release: bool) -> None:
        """Move the cursor to ``delivered`` records, clear failures, and with ``release``
        let the instance go; :class:`LeaseLost` (nothing written) if the lease was lost.
        Inside ``store.batch()`` it commits with the outcome the handlers fired."""
        lease = ", lease = NULL, lease_until = NULL" if release else ""
        with self.store._transaction(write=True) as cursor:
            self._update(
                cursor,
                claim,
                f"delivered = ?, attempts = 0, available_at = '', error = NULL{lease}",
                (delivered,),
            )
        claim.delivered, claim.attempts = delivered, 0

    def retry(self, claim: Claim, error: str, at: str) -> None:
        """Record a failed delivery, let the instance go, and make it due again at ``at``."""
        with self.store._transaction(write=True) as cursor:
            self._update(
                cursor,
                claim,
                "attempts = attempts + 1, error = ?, available_at = ?, lease = NULL,"
                " lease_until = NULL",
                (error, at),
            )

    def release(self, claim: Claim) -> None:
        """Let the instance go without moving its cursor (another worker may take it)."""
        with self.store._transaction(write=True) as cursor:
            self._update(cursor, claim, "lease = NULL, lease_until = NULL", ())

    def pending(self, machine: str | None = None, *, due_only: bool = True) -> list[Pending]:
        """Every instance whose effects are due, held or failing, by machine and id (with
        ``due_only=False``: every instance a worker has seen)."""
        store = self.store
        conditions = ["(i.seq > o.delivered OR o.error IS NOT NULL)"] if due_only else []
        params: tuple[str, ...] = ()
        if machine is not None:
            conditions.append("o.machine = ?")
            params = (machine,)
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        with store._transaction(write=False) as cursor:
            store._run(
                cursor,
                "SELECT o.machine, o.instance_id, o.delivered, i.seq, o.attempts,"
                " o.lease_until, o.available_at, o.error FROM statewright_outbox o"
                " JOIN statewright_instances i"
                " ON i.machine = o.machine AND i.instance_id = o.instance_id"
                f"{where} ORDER BY o.machine, o.instance_id",
                params,
            )
            rows = cursor.fetchall()
        return [
            Pending(str(r[0]), str(r[1]), int(r[2]), int(r[3]), int(r[4]), r[5], str(r[6]), r[7])
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
            raise LeaseLost(
                f"{claim.machine} instance {claim.instance_id!r}: the lease ran out and "
                "another worker took it; nothing was written"
            )
