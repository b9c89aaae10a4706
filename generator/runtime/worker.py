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
instances are claimed again. While a handler runs, the worker keeps its lease
(*heartbeats*): it looks every ``heartbeat`` (a sixth of the lease by default) and renews
the lease once half of it is spent, so a handler may run many times its lease and is still
never run twice at once. (A plain handler runs on a helper thread of the worker for this,
one call at a time; the store stays on the worker's thread. On PostgreSQL a handler whose
last call was quick, :data:`QUICK`, is called on the worker's thread instead, a watchdog
thread making the heartbeats should it run long: :meth:`Worker._inline`.) On SQLite, run
one worker.

Retry policies. A handler registered with ``retry=Retry(...)`` (:mod:`.retry`) is retried
as its policy says (attempts, backoff, jitter, errors retried or not, a timeout per call),
and only that handler: the calls of the same record that ran before it are not made again.
Once the policy gives up, an ``on_enter`` handler's ``error`` trigger fires with the reason
and every attempt's error (the failure snapshot is the dead letter); without one the
instance is quarantined with that account.

Concurrency. :meth:`Worker.arun_once` serves the instances it claimed concurrently, up
to ``concurrency`` at once, and a handler registered with ``limit="name"`` waits for a
place under the worker's ``limits["name"]`` (a provider's concurrent calls).

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

Observing. :attr:`Worker.metrics` counts what the worker did; given a ``tracer`` it opens
spans, and it logs events under ``statewright.worker``, as :mod:`.observe` describes.
"""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import os
import queue
import random
import socket
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from .cancel import closed
from .effects import EffectCache
from .engine import Machine
from .handlers import (
    Call,
    Done,
    Failed,
    HandlerSet,
    Settled,
    apply_outcome,
    calls_any,
    deliver,
    give_up,
)
from .observe import Tracer, WorkerWatch, atimed, timed
from .outbox import Claim, LeaseLost, LeaseRevoked, Outbox
from .records import Clock, utc_now
from .retry import HandlerTimeout, Retry
from .runner import AsyncHandler, call_handler
from .store import ChainBroken, ConcurrencyConflict, SqlStore, instant
from .versions import SpecMismatch

__all__ = [
    "MAX_ATTEMPTS",
    "MAX_BACKOFF",
    "QUARANTINE_AT_ONCE",
    "DeadLetter",
    "Metrics",
    "Round",
    "Worker",
    "backoff",
]

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
    timeouts fired, failures counted, leases lost, instances quarantined; failed calls a
    retry policy will retry, and policies that gave up (their ``error`` fired); and
    instances left alone because they run under a spec version the worker does not hold
    (``foreign``)."""

    claimed: int = 0
    calls: int = 0
    fired: int = 0
    timeouts: int = 0
    failures: int = 0
    lost: int = 0
    quarantined: int = 0
    foreign: int = 0
    retries: int = 0
    gave_up: int = 0
    cancelled: int = 0
    """Instances whose run was cancelled while the worker held them (their calls
    abandoned, nothing committed)."""

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


@dataclass(slots=True)
class Metrics:
    """What a worker did since it started, for a metrics exporter to read: rounds,
    instances claimed, handler calls and their time in seconds (``handler_seconds``, the
    longest in ``slowest``), outcomes and timeouts fired, failures, retries, policies that
    gave up, calls that ran past their timeout, leases renewed while a handler ran
    (heartbeats), leases lost, and idle waits woken by new work (``wakes``)."""

    rounds: int = 0
    claimed: int = 0
    calls: int = 0
    handler_seconds: float = 0.0
    slowest: float = 0.0
    fired: int = 0
    timeouts: int = 0
    failures: int = 0
    retries: int = 0
    gave_up: int = 0
    quarantined: int = 0
    timed_out: int = 0
    renewals: int = 0
    lost: int = 0
    wakes: int = 0
    """Idle waits ended by an announcement of new work (PostgreSQL ``NOTIFY``)."""
    cancelled: int = 0
    """Instances whose run was cancelled while the worker held them."""

    def add(self, report: Round) -> None:
        """Count one round's ``report`` in."""
        self.rounds += 1
        for name in ("claimed", "fired", "timeouts", "failures", "retries", "gave_up"):
            setattr(self, name, getattr(self, name) + getattr(report, name))
        self.quarantined += report.quarantined
        self.lost += report.lost
        self.cancelled += report.cancelled

    def timed(self, seconds: float) -> None:
        """Count one handler call that took ``seconds``."""
        self.calls += 1
        self.handler_seconds += seconds
        self.slowest = max(self.slowest, seconds)


