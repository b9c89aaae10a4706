"""A throwaway PostgreSQL cluster for the store tests, started for real (never a mock).

``postgres_server`` (session scope) runs ``initdb`` into a temporary folder and starts the
server on a free loopback port with its socket in that folder; as root it runs them as the
``postgres`` user, as PostgreSQL refuses root. Each test that asks for ``postgres_url`` gets
a fresh database in it. Without the server binaries (Debian: ``apt-get install
postgresql``) or psycopg, the PostgreSQL tests skip and say why.

``tests/conftest.py`` shares the fixtures with every test module.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["find_bindir", "postgres_server", "postgres_url", "throwaway_cluster"]


def find_bindir() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``: $PG_BINDIR, PATH, or Debian's newest."""
    candidates = [os.environ.get("PG_BINDIR", "")]
    on_path = shutil.which("pg_ctl")
    candidates.append(str(Path(on_path).parent) if on_path else "")
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )[::-1]
    for folder in filter(None, candidates):
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def throwaway_cluster(bindir: Path) -> Iterator[str]:
    """Start a new cluster (``initdb``, ``pg_ctl start``) and yield its URL; stop and
    remove it afterwards. ``RuntimeError`` with the server's output if it cannot start."""
    root = Path(tempfile.mkdtemp(prefix="statewright-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    try:
        _server_command(bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-N")
        port = _free_port()
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=100"
        _server_command(
            bindir / "pg_ctl", "-D", data, "-l", root / "log", "-o", options, "-w", "start"
        )
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            _server_command(bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


def _server_command(*command: str | Path) -> None:
    words = [str(word) for word in command]
    if os.geteuid() == 0:
        words = ["runuser", "-u", "postgres", "--", *words]
    done = subprocess.run(words, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(words)} failed:\n{done.stdout}{done.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The URL of a fresh cluster's ``postgres`` database, stopped when the tests end.

    One cluster per test process, however many modules import this fixture. Skips without
    the server binaries or psycopg, except in CI (``CI=true``), where the PostgreSQL tests
    must run and their absence fails.
    """
    if "url" not in _CLUSTER:
        missing = _missing()
        if missing:
            if os.environ.get("CI") == "true":
                pytest.fail(f"CI must run the PostgreSQL tests: {missing}")
            pytest.skip(missing)
        bindir = find_bindir()
        assert bindir is not None
        stack = contextlib.ExitStack()
        _CLUSTER["url"] = stack.enter_context(throwaway_cluster(bindir))
        atexit.register(stack.close)
    return _CLUSTER["url"]


_CLUSTER: dict[str, str] = {}


def _missing() -> str:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "psycopg 3 is not installed (pip install 'psycopg[binary]')"
    if find_bindir() is None:
        return "PostgreSQL server binaries not found (apt-get install postgresql)"
    return ""


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """The URL of a new, empty database in the session's cluster, dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"
    with (
        contextlib.suppress(psycopg.Error),
        psycopg.connect(postgres_server, autocommit=True) as admin,
    ):
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")
