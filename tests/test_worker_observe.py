"""Watching a durable worker: OpenTelemetry spans (``statewright[otel]``) captured by the
SDK's in-memory exporter from real worker rounds on SQLite and PostgreSQL, the structured
log events, the JSON formatter, and a runtime that imports no OpenTelemetry unless asked.

The spans are checked against what the handlers themselves saw (the job keys they were
called with, the span current while they ran) and against the instances' audit logs,
never against the worker's own account of itself."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from agentkit import relay_runtime
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from pgcluster import postgres_server, postgres_url
from storekit import SQL_BACKENDS, Backend, backend_fixture
from test_runtime_kit import Clock

from statewright.generator.integrations.otel import OtelTracer
from statewright.generator.runtime.observe import FIELDS, JsonFormatter

__all__ = ["postgres_server", "postgres_url"]

backend = backend_fixture(SQL_BACKENDS)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return relay_runtime(tmp_path_factory.mktemp("relay"))[0]


class Traced:
    """An SDK tracer provider of the test's own (never the global one) and its spans."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.provider = TracerProvider()
        self.provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.tracer = OtelTracer(tracer_provider=self.provider)

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        found = self.exporter.get_finished_spans()
        return [s for s in found if name is None or s.name == name]


@pytest.fixture
def traced() -> Traced:
    return Traced()


class Seen:
    """What the handlers saw: each call's job key and attempt, the span current while it
    ran, and a span of the handler's own (a model call) opened inside it."""

    def __init__(self, provider: TracerProvider | None) -> None:
        self.calls: list[tuple[str, int]] = []
        self.current: dict[tuple[str, int], int] = {}
        self.provider = provider

    def saw(self, job: Any) -> None:
        self.calls.append((job.key, job.attempt))
        self.current[(job.key, job.attempt)] = trace.get_current_span().get_span_context().span_id
        if self.provider is not None:
            inner = self.provider.get_tracer("the-model-client")
            with inner.start_as_current_span("model call", attributes={"key": job.key}):
                pass


def relay_handlers(rt: Any, seen: Seen, *, failing: dict[str, int] | None = None) -> Any:
    """The relay's agents: DRAFTING and CHECKING move on, REVIEW asks, every change is
    noticed; ``failing[name]`` calls of the state's handler raise first."""
    handlers = rt.Handlers()
    state, trigger = rt.State, rt.Trigger
    failing = dict(failing or {})

    def agent(name: str, outcome: Any, **options: Any) -> None:
        def work(job: Any) -> Any:
            seen.saw(job)
            if failing.get(name, 0) > 0:
                failing[name] -= 1
                raise ConnectionError(f"{name} cannot reach its provider")
            return outcome

        work.__name__ = name
        handlers.on_enter(getattr(state, name), **options)(work)

    agent("DRAFTING", trigger.DRAFTED, retry=rt.Retry(attempts=3, jitter=0))
    agent("CHECKING", trigger.CHECKED, error=trigger.AGENT_ERROR)
    handlers.on_approval(state.REVIEW)(seen.saw)
    handlers.after_transition(seen.saw)
    return handlers


def attr(span: ReadableSpan, name: str) -> Any:
    """One attribute of ``span``."""
    return (span.attributes or {})[name]


def f(record: logging.LogRecord, name: str) -> Any:
    """A structured field of a log record."""
    return getattr(record, name)


def key_seq(key: str) -> int:
    return int(key.split(":")[2])


