"""Reading an AWS Step Functions execution history: the JSON ``GetExecutionHistory`` returns.

``aws stepfunctions get-execution-history`` prints ``{"events": [...]}``; each event has
an ``id`` (1, 2, ...), a ``type`` (``TaskStateEntered``, ...), a ``timestamp`` (ISO 8601
text as the CLI prints it, or seconds since the epoch as the SDKs' JSON gives it), the
``previousEventId`` of the event it follows in its thread of the execution, and one
``...EventDetails`` object. A bare list of events (pages joined by hand) is read too.

What cannot be read as a history is one finding of ``sfn-history-invalid`` at the
history file (at the line and column of a JSON syntax error), never an exception; the
events are returned in ``id`` order once they are known to be numbered 1, 2, 3, ... with
timestamps that never go back.

>>> history = read_history_text('{"events": [{"id": 1, "type": "ExecutionStarted", '
...     '"timestamp": "2026-12-03T10:00:00Z", "previousEventId": 0}]}', "h.json")
>>> [(e.id, e.type, e.previous) for e in history.events], history.findings
([(1, 'ExecutionStarted', None)], ())
>>> read_history_text("{", "h.json").findings[0].format()  # doctest: +ELLIPSIS
'h.json:1:2: error[sfn-history-invalid] the execution history is not JSON: ...'
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from statewright.verify.findings import Finding, Severity
from statewright.verify.load.loader import read_file
from statewright.verify.load.values import clip
from statewright.verify.load.yamlread import Mapping as YamlMapping
from statewright.verify.load.yamlread import Sequence as YamlSequence
from statewright.verify.load.yamlread import read_yaml
from statewright.verify.model import Location
from statewright.verify.rules.stepfunctions import HISTORY_INVALID

__all__ = ["Event", "History", "read_history", "read_history_text"]

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]


@dataclass(frozen=True, slots=True)
class Event:
    """One event of a history: its ``id``, ``type``, ``timestamp`` (aware, UTC), the id
    of the event it follows (None for the first, or when not recorded) and its details
    (the one ``...EventDetails`` object, empty if there is none)."""

    id: int
    type: str
    timestamp: datetime
    previous: int | None
    details: Mapping[str, JsonValue] = field(default_factory=dict)

    @property
    def state_name(self) -> str | None:
        """The state a ``...StateEntered`` or ``...StateExited`` event names."""
        name = self.details.get("name")
        return name if isinstance(name, str) else None

    def text(self, key: str) -> str | None:
        value = self.details.get(key)
        return value if isinstance(value, str) else None

    def number(self, key: str) -> float | None:
        value = self.details.get(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value)

    def __str__(self) -> str:
        return f"event {self.id} ({self.type})"


@dataclass(frozen=True, slots=True)
class History:
    """The events of a history in ``id`` order, or none and the finding that says why."""

    file: str
    events: tuple[Event, ...]
    findings: tuple[Finding, ...] = ()


def read_history(path: str | os.PathLike[str], display: str | None = None) -> History:
    """Read the history at ``path``; ``display`` names it in findings."""
    name, data = read_file(path, display, "the execution history")
    if isinstance(data, Finding):
        return History(name, (), (_invalid(name, data.message),))
    return read_history_text(data, name)


def read_history_text(text: str | bytes, file: str = "<history>") -> History:
    """Read a history from its JSON text; ``file`` names it in findings."""
    try:
        raw = json.loads(text)
    except UnicodeDecodeError as error:
        return History(file, (), (_invalid(file, f"the execution history is not UTF-8: {error}"),))
    except json.JSONDecodeError as error:
        message = f"the execution history is not JSON: {error.msg}"
        return History(file, (), (_invalid(file, message, error.lineno, error.colno),))
    except RecursionError:
        return History(file, (), (_invalid(file, "the execution history is nested too deeply"),))
    events = raw.get("events") if isinstance(raw, dict) else raw
    if not isinstance(events, list):
        message = (
            'the file is not an execution history: expected {"events": [...]}, what '
            "`aws stepfunctions get-execution-history` prints"
        )
        return History(file, (), (_invalid(file, message),))
    found: list[Event] = []
    for index, item in enumerate(events):
        event = _event(item)
        if isinstance(event, str):
            where = _position(text, file, index)
            return History(file, (), (_invalid(file, f"event #{index + 1} {event}", *where),))
        found.append(event)
    problem = _order(sorted(found, key=lambda e: e.id), isinstance(raw, dict) and raw)
    if problem is not None:
        message, culprit = problem
        at = next((n for n, e in enumerate(found) if e is culprit), None)
        where = (1, 1) if at is None else _position(text, file, at)
        return History(file, (), (_invalid(file, message, *where),))
    return History(file, tuple(sorted(found, key=lambda e: e.id)))


def _position(text: str | bytes, file: str, index: int) -> tuple[int, int]:
    """The line and column of event ``index`` in the history's text (1, 1 if the
    positioned reader cannot tell): read again, only when a finding needs it."""
    root = read_yaml(text, file).root
    events = root.get("events") if isinstance(root, YamlMapping) else root
    if isinstance(events, YamlSequence) and index < len(events.items):
        node = events.items[index]
        return node.line, node.column
    return 1, 1


def _invalid(file: str, message: str, line: int = 1, column: int = 1) -> Finding:
    return Finding(HISTORY_INVALID, Severity.ERROR, clip(message), Location(file, line, column))


def _event(item: object) -> Event | str:
    """The event ``item`` reads as, or what is wrong with it."""
    if not isinstance(item, dict):
        return "is not a JSON object"
    ident, kind, previous = item.get("id"), item.get("type"), item.get("previousEventId")
    if type(ident) is not int or ident < 1:
        return 'has no "id" (a whole number from 1)'
    if not isinstance(kind, str) or not kind:
        return f'(id {ident}) has no "type"'
    stamp = _timestamp(item.get("timestamp"))
    if stamp is None:
        return f'(id {ident}, {kind}) has no "timestamp" (ISO 8601 text or epoch seconds)'
    if previous is not None and (type(previous) is not int or previous < 0):
        return f'(id {ident}, {kind}) has a "previousEventId" that is not a whole number'
    details = next(
        (v for k, v in item.items() if k.endswith("EventDetails") and isinstance(v, dict)), {}
    )
    return Event(ident, kind, stamp, previous or None, details)


_ISO_ZULU = re.compile(r"[zZ]$")


def _timestamp(value: object) -> datetime | None:
    """An aware UTC time from ISO 8601 text or epoch seconds; None if it is neither."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            if not math.isfinite(value):
                return None
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            stamp = datetime.fromisoformat(_ISO_ZULU.sub("+00:00", value.strip()))
            return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return None


def _order(
    events: list[Event], raw: Mapping[str, object] | bool
) -> tuple[str, Event | None] | None:
    """What is wrong with the numbering and timing of ``events`` (sorted by id), if
    anything, and the event it is about: ids 1, 2, 3, ... with no gap or repeat, time
    never going back."""
    if not events:
        return "the execution history has no events", None
    if isinstance(raw, Mapping) and raw.get("nextToken"):
        message = (
            'the execution history is one page of several ("nextToken" is set): export it '
            "whole (the CLI pages through it unless given --max-items)"
        )
        return message, None
    for number, (event, before) in enumerate(
        zip(events, [None, *events][:-1], strict=True), start=1
    ):
        if event.id != number:
            what = "twice" if before is not None and before.id == event.id else "missing"
            missing = number if what == "missing" else event.id
            message = f"event id {missing} is {what}: the events must be numbered 1, 2, 3, ..."
            return message, event
        if before is not None and event.timestamp < before.timestamp:
            return f"{event} is dated before {before}: timestamps must never go back", event
        if event.previous is not None and event.previous >= event.id:
            message = f'{event} names a later event, {event.previous}, as its "previousEventId"'
            return message, event
    return None
