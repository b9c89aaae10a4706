"""Store backends for the store tests: the same test runs on memory, a SQLite file on disk
and a real PostgreSQL database (see :mod:`pgcluster`).

A :class:`Backend` names a database by a *target* string that another process can open
too: a SQLite path or a PostgreSQL URL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from statewright.generator.runtime import store as store_module

__all__ = [
    "RETRIES_SPEC",
    "SQL_BACKENDS",
    "TICKET_SPEC",
    "Backend",
    "Fleet",
    "KillPlan",
    "Stall",
    "backend_fixture",
    "check_store",
    "connect",
    "generate_runtime",
    "make_backend",
    "open_store",
]

SQL_BACKENDS = ("sqlite", "postgresql")


def connect(target: str) -> Any:
    """A new DB-API connection to ``target`` (a SQLite path or a PostgreSQL URL)."""
    if target.startswith("postgresql://"):
        import psycopg

        return psycopg.connect(target)
    return sqlite3.connect(target, timeout=60, isolation_level=None)


def open_store(target: str, module: Any = None) -> Any:
    """A store over a new connection to ``target``; ``memory`` makes a MemoryStore."""
    module = module or store_module
    if target == "memory":
        return module.MemoryStore()
    if target.startswith("postgresql://"):
        return module.SqlStore(connect(target))
    return module.SqlStore.sqlite(target)


@dataclass
class Backend:
    """One database the tests run against, and the stores they opened on it."""

    name: str
    target: str
    opened: list[Any] = field(default_factory=list)

    def open(self, module: Any = None) -> Any:
        """A store on this backend (for memory: always the same one)."""
        if self.name == "memory" and self.opened:
            return self.opened[0]
        store = open_store(self.target, module)
        self.opened.append(store)
        return store

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run raw SQL on a connection of its own (the tamperer's view); commit."""
        connection = connect(self.target)
        try:
            cursor = connection.cursor()
            placeholder = "%s" if self.name == "postgresql" else "?"
            cursor.execute(sql.replace("?", placeholder), params)
            rows = list(cursor.fetchall()) if cursor.description else []
            connection.commit()
            return rows
        finally:
            connection.close()

    def close(self) -> None:
        for store in self.opened:
            if hasattr(store, "close"):
                store.close()


