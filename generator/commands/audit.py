"""``statewright audit verify|head PATH_OR_URL``: check a store's audit log, and witness it.

``verify`` checks every instance's hash chain; with ``--against FILE`` it also checks that
the chains still extend the heads ``head`` wrote to FILE earlier. ``head`` prints where
every chain ends (machine, instance, last record, its hash) as JSON lines: keep that
output outside the database (a separate log, a ticket, a signed file) and a later
``verify --against`` finds a truncated or rewritten chain that the chain alone cannot.

The store is :mod:`generator.runtime.store`, the same code every generated runtime runs
on; this command opens it over a SQLite file or a PostgreSQL URL (psycopg 3, imported only
for ``postgresql://`` URLs) and runs its verification. It reads; it never creates tables
or writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO, TypeVar

from generator.runtime.store import InstanceHead, SqlStore, check_witness

_T = TypeVar("_T")

__all__ = ["audit_command", "head_command"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def audit_command(
    target: str, *, stdout: TextIO, stderr: TextIO, against: Path | None = None
) -> int:
    """Verify every chain in the store at ``target``; print the first broken record of each.

    Exit status: 0 when every chain is intact, 1 when a record was altered, removed or
    reordered, 2 when the target cannot be opened as a statewright store.
    """
    try:
        witnessed = [] if against is None else _read_heads(against)
    except (OSError, ValueError) as error:
        print(f"statewright: error: {error}", file=stderr)
        return 2
    try:
        problems = _with_store(
            target, lambda store: [*store.verify(), *check_witness(store, witnessed)]
        )
    except _Unusable as error:
        print(f"statewright: error: {error}", file=stderr)
        return 2
    for problem in problems:
        print(f"{_display(target)}: {problem}", file=stdout)
    if problems:
        print(f"audit verify: {len(problems)} broken chain(s)", file=stdout)
        return 1
    print(f"audit verify: {_display(target)}: every chain intact", file=stdout)
    return 0


def head_command(target: str, *, stdout: TextIO, stderr: TextIO) -> int:
    """Print where every instance's chain ends, one JSON object a line, for a witness.

    Exit status: 0, or 2 when the target cannot be opened as a statewright store.
    """
    try:
        heads = _with_store(target, lambda store: store.heads())
    except _Unusable as error:
        print(f"statewright: error: {error}", file=stderr)
        return 2
    for found in heads:
        record = {"machine": found.machine, "instance_id": found.instance_id}
        print(json.dumps({**record, "seq": found.seq, "hash": found.hash}), file=stdout)
    return 0


class _Unusable(Exception):
    """The target cannot be opened or read as a statewright store."""


def _with_store(target: str, read: Callable[[SqlStore], _T]) -> _T:
    try:
        connection = _connect(target)
    except (OSError, ImportError, ValueError) as error:
        raise _Unusable(str(error)) from error
    try:
        return read(SqlStore(connection, create=False))
    except Exception as error:  # the driver's errors: not a store, unreachable, no access
        raise _Unusable(f"{_display(target)}: {error}".rstrip()) from error
    finally:
        connection.close()


def _read_heads(path: Path) -> list[InstanceHead]:
    """The heads ``statewright audit head`` wrote to ``path``."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    heads = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            heads.append(
                InstanceHead(
                    str(data["machine"]),
                    str(data["instance_id"]),
                    int(data["seq"]),
                    str(data["hash"]),
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{path}:{number}: not a head line of 'statewright audit head' ({error})"
            ) from error
    return heads


def _connect(target: str) -> Any:
    if target.startswith(POSTGRES_SCHEMES):
        try:
            import psycopg
        except ImportError as error:
            raise ImportError(
                "PostgreSQL URLs need psycopg 3: pip install 'psycopg[binary]'"
            ) from error
        try:
            return psycopg.connect(target)
        except psycopg.Error as error:
            raise ValueError(f"{_display(target)}: {error}".strip()) from error
    path = Path(target)
    if path.is_dir():
        raise FileNotFoundError(f"{target} is a folder; name a SQLite file or a postgresql:// URL")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {target}")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def _display(target: str) -> str:
    """The target without a password, fit to print."""
    if target.startswith(POSTGRES_SCHEMES) and "@" in target:
        scheme, rest = target.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return target
