"""The LangGraph integration, with the real ``langgraph`` package and plain-Python agents:
the graph runs the relay's agents, stops at the review as an interrupt, refuses a resume
without an authorised actor and a decision, records the accepted one in the statewright
audit log, enforces the review's timeout, and keeps the log in a durable store too."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from agentkit import RUNNING, relay_runtime
from pgcluster import postgres_server, postgres_url
from storekit import SQL_BACKENDS, Backend, backend_fixture
from test_runtime_kit import Clock

pytest.importorskip("langgraph")

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from statewright.generator.integrations.langgraph import (
    EffectsBusy,
    TimeoutRunner,
    build_graph,
    expire_due,
)

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["postgres_server", "postgres_url"]
backend = backend_fixture(SQL_BACKENDS)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return relay_runtime(tmp_path_factory.mktemp("relay"))[0]


def agents(rt: Any, calls: list[str]) -> Any:
    handlers = rt.Handlers()
    state, trigger = rt.State, rt.Trigger
    for name, outcome in (
        ("DRAFTING", trigger.DRAFTED),
        ("CHECKING", trigger.CHECKED),
        ("PUBLISHING", trigger.PUBLISHED),
    ):

        def agent(job: Any, outcome: Any = outcome) -> Any:
            calls.append(f"{job.state} {job.context.get('topic')}")
            return rt.Fire(outcome, context={"by": str(job.state)})

        handlers.on_enter(getattr(state, name), error=trigger.AGENT_ERROR)(agent)
    handlers.on_approval(state.REVIEW)(lambda job: calls.append(f"ask {sorted(job.reviewers)}"))
    return handlers


LEADS = {"lena": {"lead"}, "lou": {"lead"}}


def granted(actor: str) -> frozenset[str]:
    """The deployment's roles: what the directory grants an authenticated actor id."""
    return frozenset(LEADS.get(actor, ()))


def asks(calls: list[str]) -> list[str]:
    return [call for call in calls if call.startswith("ask")]


def test_a_graph_runs_agents_and_waits_for_an_authorised_reviewer(rt: Any) -> None:
    calls: list[str] = []
    clock = Clock()
    graph = build_graph(agents(rt, calls), roles=granted, clock=clock).compile(
        checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": "run-1"}}
    run: Any = {"instance_id": "run-1", "start": "start", "context": {"topic": "x"}}
    out = graph.invoke(run, config)
    assert calls == ["DRAFTING x", "CHECKING x", "ask ['lead']"]
    (pending,) = out["__interrupt__"]
    assert pending.value["state"] == "REVIEW"
    assert {a["trigger"] for a in pending.value["allowed"]} == {"approve", "reject"}
    assert pending.value["deadline"] == "2026-01-01T01:00:00+00:00"

    out = graph.invoke(Command(resume={"trigger": "approve", "actor": "eve"}), config)
    assert "eve holds none of the roles" in out["__interrupt__"][0].value["refused"]
    resume = {"trigger": "approve", "actor": "lena", "decision": " "}
    out = graph.invoke(Command(resume=resume), config)
    assert "needs a decision record" in out["__interrupt__"][0].value["refused"]
    out = graph.invoke(Command(resume={**resume, "decision": "Reads well."}), config)
    assert out["state"] == "DONE" and "__interrupt__" not in out
    assert calls[-1] == "PUBLISHING x"
    log = rt.Relay.load_audit(out["audit"])
    approval = [r for r in log if r.trigger is rt.Trigger.APPROVE]
    assert [(r.actor, r.decision) for r in approval] == [("lena", "Reads well.")]
    assert rt.Relay.replay(log).context == {"topic": "x", "by": "PUBLISHING"}


def test_the_review_timeout_is_enforced(rt: Any) -> None:
    clock = Clock()
    graph = build_graph(agents(rt, []), roles=granted, clock=clock).compile(
        checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": "run-2"}}
    graph.invoke({"instance_id": "run-2", "start": "start"}, config)
    out = expire_due(graph, config)
    assert "the deadline has not passed" in out["__interrupt__"][0].value["refused"]
    clock.advance(hours=1)
    out = expire_due(graph, config)
    assert out["state"] == "FAILED" and out["__interrupt__"][0].value["state"] == "FAILED"
    log = rt.Relay.load_audit(out["audit"])
    assert log[-1].trigger is rt.Trigger.REVIEW_TIMEOUT and log[-1].reason is rt.Reason.TIMEOUT


def test_with_a_store_the_log_is_durable(rt: Any, tmp_path: Path) -> None:
    store = rt.SqlStore.sqlite(str(tmp_path / "graph.sqlite"))
    graph = build_graph(agents(rt, []), roles=granted, store=store).compile(
        checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": "run-3"}}
    out = graph.invoke({"instance_id": "run-3", "start": "start"}, config)
    assert "audit" not in out and rt.Relay.load(store, "run-3").state is rt.State.REVIEW
    resume = {"trigger": "reject", "actor": "lena", "decision": "Off topic."}
    graph.invoke(Command(resume=resume), config)
    machine = rt.Relay.load(store, "run-3")
    assert machine.state is rt.State.FAILED and machine.audit[-1].decision == "Off topic."
    assert store.verify() == []


def test_roles_come_from_the_deployment_never_from_the_payload(rt: Any) -> None:
    with pytest.raises(TypeError, match="needs roles="):
        build_graph(agents(rt, []))
    lax = build_graph(agents(rt, []), roles=lambda actor: "lead")  # one role, not letters
    app = lax.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "run-lax"}}
    app.invoke({"instance_id": "run-lax", "start": "start"}, config)
    out = app.invoke(
        Command(resume={"trigger": "approve", "actor": "lena", "decision": "ok"}), config
    )
    assert (
        "returns an iterable of role names, not 'lead'" in out["__interrupt__"][0].value["refused"]
    )
    graph = build_graph(agents(rt, []), roles=granted).compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "run-roles"}}
    graph.invoke({"instance_id": "run-roles", "start": "start"}, config)
    claim = {"trigger": "approve", "actor": "mallory", "roles": ["lead"], "decision": "Mine."}
    out = graph.invoke(Command(resume=claim), config)
    assert "may not carry roles" in out["__interrupt__"][0].value["refused"]
    del claim["roles"]
    out = graph.invoke(Command(resume=claim), config)
    assert "mallory holds none of the roles" in out["__interrupt__"][0].value["refused"]
    log = rt.Relay.load_audit(out["audit"])
    assert log[-1].to_state is rt.State.REVIEW and not out.get("decisions")
    resume = {"trigger": "approve", "actor": "lena", "decision": "Reads well."}
    out = graph.invoke(Command(resume=resume), config)
    assert out["state"] == "DONE"
    (approval,) = [r for r in rt.Relay.load_audit(out["audit"]) if r.trigger is rt.Trigger.APPROVE]
    assert (approval.actor, approval.decision) == ("lena", "Reads well.")
    (decision,) = out["decisions"]
    assert decision["outcome"] == "recorded" and decision["seq"] == approval.seq
    assert (decision["actor"], decision["roles"]) == ("lena", ["lead"])


