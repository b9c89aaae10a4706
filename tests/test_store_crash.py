"""Crash safety: workers killed with SIGKILL at random points lose no acknowledged
transition, leave nothing half written, and replay reproduces every stored state; on a
SQLite file and on a real PostgreSQL."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from storekit import SQL_BACKENDS, Backend, Fleet, backend_fixture, check_store, generate_runtime

sql_backend = backend_fixture(SQL_BACKENDS)
WORKERS = 3
INSTANCES_PER_WORKER = 4
TRANSITIONS = 2000
"""Acknowledged records to reach before the workers are stopped."""


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    generated: tuple[Any, Path] = generate_runtime(tmp_path_factory.mktemp("runtime"))
    return generated


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_transition(
    runtime: tuple[Any, Path], sql_backend: Backend, tmp_path: Path
) -> None:
    rt, path = runtime
    sql_backend.open(rt).close()  # the schema exists before the first worker starts
    fleet = Fleet(path, sql_backend.target, tmp_path)
    owned = {f"w{n}": [f"w{n}-i{k}" for k in range(INSTANCES_PER_WORKER)] for n in range(WORKERS)}
    for name, instances in owned.items():
        fleet.start(name, "drive", instances)
    rng = random.Random(7)
    kills = 0
    deadline = time.monotonic() + 120
    while (acked := len(fleet.acked_records())) < TRANSITIONS:
        # let the workers get going, then kill one at a random moment of its work
        while len(fleet.acked_records()) < acked + rng.randint(10, 100):
            assert time.monotonic() < deadline, "the workers made too little progress"
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.02))
        victim = rng.choice(sorted(owned))
        fleet.kill(victim)
        kills += 1
        fleet.restart(victim)
    fleet.stop()
    every = [instance for instances in owned.values() for instance in instances]
    counts = check_store(rt, sql_backend.open(rt), every, fleet)
    unacknowledged = counts["stored"] - counts["acked"]
    assert 0 <= unacknowledged <= 2 * kills, counts
    assert kills >= 5
    print(
        f"\n{sql_backend.name}: {counts['stored']} transitions stored, {counts['acked']} "
        f"acknowledged, {unacknowledged} committed but unacknowledged, {kills} SIGKILLs, "
        f"{WORKERS} workers"
    )
