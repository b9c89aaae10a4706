"""Tracing the in-process runners (``Runner``, ``AsyncRunner``): the worker's span names
and attributes where the concept is the same, captured by the OpenTelemetry SDK's
in-memory exporter, and checked against what the handlers themselves saw (the job keys,
the span current while they ran) and against the machine's audit log; and a runner with
no tracer imports nothing of OpenTelemetry."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from agentkit import relay_runtime
from opentelemetry.trace import StatusCode
from test_runtime_kit import Clock
from test_worker_observe import Seen, Traced, attr, key_seq, relay_handlers


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return relay_runtime(tmp_path_factory.mktemp("relay"))[0]


@pytest.fixture
def traced() -> Traced:
    return Traced()


def test_a_runner_traces_its_transitions_and_handler_calls(rt: Any, traced: Traced) -> None:
    seen = Seen(traced.provider)
    machine = rt.Relay()
    runner = rt.Runner(relay_handlers(rt, seen), machine, tracer=traced.tracer)
    caller = traced.provider.get_tracer("the-application")
    with caller.start_as_current_span("request") as request:
        assert runner.fire(rt.Trigger.START) is rt.State.REVIEW
    outer = request.get_span_context()

    # no rounds, no claims: a runner claims nothing
    names = {s.name for s in traced.spans()}
    assert names == {
        "request",
        "statewright.transition",
        "statewright.handler",
        "model call",
    }
    handler_spans = {
        (attr(s, "statewright.key"), attr(s, "statewright.attempt")): s
        for s in traced.spans("statewright.handler")
    }
    assert len(traced.spans("statewright.handler")) == len(seen.calls) == 6
    assert set(handler_spans) == set(seen.calls)
    for call, span in handler_spans.items():
        assert seen.current[call] == span.context.span_id  # current while it ran
        assert attr(span, "statewright.outcome") == "ok"
    for model in traced.spans("model call"):
        assert model.parent == handler_spans[(attr(model, "key"), 0)].context

    transitions = {attr(s, "statewright.seq"): s for s in traced.spans("statewright.transition")}
    assert set(transitions) == {key_seq(key) for key, _ in seen.calls} == {2, 3, 4}
    for seq, span in transitions.items():
        record = machine.audit[seq - 1]
        attributes = span.attributes or {}
        assert attributes["statewright.from"] == str(record.from_state)
        assert attributes["statewright.to"] == str(record.to_state)
        assert attributes["statewright.trigger"] == str(record.trigger)
        assert attributes["statewright.machine"] == "relay"
        assert attributes["statewright.spec_sha256"] == rt.Relay.spec.sha256
        assert "statewright.worker" not in attributes
        assert "statewright.instance" not in attributes  # an in-memory machine has no id
        assert span.parent == outer  # the caller's span: the runner's work nests under it
        assert span.end_time is not None
    for (key, _), span in handler_spans.items():
        assert span.parent == transitions[key_seq(key)].context
    fired = {
        attr(s, "statewright.fired")
        for s in handler_spans.values()
        if attr(s, "statewright.hook") == "enter"
    }
    assert fired == {"drafted", "checked"}
    assert {s.context.trace_id for s in traced.spans()} == {outer.trace_id}


def test_a_failure_shows_on_its_spans_and_a_raise_ends_them(rt: Any, traced: Traced) -> None:
    seen = Seen(None)
    # CHECKING names an error trigger: its failure takes it
    machine = rt.Relay()
    handlers = relay_handlers(rt, seen, failing={"CHECKING": 1})
    rt.Runner(handlers, machine, tracer=traced.tracer).fire(rt.Trigger.START)
    assert machine.state is rt.State.FAILED
    (checking,) = [
        s
        for s in traced.spans("statewright.handler")
        if attr(s, "statewright.state") == "CHECKING" and attr(s, "statewright.hook") == "enter"
    ]
    assert checking.status.status_code is StatusCode.ERROR
    assert (attr(checking, "statewright.outcome"), attr(checking, "error.type")) == (
        "error",
        "ConnectionError",
    )
    (event,) = checking.events
    assert event.name == "exception"

    # DRAFTING's handler raising with no error trigger at hand (its retry policy is the
    # worker's): the runner raises HandlerFailed, and the delivery's span ends failed
    bare = rt.Handlers()

    def drafting(job: Any) -> Any:
        seen.saw(job)
        raise ConnectionError("no provider")

    bare.on_enter(rt.State.DRAFTING)(drafting)
    other, spans = rt.Relay(), Traced()
    runner = rt.Runner(bare, other, tracer=spans.tracer)
    with pytest.raises(rt.HandlerFailed):
        runner.fire(rt.Trigger.START)
    (transition,) = spans.spans("statewright.transition")
    assert transition.end_time is not None
    assert transition.status.status_code is StatusCode.ERROR
    assert attr(transition, "statewright.seq") == 2
    (handler,) = spans.spans("statewright.handler")
    assert handler.parent == transition.context
    # delivered again by the next run: a span of its own, the earlier one left ended
    with pytest.raises(rt.HandlerFailed):
        runner.run()
    assert [attr(s, "statewright.seq") for s in spans.spans("statewright.transition")] == [2, 2]


def test_an_async_runner_runs_each_handler_inside_its_span(rt: Any, traced: Traced) -> None:
    seen = Seen(traced.provider)
    handlers = rt.Handlers()

    async def drafting(job: Any) -> Any:
        await asyncio.sleep(0)
        seen.saw(job)  # after an await: still its own span
        return rt.Trigger.DRAFTED

    async def checking(job: Any) -> Any:
        seen.saw(job)
        await asyncio.sleep(0)
        return rt.Trigger.CHECKED

    handlers.on_enter(rt.State.DRAFTING)(drafting)
    handlers.on_enter(rt.State.CHECKING)(checking)
    handlers.after_transition(seen.saw)  # a plain handler beside them

    async def go() -> None:
        store = rt.MemoryStore()
        machines = [rt.Relay.create(store, f"a{n}") for n in range(3)]
        runners = [rt.AsyncRunner(handlers, m, tracer=traced.tracer) for m in machines]
        states = await asyncio.gather(*(r.fire(rt.Trigger.START) for r in runners))
        assert states == [rt.State.REVIEW] * 3

    asyncio.run(go())
    spans = traced.spans("statewright.handler")
    assert len(spans) == len(seen.calls) == len(seen.current) == 3 * 5
    by_key = {attr(s, "statewright.key"): s for s in spans}
    for key, attempt in seen.calls:  # every call saw its own span current
        assert seen.current[(key, attempt)] == by_key[key].context.span_id
    transitions = {s.context.span_id: s for s in traced.spans("statewright.transition")}
    assert len(transitions) == 3 * 3
    for span in spans:
        assert span.parent is not None
        parent = transitions[span.parent.span_id]
        key = str(attr(span, "statewright.key"))
        assert attr(parent, "statewright.seq") == key_seq(key)
        assert attr(parent, "statewright.instance") == key.split(":")[1]
        assert parent.parent is None  # no span current where the runners were called


def test_what_expire_takes_is_a_timeout_span_and_log(
    rt: Any, traced: Traced, caplog: pytest.LogCaptureFixture
) -> None:
    clock, seen = Clock(), Seen(None)
    store = rt.MemoryStore()
    machine = rt.Relay.create(store, "t", clock=clock)
    runner = rt.Runner(relay_handlers(rt, seen), machine, tracer=traced.tracer)
    runner.fire(rt.Trigger.START)
    assert runner.next_due is not None
    assert runner.expire() is rt.State.REVIEW  # not due: nothing taken, nothing traced
    assert traced.spans("statewright.timeout") == []
    clock.advance(hours=2)
    with caplog.at_level(logging.INFO, logger="statewright"):
        assert runner.expire() is rt.State.FAILED
    record = machine.audit[-1]
    assert str(record.trigger) == "review_timeout"
    (timeout,) = traced.spans("statewright.timeout")
    assert (attr(timeout, "statewright.seq"), attr(timeout, "statewright.to")) == (
        record.seq,
        "FAILED",
    )
    assert (attr(timeout, "statewright.instance"), attr(timeout, "statewright.trigger")) == (
        "t",
        "review_timeout",
    )
    # the record it took has its handlers run (the failure noticed), traced as any other
    last = traced.spans("statewright.transition")[-1]
    assert attr(last, "statewright.seq") == record.seq
    assert f"relay:t:{record.seq}:after" in {k for k, _ in seen.calls}
    (logged,) = [r for r in caplog.records if getattr(r, "event", None) == "timeout"]
    assert logged.name == "statewright.runner"
    assert (logged.instance, logged.trigger, logged.seq) == ("t", "review_timeout", record.seq)  # type: ignore[attr-defined]
    assert not hasattr(logged, "worker")


def test_a_runner_without_a_tracer_imports_no_opentelemetry(rt: Any) -> None:
    folder = Path(rt.__file__)
    for _ in rt.__name__.split("."):
        folder = folder.parent
    script = textwrap.dedent(
        f"""
        import asyncio, importlib, sys
        sys.path.insert(0, {str(folder)!r})
        rt = importlib.import_module({rt.__name__!r})
        handlers = rt.Handlers()
        handlers.on_enter(rt.State.DRAFTING)(lambda job: rt.Trigger.DRAFTED)
        print(rt.Runner(handlers, rt.Relay()).fire(rt.Trigger.START))
        runner = rt.AsyncRunner(handlers, rt.Relay())
        print(asyncio.run(runner.fire(rt.Trigger.START)))
        print(sorted(m for m in sys.modules if m.split(".")[0] == "opentelemetry"))
        from statewright.generator.integrations.otel import OtelTracer
        print("opentelemetry.trace" in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split("\n")[:4]
    assert lines == ["CHECKING", "CHECKING", "[]", "True"]  # the control: it can see one


def test_a_graph_given_a_tracer_traces_its_nodes_and_the_timeouts_it_takes(
    rt: Any, traced: Traced, tmp_path: Path
) -> None:
    pytest.importorskip("langgraph")
    from langgraph.checkpoint.memory import InMemorySaver

    from statewright.generator.integrations.langgraph import TimeoutRunner, build_graph

    clock, seen = Clock(), Seen(traced.provider)
    store = rt.SqlStore.sqlite(str(tmp_path / "graph.sqlite"))
    handlers = relay_handlers(rt, seen)
    built = build_graph(
        handlers,
        roles=lambda actor: frozenset({"lead"}),
        store=store,
        clock=clock,
        tracer=traced.tracer,
    )
    graph = built.compile(checkpointer=InMemorySaver())
    for n in range(2):
        run: Any = {"instance_id": f"g{n}", "start": "start"}
        graph.invoke(run, {"configurable": {"thread_id": f"t{n}"}})
    handler_spans = {attr(s, "statewright.key"): s for s in traced.spans("statewright.handler")}
    assert len(handler_spans) == len(seen.calls) == 2 * 6
    transitions = {s.context.span_id: s for s in traced.spans("statewright.transition")}
    assert len(transitions) == 2 * 3
    for key, attempt in seen.calls:
        span = handler_spans[key]
        assert seen.current[(key, attempt)] == span.context.span_id
        assert span.parent is not None
        parent = transitions[span.parent.span_id]
        _, instance, seq, _ = key.split(":")
        assert (attr(parent, "statewright.instance"), attr(parent, "statewright.seq")) == (
            instance,
            int(seq),
        )
        record = rt.Relay.load(store, instance).audit[int(seq) - 1]
        assert attr(parent, "statewright.trigger") == str(record.trigger)
    assert all(s.end_time is not None for s in traced.spans())
    assert traced.spans("statewright.timeout") == []

    clock.advance(hours=2)
    assert TimeoutRunner(graph, clock=clock).run_once() == ["t0", "t1"]
    timeouts = sorted(
        (str(attr(s, "statewright.instance")), attr(s, "statewright.seq"))
        for s in traced.spans("statewright.timeout")
    )
    taken = [
        (i, r.seq)
        for i in ("g0", "g1")
        for r in rt.Relay.load(store, i).audit
        if str(r.trigger) == "review_timeout"
    ]
    assert timeouts == taken and len(taken) == 2


def test_an_escalation_that_expire_records_is_a_timeout_span_too(traced: Traced) -> None:
    """release_review's gate escalates after a day: ``expire()`` at that time records the
    escalation (the run stays at the gate) and traces it as the worker's sweep would;
    two days later the timed exit, a second span."""
    import importlib

    from consolekit import release_review

    served = release_review()["release_review"].machine
    runtime = importlib.import_module(served.__module__)
    clock = Clock()
    store = runtime.MemoryStore()
    machine = served.create(store, "v1", clock=clock, context={"version": "1"})
    runner = runtime.Runner(runtime.Handlers(), machine, tracer=traced.tracer)
    runner.fire(runtime.Trigger.RELEASE_REQUESTED, actor=runtime.Actor("alice"))
    runner.fire(runtime.Trigger.BUILD_READY)
    assert runner.next_due == clock.now + timedelta(days=1)
    clock.advance(days=1)
    assert runner.expire() is runtime.State.REVIEW
    (escalation,) = traced.spans("statewright.timeout")
    assert attr(escalation, "statewright.event") == "escalation"
    assert attr(escalation, "statewright.seq") == machine.audit[-1].seq
    clock.advance(days=2)
    assert runner.expire() is runtime.State.FAILED
    timeouts = traced.spans("statewright.timeout")
    assert [attr(s, "statewright.event") for s in timeouts] == ["escalation", "transition"]
    assert attr(timeouts[-1], "statewright.trigger") == "review_timeout"
