"""A LangGraph graph from a statewright machine and its handlers (``statewright[langgraph]``).

:func:`build_graph` turns a generated machine's ``Handlers`` into a ``StateGraph`` whose
nodes are the machine's states: a node delivers the records its instance has not had
handled yet (the same :func:`~statewright.generator.runtime.handlers.deliver` the runners and the
worker drive: agents run, their outcomes fire) and the graph routes to the state the
machine rests in. Handlers may be plain or ``async``: run the graph with ``invoke`` or
``ainvoke`` (an ``async`` handler needs ``ainvoke``).

A state that waits for a person (an approval, or a failed state with a human exit) gets a
*review* node that stops the graph with a LangGraph ``interrupt``; the graph is resumed
with ``Command(resume={"trigger": ..., "actor": ..., "decision": ...})``. Identity comes
from the deployment, never from the request: ``actor`` is the id the application
authenticated, and the roles it holds are what the application's ``roles`` resolver
grants it; a payload that carries ``roles`` (or any other key) is refused. The machine
fires the human trigger as that actor, so an actor without a permitted role or a blank
decision is refused (the node interrupts again, saying why, and nothing is recorded) and
an accepted decision is recorded in the statewright audit log. Every answer taken as a
decision is also kept in the graph state's ``decisions`` (:class:`Decision`, with the
roles the resolver granted): ``recorded`` with its audit record's number, or ``late``
when the state it was for no longer holds (its timeout was due, which every resume takes
first, or someone else decided): the machine refuses a trigger the current state does not
have, so a late decision changes nothing in the audit log and is answered, not dropped.
:func:`expire_due` resumes a waiting graph only to take a timed exit that is due, stamped at
its deadline; :class:`TimeoutRunner` does so for every thread of a checkpointer whose
deadline is due, without a caller resuming it. ``build_graph(..., tracer=)`` traces what
the graph's nodes do as the in-process runners do (``statewright.transition``,
``statewright.handler`` current while the handler runs, ``statewright.timeout`` for a
timed exit a resume takes, the TimeoutRunner's included).

The audit log lives in the graph's own state (as JSON lines, checkpointed by LangGraph),
or, with ``store=``, in a statewright store, durable and hash-chained. With a
:class:`~statewright.generator.runtime.store.SqlStore` the graph delivers effects through the
store's outbox, like a :class:`~statewright.generator.runtime.worker.Worker`: it holds the
instance's lease while its handlers run and moves the same delivery cursor in the transaction that
commits their outcome, so a worker on the same store never delivers a record the graph delivered,
nor the other way round; while a worker holds the instance the graph raises
:class:`EffectsBusy`. Every change goes through the machine: the graph cannot take a
transition the spec does not have.

Needs the ``langgraph`` extra: ``pip install 'statewright[langgraph]'``.
"""

from __future__ import annotations

import contextlib
import importlib
import operator
from collections.abc import Callable, Hashable, Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal, TypedDict, TypeVar, cast

try:
    from langchain_core.runnables import RunnableLambda
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import Command, interrupt
except ImportError as error:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "statewright.generator.integrations.langgraph needs LangGraph: "
        "pip install 'statewright[langgraph]'"
    ) from error

import statewright.generator.runtime
from statewright.generator.runtime import handlers as handlers_module
from statewright.generator.runtime import observe as observe_module
from statewright.generator.runtime import outbox as outbox_module
from statewright.generator.runtime import records, runner
from statewright.generator.runtime import store as store_module
from statewright.generator.runtime.engine import Machine
from statewright.generator.runtime.handlers import HandlerSet
from statewright.generator.runtime.observe import Tracer
from statewright.generator.runtime.records import Clock
from statewright.generator.runtime.store import Store

__all__ = [
    "BEGIN",
    "Decision",
    "EffectsBusy",
    "Roles",
    "RunState",
    "TimeoutRunner",
    "build_graph",
    "expire_due",
    "review_node",
]

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)

BEGIN = "begin"
"""The node every run starts in: it creates or loads the instance and fires ``start``."""

Roles = Callable[[str], Iterable[str]]
"""The deployment's roles resolver: the roles it grants an authenticated actor id (none for
an id it does not know)."""

_ANSWER_KEYS = frozenset({"trigger", "actor", "decision"})


class Decision(TypedDict):
    """A person's answer the graph took as a decision, kept in the graph state.

    ``outcome`` is ``recorded`` (``seq`` is its record in the audit log) or ``late``: the
    state it was for (``state``) no longer held, and ``detail`` says what took it away.
    ``roles`` are the roles the deployment's resolver granted ``actor``.
    """

    state: str
    trigger: str
    actor: str
    roles: list[str]
    decision: str | None
    outcome: Literal["recorded", "late"]
    seq: int | None
    detail: str


