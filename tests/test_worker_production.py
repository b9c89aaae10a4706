"""The durable worker for production agent pipelines: leases kept while a handler runs
(heartbeats), retry policies per handler ending in a declared failure (the dead letter),
only the failed handler retried, concurrent asyncio handlers under per-provider limits.

Counted work only: clocks are the tests' own (a handler moves it), and where the worker
must notice something while a handler runs, the handler waits until the worker's counters
say it did (bounded, so a worker that never does fails the test instead of hanging it).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from agentkit import relay_runtime
from hypothesis import given
from hypothesis import strategies as st
from pgcluster import postgres_server, postgres_url
from storekit import SQL_BACKENDS, Backend, Stall, backend_fixture, open_store
from test_runtime_kit import Clock

from statewright.generator.runtime.retry import Retry as SupportRetry
from statewright.generator.runtime.store import instant

__all__ = ["postgres_server", "postgres_url"]

backend = backend_fixture(SQL_BACKENDS)
pg_backend = backend_fixture(("postgresql",))

PATIENCE = 600.0
"""The most seconds a handler waits for the worker to notice something: a bound that
turns a worker that never does into a failure instead of a hang, never a timing
assertion (what the tests assert is counted: the clock's reads, the worker's counters),
and far beyond what a loaded CI machine takes."""


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return relay_runtime(tmp_path_factory.mktemp("relay"))[0]


def wait_until(condition: Callable[[], bool]) -> None:
    """Wait for ``condition``; fail (not hang) if it never holds: after
    :data:`PATIENCE` seconds' worth of polls, counted in polls (:class:`Stall`), so a
    loaded machine only makes each poll later."""
    stall = Stall(int(PATIENCE * 1000))
    while not condition():
        stall.saw(None, "the worker never got there")
        time.sleep(0.001)


def looked_twice(clock: Clock) -> Callable[[], bool]:
    """True once the worker read ``clock`` twice from now: the first look (and the lease
    renewal it called for) is over."""
    since = clock.calls
    return lambda: clock.calls > since + 1


def moves_on(rt: Any, job: Any) -> Any:
    """What an agent of the relay returns in ``job``'s state: the next trigger."""
    return {rt.State.DRAFTING: rt.Trigger.DRAFTED, rt.State.CHECKING: rt.Trigger.CHECKED}[job.state]


# -- heartbeats -------------------------------------------------------------------------


def run_a_long_handler(
    rt: Any, backend: Backend, heartbeat: timedelta, *, warm_up: bool = False
) -> dict[str, int]:
    """One worker runs a DRAFTING handler for three times its lease (by the worker's
    clock, moved by the handler a quarter lease at a time); at every step another worker
    (its own connection, on the handler's thread) tries to claim the instance. With
    ``warm_up``, a quick call of the same handler comes first, so the long one is made on
    the worker's own thread (its heartbeats then the watchdog's). Counts of what happened."""
    store, clock = backend.open(rt), Clock()
    lease = timedelta(seconds=60)
    counts = {"calls": 0, "stolen": 0, "rival_calls": 0, "inline": 0}
    here = threading.get_ident()  # the thread the worker runs on
    rival_handlers = rt.Handlers()

    def rival_agent(job: Any) -> Any:
        counts["rival_calls"] += 1
        return moves_on(rt, job)

    rival_handlers.on_enter(rt.State.DRAFTING)(rival_agent)
    worker: Any = None

    def agent(job: Any) -> Any:
        counts["calls"] += 1
        counts["inline"] += threading.get_ident() == here
        if job.instance_id == "warm":
            return rt.Trigger.DRAFTED
        rival = rt.Worker(open_store(backend.target, rt), rival_handlers, clock=clock)
        for _ in range(12):  # 12 quarter leases: 3 leases
            clock.advance(seconds=lease.total_seconds() / 4)
            if heartbeat < lease:  # a heartbeat is due: wait until the worker looked
                wait_until(looked_twice(clock))
            counts["stolen"] += rival.run_once().claimed
        rival.store.close()
        return rt.Trigger.DRAFTED

    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(agent)
    worker = rt.Worker(store, handlers, clock=clock, lease=lease, heartbeat=heartbeat)
    if warm_up:
        worker._quick_below = float("inf")  # the warm-up counts as quick, however loaded CI is
        rt.Relay.create(store, "warm", clock=clock).start()
    rt.Relay.create(store, "long", clock=clock).start()
    done = worker.run_once()
    counts["fired"] = done.fired
    counts["lost"] = done.lost
    counts["renewals"] = worker.metrics.renewals
    machine = rt.Relay.load(store, "long")
    counts["drafted"] = sum(r.trigger is rt.Trigger.DRAFTED for r in machine.audit)
    return counts


