"""OpenTelemetry spans for a durable worker (``statewright[otel]``).

:class:`OtelTracer` is the runtime's :class:`~statewright.generator.runtime.observe.Tracer`
made with the OpenTelemetry API: give it to a worker and it opens a span per round that
found work, per claim, per record delivered (``statewright.transition``) and per handler
call (``statewright.handler``, a child of its record's span), as
:mod:`statewright.generator.runtime.observe` describes::

    from statewright.generator.integrations.otel import OtelTracer

    worker = Worker(store, handlers, tracer=OtelTracer())

The spans go to the tracer provider the application set up
(``opentelemetry.trace.set_tracer_provider``), or to ``tracer_provider=``. While a handler
runs its span is the current one, so ``opentelemetry.trace.get_current_span()`` in the
handler is its span, and an instrumented HTTP client (or
``opentelemetry.propagate.inject(headers)``) carries its context to the model provider.

Needs the ``otel`` extra: ``pip install 'statewright[otel]'``. The generated runtime
never imports this module: a worker without ``tracer=`` imports nothing of OpenTelemetry.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

try:
    from opentelemetry import context as otel_context
    from opentelemetry import trace
except ImportError as error:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "statewright.generator.integrations.otel needs OpenTelemetry: "
        "pip install 'statewright[otel]'"
    ) from error

from statewright.generator.runtime.observe import Attribute

__all__ = ["OtelSpan", "OtelTracer"]

INSTRUMENTATION = "statewright"
"""The instrumentation scope the spans are reported under."""


class OtelSpan:
    """An OpenTelemetry span, as the runtime's :class:`~.observe.Span`."""

    __slots__ = ("span",)

    def __init__(self, span: trace.Span) -> None:
        self.span = span

    def set_attribute(self, key: str, value: Attribute) -> None:
        """Set one attribute."""
        self.span.set_attribute(key, value)

    def failed(self, error: BaseException) -> None:
        """Record ``error`` on the span (an ``exception`` event) and give it error status."""
        self.span.record_exception(error)
        self.span.set_status(
            trace.Status(trace.StatusCode.ERROR, f"{type(error).__name__}: {error}")
        )

    def end(self, end_ns: int | None = None) -> None:
        """End the span, now or at ``end_ns`` (nanoseconds since the epoch)."""
        self.span.end(end_time=end_ns)


class OtelTracer:
    """The runtime's :class:`~.observe.Tracer` on OpenTelemetry: spans from ``tracer``,
    or from a tracer of ``tracer_provider`` (default: the global one)."""

    def __init__(
        self,
        tracer: trace.Tracer | None = None,
        *,
        tracer_provider: trace.TracerProvider | None = None,
    ) -> None:
        self.tracer = tracer or trace.get_tracer(INSTRUMENTATION, tracer_provider=tracer_provider)

    def start(
        self,
        name: str,
        attributes: Mapping[str, Attribute],
        *,
        parent: object | None = None,
        start_ns: int | None = None,
    ) -> OtelSpan:
        """Start span ``name``: a child of ``parent`` (a span this tracer started), else of
        the current span; at ``start_ns`` (a round's span is opened once it finds work,
        dated from when the round began)."""
        context = None if parent is None else trace.set_span_in_context(_span(parent))
        span = self.tracer.start_span(
            name, context=context, attributes=dict(attributes), start_time=start_ns
        )
        return OtelSpan(span)

    @contextlib.contextmanager
    def scope(self, span: object) -> Iterator[None]:
        """Make ``span`` the current span (OpenTelemetry's context) while the block runs."""
        token = otel_context.attach(trace.set_span_in_context(_span(span)))
        try:
            yield
        finally:
            otel_context.detach(token)


def _span(span: object) -> trace.Span:
    if not isinstance(span, OtelSpan):
        raise TypeError(f"an OtelTracer takes the spans it started, not {span!r}")
    return span.span