class RunState(TypedDict, total=False):
    """The graph's state: the instance, its log (without a store) and delivery cursor.

    Invoke a new run with ``{"instance_id": ..., "start": "<trigger>"}`` (``context``
    optional); ``state`` is where the machine rests after each step, ``refused`` why the
    last answer was refused, ``decisions`` every answer taken as a decision.
    """

    instance_id: str
    start: str | None
    context: dict[str, Any]
    audit: str
    state: str
    delivered: int
    refused: str | None
    decisions: Annotated[list[Decision], operator.add]


class EffectsBusy(RuntimeError):
    """Another holder (a durable worker) is delivering the instance's effects: nothing ran.

    Resume the graph where it stopped with ``graph.invoke(None, config)`` once it is done.
    """


def review_node(state: StrEnum) -> str:
    """The name of the node that waits for a person in ``state``."""
    return f"{state} review"


def build_graph(
    handlers: HandlerSet[S, T, R],
    *,
    roles: Roles | None = None,
    store: Store | None = None,
    clock: Clock | None = None,
    lease: timedelta = timedelta(seconds=60),
    tracer: Tracer | None = None,
) -> StateGraph[RunState, Any, RunState, RunState]:
    """The ``StateGraph`` of ``handlers``' machine; compile it with a checkpointer
    (interrupts need one): ``build_graph(handlers, roles=...).compile(checkpointer=...)``.

    ``roles`` maps the actor id of a resume (authenticated by the application) to the
    roles the deployment grants it; required when the machine has human steps. With a
    ``SqlStore``, ``lease`` is how long the graph holds an instance while its handlers run.
    ``tracer`` (:class:`~statewright.generator.runtime.observe.Tracer`, e.g.
    :class:`~statewright.generator.integrations.otel.OtelTracer`) traces the nodes'
    deliveries, handler calls and timed exits, as a runner given one does.
    """
    cls: type[Machine[S, T, R]] = handlers.machine
    spec = cls.spec
    rt = _support(handlers)
    human = sorted({str(t.trigger) for t in spec.transitions if t.human})
    if human and roles is None:
        raise TypeError(
            f"build_graph needs roles=: {spec.machine} has human steps ({', '.join(human)}), "
            "so the deployment must say which roles an authenticated actor id holds "
            "(roles=lambda actor_id: ...); a resume payload never does"
        )
    if roles is not None and not callable(roles):
        raise TypeError(f"roles= takes a function of an actor id, not {roles!r}")
    waits = {
        t.source
        for t in spec.transitions
        if t.human or (t.after is not None and t.source in spec.approval)
    }
    durable: Any = store  # a SqlStore when ``outbox`` is set
    outbox: Any = rt.outbox.Outbox(store) if isinstance(store, rt.store.SqlStore) else None
    now: Clock = rt.records.utc_now if clock is None else clock

    def watching() -> Any:
        """What traces one node's work (None untraced): one each, as nodes run at once."""
        return None if tracer is None else rt.observe.RunnerWatch(tracer, spec.machine, spec.sha256)

    def traced_key(run: RunState) -> str:
        return run["instance_id"] if store is not None else "-"

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

    def hold(run: RunState) -> Any:
        """The instance's outbox claim (None without an outbox); EffectsBusy if held."""
        if outbox is None:
            return None
        at = now()
        instant = rt.store.instant
        claim = outbox.hold(spec.machine, run["instance_id"], instant(at), instant(at + lease))
        if claim is None:
            raise EffectsBusy(
                f"{spec.machine} instance {run['instance_id']!r}: a worker is delivering its "
                "effects; nothing ran here: resume with graph.invoke(None, config) later"
            )
        return claim

    def release(claim: Any) -> None:
        if claim is not None:
            with contextlib.suppress(rt.outbox.LeaseLost):
                outbox.release(claim)

    def delivery(run: RunState, claim: Any) -> tuple[Machine[S, T, R], int, Any]:
        """The machine, its cursor, and the delivery of its records after it (or None)."""
        machine = load(run)
        start = run.get("delivered", 0) if claim is None else claim.delivered
        if start >= len(machine.audit):
            return machine, start, None
        attempt = 0 if claim is None else claim.attempts
        return machine, start, rt.handlers.deliver(handlers, machine, start, attempt)

    def settle(
        run: RunState, machine: Machine[S, T, R], claim: Any, settled: Any, watch: Any
    ) -> RunState:
        """Fire what the handlers returned; with an outbox, move its cursor in the same
        transaction (a conflict leaves it: the records are delivered again)."""
        if settled.failed is not None:
            if watch is not None:
                watch.abandoned(traced_key(run), settled.failed)
            raise rt.runner.HandlerFailed(settled)
        delivered = len(machine.audit)
        if claim is None:
            rt.handlers.apply_outcome(machine, settled)
            return saved(machine, delivered)
        try:
            with durable.batch():
                rt.handlers.apply_outcome(machine, settled)
                outbox.advance(claim, delivered, release=False)
        except rt.store.ConcurrencyConflict:  # someone moved the instance meanwhile
            return saved(load(run), claim.delivered)
        return saved(machine, delivered)

    def step(run: RunState) -> RunState:
        claim, watch = hold(run), watching()
        try:
            machine, start, pending = delivery(run, claim)
            if pending is None:
                return saved(machine, start)
            return settle(run, machine, claim, rt.runner.drive(pending, watch=watch), watch)
        finally:
            release(claim)
            if watch is not None:
                watch.served(traced_key(run))

    async def astep(run: RunState) -> RunState:
        claim, watch = hold(run), watching()
        try:
            machine, start, pending = delivery(run, claim)
            if pending is None:
                return saved(machine, start)
            settled = await rt.runner.drive_async(pending, watch=watch)
            return settle(run, machine, claim, settled, watch)
        finally:
            release(claim)
            if watch is not None:
                watch.served(traced_key(run))

    def review_of(waiting: S) -> Callable[[RunState], RunState]:
        def review(run: RunState) -> RunState:
            machine = load(run)
            request: dict[str, Any] = {
                "instance_id": run["instance_id"],
                "state": waiting.value,
                "allowed": [
                    {"trigger": a.trigger.value, "human": a.human, "roles": sorted(a.roles)}
                    for a in machine.allowed()
                ],
                "deadline": None if machine.deadline is None else machine.deadline.isoformat(),
                "refused": run.get("refused"),
            }
            return answered(run, waiting, interrupt(request))

        return review

    def expired(run: RunState, machine: Machine[S, T, R]) -> Machine[S, T, R] | None:
        """:func:`_expired`, what it took traced as timeouts."""
        first = len(machine.audit)
        taken: Machine[S, T, R] | None = _expired(machine, rt)
        if taken is not None and tracer is not None:
            watching().timeouts([(traced_key(run), r) for r in taken.audit[first:]])
        return taken

    def answered(run: RunState, waiting: S, answer: object) -> RunState:
        """What ``answer`` to the review of ``waiting`` comes to: a refusal (the node asks
        again), a decision recorded, a late one, or the timed exit taken."""
        machine = load(run)
        try:
            ask = _read_answer(answer, spec, waiting)
            if ask is None:  # expire_due: take the timed exit if it is due, nothing else
                if expired(run, machine) is None:
                    raise ValueError("nothing is due yet: the deadline has not passed")
                return {**saved(machine, run.get("delivered", 0)), "refused": None}
            trigger, actor_id, decision = ask
            granted = _granted(roles, actor_id)
            actor = rt.records.Actor(actor_id, granted)
            made: Decision = {
                "state": waiting.value,
                "trigger": trigger.value,
                "actor": actor_id,
                "roles": sorted(granted),
                "decision": decision,
                "outcome": "late",
                "seq": None,
                "detail": "",
            }
            machine = expired(run, machine) or machine
            if machine.state is waiting:
                try:
                    machine.fire(trigger, actor=actor, decision=decision)
                    made.update({"outcome": "recorded", "seq": _record_of(machine, trigger).seq})
                except rt.store.ConcurrencyConflict:  # someone decided meanwhile
                    machine = load(run)
            if made["outcome"] == "late":
                _authorised(spec, waiting, actor)
                made["detail"] = _too_late(machine, waiting, trigger)
        except (rt.records.Refused, TypeError, ValueError) as error:
            return {**saved(machine, run.get("delivered", 0)), "refused": str(error)}
        return {**saved(machine, run.get("delivered", 0)), "refused": None, "decisions": [made]}

    def route(run: RunState) -> Hashable:
        machine_state: StrEnum = spec.states(run["state"])
        if run.get("delivered", 0) < _records(run, store, load):
            return str(machine_state)
        if machine_state in waits and load(run).cancelled is None:  # a cancelled run ends
            return review_node(machine_state)
        return END

    graph: Any = StateGraph(RunState)  # LangGraph's overloads do not take closures' types
    graph.add_node(BEGIN, _both(begin))
    targets: list[str] = [END]
    for state in spec.states:
        graph.add_node(state.value, RunnableLambda(step, afunc=astep, name=state.value))
        targets.append(state.value)
        if state in waits:
            graph.add_node(review_node(state), _both(review_of(state)))
            targets.append(review_node(state))
    graph.add_edge(START, BEGIN)
    for node in [BEGIN, *targets[1:]]:
        graph.add_conditional_edges(node, _both(route), targets)
    return cast("StateGraph[RunState, Any, RunState, RunState]", graph)


