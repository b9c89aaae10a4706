"""The durable worker under SIGKILL and in numbers: worker processes killed in the middle
of an agent's work and after a delivered effect lose no effect of a committed transition
(each runs at least once), an instance is never worked on by two processes at once, every
instance finishes, and every chain and replay holds; on a SQLite file (one worker) and on
a real PostgreSQL (several).

The kills are fixed by construction, not timed: a worker kills itself at the marks of its
:class:`storekit.KillPlan` (the N-th agent start or delivered ``after`` effect, counted in
all the workers' logs), and the test waits until every mark was claimed and every death
seen, so a loaded machine only makes it take longer.
"""

from __future__ import annotations

import signal
import time
from collections import Counter
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


KILL_AT = "start:10,after:30,start:55,after:90,start:100,after:150,start:140,after:210"
"""Where the workers die: at the 10th agent start, the 30th delivered ``after`` effect, and
so on. 60 instances make at least 180 starts and 300 ``after`` effects, and every death
makes one more (the work is delivered again), so every mark is reached."""


def start_fleet(
    path: Path, backend: Backend, folder: Path, workers: int, lease: float, kill_at: str = ""
) -> Fleet:
    """Start ``workers`` workers, and wait until each has started (or died at a mark)."""
    fleet = Fleet(path, backend.target, folder, script="agent_worker.py")
    for n in range(workers):
        fleet.start(f"worker{n}", str(lease), [], kill_at)
    while fleet.count("ready") < workers:  # a ready worker may already have met a mark
        for name, (process, _, _) in fleet.processes.items():
            assert process.poll() in (None, -signal.SIGKILL), (
                f"{name} exited with {process.returncode}"
            )
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
    fleet = start_fleet(path, sql_backend, tmp_path, workers, lease=1.0, kill_at=KILL_AT)
    marks = sorted(KILL_AT.split(","))
    wait_for(rt, store, instances, fleet, until=lambda: fleet.killed == len(marks))
    fleet.stop()
    assert fleet.claimed() == marks, "every mark killed a worker, once"
    counts = check_delivery(rt, sql_backend.open(rt), instances, fleet)
    after = sum(mark.startswith("after:") for mark in marks)
    assert counts["repeated"] >= after, "an effect whose worker died after it ran runs again"
    print(
        f"\n{sql_backend.name}: {len(instances)} instances done, {counts['records']} records, "
        f"{counts['effects']} effects all delivered ({counts['runs']} runs, "
        f"{counts['repeated']} run more than once), {fleet.killed} SIGKILLs at fixed marks, "
        f"{workers} worker(s)"
    )


@pytest.mark.slow
def test_workers_share_many_instances_on_postgresql(
    runtime: tuple[Any, Path], postgres_url: str, tmp_path: Path
) -> None:
    rt, path = runtime
    backend = Backend("postgresql", postgres_url)
    store = backend.open(rt)
    fleet = start_fleet(path, backend, tmp_path, 4, lease=10.0)  # all ready: none has a head start
    started = time.monotonic()
    instances = start_instances(rt, store, 80)
    wait_for(rt, store, instances, fleet)
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


CRASH_KILLS = ",".join(f"start:{10 + 25 * n}" for n in range(22))
"""22 kills in the middle of an agent's work: 200 instances make at least 600 starts."""


@pytest.mark.slow
def test_the_crash_test_of_the_issue(
    runtime: tuple[Any, Path], postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """200 instances, 4 workers on PostgreSQL, 22 SIGKILLs mid-handler, 50 ms agents of
    which a fifth of the calls fail (retried by their policy): every effect delivered, the
    repeats counted, none lost."""
    rt, path = runtime
    backend = Backend("postgresql", postgres_url)
    store = backend.open(rt)
    monkeypatch.setenv("STATEWRIGHT_TEST_WORK_MS", "50")
    monkeypatch.setenv("STATEWRIGHT_TEST_FAIL", "0.2")
    instances = start_instances(rt, store, 200)
    fleet = start_fleet(path, backend, tmp_path, 4, lease=1.0, kill_at=CRASH_KILLS)
    marks = sorted(CRASH_KILLS.split(","))
    wait_for(rt, store, instances, fleet, until=lambda: fleet.killed == len(marks))
    fleet.stop()
    assert fleet.claimed() == marks, "every mark killed a worker, once"
    counts = check_delivery(rt, backend.open(rt), instances, fleet)
    kinds = Counter(words[0] for words in fleet.acks())
    failed = kinds["start"] - kinds["end"]
    assert failed >= len(marks), "every kill cut an agent's call off"
    backend.close()
    print(
        f"\npostgresql: {len(instances)} instances, 4 workers, {fleet.killed} SIGKILLs mid-handler,"
        f" 50 ms agents failing 20%: {counts['effects']} effects, all delivered, "
        f"{counts['repeated']} repeated, 0 lost; {counts['runs']} runs; {failed} agent"
        " calls failed or were cut off, and were retried"
    )


# -- effect results cached under job.key --------------------------------------------------

CACHE_KILLS = "commit:1,commit:2,commit:3"
"""A worker dies at its first three writes of records after an agent call returned: after
the DRAFTING, CHECKING and PUBLISHING agents' calls (and the caching of their results),
before the transition each fires is committed."""


def calls_after_kills(
    runtime: tuple[Any, Path], backend: Backend, folder: Path, cache: bool, monkeypatch: Any
) -> tuple[Counter[str], int]:
    """One relay instance through one worker that dies before each agent's transition
    commits, restarted each time: the model calls made, by job key, and the kills."""
    rt, path = runtime
    store = backend.open(rt)
    monkeypatch.setenv("STATEWRIGHT_TEST_WORK_MS", "0")
    monkeypatch.setenv("STATEWRIGHT_TEST_CACHE", "1" if cache else "")
    instances = start_instances(rt, store, 1)
    fleet = start_fleet(path, backend, folder, 1, lease=1.0, kill_at=CACHE_KILLS)
    marks = sorted(CACHE_KILLS.split(","))
    wait_for(rt, store, instances, fleet, until=lambda: fleet.killed == len(marks))
    fleet.stop()
    assert fleet.claimed() == marks, "every mark killed the worker, once"
    check_delivery(rt, backend.open(rt), instances, fleet)
    calls = Counter(words[1] for words in fleet.acks() if words[0] == "end")
    return calls, fleet.killed


@pytest.mark.parametrize("cache", [True, False], ids=["cached", "uncached"])
def test_a_redelivery_after_a_kill_returns_the_cached_result(
    runtime: tuple[Any, Path],
    sql_backend: Backend,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    cache: bool,
) -> None:
    """kill -9 after the model call returned (its result cached) and before the transition
    committed, three times: with cache=True each call is made once (the redelivery finds
    the result under job.key), without it twice."""
    calls, kills = calls_after_kills(runtime, sql_backend, tmp_path, cache, monkeypatch)
    assert kills == 3
    keys = ["relay:r0:2:enter", "relay:r0:3:enter", "relay:r0:5:enter"]
    assert {key: calls[key] for key in keys} == {key: 1 if cache else 2 for key in keys}
    rt, _ = runtime
    store = sql_backend.open(rt)
    assert rt.Relay.load(store, "r0").state is rt.State.DONE
    if cache:  # each result deleted with the commit it stood in for
        connection = store._connection
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM statewright_effects")
        assert cursor.fetchone()[0] == 0
        cursor.close()
