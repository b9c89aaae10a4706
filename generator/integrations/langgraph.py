"""A LangGraph graph from a statewright machine and its handlers (``statewright[langgraph]``).

:func:`build_graph` turns a generated machine's ``Handlers`` into a ``StateGraph`` whose
nodes are the machine's states: a node delivers the records its instance has not had
handled yet (the same :func:`~generator.runtime.handlers.deliver` the runners and the
worker drive: agents run, their outcomes fire) and the graph routes to the state the
machine rests in. A state that waits for a person (an approval, or a failed state with a
human exit) gets a *review* node that stops the graph with a LangGraph ``interrupt``; the
graph is resumed with ``Command(resume={"trigger": ..., "actor": ..., "roles": [...],
"decision": ...})`` and the machine fires that human trigger, so an actor without a
permitted role or a blank decision is refused (the node interrupts again, saying why) and
an accepted one is recorded in the statewright audit log. Timeouts are enforced: every
resume first takes a timed exit that is due (``expire()``), whatever the answer, and
:func:`expire_due` resumes a waiting graph to do only that.

The audit log lives in the graph's own state (as JSON lines, checkpointed by LangGraph),
or, with ``store=``, in a statewright store, durable and hash-chained. Every change goes
through the machine: the graph cannot take a transition the spec does not have.

Needs the ``langgraph`` extra: ``pip install 'statewright[langgraph]'``.
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable
from enum import StrEnum
from typing import Any, TypedDict, TypeVar, cast

try:
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command, interrupt
except ImportError as error:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "generator.integrations.langgraph needs LangGraph: pip install 'statewright[langgraph]'"
    ) from error

import generator.runtime
from generator.runtime import handlers as handlers_module
from generator.runtime import records, runner
from generator.runtime import store as store_module
from generator.runtime.engine import Machine
from generator.runtime.handlers import HandlerSet
from generator.runtime.records import Clock
from generator.runtime.store import Store

__all__ = ["BEGIN", "RunState", "build_graph", "expire_due", "review_node"]

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)

BEGIN = "begin"
"""The node every run starts in: it creates or loads the instance and fires ``start``."""


class RunState(TypedDict, total=False):
    """The graph's state: the instance, its log (without a store) and delivery cursor.

    Invoke a new run with ``{"instance_id": ..., "start": "<trigger>"}`` (``context``
    optional); ``state`` is where the machine rests after each step.
    """

    instance_id: str
    start: str | None
    context: dict[str, Any]
    audit: str
    state: str
    delivered: int


def review_node(state: StrEnum) -> str:
    """The name of the node that waits for a person in ``state``."""
    return f"{state} review"


def build_graph(
    handlers: HandlerSet[S, T, R], *, store: Store | None = None, clock: Clock | None = None
) -> StateGraph[RunState, Any, RunState, RunState]:
    """The ``StateGraph`` of ``handlers``' machine; compile it with a checkpointer
    (interrupts need one): ``build_graph(handlers).compile(checkpointer=InMemorySaver())``.
    """
    cls: type[Machine[S, T, R]] = handlers.machine
    spec = cls.spec
    rt = _support(handlers)
    waits = {
        t.source
        for t in spec.transitions
        if t.human or (t.after is not None and t.source in spec.approval)
    }

    def load(run: RunState) -> Machine[S, T, R]:
        if store is not None:
            return cls.load(store, run["instance_id"], clock=clock)
        return cls.replay(cls.load_audit(run["audit"]), clock=clock)

    def saved(machine: Machine[S, T, R], delivered: int) -> RunState:
        update: RunState = {"state": machine.state.value, "delivered": delivered}
        if store is None:
            update["audit"] = cls.dump_audit(machine.audit)
        return update

    def begin(run: RunState) -> RunState:
        instance_id = run["instance_id"]
        if store is None and run.get("audit"):
            machine = load(run)
        elif store is None:
            machine = cls(clock=clock, context=run.get("context"))
        else:
            try:
                machine = cls.load(store, instance_id, clock=clock)
            except rt.store.UnknownInstance:
                machine = cls.create(store, instance_id, clock=clock, context=run.get("context"))
        start = run.get("start")
        if start and len(machine.audit) == 1:
            machine.fire(spec.triggers(start))
        return saved(machine, run.get("delivered", 0))

    def step(run: RunState) -> RunState:
        machine = load(run)
        delivered = run.get("delivered", 0)
        settled = rt.runner.drive(rt.handlers.deliver(handlers, machine, delivered))
        if settled.failed is not None:
            raise rt.runner.HandlerFailed(settled)
        delivered = len(machine.audit)
        rt.handlers.apply_outcome(machine, settled)
        return saved(machine, delivered)

    def review(run: RunState) -> RunState:
        machine = load(run)
        here = machine.state
        if here.value != run.get("state"):  # already decided (a durable store moved on)
            return saved(machine, run.get("delivered", 0))
        request: dict[str, Any] = {
            "instance_id": run["instance_id"],
            "state": here.value,
            "allowed": [
                {"trigger": a.trigger.value, "human": a.human, "roles": sorted(a.roles)}
                for a in machine.allowed()
            ],
            "deadline": None if machine.deadline is None else machine.deadline.isoformat(),
            "refused": None,
        }
        while True:
            answer = interrupt(request)
            if machine.expire() is not None:  # the deadline passed: the timeout wins
                break
            try:
                _decide(machine, answer, rt.records.Actor)
                break
            except (rt.records.Refused, KeyError, TypeError, ValueError) as error:
                request = {**request, "refused": str(error)}
        return saved(machine, run.get("delivered", 0))

    def route(run: RunState) -> Hashable:
        machine_state: StrEnum = spec.states(run["state"])
        if run.get("delivered", 0) < _records(run, store, load):
            return str(machine_state)
        if machine_state in waits:
            return review_node(machine_state)
        return END

    graph: Any = StateGraph(RunState)  # LangGraph's overloads do not take closures' types
    graph.add_node(BEGIN, begin)
    targets: list[str] = [END]
    for state in spec.states:
        graph.add_node(state.value, step)
        targets.append(state.value)
        if state in waits:
            graph.add_node(review_node(state), review)
            targets.append(review_node(state))
    graph.add_edge(START, BEGIN)
    for node in [BEGIN, *targets[1:]]:
        graph.add_conditional_edges(node, route, targets)
    return cast("StateGraph[RunState, Any, RunState, RunState]", graph)


class _Support:
    """The runtime support a machine runs on: statewright's own ``generator.runtime``, or
    the verbatim copy ``statewright generate`` wrote beside a generated machine (whose
    classes, ``Actor`` first, are its own)."""

    def __init__(self, package: str) -> None:
        modules = importlib.import_module(package), generator.runtime
        self.handlers = _module(modules, "handlers", handlers_module)
        self.runner = _module(modules, "runner", runner)
        self.records = _module(modules, "records", records)
        self.store = _module(modules, "store", store_module)


def _module(modules: tuple[Any, Any], name: str, default: Any) -> Any:
    package = modules[0]
    if package is modules[1]:
        return default
    return importlib.import_module(f"{package.__name__}.{name}")


def _support(handlers: HandlerSet[Any, Any, Any]) -> _Support:
    base = next(k for k in type(handlers).__mro__ if k.__name__ == "HandlerSet")
    return _Support(base.__module__.rsplit(".handlers", 1)[0])


def _records(run: RunState, store: Store | None, load: Any) -> int:
    if store is None:
        return run["audit"].count("\n")
    return len(load(run).audit)


def _decide(machine: Machine[Any, Any, Any], answer: object, actor_type: Any) -> None:
    """Fire the human trigger ``answer`` names, as its actor, with its decision."""
    if not isinstance(answer, dict):
        raise TypeError(
            'resume with {"trigger": ..., "actor": ..., "roles": [...], "decision": ...}'
        )
    if answer.get("expire"):
        raise ValueError("nothing is due yet: the deadline has not passed")
    actor = actor_type(answer["actor"], frozenset(answer.get("roles", ())))
    trigger = machine.spec.triggers(answer["trigger"])
    if not any(a.trigger == trigger and a.human for a in machine.allowed()):
        raise ValueError(f"{trigger} is not a human exit of {machine.state}")
    machine.fire(trigger, actor=actor, decision=answer.get("decision"))


def expire_due(graph: Any, config: Any) -> Any:
    """Resume a run waiting for a person only to take its timed exit if it is due;
    the graph waits again otherwise (its ``refused`` says the deadline has not passed)."""
    return graph.invoke(Command(resume={"expire": True}), config)
