"""Cancelling a run (issue 24): an operator closes it for good with a ``cancelled``
record; a worker running a handler for it abandons the call and commits nothing.

SQLite and PostgreSQL. Counted work only: the handlers block on events that the tests
set, and a bound (:data:`PATIENCE`) turns a worker that never notices into a failure, not
a hang. What the runtime records is checked by ``statewright audit check`` (an
independent replay of the spec) and ``audit verify`` (the chain).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from agentkit import RELAY_SPEC, relay_runtime
from pgcluster import postgres_server, postgres_url
from storekit import (
    SQL_BACKENDS,
    TICKET_SPEC,
    Backend,
    Stall,
    backend_fixture,
    make_backend,
    open_store,
)
from test_runtime_kit import Clock

from statewright.generator.cli import main

__all__ = ["postgres_server", "postgres_url"]

backend = backend_fixture(SQL_BACKENDS)

PATIENCE = 600.0
"""The most seconds a test waits for a thread to get somewhere: a hang guard, never a
timing assertion."""

OPS = ("olga", frozenset({"ops"}))


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return relay_runtime(tmp_path_factory.mktemp("relay"))[0]


@pytest.fixture
def relay_specs(tmp_path: Path) -> Path:
    path = tmp_path / "specs" / "relay.yaml"
    path.parent.mkdir()
    path.write_text(RELAY_SPEC)
    return path


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def audit_clean(backend: Backend, specs: Path) -> None:
    """``audit verify`` and ``audit check`` find nothing in the store."""
    status, out, err = cli("audit", "verify", backend.target)
    assert (status, err) == (0, ""), out
    status, out, err = cli("audit", "check", backend.target, "--specs", str(specs))
    assert (status, err) == (0, ""), out


def operator_cancels(rt: Any, backend: Backend, instance_id: str, when: threading.Event) -> Any:
    """A thread that, once ``when`` is set, cancels ``instance_id`` over its own
    connection, as an operator's process would."""

    def cancel() -> None:
        assert when.wait(PATIENCE)
        other = open_store(backend.target, rt)
        try:
            machine = rt.Relay.load(other, instance_id)
            machine.cancel(actor=rt.Actor(*OPS), reason="the customer withdrew")
        finally:
            other.close()

    thread = threading.Thread(target=cancel)
    thread.start()
    return thread


# -- a worker's in-flight call ------------------------------------------------------------


def test_a_plain_handler_blocked_on_an_event_is_abandoned_and_never_committed(
    rt: Any, backend: Backend, relay_specs: Path
) -> None:
    store = backend.open(rt)
    started, release, returned = threading.Event(), threading.Event(), threading.Event()
    calls: list[str] = []

    def agent(job: Any) -> Any:
        calls.append(job.key)
        started.set()
        assert release.wait(PATIENCE)
        returned.set()
        return rt.Trigger.DRAFTED  # what the worker would commit, were it not cancelled

    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(agent)
    worker = rt.Worker(store, handlers, heartbeat=timedelta(milliseconds=1))
    rt.Relay.create(store, "r-1").start()
    operator = operator_cancels(rt, backend, "r-1", started)
    report = worker.run_once()
    operator.join()
    assert (report.cancelled, report.fired, report.lost) == (1, 0, 0)
    release.set()  # the abandoned thread (which cannot be killed) returns now
    assert returned.wait(PATIENCE)
    assert worker.run_once().claimed == 0, "a cancelled run is never claimed again"
    machine = rt.Relay.load(store, "r-1")
    assert calls == ["relay:r-1:2:enter"]
    assert machine.audit[-1].event is rt.Event.CANCELLED
    assert [r.trigger for r in machine.audit if r.trigger] == [rt.Trigger.START]
    assert machine.cancelled is not None and machine.cancelled.actor == "olga"
    with pytest.raises(rt.Cancelled, match="cancelled by olga"):
        machine.drafted()
    audit_clean(backend, relay_specs)


