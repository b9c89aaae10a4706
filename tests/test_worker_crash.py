"""The durable worker under SIGKILL and in numbers: worker processes killed at random
points lose no effect of a committed transition (each runs at least once), an instance is
never worked on by two processes at once, every instance finishes, and every chain and
replay holds; on a SQLite file (one worker) and on a real PostgreSQL (several)."""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import pytest
from agentkit import check_delivery, relay_runtime, wait_for
from pgcluster import postgres_server, postgres_url
from storekit import SQL_BACKENDS, Backend, Fleet, backend_fixture

__all__ = ["postgres_server", "postgres_url"]

sql_backend = backend_fixture(SQL_BACKENDS)


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    return relay_runtime(tmp_path_factory.mktemp("relay"))


def start_instances(rt: Any, store: Any, count: int) -> list[str]:
    instances = [f"r{n}" for n in range(count)]
    for instance_id in instances:
        rt.Relay.create(store, instance_id).start()
    return instances


def start_fleet(path: Path, backend: Backend, folder: Path, workers: int, lease: float) -> Fleet:
    fleet = Fleet(path, backend.target, folder, script="agent_worker.py")
    for n in range(workers):
        fleet.start(f"worker{n}", str(lease), [])
    deadline = time.monotonic() + 60
    while fleet.count("ready") < workers:
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.05)
    return fleet


@pytest.mark.slow
def test_sigkill_loses_no_effect(
    runtime: tuple[Any, Path], sql_backend: Backend, tmp_path: Path
) -> None:
    rt, path = runtime
    store = sql_backend.open(rt)  # the workers create the outbox table as they start
    workers = 1 if sql_backend.name == "sqlite" else 3
    instances = start_instances(rt, store, 60)
    fleet = start_fleet(path, sql_backend, tmp_path, workers, lease=1.0)
    rng = random.Random(13)
    kills = 0
    mark = rng.randint(5, 20)

    def kill_now_and_then() -> None:
        """SIGKILL a worker each time the log grew by a random number of lines."""
        nonlocal kills, mark
        lines = len(fleet.acks())
        if lines >= mark and kills < 10:
            time.sleep(rng.uniform(0, 0.02))
            victim = f"worker{rng.randrange(workers)}"
            fleet.kill(victim)
            kills += 1
            fleet.restart(victim)
            mark = lines + rng.randint(5, 30)

    wait_for(rt, store, instances, fleet, 120, poll=kill_now_and_then)
    fleet.stop()
    counts = check_delivery(rt, sql_backend.open(rt), instances, fleet)
    assert kills >= 5
    print(
        f"\n{sql_backend.name}: {len(instances)} instances done, {counts['records']} records, "
        f"{counts['effects']} effects all delivered ({counts['runs']} runs, "
        f"{counts['repeated']} run more than once), {kills} SIGKILLs, {workers} worker(s)"
    )


@pytest.mark.slow
def test_workers_share_many_instances_on_postgresql(
    runtime: tuple[Any, Path], postgres_url: str, tmp_path: Path
) -> None:
    rt, path = runtime
    backend = Backend("postgresql", postgres_url)
    store = backend.open(rt)
    instances = start_instances(rt, store, 80)
    started = time.monotonic()
    fleet = start_fleet(path, backend, tmp_path, 4, lease=10.0)
    wait_for(rt, store, instances, fleet, 120)
    elapsed = time.monotonic() - started
    fleet.stop()
    counts = check_delivery(rt, backend.open(rt), instances, fleet)
    assert counts["repeated"] == 0, "without a crash, no effect runs twice"
    workers_used = {words[2] for words in fleet.acks() if words[0] == "start"}
    assert len(workers_used) >= 2, "the work was not shared"
    backend.close()
    print(
        f"\npostgresql: 4 workers, {len(instances)} instances done in {elapsed:.1f}s, "
        f"{counts['effects']} effects each run exactly once, by {len(workers_used)} processes"
    )