def test_a_handler_running_three_leases_runs_once_and_commits_once(
    rt: Any, backend: Backend
) -> None:
    counts = run_a_long_handler(rt, backend, heartbeat=timedelta(milliseconds=1))
    assert counts["calls"] == 1 and counts["rival_calls"] == 0 and counts["stolen"] == 0
    assert counts["inline"] == 0, "a handler's first call is made on the helper thread"
    assert counts["drafted"] == 1 and counts["lost"] == 0
    assert counts["renewals"] == 4, "renewed at 45, 90, 135 and 180 s: each half lease"


def test_without_heartbeats_the_long_handler_is_taken_over(rt: Any, backend: Backend) -> None:
    """The control: a worker that never looks while its handler runs loses the instance
    to the rival, and its own commit is refused (so the test above can fail)."""
    counts = run_a_long_handler(rt, backend, heartbeat=timedelta(hours=1))
    assert counts["stolen"] >= 1 and counts["rival_calls"] >= 1
    assert counts["lost"] == 1 and counts["drafted"] == 1, "only the rival's outcome counts"


def test_a_quick_handler_runs_long_on_the_workers_thread_and_keeps_its_lease(
    rt: Any, pg_backend: Backend
) -> None:
    """A handler whose last call was quick is next called on the worker's own thread
    (no hand-over to the helper thread); when that call runs three leases, the watchdog
    makes the heartbeats over the store's connection: the rival never takes the
    instance, the call commits once. (PostgreSQL: a SQLite connection is not shared.)"""
    counts = run_a_long_handler(rt, pg_backend, timedelta(milliseconds=1), warm_up=True)
    assert counts["calls"] == 2 and counts["inline"] == 1, "the long call on the worker's thread"
    assert counts["rival_calls"] == 0 and counts["stolen"] == 0
    assert counts["drafted"] == 1 and (counts["fired"], counts["lost"]) == (2, 0)
    assert counts["renewals"] == 4, "renewed at 45, 90, 135 and 180 s: each half lease"


def test_a_handler_is_called_on_the_workers_thread_only_after_a_quick_call(
    rt: Any, backend: Backend
) -> None:
    """On PostgreSQL, the first call of a handler, a call after a slow one and a call
    with a timeout go to the helper thread (the worker can stop waiting for them); a
    call after a quick one is made on the worker's thread. On SQLite every call goes to
    the helper thread (its connection cannot be shared with the watchdog)."""
    store = backend.open(rt)
    threads: list[str] = []
    here = threading.get_ident()  # the thread the worker runs on
    shared = backend.name == "postgresql"

    def agent(job: Any) -> Any:
        threads.append("worker" if threading.get_ident() == here else "helper")
        return rt.Trigger.DRAFTED

    def serve(handlers: Any, quick: float) -> None:
        worker = rt.Worker(store, handlers, batch=1)
        if not shared:
            assert worker._quick_below == 0.0, "on SQLite no call counts as quick"
        else:  # so that a call counts as quick (or not) however loaded the machine is
            worker._quick_below = quick
        rt.Relay.create(store, f"r-{len(threads)}").start()
        rt.Relay.create(store, f"r-{len(threads) + 1}").start()
        worker.run_once()
        worker.run_once()

    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(agent)
    serve(handlers, float("inf"))
    serve(handlers, 0.0)
    timed = rt.Handlers()
    timed.on_enter(rt.State.DRAFTING, retry=rt.Retry(timeout=timedelta(minutes=1)))(agent)
    serve(timed, float("inf"))
    if shared:  # each serve is a new worker: its first call goes to the helper thread
        assert threads == ["helper", "worker", "helper", "helper", "helper", "helper"]
    else:
        assert threads == ["helper"] * 6