def test_spans_of_a_worker_round_nest_as_the_handlers_ran(
    rt: Any, backend: Backend, traced: Traced
) -> None:
    store, seen = backend.open(rt), Seen(traced.provider)
    worker = rt.Worker(store, relay_handlers(rt, seen), tracer=traced.tracer, worker_id="w-1")
    for n in range(3):
        rt.Relay.create(store, f"r{n}").start()
    done = worker.run_once()
    assert (done.claimed, done.fired) == (3, 6)

    (round_,) = traced.spans("statewright.round")
    assert round_.attributes is not None
    assert (attr(round_, "statewright.claimed"), attr(round_, "statewright.fired")) == (
        3,
        6,
    )
    assert round_.parent is None
    claims = traced.spans("statewright.claim")
    assert claims and all(c.parent == round_.context for c in claims)
    assert sum(int(attr(c, "statewright.claimed")) for c in claims) == 3

    # one handler span per call a handler saw, each current while its handler ran
    handler_spans = {
        (attr(s, "statewright.key"), attr(s, "statewright.attempt")): s
        for s in traced.spans("statewright.handler")
    }
    assert len(traced.spans("statewright.handler")) == len(seen.calls) == 18
    assert set(handler_spans) == set(seen.calls)
    for call, span in handler_spans.items():
        assert seen.current[call] == span.context.span_id
        assert attr(span, "statewright.outcome") == "ok"
        assert span.status.status_code is StatusCode.UNSET
    fired = Counter(
        attr(s, "statewright.fired")
        for s in handler_spans.values()
        if attr(s, "statewright.hook") == "enter"
    )
    assert fired == {"drafted": 3, "checked": 3}
    # the handlers' own spans nest under the handler span they ran in
    models = traced.spans("model call")
    assert len(models) == 18
    for model in models:
        key = attr(model, "key")
        assert model.parent == handler_spans[(key, 0)].context

    # one transition span per record whose handlers ran, with the record's attributes
    transitions = {
        (attr(s, "statewright.instance"), attr(s, "statewright.seq")): s
        for s in traced.spans("statewright.transition")
    }
    delivered = {(key.split(":")[1], key_seq(key)) for key, _ in seen.calls}
    assert len(traced.spans("statewright.transition")) == len(delivered) == 9
    assert set(transitions) == delivered
    for (instance, seq), span in transitions.items():
        record = rt.Relay.load(store, instance).audit[seq - 1]
        attributes = span.attributes or {}
        assert attributes["statewright.from"] == str(record.from_state)
        assert attributes["statewright.to"] == str(record.to_state)
        assert attributes["statewright.trigger"] == str(record.trigger)
        assert attributes.get("statewright.actor") == record.actor
        assert attributes["statewright.machine"] == "relay"
        assert attributes["statewright.worker"] == "w-1"
        assert attributes.get("statewright.spec_sha256") == rt.Relay.spec.sha256
        assert span.parent == round_.context
    for (key, _), span in handler_spans.items():
        assert span.parent == transitions[(key.split(":")[1], key_seq(key))].context
    assert {s.context.trace_id for s in traced.spans()} == {round_.context.trace_id}

    # an idle round opens no span at all
    count = len(traced.spans())
    assert worker.run_once().idle
    assert len(traced.spans()) == count


def test_a_retried_handler_shows_each_attempt(rt: Any, backend: Backend, traced: Traced) -> None:
    store, clock, seen = backend.open(rt), Clock(), Seen(None)
    handlers = relay_handlers(rt, seen, failing={"DRAFTING": 2})
    worker = rt.Worker(store, handlers, clock=clock, tracer=traced.tracer)
    rt.Relay.create(store, "r", clock=clock).start()
    rounds = 0
    while rt.Relay.load(store, "r").state is rt.State.DRAFTING:
        assert rounds < 10
        worker.run_once()
        clock.advance(seconds=5)
        rounds += 1
    drafting = [
        s
        for s in traced.spans("statewright.handler")
        if attr(s, "statewright.hook") == "enter" and attr(s, "statewright.state") == "DRAFTING"
    ]
    assert [attr(s, "statewright.attempt") for s in drafting] == [0, 1, 2]
    assert [attr(s, "statewright.outcome") for s in drafting] == ["error", "error", "ok"]
    assert [s.status.status_code for s in drafting] == [
        StatusCode.ERROR,
        StatusCode.ERROR,
        StatusCode.UNSET,
    ]
    for failed in drafting[:2]:
        assert attr(failed, "error.type") == "ConnectionError"
        (event,) = failed.events
        assert event.name == "exception"
        assert "cannot reach" in str((event.attributes or {})["exception.message"])
    # each attempt in a round and a delivery of its own; the failed deliveries failed
    parents = [s.parent for s in drafting]
    assert len({p.span_id for p in parents if p is not None}) == 3
    by_id = {s.context.span_id: s for s in traced.spans("statewright.transition")}
    codes = [by_id[p.span_id].status.status_code for p in parents if p is not None]
    assert codes == [StatusCode.ERROR, StatusCode.ERROR, StatusCode.UNSET]
    assert seen.calls.count(("relay:r:2:enter", 0)) == 1  # the handlers saw the same three
    assert [a for k, a in seen.calls if k == "relay:r:2:enter"] == [0, 1, 2]