def test_a_call_on_the_workers_thread_is_cancelled_when_it_returns(
    rt: Any, relay_specs: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A handler whose last call was quick runs on the worker's own thread (PostgreSQL):
    cancelled meanwhile, the watchdog's heartbeat meets the revoked lease, and once the
    call returns (a plain call cannot be stopped) the worker commits nothing."""
    backend = make_backend("postgresql", request, tmp_path)
    store = backend.open(rt)
    started = threading.Event()
    calls: list[str] = []
    worker: Any = None

    def agent(job: Any) -> Any:
        calls.append(job.instance_id)
        if job.instance_id == "r-2":
            started.set()
            operator.join()
            stall = Stall(int(PATIENCE * 1000))
            while worker._watchdog._met is None:  # the watchdog met the cancellation
                stall.saw(None, "the watchdog never noticed")
                time.sleep(0.001)
        return rt.Trigger.DRAFTED

    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(agent)
    worker = rt.Worker(store, handlers, heartbeat=timedelta(milliseconds=1), batch=1)
    worker._quick_below = float("inf")  # the first call counts as quick, however loaded CI is
    rt.Relay.create(store, "r-1").start()
    rt.Relay.create(store, "r-2").start()
    operator = operator_cancels(rt, backend, "r-2", started)
    assert worker.run_once().fired == 1
    report = worker.run_once()
    assert (report.cancelled, report.fired, report.lost) == (1, 0, 0)
    assert calls == ["r-1", "r-2"]
    machine = rt.Relay.load(store, "r-2")
    assert machine.audit[-1].event is rt.Event.CANCELLED
    assert not any(r.trigger is rt.Trigger.DRAFTED for r in machine.audit)
    audit_clean(backend, relay_specs)
    backend.close()


def test_an_async_handler_awaiting_an_event_has_its_task_cancelled(
    rt: Any, backend: Backend, relay_specs: Path
) -> None:
    store = backend.open(rt)
    started = threading.Event()
    seen: list[str] = []

    async def agent(job: Any) -> Any:
        started.set()
        try:
            await asyncio.Event().wait()  # a model call that never returns by itself
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return rt.Trigger.DRAFTED

    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(agent)
    worker = rt.Worker(store, handlers, heartbeat=timedelta(milliseconds=1))
    rt.Relay.create(store, "r-2").start()
    operator = operator_cancels(rt, backend, "r-2", started)
    report = asyncio.run(worker.arun_once())
    operator.join()
    assert seen == ["cancelled"], "the handler's task was cancelled"
    assert (report.cancelled, report.fired) == (1, 0)
    machine = rt.Relay.load(store, "r-2")
    assert machine.audit[-1].event is rt.Event.CANCELLED and machine.state is rt.State.DRAFTING
    assert asyncio.run(worker.arun_once()).claimed == 0
    audit_clean(backend, relay_specs)


def test_without_a_cancellation_the_same_handler_commits(rt: Any, backend: Backend) -> None:
    """The control: the same blocked handler, released instead of cancelled, commits."""
    store = backend.open(rt)
    started, release = threading.Event(), threading.Event()

    def agent(job: Any) -> Any:
        started.set()
        assert release.wait(PATIENCE)
        return rt.Trigger.DRAFTED

    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(agent)
    worker = rt.Worker(store, handlers, heartbeat=timedelta(milliseconds=1))
    rt.Relay.create(store, "r-3").start()

    def releases() -> None:
        assert started.wait(PATIENCE)
        release.set()

    releaser = threading.Thread(target=releases)
    releaser.start()
    report = worker.run_once()
    releaser.join()
    assert (report.cancelled, report.fired) == (0, 1)
    assert rt.Relay.load(store, "r-3").state is rt.State.CHECKING


def test_cancelling_settles_a_quarantined_or_waiting_outbox_entry(
    rt: Any, backend: Backend
) -> None:
    store, clock = backend.open(rt), Clock()
    failures: list[str] = []

    def agent(job: Any) -> Any:
        failures.append(job.key)
        raise RuntimeError("the provider is down")

    handlers = rt.Handlers()
    handlers.on_enter(rt.State.DRAFTING)(agent)
    worker = rt.Worker(store, handlers, clock=clock, max_attempts=1)
    for name in ("q", "w"):
        rt.Relay.create(store, name, clock=clock).start()
    assert worker.run_once().quarantined == 2
    assert {p.instance_id for p in worker.outbox.pending()} == {"q", "w"}
    for name in ("q", "w"):
        rt.Relay.load(store, name).cancel(actor=rt.Actor(*OPS), reason="give up")
    assert worker.outbox.pending() == []
    settled = worker.outbox.pending(due_only=False)
    assert all(p.quarantined is None and p.delivered == p.seq for p in settled), settled
    clock.advance(seconds=3600)
    report = worker.run_once()
    assert (report.claimed, report.timeouts, len(failures)) == (0, 0, 2)


# -- the machine ----------------------------------------------------------------------------


def test_a_cancelled_run_refuses_every_change_and_has_no_deadline(rt: Any) -> None:
    clock = Clock()
    machine = rt.Relay(clock=clock)
    for trigger in (machine.start, machine.drafted, machine.checked):
        trigger()
    assert machine.state is rt.State.REVIEW and machine.deadline is not None
    record = machine.cancel(actor=rt.Actor(*OPS), reason="stale")
    assert (record.event, record.from_state, record.to_state) == (
        rt.Event.CANCELLED,
        rt.State.REVIEW,
        rt.State.REVIEW,
    )
    assert (record.roles, record.decision, machine.deadline, machine.allowed()) == (
        ("ops",),
        "stale",
        None,
        (),
    )
    lead = rt.Actor("lena", frozenset({"lead"}))
    refused = [
        lambda: machine.approve(actor=lead, decision="ok"),
        lambda: machine.fire(rt.Trigger.REVIEW_TIMEOUT),
        machine.expire,
        lambda: machine.update_context({"a": 1}),
        lambda: machine.cancel(actor=rt.Actor(*OPS), reason="again"),
    ]
    for call in refused:
        with pytest.raises(rt.Cancelled, match="a cancelled run is closed"):
            call()
    assert len(machine.audit) == 5


def test_cancel_needs_an_actor_and_a_reason_and_an_unfinished_run(rt: Any) -> None:
    machine = rt.Relay()
    with pytest.raises(rt.Unauthorized, match="needs an actor"):
        machine.cancel(actor=None, reason="x")
    for reason in ("", " \u200b", None):
        with pytest.raises(rt.Unauthorized, match="needs a reason"):
            machine.cancel(actor=rt.Actor(*OPS), reason=reason)
    for trigger in (machine.start, machine.drafted, machine.checked):
        trigger()
    machine.approve(actor=rt.Actor("lena", frozenset({"lead"})), decision="ok")
    machine.published()
    assert machine.state is rt.State.DONE
    with pytest.raises(rt.InvalidTransition, match="finished in DONE"):
        machine.cancel(actor=rt.Actor(*OPS), reason="too late")
    assert machine.audit[-1].event is rt.Event.TRANSITION


def test_a_deadline_passed_is_taken_before_the_cancellation(rt: Any) -> None:
    clock = Clock()
    machine = rt.Relay(clock=clock)
    for trigger in (machine.start, machine.drafted, machine.checked):
        trigger()
    due = machine.deadline
    clock.advance(seconds=7200)
    machine.cancel(actor=rt.Actor(*OPS), reason="nobody reviewed it")
    *_, timed, cancelled = machine.audit
    assert (timed.trigger, timed.at, timed.to_state) == (
        rt.Trigger.REVIEW_TIMEOUT,
        due,
        rt.State.FAILED,
    )
    assert (cancelled.event, cancelled.to_state, cancelled.reason) == (
        rt.Event.CANCELLED,
        rt.State.FAILED,
        rt.Reason.TIMEOUT,
    )


def test_replay_refuses_a_record_after_the_cancellation_or_a_moved_one(rt: Any) -> None:
    machine = rt.Relay()
    machine.start()
    machine.cancel(actor=rt.Actor(*OPS), reason="stop")
    records = list(machine.audit)
    assert rt.Relay.replay(records).cancelled is not None
    cancelled = records[-1]
    after = cancelled._replace(seq=4, event=rt.Event.TRANSITION, trigger=rt.Trigger.DRAFTED)
    after = after._replace(to_state=rt.State.CHECKING, actor=None, decision=None, roles=None)
    with pytest.raises(rt.InvalidTransition, match="record 4: the run was cancelled by record 3"):
        rt.Relay.replay([*records, after])
    moved = cancelled._replace(to_state=rt.State.CHECKING)
    with pytest.raises(rt.InvalidTransition, match="a cancellation stays in DRAFTING"):
        rt.Relay.replay([*records[:-1], moved])
    anonymous = cancelled._replace(decision=" ")
    with pytest.raises(rt.InvalidTransition, match="names its actor and why"):
        rt.Relay.replay([*records[:-1], anonymous])
    text = rt.Relay.dump_audit(records)
    assert rt.Relay.load_audit(text) == tuple(records)


# -- the record checked independently: audit check over random runs -------------------------


def test_random_runs_cancelled_anywhere_check_clean(backend: Backend, tmp_path: Path) -> None:
    """Ticket runs driven at random, each cancelled at a random point (a deadline passed
    or not, at the gate or not, in a failed state): every store check is clean, every run
    loads, and a cancelled one is refused any change."""
    from storekit import generate_runtime

    rt, _ = generate_runtime(tmp_path / "gen")
    specs = tmp_path / "specs" / "ticket.yaml"
    specs.parent.mkdir()
    specs.write_text(TICKET_SPEC)
    store = backend.open(rt)
    rng = random.Random(24)
    now = [datetime(2026, 12, 1, tzinfo=UTC)]
    lead = rt.Actor("lee", frozenset({"lead"}))
    cancelled = 0
    for n in range(40):
        machine = rt.Ticket.create(store, f"t-{n}", clock=lambda: now[0])
        for _ in range(rng.randint(1, 10)):
            now[0] += timedelta(minutes=rng.choice([1, 20, 90]))
            if rng.random() < 0.7 and machine.expire() is not None:
                continue  # else a deadline passed may be left for the cancellation to take
            allowed = machine.allowed()
            if not allowed or rng.random() < 0.15:
                break
            step = rng.choice(allowed)
            with contextlib.suppress(rt.InvalidTransition):  # its deadline passed: taken
                if step.human:
                    machine.fire(step.trigger, actor=lead, decision="checked")
                else:
                    machine.fire(step.trigger)
        now[0] += timedelta(minutes=rng.choice([1, 90]))
        with contextlib.suppress(rt.InvalidTransition):  # a finished run: nothing to cancel
            machine.cancel(actor=rt.Actor(*OPS), reason=f"run {n} stopped")
            cancelled += 1
    assert cancelled >= 30

    class BackendSpecs:  # audit_clean reads the target only
        target = backend.target

    audit_clean(BackendSpecs(), specs)  # type: ignore[arg-type]
    for n in range(40):
        machine = rt.Ticket.load(store, f"t-{n}")
        if machine.cancelled is not None:
            with pytest.raises(rt.Cancelled):
                machine.expire()


def test_audit_check_finds_a_record_after_a_cancellation(tmp_path: Path) -> None:
    spec = tmp_path / "relay.yaml"
    spec.write_text(RELAY_SPEC)
    at = "2026-12-01T00:00:0{}+00:00"
    lines = [
        {"seq": 1, "at": at.format(0), "event": "created", "state": "IDLE"},
        {"seq": 2, "at": at.format(1), "trigger": "start", "from": "IDLE", "to": "DRAFTING"},
        {
            "seq": 3,
            "at": at.format(2),
            "event": "cancelled",
            "from": "DRAFTING",
            "to": "DRAFTING",
            "actor": "olga",
            "decision": "stop",
        },
        {"seq": 4, "at": at.format(3), "trigger": "drafted", "from": "DRAFTING", "to": "CHECKING"},
    ]
    trace = tmp_path / "run.jsonl"
    trace.write_text("".join(json.dumps(line) + "\n" for line in lines[:3]))
    status, out, err = cli("audit", "check", str(spec), "--trace", str(trace))
    assert (status, err) == (0, ""), out
    trace.write_text("".join(json.dumps(line) + "\n" for line in lines))
    status, out, _ = cli("audit", "check", str(spec), "--trace", str(trace))
    assert status == 1 and "run-cancelled" in out and "follows record 3" in out, out


# -- the command line -------------------------------------------------------------------------


def test_runs_cancel_closes_a_run_and_runs_show_and_list_say_so(
    rt: Any, backend: Backend, relay_specs: Path
) -> None:
    store = backend.open(rt)
    rt.Relay.create(store, "c-1").start()
    rt.Relay.create(store, "c-2").start()
    target = backend.target
    argv = ("runs", "cancel", target, "c-1", "--actor", "olga", "--reason", "withdrawn")
    status, out, err = cli(*argv, "--role", "ops", "--specs", str(relay_specs))
    assert (status, err) == (0, ""), err
    assert (
        out
        == "relay c-1: cancelled in DRAFTING by olga (record 3); workers will not run it again\n"
    )
    status, out, err = cli(*argv)
    assert status == 2 and out == "" and "was cancelled already, by olga" in err
    assert err.count("\n") == 1
    machine = rt.Relay.load(open_store(target, rt), "c-1")
    assert machine.cancelled is not None and machine.cancelled.roles == ("ops",)
    status, out, _ = cli("runs", "show", target, "c-1", "--specs", str(relay_specs))
    assert status == 0 and "CANCELLED by olga" in out and 'decision: "withdrawn"' in out, out
    status, out, _ = cli("runs", "list", target, "--specs", str(relay_specs), "--format", "json")
    listed = json.loads(out)["machines"][0]["cancelled"]
    assert [(c["instance_id"], c["actor"], c["reason"]) for c in listed] == [
        ("c-1", "olga", "withdrawn")
    ]
    status, out, _ = cli("runs", "list", target, "--specs", str(relay_specs))
    assert "cancelled (closed" in out and "c-2" not in out.split("cancelled (closed")[1]
    audit_clean(backend, relay_specs)


def test_runs_cancel_refuses_with_one_line(rt: Any, backend: Backend, relay_specs: Path) -> None:
    store, clock = backend.open(rt), Clock()
    machine = rt.Relay.create(store, "late", clock=clock)
    for trigger in (machine.start, machine.drafted, machine.checked):
        trigger()
    target = backend.target
    base = ("runs", "cancel", target)
    cases = [
        ((*base, "nobody", "--actor", "o", "--reason", "x"), "no instance 'nobody'"),
        ((*base, "late", "--actor", " ", "--reason", "x"), "--actor needs a non-blank text"),
        ((*base, "late", "--actor", "o", "--reason", ""), "--reason needs a non-blank text"),
        ((*base, "late", "--actor", "o", "--reason", "x"), "the timed exit of REVIEW is due since"),
    ]
    for argv, said in cases:
        status, out, err = cli(*argv)
        assert (status, out) == (2, ""), err
        assert said in err and err.count("\n") == 1, err
    machine = rt.Relay.create(store, "done", clock=clock)
    for trigger in (machine.start, machine.drafted, machine.checked):
        trigger()
    machine.approve(actor=rt.Actor("lena", frozenset({"lead"})), decision="ok")
    machine.published()
    status, _, err = cli(
        *base, "done", "--actor", "o", "--reason", "x", "--specs", str(relay_specs)
    )
    assert status == 2 and "DONE is a final state" in err