class DeadLetter(Exception):
    """A handler's retry policy gave up and the handler names no ``error`` trigger: the
    instance is quarantined with the reason and every attempt's error."""

    def __init__(self, reason: str, attempts: list[dict[str, str]]) -> None:
        lines = [f"{reason}:"] + [f"  {a['at']}: {a['error']}" for a in attempts]
        super().__init__("\n".join(lines))
        self.reason = reason
        self.attempts = attempts


class Worker(Generic[S, T, R]):
    """Delivers ``handlers``' effects for the instances of their machine in ``store``.

    ``lease`` is how long a claim holds without renewal; ``batch`` how many instances a
    round claims (and how many instances' timeouts it fires). A failing instance waits
    :func:`backoff` (at most ``max_backoff``; ``jitter`` returns a number in [0, 1],
    ``random.random`` unless given) and is quarantined after ``max_attempts`` failures,
    unless the failed handler has a retry policy of its own. ``heartbeat`` is how often
    (in real time) the lease is looked at while a handler runs (default: a sixth of the
    lease). :meth:`arun_once` serves up to ``concurrency`` claimed instances at once
    (default: ``batch``), and at most ``limits[name]`` calls of the handlers registered
    with ``limit=name``. :meth:`run_once` claims instances a few at a time, as many as its
    handlers' mean time says it starts on within ``hoard``, so that a worker with slow
    handlers does not hold instances other workers could serve. ``tracer`` (a
    :class:`~.observe.Tracer`, None: nothing traced) gets a span per round that found
    work, per claim, per record delivered and per handler call; ``worker_id`` names the
    worker in spans and logs (default: host, process and object). Use one worker (one
    store, one connection) per thread or process.
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
        heartbeat: timedelta | None = None,
        concurrency: int | None = None,
        limits: dict[str, int] | None = None,
        hoard: timedelta = timedelta(milliseconds=50),
        tracer: Tracer | None = None,
        worker_id: str | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError(f"max_attempts is at least 1, not {max_attempts}")
        limits = dict(limits or {})
        missing = sorted(handlers.limits() - set(limits))
        if missing:
            raise ValueError(f"handlers count against limits the worker is not given: {missing}")
        for name, size in limits.items():
            if size < 1:
                raise ValueError(f"limit {name!r} allows at least 1 call, not {size}")
        self.store = store
        store.own_transactions()  # one round trip for a one-statement read or commit
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
        beat = lease / 6 if heartbeat is None else heartbeat
        self.heartbeat = max(beat.total_seconds(), 0.001)
        self.concurrency = batch if concurrency is None else concurrency
        if self.concurrency < 1:
            raise ValueError(f"concurrency is at least 1, not {self.concurrency}")
        self.limits = limits
        self.hoard = hoard
        self.metrics = Metrics()
        self._helper: _Helper | None = None
        self._quick: dict[tuple[str, str], bool] = {}
        """Per plain handler (by its hook and state: a traced call's handler is wrapped
        anew each time): whether its last call returned within :data:`QUICK` (so
        the next runs on the worker's thread, watched by :class:`_Watchdog`)."""
        self._watchdog: _Watchdog | None = None
        self._quick_below = min(QUICK, self.heartbeat / 10) if self._shared() else 0.0
        """Seconds: a plain call that returned sooner was quick (0: none is, the store's
        connection cannot be used from the watchdog's thread)."""
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        """This worker in its spans and logs (:mod:`.observe`)."""
        self._watch = WorkerWatch(
            tracer, self.worker_id, self.machine.spec.machine, self.machine.spec.sha256
        )
        self.effects = EffectCache(store, self.machine.spec.triggers) if handlers.cached() else None
        """The results of ``cache=True`` handlers, kept under ``job.key`` (:mod:`.effects`)."""

    def _shared(self) -> bool:
        """Whether the store's connection may be used from another thread, the
        :class:`_Watchdog`'s, while the worker's waits on a call: PostgreSQL's drivers
        allow it; SQLite's connections belong to the thread that made them."""
        return self.store.dialect == "postgresql"

    # -- one round ----------------------------------------------------------------------

    def run_once(self) -> Round:
        """Fire due timeouts, then deliver the effects of up to ``batch`` instances."""
        with self.store.unannounced():  # its own work: it goes on with it itself
            return self._run_once()

    def _run_once(self) -> Round:
        report = self._start()
        while report.claimed < self.batch:  # claim no more than it will soon start on
            limit = min(self._ahead(), self.batch - report.claimed)
            claims = self._claim(report, limit)
            for claim in claims:
                with self._contained(claim, report):
                    machine: Machine[S, T, R] | None = self._load(claim)
                    while machine is not None and (delivery := self._delivery(claim, machine)):
                        settled = self._drive(claim, delivery)
                        machine = self._commit(claim, machine, settled, report)
            if len(claims) < limit:
                break
        self.metrics.add(report)
        self._watch.end(report)
        return report

    def _ahead(self) -> int:
        """How many instances :meth:`run_once` claims at a time: as many as its handlers'
        mean time so far says it starts on within ``hoard`` (at least one, at most
        ``batch``), so a worker with slow handlers leaves the rest to other workers."""
        if not self.metrics.calls or not self.metrics.handler_seconds:
            return self.batch
        mean = self.metrics.handler_seconds / self.metrics.calls
        return max(1, min(self.batch, int(self.hoard.total_seconds() / mean)))

    async def arun_once(self) -> Round:
        """:meth:`run_once` for asyncio: handlers may be ``async`` and are awaited, the
        instances claimed served concurrently (up to ``concurrency``).

        The store is called on the event loop's thread, between awaits, never across one.
        """
        with self.store.unannounced():
            return await self._arun_once()

    async def _arun_once(self) -> Round:
        report = self._start()
        gate = asyncio.Semaphore(self.concurrency)
        limits = {name: asyncio.Semaphore(size) for name, size in self.limits.items()}

        async def serve(claim: Claim) -> None:
            async with gate:
                with self._contained(claim, report):
                    machine: Machine[S, T, R] | None = self._load(claim)
                    while machine is not None and (delivery := self._delivery(claim, machine)):
                        settled = await self._adrive(claim, delivery, limits)
                        machine = self._commit(claim, machine, settled, report)

        await asyncio.gather(*(serve(claim) for claim in self._claim(report, self.batch)))
        self.metrics.add(report)
        self._watch.end(report)
        return report

    def run(
        self,
        *,
        stop: Callable[[], bool],
        idle: float = 0.05,
        longest_idle: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
        listen: bool | None = None,
    ) -> None:
        """Run rounds until ``stop()`` is true, sleeping ``idle`` seconds after an idle one.

        With ``longest_idle``, an idle worker waits longer, never past the moment
        something falls due (:meth:`next_due`: the next deadline, the end of a retry's
        wait or of a lease): on PostgreSQL through psycopg 3 it waits on the machine's
        ``NOTIFY`` channel (:meth:`SqlStore.listen`), so new work wakes it at once, for up
        to ``longest_idle`` seconds; elsewhere (or with ``listen=False``) each further
        idle round doubles the sleep up to ``longest_idle``. Any work resets it.
        ``listen`` defaults to True unless a ``sleep`` of the caller's is given (it then
        does the waiting). ``stop()`` is looked at between waits.
        """
        waiter = None
        if listen is None:
            listen = sleep is time.sleep
        if longest_idle is not None and listen:
            waiter = self.store.listen(self.machine.spec.machine)
        wait = idle
        while not stop():
            if not self.run_once().idle:
                wait = idle
                continue
            if waiter is not None:
                assert longest_idle is not None
                self.metrics.wakes += waiter(self._until_deadline(longest_idle, idle))
                continue
            sleep(wait if longest_idle is None else self._until_deadline(wait, idle))
            wait = min(wait * 2, longest_idle if longest_idle is not None else idle)

    def next_deadline(self) -> datetime | None:
        """The earliest due time of the machine's instances in the store (quarantined ones
        left out), or None: when a timeout or an approval gate's escalation falls due
        next (``Machine.next_due``, which the store keeps as each instance's deadline)."""
        found = self.outbox.next_deadline(self.machine.spec.machine)
        return None if found is None else datetime.fromisoformat(found)

    def next_due(self) -> datetime | None:
        """When something falls due next with no write to announce it: the earliest of
        :meth:`next_deadline` and the moment an instance with effects due can next be
        claimed (its retry's wait or another worker's lease over); None: nothing."""
        times = [self.next_deadline()]
        claimable = self.outbox.next_claimable(self.machine.spec.machine)
        if claimable is not None:
            times.append(datetime.fromisoformat(claimable) if claimable else self.clock())
        return min((t for t in times if t is not None), default=None)

    def _until_deadline(self, wait: float, idle: float) -> float:
        """``wait``, shortened to the time left until :meth:`next_due` (at least ``idle``)."""
        deadline = self.next_due()
        if deadline is None:
            return wait
        left = (deadline - self.clock()).total_seconds()
        return max(idle, min(wait, left))

    # -- the parts of a round -----------------------------------------------------------

    def _start(self) -> Round:
        self._watch.begin()
        swept = self.machine.sweep(self.store, clock=self.clock, limit=self.batch, due=self._due)
        report = Round(timeouts=len(swept.fired))
        if swept.fired:
            self._watch.timeouts(swept.fired)
        for instance_id, error in swept.errors.items():
            if isinstance(error, SpecMismatch):
                self._watch.failure("foreign", instance_id, error)
                self.foreign.add(instance_id)
                report.foreign += 1
                continue
            self._fail(instance_id, error, report, None)
        return report

    def _due(self, machine: str, now: str, limit: int | None) -> list[str]:
        """The instances due for a sweep, but the foreign ones."""
        found = self.outbox.due(machine, now, None if limit is None else limit + len(self.foreign))
        return [i for i in found if i not in self.foreign][:limit]

    def _claim(self, report: Round, limit: int) -> list[Claim]:
        now, started = self.clock(), time.time_ns()
        claims = self.outbox.claim(
            self.machine.spec.machine, instant(now), instant(now + self.lease), limit
        )
        renew_after = now + self.lease / 2
        for claim in claims:
            claim.renew_after = renew_after
        report.claimed += len(claims)
        self._watch.claimed(len(claims), limit, started)
        return claims

    @contextlib.contextmanager
    def _contained(self, claim: Claim, report: Round) -> Iterator[None]:
        """Serve one instance: whatever it raises is counted against it, never raised."""
        try:
            yield
        except AsyncHandler:  # the caller's mistake, not the instance's: say so at once
            raise
        except LeaseRevoked:  # the run was cancelled meanwhile: nothing to write
            report.cancelled += 1
        except LeaseLost as lost:
            self._watch.failure("lease_lost", claim.instance_id, lost)
            report.lost += 1
        except SpecMismatch as mismatch:  # not this worker's: hold the claim till its lease ends
            self._watch.failure("foreign", claim.instance_id, mismatch)
            self.foreign.add(claim.instance_id)
            report.foreign += 1
        except Exception as error:
            self._fail(claim.instance_id, error, report, claim)
        finally:
            self._watch.served(claim.instance_id)

    def _load(self, claim: Claim) -> Machine[S, T, R]:
        return self.machine.load(self.store, claim.instance_id, clock=self.clock)

    def _delivery(self, claim: Claim, machine: Machine[S, T, R]) -> Any:
        if closed(machine) is not None:  # cancelled without its outbox entry: settle it
            self.outbox.settle(claim.machine, claim.instance_id, len(machine.audit))
            return None
        if claim.delivered >= len(machine.audit):
            self.outbox.release(claim)
            return None
        return deliver(self.handlers, machine, claim.delivered, claim.attempts, claim.skip)

    # -- calling handlers ---------------------------------------------------------------

    def _drive(self, claim: Claim, delivery: Any) -> Settled:
        """Make the calls ``delivery`` asks for on the helper thread, keeping the lease
        while each runs; a lost lease ends it as a failure (:class:`LeaseLost`)."""
        step = _step(delivery, None)
        try:
            while isinstance(step, Call):
                step = _step(delivery, timed(self._watch, step, lambda c: self._called(claim, c)))
        except LeaseLost as lost:
            delivery.close()
            return Settled(failed=lost)
        return step

    def _called(self, claim: Claim, call: Call) -> Done | Failed:
        """:meth:`_watched`, or for a ``cache=True`` handler what it returned before."""
        effects = self.effects
        if effects is None or not call.cache:
            return self._watched(claim, call)
        found = effects.get(call.job)
        if found is not None:
            return found
        result = self._watched(claim, call)
        if isinstance(result, Done):
            effects.put(call.job, result.value, self.clock())
        return result

    async def _acalled(self, claim: Claim, call: Call) -> Done | Failed:
        """:meth:`_called` for :meth:`_awatched`."""
        effects = self.effects
        if effects is None or not call.cache:
            return await self._awatched(claim, call)
        found = effects.get(call.job)
        if found is not None:
            return found
        result = await self._awatched(claim, call)
        if isinstance(result, Done):
            effects.put(call.job, result.value, self.clock())
        return result

    def _watched(self, claim: Claim, call: Call) -> Done | Failed:
        """What ``call`` returned or raised; the lease kept while it runs."""
        self._keep(claim)
        if call.timeout is None and self._quick.get((call.job.hook, call.job.state)):
            return self._inline(claim, call)
        helper = self._helper = self._helper or _Helper(self)
        running = helper.submit(call)
        started, clock = time.perf_counter(), self.clock()
        try:
            while not running.wait(self.heartbeat):
                self._beat(claim)
                if call.timeout is not None and _overdue(call, clock, self.clock()):
                    self.metrics.timed_out += 1
                    return Failed(_timeout(call))
        finally:
            if not running.finished():  # abandoned: the next call gets a fresh thread
                helper.stop()
                self._helper = None
        return self._returned(call, running.result, time.perf_counter() - started)

    def _inline(self, claim: Claim, call: Call) -> Done | Failed:
        """:meth:`_watched` for a handler whose last call was quick: made on the worker's
        own thread (a hand-over to the helper thread and back costs more than the call),
        the lease kept by the :class:`_Watchdog` should it run long. What the watchdog met
        meanwhile (a cancellation, a lost lease) is raised once it returns: a plain call
        cannot be stopped, so one that runs long after being quick is waited for."""
        watchdog = self._watchdog = self._watchdog or _Watchdog(self)
        started = time.perf_counter()
        watchdog.start(claim)
        try:
            result = call_handler(call)
        finally:
            met = watchdog.end()
        if met is not None:
            raise met
        return self._returned(call, result, time.perf_counter() - started)

    def _returned(self, call: Call, result: Any, seconds: float) -> Done | Failed:
        """What a plain call came to, its time counted (and whether the handler's next
        call is made on the worker's thread: :data:`QUICK`); an ``async`` handler's
        awaitable is the caller's mistake (:class:`AsyncHandler`)."""
        self.metrics.timed(seconds)
        self._quick[call.job.hook, call.job.state] = seconds < self._quick_below
        if isinstance(result, Done | Failed):
            return result
        getattr(result, "close", lambda: None)()  # never awaited: no warning
        raise AsyncHandler(
            f"the {call.job.hook} handler {call.handler.__qualname__} is async: run "
            "it with an AsyncRunner or Worker.arun_once"
        )

    async def _adrive(
        self, claim: Claim, delivery: Any, limits: dict[str, asyncio.Semaphore]
    ) -> Settled:
        """:meth:`_drive` awaiting ``async`` handlers on the event loop."""
        step = _step(delivery, None)
        try:
            while isinstance(step, Call):
                limit = None if step.limit is None else limits[step.limit]
                async with limit or contextlib.nullcontext():
                    result = await atimed(self._watch, step, lambda c: self._acalled(claim, c))
                step = _step(delivery, result)
        except LeaseLost as lost:
            delivery.close()
            return Settled(failed=lost)
        return step

    async def _awatched(self, claim: Claim, call: Call) -> Done | Failed:
        """What ``call`` returned or raised, awaited; the lease kept while it runs."""
        self._keep(claim)
        started, clock = time.perf_counter(), self.clock()
        value = call_handler(call)
        if isinstance(value, Done | Failed):
            self.metrics.timed(time.perf_counter() - started)
            return value
        task = asyncio.ensure_future(_awaited(value))
        try:
            while not (await asyncio.wait({task}, timeout=self.heartbeat))[0]:
                self._beat(claim)
                if call.timeout is not None and _overdue(call, clock, self.clock()):
                    self.metrics.timed_out += 1
                    return Failed(_timeout(call))
        finally:
            if not task.done():
                task.cancel()
        self.metrics.timed(time.perf_counter() - started)
        return task.result()

    def _keep(self, claim: Claim) -> None:
        """Renew ``claim``'s lease once half of it is spent; :class:`LeaseLost` if lost."""
        now, renew_after = self.clock(), claim.renew_after
        if renew_after is None or now > renew_after:  # None: not known, so renew now
            claim.until = instant(now + self.lease)
            self.outbox.renew(claim, claim.until)
            claim.renew_after = now + self.lease / 2
            self.metrics.renewals += 1

    def _beat(self, claim: Claim) -> None:
        """A heartbeat while a handler runs: keep the lease, and raise
        :class:`~.outbox.LeaseRevoked` if the run was cancelled meanwhile (the call is
        then abandoned: an ``async`` one cancelled, a plain one's result discarded)."""
        self.outbox.check(claim)  # first: a revoked lease is a cancellation, not a loss
        self._keep(claim)

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
            given = self._failed(claim, settled, report)
            if given is None:
                return None
            settled = given
        delivered = first = len(machine.audit)  # the outcome's records are delivered next
        try:
            with self.store.batch(), self.store.staged():  # one statement (PostgreSQL)
                apply_outcome(machine, settled)
                quiet = settled.fire is None or not calls_any(self.handlers, machine, delivered)
                if quiet:  # nothing to call for the outcome's records: delivered with it
                    delivered = len(machine.audit)
                if self.effects is not None:  # the cached results it stood in for
                    self.effects.forget(claim.machine, claim.instance_id, delivered)
                self.outbox.advance(claim, delivered, release=quiet)  # the last statement
        except ConcurrencyConflict:  # someone moved the instance meanwhile: deliver again
            self.outbox.release(claim)
            return None
        if settled.fire is None:
            return None
        report.fired += 1
        self._watch.fired(claim.instance_id, machine, first)
        return None if quiet else machine  # the outcome's records are due: deliver them now

    def _failed(self, claim: Claim, settled: Settled, report: Round) -> Settled | None:
        """A failed delivery: retried where it failed (by the handler's policy, or the
        worker's backoff), or, once the policy gives up, the declared failure to commit
        (None: nothing to commit)."""
        error, policy = settled.failed, settled.retry
        assert error is not None
        at = settled.at or (claim.delivered, claim.skip)
        if policy is None:
            self._fail(claim.instance_id, error, report, claim, at=at)
            return None
        now = self.clock()
        failures = (claim.attempts if (claim.delivered, claim.skip) == at else 0) + 1
        attempts = [*claim.failures_at(at), {"at": instant(now), "error": _reason(error)}]
        why = policy.gives_up(error, failures)
        if why is None:
            report.retries += 1
            self._fail(claim.instance_id, error, report, claim, at=at, policy=policy)
            return None
        given = give_up(settled, why, attempts)
        if given is None:  # no declared failure: the instance is the dead letter
            dead = DeadLetter(why, attempts)
            self._fail(claim.instance_id, dead, report, claim, at=at, policy=policy)
            return None
        report.gave_up += 1
        self._watch.failure("gave_up", claim.instance_id, error, failures)
        return given

    def _fail(
        self,
        instance_id: str,
        error: BaseException,
        report: Round,
        claim: Claim | None,
        *,
        at: tuple[int, int] | None = None,
        policy: Retry | None = None,
    ) -> None:
        """Count ``error`` against the instance: retried after :func:`backoff` (or the
        handler's ``policy``), or quarantined (at ``max_attempts``, at once for
        :data:`QUARANTINE_AT_ONCE` and a :class:`DeadLetter`)."""
        now = self.clock()
        if policy is None:
            retry_at = lambda attempts: self._retry_at(now, attempts)  # noqa: E731
        else:
            retry_at = lambda attempts: instant(now + policy.delay(attempts + 1, self.jitter()))  # noqa: E731
        try:
            quarantined = self.outbox.fail(
                self.machine.spec.machine,
                instance_id,
                _reason(error),
                instant(now),
                retry_at=retry_at,
                max_attempts=self.max_attempts if policy is None else 2**62,
                at_once=isinstance(error, (*QUARANTINE_AT_ONCE, DeadLetter)),
                claim=claim,
                at=at,
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
            event = "quarantined" if quarantined else "retry"
            attempts = None if claim is None else claim.attempts + 1
            self._watch.failure(event, instance_id, error, attempts)

    def _retry_at(self, now: datetime, attempts: int) -> str:
        return instant(now + backoff(attempts, self.max_backoff, self.jitter()))


def _reason(error: BaseException) -> str:
    """What the outbox keeps of a failure: its ``repr`` (which escapes the NULs PostgreSQL's
    text refuses), shortened."""
    text = repr(error)
    return text if len(text) <= _REASON_LENGTH else text[: _REASON_LENGTH - 3] + "..."


def _step(delivery: Any, result: Done | Failed | None) -> Call | Settled:
    """The next call ``delivery`` asks for, sent ``result`` (None: the first), or the
    :class:`Settled` outcome it came to."""
    try:
        call: Call = next(delivery) if result is None else delivery.send(result)
    except StopIteration as stop:
        settled: Settled = stop.value
        return settled
    return call


def _overdue(call: Call, started: datetime, now: datetime) -> bool:
    """True when ``call`` has run past its policy's timeout (by the worker's clock)."""
    return call.timeout is not None and (now - started).total_seconds() >= call.timeout


def _timeout(call: Call) -> HandlerTimeout:
    job = call.job
    return HandlerTimeout(
        f"the {job.hook} handler of {job.state} ran past its timeout of {call.timeout:g} s"
    )


async def _awaited(value: Awaitable[object]) -> Done | Failed:
    try:
        return Done(await value)
    except Exception as error:
        return Failed(error)


class _Running:
    """A call handed to the helper thread: done once ``result`` holds what it returned
    (:class:`Done`, :class:`Failed`, or the awaitable of an ``async`` handler).

    Done is a bare lock, held until then (a ``threading.Event`` costs a condition and a
    new lock at every wait: a fifth of a no-op call's hand-over)."""

    __slots__ = ("_held", "call", "result")

    def __init__(self, call: Call) -> None:
        self.call = call
        self._held = _thread.allocate_lock()
        self._held.acquire()
        self.result: Any = None

    def run(self) -> None:
        try:
            self.result = call_handler(self.call)
        finally:
            self._held.release()

    def wait(self, timeout: float) -> bool:
        """True once the call is done; False after ``timeout`` seconds without."""
        if self._held.acquire(timeout=timeout):
            self._held.release()
            return True
        return False

    def finished(self) -> bool:
        return not self._held.locked()


class _Helper:
    """A daemon thread that makes a worker's plain handler calls, one at a time, so that
    the worker's own thread keeps the lease (and the store) while one runs. A call the
    worker stops waiting for (past its timeout, its lease lost) keeps the thread until it
    returns; the worker then starts another helper."""

    def __init__(self, owner: object) -> None:
        self._calls: queue.SimpleQueue[_Running | None] = queue.SimpleQueue()
        thread = threading.Thread(target=self._serve, name="statewright-handler", daemon=True)
        thread.start()
        weakref.finalize(owner, self._calls.put, None)  # a worker dropped ends its thread

    def _serve(self) -> None:
        while (running := self._calls.get()) is not None:
            running.run()

    def submit(self, call: Call) -> _Running:
        running = _Running(call)
        self._calls.put(running)
        return running

    def stop(self) -> None:
        """End the thread once its current call returns."""
        self._calls.put(None)


QUICK = 0.005
"""Seconds: a plain handler whose last call returned sooner (and within a tenth of the
worker's heartbeat) is next called on the worker's own thread, not the helper thread."""


class _Watchdog:
    """Keeps the lease of a claim whose handler the worker calls on its own thread: a
    daemon thread that looks every ``heartbeat`` and, once a call has run that long,
    makes the worker's heartbeat (:meth:`Worker._beat`) for it, with the store while the
    worker waits on the call. What the heartbeat raises (the run cancelled, the lease
    lost) is kept for the worker, which raises it once the call returns.

    The worker only sets an attribute to start a call and takes an uncontended lock to
    end it: nothing wakes the thread for a call, it looks by itself once a heartbeat."""

    def __init__(self, worker: Worker[Any, Any, Any]) -> None:
        self._worker = weakref.ref(worker)
        self._lock = threading.Lock()
        """Held while the thread beats, and by the worker ending a call: so the store is
        never used by both, and no beat starts once the call ended."""
        self._claim: Claim | None = None
        self._since = 0.0
        self._met: BaseException | None = None
        self._period = worker.heartbeat
        thread = threading.Thread(target=self._serve, name="statewright-watchdog", daemon=True)
        thread.start()

    def start(self, claim: Claim) -> None:
        self._since, self._met = time.monotonic(), None
        self._claim = claim

    def end(self) -> BaseException | None:
        """End the call: what a heartbeat met meanwhile (None: nothing)."""
        with self._lock:
            self._claim = None
            return self._met

    def _serve(self) -> None:
        while True:
            time.sleep(self._period)
            if not self._look():
                return

    def _look(self) -> bool:
        """Beat for the call if it has run a heartbeat; False once the worker is gone."""
        with self._lock:
            worker, claim = self._worker(), self._claim
            if worker is None:
                return False
            if claim is None or time.monotonic() - self._since < self._period:
                return True
            try:
                worker._beat(claim)
            except Exception as met:  # as on the helper thread's watch: raised by the worker
                self._met, self._claim = met, None
        return True
