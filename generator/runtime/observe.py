"""Watching a worker: tracing hooks (:class:`Tracer`) and structured logs (:class:`JsonFormatter`).

Standard library only, like the rest of the runtime. A :class:`~.worker.Worker` given a
``tracer=`` (anything with the two methods of :class:`Tracer`; the OpenTelemetry one is
:class:`statewright.generator.integrations.otel.OtelTracer`, extra ``statewright[otel]``)
opens these spans:

- ``statewright.round``: a round that found work (an idle round opens none), with the
  counts of its :class:`~.worker.Round`;
- ``statewright.claim``: one claim of instances in it (``statewright.claimed``,
  ``statewright.limit``);
- ``statewright.timeout``: a timed exit the round fired (the record's attributes);
- ``statewright.transition``: the delivery of one record whose handlers run (machine,
  spec hash, instance, from, trigger, to, seq, actor, worker), a child of the round;
- ``statewright.handler``: one handler call, a child of its record's transition (hook,
  job key, attempt, outcome, error type); a failed call has error status and the
  exception. While it runs, the span is the current one (:meth:`Tracer.scope`), on the
  thread or asyncio task the handler runs in, so a handler's own traced calls (an HTTP
  call to a model) nest under it.

The in-process runners (:class:`~.runner.Runner`, :class:`~.runner.AsyncRunner`) take
the same ``tracer=`` and open the same ``statewright.transition`` and
``statewright.handler`` spans (without ``statewright.worker``), and a
``statewright.timeout`` span for what their ``expire()`` records; they claim nothing and
have no rounds, so their spans are children of the span current where the runner is
called (a root span without one).

Without a tracer (the default) none of this runs: the worker only tests that its tracer
is None.

The worker logs through :mod:`logging` under ``statewright.worker`` and the in-process
runners under ``statewright.runner``: every log record carries ``event`` (what
happened, a stable name) and the fields of :data:`FIELDS` that apply, in ``extra``.
:class:`JsonFormatter` writes one JSON object a line. Events: ``round`` (DEBUG, a round
that found work; idle rounds log nothing), ``handler`` (DEBUG, a call returned),
``handler_failed`` (WARNING, with the exception), ``transition`` (INFO, an outcome the
worker fired), ``timeout`` (INFO, a timed exit it fired), ``retry`` (WARNING, a failed
instance to be retried), ``gave_up`` (ERROR, a retry policy gave up and its ``error``
trigger fires), ``quarantined`` (ERROR), ``lease_lost`` (WARNING), ``foreign``
(INFO, an instance under a spec version the worker does not hold).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from .handlers import Call, Done, Failed, Fire
from .records import AuditRecord
from .retry import HandlerTimeout

__all__ = [
    "FIELDS",
    "JsonFormatter",
    "RunnerWatch",
    "Span",
    "Tracer",
    "WorkerWatch",
    "atimed",
    "log_failed",
    "log_fired",
    "record_attributes",
    "timed",
]

Attribute = str | int | float | bool
"""A span attribute's value."""

FIELDS = (
    "event",
    "machine",
    "instance",
    "state",
    "trigger",
    "seq",
    "hook",
    "key",
    "attempt",
    "worker",
    "duration_ms",
    "error",
)
"""The structured fields a statewright log record may carry in ``extra``."""


class Span(Protocol):
    """A span a :class:`Tracer` started."""

    def set_attribute(self, key: str, value: Attribute) -> None:
        """Set one attribute."""

    def failed(self, error: BaseException) -> None:
        """Mark the span as failed by ``error`` (error status, the exception recorded)."""

    def end(self, end_ns: int | None = None) -> None:
        """End the span (now, or at ``end_ns``, nanoseconds since the epoch)."""


class Tracer(Protocol):
    """What a worker traces with: start spans, and make one current while code runs."""

    def start(
        self,
        name: str,
        attributes: Mapping[str, Attribute],
        *,
        parent: Span | None = None,
        start_ns: int | None = None,
    ) -> Span:
        """A new span ``name``, a child of ``parent`` (None: of the current span, if
        any), started at ``start_ns`` (nanoseconds since the epoch; None: now)."""

    def scope(self, span: Span) -> contextlib.AbstractContextManager[None]:
        """Make ``span`` the current span while the ``with`` block runs (in this thread
        or asyncio task), so that what the code in it traces nests under it."""


