"""The timings a history is held to, as free functions: each gives the problem, or None.

>>> from datetime import timedelta
>>> [span(timedelta(seconds=s)) for s in (1.5, 42, 6120, 183600, 3600)]
['1.5s', '42s', '1h42m', '2d3h', '1h']
"""

from __future__ import annotations

from datetime import datetime, timedelta

from statewright.verify.conformance.stepfunctions.history import Event
from statewright.verify.conformance.stepfunctions.thread import TIMED_OUT

__all__ = ["early_wait", "heartbeat", "overdue", "span", "task_timeout", "wait_until"]


def span(duration: timedelta) -> str:
    """A duration as messages give it: ``1.5s``, ``42s``, ``1h42m``, ``2d3h``."""
    total = duration.total_seconds()
    if total < 60:
        return f"{round(total, 3):g}s"
    whole, parts = int(total), []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if whole >= size:
            parts.append(f"{whole // size}{unit}")
            whole %= size
    return "".join(parts)


def task_timeout(
    name: str, scheduled: Event, event: Event, limit: float | None, tolerance: timedelta
) -> str | None:
    """A task answered after its ``TimeoutSeconds`` (``limit``) from ``scheduled``, or
    timed out (``States.Timeout``) before it."""
    if limit is None:
        return None
    took, timeout = event.timestamp - scheduled.timestamp, timedelta(seconds=limit)
    if event.type in TIMED_OUT:
        if event.text("error") in (None, "States.Timeout") and took + tolerance < timeout:
            return (
                f"'{name}' timed out {span(took)} after {scheduled}, before its "
                f"TimeoutSeconds ({span(timeout)})"
            )
        return None
    if took > timeout + tolerance:
        return (
            f"'{name}' was answered {span(took)} after {scheduled}, past its "
            f"TimeoutSeconds ({span(timeout)}): it should have failed with States.Timeout"
        )
    return None


def heartbeat(
    name: str, since: Event, event: Event, limit: float | None, tolerance: timedelta
) -> str | None:
    """A task timed out by its heartbeat (``States.HeartbeatTimeout``) sooner than its
    ``HeartbeatSeconds`` (``limit``) after ``since``, when it started. (A late answer
    proves nothing: heartbeats are not recorded.)"""
    if limit is None or event.type not in TIMED_OUT:
        return None
    took = event.timestamp - since.timestamp
    if event.text("error") == "States.HeartbeatTimeout" and took + tolerance < timedelta(
        seconds=limit
    ):
        return (
            f"'{name}' timed out for want of a heartbeat {span(took)} after {since}, "
            f"before its HeartbeatSeconds ({span(timedelta(seconds=limit))})"
        )
    return None


def wait_until(field: str, value: object, entered: datetime) -> datetime | None:
    """When a Wait state whose ``field`` (``SecondsPath``, ``Timestamp``, ...) holds
    ``value`` may end; None when ``value`` says nothing exact."""
    if field.startswith("Seconds"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return entered + timedelta(seconds=value)
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


def early_wait(
    name: str, field: str, entered: Event, exited: Event, until: datetime, tolerance: timedelta
) -> str | None:
    """A Wait state exited before ``until``."""
    if exited.timestamp + tolerance >= until:
        return None
    return (
        f"Wait '{name}' exited {span(exited.timestamp - entered.timestamp)} after it was "
        f"entered, before its {field} ({span(until - entered.timestamp)}) had passed"
    )


def overdue(start: datetime, seconds: int, event: Event, tolerance: timedelta) -> str | None:
    """An event after the execution's ``TimeoutSeconds``, or a time-out before them."""
    limit = start + timedelta(seconds=seconds)
    if event.type == "ExecutionTimedOut":
        if event.timestamp + tolerance < limit:
            return f"the execution timed out before its TimeoutSeconds ({span(limit - start)})"
        return None
    if event.timestamp > limit + tolerance:
        return (
            f"{span(event.timestamp - start)} after the execution started, past its "
            f"TimeoutSeconds ({span(limit - start)}): it should have timed out"
        )
    return None