# -- retry policies ---------------------------------------------------------------------


class Flaky:
    """An agent that raises ``errors`` in turn (None: succeeds), counting its calls."""

    def __init__(self, rt: Any, errors: list[BaseException | None]) -> None:
        self.rt, self.errors, self.calls = rt, errors, 0

    def __call__(self, job: Any) -> Any:
        self.calls += 1
        error = self.errors[min(self.calls, len(self.errors)) - 1]
        if error is not None:
            raise error
        return moves_on(self.rt, job)


def flaky_worker(
    rt: Any, store: Any, clock: Clock, agent: Any, policy: Any, *, error: bool = True
) -> tuple[Any, dict[str, int]]:
    """A worker whose DRAFTING agent is ``agent`` under ``policy`` (``error``: it names
    AGENT_ERROR); the leave and after handlers count their runs."""
    handlers = rt.Handlers()
    runs = {"leave": 0, "after": 0}
    trigger = rt.Trigger.AGENT_ERROR if error else None
    handlers.on_enter(rt.State.DRAFTING, error=trigger, retry=policy)(agent)
    handlers.on_leave(rt.State.IDLE)(lambda job: runs.__setitem__("leave", runs["leave"] + 1))
    handlers.after_transition(lambda job: runs.__setitem__("after", runs["after"] + 1))
    worker = rt.Worker(store, handlers, clock=clock, jitter=lambda: 0.0)
    return worker, runs


def outbox_row(rt: Any, store: Any, instance_id: str) -> Any:
    return {p.instance_id: p for p in rt.Outbox(store).pending(due_only=False)}[instance_id]


def test_a_policy_retries_with_its_backoff_then_fires_the_declared_failure(
    rt: Any, backend: Backend
) -> None:
    store, clock = backend.open(rt), Clock()
    policy = rt.Retry(attempts=4, backoff=timedelta(seconds=3), factor=2.0, jitter=0.0)
    agent = Flaky(rt, [ConnectionError(f"provider down, try {n}") for n in range(1, 5)])
    worker, runs = flaky_worker(rt, store, clock, agent, policy)
    rt.Relay.create(store, "r", clock=clock).start()
    waits = []
    for attempt in range(1, 4):
        done = worker.run_once()
        assert (done.retries, done.gave_up, agent.calls) == (1, 0, attempt)
        available = outbox_row(rt, store, "r").available_at
        waits.append(available)
        assert worker.run_once().idle, "not due again before its backoff"
        clock.advance(seconds=3 * 2 ** (attempt - 1))
    assert waits == [instant(clock.now - timedelta(seconds=s)) for s in (21 - 3, 21 - 9, 0)]
    done = worker.run_once()
    assert (done.gave_up, done.fired, agent.calls) == (1, 1, 4)
    machine = rt.Relay.load(store, "r")
    assert machine.state is rt.State.FAILED and machine.reason is rt.Reason.AGENT_ERROR
    payload = machine.failures[-1].payload
    assert payload["reason"] == "gave up after 4 calls"
    assert [a["error"] for a in payload["attempts"]] == [
        f"ConnectionError('provider down, try {n}')" for n in range(1, 5)
    ]
    assert "provider down, try 4" in payload["error"] and payload["key"] == "relay:r:2:enter"
    assert runs == {"leave": 1, "after": 2}, "the leave and after handlers ran once each"
    assert outbox_row(rt, store, "r").attempts == 0


@pytest.mark.parametrize(
    ("policy", "second", "reason"),
    [
        ({"give_up_on": (PermissionError,)}, PermissionError("revoked"), "PermissionError"),
        ({"retry_on": (ConnectionError,)}, ValueError("bad answer"), "ValueError"),
    ],
)
def test_an_error_the_policy_does_not_retry_gives_up_at_once(
    rt: Any, backend: Backend, policy: dict[str, Any], second: Exception, reason: str
) -> None:
    """``give_up_on`` names errors never retried; ``retry_on`` the only ones retried."""
    store, clock = backend.open(rt), Clock()
    agent = Flaky(rt, [ConnectionError("reset"), second])
    worker, _ = flaky_worker(rt, store, clock, agent, rt.Retry(attempts=9, **policy))
    rt.Relay.create(store, "r", clock=clock).start()
    assert worker.run_once().retries == 1
    clock.advance(minutes=10)
    assert worker.run_once().gave_up == 1
    payload = rt.Relay.load(store, "r").failures[-1].payload
    assert payload["reason"] == f"{reason} is not retried"
    assert len(payload["attempts"]) == 2 and agent.calls == 2


