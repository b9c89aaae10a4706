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
from .observe import RunnerWatch, Span, Tracer, log_failed, log_fired
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


def _watched(
    watch: RunnerWatch, call: Call
) -> tuple[Span | None, Done | Failed | Awaitable[object], float]:
    """Make ``call`` traced: its span (current while the handler runs), what it returned
    (an awaitable for an ``async`` handler, awaited in the span) and when it started."""
    span, made = watch.handler_span(call)
    started = time.perf_counter()
    return span, _call(made), started


def drive(delivery: _Delivery, *, watch: RunnerWatch | None = None) -> Settled:
    """Make every call ``delivery`` asks for, plainly; its :class:`Settled` outcome.
    ``watch`` (one with a tracer) traces and logs each call; without it a failure is
    logged.

    An ``async`` handler is refused (:class:`AsyncHandler`, a ``TypeError``): run it with
    :func:`drive_async`.
    """
    try:
        call = next(delivery)
        while True:
            if watch is None:  # the default: nothing but the call
                result = _call(call)
            else:
                span, result, started = _watched(watch, call)
            if not isinstance(result, Done | Failed):
                getattr(result, "close", lambda: None)()  # never awaited: no warning
                delivery.close()
                if watch is not None:
                    watch.called(call, span, None, time.perf_counter() - started)
                raise AsyncHandler(
                    f"the {call.job.hook} handler {call.handler.__qualname__} is async: run "
                    "it with an AsyncRunner or Worker.arun_once"
                )
            if watch is not None:
                watch.called(call, span, result, time.perf_counter() - started)
            elif isinstance(result, Failed):
                log_failed(_log, call, result.error)
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
            if watch is None:
                result = _call(call)
            else:
                span, result, started = _watched(watch, call)
            if not isinstance(result, Done | Failed):
                try:
                    result = Done(await result)
                except Exception as error:
                    result = Failed(error)
            if watch is not None:
                watch.called(call, span, result, time.perf_counter() - started)
            elif isinstance(result, Failed):
                log_failed(_log, call, result.error)
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
        self._traced = None if tracer is None else self._watch()
        """The watch the handlers are driven with when tracing; None untraced (the path
        that logs as it always did, at no cost of its own)."""

    def _watch(self) -> RunnerWatch:
        spec = self.machine.spec
        return RunnerWatch(self.tracer, spec.machine, spec.sha256)

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
            (self._traced or self._watch()).timeouts(fired)

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
            self._abandoned(settled.failed)
            raise HandlerFailed(settled)
        self.delivered = first = len(self.machine.audit)
        try:
            apply_outcome(self.machine, settled)
        except Exception as error:
            self._abandoned(error)
            raise
        if self._traced is not None:
            self._traced.served(self._instance)
        machine = self.machine
        if _log.isEnabledFor(logging.INFO):
            log_fired(_log, machine.spec.machine, machine.instance_id, machine.audit[first:])

    def _abandoned(self, error: BaseException) -> None:
        """Delivering failed with ``error``: the open transition span (if any) fails."""
        if self._traced is not None:
            self._traced.abandoned(self._instance, error)


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
                settled = drive(delivery, watch=self._traced)
            except BaseException as error:
                self._abandoned(error)
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
                settled = await drive_async(delivery, watch=self._traced)
            except BaseException as error:
                self._abandoned(error)
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
