"""The durable worker: delivers the effects of instances kept in a SQL store, and their timeouts.

A :class:`Worker` serves one machine's handlers over one :class:`~.store.SqlStore`. Each
round (:meth:`Worker.run_once`) it fires the timed exits that are due (as
:meth:`Machine.sweep`), then claims instances with effects due from the
:class:`~.outbox.Outbox` and, for each, loads it, runs the handlers its new records call
for (:func:`~.handlers.deliver`, the same code the in-process runners drive), and commits
the outcome they returned together with the moved delivery cursor, in one transaction.

Delivery guarantee. Every record committed to the store has its handlers run at least once
(``leave`` and ``after`` always; ``enter`` and ``approval`` while the state they were
called for still holds), unless a handler keeps failing: it is retried with backoff, then
quarantined (below), never dropped. A crash anywhere (before, during or after a handler,
before or after the commit) means the records after the cursor are delivered again, so a
handler may run more than once: make it idempotent with ``job.key``. An outcome is
committed at most once and only while its state still holds (it goes through the
instance's version check). Several workers (processes) on PostgreSQL never hold the same
instance at the same time: claims take row locks with ``FOR UPDATE SKIP LOCKED`` and a
lease; a worker that dies lets its leases run out (``lease``, default 60 s) and the
instances are claimed again. A handler that runs longer than the lease can overlap its
redelivery and cannot commit; the worker renews its lease before a handler call once half
of it is spent. On SQLite, run one worker.

Containment. Nothing one instance does stops a round: a handler that raises or fails, an
instance that cannot be loaded (its records no longer replay under the deployed spec, or
cannot be read), an outcome the machine refuses, a bookkeeping write that fails. The
instance is retried with capped exponential backoff (1 s after its first failure, doubling
up to ``max_backoff``, each wait times a jitter between 1/2 and 1), and after
``max_attempts`` failures *quarantined*: kept out of claims and timeout sweeps, listed by
``statewright runs list`` with its last error, until an operator lifts the quarantine
(``statewright runs release``). A failure in :data:`QUARANTINE_AT_ONCE` is quarantined at
its first occurrence. A lease lost anywhere in a round counts as ``lost`` and the round
goes on; the other instances are served in the same round. Only the caller's own mistake
raises: an ``async`` handler met by :meth:`Worker.run_once` (``TypeError``), and a store
that cannot be reached at all.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from .engine import Machine
from .handlers import Done, Failed, HandlerSet, Settled, apply_outcome, deliver
from .outbox import Claim, LeaseLost, Outbox
from .records import Clock, utc_now
from .runner import AsyncHandler, drive, drive_async
from .store import ChainBroken, ConcurrencyConflict, SqlStore, instant
from .versions import SpecMismatch

__all__ = ["MAX_ATTEMPTS", "MAX_BACKOFF", "QUARANTINE_AT_ONCE", "Round", "Worker", "backoff"]

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)

MAX_BACKOFF = timedelta(minutes=5)
"""The longest wait between two attempts on a failing instance, by default."""

MAX_ATTEMPTS = 20
"""Failed attempts after which an instance is quarantined, by default: about an hour."""

QUARANTINE_AT_ONCE: tuple[type[Exception], ...] = (ChainBroken,)
"""Failures no retry can mend (a tampered instance): quarantined at the first one."""

_REASON_LENGTH = 2000
"""How much of a failure's text the outbox keeps."""


@dataclass(slots=True)
class Round:
    """What one round of a worker did: instances claimed, handler calls, outcomes fired,
    timeouts fired, failures counted, leases lost, instances quarantined, and instances
    left alone because they run under a spec version the worker does not hold
    (``foreign``)."""

    claimed: int = 0
    calls: int = 0
    fired: int = 0
    timeouts: int = 0
    failures: int = 0
    lost: int = 0
    quarantined: int = 0
    foreign: int = 0

    @property
    def idle(self) -> bool:
        """True when there was nothing to do."""
        return not (self.claimed or self.timeouts)


def backoff(attempts: int, longest: timedelta = MAX_BACKOFF, jitter: float = 1.0) -> timedelta:
    """How long an instance waits after its ``attempts + 1``-th failure: ``2**attempts``
    seconds, at most ``longest``, times ``(1 + jitter) / 2`` (``jitter`` in [0, 1]).

    Capped before a ``timedelta`` is built, so any number of attempts is safe.
    """
    seconds = min(2.0 ** min(max(attempts, 0), 64), longest.total_seconds())
    return timedelta(seconds=seconds * (1 + min(max(jitter, 0.0), 1.0)) / 2)


