"""Opening the stores the ``audit`` and ``runs`` commands read, and finding their specs.

A store is named by a *target*: a SQLite file or a ``postgresql://`` URL (psycopg 3,
imported only for such URLs). :func:`with_store` opens it read-only as a
:class:`~statewright.generator.runtime.store.SqlStore`, hands it to a function and closes
it; anything that keeps it from being read is :class:`Unusable`, one line to print.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from statewright.generator.runtime.chain import escalation
from statewright.generator.runtime.store import SqlStore, Timers
from statewright.generator.runtime.versions import MIGRATED_TEXT, Version, version_of
from statewright.verify.discover import discover
from statewright.verify.load.loader import load_file, load_text
from statewright.verify.model import Spec
from statewright.verify.semantics.machine import Semantics

_T = TypeVar("_T")

__all__ = [
    "GIT_COMMITS",
    "POSTGRES_SCHEMES",
    "Unusable",
    "connect",
    "display",
    "git_versions",
    "instance_keys",
    "load_specs",
    "machine_specs",
    "opened",
    "spec_paths",
    "spec_version",
    "spec_versions",
    "specs_argument",
    "store_argument",
    "timers_of",
    "with_store",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class Unusable(Exception):
    """The target cannot be opened or read as a statewright store."""


def with_store(target: str, read: Callable[[SqlStore], _T]) -> _T:
    try:
        connection = connect(target)
    except (OSError, ImportError, ValueError) as error:
        raise Unusable(str(error)) from error
    try:
        return read(SqlStore(connection, create=False))
    except Exception as error:  # the driver's errors: not a store, unreachable, no access
        raise Unusable(f"{display(target)}: {error}".rstrip()) from error
    finally:
        connection.close()


@contextlib.contextmanager
def opened(target: str, *, write: bool = False) -> Iterator[tuple[SqlStore, Any]]:
    """The store at ``target`` and its connection, closed after the block (a SQLite file
    is opened read-only unless ``write``).

    Unlike :func:`with_store`, only the driver's own errors in the block (not a store,
    unreachable, no access) become :class:`Unusable`: an error of the caller's stays
    what it is.
    """
    try:
        connection = connect(target)
        if write and isinstance(connection, sqlite3.Connection):  # reopen to write
            connection.close()
            connection = sqlite3.connect(target, timeout=60, isolation_level=None)
    except (OSError, ImportError, ValueError) as error:
        raise Unusable(str(error)) from error
    try:
        yield SqlStore(connection, create=False), connection
    except _driver_errors(connection) as error:
        raise Unusable(f"{display(target)}: {error}".rstrip()) from error
    finally:
        connection.close()


def _driver_errors(connection: Any) -> tuple[type[Exception], ...]:
    """The base class of the errors ``connection``'s driver raises (DB-API ``Error``)."""
    driver = sys.modules.get(type(connection).__module__.split(".")[0])
    error = getattr(driver, "Error", None)
    return (sqlite3.Error, error) if isinstance(error, type) else (sqlite3.Error,)


PAGE = 1000
"""Instances read per query by :func:`instance_keys`."""


def instance_keys(
    connection: Any, machine: str | None = None, instance_id: str | None = None
) -> Iterator[tuple[str, str]]:
    """Every instance's (machine, instance id) in the store on ``connection``, in that
    order, :data:`PAGE` at a time (memory flat in the number of instances); only those of
    ``machine`` or with ``instance_id`` when given."""
    mark = "%s" if not isinstance(connection, sqlite3.Connection) else "?"
    where = [f"machine = {mark}"] if machine is not None else []
    where += [f"instance_id = {mark}"] if instance_id is not None else []
    fixed = tuple(v for v in (machine, instance_id) if v is not None)
    after: tuple[str, ...] = ()
    while True:
        clauses = [*where, f"(machine, instance_id) > ({mark}, {mark})"] if after else where
        cursor = connection.cursor()
        try:
            cursor.execute(
                "SELECT machine, instance_id FROM statewright_instances"
                + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
                + f" ORDER BY machine, instance_id LIMIT {PAGE}",
                (*fixed, *after),
            )
            rows = [(str(row[0]), str(row[1])) for row in cursor.fetchall()]
        finally:
            cursor.close()
        connection.commit()  # the store opens its own read transactions between pages
        yield from rows
        if len(rows) < PAGE:
            return
        after = rows[-1]


def connect(target: str) -> Any:
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
            raise ValueError(f"{display(target)}: {error}".strip()) from error
    path = Path(target)
    if path.is_dir():
        raise FileNotFoundError(f"{target} is a folder; name a SQLite file or a postgresql:// URL")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {target}")
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)


def display(target: str) -> str:
    """The target without a password, fit to print."""
    if target.startswith(POSTGRES_SCHEMES) and "@" in target:
        scheme, rest = target.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
    return target


def spec_paths(paths: Sequence[Path]) -> list[Path]:
    """The spec files ``paths`` hold (default: ``specs/`` when it exists)."""
    if not paths:
        paths = [Path("specs")] if Path("specs").is_dir() else []
    return discover(paths) if paths else []


def load_specs(paths: Sequence[Path]) -> dict[str, Spec]:
    """The specs ``paths`` hold (default: ``specs/`` when it exists), by machine; a spec
    that does not load is left out (``statewright check`` says why)."""
    found: dict[str, Spec] = {}
    for path in spec_paths(paths):
        spec = load_file(path).spec
        if spec is not None:
            found[spec.machine] = spec
    return found


