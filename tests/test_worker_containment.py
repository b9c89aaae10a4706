"""One bad instance never stops the workers: whatever an instance does (a handler that
raises, records that no longer replay under the deployed spec, records that cannot be
read, a bookkeeping write the database refuses, a lease another worker took) is counted
against that instance, retried with capped backoff and quarantined after ``max_attempts``,
while the round returns and serves every other instance. On a SQLite file and a real
PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from agentkit import RELAY_SPEC, relay_runtime
from pgcluster import postgres_server, postgres_url
from storekit import SQL_BACKENDS, Backend, backend_fixture, generate_runtime, open_store
from test_runtime_kit import Clock

from statewright.generator.runtime.store import instant

__all__ = ["postgres_server", "postgres_url"]

backend = backend_fixture(SQL_BACKENDS)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return relay_runtime(tmp_path_factory.mktemp("relay"))[0]


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Any:
    """One round of a worker, by ``run_once`` or by ``arun_once``: they contain alike."""
    if request.param == "sync":
        return lambda worker: worker.run_once()
    return lambda worker: asyncio.run(worker.arun_once())


def relay_handlers(rt: Any, *, broken: frozenset[str] = frozenset()) -> Any:
    """Agents that move every relay on to REVIEW, but raise for the ``broken`` instances."""
    handlers = rt.Handlers()

    def agent(job: Any) -> Any:
        if job.instance_id in broken:
            raise ConnectionError(f"{job.instance_id} cannot reach its provider")
        return {rt.State.DRAFTING: rt.Trigger.DRAFTED}.get(job.state, rt.Trigger.CHECKED)

    handlers.on_enter(rt.State.DRAFTING)(agent)
    handlers.on_enter(rt.State.CHECKING)(agent)
    return handlers


def held(rt: Any, store: Any) -> dict[str, Any]:
    """The outbox's view of every instance a worker has seen, by id."""
    return {p.instance_id: p for p in rt.Outbox(store).pending(due_only=False)}


def worker(rt: Any, store: Any, clock: Clock, **options: Any) -> Any:
    return rt.Worker(
        store,
        relay_handlers(rt, **options.pop("handlers", {})),
        clock=clock,
        jitter=lambda: 1.0,
        **options,
    )


# -- backoff ----------------------------------------------------------------------------


def test_backoff_is_capped_before_it_is_built() -> None:
    from statewright.generator.runtime.worker import backoff

    assert backoff(0) == timedelta(seconds=1)
    assert backoff(3) == timedelta(seconds=8)
    for attempts in (47, 1_000, 10**9):  # 2**47 seconds is beyond what a timedelta holds
        assert backoff(attempts) == timedelta(minutes=5)
    assert backoff(3, jitter=0.0) == timedelta(seconds=4)  # jitter: between half and all


def test_an_instance_failed_47_times_does_not_crash_the_round(
    rt: Any, backend: Backend, run: Any
) -> None:
    store, clock = backend.open(rt), Clock()
    for name in ("bad", "good"):
        rt.Relay.create(store, name, clock=clock).start()
    served = worker(rt, store, clock, max_attempts=100, handlers={"broken": frozenset({"bad"})})
    assert (run(served).failures, rt.Relay.load(store, "good").state) == (1, rt.State.REVIEW)
    backend.execute(
        "UPDATE statewright_outbox SET attempts = 47, available_at = '' WHERE instance_id = 'bad'"
    )
    done = run(served)
    assert (done.claimed, done.failures, done.quarantined) == (1, 1, 0)
    bad = held(rt, store)["bad"]
    assert bad.attempts == 48 and "ConnectionError('bad cannot reach" in str(bad.error)
    assert bad.available_at == instant(clock.now + timedelta(minutes=5))


# -- retried, then quarantined ----------------------------------------------------------


