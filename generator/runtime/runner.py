"""Running handlers in this process, plain or with asyncio: :class:`Runner`, :class:`AsyncRunner`.

Both drive :func:`.handlers.deliver`, the one code that decides which handler runs and
what its outcome fires; they differ only in how a handler is called (``await`` or not).
A runner keeps a delivery cursor in memory, so it suits a machine that lives in memory
or a test; for instances in a durable store use :class:`.worker.Worker`, which keeps the
cursor in the store and survives crashes.

Given a ``tracer=`` (:class:`.observe.Tracer`), a runner opens the worker's spans for
what it does (:class:`.observe.RunnerWatch`): ``statewright.transition`` per record whose
handlers run, ``statewright.handler`` per call (current while the handler runs), and
``statewright.timeout`` per record :meth:`Runner.expire` takes.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Awaitable, Generator
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from .engine import Machine
from .handlers import Call, Done, Failed, HandlerSet, Settled, apply_outcome, deliver, give_up
from .observe import RunnerWatch, Span, Tracer, log_failed
from .records import Actor, utc_now
from .store import instant

__all__ = [
    "AsyncHandler",
    "AsyncRunner",
    "HandlerFailed",
    "Runner",
    "call_handler",
    "drive",
    "drive_async",
]

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)

_Delivery = Generator[Call, Done | Failed, Settled]

_log = logging.getLogger("statewright.runner")


class HandlerFailed(Exception):
    """A handler raised and its state names no ``error`` trigger; ``job`` says which."""

    def __init__(self, settled: Settled) -> None:
        job = settled.job
        where = "a handler" if job is None else f"the {job.hook} handler of {job.state}"
        super().__init__(f"{where} raised {settled.failed!r}; its records are delivered again")
        self.settled = settled


class AsyncHandler(TypeError):
    """An ``async`` handler met by :func:`drive`: the caller's mistake (run it with
    :func:`drive_async`), never a failure of the instance."""


def call_handler(call: Call) -> Done | Failed | Awaitable[object]:
    """Call the handler: what it returned or raised, or the awaitable an async one gave."""
    try:
        value = call.handler(call.job)
    except Exception as error:
        return Failed(error)
    return value if inspect.isawaitable(value) else Done(value)


_call = call_handler


def _traced(watch: RunnerWatch | None, call: Call) -> tuple[Span | None, Call]:
    """The span of ``call`` (None untraced) and the call to make, its span current."""
    if watch is None or watch.tracer is None:
        return None, call
    return watch.handler_span(call)


def _called(
    watch: RunnerWatch | None,
    call: Call,
    span: Span | None,
    result: Done | Failed | None,
    started: float,
) -> None:
    """``call`` came to ``result`` (None: abandoned): its span ends, a failure is logged."""
    if watch is not None:
        watch.called(call, span, result, time.perf_counter() - started)
    elif isinstance(result, Failed):
        log_failed(_log, call, result.error)


def drive(delivery: _Delivery, *, watch: RunnerWatch | None = None) -> Settled:
    """Make every call ``delivery`` asks for, plainly; its :class:`Settled` outcome.
    ``watch`` traces and logs each call (default: a failure is logged).

    An ``async`` handler is refused (:class:`AsyncHandler`, a ``TypeError``): run it with
    :func:`drive_async`.
    """
    try:
        call = next(delivery)
        while True:
            span, made = _traced(watch, call)
            started = time.perf_counter()
            result = _call(made)
            if not isinstance(result, Done | Failed):
                getattr(result, "close", lambda: None)()  # never awaited: no warning
                delivery.close()
                _called(watch, call, span, None, started)
                raise AsyncHandler(
                    f"the {call.job.hook} handler {call.handler.__qualname__} is async: run "
                    "it with an AsyncRunner or Worker.arun_once"
                )
            _called(watch, call, span, result, started)
            call = delivery.send(result)
    except StopIteration as stop:
        settled: Settled = stop.value
        return settled


async def drive_async(delivery: _Delivery, *, watch: RunnerWatch | None = None) -> Settled:
    """Make every call ``delivery`` asks for, awaiting what a handler returns; ``watch``
    as for :func:`drive` (an ``async`` handler's span is current in its coroutine)."""
    try:
        call = next(delivery)
        while True:
            span, made = _traced(watch, call)
            started = time.perf_counter()
            result = _call(made)
            if not isinstance(result, Done | Failed):
                try:
                    result = Done(await result)
                except Exception as error:
                    result = Failed(error)
            _called(watch, call, span, result, started)
            call = delivery.send(result)
    except StopIteration as stop:
        settled: Settled = stop.value
        return settled


class _Runner(Generic[S, T, R]):
    def __init__(
        self,
        handlers: HandlerSet[S, T, R],
        machine: Machine[S, T, R],
        *,
        tracer: Tracer | None = None,
    ) -> None:
        if not isinstance(machine, handlers.machine):
            raise TypeError(
                f"these handlers belong to {handlers.machine.__name__}, "
                f"not {type(machine).__name__}"
            )
        self.handlers = handlers
        self.machine = machine
        self.delivered = 0
        """How many of the machine's records have had their handlers run."""
        self.tracer = tracer
        spec = machine.spec
        self._watch = RunnerWatch(tracer, spec.machine, spec.sha256)

    @property
    def next_deadline(self) -> datetime | None:
        """When the machine's timed exit falls due (its ``deadline``), or None: a caller
        that waits on the runner wakes then and calls the runner's ``expire()``."""
        return self.machine.deadline

    @property
    def next_due(self) -> datetime | None:
        """When the machine next changes by itself (``Machine.next_due``: its deadline, or
        its approval gate's escalation if sooner), or None: a caller that waits on the
        runner wakes then and calls the runner's ``expire()``."""
        return self.machine.next_due

    @property
    def _instance(self) -> str:
        return self.machine.instance_id or "-"

    def _expired(self) -> None:
        """:meth:`Machine.expire`, what it recorded traced and logged as timeouts."""
        machine = self.machine
        first = len(machine.audit)
        machine.expire()
        fired = [(self._instance, record) for record in machine.audit[first:]]
        if fired:
            self._watch.timeouts(fired)

    def _next(self) -> _Delivery | None:
        if self.delivered >= len(self.machine.audit):
            return None
        return deliver(self.handlers, self.machine, self.delivered)

    def _settle(self, settled: Settled) -> None:
        if settled.failed is not None and settled.on_error is not None:
            # a retry policy is the durable worker's: here the first error is the last
            attempt = {"at": instant(utc_now()), "error": repr(settled.failed)}
            settled = give_up(settled, "an in-process runner does not retry", [attempt]) or settled
        if settled.failed is not None:
            self._watch.abandoned(self._instance, settled.failed)
            raise HandlerFailed(settled)
        self.delivered = first = len(self.machine.audit)
        try:
            apply_outcome(self.machine, settled)
        except Exception as error:
            self._watch.abandoned(self._instance, error)
            raise
        self._watch.served(self._instance)
        self._watch.fired(self._instance, self.machine, first)


class Runner(_Runner[S, T, R]):
    """Runs ``handlers`` on ``machine`` in this process, each call in turn.

    :meth:`fire` fires a trigger, then :meth:`run`\\s the handlers its records call for
    and fires their outcomes, until the machine rests (an approval, a failed state, a
    handler that returned None). A handler that raises without an ``error`` trigger
    raises :class:`HandlerFailed` out of the call; its records are delivered again by
    the next :meth:`run`.
    """

    def run(self) -> S:
        """Run every handler due; the state the machine rests in."""
        while (delivery := self._next()) is not None:
            try:
                settled = drive(delivery, watch=self._watch)
            except BaseException as error:
                self._watch.abandoned(self._instance, error)
                raise
            self._settle(settled)
        return self.machine.state

    def expire(self) -> S:
        """Take what fell due (:meth:`Machine.expire`: an escalation, a timed exit),
        then :meth:`run`; what it recorded is traced (``statewright.timeout``) and
        logged (``timeout``) as a worker's sweep is. Call it at :attr:`next_due`."""
        self.run()
        self._expired()
        return self.run()

    def fire(
        self,
        trigger: T,
        *,
        actor: Actor | None = None,
        decision: str | None = None,
        payload: object = None,
    ) -> S:
        """Fire ``trigger`` (as :meth:`Machine.fire`), then :meth:`run`."""
        self.run()
        self.machine.fire(trigger, actor=actor, decision=decision, payload=payload)
        return self.run()


class AsyncRunner(_Runner[S, T, R]):
    """:class:`Runner` for asyncio: handlers may be ``async def`` and are awaited."""

    async def run(self) -> S:
        """Run every handler due, awaiting each; the state the machine rests in."""
        while (delivery := self._next()) is not None:
            try:
                settled = await drive_async(delivery, watch=self._watch)
            except BaseException as error:
                self._watch.abandoned(self._instance, error)
                raise
            self._settle(settled)
        return self.machine.state

    async def expire(self) -> S:
        """:meth:`Runner.expire`, awaiting the handlers."""
        await self.run()
        self._expired()
        return await self.run()

    async def fire(
        self,
        trigger: T,
        *,
        actor: Actor | None = None,
        decision: str | None = None,
        payload: object = None,
    ) -> S:
        """Fire ``trigger`` (as :meth:`Machine.fire`), then :meth:`run`."""
        await self.run()
        self.machine.fire(trigger, actor=actor, decision=decision, payload=payload)
        return await self.run()
