"""The LangGraph integration, with the real ``langgraph`` package and plain-Python agents:
the graph runs the relay's agents, stops at the review as an interrupt, refuses a resume
without an authorised actor and a decision, records the accepted one in the statewright
audit log, enforces the review's timeout, and keeps the log in a durable store too."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from agentkit import relay_runtime
from test_runtime_kit import Clock

pytest.importorskip("langgraph")

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from generator.integrations.langgraph import build_graph, expire_due

ROOT = Path(__file__).resolve().parents[1]


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


def test_a_graph_runs_agents_and_waits_for_an_authorised_reviewer(rt: Any) -> None:
    calls: list[str] = []
    clock = Clock()
    graph = build_graph(agents(rt, calls), clock=clock).compile(checkpointer=InMemorySaver())
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
    resume = {"trigger": "approve", "actor": "lena", "roles": ["lead"], "decision": " "}
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
    graph = build_graph(agents(rt, []), clock=clock).compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "run-2"}}
    graph.invoke({"instance_id": "run-2", "start": "start"}, config)
    out = expire_due(graph, config)
    assert "the deadline has not passed" in out["__interrupt__"][0].value["refused"]
    clock.advance(hours=1)
    late = {"trigger": "approve", "actor": "lena", "roles": ["lead"], "decision": "ok"}
    out = graph.invoke(Command(resume=late), config)  # too late: the timeout wins
    assert out["state"] == "FAILED"
    log = rt.Relay.load_audit(out["audit"])
    assert log[-1].trigger is rt.Trigger.REVIEW_TIMEOUT and log[-1].reason is rt.Reason.TIMEOUT


def test_with_a_store_the_log_is_durable(rt: Any, tmp_path: Path) -> None:
    store = rt.SqlStore.sqlite(str(tmp_path / "graph.sqlite"))
    graph = build_graph(agents(rt, []), store=store).compile(checkpointer=InMemorySaver())
    config: Any = {"configurable": {"thread_id": "run-3"}}
    out = graph.invoke({"instance_id": "run-3", "start": "start"}, config)
    assert "audit" not in out and rt.Relay.load(store, "run-3").state is rt.State.REVIEW
    resume = {"trigger": "reject", "actor": "lena", "roles": ["lead"], "decision": "Off topic."}
    graph.invoke(Command(resume=resume), config)
    machine = rt.Relay.load(store, "run-3")
    assert machine.state is rt.State.FAILED and machine.audit[-1].decision == "Off topic."
    assert store.verify() == []


def test_the_integration_needs_the_extra() -> None:
    code = (
        "import sys; sys.modules['langgraph'] = None\n"
        "try:\n    import generator.integrations.langgraph\n"
        "except ImportError as e:\n    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert "pip install 'statewright[langgraph]'" in done.stdout, done.stdout + done.stderr
