"""Effect results cached under ``job.key`` (``on_enter(..., cache=True)``), in process:
what is kept and handed back (a trigger, a ``Fire`` with its payload and context, None),
what is not kept, and when it is deleted. The crash test (a worker killed between the
call and the commit) is in ``test_worker_crash.py``."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from agentkit import relay_runtime
from pgcluster import postgres_server, postgres_url
from storekit import SQL_BACKENDS, Backend, backend_fixture, connect

__all__ = ["postgres_server", "postgres_url"]

backend = backend_fixture(SQL_BACKENDS)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return relay_runtime(tmp_path_factory.mktemp("relay"))[0]


def support(rt: Any, module: str = "") -> Any:
    """The generated runtime's copy of the support package (or one of its modules)."""
    return importlib.import_module(rt.Job.__module__ + module)


def kept(store: Any) -> int:
    """The results kept in the store, read over a connection of its own."""
    connection = connect(store.target)
    try:
        cursor = connection.cursor()
        cursor.execute("SELECT COUNT(*) FROM statewright_effects")
        return int(cursor.fetchone()[0])
    finally:
        connection.close()


def job_of(rt: Any, store: Any, instance_id: str) -> Any:
    """The job a worker would hand the DRAFTING agent of ``instance_id``."""
    machine = rt.Relay.load(store, instance_id)
    record = machine.audit[-1]
    key = f"relay:{instance_id}:{record.seq}:enter"
    return rt.Job(support(rt).Hook.ENTER, machine.state, record, key, "relay", instance_id, {})


def test_a_found_result_is_committed_without_calling(rt: Any, backend: Backend) -> None:
    """A result kept before (as a worker that died after the call left it) is handed
    back: the handler is not called, the Fire's payload and context are committed, and
    the kept result is deleted with that commit."""
    store = backend.open(rt)
    calls: list[str] = []

    def agent(job: Any) -> Any:
        calls.append(job.key)
        return rt.Trigger.DRAFTED

    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING, cache=True)(agent)
    worker = rt.Worker(store, handlers)
    rt.Relay.create(store, "f").start()
    outcome = rt.Fire(rt.Trigger.AGENT_ERROR, {"why": "kept"}, {"model": "m-1"})
    worker.effects.put(job_of(rt, store, "f"), outcome, worker.clock())
    assert kept(backend) == 1
    report = worker.run_once()
    machine = rt.Relay.load(store, "f")
    assert (calls, report.fired, machine.state) == ([], 1, rt.State.FAILED)
    assert machine.failures[-1].payload == {"why": "kept"}
    assert machine.context == {"model": "m-1"}
    assert (worker.effects.hits, kept(backend)) == (1, 0)


def test_what_a_call_returned_is_kept_until_its_commit(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    seen: list[int] = []

    def agent(job: Any) -> Any:
        seen.append(kept(backend))  # nothing kept before the call
        return rt.Trigger.DRAFTED

    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING, cache=True)(agent)
    worker = rt.Worker(store, handlers)
    rt.Relay.create(store, "k").start()
    committed: list[int] = []
    append = store.append

    def watching_append(*args: Any, **kwargs: Any) -> Any:
        committed.append(kept(backend))  # kept, and committed, before the transition
        return append(*args, **kwargs)

    store.append = watching_append
    assert worker.run_once().fired == 1
    assert (seen, committed[:1], kept(backend)) == ([0], [1], 0)


@pytest.mark.parametrize("value", [None, "not a trigger", 42])
def test_an_outcome_that_is_no_trigger_is_kept_as_none_or_not_at_all(
    rt: Any, backend: Backend, value: Any
) -> None:
    store = backend.open(rt)
    rt.Relay.create(store, "n").start()
    cache = support(rt, ".effects").EffectCache(store, rt.Trigger)
    job = job_of(rt, store, "n")
    cache.put(job, value, rt.Relay.load(store, "n").audit[-1].at)
    found = cache.get(job)
    if value is None:
        assert found is not None and found.value is None
    else:
        assert found is None and kept(backend) == 0


def test_cancelling_deletes_the_runs_kept_results(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    for name in ("c", "other"):
        rt.Relay.create(store, name).start()
    cache = support(rt, ".effects").EffectCache(store, rt.Trigger)
    for name in ("c", "other"):
        cache.put(
            job_of(rt, store, name), rt.Trigger.DRAFTED, rt.Relay.load(store, name).audit[-1].at
        )
    rt.Relay.load(store, "c").cancel(actor=rt.Actor("olga"), reason="stop")
    assert kept(backend) == 1 and cache.get(job_of(rt, store, "other")) is not None