def record_attributes(
    machine: str, sha256: str | None, instance: str | None, record: AuditRecord[Any, Any, Any]
) -> dict[str, Attribute]:
    """The span attributes of one audit record: what a transition is."""
    found: dict[str, Attribute] = {
        "statewright.machine": machine,
        "statewright.seq": record.seq,
        "statewright.event": str(record.event),
        "statewright.from": str(record.from_state),
        "statewright.to": str(record.to_state),
    }
    optional = {
        "statewright.spec_sha256": sha256,
        "statewright.instance": instance,
        "statewright.trigger": record.trigger,
        "statewright.actor": record.actor,
    }
    found.update({k: str(v) for k, v in optional.items() if v is not None})
    return found


_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
    ``message``, every field the call gave in ``extra`` (statewright's: :data:`FIELDS`),
    and ``exception`` (the traceback) when the record carries one.

    ``logging.getLogger("statewright").handlers[0].setFormatter(JsonFormatter())``, or
    on any handler of your own. Values JSON cannot hold are written as their ``str``.
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def _error_type(error: BaseException) -> str:
    kind = type(error)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


class WorkerWatch:
    """What one worker tells its tracer (if any) and its logger. The worker calls it at
    a few points of a round; with no tracer it only logs, and logs at DEBUG only when
    that level is enabled."""

    def __init__(
        self, tracer: Tracer | None, worker: str | None, machine: str, sha256: str | None
    ) -> None:
        self.tracer = tracer
        self.worker = worker
        self.machine = machine
        self.sha256 = sha256
        self.log = logging.getLogger("statewright.worker")
        self._round: Span | None = None
        self._round_ns = 0
        self._open: dict[str, tuple[int, Span]] = {}
        """The transition span open for each instance being served: its record's seq."""

    def _fields(self, event: str, instance: str | None, **more: Any) -> dict[str, Any]:
        return _fields(event, self.machine, instance, worker=self.worker, **more)

    # -- a round ------------------------------------------------------------------------

    def begin(self) -> None:
        """A round starts (no span yet: one is opened once it finds work)."""
        if self.tracer is not None:
            if self._round is not None:  # the last round raised (a store out of reach)
                self._round.end()
            self._round, self._round_ns = None, time.time_ns()

    def _round_span(self) -> Span | None:
        if self.tracer is None:
            return None
        if self._round is None:
            worker = self.worker or ""  # a worker's round: it has an id
            attributes = {"statewright.machine": self.machine, "statewright.worker": worker}
            self._round = self.tracer.start(
                "statewright.round", attributes, start_ns=self._round_ns
            )
        return self._round

    def timeouts(self, fired: list[tuple[str, AuditRecord[Any, Any, Any]]]) -> None:
        """The round's sweep fired these timed exits."""
        for instance, record in fired:
            if self.tracer is not None:
                parent = self._round_span()
                attributes = self._attributes(instance, record)
                self.tracer.start("statewright.timeout", attributes, parent=parent).end()
            self.log.info(
                "%s %s: timed exit %s to %s",
                self.machine,
                instance,
                record.trigger,
                record.to_state,
                extra=self._fields(
                    "timeout",
                    instance,
                    state=str(record.to_state),
                    trigger=record.trigger and str(record.trigger),
                    seq=record.seq,
                ),
            )

    def claimed(self, count: int, limit: int, started_ns: int) -> None:
        """A claim of up to ``limit`` instances started at ``started_ns`` took ``count``."""
        if self.tracer is not None and (count or self._round is not None):
            attributes = {"statewright.claimed": count, "statewright.limit": limit}
            span = self.tracer.start(
                "statewright.claim", attributes, parent=self._round_span(), start_ns=started_ns
            )
            span.end()

    def end(self, report: Any) -> None:
        """The round ends, having done what ``report`` (a :class:`~.worker.Round`) says."""
        if self._round is not None:
            for name in report.__slots__:
                self._round.set_attribute(f"statewright.{name}", getattr(report, name))
            self._round.end()
            self._round = None
        if not report.idle and self.log.isEnabledFor(logging.DEBUG):
            self.log.debug(
                "%s: round claimed %d, fired %d, timeouts %d, failures %d",
                self.machine,
                report.claimed,
                report.fired,
                report.timeouts,
                report.failures,
                extra=self._fields("round", None),
            )

    # -- records and handler calls ------------------------------------------------------

    def _attributes(
        self, instance: str | None, record: AuditRecord[Any, Any, Any]
    ) -> dict[str, Attribute]:
        found = record_attributes(self.machine, self.sha256, instance, record)
        if self.worker is not None:
            found["statewright.worker"] = self.worker
        return found

    def _transition(self, call: Call) -> Span:
        """The span of the record ``call`` is for, opened when its first call comes."""
        assert self.tracer is not None
        job = call.job
        instance = job.instance_id or "-"
        record = job.record
        open_ = self._open.get(instance)
        if open_ is not None:
            if open_[0] == record.seq:
                return open_[1]
            open_[1].end()
        span = self.tracer.start(
            "statewright.transition",
            self._attributes(job.instance_id, record),
            parent=self._round_span(),
        )
        self._open[instance] = (record.seq, span)
        return span

    def served(self, instance: str) -> None:
        """Serving ``instance`` is over: its open transition span ends."""
        open_ = self._open.pop(instance, None)
        if open_ is not None:
            open_[1].end()

    def handler_span(self, call: Call) -> tuple[Span | None, Call]:
        """The span of ``call`` (None without a tracer), and the call to make: its
        handler wrapped so that the span is current while it runs."""
        if self.tracer is None:
            return None, call
        job = call.job
        attributes: dict[str, Attribute] = {
            "statewright.hook": str(job.hook),
            "statewright.state": str(job.state),
            "statewright.key": job.key,
            "statewright.attempt": job.attempt,
            "statewright.handler": getattr(call.handler, "__qualname__", "handler"),
        }
        span = self.tracer.start("statewright.handler", attributes, parent=self._transition(call))
        return span, _scoped(call, self.tracer, span)

    def called(
        self, call: Call, span: Span | None, result: Done | Failed | None, seconds: float
    ) -> None:
        """``call`` came to ``result`` (None: the worker stopped waiting for it, its lease
        lost) in ``seconds``."""
        job = call.job
        if span is not None:
            if isinstance(result, Done):
                span.set_attribute("statewright.outcome", "ok")
                value = result.value
                fired = value.trigger if isinstance(value, Fire) else value
                if fired is not None and job.hook == "enter":
                    span.set_attribute("statewright.fired", str(fired))
            elif isinstance(result, Failed):
                kind = "timeout" if isinstance(result.error, HandlerTimeout) else "error"
                span.set_attribute("statewright.outcome", kind)
                span.set_attribute("error.type", _error_type(result.error))
                span.failed(result.error)
            else:  # its lease lost, or a caller's mistake (an async handler met unawaited)
                span.set_attribute("statewright.outcome", "abandoned")
            span.end()
        if isinstance(result, Failed):
            log_failed(self.log, call, result.error, seconds, self.worker)
        elif result is not None and self.log.isEnabledFor(logging.DEBUG):
            self.log.debug(
                "%s %s: the %s handler of %s returned",
                self.machine,
                job.instance_id,
                job.hook,
                job.state,
                extra=_call_fields("handler", call, seconds, self.worker),
            )

    # -- what came of an instance -------------------------------------------------------

    def fired(self, instance: str, machine: Any, first: int) -> None:
        """The worker committed a handler's outcome: ``machine``'s records from index
        ``first`` on. Logs their transitions (looked at only when INFO is logged)."""
        if self.log.isEnabledFor(logging.INFO):
            log_fired(self.log, self.machine, instance, machine.audit[first:], self.worker)

    def failure(
        self,
        event: str,
        instance: str,
        error: BaseException,
        attempts: int | None = None,
        retry_at: str | None = None,
    ) -> None:
        """An instance failed: ``event`` is ``retry``, ``gave_up``, ``quarantined``,
        ``lease_lost`` or ``foreign``. Its open transition span, if any, fails with it."""
        open_ = self._open.get(instance)
        if open_ is not None and event != "foreign":
            open_[1].failed(error)
        level = {
            "retry": logging.WARNING,
            "lease_lost": logging.WARNING,
            "foreign": logging.INFO,
        }.get(event, logging.ERROR)
        what = {
            "retry": "failed, retried" + (f" at {retry_at}" if retry_at else ""),
            "gave_up": "its handler's retry policy gave up; its error trigger fires",
            "quarantined": "quarantined",
            "lease_lost": "lease lost, left to whoever holds it",
            "foreign": "runs under a spec version this worker does not hold",
        }[event]
        self.log.log(
            level,
            "%s %s: %s: %s",
            self.machine,
            instance,
            what,
            error,
            exc_info=error if level >= logging.WARNING and event != "lease_lost" else None,
            extra=self._fields(event, instance, attempt=attempts, error=repr(error)),
        )


def _fields(event: str, machine: str, instance: str | None, **more: Any) -> dict[str, Any]:
    """A log record's ``extra``: the fields that apply (None: left out)."""
    fields = {"event": event, "machine": machine, "instance": instance, **more}
    return {k: v for k, v in fields.items() if v is not None}


def _call_fields(
    event: str, call: Call, seconds: float | None, worker: str | None, **more: Any
) -> dict[str, Any]:
    job = call.job
    return _fields(
        event,
        job.machine,
        job.instance_id,
        state=str(job.state),
        trigger=job.record.trigger and str(job.record.trigger),
        seq=job.record.seq,
        hook=str(job.hook),
        key=job.key,
        attempt=job.attempt,
        worker=worker,
        duration_ms=None if seconds is None else round(seconds * 1000, 3),
        **more,
    )


def log_failed(
    log: logging.Logger,
    call: Call,
    error: BaseException,
    seconds: float | None = None,
    worker: str | None = None,
) -> None:
    """Log ``handler_failed``: ``call`` raised ``error`` (WARNING, with the exception)."""
    job = call.job
    log.warning(
        "%s %s: the %s handler of %s failed (attempt %d): %r",
        job.machine,
        job.instance_id,
        job.hook,
        job.state,
        job.attempt,
        error,
        exc_info=error,
        extra=_call_fields("handler_failed", call, seconds, worker, error=repr(error)),
    )


def log_fired(
    log: logging.Logger,
    machine: str,
    instance: str | None,
    records: Sequence[AuditRecord[Any, Any, Any]],
    worker: str | None = None,
) -> None:
    """Log ``transition`` (INFO) for each transition among ``records``, an outcome fired."""
    for record in records:
        if record.trigger is None:
            continue
        log.info(
            "%s %s: %s -> %s by %s",
            machine,
            instance,
            record.from_state,
            record.to_state,
            record.trigger,
            extra=_fields(
                "transition",
                machine,
                instance,
                state=str(record.to_state),
                trigger=str(record.trigger),
                seq=record.seq,
                worker=worker,
            ),
        )


def _scoped(call: Call, tracer: Tracer, span: Span) -> Call:
    """``call`` with its handler run with ``span`` current (awaited, for ``async``)."""
    handler = call.handler

    @functools.wraps(handler)
    def run(job: Any) -> Any:
        with tracer.scope(span):
            value = handler(job)
        if inspect.isawaitable(value):
            return _awaited_in(tracer, span, value)
        return value

    return Call(call.job, run, call.timeout, call.limit)


async def _awaited_in(tracer: Tracer, span: Span, value: Awaitable[Any]) -> Any:
    with tracer.scope(span):
        return await value


def _untraced(watch: WorkerWatch, call: Call, done: Done | Failed, started: float) -> Done | Failed:
    """What ``call`` came to, logged (a failure, or at DEBUG) with no span."""
    if isinstance(done, Failed) or watch.log.isEnabledFor(logging.DEBUG):
        watch.called(call, None, done, time.perf_counter() - started)
    return done


def timed(watch: WorkerWatch, call: Call, make: Callable[[Call], Done | Failed]) -> Done | Failed:
    """Make ``call`` through ``make`` (the worker's own way of calling), traced and logged."""
    if watch.tracer is None:  # the default: the least that logging needs
        started = time.perf_counter()
        return _untraced(watch, call, make(call), started)
    span, scoped = watch.handler_span(call)
    started = time.perf_counter()
    result: Done | Failed | None = None
    try:
        result = make(scoped)
        return result
    finally:
        watch.called(call, span, result, time.perf_counter() - started)


async def atimed(
    watch: WorkerWatch, call: Call, make: Callable[[Call], Awaitable[Done | Failed]]
) -> Done | Failed:
    """:func:`timed` for a call the worker awaits."""
    if watch.tracer is None:
        started = time.perf_counter()
        return _untraced(watch, call, await make(call), started)
    span, scoped = watch.handler_span(call)
    started = time.perf_counter()
    result: Done | Failed | None = None
    try:
        result = await make(scoped)
        return result
    finally:
        watch.called(call, span, result, time.perf_counter() - started)


class RunnerWatch(WorkerWatch):
    """What an in-process runner (:class:`~.runner.Runner`, :class:`~.runner.AsyncRunner`)
    tells its tracer and its logger (``statewright.runner``): a worker's spans less what a
    runner does not do (no round, no claim, no worker id). Its transition and timeout
    spans are children of the span current where the runner is called, if any."""

    def __init__(self, tracer: Tracer | None, machine: str, sha256: str | None) -> None:
        super().__init__(tracer, None, machine, sha256)
        self.log = logging.getLogger("statewright.runner")

    def _round_span(self) -> Span | None:
        return None

    def abandoned(self, instance: str, error: BaseException) -> None:
        """Delivering ``instance``'s records ended in ``error`` (raised to the runner's
        caller, who was told): its open transition span fails and ends."""
        open_ = self._open.pop(instance, None)
        if open_ is not None:
            open_[1].failed(error)
            open_[1].end()
