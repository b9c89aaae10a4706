"""Code attached to a machine's states and transitions, and the one way it is run.

A :class:`HandlerSet` holds a machine's handlers; each generated module subclasses it as
``Handlers``, typed by the machine's own ``State``, ``Trigger`` and ``Reason``, so that
``mypy`` checks every state a handler is attached to and every trigger it returns:

- ``on_enter(state, error=...)``: runs when ``state`` is entered and still holds (an agent
  doing the state's work); it returns the next trigger (:class:`Fire`, a bare trigger, or
  None to wait for someone else), and an exception fires ``error`` if one is named;
- ``on_approval(state)``: runs when an approval state is entered and still holds (send
  the review request); it gets the reviewer roles and the deadline;
- ``on_leave(state)``: runs for every record that leaves ``state``;
- ``after_transition``: runs for every record that changes the state.

:func:`deliver` is the one place that decides which handlers run for which records and
what their outcomes do: a generator that yields each :class:`Call` and is sent back what
the call returned (:class:`Done`) or raised (:class:`Failed`), so that the in-process
runners (sync and asyncio, :mod:`.runner`) and the durable worker (:mod:`.worker`) drive
the same code and differ only in how they call and where the state lives.

Rules, per record after the delivery cursor, in log order: ``leave`` (of the state left)
and ``after`` for every transition and rollback; ``enter`` or ``approval`` (of the state
entered, the initial one for the created record) only while the instance still rests in
that state, that is when no later record changed the state. So while an approval state
holds, no handler of a running state runs; and an outcome is fired only if its state
still holds when it is applied, so a late or repeated handler never moves the instance.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar

from .engine import Machine
from .records import (
    Actor,
    AuditRecord,
    Event,
    InvalidTransition,
    JSONValue,
    json_copy,
    storable,
)
from .retry import Retry

__all__ = [
    "Call",
    "Done",
    "Failed",
    "Fire",
    "HandlerSet",
    "Hook",
    "Job",
    "Settled",
    "apply_outcome",
    "deliver",
    "give_up",
]

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)


class Hook(StrEnum):
    """When a handler runs."""

    ENTER = "enter"
    """A state was entered and still holds: do its work, return the next trigger."""

    APPROVAL = "approval"
    """An approval state was entered and still holds: ask its reviewers."""

    LEAVE = "leave"
    """A state was left."""

    AFTER = "after"
    """The state changed (a transition or a rollback)."""


@dataclass(frozen=True, slots=True)
class Fire(Generic[T]):
    """A handler's outcome: fire ``trigger`` next, with ``payload`` (kept in the failure
    snapshot if a failed state is entered) after merging ``context`` into the context.

    Both are checked when the handler returns, as ``fire`` and ``update_context`` check
    them: an outcome whose payload or context the machine cannot store (not JSON data,
    nested deeper than ``MAX_JSON_DEPTH``, larger than ``MAX_JSON_BYTES``) counts as the
    handler failing with that ``TypeError``."""

    trigger: T
    payload: object = None
    context: Mapping[str, object] | None = None


Outcome: TypeAlias = "Fire[T] | T | None"
"""What an ``on_enter`` handler returns: the next trigger, or None to leave the instance
where it is (something else fires next: a webhook, a person)."""


@dataclass(frozen=True, slots=True)
class Job(Generic[S, T, R]):
    """What a handler is called with: why it runs and the instance's data.

    ``key`` is the idempotency key, ``machine:instance:seq:hook``: the same for every
    delivery of this effect (the durable worker delivers at least once), different for
    every other. ``attempt`` counts deliveries that failed before this one. An approval
    job carries its ``reviewers`` and ``deadline``.
    """

    hook: Hook
    state: S
    record: AuditRecord[S, T, R]
    key: str
    machine: str
    instance_id: str | None
    context: dict[str, JSONValue]
    attempt: int = 0
    reviewers: frozenset[str] = frozenset()
    deadline: datetime | None = None


EnterHandler: TypeAlias = Callable[
    [Job[S, T, R]], "Fire[T] | T | Awaitable[Fire[T] | T | None] | None"
]
"""An ``on_enter`` handler: plain or ``async``; returns the next trigger or None."""

Notifier: TypeAlias = Callable[[Job[S, T, R]], "Awaitable[None] | None"]
"""An ``on_approval``, ``on_leave`` or ``after_transition`` handler: plain or ``async``."""


@dataclass(frozen=True, slots=True)
class _Entry:
    handler: Callable[[Any], Any]
    error: Any = None
    actor: str | None = None
    retry: Retry | None = None
    limit: str | None = None
    cache: bool = False


class HandlerSet(Generic[S, T, R]):
    """The handlers of one machine; generated modules subclass it as ``Handlers``.

    Decorate functions with ``on_enter(State.X, error=Trigger.Y)``, ``on_approval(State.X)``,
    ``on_leave(State.X)`` and ``after_transition``; run them with ``Runner``,
    ``AsyncRunner`` or a durable ``Worker``. The generated subclass is typed with the
    machine's own enums, so mypy checks every state and trigger.

    Registration checks the spec at once (``ValueError`` naming what is wrong): a state
    has at most one handler per hook, ``on_approval`` takes approval states and
    ``on_enter`` every other, an ``error`` trigger must be a non-human exit of its state.
    """

    machine: ClassVar[type[Machine[Any, Any, Any]]]
    """The generated machine class these handlers belong to."""

    def __init__(self) -> None:
        self._enter: dict[S, _Entry] = {}
        self._approval: dict[S, _Entry] = {}
        self._leave: dict[S, _Entry] = {}
        self._after: _Entry | None = None

    def on_enter(
        self,
        state: S,
        *,
        error: T | None = None,
        actor: str | None = None,
        retry: Retry | None = None,
        limit: str | None = None,
        cache: bool = False,
    ) -> Callable[[EnterHandler[S, T, R]], EnterHandler[S, T, R]]:
        """Run the decorated function when ``state`` is entered; fire what it returns.

        If it raises, ``error`` (a non-human exit of ``state``) fires with the exception
        as its payload; without ``error`` the delivery fails and is retried. With
        ``retry`` (a :class:`~.retry.Retry`), the durable worker retries the call as the
        policy says first, and ``error`` fires once it gives up, with the reason and
        every attempt's error. ``limit`` names the worker's concurrency limit its calls
        count against (a provider's: ``Worker(limits={"openai": 8})``). ``actor`` is the
        id its outcomes are recorded with (default ``handler:<function name>``).
        With ``cache=True`` the durable worker keeps what the call returned under
        ``job.key`` as soon as it returns, and a redelivery of the same job (after a
        crash before the outcome committed) returns it without calling again
        (:mod:`.effects`).
        """
        node = self._node(state, "on_enter")
        policy = _policy(retry)
        if node.approval:
            raise ValueError(f"{state} is an approval state: attach to it with on_approval")
        if error is not None:
            edge = node.exits.get(error)
            if edge is None or edge.human or edge.after is not None:
                raise ValueError(f"error={error!s} is not a plain exit of {state}")

        def register(handler: EnterHandler[S, T, R]) -> EnterHandler[S, T, R]:
            entry = _Entry(handler, error, actor, policy, limit, bool(cache))
            self._add(self._enter, state, entry, "on_enter")
            return handler

        return register

    def on_approval(
        self, state: S, *, retry: Retry | None = None
    ) -> Callable[[Notifier[S, T, R]], Notifier[S, T, R]]:
        """Run the decorated function when approval state ``state`` is entered: ask its
        reviewers (the job carries their roles and the deadline). ``retry``: its
        :class:`~.retry.Retry` policy in the durable worker."""
        if not self._node(state, "on_approval").approval:
            raise ValueError(f"{state} is not an approval state: attach to it with on_enter")
        policy = _policy(retry)

        def register(handler: Notifier[S, T, R]) -> Notifier[S, T, R]:
            self._add(self._approval, state, _Entry(handler, retry=policy), "on_approval")
            return handler

        return register

    def on_leave(
        self, state: S, *, retry: Retry | None = None
    ) -> Callable[[Notifier[S, T, R]], Notifier[S, T, R]]:
        """Run the decorated function whenever ``state`` is left. ``retry``: its
        :class:`~.retry.Retry` policy in the durable worker."""
        self._node(state, "on_leave")
        policy = _policy(retry)

        def register(handler: Notifier[S, T, R]) -> Notifier[S, T, R]:
            self._add(self._leave, state, _Entry(handler, retry=policy), "on_leave")
            return handler

        return register

    def after_transition(self, handler: Notifier[S, T, R]) -> Notifier[S, T, R]:
        """Run the decorated function after every change of state (one per set)."""
        if self._after is not None:
            raise ValueError("after_transition already has a handler")
        self._after = _Entry(handler)
        return handler

    def cached(self) -> bool:
        """Whether any handler keeps its results under ``job.key`` (``cache=True``)."""
        return any(e.cache for e in self._enter.values())

    def limits(self) -> set[str]:
        """The names of the concurrency limits the handlers count against."""
        entries = [*self._enter.values(), *self._approval.values(), *self._leave.values()]
        return {e.limit for e in entries if e.limit is not None}

    def _node(self, state: S, where: str) -> Any:
        spec = self.machine.spec
        if not isinstance(state, spec.states):
            raise TypeError(f"{where}() takes a State of {spec.machine}, not {state!r}")
        return self.machine._compiled.nodes[state]

    @staticmethod
    def _add(table: dict[S, _Entry], state: S, entry: _Entry, where: str) -> None:
        if state in table:
            raise ValueError(f"{state} already has an {where} handler")
        table[state] = entry


def _policy(retry: Retry | None) -> Retry | None:
    if retry is not None and not isinstance(retry, Retry):
        raise TypeError(f"retry= takes a Retry policy, not {retry!r}")
    return retry


@dataclass(frozen=True, slots=True)
class Call:
    """One handler call :func:`deliver` asks its driver to make; ``timeout`` (seconds, or
    None) is its retry policy's bound on the call, ``limit`` the concurrency limit it
    counts against."""

    job: Job[Any, Any, Any]
    handler: Callable[[Any], Any]
    timeout: float | None = None
    limit: str | None = None
    cache: bool = False
    """Whether the worker keeps what it returned under ``job.key`` (:mod:`.effects`)."""


@dataclass(frozen=True, slots=True)
class Done:
    """What a call returned (for an ``async`` handler: what it awaited to)."""

    value: object


@dataclass(frozen=True, slots=True)
class Failed:
    """What a call raised."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class Settled:
    """What delivering a run of records came to.

    ``fire`` is the outcome to apply (None: nothing to fire), ``actor`` the id it is
    recorded with; ``failed`` the exception that stopped the delivery, ``job`` the job it
    came from. A failure says where it stopped: ``at`` is the record (its index) whose
    call failed and how many of that record's calls had run before it (the delivery
    resumes there, so only the failed handler runs again), ``retry`` the failed
    handler's policy and ``on_error`` its ``error`` trigger (when a policy defers it).
    """

    fire: Fire[Any] | None = None
    actor: str | None = None
    failed: BaseException | None = None
    job: Job[Any, Any, Any] | None = None
    calls: int = field(default=0, compare=False)
    at: tuple[int, int] | None = None
    retry: Retry | None = None
    on_error: Any = None


def deliver(
    handlers: HandlerSet[S, T, R],
    machine: Machine[S, T, R],
    start: int,
    attempt: int = 0,
    skip: int = 0,
) -> Generator[Call, Done | Failed, Settled]:
    """Run the handlers the records after ``start`` (a count of records) call for, less
    the first ``skip`` calls of the first of them (they ran before).

    Yields each :class:`Call`; send back :class:`Done` or :class:`Failed`. Returns the
    :class:`Settled` outcome: at most one trigger to fire, from the ``on_enter`` handler
    of the state the instance rests in.
    """
    log = machine.audit
    last_move = _last_move(log)
    settled = Settled()
    calls = 0
    for index in range(start, len(log)):
        jobs = _jobs(handlers, machine, log[index], index == last_move, attempt)
        first = skip if index == start else 0
        for done, (job, entry) in enumerate(jobs[first:], start=first):
            calls += 1
            timeout = None if entry.retry is None else entry.retry.timeout_seconds
            result = yield Call(job, entry.handler, timeout, entry.limit, entry.cache)
            if job.hook is not Hook.ENTER:
                if isinstance(result, Failed):
                    return Settled(
                        failed=result.error,
                        job=job,
                        calls=calls,
                        at=(index, done),
                        retry=entry.retry,
                    )
                continue
            settled = _settle(machine, job, entry, result, calls)
            if settled.failed is not None:
                return dataclasses.replace(settled, at=(index, done))
    return Settled(settled.fire, settled.actor, None, settled.job, calls)


def calls_any(handlers: HandlerSet[S, T, R], machine: Machine[S, T, R], start: int) -> bool:
    """True when the records after ``start`` (a count of records) call for a handler:
    when :func:`deliver` from there would make a call (a worker commits the delivery of
    records that call for none with the outcome that wrote them)."""
    log = machine.audit
    last_move = _last_move(log)
    return any(_entries(handlers, log[i], i == last_move) for i in range(start, len(log)))


def _last_move(log: Sequence[AuditRecord[Any, Any, Any]]) -> int:
    """The index of the last record in ``log`` that moved the instance (not a context
    change): the one whose state the instance rests in, -1 if none."""
    for index in range(len(log) - 1, -1, -1):
        if log[index].event is not Event.CONTEXT:
            return index
    return -1


def _entries(
    handlers: HandlerSet[S, T, R], record: AuditRecord[S, T, R], live: bool
) -> list[tuple[Hook, S, _Entry]]:
    """The handlers ``record`` calls for, in the order they run: each with its hook and
    the state it runs for. ``live``: the instance rests in the state ``record`` entered
    (so its ``on_enter`` or ``on_approval`` handler runs)."""
    if record.event is Event.CONTEXT:
        return []
    found: list[tuple[Hook, S, _Entry]] = []
    if record.event is not Event.CREATED:
        leave = handlers._leave.get(record.from_state)
        if leave is not None:
            found.append((Hook.LEAVE, record.from_state, leave))
        if handlers._after is not None:
            found.append((Hook.AFTER, record.to_state, handlers._after))
    if live:
        state = record.to_state
        enter = handlers._enter.get(state)
        if enter is not None:
            found.append((Hook.ENTER, state, enter))
        elif (approval := handlers._approval.get(state)) is not None:
            found.append((Hook.APPROVAL, state, approval))
    return found


def _jobs(
    handlers: HandlerSet[S, T, R],
    machine: Machine[S, T, R],
    record: AuditRecord[S, T, R],
    live: bool,
    attempt: int,
) -> list[tuple[Job[S, T, R], _Entry]]:
    """:func:`_entries`, each with the :class:`Job` its handler is called with."""
    entries = _entries(handlers, record, live)
    if not entries:
        return []
    spec = machine.spec
    instance = machine.instance_id
    prefix = f"{spec.machine}:{instance or '-'}:{record.seq}:"
    found: list[tuple[Job[S, T, R], _Entry]] = []
    for hook, state, entry in entries:
        key, context = f"{prefix}{hook}", json_copy(machine._context())
        if hook is Hook.APPROVAL:
            roles = frozenset(spec.reviewers.get(state, ()))
            job = Job(
                hook,
                state,
                record,
                key,
                spec.machine,
                instance,
                context,
                attempt,
                roles,
                machine.deadline,
            )
        else:
            job = Job(hook, state, record, key, spec.machine, instance, context, attempt)
        found.append((job, entry))
    return found


def _settle(
    machine: Machine[S, T, R],
    job: Job[S, T, R],
    entry: _Entry,
    result: Done | Failed,
    calls: int,
) -> Settled:
    actor = entry.actor or f"handler:{getattr(entry.handler, '__name__', 'handler')}"
    if isinstance(result, Done):
        try:
            fire = _outcome(machine, result.value)
        except (InvalidTransition, TypeError) as error:
            result = Failed(error)
        else:
            return Settled(fire, actor, None, job, calls)
    if entry.error is None or entry.retry is not None:
        return Settled(
            actor=actor,
            failed=result.error,
            job=job,
            calls=calls,
            retry=entry.retry,
            on_error=entry.error,
        )
    payload = {"error": result.error, "key": job.key}
    return Settled(Fire(entry.error, payload), actor, None, job, calls)


def give_up(settled: Settled, reason: str, attempts: list[dict[str, str]]) -> Settled | None:
    """The declared failure a handler's retry policy ends in: ``settled``'s ``error``
    trigger fired with a payload holding the last error, the job's key, ``reason`` and
    ``attempts`` (every attempt's time and error, oldest first); None if the handler
    names no ``error`` trigger."""
    if settled.on_error is None or settled.job is None or settled.failed is None:
        return None
    payload = {
        "error": settled.failed,
        "key": settled.job.key,
        "reason": reason,
        "attempts": attempts,
    }
    fire = Fire(settled.on_error, payload)
    return Settled(fire, settled.actor, None, settled.job, settled.calls)


def _outcome(machine: Machine[Any, Any, Any], value: object) -> Fire[Any] | None:
    """The :class:`Fire` an ``on_enter`` handler's return value means; refused unless it
    is a non-human exit the state enables, with a payload and context the machine can
    store."""
    if value is None:
        return None
    spec = machine.spec
    fire: Fire[Any] = value if isinstance(value, Fire) else Fire(value)
    if not isinstance(fire.trigger, spec.triggers):
        raise TypeError(
            f"an on_enter handler returns a Trigger of {spec.machine}, Fire(...) or None, "
            f"not {value!r}"
        )
    chosen = machine._listed(fire.trigger)
    if chosen is None or chosen.human:
        what = "a human exit" if chosen is not None else "not an exit it enables"
        enabled = {a.trigger: a for a in machine.allowed()}
        raise InvalidTransition(
            f"a handler of {machine.state} returned {fire.trigger!s}, which is {what}; "
            f"allowed: {', '.join(str(a.trigger) for a in enabled.values()) or 'none'}"
        )
    what = f"a handler of {machine.state} returned {fire.trigger!s} with"
    if fire.context is not None:
        machine._checked_context(fire.context, f"{what} the context")
    if fire.payload is not None:
        storable(fire.payload, f"{what} the payload")
    return fire


def apply_outcome(machine: Machine[S, T, R], settled: Settled) -> None:
    """Fire ``settled``'s outcome on ``machine``: merge its context, then fire it."""
    fire = settled.fire
    if fire is None:
        return
    actor = None if settled.actor is None else _actor(settled.actor)
    if fire.context:
        machine.update_context(fire.context, actor=actor)
    machine.fire(fire.trigger, actor=actor, payload=fire.payload)


@functools.lru_cache(maxsize=256)
def _actor(actor_id: str) -> Actor:
    """The :class:`Actor` a handler's outcome is recorded with: one per id (an actor is
    immutable, and checking its id on every outcome was a sixth of applying one)."""
    return Actor(actor_id)