def test_a_raising_handler_is_retried_then_quarantined(rt: Any, backend: Backend, run: Any) -> None:
    store, clock = backend.open(rt), Clock()
    rt.Relay.create(store, "bad", clock=clock).start()
    served = worker(rt, store, clock, max_attempts=3, handlers={"broken": frozenset({"bad"})})
    rounds = []
    for n in range(3):
        rt.Relay.create(store, f"good-{n}", clock=clock).start()
        rounds.append(run(served))
        clock.advance(minutes=5)  # past any backoff
    assert [(r.failures, r.quarantined, r.fired) for r in rounds] == [
        (1, 0, 2),
        (1, 0, 2),
        (1, 1, 2),
    ]
    bad = held(rt, store)["bad"]
    assert bad.quarantined == instant(clock.now - timedelta(minutes=5))
    assert bad.attempts == 3 and "cannot reach its provider" in str(bad.error)
    for n in range(3):
        assert rt.Relay.load(store, f"good-{n}").state is rt.State.REVIEW
    assert run(served).claimed == 0  # held out of every claim from now on
    assert rt.Outbox(store).lift("relay", "bad") and not rt.Outbox(store).lift("relay", "bad")
    healed = worker(rt, store, clock)
    assert (run(healed).fired, rt.Relay.load(store, "bad").state) == (2, rt.State.REVIEW)
    assert held(rt, store)["bad"].quarantined is None


RELAY_CHANGED = RELAY_SPEC.replace(
    "{from: IDLE, to: DRAFTING, trigger: start}", "{from: IDLE, to: CHECKING, trigger: start}"
)


def started_before_versions(rt: Any, store: Any, instance_id: str, clock: Clock) -> None:
    """An instance started as statewright stored it before its records named their spec
    version: any version of the spec loads it, and replays it (an instance that names its
    version is left to a worker holding that version: ``test_migrate_runtime.py``)."""
    machine = rt.Relay(clock=clock)
    machine.start()
    bodies = machine._bodies(0)
    del bodies[0]["spec"]
    store.create("relay", instance_id, machine._head(), bodies)


def test_an_instance_the_deployed_spec_no_longer_replays_is_contained(
    rt: Any, backend: Backend, run: Any, tmp_path: Path
) -> None:
    changed = generate_runtime(tmp_path, RELAY_CHANGED)[0]
    store, clock = backend.open(rt), Clock()
    started_before_versions(rt, store, "old", clock)  # IDLE -> DRAFTING, under the old spec
    store = backend.open(changed)
    with pytest.raises(changed.InvalidTransition):
        changed.Relay.load(store, "old")
    served = worker(changed, store, clock, max_attempts=2)
    changed.Relay.create(store, "new", clock=clock).start()
    first = run(served)
    assert (first.claimed, first.failures, first.fired) == (2, 1, 1)
    assert changed.Relay.load(store, "new").state is changed.State.REVIEW
    clock.advance(minutes=5)
    assert (run(served).failures, held(changed, store)["old"].quarantined) == (
        1,
        instant(clock.now),
    )
    assert "InvalidTransition" in str(held(changed, store)["old"].error)
    clock.advance(minutes=5)
    assert run(served).idle


