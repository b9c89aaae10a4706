"""A durable worker process for the timer test: deadlines fired once across crashes.

    python timer_worker.py RUNTIME TARGET LOG LEASE SEED STOP

Imports the generated ``timer`` runtime at RUNTIME (``TIMER_SPEC`` in
``test_worker_timers.py``), opens a store on TARGET and runs a ``Worker`` until the file
STOP exists (idle, it waits on the store's NOTIFY, at most 0.5 s). Its one agent
(``on_enter`` WAITING) logs ``start KEY PID``, works 20 ms and logs ``end KEY PID``,
leaving the instance to its timer; ``after_transition`` logs ``after KEY`` (and
``expired KEY PID`` for the timed exit's record). Every line is one
``write``, so a SIGKILL never leaves half a line.

Where the worker's sweep writes a timed exit, it logs ``fire INSTANCE PID`` once the
record is inserted and before the transaction commits. A :class:`storekit.KillPlan` (in
``STATEWRIGHT_TEST_KILL_AT``) kills the process at its marks, counted in every worker's
lines of the window's kind: ``fire`` in the middle of the sweep's transaction (nothing
committed), ``start`` in the middle of the agent, ``expired`` once the timed exit's
effect ran (its delivery not committed, so it runs again).
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from agent_worker import logged
from store_worker import import_runtime
from storekit import KILL_AT, KillPlan, open_store


def main(argv: list[str]) -> None:
    runtime_path, target, log, lease, _seed, stop = argv[:6]
    rt = import_runtime(Path(runtime_path))
    store = open_store(target, rt)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    folder = Path(log).parent
    plan = KillPlan(os.environ.get(KILL_AT, ""), folder / "kills")
    pid = os.getpid()

    def write(line: str) -> None:
        os.write(fd, (line + "\n").encode())
        kind = line.split(" ", 1)[0]
        plan.due(kind, lambda: logged(folder, kind))

    insert = store._insert  # the store's own step that writes records, mid-transaction

    def insert_then_maybe_die(cursor: Any, machine: str, instance_id: str, entries: Any) -> None:
        insert(cursor, machine, instance_id, entries)
        if any('"expire"' in entry.body for entry in entries):
            write(f"fire {instance_id} {pid}")

    store._insert = insert_then_maybe_die
    handlers = rt.Handlers()

    def agent(job: Any) -> None:
        write(f"start {job.key} {pid}")
        time.sleep(0.02)
        write(f"end {job.key} {pid}")

    def after(job: Any) -> None:
        if job.record.trigger is rt.Trigger.EXPIRE:
            write(f"expired {job.key} {pid}")
        write(f"after {job.key}")

    handlers.on_enter(rt.State.WAITING)(agent)
    handlers.after_transition(after)
    worker = rt.Worker(store, handlers, lease=timedelta(seconds=float(lease)), batch=4)
    os.write(fd, b"ready\n")
    worker.run(stop=Path(stop).exists, idle=0.01, longest_idle=0.5)  # waits on NOTIFY


if __name__ == "__main__":
    main(sys.argv[1:])
