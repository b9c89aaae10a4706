"""What a machine records and refuses: actors, audit records, failure snapshots, errors.

Every value a caller hands a machine (an actor, a decision, a payload, context data) is
checked here before anything changes, so that a refused call leaves the instance whole.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from types import TracebackType
from typing import Any, Generic, NamedTuple, TypeAlias, TypeVar

__all__ = [
    "Actor",
    "AuditRecord",
    "Clock",
    "Event",
    "FailureSnapshot",
    "InvalidTransition",
    "JSONValue",
    "Locked",
    "Refused",
    "Unauthorized",
]

JSONValue: TypeAlias = "bool | int | float | str | list[JSONValue] | dict[str, JSONValue] | None"
"""The machine's data: what JSON can hold."""

Clock: TypeAlias = Callable[[], datetime]
"""Returns the current time, an aware UTC ``datetime``."""

utc_now: Clock = partial(datetime.now, UTC)

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)


class Refused(Exception):
    """The machine refused a request and changed nothing."""


class InvalidTransition(Refused):
    """The trigger is not allowed in the current state (or a replayed record is not)."""


class Unauthorized(Refused):
    """A human action without an actor holding a permitted role, or without a decision."""


class Locked(Refused):
    """An approval state holds: only its human and timed exits can change the machine."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Whoever fires a trigger: an id for the audit log and the roles the actor holds.

    The id is a non-empty string; ``roles`` a frozenset of non-empty strings (a set, list
    or tuple of them is taken as one). Anything else raises ``TypeError`` at once.
    """

    id: str
    roles: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id.strip():
            raise TypeError(f"an actor needs a non-empty string id, not {self.id!r}")
        roles: object = self.roles
        if isinstance(roles, (set, list, tuple)):
            roles = frozenset(roles)
            object.__setattr__(self, "roles", roles)
        if not isinstance(roles, frozenset) or not all(
            isinstance(role, str) and role.strip() for role in roles
        ):
            raise TypeError(
                f"an actor's roles are a frozenset of non-empty strings, not {self.roles!r}"
            )


class Event(StrEnum):
    """What an audit record records."""

    CREATED = "created"
    """The instance came into being in its initial state; ``data`` is its context."""

    TRANSITION = "transition"
    """A trigger took a transition; ``data`` is the payload when it entered a failed state."""

    ROLLBACK = "rollback"
    """A person returned the instance to the state after record ``rollback_to``."""

    CONTEXT = "context"
    """The context changed; ``data`` holds the values merged into it."""


class AuditRecord(NamedTuple, Generic[S, T, R]):
    """One entry of the audit log, numbered from 1; the log alone rebuilds an instance.

    ``trigger`` is set on transitions only. ``actor`` is the id of the person (or agent)
    who acted, ``decision`` a human's decision record; ``reason`` is the failure reason
    in force in ``to_state`` (None outside failed states). For a machine with variables,
    ``variables`` holds every value on the created record and on a rollback, and the
    values a transition's effects changed (None when they changed none); the JSON of a
    record leaves the key out when it is None.
    """

    seq: int
    at: datetime
    from_state: S
    to_state: S
    trigger: T | None = None
    actor: str | None = None
    decision: str | None = None
    reason: R | None = None
    rollback_to: int | None = None
    event: Event = Event.TRANSITION
    data: JSONValue = None
    variables: dict[str, JSONValue] | None = None

    def as_json(self) -> dict[str, JSONValue]:
        """The record as a JSON object (``at`` in ISO 8601)."""
        found: dict[str, JSONValue] = {
            "seq": self.seq,
            "at": self.at.isoformat(),
            "event": self.event.value,
            "from_state": self.from_state.value,
            "to_state": self.to_state.value,
            "trigger": None if self.trigger is None else self.trigger.value,
            "actor": self.actor,
            "decision": self.decision,
            "reason": None if self.reason is None else self.reason.value,
            "rollback_to": self.rollback_to,
            "data": self.data,
        }
        if self.variables is not None:
            found["variables"] = self.variables
        return found

    def to_json(self) -> str:
        """The record as one line of JSON."""
        return json.dumps(self.as_json())


RECORD_KEYS = frozenset(AuditRecord._fields) - {"variables"}