def test_a_failure_no_retry_mends_quarantines_at_once(
    rt: Any, backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``QUARANTINE_AT_ONCE`` names (a tampered chain, say) is held at its first
    failure, found by a claim or by a timeout sweep alike."""
    changed = generate_runtime(tmp_path, RELAY_CHANGED)[0]
    worker_globals = changed.Worker.run_once.__globals__
    monkeypatch.setitem(worker_globals, "QUARANTINE_AT_ONCE", (changed.InvalidTransition,))
    store, clock = backend.open(rt), Clock()
    started_before_versions(rt, store, "swept", clock)
    relayed = worker(rt, store, clock)
    while not relayed.run_once().idle:  # "swept": in REVIEW, all delivered, due in an hour
        continue
    started_before_versions(rt, store, "claimed", clock)  # effects due: found by a claim
    clock.advance(hours=1)
    served = worker(changed, backend.open(changed), clock)
    done = served.run_once()
    assert (done.claimed, done.failures, done.quarantined) == (1, 2, 2)
    quarantined = {i for i, p in held(changed, store).items() if p.quarantined}
    assert quarantined == {"claimed", "swept"}


def refuse_cursor_moves(backend: Backend, instance_id: str) -> None:
    """A database that refuses to move one instance's delivery cursor: a real failure of
    the worker's own bookkeeping (a trigger raising), not a handler's."""
    when = f"NEW.instance_id = '{instance_id}' AND NEW.delivered > OLD.delivered"
    if backend.name == "sqlite":
        backend.execute(
            "CREATE TRIGGER refuse BEFORE UPDATE ON statewright_outbox"
            f" WHEN {when} BEGIN SELECT RAISE(ABORT, 'the disk says no'); END"
        )
        return
    backend.execute(
        "CREATE FUNCTION refuse() RETURNS trigger AS $$"
        " BEGIN RAISE EXCEPTION 'the disk says no'; END $$ LANGUAGE plpgsql"
    )
    backend.execute(
        "CREATE TRIGGER refuse BEFORE UPDATE ON statewright_outbox FOR EACH ROW"
        f" WHEN ({when}) EXECUTE FUNCTION refuse()"
    )


def test_a_failing_bookkeeping_write_is_contained(rt: Any, backend: Backend, run: Any) -> None:
    store, clock = backend.open(rt), Clock()
    served = worker(rt, store, clock, max_attempts=2)
    refuse_cursor_moves(backend, "bad")
    for name in ("bad", "good"):
        rt.Relay.create(store, name, clock=clock).start()
    first = run(served)
    assert (first.claimed, first.failures, first.fired) == (2, 1, 2)
    assert "the disk says no" in str(held(rt, store)["bad"].error)
    assert rt.Relay.load(store, "bad").state is rt.State.DRAFTING  # the outcome rolled back
    assert rt.Relay.load(store, "good").state is rt.State.REVIEW
    clock.advance(minutes=5)
    assert run(served).quarantined == 1
    assert run(served).claimed == 0


# -- timeouts ---------------------------------------------------------------------------


def test_unreadable_instances_never_hide_a_good_ones_timeout(
    rt: Any, backend: Backend, run: Any
) -> None:
    store, clock = backend.open(rt), Clock()
    names = [f"a-{n:02}" for n in range(20)] + ["z-good"]  # the bad ones sort first
    for name in names:
        rt.Relay.create(store, name, clock=clock).start()
    served = worker(rt, store, clock, max_attempts=2)
    while not run(served).idle:  # a batch (16) a round: all in REVIEW, timing out in 1 h
        continue
    backend.execute(
        'UPDATE statewright_records SET body = \'{"not": "a record"}\''
        " WHERE instance_id < ? AND seq = 2",
        ("b",),
    )
    clock.advance(hours=1)
    swept = run(served)  # tampered records (ChainBroken): quarantined at once
    assert (swept.timeouts, swept.failures, swept.quarantined) == (1, 20, 20)
    assert rt.Relay.load(store, "z-good").reason is rt.Reason.TIMEOUT
    assert len(rt.Outbox(store).pending()) == 20
    clock.advance(hours=1)
    assert run(served).failures == 0  # quarantined: no longer swept
    assert "ChainBroken" in str(held(rt, store)["a-00"].error)


def test_a_forged_record_is_never_acted_on(rt: Any, backend: Backend, run: Any) -> None:
    """A record edited behind the store's back (here the start, now claiming CHECKING):
    the worker's load fails the chain, the instance is quarantined at once and no
    handler runs for it; the honest instance beside it is served in the same round."""
    store, clock = backend.open(rt), Clock()
    for name in ("forged", "honest"):
        rt.Relay.create(store, name, clock=clock).start()
    backend.execute(
        "UPDATE statewright_records SET body = replace(body, 'DRAFTING', 'CHECKING')"
        " WHERE instance_id = ? AND seq = 2",
        ("forged",),
    )
    called: list[str] = []
    handlers = rt.Handlers()

    def agent(job: Any) -> Any:
        called.append(job.instance_id)
        return {rt.State.DRAFTING: rt.Trigger.DRAFTED}.get(job.state, rt.Trigger.CHECKED)

    handlers.on_enter(rt.State.DRAFTING)(agent)
    handlers.on_enter(rt.State.CHECKING)(agent)
    served = rt.Worker(store, handlers, clock=clock, jitter=lambda: 1.0)
    first = run(served)
    assert (first.failures, first.quarantined) == (1, 1)
    assert set(called) == {"honest"}
    assert "ChainBroken" in str(held(rt, store)["forged"].error)
    clock.advance(hours=2)  # the honest one times out in REVIEW; the forged one stays held
    run(served)
    assert "forged" not in called and held(rt, store)["forged"].quarantined is not None


# -- lost leases ------------------------------------------------------------------------


def test_a_lease_lost_while_a_handler_ran_is_counted_and_the_round_goes_on(
    rt: Any, backend: Backend, run: Any
) -> None:
    """The handler outlives its lease; another worker takes the instance and moves it on:
    the commit conflicts, and letting the instance go finds the lease gone. (A plain
    handler runs on the worker's helper thread: the other worker's store is opened there.)"""
    store, clock = backend.open(rt), Clock()
    handlers = rt.Handlers()

    def slow(job: Any) -> Any:
        if job.instance_id == "a-slow":
            other = open_store(backend.target, rt)
            clock.advance(minutes=2)  # the lease (60 s) runs out; another worker takes it
            (taken,) = rt.Outbox(other).claim("relay", instant(clock.now), "9", 1)
            assert taken.instance_id == "a-slow"
            rt.Relay.load(other, "a-slow").agent_error()
            other.close()
        return rt.Trigger.DRAFTED

    handlers.on_enter(rt.State.DRAFTING)(slow)
    served = rt.Worker(store, handlers, clock=clock)
    for name in ("a-slow", "b-next"):
        rt.Relay.create(store, name, clock=clock).start()
    done = run(served)
    assert (done.claimed, done.lost, done.failures, done.fired) == (2, 1, 0, 1)
    assert rt.Relay.load(store, "b-next").state is rt.State.CHECKING
    assert held(rt, store)["a-slow"].attempts == 0


# -- the outbox table made before quarantine --------------------------------------------


def test_an_outbox_table_made_before_quarantine_still_opens(rt: Any, backend: Backend) -> None:
    store, clock = backend.open(rt), Clock()
    backend.execute(
        "CREATE TABLE statewright_outbox ("
        " machine TEXT NOT NULL, instance_id TEXT NOT NULL,"
        " delivered BIGINT NOT NULL DEFAULT 0, lease TEXT, lease_until TEXT,"
        " attempts BIGINT NOT NULL DEFAULT 0, available_at TEXT NOT NULL DEFAULT '',"
        " error TEXT, PRIMARY KEY (machine, instance_id))"
    )
    rt.Relay.create(store, "r", clock=clock).start()
    backend.execute("INSERT INTO statewright_outbox (machine, instance_id) VALUES ('relay', 'r')")
    reader = rt.Outbox(backend.open(rt), create=False)
    assert [(p.instance_id, p.quarantined) for p in reader.pending()] == [("r", None)]
    assert worker(rt, store, clock).run_once().fired == 2
    assert held(rt, store)["r"].quarantined is None


# -- the operators' view ----------------------------------------------------------------


def test_runs_list_shows_the_quarantined_and_runs_release_lifts_it(
    rt: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from statewright.generator.cli import main

    path = str(tmp_path / "runs.sqlite")
    store, clock = rt.SqlStore.sqlite(path), Clock()
    rt.Relay.create(store, "bad", clock=clock).start()
    served = worker(rt, store, clock, max_attempts=1, handlers={"broken": frozenset({"bad"})})
    assert served.run_once().quarantined == 1
    assert main(["runs", "list", path]) == 0
    out = capsys.readouterr().out
    assert "  quarantined (workers skip them; 'statewright runs release'):\n" in out
    assert (
        "    bad: since 2026-01-01T00:00:00.000000Z, after 1 failed attempt(s): "
        "ConnectionError('bad cannot reach its provider')\n"
    ) in out
    assert "effects due" not in out
    assert main(["runs", "list", path, "--format", "json"]) == 0
    (relay,) = json.loads(capsys.readouterr().out)["machines"]
    assert [e["quarantined"] for e in relay["effects"]] == ["2026-01-01T00:00:00.000000Z"]
    assert main(["runs", "release", path, "bad"]) == 0
    assert capsys.readouterr().out == (
        "relay bad: released from quarantine; workers deliver it again\n"
    )
    assert main(["runs", "release", path, "bad"]) == 2
    assert capsys.readouterr().err == (
        f"statewright: error: {path}: no quarantined instance 'bad'\n"
    )
    assert served.run_once().claimed == 1  # delivered again (and failing again)
