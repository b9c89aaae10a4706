"""A durable worker process for the crash and concurrency tests of the outbox worker.

    python agent_worker.py RUNTIME TARGET LOG LEASE SEED STOP

Imports the generated ``relay`` runtime at RUNTIME (:data:`agentkit.RELAY_SPEC`), opens a
store on TARGET (a SQLite path or a PostgreSQL URL) and runs a ``Worker`` with the relay's
fake agents until the file STOP exists, with leases of LEASE seconds. Every handler writes
one line to the LOG file with a single ``write`` (so a SIGKILL never leaves half a line):
``start KEY PID`` and ``end KEY PID`` around an agent's work, ``ask KEY`` for an approval
request, ``after KEY`` for every change of state, and ``overlap KEY PID OTHER`` when it
finds another live process working on the same instance (the lock file of the instance
names a process that is still running): that must never happen.

A worker given a :class:`storekit.KillPlan` (in ``STATEWRIGHT_TEST_KILL_AT``) kills itself
at its marks, counted in lines of the window's kind in every worker's LOG: ``start`` in
the middle of an agent's work (its transition not committed), ``after`` once an
``after_transition`` effect ran (its delivery not committed, so it runs again).

``STATEWRIGHT_TEST_WORK_MS`` sets how long an agent works (default: up to 10 ms at random);
``STATEWRIGHT_TEST_FAIL`` the part of agent calls that fail (raise after ``start``, never
logging ``end``), which their retry policy retries; ``STATEWRIGHT_TEST_CACHE`` (any text)
registers the agents with ``cache=True`` (their results kept under ``job.key``). The
window ``commit`` of a kill plan counts the job keys of ``end`` lines at each write of
an instance's records: a worker dies there after an agent's call returned (and, cached,
its result was kept), before the transition it fires is committed.
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from store_worker import import_runtime
from storekit import KILL_AT, KillPlan, open_store


def main(argv: list[str]) -> None:
    runtime_path, target, log, lease, seed, stop = argv[:6]
    rt = import_runtime(Path(runtime_path))
    store = open_store(target, rt)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    locks = Path(log).parent / "locks"
    locks.mkdir(exist_ok=True)
    plan = KillPlan(os.environ.get(KILL_AT, ""), Path(log).parent / "kills")
    handlers = relay_handlers(rt, fd, locks, random.Random(int(seed)), plan)
    worker = rt.Worker(store, handlers, lease=timedelta(seconds=float(lease)), batch=4)
    if "commit" in plan.marks:
        dies_before_commit(store, plan, Path(log).parent)
    os.write(fd, b"ready\n")
    stop_file = Path(stop)
    worker.run(stop=stop_file.exists, idle=0.01)


WORK_MS = "STATEWRIGHT_TEST_WORK_MS"
FAIL = "STATEWRIGHT_TEST_FAIL"
CACHE = "STATEWRIGHT_TEST_CACHE"


def dies_before_commit(store: Any, plan: KillPlan, folder: Path) -> None:
    """Make ``store`` meet the plan's ``commit`` marks before each write of records."""
    append = store.append

    def dying_append(*args: Any, **kwargs: Any) -> Any:
        plan.due("commit", lambda: len(ended(folder)))
        return append(*args, **kwargs)

    store.append = dying_append


def relay_handlers(rt: Any, fd: int, locks: Path, rng: random.Random, plan: KillPlan) -> Any:
    handlers = rt.Handlers()
    pid = os.getpid()
    work_ms = os.environ.get(WORK_MS)
    fail = float(os.environ.get(FAIL) or 0)
    retry = rt.Retry(
        attempts=1000, backoff=timedelta(milliseconds=20), max_backoff=timedelta(seconds=1)
    )

    def write(line: str) -> None:
        os.write(fd, (line + "\n").encode())
        kind = line.split(" ", 1)[0]
        plan.due(kind, lambda: logged(locks.parent, kind))

    def agent(outcome: Any) -> Any:
        def work(job: Any) -> Any:
            lock = locks / str(job.instance_id)
            hold(lock, job.key)
            write(f"start {job.key} {pid}")
            time.sleep(rng.uniform(0, 0.01) if work_ms is None else float(work_ms) / 1000)
            if rng.random() < fail:
                lock.unlink(missing_ok=True)
                raise ConnectionError(f"the provider failed {job.key}")
            write(f"end {job.key} {pid}")
            lock.unlink(missing_ok=True)
            return outcome

        return work

    def hold(lock: Path, key: str) -> None:
        """Take the instance's lock file; a live owner other than us is an overlap."""
        while True:
            try:
                fd_lock = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                try:
                    owner = int(lock.read_text() or 0)
                except (OSError, ValueError):
                    continue
                if owner and owner != pid and alive(owner):
                    write(f"overlap {key} {pid} {owner}")
                lock.unlink(missing_ok=True)  # a dead worker's lock
                continue
            os.write(fd_lock, str(pid).encode())
            os.close(fd_lock)
            return

    state, trigger = rt.State, rt.Trigger
    error = trigger.AGENT_ERROR
    policy = retry if fail else None
    cache = bool(os.environ.get(CACHE))
    for entered, outcome in (
        (state.DRAFTING, trigger.DRAFTED),
        (state.CHECKING, trigger.CHECKED),
        (state.PUBLISHING, trigger.PUBLISHED),
    ):
        register = handlers.on_enter(entered, error=error, retry=policy, cache=cache)
        register(agent(outcome))
    handlers.on_approval(state.REVIEW)(lambda job: write(f"ask {job.key}"))
    handlers.after_transition(lambda job: write(f"after {job.key}"))
    return handlers


def ended(folder: Path) -> set[str]:
    """The job keys of the agent calls that returned, in every worker's log."""
    return {
        line.split()[1]
        for path in folder.glob("*.acks")
        for line in path.read_text().splitlines()
        if line.startswith("end ")
    }


def logged(folder: Path, kind: str) -> int:
    """How many lines of ``kind`` every worker has logged in ``folder``."""
    prefix = kind + " "
    return sum(
        line.startswith(prefix)
        for path in folder.glob("*.acks")
        for line in path.read_text().splitlines()
    )


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by the test) is dead
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


if __name__ == "__main__":
    main(sys.argv[1:])