def _both(function: Callable[[RunState], Any]) -> RunnableLambda[RunState, Any]:
    """``function`` as a node for ``invoke`` and ``ainvoke`` alike: under ``ainvoke`` it runs
    on the event loop's thread (not in an executor), as a store's connection needs."""

    async def on_the_loop(run: RunState) -> Any:
        return function(run)

    return RunnableLambda(function, afunc=on_the_loop, name=function.__name__)


class _Support:
    """The runtime support a machine runs on: statewright's own
    ``statewright.generator.runtime``, or the verbatim copy ``statewright generate`` wrote
    beside a generated machine (whose classes, ``Actor`` first, are its own)."""

    def __init__(self, package: str) -> None:
        modules = importlib.import_module(package), statewright.generator.runtime
        self.handlers = _module(modules, "handlers", handlers_module)
        self.runner = _module(modules, "runner", runner)
        self.records = _module(modules, "records", records)
        self.store = _module(modules, "store", store_module)
        self.outbox = _module(modules, "outbox", outbox_module)
        self.observe = _module(modules, "observe", observe_module)


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


def _read_answer(answer: object, spec: Any, waiting: StrEnum) -> tuple[Any, str, Any] | None:
    """The (trigger, actor id, decision) a resume payload asks for; None for an expiry."""
    shape = 'resume with {"trigger": ..., "actor": ..., "decision": ...}'
    if not isinstance(answer, dict):
        raise TypeError(shape)
    if answer.get("expire") is True and len(answer) == 1:
        return None
    if "roles" in answer:
        raise ValueError(
            "the resume payload may not carry roles: the deployment's roles resolver "
            "(build_graph(roles=...)) says which roles an actor holds; " + shape
        )
    unknown = sorted(str(key) for key in set(answer) - _ANSWER_KEYS)
    if unknown or "trigger" not in answer or "actor" not in answer:
        what = f"unknown key(s) {', '.join(unknown)}" if unknown else "trigger and actor needed"
        raise ValueError(f"{what}: {shape}")
    actor, name = answer["actor"], answer["trigger"]
    if not isinstance(actor, str) or not actor.strip():
        raise TypeError(f"actor is the authenticated actor's id, a non-empty string, not {actor!r}")
    human = {t.trigger.value for t in spec.transitions if t.human and t.source == waiting}
    if name not in human:
        raise ValueError(
            f"{name!r} is not a human exit of {waiting}: one of {', '.join(sorted(human))}"
        )
    return spec.triggers(name), actor, answer.get("decision")