def record_from_json(
    data: object, states: type[S], triggers: type[T], reasons: type[R]
) -> AuditRecord[S, T, R]:
    """The record :meth:`AuditRecord.as_json` wrote; ``ValueError`` on anything else."""
    if not isinstance(data, dict) or set(data) - {"variables"} != RECORD_KEYS:
        raise ValueError(
            f"an audit record has exactly the keys {sorted(RECORD_KEYS)} (and variables)"
        )
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise ValueError(f"variables must be a JSON object, not {variables!r}")
    trigger, reason, rollback_to = data["trigger"], data["reason"], data["rollback_to"]
    return AuditRecord(
        seq=_integer(data["seq"], "seq"),
        at=_instant(data["at"]),
        from_state=states(data["from_state"]),
        to_state=states(data["to_state"]),
        trigger=None if trigger is None else triggers(trigger),
        actor=_optional_text(data["actor"], "actor"),
        decision=_optional_text(data["decision"], "decision"),
        reason=None if reason is None else reasons(reason),
        rollback_to=None if rollback_to is None else _integer(rollback_to, "rollback_to"),
        event=Event(data["event"]),
        data=storable(data["data"], "data"),
        variables=None if variables is None else storable_mapping(variables, "variables"),
    )


def _integer(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key} must be an integer, not {value!r}")
    return value


def _text(value: object, key: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{key} must be a string, not {value!r}")
    return value


def _optional_text(value: object, key: str) -> str | None:
    return None if value is None else _text(value, key)


def _instant(value: object) -> datetime:
    moment = datetime.fromisoformat(_text(value, "at"))
    if moment.tzinfo is None:
        raise ValueError(f"at must carry a UTC offset, not {value!r}")
    return moment


@dataclass(frozen=True, slots=True)
class FailureSnapshot(Generic[S, T, R]):
    """Taken on entering a failed state: what was left, why, the input and the data."""

    seq: int
    from_state: S
    to_state: S
    trigger: T
    reason: R | None
    payload: JSONValue
    context: dict[str, JSONValue]
    variables: Any = None
    """The machine's ``Variables`` at that moment (None without variables)."""


# -- checking what callers hand in ------------------------------------------------------


def check_actor(actor: object, *, required: bool, where: str) -> Actor | None:
    """``actor`` if it is a well-formed :class:`Actor` (or None where none is required)."""
    if actor is None:
        if required:
            raise Unauthorized(f"{where} needs an actor: pass actor=Actor(id, roles)")
        return None
    if not isinstance(actor, Actor):
        raise TypeError(
            f"{where}: actor must be an Actor, not {type(actor).__name__} {actor!r}; "
            f"write actor=Actor({actor!r}, frozenset({{'role'}}))"
        )
    return actor  # an Actor checks its own id and roles


def check_decision(decision: object, *, where: str) -> str:
    """``decision`` if it is a non-blank string: a human's decision record."""
    if decision is None:
        raise Unauthorized(f"{where} needs a decision record: pass decision='...'")
    if not isinstance(decision, str):
        raise TypeError(f"{where}: decision must be a string, not {type(decision).__name__}")
    if not decision.strip():
        raise Unauthorized(f"{where} needs a decision record, not a blank string")
    return decision


def storable(value: object, what: str) -> JSONValue:
    """``value`` as JSON data, the form every record and store keeps.

    An exception or a traceback becomes its formatted text (what a recovery procedure
    reads); any other value JSON cannot hold raises ``TypeError``.
    """
    try:
        text = json.dumps(value, default=_render, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} must be JSON data: {error}") from error
    loaded: JSONValue = json.loads(text)
    return loaded


def storable_mapping(values: Mapping[str, object], what: str) -> dict[str, JSONValue]:
    """A mapping of JSON data with string keys, copied."""
    if not isinstance(values, Mapping):
        raise TypeError(f"{what} must be a mapping, not {type(values).__name__}")
    if not all(isinstance(key, str) for key in values):
        raise TypeError(f"{what} must have string keys")
    copied = storable(dict(values), what)
    assert isinstance(copied, dict)
    return copied


def _render(value: Any) -> str:
    if isinstance(value, BaseException):
        return "".join(traceback.format_exception(value))
    if isinstance(value, TracebackType):
        return "".join(traceback.format_tb(value))
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON data")