def make_backend(name: str, request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """The backend ``name`` for one test: a fresh database of that kind."""
    if name == "memory":
        return Backend(name, "memory")
    if name == "sqlite":
        return Backend(name, str(tmp_path / "store.sqlite"))
    url: str = request.getfixturevalue("postgres_url")
    return Backend(name, url)


def backend_fixture(names: tuple[str, ...]) -> Callable[..., Any]:
    """A ``backend`` fixture parametrised over ``names``."""

    @pytest.fixture(params=names)
    def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
        made = make_backend(request.param, request, tmp_path)
        yield made
        made.close()

    return backend


TICKET_SPEC = """\
statewright: 1
machine: ticket
initial: OPEN
states:
  OPEN: {kind: idle}
  WORKING: {kind: running}
  REVIEW: {kind: approval, reviewers: [lead]}
  STUCK: {kind: failed, reviewers: [lead]}
  DONE: {kind: complete}
transitions:
  - {from: OPEN, to: WORKING, trigger: start}
  - {from: WORKING, to: WORKING, trigger: step}
  - {from: WORKING, to: REVIEW, trigger: submit}
  - {from: REVIEW, to: WORKING, trigger: approve, human: true}
  - {from: REVIEW, to: STUCK, trigger: reject, human: true, reason: REJECTED}
  - {from: REVIEW, to: STUCK, trigger: review_timeout, after: 1h, reason: TIMEOUT}
  - {from: STUCK, to: WORKING, trigger: resume, human: true}
  - {from: WORKING, to: DONE, trigger: finish}
  - {from: DONE, to: OPEN, trigger: always}
rollback: {reviewers: [lead]}
reasons:
  REJECTED: {recovery: [Revise the work, Submit again]}
  TIMEOUT: {recovery: [Find a reviewer, Submit again]}
"""
"""The machine the runtime store tests drive: an approval gate with a one-hour timeout,
a failed state with a payload snapshot, a self-loop for long runs and an automatic exit."""

RETRIES_SPEC = """\
statewright: 1
machine: retries
initial: RUNNING
variables:
  attempts: {type: int, min: 0, max: 2, initial: 0}
  escalated: {type: bool, initial: false}
rollback: {reviewers: [ops]}
states:
  RUNNING: {}
  FAILED: {kind: failed, reviewers: [ops]}
  DONE: {kind: complete, final: true}
transitions:
  - {from: RUNNING, to: DONE, trigger: finished}
  - {from: RUNNING, to: FAILED, trigger: crashed, reason: CRASH}
  - {from: FAILED, to: RUNNING, trigger: retry, human: true,
     when: attempts < 2, set: {attempts: attempts + 1}}
  - {from: FAILED, to: DONE, trigger: give_up, human: true,
     when: attempts == 2, set: {escalated: true}}
reasons:
  CRASH: {recovery: [Read the snapshot, Retry or give up]}
"""
"""A machine with variables: a guarded retry that counts its attempts, a rollback."""


def generate_runtime(folder: Path, spec_text: str = TICKET_SPEC) -> tuple[Any, Path]:
    """Check ``spec_text``, generate its runtime into ``folder``, import it; and its path."""
    from test_runtime_kit import generate, load_spec

    module = generate(load_spec(spec_text, "specs/ticket.yaml"), folder)
    return module, Path(str(module.__file__))


ROOT = Path(__file__).resolve().parents[1]


KILL_AT = "STATEWRIGHT_TEST_KILL_AT"
"""The environment variable that hands a worker process its :class:`KillPlan`."""


class KillPlan:
    """The fixed marks at which a worker process SIGKILLs itself, so that a crash test
    kills a number of times fixed by construction, at points it chose, under any load.

    ``text`` is ``WINDOW:MARK,...`` (say ``insert:40,ack:90``): at a point of the worker's
    work named WINDOW, once its count of work done (records acked, lines logged; the
    worker says which) has reached MARK, the worker claims the mark (a file in
    ``folder``, created exclusively: across restarts and processes, each mark is claimed
    once) and kills itself with SIGKILL, as ``kill -9`` from outside would.
    """

    def __init__(self, text: str, folder: Path) -> None:
        self.folder = folder
        self.marks: dict[str, list[int]] = {}
        for entry in filter(None, text.split(",")):
            window, mark = entry.split(":")
            self.marks.setdefault(window, []).append(int(mark))
        for marks in self.marks.values():
            marks.sort()

    @staticmethod
    def claims(folder: Path) -> list[str]:
        """The marks claimed so far in ``folder``, as ``WINDOW:MARK``."""
        return sorted(path.name.replace("-", ":") for path in folder.glob("*-*"))

    def due(self, window: str, count: Callable[[], int]) -> None:
        """At a point of ``window``: die if an unclaimed mark of it is ``<= count()``."""
        import os
        import signal

        marks = self.marks.get(window)
        if not marks:
            return
        done = count()
        while marks and marks[0] <= done:
            claim = self.folder / f"{window}-{marks.pop(0)}"
            try:
                os.close(os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
            except FileExistsError:
                continue  # claimed in an earlier life, or by another worker
            os.kill(os.getpid(), signal.SIGKILL)


class Fleet:
    """Worker processes (``store_worker.py``, or ``script``: same arguments) on one store,
    each acking into its own file."""

    def __init__(
        self, runtime: Path, target: str, folder: Path, script: str = "store_worker.py"
    ) -> None:
        self.runtime, self.target, self.folder, self.script = runtime, target, folder, script
        self.stop_file = folder / "stop"
        self.kills = folder / "kills"
        self.kills.mkdir(exist_ok=True)
        self.processes: dict[str, Any] = {}
        self.plans: dict[str, str] = {}
        self.started = 0
        self.killed = 0

    def start(self, name: str, mode: str, instances: list[str], kill_at: str = "") -> None:
        """Start (or restart) worker ``name``; its acks go to ``<name>.acks``; ``kill_at``
        is its :class:`KillPlan`, claimed in ``<folder>/kills``."""
        import os
        import subprocess
        import sys

        self.plans[name] = kill_at
        env = {
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests'}",
            KILL_AT: kill_at,
        }
        self.started += 1
        command = [
            sys.executable,
            str(ROOT / "tests" / self.script),
            str(self.runtime),
            self.target,
            str(self.folder / f"{name}.acks"),
            mode,
            str(self.started),
            str(self.stop_file),
            *instances,
        ]
        self.processes[name] = (subprocess.Popen(command, env=env, cwd=ROOT), mode, instances)

    def kill(self, name: str) -> None:
        """SIGKILL worker ``name`` and wait for it to die."""
        process = self.processes[name][0]
        process.kill()
        process.wait()

    def restart(self, name: str) -> None:
        _, mode, instances = self.processes[name]
        self.start(name, mode, instances, self.plans[name])

    def restart_killed(self) -> None:
        """Restart every worker that killed itself at a mark of its plan (counted in
        ``killed``); a worker that ended any other way fails the test."""
        import signal

        for name, (process, _, _) in list(self.processes.items()):
            status = process.poll()
            if status is not None:
                assert status == -signal.SIGKILL, f"worker {name} exited with {status}"
                self.killed += 1
                self.restart(name)

    def claimed(self) -> list[str]:
        """The marks of the kill plans claimed so far (:meth:`KillPlan.claims`)."""
        return KillPlan.claims(self.kills)

    def stop(self, timeout: float = 60) -> None:
        """Ask every worker to stop, wait for them; fail if one crashed."""
        self.stop_file.touch()
        for name, (process, _, _) in self.processes.items():
            status = process.wait(timeout=timeout)
            assert status == 0, f"worker {name} exited with {status}"

    def acks(self) -> list[list[str]]:
        """Every acknowledgement line, split into words, from every worker."""
        lines: list[list[str]] = []
        for path in sorted(self.folder.glob("*.acks")):
            lines += [line.split() for line in path.read_text().splitlines()]
        return lines

    def acked_records(self) -> dict[tuple[str, int], tuple[str, str]]:
        """``(instance, seq) -> (to_state, trigger)``; a seq acked twice fails the test."""
        acked: dict[tuple[str, int], tuple[str, str]] = {}
        for words in self.acks():
            if len(words) == 4:
                key = (words[0], int(words[1]))
                assert key not in acked, f"record {key} acknowledged twice"
                acked[key] = (words[2], words[3])
        return acked

    def count(self, kind: str) -> int:
        return sum(1 for words in self.acks() if kind in words)


def check_store(rt: Any, store: Any, instances: list[str], fleet: Fleet) -> dict[str, int]:
    """After the workers: every acked record is stored as acked, every chain and every
    instance's replay is intact, and the stored state is what replay reproduces."""
    acked = fleet.acked_records()
    assert store.verify() == []
    stored = 0
    for instance_id in instances:
        try:
            machine = rt.Ticket.load(store, instance_id)
        except rt.UnknownInstance:
            assert not any(key[0] == instance_id for key in acked)
            continue
        records = machine.audit
        stored += sum(1 for r in records if r.event is not rt.Event.CREATED)  # create() wrote it
        for (owner, seq), (state, trigger) in acked.items():
            if owner == instance_id:
                record = records[seq - 1]
                assert (record.to_state.value, str(record.trigger and record.trigger.value)) == (
                    state,
                    trigger,
                ), f"{instance_id} record {seq}"
        replayed = rt.Ticket.replay(records)
        assert replayed.state is machine.state
        assert replayed.reason is machine.reason
        steps = [int(w[2]) for w in fleet.acks() if w[0] == instance_id and w[1] == "context"]
        assert machine.context.get("steps", -1) >= max(steps, default=-1)
    return {"stored": stored, "acked": len(acked)}


class Stall:
    """A hang guard counted in polls, never in time: :meth:`saw` fails after ``polls``
    looks in a row at the same progress. A slower machine only makes each poll later, so
    the guard never fires sooner on a loaded one."""

    def __init__(self, polls: int) -> None:
        self.polls, self._idle, self._last = polls, 0, object()

    def saw(self, progress: object, what: str) -> None:
        """Note the ``progress`` seen at one poll; fail, saying ``what``, after ``polls``
        polls without a change."""
        if progress != self._last:
            self._last, self._idle = progress, 0
            return
        self._idle += 1
        assert self._idle < self.polls, f"nothing moved in {self.polls} polls: {what}"
