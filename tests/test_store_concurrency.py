"""Concurrency: several processes hammering one instance, and many instances, with
sweepers firing timeouts under the same load; every committed record was acknowledged by
exactly one worker, races ended in ConcurrencyConflict, and every chain and replay holds.
On a SQLite file and on a real PostgreSQL.

The tests count work, not time: the workers run until they acked a number of records *and*
did what the test is about (a race lost, a timeout swept), and fail if that takes ten
times the records; a loaded machine only makes them take longer.
"""

from __future__ import annotations

import time
from collections.abc import Callable
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
DRIVERS = 4
STALL = 6_000
"""Polls (each at least 50 ms apart) without a new acknowledgement after which the workers
are stuck: a hang guard counted in polls, never in time."""


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    generated: tuple[Any, Path] = generate_runtime(tmp_path_factory.mktemp("runtime"))
    return generated


def hammer(
    runtime: tuple[Any, Path],
    backend: Backend,
    folder: Path,
    instances: list[str],
    sweepers: int,
    records: int,
    until: Callable[[Fleet], bool],
) -> tuple[Fleet, dict[str, int]]:
    """Run DRIVERS drivers over ``instances`` and ``sweepers`` sweepers until they acked
    ``records`` records and ``until(fleet)`` holds; fail past ten times ``records``."""
    rt, path = runtime
    backend.open(rt).close()
    for instance_id in instances:
        rt.Ticket.create(backend.open(rt), instance_id)
    fleet = Fleet(path, backend.target, folder)
    for n in range(DRIVERS):
        fleet.start(f"driver{n}", "drive", instances)
    for n in range(sweepers):
        fleet.start(f"sweeper{n}", "sweep", [])
    while fleet.count("ready") < DRIVERS + sweepers:
        for name, (process, _, _) in fleet.processes.items():
            assert process.poll() is None, f"{name} exited with {process.returncode}"
        time.sleep(0.05)
    stall = Stall(STALL)
    while (acked := len(fleet.acked_records())) < records or not until(fleet):
        assert acked < 10 * records, (
            f"{acked} records acked, and still no race lost or timeout swept"
        )
        stall.saw(acked, f"{acked} acked")
        time.sleep(0.05)
    fleet.stop()
    counts = check_store(rt, backend.open(rt), instances, fleet)
    assert counts["stored"] == counts["acked"], "a committed record nobody acknowledged"
    print(
        f"\n{backend.name}: {counts['stored']} transitions on {len(instances)} instance(s) by "
        f"{DRIVERS} drivers and {sweepers} sweepers, {fleet.count('conflict')} conflicts, "
        f"{fleet.count('review_timeout')} timeouts swept"
    )
    return fleet, counts


@pytest.mark.slow
def test_processes_racing_on_one_instance(
    runtime: tuple[Any, Path], sql_backend: Backend, tmp_path: Path
) -> None:
    lost = lambda fleet: fleet.count("conflict") > 0  # noqa: E731
    fleet, _ = hammer(runtime, sql_backend, tmp_path, ["hot"], 1, records=300, until=lost)
    assert fleet.count("conflict") > 0


@pytest.mark.slow
def test_processes_and_sweepers_over_many_instances(
    runtime: tuple[Any, Path], sql_backend: Backend, tmp_path: Path
) -> None:
    instances = [f"t{n}" for n in range(12)]
    swept = lambda fleet: fleet.count("review_timeout") > 0  # noqa: E731
    fleet, _ = hammer(runtime, sql_backend, tmp_path, instances, 2, records=600, until=swept)
    assert fleet.count("review_timeout") > 0
