"""``statewright runs archive PATH_OR_URL --finished-before DURATION --to ARCHIVE``: retention.

Moves the runs that finished (rest in a final state of their spec) before a moment out of
the store's hot tables into an *archive store*: a SQLite file with the same tables, so
that ``statewright audit verify ARCHIVE``, ``runs list ARCHIVE`` and ``runs show ARCHIVE``
work on it as on any store, and its chains stay verifiable (each record moves with its
hashes, unchanged). Claims, sweeps and the console then read fewer rows.

Per run, in this order: the head row and records are copied into the archive and
committed (SQLite, ``synchronous=FULL``); the archive's copy is verified (its chain and its
head row, as ``audit verify`` does); only then are the run's records, head row and outbox
row deleted from the store, in one transaction that checks the head row still has the
version that was copied (a run that moved meanwhile is left, and archived another time).
A crash between the two leaves the run in both places, never in neither; archiving again
replaces the archive's copy. A run with effects not yet delivered, or quarantined, is
left in the store.

A machine without a spec (``--specs``, default ``specs/``) is left alone, with a line
saying so: without it no state is known to be final.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from statewright.generator.commands import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from statewright.generator.commands.stores import Unusable, connect, display, load_specs
from statewright.generator.runtime.outbox import forget_results
from statewright.generator.runtime.sqlstore import SqlStore
from statewright.generator.runtime.store import ChainBroken
from statewright.verify.load.values import parse_duration
from statewright.verify.printable import printable

__all__ = ["archive_command", "duration"]

_HEAD = "machine, instance_id, seq, head, version, state, deadline"
_BATCH = 500
"""Runs looked at per query."""


def duration(text: str) -> int:
    """An ``--finished-before`` age (``30d``, ``12h``, ``90m``) in seconds."""
    seconds = parse_duration(text)
    if isinstance(seconds, str):
        raise argparse.ArgumentTypeError(seconds)
    return seconds


def archive_command(
    target: str,
    *,
    finished_before: int,
    to: Path,
    specs: Sequence[Path] = (),
    now: datetime | None = None,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Move the runs of ``target`` that finished more than ``finished_before`` seconds
    before ``now`` into the archive store ``to``; say how many on standard output.

    Exit status: 0 when archived (or nothing to archive), 1 when a run's archived copy
    failed verification (it stays in the store), 2 when the store or the archive cannot
    be opened or the specs name no final state."""
    cutoff = (now or datetime.now(UTC)) - timedelta(seconds=finished_before)
    finals = {
        name: sorted(state.name for state in spec.states if state.final)
        for name, spec in load_specs(specs).items()
    }
    if not finals:
        print("statewright: error: no spec found (--specs): no state is known final", file=stderr)
        return EXIT_USAGE
    try:
        connection = _writable(target)
    except (OSError, ImportError, ValueError, Unusable) as error:
        print(f"statewright: error: {printable(str(error))}", file=stderr)
        return EXIT_USAGE
    try:
        archive = SqlStore.sqlite(str(to))
    except (OSError, sqlite3.Error) as error:
        connection.close()
        print(f"statewright: error: {to}: {printable(str(error))}", file=stderr)
        return EXIT_USAGE
    try:
        store = SqlStore(connection, create=False)
        mover = _Mover(store, archive, cutoff)
        unknown = sorted(set(mover.machines()) - set(finals))
        for machine, states in sorted(finals.items()):
            if states:
                mover.machine(machine, states)
    except Exception as error:  # the driver's errors: not a store, unreachable, no access
        print(f"statewright: error: {display(target)}: {printable(str(error))}", file=stderr)
        return EXIT_USAGE
    finally:
        connection.close()
        archive.close()
    for machine in unknown:
        print(f"{printable(machine)}: no spec given (--specs): left alone", file=stdout)
    for machine, (runs, records) in sorted(mover.moved.items()):
        print(
            f"{printable(machine)}: {runs} run(s) finished before {cutoff.isoformat()}"
            f" archived to {to} ({records} records)",
            file=stdout,
        )
    if not mover.moved:
        print(f"nothing finished before {cutoff.isoformat()} to archive", file=stdout)
    for machine, instance_id, problem in mover.broken:
        print(
            f"statewright: error: {printable(machine)} {printable(instance_id)}: the archived"
            f" copy fails verification ({printable(problem)}); left in the store",
            file=stderr,
        )
    return EXIT_FINDINGS if mover.broken else EXIT_OK


def _writable(target: str) -> Any:
    connection = connect(target)  # checks the target; SQLite opens read-only: reopen
    if isinstance(connection, sqlite3.Connection):
        connection.close()
        return sqlite3.connect(target, timeout=60, isolation_level=None)
    return connection


