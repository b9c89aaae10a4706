"""Running handlers in this process, plain or with asyncio: :class:`Runner`, :class:`AsyncRunner`.

Both drive :func:`.handlers.deliver`, the one code that decides which handler runs and
what its outcome fires; they differ only in how a handler is called (``await`` or not).
A runner keeps a delivery cursor in memory, so it suits a machine that lives in memory
or a test; for instances in a durable store use :class:`.worker.Worker`, which keeps the
cursor in the store and survives crashes.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Generator
from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from .engine import Machine
from .handlers import Call, Done, Failed, HandlerSet, Settled, apply_outcome, deliver, give_up
from .observe import log_failed, log_fired
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


def drive(delivery: _Delivery) -> Settled:
    """Make every call ``delivery`` asks for, plainly; its :class:`Settled` outcome.

    An ``async`` handler is refused (:class:`AsyncHandler`, a ``TypeError``): run it with
    :func:`drive_async`.
    """
    try:
        call = next(delivery)
        while True:
            result = _call(call)
            if not isinstance(result, Done | Failed):
                getattr(result, "close", lambda: None)()  # never awaited: no warning
                delivery.close()
                raise AsyncHandler(
                    f"the {call.job.hook} handler {call.handler.__qualname__} is async: run "
                    "it with an AsyncRunner or Worker.arun_once"
                )
            if isinstance(result, Failed):
                log_failed(_log, call, result.error)
            call = delivery.send(result)
    except StopIteration as stop:
        settled: Settled = stop.value
        return settled


async def drive_async(delivery: _Delivery) -> Settled:
    """Make every call ``delivery`` asks for, awaiting what a handler returns."""
    try:
        call = next(delivery)
        while True:
            result = _call(call)
            if not isinstance(result, Done | Failed):
                try:
                    result = Done(await result)
                except Exception as error:
                    result = Failed(error)
            if isinstance(result, Failed):
                log_failed(_log, call, result.error)
            call = delivery.send(result)
    except StopIteration as stop:
        settled: Settled = stop.value
        return settled


class _Runner(Generic[S, T, R]):
    def __init__(self, handlers: HandlerSet[S, T, R], machine: Machine[S, T, R]) -> None:
        if not isinstance(machine, handlers.machine):
            raise TypeError(
                f"these handlers belong to {handlers.machine.__name__}, "
                f"not {type(machine).__name__}"
            )
        self.handlers = handlers
        self.machine = machine
        self.delivered = 0
        """How many of the machine's records have had their handlers run."""

    @property
    def next_deadline(self) -> datetime | None:
        """When the machine's timed exit falls due (its ``deadline``), or None: a caller
        that waits on the runner wakes then and calls ``machine.expire()``, then
        :meth:`run`."""
        return self.machine.deadline

    @property
    def next_due(self) -> datetime | None:
        """When the machine next changes by itself (``Machine.next_due``: its deadline, or
        its approval gate's escalation if sooner), or None: a caller that waits on the
        runner wakes then and calls ``machine.expire()``, then :meth:`run`."""
        return self.machine.next_due

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
            raise HandlerFailed(settled)
        self.delivered = first = len(self.machine.audit)
        apply_outcome(self.machine, settled)
        machine = self.machine
        if _log.isEnabledFor(logging.INFO):
            log_fired(_log, machine.spec.machine, machine.instance_id, machine.audit[first:])


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
            self._settle(drive(delivery))
        return self.machine.state

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
            self._settle(await drive_async(delivery))
        return self.machine.state

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
