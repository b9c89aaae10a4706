"""Recorded runs as plain data: the JSON-lines trace format and the runtime's stored records.

A run is a sequence of :class:`Recorded` records, oldest first. Two sources give them:

- the **trace format** (DESIGN.md, "Checking what really ran"), one JSON object a line,
  which any system can export::

      {"seq": 0, "event": "created", "at": "2026-12-03T10:00:00Z", "state": "IDLE",
       "variables": {...}}
      {"seq": 1, "at": "2026-12-03T10:05:00Z", "trigger": "task_received", "to": "RUNNING",
       "actor": null, "roles": [], "decision": null, "variables": {...}}

  ``event`` is ``created`` (the first line: its ``at`` starts the initial state's
  deadlines), ``transition`` (the default), ``rollback`` (with ``rollback_to``, the seq of
  the record whose state it returns to) or ``context`` (the data changed, the state did
  not). ``variables`` holds values after the record (every variable, or those a system
  records; left out: not checked); ``roles`` the roles of the actor (left out or null: not
  recorded). A line may carry ``"spec"``: the sha256 of the spec it ran under (a prefix of
  at least 8 hex digits will do);
- the **records the generated runtime stores** (:func:`stored_run`), whose transitions
  hold only the variables they changed: they are carried forward into every value.

:func:`trace_lines` writes the trace format; :func:`read_trace` reads it, each line that
is not a record as a :class:`TraceError` naming its line. Standard library only; no I/O
but the reading of lines handed in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from statewright.verify.model import Value

__all__ = [
    "EVENTS",
    "Recorded",
    "StoredRun",
    "TraceError",
    "read_trace",
    "stored_run",
    "trace_line",
    "trace_lines",
]

EVENTS = (
    "created",
    "transition",
    "rollback",
    "context",
    "migrated",
    "approval",
    "escalation",
    "bound",
    "cancelled",
)
"""What a record records."""


@dataclass(slots=True)
class Recorded:
    """One record of a run, whatever recorded it.

    ``state`` is the state after the record (for ``created``, the state the run began in);
    ``source`` the state before it when the record says so (the runtime's records do, a
    trace need not). ``roles`` is None when the system did not record the actor's roles,
    ``variables`` None when it recorded no values; ``line`` is the record's line in a
    trace file (0 for a stored record).

    A class with slots, read as it was made: an audit reads a dozen of its fields at
    every record of a store, and a slot is read several times faster than a named
    tuple's field (:meth:`StoredRun.read` fills one in without a call of ``__init__``).
    """

    seq: int
    at: datetime
    event: str
    state: str
    trigger: str | None = None
    source: str | None = None
    actor: str | None = None
    roles: tuple[str, ...] | None = None
    decision: str | None = None
    variables: Mapping[str, Value] | None = None
    rollback_to: int | None = None
    spec: str | None = None
    line: int = 0
    digest: str | None = None
    """The digest an approval gate bound (``bound``) or an approval names (``approval``)."""


class TraceError(ValueError):
    """A line of a trace that is no record: ``line`` says which, the message what is wrong."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
        self.line = line
        self.reason = message


def read_trace(lines: Iterable[str]) -> Iterator[Recorded | TraceError]:
    """The records of a trace, one per non-blank line, or a :class:`TraceError` for a
    line that is not one (reading goes on: every bad line is named)."""
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as error:
            yield TraceError(number, f"not JSON ({error})")
            continue
        try:
            yield _trace_record(data, number)
        except (ValueError, TypeError) as error:
            yield TraceError(number, str(error))


def _trace_record(data: object, line: int) -> Recorded:
    if not isinstance(data, dict):
        raise TypeError("a record is a JSON object")
    event = data.get("event", "transition")
    if event not in EVENTS:
        raise ValueError(f"event must be one of {', '.join(EVENTS)}, not {event!r}")
    state = data.get("state" if event == "created" else "to")
    if not isinstance(state, str):
        key = "state" if event == "created" else "to"
        raise ValueError(f"a {event} record names its state in {key!r} (a string)")
    trigger = _optional(data, "trigger", str)
    if event == "transition" and trigger is None:
        raise ValueError("a transition record names its trigger")
    roles = data.get("roles")
    if roles is not None and not (
        isinstance(roles, list) and all(isinstance(role, str) for role in roles)
    ):
        raise ValueError(f"roles must be a list of strings, not {roles!r}")
    return Recorded(
        seq=_integer(data.get("seq"), "seq"),
        at=instant(data.get("at")),
        event=event,
        state=state,
        trigger=trigger,
        source=_optional(data, "from", str),
        actor=_optional(data, "actor", str),
        roles=None if roles is None else tuple(roles),
        decision=_optional(data, "decision", str),
        variables=_variables(data.get("variables")),
        rollback_to=None
        if data.get("rollback_to") is None
        else _integer(data["rollback_to"], "rollback_to"),
        spec=_optional(data, "spec", str),
        line=line,
        digest=_optional(data, "digest", str),
    )


def _optional(data: Mapping[str, object], key: str, kind: type[str]) -> str | None:
    value = data.get(key)
    if value is None or isinstance(value, kind):
        return value
    raise ValueError(f"{key} must be a string or null, not {value!r}")


