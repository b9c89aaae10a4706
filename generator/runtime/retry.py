"""Retry policies for handlers: how often, how long apart, which errors, how long a call.

A handler registered with ``retry=Retry(...)`` (``on_enter``, ``on_approval``,
``on_leave``) is retried by the durable worker (:mod:`.worker`) as its policy says, and
only that handler: the handlers of the same record that already ran are not run again.
When the policy gives up (its attempts are spent, or an error it does not retry), an
``on_enter`` handler with an ``error`` trigger fires it, with a payload that says why and
holds every attempt's error (the failure snapshot is the dead letter); any other handler's
instance is quarantined at once, with the same account as its error.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import timedelta

__all__ = ["HandlerTimeout", "Retry"]


class HandlerTimeout(TimeoutError):
    """A handler call ran past its policy's ``timeout``; the worker stopped waiting for it
    (an ``async`` call is cancelled, a plain one is left to finish on its thread, its
    result ignored)."""


@dataclass(frozen=True, slots=True)
class Retry:
    """How a failing handler is retried.

    ``attempts`` is how many calls in all (the first one included) before giving up;
    the wait before the ``n + 1``-th call is ``backoff * factor**(n - 1)``, at most
    ``max_backoff``, shortened by a random part of up to ``jitter`` of it (0: every
    instance retries in step; 1: anywhere between nothing and the full wait). An error
    is retried if it is one of ``retry_on`` and none of ``give_up_on``; any other gives up
    at once. ``timeout`` bounds each call (None: no bound): a call that runs longer fails
    with :class:`HandlerTimeout`, which is retried like any error unless ``give_up_on``
    names it.
    """

    attempts: int = 5
    backoff: timedelta = timedelta(seconds=1)
    factor: float = 2.0
    max_backoff: timedelta = timedelta(minutes=5)
    jitter: float = 0.5
    retry_on: tuple[type[BaseException], ...] = field(default=(Exception,))
    give_up_on: tuple[type[BaseException], ...] = field(default=())
    timeout: timedelta | None = None

    def __post_init__(self) -> None:
        if isinstance(self.attempts, bool) or not isinstance(self.attempts, int):
            raise TypeError(f"Retry(attempts=...) is a whole number, not {self.attempts!r}")
        if self.attempts < 1:
            raise ValueError(f"Retry(attempts=...) is at least 1, not {self.attempts}")
        for name in ("backoff", "max_backoff"):
            value = getattr(self, name)
            if not isinstance(value, timedelta) or value < timedelta(0):
                raise ValueError(f"Retry({name}=...) is a timedelta of 0 or more, not {value!r}")
        if self.timeout is not None and (
            not isinstance(self.timeout, timedelta) or self.timeout <= timedelta(0)
        ):
            raise ValueError(f"Retry(timeout=...) is a positive timedelta, not {self.timeout!r}")
        if not self.factor >= 1.0:
            raise ValueError(f"Retry(factor=...) is at least 1, not {self.factor!r}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"Retry(jitter=...) lies in [0, 1], not {self.jitter!r}")
        for name in ("retry_on", "give_up_on"):
            kinds = getattr(self, name)
            if not isinstance(kinds, tuple) or not all(
                isinstance(k, type) and issubclass(k, BaseException) for k in kinds
            ):
                raise TypeError(f"Retry({name}=...) is a tuple of exception classes")

    def delay(self, failures: int, draw: float) -> timedelta:
        """The wait after ``failures`` failed calls (1 or more), given ``draw`` in [0, 1]."""
        base, longest = self.backoff.total_seconds(), self.max_backoff.total_seconds()
        try:
            grown = base * self.factor ** max(failures - 1, 0)
        except OverflowError:  # any number of failures is safe
            grown = math.inf
        seconds = min(grown, longest) if base else 0.0
        return timedelta(seconds=seconds * (1.0 - self.jitter * min(max(draw, 0.0), 1.0)))

    def gives_up(self, error: BaseException, failures: int) -> str | None:
        """Why the policy stops after ``error``, the ``failures``-th failed call; None to
        retry."""
        name = type(error).__name__
        if isinstance(error, self.give_up_on) or not isinstance(error, self.retry_on):
            return f"{name} is not retried"
        if failures >= self.attempts:
            calls = "call" if self.attempts == 1 else "calls"
            return f"gave up after {self.attempts} {calls}"
        return None

    @property
    def timeout_seconds(self) -> float | None:
        """``timeout`` in seconds, or None."""
        return None if self.timeout is None else self.timeout.total_seconds()