def _granted(roles: Roles | None, actor_id: str) -> frozenset[str]:
    """The roles the deployment grants ``actor_id``."""
    if roles is None:
        return frozenset()
    found = roles(actor_id)
    if isinstance(found, str | bytes) or not isinstance(found, Iterable):
        raise TypeError(f"the roles resolver returns an iterable of role names, not {found!r}")
    return frozenset(found)


def _authorised(spec: Any, waiting: StrEnum, actor: Any) -> None:
    """Refuse an answer to ``waiting`` from an actor holding none of its reviewer roles
    (the machine says so itself while the state holds; this is for a late answer)."""
    reviewers = frozenset(spec.reviewers.get(waiting, ()))
    if actor.roles.isdisjoint(reviewers):
        raise ValueError(
            f"{actor.id} holds none of the roles a decision in {waiting} needs: "
            f"{', '.join(sorted(reviewers))}"
        )


def _expired(machine: Any, rt: _Support) -> Any:
    """``machine`` after taking its timed exit, if one was due, stamped at its deadline
    (and the next state's, while that passed too); else None."""
    before = len(machine.audit)
    try:
        machine._overdue(None)  # every deadline passed before now, stamped at it
        if machine.expire() is not None or len(machine.audit) > before:
            return machine
    except rt.store.ConcurrencyConflict:  # it moved in the store meanwhile
        return None
    return None