def _integer(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, not {value!r}")
    return value


def _variables(value: object) -> Mapping[str, Value] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        isinstance(item, (bool, int, str)) for item in value.values()
    ):
        raise ValueError(f"variables must be an object of numbers, booleans and strings: {value!r}")
    return value


def instant(value: object) -> datetime:
    """An ISO 8601 time with a UTC offset (``Z`` too), as records write ``at``."""
    if not isinstance(value, str):
        raise ValueError(f"at must be an ISO 8601 time, not {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise ValueError(f"at must be an ISO 8601 time, not {value!r}") from error
    if moment.tzinfo is None:
        raise ValueError(f"at must carry a UTC offset, not {value!r}")
    return moment


_from_iso = datetime.fromisoformat

_new_recorded = object.__new__
"""An empty :class:`Recorded`, for :meth:`StoredRun.read` to fill in field by field (no
Python call per record)."""


class StoredRun:
    """Reads the records the generated runtime stores for one instance (the JSON objects
    of :meth:`AuditRecord.as_json`), oldest first, into :class:`Recorded` records; a
    transition's changed variables are carried into the values of every variable."""

    __slots__ = ("values",)

    def __init__(self) -> None:
        self.values: dict[str, Value] | None = None

    def read(self, data: Mapping[str, object]) -> Recorded:
        """The record ``data`` holds; ``ValueError`` if it is none.

        The path every stored record takes, so it is written out: the keys every stored
        record has read by subscript, a check of each one's type, one parse of ``at``, and
        the values shared with the record before when a transition changed none."""
        try:
            event, state, source = data["event"], data["to_state"], data["from_state"]
            trigger, actor, decision = data["trigger"], data["actor"], data["decision"]
            seq, back, at = data["seq"], data["rollback_to"], data["at"]
        except KeyError as error:
            raise ValueError(f"a stored record has the key {error}") from None
        if event not in EVENTS:
            raise ValueError(f"event must be one of {', '.join(EVENTS)}, not {event!r}")
        if type(state) is not str or type(source) is not str:
            raise ValueError("a stored record names its from_state and to_state")
        if (
            (trigger is not None and type(trigger) is not str)
            or (actor is not None and type(actor) is not str)
            or (decision is not None and type(decision) is not str)
        ):
            raise ValueError(
                f"trigger, actor and decision are strings or null, not {trigger!r}, "
                f"{actor!r}, {decision!r}"
            )
        if type(seq) is not int or (back is not None and type(back) is not int):
            raise ValueError(f"seq and rollback_to must be integers, not {seq!r}, {back!r}")
        get = data.get
        changed = get("variables")
        if changed is not None:
            changed = _variables(changed)
            assert changed is not None
            if event in ("created", "rollback", "migrated") or self.values is None:
                self.values = dict(changed)
            else:
                self.values = {**self.values, **changed}
        try:  # instant(), written out
            moment = _from_iso(at) if type(at) is str else instant(at)
        except ValueError:
            moment = instant(at)  # says what is wrong
        if moment.tzinfo is None:
            instant(at)
        roles, spec, extra = get("roles"), get("spec"), get("data")
        record: Recorded = _new_recorded(Recorded)
        record.seq = seq
        record.at = moment
        record.event = event
        record.state = state
        record.trigger = trigger
        record.source = source
        record.actor = actor
        record.roles = tuple(roles) if type(roles) is list else None
        record.decision = decision
        record.variables = self.values
        record.rollback_to = back
        record.spec = spec if type(spec) is str else None
        record.line = 0
        record.digest = _digest(extra) if extra else None  # a gate's records alone hold data
        return record


def _digest(data: object) -> str | None:
    """The digest a stored gate record's data holds, or None."""
    digest = data.get("digest") if isinstance(data, dict) else None
    return digest if isinstance(digest, str) else None


def stored_run(records: Iterable[Mapping[str, object]]) -> Iterator[Recorded]:
    """The :class:`Recorded` records of one instance's stored records, oldest first."""
    reader = StoredRun()
    for data in records:
        yield reader.read(data)


def trace_line(record: Recorded) -> str:
    """``record`` as one line of the trace format (no newline)."""
    found: dict[str, object] = {"seq": record.seq, "at": record.at.isoformat()}
    if record.event == "created":
        found["event"] = "created"
        found["state"] = record.state
    else:
        if record.event != "transition":
            found["event"] = record.event
        found["trigger"] = record.trigger
        found["from"] = record.source
        found["to"] = record.state
        found["actor"] = record.actor
        found["roles"] = None if record.roles is None else list(record.roles)
        found["decision"] = record.decision
        if record.rollback_to is not None:
            found["rollback_to"] = record.rollback_to
    if record.variables is not None:
        found["variables"] = dict(record.variables)
    if record.spec is not None:
        found["spec"] = record.spec
    if record.digest is not None:
        found["digest"] = record.digest
    return json.dumps(found, ensure_ascii=False)


def trace_lines(records: Iterable[Recorded]) -> Iterator[str]:
    """Every record as a line of the trace format, with its newline."""
    for record in records:
        yield trace_line(record) + "\n"