def machine_specs(paths: Sequence[Path]) -> dict[str, list[Spec]]:
    """Every spec ``paths`` hold (default: ``specs/``), by machine: several files of one
    machine are several versions of it, told apart by their sha256."""
    found: dict[str, list[Spec]] = {}
    for path in spec_paths(paths):
        spec = load_file(path).spec
        if spec is not None:
            found.setdefault(spec.machine, []).append(spec)
    return found


GIT_COMMITS = 200
"""The most commits of a spec file's history searched for the old versions its
migrations name (``check`` without ``--previous``)."""


def _git(folder: Path, *args: str) -> bytes | None:
    """The output of ``git args`` run in ``folder``; None if git fails or is missing."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, timeout=60, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def git_versions(path: Path, prefixes: Sequence[str]) -> dict[str, tuple[str, bytes]]:
    """The earlier versions of the spec file at ``path`` in its git history whose sha256
    starts with one of ``prefixes``: prefix -> (commit, the file's bytes then). The
    newest :data:`GIT_COMMITS` commits that touched the file are searched; outside a git
    work tree, none."""
    folder = path.resolve().parent
    log = _git(folder, "log", f"-{GIT_COMMITS}", "--format=%H", "--", path.name)
    found: dict[str, tuple[str, bytes]] = {}
    for commit in (log or b"").decode().split():
        data = _git(folder, "show", f"{commit}:./{path.name}")
        if data is None:
            continue
        digest = hashlib.sha256(data).hexdigest()
        for prefix in prefixes:
            if prefix not in found and digest.startswith(prefix):
                found[prefix] = (commit, data)
        if len(found) == len(prefixes):
            break
    return found


def spec_version(versions: Sequence[Spec], sha256: str | None) -> Spec | None:
    """The spec of version ``sha256`` (a prefix will do) among ``versions``, or else in
    the git history of their files; with no version named, the machine's one spec."""
    if sha256 is None:
        return versions[0] if len(versions) == 1 else None
    found = next((s for s in versions if s.sha256.startswith(sha256.lower())), None)
    for spec in versions if found is None else ():
        for commit, data in git_versions(Path(spec.file), [sha256[:64].lower()]).values():
            found = load_text(data, f"{spec.file}@{commit[:12]}").spec
            if found is not None:
                return found
    return found


def timers_of(spec: Spec) -> Timers:
    """How long each state of ``spec`` with a timed exit may rest: the delay of the exit
    that fires first, as the runtime counts an instance's deadline from its entry; and
    under :func:`~statewright.generator.runtime.chain.escalation` of an approval state
    whose policy escalates, how long it waits before it escalates (an instance's due
    time until the escalation is recorded)."""
    semantics = Semantics.of(spec)
    timers: dict[str, timedelta] = {}
    for state in spec.states:
        timed = semantics.timed_exit(state.name)
        if timed is not None and timed.after is not None:
            timers[state.name] = timedelta(seconds=timed.after.seconds)
        escalate = None if state.policy is None else state.policy.escalate
        if escalate is not None:
            timers[escalation(state.name)] = timedelta(seconds=escalate.after.seconds)
    return timers


def specs_argument(parser: argparse.ArgumentParser, what: str) -> None:
    """``--specs PATH``, repeatable: specs (files or folders) that ``what`` (help text
    naming what the command takes from them; each says its own default)."""
    parser.add_argument(
        "--specs", type=Path, action="append", default=[], metavar="PATH", help=what
    )


def store_argument(parser: argparse.ArgumentParser) -> None:
    """``PATH_OR_URL``: the store a command reads."""
    parser.add_argument(
        "target", metavar="PATH_OR_URL", help="a SQLite file or a postgresql:// URL"
    )


_VERSIONED = (
    "SELECT machine, instance_id, body FROM statewright_records"
    " WHERE seq = 1 OR body LIKE ?"
    " ORDER BY machine, instance_id, seq"
)
"""The records that say which spec version an instance runs under: its created record
and its ``migrated`` ones (bodies are canonical JSON; :func:`version_of` reads the
records themselves, so a context that merely holds the text counts for nothing)."""


MIGRATED_PATTERN = f"%{MIGRATED_TEXT}%"
"""What ``LIKE`` finds a ``migrated`` record's canonical body by."""


def spec_versions(
    store: SqlStore, key: tuple[str, str] | None = None
) -> dict[tuple[str, str], Version]:
    """The spec version every instance in ``store`` runs under (only the instance ``key``,
    a machine and an id, if given), by machine and id."""
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    query = _VERSIONED
    params: tuple[str, ...] = (MIGRATED_PATTERN,)
    if key is not None:
        query = query.replace(" WHERE ", " WHERE machine = ? AND instance_id = ? AND (")
        query = query.replace(" ORDER BY", ") ORDER BY")
        params = (*key, MIGRATED_PATTERN)
    with store._transaction(write=False) as cursor:
        store._run(cursor, query, params)
        for machine, instance_id, body in cursor.fetchall():
            try:
                record = json.loads(body)
            except ValueError:  # a tampered body: audit verify tells
                continue
            if isinstance(record, dict):
                found.setdefault((str(machine), str(instance_id)), []).append(record)
    return {key: version_of(bodies) for key, bodies in found.items()}