def test_a_recovered_call_moves_on_and_forgets_its_failures(rt: Any, backend: Backend) -> None:
    store, clock = backend.open(rt), Clock()
    agent = Flaky(rt, [ConnectionError("reset"), None])
    worker, runs = flaky_worker(rt, store, clock, agent, rt.Retry(attempts=3))
    rt.Relay.create(store, "r", clock=clock).start()
    worker.run_once()
    clock.advance(minutes=10)
    assert worker.run_once().fired == 1
    assert rt.Relay.load(store, "r").state is rt.State.CHECKING
    row = outbox_row(rt, store, "r")
    assert (row.attempts, row.error) == (0, None)
    assert runs == {"leave": 1, "after": 2}


def test_without_an_error_trigger_the_instance_is_the_dead_letter(
    rt: Any, backend: Backend
) -> None:
    store, clock = backend.open(rt), Clock()
    agent = Flaky(rt, [ConnectionError(f"down {n}") for n in range(1, 3)])
    worker, runs = flaky_worker(rt, store, clock, agent, rt.Retry(attempts=2), error=False)
    rt.Relay.create(store, "r", clock=clock).start()
    worker.run_once()
    clock.advance(minutes=10)
    done = worker.run_once()
    assert (done.quarantined, done.gave_up, agent.calls) == (1, 0, 2)
    row = outbox_row(rt, store, "r")
    assert row.quarantined is not None
    assert "gave up after 2 calls" in str(row.error) and "down 1" in str(row.error)
    assert "down 2" in str(row.error)
    clock.advance(hours=1)
    assert worker.run_once().idle and agent.calls == 2, "held until an operator releases it"
    assert runs == {"leave": 1, "after": 1}


def test_only_the_failed_handler_is_retried(rt: Any, backend: Backend) -> None:
    """Without a policy too: the leave and after handlers of the record ran, the enter
    handler failed; its retries call only it (the issue saw 6 runs for 5 failures)."""
    store, clock = backend.open(rt), Clock()
    agent = Flaky(rt, [ConnectionError("down")] * 5 + [None])
    handlers = rt.Handlers()
    runs = {"leave": 0, "after": 0}
    handlers.on_enter(rt.State.DRAFTING)(agent)
    handlers.on_leave(rt.State.IDLE)(lambda job: runs.__setitem__("leave", runs["leave"] + 1))
    handlers.after_transition(lambda job: runs.__setitem__("after", runs["after"] + 1))
    worker = rt.Worker(store, handlers, clock=clock, jitter=lambda: 0.0)
    rt.Relay.create(store, "r", clock=clock).start()
    for _ in range(6):
        worker.run_once()
        clock.advance(minutes=10)
    assert agent.calls == 6 and rt.Relay.load(store, "r").state is rt.State.CHECKING
    assert runs == {"leave": 1, "after": 2}


