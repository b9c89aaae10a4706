"""The durable worker: delivers the effects of instances kept in a SQL store, and their timeouts.

A :class:`Worker` serves one machine's handlers over one :class:`~.store.SqlStore`. Each
round (:meth:`Worker.run_once`) it fires the timed exits that are due (as
:meth:`Machine.sweep`), then claims instances with effects due from the
:class:`~.outbox.Outbox` and, for each, loads it, runs the handlers its new records call
for (:func:`~.handlers.deliver`, the same code the in-process runners drive), and commits
the outcome they returned together with the moved delivery cursor, in one transaction.

Delivery guarantee. Every record committed to the store has its handlers run at least
once (``leave`` and ``after`` always; ``enter`` and ``approval`` while the state they were
called for still holds), unless a handler keeps failing, which is retried with backoff,
never dropped. A crash anywhere (before, during or after a handler, before or after the
commit) means the records after the cursor are delivered again, so a handler may run more
than once: make it idempotent with ``job.key``. An outcome is committed at most once and
only while its state still holds (it goes through the instance's version check). Several
workers (processes) on PostgreSQL never hold the same instance at the same time: claims
take row locks with ``FOR UPDATE SKIP LOCKED`` and a lease; a worker that dies lets its
leases run out (``lease``, default 60 s) and the instances are claimed again. A handler
that runs longer than the lease can overlap its redelivery and cannot commit; the worker
renews its lease before a handler call once half of it is spent. On SQLite, run one worker.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from .engine import Machine
from .handlers import Done, Failed, HandlerSet, Settled, apply_outcome, deliver
from .outbox import Claim, LeaseLost, Outbox
from .records import Clock, Refused, utc_now
from .runner import drive, drive_async
from .store import ConcurrencyConflict, SqlStore, StoreError, instant

__all__ = ["Round", "Worker"]

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)

MAX_BACKOFF = timedelta(minutes=5)


@dataclass(slots=True)
class Round:
    """What one round of a worker did."""

    claimed: int = 0
    calls: int = 0
    fired: int = 0
    timeouts: int = 0
    failures: int = 0
    lost: int = 0

    @property
    def idle(self) -> bool:
        """True when there was nothing to do."""
        return not (self.claimed or self.timeouts)


class Worker(Generic[S, T, R]):
    """Delivers ``handlers``' effects for the instances of their machine in ``store``.

    ``lease`` is how long a claim holds without renewal; ``batch`` how many instances a
    round claims. Use one worker (one store, one connection) per thread or process.
    """

    def __init__(
        self,
        store: SqlStore,
        handlers: HandlerSet[S, T, R],
        *,
        clock: Clock | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 16,
    ) -> None:
        self.store = store
        self.handlers = handlers
        self.machine: type[Machine[S, T, R]] = handlers.machine
        self.clock: Clock = utc_now if clock is None else clock
        self.lease = lease
        self.batch = batch
        self.outbox = Outbox(store)

    # -- one round ----------------------------------------------------------------------

    def run_once(self) -> Round:
        """Fire due timeouts, then deliver the effects of up to ``batch`` instances."""
        report = self._start()
        for claim in self._claim(report):
            self._serve(claim, report, drive)
        return report

    async def arun_once(self) -> Round:
        """:meth:`run_once` for asyncio: handlers may be ``async`` and are awaited.

        The store is called on the event loop's thread, between awaits, never across one.
        """
        report = self._start()
        for claim in self._claim(report):
            machine = self._load(claim, report)
            while machine is not None:
                delivery = self._delivery(claim, machine)
                if delivery is None:
                    break
                settled = await drive_async(_renewing(self, claim, delivery))
                machine = self._commit(claim, machine, settled, report)
        return report

    def run(self, *, stop: Callable[[], bool], idle: float = 0.05) -> None:
        """Run rounds until ``stop()`` is true, sleeping ``idle`` seconds after an idle one."""
        while not stop():
            if self.run_once().idle:
                time.sleep(idle)

    # -- the parts of a round -----------------------------------------------------------

    def _start(self) -> Round:
        fired = self.machine.sweep(self.store, clock=self.clock, limit=self.batch).fired
        return Round(timeouts=len(fired))

    def _claim(self, report: Round) -> list[Claim]:
        now = self.clock()
        claims = self.outbox.claim(
            self.machine.spec.machine, instant(now), instant(now + self.lease), self.batch
        )
        report.claimed = len(claims)
        return claims

    def _serve(self, claim: Claim, report: Round, run: Callable[[Any], Settled]) -> None:
        machine = self._load(claim, report)
        while machine is not None:
            delivery = self._delivery(claim, machine)
            if delivery is None:
                return
            machine = self._commit(claim, machine, run(_renewing(self, claim, delivery)), report)

    def _load(self, claim: Claim, report: Round) -> Machine[S, T, R] | None:
        try:
            return self.machine.load(self.store, claim.instance_id, clock=self.clock)
        except StoreError as error:
            self._retry(claim, f"cannot load the instance: {error}", report)
            return None

    def _delivery(self, claim: Claim, machine: Machine[S, T, R]) -> Any:
        if claim.delivered >= len(machine.audit):
            self.outbox.release(claim)
            return None
        return deliver(self.handlers, machine, claim.delivered, claim.attempts)

    def _commit(
        self, claim: Claim, machine: Machine[S, T, R], settled: Settled, report: Round
    ) -> Machine[S, T, R] | None:
        """Commit ``settled`` with the moved cursor; the machine to go on with, or None."""
        report.calls += settled.calls
        if isinstance(settled.failed, LeaseLost):
            report.lost += 1
            return None
        if settled.failed is not None:
            self._retry(claim, repr(settled.failed), report)
            return None
        delivered = len(machine.audit)  # the outcome's own records are delivered next
        try:
            with self.store.batch():
                apply_outcome(machine, settled)
                self.outbox.advance(claim, delivered, release=settled.fire is None)
        except LeaseLost:
            report.lost += 1
            return None
        except ConcurrencyConflict:  # someone moved the instance meanwhile: deliver again
            self.outbox.release(claim)
            return None
        except (Refused, TypeError, ValueError) as error:  # an outcome the machine refused
            self._retry(claim, repr(error), report)
            return None
        if settled.fire is None:
            return None
        report.fired += 1
        return machine  # the outcome's own records are due next: deliver them at once

    def _retry(self, claim: Claim, error: str, report: Round) -> None:
        report.failures += 1
        backoff = min(timedelta(seconds=2**claim.attempts), MAX_BACKOFF)
        try:
            self.outbox.retry(claim, error, instant(self.clock() + backoff))
        except LeaseLost:
            report.lost += 1


def _renewing(worker: Worker[Any, Any, Any], claim: Claim, delivery: Any) -> Any:
    """``delivery``, renewing ``claim``'s lease before a call once half of it is spent; a lost
    lease ends it as a failure (:class:`LeaseLost`) without another call."""
    try:
        call = next(delivery)
        while True:
            now = worker.clock()
            if instant(now + worker.lease / 2) > claim.until:  # half the lease is spent
                try:
                    claim.until = instant(now + worker.lease)
                    worker.outbox.renew(claim, claim.until)
                except LeaseLost as lost:
                    delivery.close()
                    return Settled(failed=lost)
            result: Done | Failed = yield call
            call = delivery.send(result)
    except StopIteration as stop:
        settled: Settled = stop.value
        return settled