def test_a_failed_handler_taking_its_error_trigger(
    rt: Any, backend: Backend, traced: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    store, seen = backend.open(rt), Seen(None)
    handlers = relay_handlers(rt, seen, failing={"CHECKING": 1})
    worker = rt.Worker(store, handlers, tracer=traced.tracer)
    rt.Relay.create(store, "r").start()
    with caplog.at_level(logging.INFO, logger="statewright"):
        worker.run_once()
    machine = rt.Relay.load(store, "r")
    assert machine.state is rt.State.FAILED
    (checking,) = [
        s
        for s in traced.spans("statewright.handler")
        if attr(s, "statewright.state") == "CHECKING" and attr(s, "statewright.hook") == "enter"
    ]
    assert checking.status.status_code is StatusCode.ERROR
    assert attr(checking, "error.type") == "ConnectionError"
    assert attr(checking, "statewright.outcome") == "error"
    # the logs tell the same story: the failure with its exception, then the way out
    failed = [r for r in caplog.records if getattr(r, "event", None) == "handler_failed"]
    assert len(failed) == 1 and failed[0].levelno == logging.WARNING
    assert failed[0].exc_info is not None and failed[0].exc_info[0] is ConnectionError
    fired = [r for r in caplog.records if getattr(r, "event", None) == "transition"]
    assert [(f(r, "trigger"), f(r, "state"), f(r, "seq")) for r in fired] == [
        (str(rec.trigger), str(rec.to_state), rec.seq) for rec in machine.audit[2:]
    ]


def test_async_handlers_run_inside_their_spans(rt: Any, backend: Backend, traced: Traced) -> None:
    store, seen = backend.open(rt), Seen(traced.provider)
    handlers = rt.Handlers()
    state, trigger = rt.State, rt.Trigger

    async def drafting(job: Any) -> Any:
        await asyncio.sleep(0)
        seen.saw(job)  # after an await: still its own span
        return trigger.DRAFTED

    async def checking(job: Any) -> Any:
        seen.saw(job)
        await asyncio.sleep(0)
        return trigger.CHECKED

    handlers.on_enter(state.DRAFTING)(drafting)
    handlers.on_enter(state.CHECKING)(checking)
    worker = rt.Worker(store, handlers, tracer=traced.tracer, concurrency=4)
    for n in range(4):
        rt.Relay.create(store, f"a{n}").start()
    assert asyncio.run(worker.arun_once()).fired == 8
    spans = {attr(s, "statewright.key"): s for s in traced.spans("statewright.handler")}
    assert len(spans) == len(seen.calls) == 8
    for key, attempt in seen.calls:
        assert seen.current[(key, attempt)] == spans[key].context.span_id
    transitions = {s.context.span_id: s for s in traced.spans("statewright.transition")}
    for key, span in spans.items():
        assert span.parent is not None
        parent = transitions[span.parent.span_id]
        assert attr(parent, "statewright.instance") == key.split(":")[1]
        assert attr(parent, "statewright.seq") == key_seq(key)


def test_log_events_carry_their_fields(
    rt: Any, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    store, clock, seen = backend.open(rt), Clock(), Seen(None)
    handlers = rt.Handlers()

    def broken(job: Any) -> Any:
        seen.saw(job)
        raise ConnectionError("no provider")

    handlers.on_enter(rt.State.DRAFTING)(broken)
    worker = rt.Worker(store, handlers, clock=clock, max_attempts=2, worker_id="w-9")
    rt.Relay.create(store, "q", clock=clock).start()
    with caplog.at_level(logging.DEBUG, logger="statewright"):
        worker.run_once()
        clock.advance(minutes=10)
        worker.run_once()
        caplog.clear()
        assert worker.run_once().idle
        assert caplog.records == []  # an idle round logs nothing, not even at DEBUG
        clock.advance(minutes=10)
        assert worker.run_once().idle  # quarantined: never claimed again
    assert caplog.records == []
    # what the two failing rounds logged, in order
    with caplog.at_level(logging.DEBUG, logger="statewright"):
        store2 = backend.open(rt)
        worker = rt.Worker(store2, handlers, clock=clock, max_attempts=2, worker_id="w-9")
        rt.Relay.create(store2, "p", clock=clock).start()
        worker.run_once()
        clock.advance(minutes=10)
        worker.run_once()
    events = [(f(r, "event"), r.levelname) for r in caplog.records]
    assert events == [
        ("handler_failed", "WARNING"),
        ("retry", "WARNING"),
        ("round", "DEBUG"),
        ("handler_failed", "WARNING"),
        ("quarantined", "ERROR"),
        ("round", "DEBUG"),
    ]
    assert all(r.name == "statewright.worker" for r in caplog.records)
    first = caplog.records[0]
    fields = {k: getattr(first, k) for k in FIELDS if hasattr(first, k)}
    assert fields == {
        "event": "handler_failed",
        "machine": "relay",
        "instance": "p",
        "state": "DRAFTING",
        "trigger": "start",
        "seq": 2,
        "hook": "enter",
        "key": "relay:p:2:enter",
        "attempt": 0,
        "worker": "w-9",
        "duration_ms": fields["duration_ms"],
        "error": "ConnectionError('no provider')",
    }
    assert isinstance(fields["duration_ms"], float) and fields["duration_ms"] >= 0
    quarantined = caplog.records[4]
    assert quarantined.exc_info is not None and quarantined.exc_info[0] is ConnectionError
    assert (f(quarantined, "instance"), f(quarantined, "attempt")) == ("p", 2)


def test_the_json_formatter_writes_one_object_a_line(
    rt: Any, backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    store, seen = backend.open(rt), Seen(None)
    handlers = relay_handlers(rt, seen, failing={"CHECKING": 1})
    worker = rt.Worker(store, handlers, worker_id="w-2")
    rt.Relay.create(store, "j").start()
    with caplog.at_level(logging.DEBUG, logger="statewright"):
        worker.run_once()
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    assert all("\n" not in line for line in lines)
    objects = [json.loads(line) for line in lines]
    assert Counter(o["event"] for o in objects) == Counter(
        {"handler": 4, "handler_failed": 1, "transition": 2, "round": 1}
    )
    for o in objects:
        assert {"time", "level", "logger", "message", "event", "machine", "worker"} <= set(o)
        assert o["worker"] == "w-2" and o["logger"] == "statewright.worker"
        assert o["time"].endswith("+00:00")
    (failed,) = [o for o in objects if o["event"] == "handler_failed"]
    assert failed["level"] == "WARNING" and failed["instance"] == "j"
    assert "ConnectionError: CHECKING cannot reach its provider" in failed["exception"]
    assert failed["error"] == "ConnectionError('CHECKING cannot reach its provider')"
    # a value JSON cannot hold is written as its str; standard attributes stay out
    record = logging.LogRecord("x", logging.INFO, "f.py", 1, "m %s", ("a",), None)
    record.when = timedelta(seconds=3)
    assert json.loads(formatter.format(record)) == {
        "time": json.loads(formatter.format(record))["time"],
        "level": "INFO",
        "logger": "x",
        "message": "m a",
        "when": "0:00:03",
    }


def test_runners_log_their_failures_and_transitions(
    rt: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seen = Seen(None)
    handlers = relay_handlers(rt, seen, failing={"CHECKING": 1})
    machine = rt.Relay()
    with caplog.at_level(logging.INFO, logger="statewright"):
        rt.Runner(handlers, machine).fire(rt.Trigger.START)
    assert machine.state is rt.State.FAILED
    events = [(r.name, f(r, "event"), r.levelname) for r in caplog.records]
    assert events == [
        ("statewright.runner", "transition", "INFO"),
        ("statewright.runner", "handler_failed", "WARNING"),
        ("statewright.runner", "transition", "INFO"),
    ]
    drafted, failed, error = caplog.records
    assert (f(drafted, "trigger"), f(drafted, "state"), f(drafted, "seq")) == (
        "drafted",
        "CHECKING",
        3,
    )
    assert failed.exc_info is not None and failed.exc_info[0] is ConnectionError
    assert (f(error, "trigger"), f(error, "state")) == ("agent_error", "FAILED")


def test_the_runtime_imports_no_opentelemetry_unless_asked(rt: Any, tmp_path: Path) -> None:
    folder = Path(rt.__file__)
    for _ in rt.__name__.split("."):  # up from rt_relay_.../relay/runtime.py
        folder = folder.parent
    script = textwrap.dedent(
        f"""
        import importlib, sys
        sys.path.insert(0, {str(folder)!r})
        rt = importlib.import_module({rt.__name__!r})
        import statewright.generator.runtime
        store = rt.SqlStore.sqlite({str(tmp_path / "s.sqlite")!r})
        handlers = rt.Handlers()
        handlers.on_enter(rt.State.DRAFTING)(lambda job: rt.Trigger.DRAFTED)
        rt.Relay.create(store, "r").start()
        print(rt.Worker(store, handlers).run_once().fired)
        print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
        from statewright.generator.integrations.otel import OtelTracer
        print("opentelemetry.trace" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:3] == ["1", "[]", "True"]  # the control: it can see one


def test_a_timed_exit_the_worker_fires_is_traced_and_logged(
    rt: Any, backend: Backend, traced: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    store, clock, seen = backend.open(rt), Clock(), Seen(None)
    worker = rt.Worker(store, relay_handlers(rt, seen), clock=clock, tracer=traced.tracer)
    rt.Relay.create(store, "t", clock=clock).start()
    worker.run_once()
    assert rt.Relay.load(store, "t").state is rt.State.REVIEW
    assert traced.spans("statewright.timeout") == []
    clock.advance(hours=2)
    with caplog.at_level(logging.INFO, logger="statewright"):
        assert worker.run_once().timeouts == 1
    record = rt.Relay.load(store, "t").audit[-1]
    assert str(record.trigger) == "review_timeout"
    (timeout,) = traced.spans("statewright.timeout")
    assert (attr(timeout, "statewright.seq"), attr(timeout, "statewright.to")) == (
        record.seq,
        "FAILED",
    )
    assert attr(timeout, "statewright.trigger") == "review_timeout"
    rounds = traced.spans("statewright.round")
    assert len(rounds) == 2 and timeout.parent == rounds[-1].context
    assert attr(rounds[-1], "statewright.timeouts") == 1
    (logged,) = [r for r in caplog.records if f(r, "event") == "timeout"]
    assert logged.levelno == logging.INFO
    assert (f(logged, "instance"), f(logged, "trigger"), f(logged, "seq")) == (
        "t",
        "review_timeout",
        record.seq,
    )


def test_a_policy_that_gives_up_logs_it_and_its_way_out(
    rt: Any, backend: Backend, traced: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    store, clock = backend.open(rt), Clock()
    handlers = rt.Handlers()

    def drafting(job: Any) -> Any:
        raise TimeoutError("the model did not answer")

    handlers.on_enter(
        rt.State.DRAFTING, error=rt.Trigger.AGENT_ERROR, retry=rt.Retry(attempts=2, jitter=0)
    )(drafting)
    worker = rt.Worker(store, handlers, clock=clock, tracer=traced.tracer, worker_id="w-3")
    rt.Relay.create(store, "g", clock=clock).start()
    with caplog.at_level(logging.INFO, logger="statewright"):
        worker.run_once()
        clock.advance(minutes=1)
        worker.run_once()
    assert rt.Relay.load(store, "g").state is rt.State.FAILED
    events = [(f(r, "event"), r.levelname) for r in caplog.records]
    assert events == [
        ("handler_failed", "WARNING"),
        ("retry", "WARNING"),
        ("handler_failed", "WARNING"),
        ("gave_up", "ERROR"),
        ("transition", "INFO"),
    ]
    gave_up = caplog.records[3]
    assert (f(gave_up, "instance"), f(gave_up, "attempt"), f(gave_up, "worker")) == ("g", 2, "w-3")
    assert gave_up.exc_info is not None and gave_up.exc_info[0] is TimeoutError
    assert f(caplog.records[4], "trigger") == "agent_error"
    handler_spans = traced.spans("statewright.handler")
    assert [attr(s, "statewright.attempt") for s in handler_spans] == [0, 1]
    assert [attr(s, "error.type") for s in handler_spans] == ["TimeoutError"] * 2
    assert all("statewright.fired" not in (s.attributes or {}) for s in handler_spans)


def test_a_call_past_its_timeout_is_a_timeout_span(
    rt: Any, backend: Backend, traced: Traced
) -> None:
    import threading

    store, clock, release = backend.open(rt), Clock(), threading.Event()
    handlers = rt.Handlers()

    def slow(job: Any) -> Any:
        clock.advance(seconds=10)  # the worker's clock: past the policy's 5 s at once
        release.wait(600)  # until the test lets go (never a length of time to pass)
        return rt.Trigger.DRAFTED

    policy = rt.Retry(attempts=1, timeout=timedelta(seconds=5))
    handlers.on_enter(rt.State.DRAFTING, error=rt.Trigger.AGENT_ERROR, retry=policy)(slow)
    worker = rt.Worker(
        store, handlers, clock=clock, tracer=traced.tracer, heartbeat=timedelta(milliseconds=5)
    )
    rt.Relay.create(store, "s", clock=clock).start()
    try:
        assert worker.run_once().gave_up == 1
    finally:
        release.set()
    assert rt.Relay.load(store, "s").state is rt.State.FAILED
    (span,) = traced.spans("statewright.handler")
    assert attr(span, "statewright.outcome") == "timeout"
    assert str(attr(span, "error.type")).endswith("HandlerTimeout")
    assert span.status.status_code is StatusCode.ERROR