def test_a_failing_after_handler_is_retried_alone(rt: Any, backend: Backend) -> None:
    store, clock = backend.open(rt), Clock()
    calls = {"leave": 0, "after": 0, "enter": 0}

    def after(job: Any) -> None:
        calls["after"] += 1
        if calls["after"] == 1:
            raise ConnectionError("the event bus is down")

    def leave(job: Any) -> None:
        calls["leave"] += 1

    def enter(job: Any) -> None:
        calls["enter"] += 1

    handlers = rt.Handlers()
    handlers.on_leave(rt.State.IDLE)(leave)
    handlers.after_transition(after)
    handlers.on_enter(rt.State.DRAFTING)(enter)
    worker = rt.Worker(store, handlers, clock=clock, jitter=lambda: 0.0)
    rt.Relay.create(store, "r", clock=clock).start()
    assert worker.run_once().failures == 1
    assert calls == {"leave": 1, "after": 1, "enter": 0}
    clock.advance(minutes=10)
    worker.run_once()
    assert calls == {"leave": 1, "after": 2, "enter": 1}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_call_past_its_timeout_fails_and_is_retried(rt: Any, backend: Backend, mode: str) -> None:
    """The handler moves the worker's clock past its timeout and waits until the worker
    stopped waiting for it; the retry (a fresh call) succeeds."""
    store, clock = backend.open(rt), Clock()
    policy = rt.Retry(attempts=3, timeout=timedelta(seconds=30))
    calls = [0]
    release = threading.Event()
    worker: Any = None

    def hang(job: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            clock.advance(seconds=31)
            wait_until(lambda: worker.metrics.timed_out == 1)
            release.set()
            return rt.Trigger.DRAFTED  # too late: ignored
        return moves_on(rt, job)

    async def ahang(job: Any) -> Any:
        calls[0] += 1
        if calls[0] == 1:
            clock.advance(seconds=31)
            await asyncio.sleep(PATIENCE)  # cancelled once the worker sees the timeout
            raise AssertionError("never cancelled")
        return moves_on(rt, job)

    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING, retry=policy)(hang if mode == "sync" else ahang)
    worker = rt.Worker(store, handlers, clock=clock, heartbeat=timedelta(milliseconds=1))
    rt.Relay.create(store, "r", clock=clock).start()

    def once() -> Any:
        return worker.run_once() if mode == "sync" else asyncio.run(worker.arun_once())

    assert once().retries == 1
    assert "ran past its timeout of 30 s" in str(outbox_row(rt, store, "r").error)
    if mode == "sync":
        release.wait(PATIENCE)
    clock.advance(minutes=10)
    assert once().fired == 1 and calls[0] == 2
    assert sum(r.trigger is rt.Trigger.DRAFTED for r in rt.Relay.load(store, "r").audit) == 1


def test_a_policy_is_checked_when_made(rt: Any) -> None:
    for bad in (
        {"attempts": 0},
        {"factor": 0.5},
        {"jitter": 1.5},
        {"backoff": timedelta(seconds=-1)},
        {"timeout": timedelta(0)},
    ):
        with pytest.raises(ValueError, match="Retry"):
            rt.Retry(**bad)
    with pytest.raises(TypeError, match="exception classes"):
        rt.Retry(retry_on=(ValueError, "timeout"))
    with pytest.raises(TypeError, match="Retry policy"):
        rt.Handlers().on_enter(rt.State.DRAFTING, retry=3)
    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING, limit="openai")(lambda job: None)
    with pytest.raises(ValueError, match="openai"):
        rt.Worker(rt.SqlStore.sqlite(":memory:"), handlers)


def delay_oracle(policy: SupportRetry, failures: int, draw: float) -> float:
    """The wait after ``failures`` failed calls, by the policy's definition, step by step."""
    wait = policy.backoff.total_seconds()
    for _ in range(failures - 1):
        wait = min(wait * policy.factor, policy.max_backoff.total_seconds())
    wait = min(wait, policy.max_backoff.total_seconds())
    return wait - wait * policy.jitter * draw


@given(
    st.integers(1, 200),
    st.floats(0, 1),
    st.floats(0, 1),
    st.floats(1, 4),
    st.integers(0, 120),
    st.integers(0, 4000),
)
def test_the_backoff_is_what_the_policy_says(
    failures: int, draw: float, jitter: float, factor: float, first: int, longest: int
) -> None:
    policy = SupportRetry(
        backoff=timedelta(seconds=first),
        factor=factor,
        max_backoff=timedelta(seconds=longest),
        jitter=jitter,
    )
    expected = delay_oracle(policy, failures, draw)
    assert policy.delay(failures, draw).total_seconds() == pytest.approx(expected, abs=1e-5)


# -- concurrency ------------------------------------------------------------------------


