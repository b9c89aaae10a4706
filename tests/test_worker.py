"""The durable worker in one process: delivery from the outbox, retries with backoff,
lost leases, timeouts, asyncio handlers; on a SQLite file and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from agentkit import relay_runtime
from pgcluster import postgres_server, postgres_url
from storekit import SQL_BACKENDS, Backend, backend_fixture
from test_runtime_kit import Clock

__all__ = ["postgres_server", "postgres_url"]

backend = backend_fixture(SQL_BACKENDS)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return relay_runtime(tmp_path_factory.mktemp("relay"))[0]


def agents(rt: Any, log: list[str], *, broken: frozenset[str] = frozenset()) -> Any:
    handlers = rt.Handlers()
    state, trigger = rt.State, rt.Trigger

    def agent(name: str, outcome: Any, error: Any = trigger.AGENT_ERROR) -> None:
        def work(job: Any) -> Any:
            log.append(f"{name} {job.key} attempt {job.attempt}")
            if name in broken:
                raise ConnectionError(f"{name} cannot reach its provider")
            return outcome

        work.__name__ = name
        handlers.on_enter(getattr(state, name), error=error)(work)

    agent("DRAFTING", trigger.DRAFTED, error=None)
    agent("CHECKING", trigger.CHECKED)
    agent("PUBLISHING", trigger.PUBLISHED)
    handlers.on_approval(state.REVIEW)(lambda job: log.append(f"ask {job.reviewers}"))
    return handlers


def lead(rt: Any) -> Any:
    return rt.Actor("lena", frozenset({"lead"}))


def test_a_worker_drives_instances_to_their_gates_and_on(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    log: list[str] = []
    worker = rt.Worker(store, agents(rt, log))
    for n in range(3):
        rt.Relay.create(store, f"r{n}").start()
    done = worker.run_once()
    assert (done.claimed, done.fired) == (3, 6)
    assert log.count("ask frozenset({'lead'})") == 3
    assert worker.run_once().idle
    for n in range(3):
        rt.Relay.load(store, f"r{n}").approve(actor=lead(rt), decision="Reads well.")
    assert worker.run_once().fired == 3
    for n in range(3):
        machine = rt.Relay.load(store, f"r{n}")
        assert machine.state is rt.State.DONE
        assert [r.actor for r in machine.audit[2:4]] == ["handler:DRAFTING", "handler:CHECKING"]
    assert rt.Outbox(store).pending() == []
    assert store.verify() == []


def test_a_failing_handler_is_retried_with_backoff(rt: Any, backend: Backend) -> None:
    store, clock, log = backend.open(rt), Clock(), list[str]()
    worker = rt.Worker(store, agents(rt, log, broken=frozenset({"DRAFTING"})), clock=clock)
    rt.Relay.create(store, "r", clock=clock).start()
    assert worker.run_once().failures == 1
    (pending,) = rt.Outbox(store).pending()
    assert pending.attempts == 1 and "cannot reach its provider" in str(pending.error)
    assert worker.run_once().idle  # not due again before its backoff
    clock.advance(seconds=2)
    assert worker.run_once().failures == 1
    assert log == [
        "DRAFTING relay:r:2:enter attempt 0",
        "DRAFTING relay:r:2:enter attempt 1",
    ]
    worker = rt.Worker(store, agents(rt, log), clock=clock)  # the provider is back
    clock.advance(seconds=4)
    assert worker.run_once().fired == 2
    assert rt.Relay.load(store, "r").state is rt.State.REVIEW


def test_an_agent_error_takes_the_failure_path(rt: Any, backend: Backend) -> None:
    store, log = backend.open(rt), list[str]()
    worker = rt.Worker(store, agents(rt, log, broken=frozenset({"CHECKING"})))
    rt.Relay.create(store, "r").start()
    worker.run_once()
    machine = rt.Relay.load(store, "r")
    assert machine.state is rt.State.FAILED and machine.reason is rt.Reason.AGENT_ERROR
    assert "ConnectionError: CHECKING cannot reach" in machine.failures[-1].payload["error"]


def test_a_worker_that_lost_its_lease_commits_nothing(rt: Any, backend: Backend) -> None:
    store, clock = backend.open(rt), Clock()
    rt.Relay.create(store, "r", clock=clock).start()
    outbox = rt.Outbox(store)
    at = "2026-01-01T00:00:0{}.000000Z".format
    (claim,) = outbox.claim("relay", at(0), at(1), 5)
    assert outbox.claim("relay", at(0), at(9), 5) == []  # held: nobody else gets it
    late = outbox.claim("relay", at(2), at(9), 5)
    assert [c.instance_id for c in late] == ["r"]  # the first lease ran out: claimed again
    with pytest.raises(rt.LeaseLost):
        outbox.advance(claim, 3, release=True)
    outbox.advance(late[0], 3, release=True)


def test_timeouts_are_fired_by_the_worker(rt: Any, backend: Backend) -> None:
    store, clock, log = backend.open(rt), Clock(), list[str]()
    worker = rt.Worker(store, agents(rt, log), clock=clock)
    rt.Relay.create(store, "r", clock=clock).start()
    worker.run_once()
    clock.advance(hours=1)
    assert worker.run_once().timeouts == 1
    assert rt.Relay.load(store, "r").reason is rt.Reason.TIMEOUT


def test_an_async_worker_awaits_its_handlers(rt: Any, tmp_path: Path) -> None:
    store = rt.SqlStore.sqlite(str(tmp_path / "relay.sqlite"))
    handlers = rt.Handlers()
    order: list[str] = []

    async def agent(job: Any) -> Any:
        order.append(f"start {job.instance_id}")
        await asyncio.sleep(0.01)
        order.append(f"end {job.instance_id}")
        return {rt.State.DRAFTING: rt.Trigger.DRAFTED}.get(job.state, rt.Trigger.CHECKED)

    handlers.on_enter(rt.State.DRAFTING)(agent)
    handlers.on_enter(rt.State.CHECKING)(agent)
    worker = rt.Worker(store, handlers, lease=timedelta(seconds=5))
    rt.Relay.create(store, "a").start()
    assert asyncio.run(worker.arun_once()).fired == 2
    assert rt.Relay.load(store, "a").state is rt.State.REVIEW
    with pytest.raises(TypeError, match="is async"):
        rt.Relay.create(store, "b").start()
        worker.run_once()