def test_a_worker_and_a_graph_on_one_store_ask_for_approval_once(rt: Any, backend: Backend) -> None:
    calls: list[str] = []  # what the graph's and the worker's handlers did, together
    store = backend.open(rt)  # the graph's connection; the worker has its own
    worker = rt.Worker(backend.open(rt), agents(rt, calls), clock=Clock())
    handlers = agents(rt, calls)
    rounds: list[Any] = []

    def meanwhile(job: Any) -> None:  # a worker's round while the graph delivers
        rounds.append(worker.run_once())

    handlers.on_leave(rt.State.IDLE)(meanwhile)

    graph = build_graph(handlers, roles=granted, store=store, clock=Clock())
    app = graph.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "run-w"}}
    out = app.invoke({"instance_id": "run-w", "start": "start"}, config)
    assert out["__interrupt__"][0].value["state"] == "REVIEW"
    assert [r.claimed for r in rounds] == [0]  # the graph held the instance
    assert worker.run_once().claimed == 0  # and left nothing for the worker
    assert asks(calls) == ["ask ['lead']"]

    # the other way round: a worker delivered first, the graph takes over at the review
    rt.Relay.create(store, "run-v", clock=Clock()).start()
    assert worker.run_once().claimed == 1
    assert rt.Relay.load(store, "run-v").state is rt.State.REVIEW
    out = app.invoke({"instance_id": "run-v"}, {"configurable": {"thread_id": "run-v"}})
    assert out["__interrupt__"][0].value["state"] == "REVIEW"
    assert asks(calls) == ["ask ['lead']"] * 2  # one per instance