class Overlap:
    """Counts how many awaited calls are in flight at once; each call waits until
    ``target`` have been in flight together, so that many overlap whatever the machine's
    speed (a worker that does not let them makes the calls wait out :data:`PATIENCE`,
    and the count says so)."""

    def __init__(self, target: int) -> None:
        self.target, self.now, self.most, self.calls = target, 0, 0, 0

    async def __call__(self, job: Any) -> Any:
        self.calls += 1
        self.now += 1
        self.most = max(self.most, self.now)
        deadline = time.monotonic() + PATIENCE
        await asyncio.sleep(0)  # every call yields once: the others may start meanwhile
        while self.most < self.target and time.monotonic() < deadline:
            await asyncio.sleep(0.001)
        self.now -= 1
        return None


def test_an_asyncio_worker_awaits_24_calls_at_once(rt: Any, tmp_path: Path) -> None:
    store = rt.SqlStore.sqlite(str(tmp_path / "relay.sqlite"))
    overlap = Overlap(24)
    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(overlap)
    worker = rt.Worker(store, handlers, batch=24, concurrency=24)
    for n in range(24):
        rt.Relay.create(store, f"r{n}").start()
    assert asyncio.run(worker.arun_once()).claimed == 24
    assert (overlap.calls, overlap.most) == (24, 24)


def test_a_named_limit_caps_a_providers_calls(rt: Any, tmp_path: Path) -> None:
    store = rt.SqlStore.sqlite(str(tmp_path / "relay.sqlite"))
    limited, free = Overlap(3), Overlap(24)
    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING, limit="openai")(limited)
    worker = rt.Worker(store, handlers, batch=24, limits={"openai": 3})
    for n in range(24):
        rt.Relay.create(store, f"r{n}").start()
    asyncio.run(worker.arun_once())
    assert (limited.calls, limited.most) == (24, 3)
    assert free.calls == 0


def test_an_async_worker_can_serve_one_at_a_time(rt: Any, tmp_path: Path) -> None:
    store = rt.SqlStore.sqlite(str(tmp_path / "relay.sqlite"))
    overlap = Overlap(1)
    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(overlap)
    worker = rt.Worker(store, handlers, batch=4, concurrency=1)
    for n in range(4):
        rt.Relay.create(store, f"r{n}").start()
    asyncio.run(worker.arun_once())
    assert (overlap.calls, overlap.most) == (4, 1)


def test_the_attempts_kept_are_json(rt: Any, backend: Backend) -> None:
    """The outbox row keeps the attempts at the failed call as JSON a tool can read."""
    store, clock = backend.open(rt), Clock()
    agent = Flaky(rt, [ConnectionError("one"), ConnectionError("two"), None])
    worker, _ = flaky_worker(rt, store, clock, agent, rt.Retry(attempts=5))
    rt.Relay.create(store, "r", clock=clock).start()
    worker.run_once()
    clock.advance(minutes=10)
    worker.run_once()
    (row,) = backend.execute("SELECT errors, skip, delivered FROM statewright_outbox")
    assert [e["error"] for e in json.loads(row[0])] == [
        "ConnectionError('one')",
        "ConnectionError('two')",
    ]
    assert (row[1], row[2]) == (2, 1), "the cursor stands at the enter call of record 1"


# -- claims -----------------------------------------------------------------------------


def claimed_in_order(rt: Any, store: Any) -> list[str]:
    """The instances a worker that claims one at a time serves, in the order it does."""
    order: list[str] = []
    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(lambda job: order.append(job.instance_id))
    handlers.on_enter(rt.State.PUBLISHING)(lambda job: order.append(job.instance_id))
    worker = rt.Worker(store, handlers, batch=1)
    while not worker.run_once().idle:
        pass
    return order


def test_claims_go_by_arrival_not_by_id(rt: Any, backend: Backend) -> None:
    """First come, first served: ids sort the other way round, and an instance whose
    records arrive later (an approval) queues behind the ones already waiting."""
    store = backend.open(rt)
    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(lambda job: moves_on(rt, job))
    handlers.on_enter(rt.State.CHECKING)(lambda job: moves_on(rt, job))
    rt.Relay.create(store, "zz-first").start()
    rt.Worker(store, handlers).run_once()  # to REVIEW, all delivered
    for name in ("yy", "xx", "ww"):
        rt.Relay.create(store, name).start()
    lead = rt.Actor("lena", frozenset({"lead"}))
    rt.Relay.load(store, "zz-first").approve(actor=lead, decision="ok")
    rt.Relay.create(store, "aa-last").start()
    assert claimed_in_order(rt, store) == ["yy", "xx", "ww", "zz-first", "aa-last"]


