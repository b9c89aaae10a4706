"""A worker process for the crash and concurrency tests of the durable store.

    python store_worker.py RUNTIME TARGET ACKS MODE SEED STOP INSTANCE...

Imports the generated ``ticket`` runtime at RUNTIME, opens a store on TARGET (a SQLite
path or a PostgreSQL URL) and, until the file STOP exists, either drives random allowed
transitions on the given instances (MODE ``drive``) or sweeps due timeouts with a clock
two hours ahead (MODE ``sweep``). Every record a call appended is acknowledged *after the
call returned*, one line ``instance seq to_state trigger`` written straight to the ACKS
file, so a SIGKILL can only lose acknowledgements, never invent one. A lost race
(``ConcurrencyConflict``) reloads the instance and counts a line ``conflict``.

A driver given a :class:`storekit.KillPlan` (in ``STATEWRIGHT_TEST_KILL_AT``) kills itself
at its marks, counted in records it acked (this process and its earlier lives), in one of
three windows: ``insert`` in the middle of a write transaction (records inserted, nothing
committed), ``commit`` after a call committed and before its acknowledgement, ``ack``
after it.
"""

from __future__ import annotations

import importlib
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storekit import KILL_AT, KillPlan

MOVES = {
    "OPEN": ["start"],
    "WORKING": ["step", "step", "step", "submit", "finish", "context"],
    "REVIEW": ["approve", "reject", "wait"],
    "STUCK": ["resume"],
}
"""What a driver may do in each state the machine rests in (``wait``: leave it to sweep)."""


def main(argv: list[str]) -> None:
    runtime_path, target, acks, mode, seed, stop, *instances = argv
    runtime = import_runtime(Path(runtime_path))
    if target.startswith("postgresql://"):
        import psycopg

        store = runtime.SqlStore(psycopg.connect(target))
    else:
        store = runtime.SqlStore.sqlite(target)
    fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    rng = random.Random(int(seed))
    os.write(fd, b"ready\n")
    if mode == "sweep":
        sweep(runtime, store, fd, Path(stop))
    else:
        plan = KillPlan(os.environ.get(KILL_AT, ""), Path(acks).parent / "kills")
        drive(runtime, store, fd, rng, Path(stop), instances, plan, Path(acks))


def import_runtime(path: Path) -> Any:
    """The runtime module at ``<folder>/<package>/<machine>/runtime.py``, imported as
    ``<package>.<machine>.runtime`` so that it finds its support package beside it."""
    machine, package = path.parent, path.parent.parent
    sys.path.insert(0, str(package.parent))
    return importlib.import_module(f"{package.name}.{machine.name}.runtime")


def ack(fd: int, instance_id: str, records: Any) -> int:
    """Acknowledge ``records`` with one ``write``; how many."""
    lines = [
        f"{instance_id} {r.seq} {r.to_state.value} {r.trigger and r.trigger.value}\n"
        for r in records
    ]
    if lines:
        os.write(fd, "".join(lines).encode())
    return len(lines)


def drive(
    runtime: Any,
    store: Any,
    fd: int,
    rng: random.Random,
    stop: Path,
    ids: list[str],
    plan: KillPlan,
    acks: Path,
) -> None:
    cls = runtime.Ticket
    lead = runtime.Actor("lead-1", frozenset({"lead"}))
    machines: dict[str, Any] = {}
    acked = [sum(1 for line in acks.read_text().splitlines() if len(line.split()) == 4)]
    insert = store._insert  # the store's own step that writes records, mid-transaction

    def insert_then_maybe_die(*args: Any) -> None:
        insert(*args)
        plan.due("insert", lambda: acked[0])

    store._insert = insert_then_maybe_die
    while not stop.exists():
        instance_id = rng.choice(ids)
        machine = machines.get(instance_id)
        if machine is None:
            machine = machines[instance_id] = get(runtime, store, instance_id)
        move = rng.choice(MOVES[machine.state.value])
        before = len(machine.audit)
        try:
            if move == "wait":
                time.sleep(0.001)
            elif move == "context":
                machine.update_context({"steps": before, "by": os.getpid()})
                os.write(fd, f"{instance_id} context {before}\n".encode())
            elif move in ("approve", "reject", "resume"):
                payload = {"why": f"checked at {before}"}
                machine.fire(runtime.Trigger(move), actor=lead, decision="ok", payload=payload)
            else:
                machine.fire(runtime.Trigger(move))
        except runtime.ConcurrencyConflict:
            os.write(fd, b"conflict\n")
            machines[instance_id] = cls.load(store, instance_id)
            continue
        plan.due("commit", lambda: acked[0])
        acked[0] += ack(fd, instance_id, machine.audit[before:])
        plan.due("ack", lambda: acked[0])


def get(runtime: Any, store: Any, instance_id: str) -> Any:
    try:
        return runtime.Ticket.load(store, instance_id)
    except runtime.UnknownInstance:
        pass
    try:
        return runtime.Ticket.create(store, instance_id)
    except runtime.InstanceExists:
        return runtime.Ticket.load(store, instance_id)


def sweep(runtime: Any, store: Any, fd: int, stop: Path) -> None:
    def ahead() -> datetime:
        return datetime.now(UTC) + timedelta(hours=2)

    while not stop.exists():
        fired = runtime.Ticket.sweep(store, clock=ahead).fired
        for instance_id, record in fired:
            ack(fd, instance_id, [record])
        if not fired:
            time.sleep(0.005)


if __name__ == "__main__":
    main(sys.argv[1:])