class Worker(Generic[S, T, R]):
    """Delivers ``handlers``' effects for the instances of their machine in ``store``.

    ``lease`` is how long a claim holds without renewal; ``batch`` how many instances a
    round claims (and how many instances' timeouts it fires). A failing instance waits
    :func:`backoff` (at most ``max_backoff``; ``jitter`` returns a number in [0, 1],
    ``random.random`` unless given) and is quarantined after ``max_attempts`` failures.
    Use one worker (one store, one connection) per thread or process.
    """

    def __init__(
        self,
        store: SqlStore,
        handlers: HandlerSet[S, T, R],
        *,
        clock: Clock | None = None,
        lease: timedelta = timedelta(seconds=60),
        batch: int = 16,
        max_attempts: int = MAX_ATTEMPTS,
        max_backoff: timedelta = MAX_BACKOFF,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts is at least 1, not {max_attempts}")
        self.store = store
        self.handlers = handlers
        self.machine: type[Machine[S, T, R]] = handlers.machine
        self.clock: Clock = utc_now if clock is None else clock
        self.lease = lease
        self.batch = batch
        self.max_attempts = max_attempts
        self.max_backoff = max_backoff
        self.jitter: Callable[[], float] = random.random if jitter is None else jitter
        self.outbox = Outbox(store)
        self.foreign: set[str] = set()
        """The instances found to run under a spec version this worker does not hold
        (:class:`~.versions.SpecMismatch`): never failed or quarantined for it, left to a
        worker that holds it (a claim on one is held until its lease runs out, so it is
        claimed at most once a lease; sweeps pass it by)."""

    # -- one round ----------------------------------------------------------------------

    def run_once(self) -> Round:
        """Fire due timeouts, then deliver the effects of up to ``batch`` instances."""
        report = self._start()
        for claim in self._claim(report):
            with self._contained(claim, report):
                machine: Machine[S, T, R] | None = self._load(claim)
                while machine is not None and (delivery := self._delivery(claim, machine)):
                    settled = drive(_renewing(self, claim, delivery))
                    machine = self._commit(claim, machine, settled, report)
        return report

    async def arun_once(self) -> Round:
        """:meth:`run_once` for asyncio: handlers may be ``async`` and are awaited.

        The store is called on the event loop's thread, between awaits, never across one.
        """
        report = self._start()
        for claim in self._claim(report):
            with self._contained(claim, report):
                machine: Machine[S, T, R] | None = self._load(claim)
                while machine is not None and (delivery := self._delivery(claim, machine)):
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
        swept = self.machine.sweep(self.store, clock=self.clock, limit=self.batch, due=self._due)
        report = Round(timeouts=len(swept.fired))
        for instance_id, error in swept.errors.items():
            if isinstance(error, SpecMismatch):
                self.foreign.add(instance_id)
                report.foreign += 1
                continue
            self._fail(instance_id, error, report, None)
        return report

    def _due(self, machine: str, now: str, limit: int | None) -> list[str]:
        """The instances due for a sweep, but the foreign ones."""
        found = self.outbox.due(machine, now, None if limit is None else limit + len(self.foreign))
        return [i for i in found if i not in self.foreign][:limit]

    def _claim(self, report: Round) -> list[Claim]:
        now = self.clock()
        claims = self.outbox.claim(
            self.machine.spec.machine, instant(now), instant(now + self.lease), self.batch
        )
        report.claimed = len(claims)
        return claims

    @contextlib.contextmanager
    def _contained(self, claim: Claim, report: Round) -> Iterator[None]:
        """Serve one instance: whatever it raises is counted against it, never raised."""
        try:
            yield
        except AsyncHandler:  # the caller's mistake, not the instance's: say so at once
            raise
        except LeaseLost:
            report.lost += 1
        except SpecMismatch:  # not this worker's to run: hold the claim till its lease ends
            self.foreign.add(claim.instance_id)
            report.foreign += 1
        except Exception as error:
            self._fail(claim.instance_id, error, report, claim)

    def _load(self, claim: Claim) -> Machine[S, T, R]:
        return self.machine.load(self.store, claim.instance_id, clock=self.clock)

    def _delivery(self, claim: Claim, machine: Machine[S, T, R]) -> Any:
        if claim.delivered >= len(machine.audit):
            self.outbox.release(claim)
            return None
        return deliver(self.handlers, machine, claim.delivered, claim.attempts)

    def _commit(
        self, claim: Claim, machine: Machine[S, T, R], settled: Settled, report: Round
    ) -> Machine[S, T, R] | None:
        """Commit ``settled`` with the moved cursor; the machine to go on with, or None.

        A lost lease, a refused outcome or a failed write raises, for :meth:`_contained`.
        """
        report.calls += settled.calls
        if isinstance(settled.failed, LeaseLost):
            raise settled.failed
        if settled.failed is not None:
            self._fail(claim.instance_id, settled.failed, report, claim)
            return None
        delivered = len(machine.audit)  # the outcome's own records are delivered next
        try:
            with self.store.batch():
                apply_outcome(machine, settled)
                self.outbox.advance(claim, delivered, release=settled.fire is None)
        except ConcurrencyConflict:  # someone moved the instance meanwhile: deliver again
            self.outbox.release(claim)
            return None
        if settled.fire is None:
            return None
        report.fired += 1
        return machine  # the outcome's own records are due next: deliver them at once

    def _fail(
        self, instance_id: str, error: BaseException, report: Round, claim: Claim | None
    ) -> None:
        """Count ``error`` against the instance: retried after :func:`backoff`, or
        quarantined (at ``max_attempts``, or at once for :data:`QUARANTINE_AT_ONCE`)."""
        now = self.clock()
        try:
            quarantined = self.outbox.fail(
                self.machine.spec.machine,
                instance_id,
                _reason(error),
                instant(now),
                retry_at=lambda attempts: self._retry_at(now, attempts),
                max_attempts=self.max_attempts,
                at_once=isinstance(error, QUARANTINE_AT_ONCE),
                claim=claim,
            )
        except LeaseLost:
            report.lost += 1
            return
        except Exception:  # not even the failure could be written: its lease runs out first
            report.failures += 1
            return
        if quarantined is not None:
            report.failures += 1
            report.quarantined += quarantined

    def _retry_at(self, now: datetime, attempts: int) -> str:
        return instant(now + backoff(attempts, self.max_backoff, self.jitter()))


def _reason(error: BaseException) -> str:
    """What the outbox keeps of a failure: its ``repr`` (which escapes the NULs PostgreSQL's
    text refuses), shortened."""
    text = repr(error)
    return text if len(text) <= _REASON_LENGTH else text[: _REASON_LENGTH - 3] + "..."


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