def test_a_finished_instance_leaves_the_claimable_index(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(lambda job: moves_on(rt, job))
    rt.Relay.create(store, "a").start()
    rt.Relay.create(store, "b")  # created only: its record is due too
    rt.Worker(store, handlers).run_once()
    rows = backend.execute("SELECT instance_id, arrival FROM statewright_instances ORDER BY 1")
    assert rows == [("a", None), ("b", None)]
    rt.Relay.load(store, "b").start()
    (row,) = backend.execute("SELECT arrival FROM statewright_instances WHERE instance_id = 'b'")
    assert row[0] is not None


def test_the_claim_reads_the_claimable_index(rt: Any, tmp_path: Path) -> None:
    """SQLite's plan of the claim: a search of the partial index of due instances, never
    a scan of every instance (so finished instances cost a claim nothing)."""
    store = rt.SqlStore.sqlite(str(tmp_path / "relay.sqlite"))
    rt.Outbox(store)
    from statewright.generator.runtime import outbox

    sql = outbox._DUE.format(limit=16).replace("?", "'x'")
    plan = [row[3] for row in store._connection.execute(f"EXPLAIN QUERY PLAN {sql}")]
    assert any("statewright_claimable" in step for step in plan), plan
    assert not any(step.startswith("SCAN i") for step in plan), plan


def test_an_older_claimable_index_is_made_again_with_the_instance_id(
    rt: Any, backend: Backend
) -> None:
    """A store made when the claimable index held (machine, arrival) only: opening it
    makes the index again with the instance id (the order claims walk it in)."""
    backend.open(rt).close()
    backend.execute("DROP INDEX statewright_claimable")
    backend.execute(
        "CREATE INDEX statewright_claimable ON statewright_instances (machine, arrival)"
        " WHERE arrival IS NOT NULL"
    )
    if backend.name == "postgresql":
        look = "SELECT indexdef FROM pg_indexes WHERE indexname = 'statewright_claimable'"
    else:
        look = "SELECT sql FROM sqlite_master WHERE name = 'statewright_claimable'"
    assert "instance_id" not in backend.execute(look)[0][0]
    store = backend.open(rt)
    rt.Relay.create(store, "a").start()
    assert "arrival, instance_id" in backend.execute(look)[0][0]
    assert claimed_in_order(rt, store) == ["a"]


def test_an_older_store_gains_the_arrival_of_its_undelivered_instances(
    rt: Any, tmp_path: Path
) -> None:
    """Tables made before ``arrival``: instances a worker delivered in full stay out of
    the index; the others (and those no worker ever saw) are due."""
    import sqlite3

    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE statewright_instances (machine TEXT NOT NULL, instance_id TEXT NOT NULL,"
        " seq BIGINT NOT NULL, head TEXT NOT NULL, version BIGINT NOT NULL,"
        " state TEXT NOT NULL, deadline TEXT, PRIMARY KEY (machine, instance_id));"
        "CREATE TABLE statewright_outbox (machine TEXT NOT NULL, instance_id TEXT NOT NULL,"
        " delivered BIGINT NOT NULL DEFAULT 0, lease TEXT, lease_until TEXT,"
        " attempts BIGINT NOT NULL DEFAULT 0, available_at TEXT NOT NULL DEFAULT '',"
        " error TEXT, PRIMARY KEY (machine, instance_id));"
        "INSERT INTO statewright_instances VALUES ('relay', 'done', 3, 'h', 3, 'DONE', NULL),"
        " ('relay', 'half', 3, 'h', 3, 'CHECKING', NULL),"
        " ('relay', 'unseen', 1, 'h', 1, 'IDLE', NULL);"
        "INSERT INTO statewright_outbox (machine, instance_id, delivered) VALUES"
        " ('relay', 'done', 3), ('relay', 'half', 2);"
    )
    old.close()
    rt.SqlStore.sqlite(str(path)).close()
    upgraded = sqlite3.connect(path)
    rows = list(
        upgraded.execute("SELECT instance_id, arrival FROM statewright_instances ORDER BY 1")
    )
    upgraded.close()
    assert rows == [("done", None), ("half", 1), ("unseen", 1)]


def test_an_in_process_runner_fires_the_declared_failure_at_the_first_error(rt: Any) -> None:
    """Retrying is the durable worker's: a runner gives up at once, saying so."""
    handlers = rt.Handlers()
    agent = Flaky(rt, [ConnectionError("down")])
    handlers.on_enter(rt.State.DRAFTING, error=rt.Trigger.AGENT_ERROR, retry=rt.Retry())(agent)
    machine = rt.Relay()
    assert rt.Runner(handlers, machine).fire(rt.Trigger.START) is rt.State.FAILED
    payload = machine.failures[-1].payload
    assert payload["reason"] == "an in-process runner does not retry"
    assert [a["error"] for a in payload["attempts"]] == ["ConnectionError('down')"]
    assert agent.calls == 1


# -- timers -----------------------------------------------------------------------------


def test_an_idle_worker_sleeps_longer_but_never_past_the_next_deadline(
    rt: Any, backend: Backend
) -> None:
    """Idle sleeps double up to ``longest_idle``, are cut to the next deadline (by the
    worker's clock), and the timeout fires in the round after it."""
    store, clock = backend.open(rt), Clock()
    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(lambda job: moves_on(rt, job))
    handlers.on_enter(rt.State.CHECKING)(lambda job: moves_on(rt, job))
    worker = rt.Worker(store, handlers, clock=clock)
    assert worker.next_deadline() is None
    rt.Relay.create(store, "r", clock=clock).start()
    worker.run_once()  # to REVIEW: its timeout falls due in an hour
    deadline = rt.Relay.load(store, "r").deadline
    assert worker.next_deadline() == deadline
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds=seconds)

    worker.run(stop=lambda: len(slept) == 17, idle=0.5, longest_idle=600.0, sleep=sleep)
    doubling = [0.5 * 2**n for n in range(11)]  # 0.5 s ... 512 s: 1023.5 s
    assert slept == [*doubling, 600.0, 600.0, 600.0, 600.0, 176.5, 0.5]
    assert sum(slept[:16]) == 3600.0, "woke exactly at the deadline, not a poll later"
    assert rt.Relay.load(store, "r").reason is rt.Reason.TIMEOUT
    assert worker.next_deadline() is None


