"""``statewright audit verify PATH_OR_URL``: check the hash chains of a store's audit log.

The store code lives once, in the ``_store.py.jinja`` partial that every generated runtime
includes; this module renders that partial on its own into a module and runs its
verification over a SQLite file or a PostgreSQL URL (psycopg 3, imported only for
``postgresql://`` URLs). It reads; it never creates tables or writes.
"""

from __future__ import annotations

import sqlite3
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, TextIO

from generator.env import environment

__all__ = ["audit_command", "store_module", "store_source"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


def store_source() -> str:
    """The store partial as a module of its own: imports, then the code runtimes include."""
    env = environment()
    imports = env.get_template("_store_imports.py.jinja").render()
    body = env.get_template("_store.py.jinja").render()
    header = '"""statewright durable store."""\n\nfrom __future__ import annotations\n\n'
    return f"{header}{imports}\n{body}"


@cache
def store_module() -> ModuleType:
    """The store partial, executed as the module ``statewright_store``."""
    module = ModuleType("statewright_store")
    sys.modules[module.__name__] = module
    exec(compile(store_source(), "<statewright store>", "exec"), module.__dict__)
    return module


def audit_command(target: str, *, stdout: TextIO, stderr: TextIO) -> int:
    """Verify every chain in the store at ``target``; print the first broken record of each.

    Exit status: 0 when every chain is intact, 1 when a record was altered, removed or
    reordered, 2 when the target cannot be opened as a statewright store.
    """
    try:
        connection = _connect(target)
    except (OSError, ImportError, ValueError) as error:
        print(f"statewright: error: {error}", file=stderr)
        return 2
    try:
        store = store_module().SqlStore(connection, create=False)
        problems = store.verify()
    except Exception as error:  # the driver's errors: not a store, unreachable, no access
        print(f"statewright: error: {_display(target)}: {error}".rstrip(), file=stderr)
        return 2
    finally:
        connection.close()
    for problem in problems:
        print(f"{_display(target)}: {problem}", file=stdout)
    if problems:
        print(f"audit verify: {len(problems)} broken chain(s)", file=stdout)
        return 1
    print(f"audit verify: {_display(target)}: every chain intact", file=stdout)
    return 0


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