def test_a_graph_waits_while_a_worker_holds_the_instance(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    calls: list[str] = []
    app = build_graph(agents(rt, calls), roles=granted, store=store, clock=Clock()).compile(
        checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": "run-h"}}
    rt.Relay.create(store, "run-h", clock=Clock()).start()
    outbox = rt.Outbox(backend.open(rt))  # a worker's, on its own connection
    (claim,) = outbox.claim("relay", "2026-01-01T00:00:00", "2026-01-01T00:01:00", 1)
    with pytest.raises(EffectsBusy, match="run-h"):
        app.invoke({"instance_id": "run-h"}, config)
    assert calls == []
    outbox.release(claim)
    out = app.invoke(None, config)
    assert out["__interrupt__"][0].value["state"] == "REVIEW"
    assert asks(calls) == ["ask ['lead']"]


def test_a_decision_after_the_timeout_is_answered_as_late(rt: Any) -> None:
    clock = Clock()
    graph = build_graph(agents(rt, []), roles=granted, clock=clock)
    app = graph.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "run-late"}}
    app.invoke({"instance_id": "run-late", "start": "start"}, config)
    clock.advance(hours=1)
    late = {"trigger": "approve", "actor": "lena", "decision": "Reads well."}
    out = app.invoke(Command(resume=late), config)
    assert out["state"] == "FAILED" and out["__interrupt__"][0].value["state"] == "FAILED"
    (decision,) = out["decisions"]
    assert decision["outcome"] == "late" and decision["seq"] is None
    assert (decision["actor"], decision["roles"], decision["decision"]) == (
        "lena",
        ["lead"],
        "Reads well.",
    )
    assert "review_timeout" in decision["detail"]
    log = rt.Relay.load_audit(out["audit"])
    assert log[-1].trigger is rt.Trigger.REVIEW_TIMEOUT
    assert not any(r.trigger is rt.Trigger.APPROVE for r in log)

    config = {"configurable": {"thread_id": "run-later"}}  # late and unauthorised: refused
    app.invoke({"instance_id": "run-later", "start": "start"}, config)
    clock.advance(hours=1)
    out = app.invoke(Command(resume={**late, "actor": "mallory"}), config)
    assert "mallory holds none of the roles" in out["__interrupt__"][0].value["refused"]
    assert out["state"] == "FAILED" and not out.get("decisions")


def test_a_decision_after_someone_else_decided_is_answered_as_late(rt: Any, tmp_path: Path) -> None:
    store = rt.SqlStore.sqlite(str(tmp_path / "raced.sqlite"))
    app = build_graph(agents(rt, []), roles=granted, store=store, clock=Clock()).compile(
        checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": "run-r"}}
    app.invoke({"instance_id": "run-r", "start": "start"}, config)
    first = rt.Relay.load(store, "run-r", clock=Clock())  # before REVIEW's deadline
    first.reject(actor=rt.Actor("lou", frozenset({"lead"})), decision="Off topic.")
    resume = {"trigger": "approve", "actor": "lena", "decision": "Reads well."}
    out = app.invoke(Command(resume=resume), config)
    assert out["state"] == "FAILED"
    (decision,) = out["decisions"]
    assert decision["outcome"] == "late" and decision["trigger"] == "approve"
    assert "reject by lou" in decision["detail"]
    machine = rt.Relay.load(store, "run-r")
    assert [r.actor for r in machine.audit if r.from_state is rt.State.REVIEW] == ["lou"]


def async_agents(rt: Any, calls: list[str]) -> Any:
    """The relay's agents as ``async def`` handlers, each awaiting once."""
    handlers = rt.Handlers()
    done = {"DRAFTING": "drafted", "CHECKING": "checked", "PUBLISHING": "published"}
    for name in RUNNING:

        async def agent(job: Any) -> Any:
            await asyncio.sleep(0)
            calls.append(str(job.state))
            return rt.Trigger(done[str(job.state)])

        handlers.on_enter(rt.State[name], error=rt.Trigger.AGENT_ERROR)(agent)

    async def ask(job: Any) -> None:
        calls.append("ask")

    handlers.on_approval(rt.State.REVIEW)(ask)
    return handlers


@pytest.mark.parametrize("durable", [False, True], ids=["in-graph", "sqlite"])
def test_async_handlers_run_under_ainvoke(rt: Any, tmp_path: Path, durable: bool) -> None:
    calls: list[str] = []
    store = rt.SqlStore.sqlite(str(tmp_path / "async.sqlite")) if durable else None
    graph = build_graph(async_agents(rt, calls), roles=granted, store=store, clock=Clock())
    app = graph.compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "run-a"}}

    async def run() -> Any:
        await app.ainvoke({"instance_id": "run-a", "start": "start"}, config)
        resume = {"trigger": "approve", "actor": "lena", "decision": "Reads well."}
        return await app.ainvoke(Command(resume=resume), config)

    out = asyncio.run(run())
    assert calls == ["DRAFTING", "CHECKING", "ask", "PUBLISHING"]
    assert out["state"] == "DONE" and out["decisions"][0]["outcome"] == "recorded"
    with pytest.raises(TypeError, match="is async"):
        app.invoke({"instance_id": "run-s", "start": "start"}, {"configurable": {"thread_id": "s"}})