def _record_of(machine: Machine[Any, Any, Any], trigger: StrEnum) -> Any:
    """The last record ``trigger`` made."""
    return next(r for r in reversed(machine.audit) if r.trigger == trigger)


def _too_late(machine: Machine[Any, Any, Any], waiting: StrEnum, trigger: StrEnum) -> str:
    left = next(r for r in reversed(machine.audit) if r.from_state == waiting)
    by = f" by {left.actor}" if left.actor else ""
    return (
        f"too late: {trigger} was for {waiting}, which record {left.seq} ({left.trigger}{by}) "
        f"left for {left.to_state}; the machine refused it and recorded nothing"
    )


def expire_due(graph: Any, config: Any) -> Any:
    """Resume a run waiting for a person only to take its timed exit if it is due;
    the graph waits again otherwise (its ``refused`` says the deadline has not passed)."""
    return graph.invoke(Command(resume={"expire": True}), config)


class TimeoutRunner:
    """Fires the timeouts of a compiled graph's waiting runs without a caller resuming
    them: what a LangGraph deployment runs beside its API (a process, a thread, a cron).

    It finds the threads of ``graph``'s checkpointer (``checkpointer.list``) whose run
    waits for a person (a review node's ``interrupt``) with a deadline, and resumes each
    whose deadline is due with :func:`expire_due`: the machine takes the timed exit once,
    stamped at its deadline, the graph goes on from the state it leads to (its agents
    run, a failed state's review waits), and the answer is recorded like any other.
    ``clock`` is the one the graph's machine reads (default: the UTC wall clock).

    Once across runners: with a statewright ``store=``, the store's version check lets
    one resume take the exit and the others find it taken (they change nothing); without
    one (the log in the graph state), run one ``TimeoutRunner`` per checkpointer. Only
    the timed exits of states the graph waits in (approvals, failed states with a human
    exit) are taken; a run the graph finished (resting where no one waits) is left to a
    ``Worker`` or a sweep of its store.
    """

    def __init__(self, graph: Any, *, clock: Clock | None = None) -> None:
        if getattr(graph, "checkpointer", None) is None:
            raise TypeError(
                "TimeoutRunner needs a graph compiled with a checkpointer: "
                "build_graph(...).compile(checkpointer=...)"
            )
        self.graph = graph
        self.clock: Clock = records.utc_now if clock is None else clock
        self.fired = 0
        """Timeouts taken so far (resumes that moved a run on)."""

    def threads(self) -> list[str]:
        """The thread ids the checkpointer holds, each once, sorted."""
        found = {
            str(saved.config["configurable"]["thread_id"])
            for saved in self.graph.checkpointer.list(None)
        }
        return sorted(found)

    def deadlines(self) -> dict[str, datetime]:
        """The deadline of every thread that waits for a person with one, by thread id."""
        found: dict[str, datetime] = {}
        for thread in self.threads():
            snapshot = self.graph.get_state(_thread(thread))
            for pending in getattr(snapshot, "interrupts", ()):
                value = getattr(pending, "value", None)
                deadline = value.get("deadline") if isinstance(value, dict) else None
                if isinstance(deadline, str):
                    found[thread] = datetime.fromisoformat(deadline)
        return found

    def next_deadline(self) -> datetime | None:
        """When the next timeout falls due (None: no run waits with a deadline)."""
        return min(self.deadlines().values(), default=None)

    def run_once(self) -> list[str]:
        """Resume every thread whose deadline is due to take its timeout; the thread
        ids whose run moved on."""
        now = self.clock()
        moved = []
        for thread, deadline in sorted(self.deadlines().items(), key=lambda item: item[1]):
            if deadline > now:
                continue
            before = self.graph.get_state(_thread(thread)).values.get("state")
            out = expire_due(self.graph, _thread(thread))
            if out.get("state") != before:
                moved.append(thread)
        self.fired += len(moved)
        return moved

    def run(
        self,
        *,
        stop: Callable[[], bool],
        longest_idle: float = 60.0,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        """Run rounds until ``stop()`` is true, sleeping until the next deadline (at most
        ``longest_idle`` seconds, to see runs that started waiting meanwhile)."""
        import time

        wait = time.sleep if sleep is None else sleep
        while not stop():
            self.run_once()
            if stop():
                return
            deadline = self.next_deadline()
            left = longest_idle
            if deadline is not None:
                left = min(left, max((deadline - self.clock()).total_seconds(), 0.0))
            wait(left)


def _thread(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}