def test_a_runner_tells_its_next_deadline(rt: Any) -> None:
    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(lambda job: moves_on(rt, job))
    handlers.on_enter(rt.State.CHECKING)(lambda job: moves_on(rt, job))
    clock = Clock()
    runner = rt.Runner(handlers, rt.Relay(clock=clock))
    assert runner.next_deadline is None
    runner.fire(rt.Trigger.START)
    assert runner.next_deadline == clock.now + timedelta(hours=1)


def test_a_worker_with_slow_handlers_claims_one_at_a_time(rt: Any, backend: Backend) -> None:
    """A worker whose calls took 0.1 s on average (more than its ``hoard`` of 50 ms)
    claims one instance at a time: while it works on the first, another worker takes
    the rest (with fast handlers it would have claimed all five at once)."""
    store = backend.open(rt)
    taken: list[int] = []
    rival_handlers = rt.Handlers()
    rival_handlers.on_enter(rt.State.DRAFTING)(lambda job: None)

    def slow(job: Any) -> None:
        if not taken:
            rival = rt.Worker(open_store(backend.target, rt), rival_handlers)
            taken.append(rival.run_once().claimed)
            rival.store.close()

    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(slow)
    worker = rt.Worker(store, handlers, batch=5)
    worker.metrics.calls, worker.metrics.handler_seconds = 10, 1.0  # its record so far
    for n in range(5):
        rt.Relay.create(store, f"r{n}").start()
    assert worker.run_once().claimed == 1 and taken == [4]