def test_the_integration_needs_the_extra() -> None:
    code = (
        "import sys; sys.modules['langgraph'] = None\n"
        "try:\n    import statewright.generator.integrations.langgraph\n"
        "except ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "pip install 'statewright[langgraph]'" in done.stdout, done.stdout + done.stderr


def test_a_timeout_runner_fires_due_timeouts_once_at_their_deadlines(rt: Any) -> None:
    """Nobody resumes the threads: the runner finds the one whose review deadline passed,
    takes its timeout once, stamped at the deadline (not when the runner came by), and
    the graph goes on to the failed state's review; the other thread keeps waiting."""
    clock = Clock()
    graph = build_graph(agents(rt, []), roles=granted, clock=clock).compile(
        checkpointer=InMemorySaver()
    )
    graph.invoke({"instance_id": "early", "start": "start"}, {"configurable": {"thread_id": "t1"}})
    clock.advance(minutes=30)
    graph.invoke({"instance_id": "later", "start": "start"}, {"configurable": {"thread_id": "t2"}})
    runner = TimeoutRunner(graph, clock=clock)
    due = runner.deadlines()
    assert sorted(due) == ["t1", "t2"] and due["t2"] - due["t1"] == timedelta(minutes=30)
    assert runner.run_once() == [] and runner.next_deadline() == due["t1"]
    clock.advance(hours=1)  # t1's deadline passed 30 minutes ago; t2's is due now
    clock.advance(seconds=-1)
    assert runner.run_once() == ["t1"]
    state = graph.get_state({"configurable": {"thread_id": "t1"}})
    log = rt.Relay.load_audit(state.values["audit"])
    assert (log[-1].trigger, log[-1].at) == (rt.Trigger.REVIEW_TIMEOUT, due["t1"])
    assert state.values["state"] == "FAILED" and state.interrupts[0].value["state"] == "FAILED"
    assert runner.run_once() == [], "taken once"
    assert runner.next_deadline() == due["t2"]
    waiting = graph.get_state({"configurable": {"thread_id": "t2"}}).values
    assert waiting["state"] == "REVIEW"
    assert sum(r.trigger is rt.Trigger.REVIEW_TIMEOUT for r in log) == 1


def test_a_timeout_runner_sleeps_until_the_next_deadline(rt: Any, tmp_path: Path) -> None:
    """``run`` with a store: it sleeps exactly until the deadline (by the clock it is
    given), takes the timeout in the store, and the chain holds."""
    clock = Clock()
    store = rt.SqlStore.sqlite(str(tmp_path / "timeouts.sqlite"))
    graph = build_graph(agents(rt, []), roles=granted, store=store, clock=clock).compile(
        checkpointer=InMemorySaver()
    )
    graph.invoke({"instance_id": "r", "start": "start"}, {"configurable": {"thread_id": "r"}})
    runner = TimeoutRunner(graph, clock=clock)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds=seconds)

    runner.run(stop=lambda: runner.fired == 1, sleep=sleep, longest_idle=7200)
    assert slept == [3600.0]
    machine = rt.Relay.load(store, "r")
    assert machine.state is rt.State.FAILED and machine.audit[-1].reason is rt.Reason.TIMEOUT
    assert machine.audit[-1].at == machine.audit[-2].at + timedelta(hours=1)
    assert store.verify() == []


def test_a_timeout_runner_needs_a_checkpointer(rt: Any) -> None:
    with pytest.raises(TypeError, match="compiled with a checkpointer"):
        TimeoutRunner(build_graph(agents(rt, []), roles=granted).compile())


def test_a_run_cancelled_while_it_waits_ends_and_has_no_timeout(rt: Any, tmp_path: Path) -> None:
    clock = Clock()
    store = rt.SqlStore.sqlite(str(tmp_path / "cancelled.sqlite"))
    graph = build_graph(agents(rt, []), roles=granted, store=store, clock=clock).compile(
        checkpointer=InMemorySaver()
    )
    config: Any = {"configurable": {"thread_id": "x"}}
    graph.invoke({"instance_id": "x", "start": "start"}, config)
    rt.Relay.load(store, "x", clock=clock).cancel(actor=rt.Actor("olga"), reason="withdrawn")
    clock.advance(hours=2)
    runner = TimeoutRunner(graph, clock=clock)
    assert runner.run_once() == []  # the resume finds it closed: nothing taken
    out = graph.invoke(
        Command(resume={"trigger": "approve", "actor": "lena", "decision": "ok"}), config
    )
    assert "__interrupt__" not in out and runner.deadlines() == {}
    machine = rt.Relay.load(store, "x")
    assert machine.audit[-1].event is rt.Event.CANCELLED and machine.audit[-1].seq == 7
