"""Crash safety: workers killed with SIGKILL lose no acknowledged transition, leave nothing
half written, and replay reproduces every stored state; on a SQLite file and on a real
PostgreSQL.

The kills are fixed by construction, not timed: each driver kills itself at marks of its
:class:`storekit.KillPlan` (counted in the records it acked), in the three windows of a
call: in the middle of its write transaction, after the commit and before the
acknowledgement, and after the acknowledgement. The test waits until every mark was
claimed and enough records were acked, so a loaded machine only makes it take longer.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from storekit import (
    SQL_BACKENDS,
    Backend,
    Fleet,
    Stall,
    backend_fixture,
    check_store,
    generate_runtime,
)

sql_backend = backend_fixture(SQL_BACKENDS)
WORKERS = 3
INSTANCES_PER_WORKER = 4
TRANSITIONS = 2000
"""Acknowledged records to reach before the workers are stopped."""
WINDOWS = ("insert", "commit", "ack")
KILLS_PER_WORKER = 4
"""Each driver dies this many times, at marks spread over its first 600 acks (a driver acks
about a third of :data:`TRANSITIONS`), the windows in turn."""
STALL = 15_000
"""Polls (each at least 20 ms apart) without a single new acknowledgement after which the
workers are stuck: a hang guard counted in polls; the test waits on counts, however slow
the machine."""


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    generated: tuple[Any, Path] = generate_runtime(tmp_path_factory.mktemp("runtime"))
    return generated


def kill_plan(worker: int) -> str:
    """Worker ``worker``'s marks: windows in turn, the workers' marks interleaved."""
    marks = [
        f"{WINDOWS[(worker + k) % len(WINDOWS)]}:{40 + 150 * k + 37 * worker}"
        for k in range(KILLS_PER_WORKER)
    ]
    return ",".join(marks)


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_transition(
    runtime: tuple[Any, Path], sql_backend: Backend, tmp_path: Path
) -> None:
    rt, path = runtime
    sql_backend.open(rt).close()  # the schema exists before the first worker starts
    fleet = Fleet(path, sql_backend.target, tmp_path)
    owned = {f"w{n}": [f"w{n}-i{k}" for k in range(INSTANCES_PER_WORKER)] for n in range(WORKERS)}
    plans = {name: kill_plan(n) for n, name in enumerate(owned)}
    for name, instances in owned.items():
        fleet.start(name, "drive", instances, plans[name])
    expected = sorted(mark for plan in plans.values() for mark in plan.split(","))
    stall = Stall(STALL)
    while (
        (acked := len(fleet.acked_records())) < TRANSITIONS
        or fleet.claimed() != expected
        or fleet.killed < len(expected)  # a claimed mark's worker is dead or about to be
    ):
        fleet.restart_killed()
        stall.saw(acked, f"{acked} acked")
        time.sleep(0.02)
    fleet.stop()
    assert fleet.killed == len(expected) == WORKERS * KILLS_PER_WORKER  # each mark: one death
    every = [instance for instances in owned.values() for instance in instances]
    counts = check_store(rt, sql_backend.open(rt), every, fleet)
    unacknowledged = counts["stored"] - counts["acked"]
    assert 0 <= unacknowledged <= 2 * fleet.killed, counts
    print(
        f"\n{sql_backend.name}: {counts['stored']} transitions stored, {counts['acked']} "
        f"acknowledged, {unacknowledged} committed but unacknowledged, {fleet.killed} "
        f"SIGKILLs at fixed marks, {WORKERS} workers"
    )