class _Mover:
    """Copies finished runs from ``store`` to ``archive``, verifies, deletes."""

    def __init__(self, store: SqlStore, archive: SqlStore, cutoff: datetime) -> None:
        self.store, self.archive, self.cutoff = store, archive, cutoff
        self.moved: dict[str, tuple[int, int]] = {}
        self.broken: list[tuple[str, str, str]] = []

    def machines(self) -> list[str]:
        with self.store._transaction(write=False) as cursor:
            self.store._run(cursor, "SELECT DISTINCT machine FROM statewright_instances")
            return [str(row[0]) for row in cursor.fetchall()]

    def machine(self, machine: str, finals: list[str]) -> None:
        after = ""
        while True:
            heads = self._finished(machine, finals, after)
            for head in heads:
                self._move(head)
            if len(heads) < _BATCH:
                return
            after = str(heads[-1][1])

    def _finished(self, machine: str, finals: list[str], after: str) -> list[Any]:
        """The next head rows of ``machine`` resting in a final state, all delivered."""
        store = self.store
        marks = ", ".join("?" for _ in finals)
        with store._transaction(write=False) as cursor:
            undelivered = " AND i.arrival IS NULL" if store._arrives(cursor) else ""
            if _has_outbox(store, cursor):
                undelivered += (
                    " AND NOT EXISTS (SELECT 1 FROM statewright_outbox o"
                    " WHERE o.machine = i.machine AND o.instance_id = i.instance_id"
                    " AND (o.delivered < i.seq OR o.quarantined IS NOT NULL))"
                )
            columns = ", ".join(f"i.{name.strip()}" for name in _HEAD.split(","))
            store._run(
                cursor,
                f"SELECT {columns} FROM statewright_instances i WHERE i.machine = ?"
                f" AND i.state IN ({marks}) AND i.instance_id > ?{undelivered}"
                f" ORDER BY i.instance_id LIMIT {_BATCH}",
                (machine, *finals, after),
            )
            return list(cursor.fetchall())

    def _move(self, head: Sequence[Any]) -> None:
        machine, instance_id, version = str(head[0]), str(head[1]), head[4]
        store, archive = self.store, self.archive
        key = (machine, instance_id)
        with store._transaction(write=False) as cursor:
            store._run(
                cursor,
                "SELECT seq, body, prev, hash FROM statewright_records"
                " WHERE machine = ? AND instance_id = ? ORDER BY seq",
                key,
            )
            records = list(cursor.fetchall())
        if not records or _finished_at(records[-1][1]) >= self.cutoff:
            return
        with archive._transaction(write=True) as cursor:
            for table in ("statewright_records", "statewright_instances"):
                archive._run(
                    cursor, f"DELETE FROM {table} WHERE machine = ? AND instance_id = ?", key
                )
            archive._run(
                cursor,
                f"INSERT INTO statewright_instances ({_HEAD}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                tuple(head),
            )
            cursor.executemany(
                "INSERT INTO statewright_records (machine, instance_id, seq, body, prev, hash)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [(machine, instance_id, *record) for record in records],
            )
        try:  # the archive's copy, chain and head row, before the store's is deleted
            archive.walk(machine, instance_id, lambda record: None)
        except ChainBroken as broken:
            self.broken.append((machine, instance_id, str(broken.problem)))
            return
        try:
            self._delete(key, version, len(records))
        except _Moved:
            return

    def _delete(self, key: tuple[str, str], version: Any, records: int) -> None:
        """Delete the run ``key`` from the store if its head row is still at ``version``."""
        store = self.store
        with store._transaction(write=True) as cursor:
            store._run(
                cursor,
                "DELETE FROM statewright_instances"
                " WHERE machine = ? AND instance_id = ? AND version = ?",
                (*key, version),
            )
            if cursor.rowcount != 1:  # it moved meanwhile: keep it (rolled back)
                raise _Moved
            store._run(
                cursor, "DELETE FROM statewright_records WHERE machine = ? AND instance_id = ?", key
            )
            if _has_outbox(store, cursor):
                store._run(
                    cursor,
                    "DELETE FROM statewright_outbox WHERE machine = ? AND instance_id = ?",
                    key,
                )
        forget_results(store, *key)  # results cached under its jobs' keys (commonly none left)
        runs, count = self.moved.get(key[0], (0, 0))
        self.moved[key[0]] = (runs + 1, count + records)


class _Moved(Exception):
    """The run moved on after it was copied: left in the store."""


def _finished_at(body: str) -> datetime:
    """When the record whose canonical JSON is ``body`` was made."""
    moment = datetime.fromisoformat(str(json.loads(body)["at"]))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _has_outbox(store: SqlStore, cursor: Any) -> bool:
    return bool(store._columns(cursor, "statewright_outbox"))
