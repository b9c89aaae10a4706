"""Timers under crashes: a deadline fires exactly once across four worker processes on a
real PostgreSQL while workers are SIGKILLed in the middle of a round (mid-sweep, with the
timed exit written and not committed; mid-agent; after the timed exit's effect ran).

The kills are fixed by construction (:class:`storekit.KillPlan`, counted in the workers'
logs, see ``timer_worker.py``), never timed.
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from pgcluster import postgres_server, postgres_url
from storekit import Backend, Fleet, Stall, generate_runtime

__all__ = ["postgres_server", "postgres_url"]

TIMER_SPEC = """\
statewright: 1
machine: timer
initial: IDLE
states:
  IDLE: {kind: idle}
  WAITING: {kind: running}
  EXPIRED: {kind: failed, reviewers: [lead]}
  FINISHED: {kind: complete, final: true}
transitions:
  - {from: IDLE, to: WAITING, trigger: start}
  - {from: WAITING, to: FINISHED, trigger: finish}
  - {from: WAITING, to: EXPIRED, trigger: expire, after: 1s, reason: LATE}
  - {from: EXPIRED, to: WAITING, trigger: resume, human: true}
reasons:
  LATE: {recovery: [Start again]}
"""

KILLS = "fire:3,start:6,fire:12,expired:10,fire:22,start:30,expired:25,fire:32"
"""Four kills mid-sweep (the timed exit inserted, not committed), two mid-agent, two
after the timed exit's effect ran. 40 instances log at least 40 ``fire``, ``start`` and
``expired`` lines, and every death makes more, so every mark is reached."""


@pytest.fixture(scope="module")
def timer_runtime(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    return generate_runtime(tmp_path_factory.mktemp("timer"), TIMER_SPEC)


@pytest.mark.slow
def test_a_deadline_fires_once_across_four_workers_with_kills(
    timer_runtime: tuple[Any, Path], postgres_url: str, tmp_path: Path
) -> None:
    rt, path = timer_runtime
    backend = Backend("postgresql", postgres_url)
    store = backend.open(rt)
    fleet = Fleet(path, backend.target, tmp_path, script="timer_worker.py")
    for n in range(4):
        fleet.start(f"worker{n}", "1.0", [], KILLS)
    stall = Stall(15_000)
    while fleet.count("ready") < 4:  # each has made the outbox table (none has work yet)
        stall.saw(fleet.count("ready"), "the workers never started")
        time.sleep(0.02)
    instances = [f"t{n}" for n in range(40)]
    for instance_id in instances:
        rt.Timer.create(store, instance_id).start()
    marks = sorted(KILLS.split(","))
    outbox = rt.Outbox(store, create=False)
    while True:  # until every timer fired, every effect was delivered and every mark killed
        fleet.restart_killed()
        states = Counter(rt.Timer.load(store, i).state.value for i in instances)
        pending = outbox.pending()
        expired = states == Counter({"EXPIRED": len(instances)})
        if expired and not pending and fleet.killed == len(marks):
            break
        stall.saw((len(fleet.acks()), sorted(states.items()), len(pending)), str(dict(states)))
        time.sleep(0.02)
    fleet.stop()
    assert fleet.claimed() == marks, "every mark killed a worker, once"

    store = backend.open(rt)
    assert store.verify() == [], "every chain intact"
    lines = fleet.acks()
    ran = Counter(words[1] for words in lines if words[0] in ("end", "after"))
    for instance_id in instances:
        machine = rt.Timer.load(store, instance_id)
        assert rt.Timer.replay(machine.audit).state is machine.state
        exits = [r for r in machine.audit if r.trigger is rt.Trigger.EXPIRE]
        assert len(exits) == 1, f"{instance_id}: the deadline fired {len(exits)} times"
        for record in machine.audit[1:]:
            key = f"timer:{instance_id}:{record.seq}"
            assert ran[f"{key}:after"], f"{key}: after_transition never delivered"
    fires = Counter(words[1] for words in lines if words[0] == "fire")
    tried_twice = sum(1 for count in fires.values() if count > 1)
    killed_mid_sweep = sum(mark.startswith("fire:") for mark in marks)
    assert sum(fires.values()) >= len(instances) + killed_mid_sweep
    assert tried_twice >= killed_mid_sweep, "a timer whose sweep died was fired again"
    backend.close()
    print(
        f"\npostgresql: {len(instances)} timers, 4 workers, {fleet.killed} SIGKILLs"
        f" ({killed_mid_sweep} mid-sweep): each deadline committed exactly once;"
        f" {sum(fires.values())} fires written, {tried_twice} timers written more than once"
        " by a sweep that died before its commit; chains intact"
    )
    for name, (process, _, _) in fleet.processes.items():
        assert process.returncode in (0, -signal.SIGKILL), name


def test_an_idle_worker_waits_for_new_work_on_postgresql_and_wakes_at_once(
    timer_runtime: tuple[Any, Path], postgres_url: str
) -> None:
    """An idle worker asks to wait as long as ``longest_idle`` (an hour) when nothing is
    due, and is woken by each new piece of work (the store's NOTIFY), so the work is done
    long before any wait could have run out; a deadline shortens the wait to it. Counted:
    claim rounds, waits and wakes."""
    rt, _ = timer_runtime
    backend = Backend("postgresql", postgres_url)
    api = backend.open(rt)
    store = backend.open(rt)
    served: queue.SimpleQueue[str] = queue.SimpleQueue()
    handlers = rt.Handlers()

    def agent(job: Any) -> Any:
        served.put(job.instance_id)
        return None if job.instance_id == "late" else rt.Trigger.FINISH

    handlers.on_enter(rt.State.WAITING)(agent)

    worker = rt.Worker(store, handlers)
    claims = [0]
    claim = worker.outbox.claim

    def counted_claim(*args: Any) -> Any:
        claims[0] += 1
        return claim(*args)

    worker.outbox.claim = counted_claim
    waits: list[float] = []
    waiting = threading.Event()
    listen = store.listen

    def counted_listen(machine: str) -> Any:
        wait = listen(machine)
        assert wait is not None, "psycopg 3 can wait for notifications"

        def counted(seconds: float) -> bool:
            waits.append(seconds)
            waiting.set()
            return bool(wait(seconds))

        return counted

    store.listen = counted_listen
    stop = threading.Event()
    thread = threading.Thread(
        target=worker.run, kwargs={"stop": stop.is_set, "idle": 0.01, "longest_idle": 3600.0}
    )
    thread.start()
    try:
        assert waiting.wait(120), "the worker never went idle"
        for n in range(5):  # each while the worker waits, idle
            waiting.clear()
            rt.Timer.create(api, f"job{n}").start()  # two writes, two announcements
            assert served.get(timeout=120) == f"job{n}", "new work wakes the idle worker"
            assert waiting.wait(120), "the worker went idle again"
        # nothing due: each wait is the longest, or shorter when the other write of a piece
        # of work landed after the round that claimed it: the shortest if the claim had
        # enrolled it (due now), else cut to its WAITING deadline (a second away), as a
        # claim enrols only the instances it takes; its announcement, queued on the
        # connection, ends that wait at once (served above)
        long = [seconds for seconds in waits if seconds == 3600.0]
        cut = [seconds for seconds in waits if 0.01 <= seconds <= 1.0]
        assert len(long) + len(cut) == len(waits), waits
        assert len(long) >= 5 and len(waits) - len(long) <= 5, waits
        assert 5 <= worker.metrics.wakes <= 10, "woken by the announcements, none other"
        # the first, one per wait, and one after each round with work: a piece of work is
        # two writes, and a round may come between them (the second then makes a round of
        # its own, with no wait before it), so at most two rounds with work a piece
        rounds = claims[0]
        assert rounds <= 1 + len(waits) + 2 * 5, f"{rounds} claim rounds"
        wakes = worker.metrics.wakes
        rt.Timer.create(api, "late").start()  # stays WAITING: its timer fires in a second
        assert served.get(timeout=120) == "late"
        stall = Stall(15_000)
        while rt.Timer.load(api, "late").state is not rt.State.EXPIRED:
            stall.saw(len(waits), "the timer never fired")
            time.sleep(0.02)
        assert min(waits) <= 1.0, "the wait was cut to the deadline"
    finally:
        stop.set()
        rt.Timer.create(api, "wake-up").start()  # wake it to see ``stop``
        thread.join()
    backend.close()
    print(
        f"\npostgresql: 5 pieces of work done in {rounds} claim rounds, {wakes} idle waits"
        " of an hour each woken by NOTIFY; then a timer, its wait cut to its deadline"
    )


def test_a_store_without_notifications_leaves_the_worker_polling(tmp_path: Path) -> None:
    from statewright.generator.runtime.sqlstore import SqlStore

    assert SqlStore.sqlite(str(tmp_path / "runs.db")).listen("timer") is None
