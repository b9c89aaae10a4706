"""What a machine records and refuses: actors, audit records, failure snapshots, errors.

Every value a caller hands a machine (an actor, a decision, a payload, context data) is
checked here before anything changes, so that a refused call leaves the instance whole.
"""

from __future__ import annotations

import copy
import json
import traceback
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from types import TracebackType
from typing import Any, Final, Generic, NamedTuple, TypeAlias, TypeVar

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "Actor",
    "AuditRecord",
    "Cancelled",
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

MAX_JSON_DEPTH: Final = 64
"""How deeply a value a caller hands in to be stored (a context, the values merged into
it, a payload) may nest lists and objects: ``{"a": [1]}`` nests 2 deep."""

MAX_JSON_BYTES: Final = 1_048_576
"""The largest such a value may be as JSON text (:func:`json_text`: ``json.dumps``, in
UTF-8), in bytes; the context as a whole, after every merge, too. A decision and an
actor's id are held to it as well."""

utc_now: Clock = partial(datetime.now, UTC)

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)
_V = TypeVar("_V")


class Refused(Exception):
    """The machine refused a request and changed nothing."""


class InvalidTransition(Refused):
    """The trigger is not allowed in the current state (or a replayed record is not)."""


class Unauthorized(Refused):
    """A human action without an actor holding a permitted role, or without a decision."""


class Locked(Refused):
    """An approval state holds: only its human and timed exits can change the machine."""


class Cancelled(Refused):
    """The run was cancelled (its last record is ``cancelled``): it is closed, and nothing
    changes it again."""


class RollbackLimit(Refused):
    """The run has taken the most rollbacks its spec allows (``rollback: {max: N}``)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Whoever fires a trigger: an id for the audit log and the roles the actor holds.

    The id is a non-empty string; ``roles`` a frozenset of non-empty strings (a set, list
    or tuple of them is taken as one). Anything else raises ``TypeError`` at once.
    """

    id: str
    roles: frozenset[str] = frozenset()
    signer: Callable[[bytes], str] | None = field(default=None, compare=False, repr=False)
    """Signs this actor's human decisions (:mod:`.signing`): called with the bytes of the
    record about to be stored, it returns the signature kept with it. None: unsigned."""

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or blank(self.id):
            raise TypeError(f"an actor needs a non-empty string id, not {self.id!r}")
        json_size(self.id, "an actor's id")
        roles: object = self.roles
        if isinstance(roles, (set, list, tuple)):
            roles = frozenset(roles)
            object.__setattr__(self, "roles", roles)
        if not isinstance(roles, frozenset) or not all(
            isinstance(role, str) and not blank(role) for role in roles
        ):
            raise TypeError(
                f"an actor's roles are a frozenset of non-empty strings, not {self.roles!r}"
            )
        if self.signer is not None and not callable(self.signer):
            raise TypeError(f"an actor's signer is a function of bytes, not {self.signer!r}")


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

    MIGRATED = "migrated"
    """The instance moved to another version of its spec (:mod:`.versions`): ``data``
    holds the old and new hashes and the mapping, ``variables`` every value after it."""
    APPROVAL = "approval"
    """An approval counted toward an approval gate's quorum, the gate staying: ``trigger``
    is the approve exit it names, ``actor`` and ``decision`` the person's; ``data`` holds
    ``approvals`` (counted so far, this one included), ``quorum`` and, for a bound gate,
    the ``digest`` it approved."""

    ESCALATION = "escalation"
    """An approval gate escalated, stamped at its due time; ``data`` holds the ``roles``
    that joined its reviewers."""

    BOUND = "bound"
    """A ``bind: context`` gate was entered: ``data`` holds the ``digest`` of the context
    an approval names."""

    CANCELLED = "cancelled"
    """An operator cancelled the run, in the state it rested in: ``actor`` (with the
    ``roles`` held) cancelled it, ``decision`` says why. The run's last record: nothing
    follows it (:mod:`.cancel`)."""


_new: Final = tuple.__new__
_CREATED: Final = Event.CREATED
_TRANSITION: Final = Event.TRANSITION
_ROLLBACK: Final = Event.ROLLBACK
_CONTEXT: Final = Event.CONTEXT


class AuditRecord(NamedTuple, Generic[S, T, R]):
    """One entry of the audit log, numbered from 1; the log alone rebuilds an instance.

    ``trigger`` is set on transitions only. ``actor`` is the id of the person (or agent)
    who acted, ``decision`` a human's decision record; ``reason`` is the failure reason
    in force in ``to_state`` (None outside failed states). For a machine with variables,
    ``variables`` holds every value on the created record and on a rollback, and the
    values a transition's effects changed (None when they changed none); the JSON of a
    record leaves the key out when it is None. ``roles`` holds the roles the actor held
    on a human step or a rollback (sorted), and ``spec_sha256`` the sha256 of the spec the
    instance runs under, on the created record: what ``statewright audit check`` holds a
    stored run to (both None elsewhere, and on records written before they were kept; the
    JSON leaves them out then, so older chains hash as they did).

    Build one with the constructor of its event, which names what that event records:
    :meth:`created`, :meth:`transition`, :meth:`rollback`, :meth:`context_change`.
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
    roles: tuple[str, ...] | None = None
    spec_sha256: str | None = None
    signature: str | None = None
    """The decision's signature by its actor (:mod:`.signing`), for a human decision made
    by an actor with a signing key; left out of the JSON when None."""

    # -- named construction: one constructor an event, naming what it records ----------
    #
    # Each builds the tuple with ``tuple.__new__`` rather than by calling the class with
    # keywords, the one place records are built so: the keyword ``__new__`` NamedTuple
    # generates is a second Python call with twelve arguments to bind. Counted under
    # cachegrind on the cycle of ``benchmarks/bench_runtime.py``, a plain ``step()``
    # whose record is built by ``transition`` below takes 12,300 instructions, and 18,000
    # when ``transition`` calls the class (10,100 when the engine writes the tuple inline,
    # which its one hottest path does).

    @classmethod
    def created(
        cls,
        *,
        at: datetime,
        state: S,
        context: JSONValue,
        variables: dict[str, JSONValue] | None,
        spec_sha256: str | None = None,
    ) -> AuditRecord[S, T, R]:
        """Record 1: the instance came into being in ``state`` with ``context`` (and, for
        a machine with variables, every value) under the spec hashed ``spec_sha256``."""
        fields = (1, at, state, state, None, None, None, None, None, _CREATED, context, variables)
        return _new(cls, (*fields, None, spec_sha256, None))

    @classmethod
    def transition(
        cls,
        seq: int,
        *,
        at: datetime,
        from_state: S,
        to_state: S,
        trigger: T,
        actor: str | None = None,
        decision: str | None = None,
        reason: R | None = None,
        data: JSONValue = None,
        variables: dict[str, JSONValue] | None = None,
        roles: tuple[str, ...] | None = None,
    ) -> AuditRecord[S, T, R]:
        """Record ``seq``: ``trigger`` took the machine from ``from_state`` to
        ``to_state`` (``data`` is the payload on entering a failed state, ``variables``
        the values the transition's effect changed, ``roles`` the actor's on a human
        step)."""
        fields = (
            seq,
            at,
            from_state,
            to_state,
            trigger,
            actor,
            decision,
            reason,
            None,
            _TRANSITION,
            data,
            variables,
            roles,
            None,
            None,
        )
        return _new(cls, fields)

    @classmethod
    def rollback(
        cls,
        seq: int,
        *,
        at: datetime,
        from_state: S,
        to_state: S,
        rollback_to: int,
        actor: str | None,
        decision: str | None,
        reason: R | None,
        variables: dict[str, JSONValue] | None,
        roles: tuple[str, ...] | None = None,
    ) -> AuditRecord[S, T, R]:
        """Record ``seq``: a person (holding ``roles``) returned the instance to
        ``to_state``, the state after record ``rollback_to`` (with its failure reason and,
        with variables, every value)."""
        fields = (
            seq,
            at,
            from_state,
            to_state,
            None,
            actor,
            decision,
            reason,
            rollback_to,
            _ROLLBACK,
            None,
            variables,
            roles,
            None,
            None,
        )
        return _new(cls, fields)

    @classmethod
    def context_change(
        cls,
        seq: int,
        *,
        at: datetime,
        state: S,
        actor: str | None,
        reason: R | None,
        data: dict[str, JSONValue],
    ) -> AuditRecord[S, T, R]:
        """Record ``seq``: ``data`` was merged into the context in ``state`` (whose failure
        reason, if any, stays ``reason``)."""
        fields = (seq, at, state, state, None, actor, None, reason, None, _CONTEXT, data, None)
        return _new(cls, (*fields, None, None, None))

    @classmethod
    def cancelled(
        cls,
        seq: int,
        *,
        at: datetime,
        state: S,
        actor: str,
        decision: str,
        reason: R | None,
        roles: tuple[str, ...],
    ) -> AuditRecord[S, T, R]:
        """Record ``seq``: ``actor`` (holding ``roles``) cancelled the run in ``state``
        (whose failure reason, if any, stays ``reason``) for the reason ``decision``."""
        fields = (seq, at, state, state, None, actor, decision, reason, None, Event.CANCELLED)
        return _new(cls, (*fields, None, None, roles, None, None))

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
        if self.roles is not None:
            found["roles"] = list(self.roles)
        if self.spec_sha256 is not None:
            found["spec"] = self.spec_sha256
        if self.signature is not None:
            found["signature"] = self.signature
        return found

    def to_json(self) -> str:
        """The record as one line of JSON."""
        return json.dumps(self.as_json())


RECORD_KEYS = frozenset(AuditRecord._fields) - {"variables", "roles", "spec_sha256", "signature"}
"""The keys of every record's JSON."""

OPTIONAL_KEYS = frozenset({"variables", "roles", "spec", "signature"})
"""The keys a record's JSON holds only when they are set (none of them in records
written before they were kept)."""


def record_from_json(
    data: object, states: type[S], triggers: type[T], reasons: type[R]
) -> AuditRecord[S, T, R]:
    """The record :meth:`AuditRecord.as_json` wrote; ``ValueError`` on anything else."""
    if not isinstance(data, dict) or set(data) - OPTIONAL_KEYS != RECORD_KEYS:
        raise ValueError(
            f"an audit record has exactly the keys {sorted(RECORD_KEYS)} "
            f"(and {', '.join(sorted(OPTIONAL_KEYS))})"
        )
    variables = data.get("variables")
    if variables is not None and not isinstance(variables, dict):
        raise ValueError(f"variables must be a JSON object, not {variables!r}")
    roles, spec_sha256 = data.get("roles"), data.get("spec")
    if roles is not None and not (
        isinstance(roles, list) and all(isinstance(role, str) for role in roles)
    ):
        raise ValueError(f"roles must be a list of strings, not {roles!r}")
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
        roles=None if roles is None else tuple(roles),
        spec_sha256=_optional_text(spec_sha256, "spec"),
        signature=_optional_text(data.get("signature"), "signature"),
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
    if blank(decision):
        raise Unauthorized(
            f"{where} needs a decision record, not a blank string "
            "(whitespace and invisible characters only)"
        )
    json_size(decision, f"{where}: the decision")
    return decision


_INVISIBLE: Final = frozenset(
    "\u034f\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u180f\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))
    + "".join(map(chr, range(0xE0100, 0xE01F0)))
)
"""Characters Unicode marks default-ignorable that are not format characters: the
combining grapheme joiner, the Hangul fillers, the variation selectors."""


def blank(text: str) -> bool:
    """True when ``text`` shows nothing: it holds only whitespace, control and format
    characters (Unicode Cc, Cf: ``"\\u200b"``, ``"\\ufeff"``, ``"\\u2060"``) and the
    other invisible fillers (:data:`_INVISIBLE`)."""
    return all(
        char.isspace() or char in _INVISIBLE or unicodedata.category(char) in ("Cc", "Cf")
        for char in text
    )


def check_clock(clock: Clock) -> Clock:
    """``clock``, each reading checked before it is used: ``TypeError`` for anything but
    a ``datetime``, ``ValueError`` for a naive one (it would be stored without a UTC
    offset, and the instance could not be loaded again)."""
    if not callable(clock):
        raise TypeError(f"a clock is a function returning an aware datetime, not {clock!r}")

    def read() -> datetime:
        at = clock()
        if not isinstance(at, datetime):
            raise TypeError(
                f"the clock {_name(clock)} returned {type(at).__name__} {at!r}, not a "
                "datetime; a clock returns an aware UTC datetime"
            )
        if at.utcoffset() is None:
            raise ValueError(
                f"the clock {_name(clock)} returned the naive datetime {at.isoformat()}, "
                "which has no UTC offset; pass an aware clock, e.g. "
                "clock=lambda: datetime.now(UTC)"
            )
        return at

    return read


def _name(function: object) -> str:
    module = getattr(function, "__module__", None)
    name = getattr(function, "__qualname__", None)
    if not isinstance(name, str):
        return repr(function)
    return name if module in (None, "builtins") else f"{module}.{name}"


def storable(value: object, what: str) -> JSONValue:
    """``value`` as JSON data, the form every record and store keeps (a copy).

    An exception or a traceback becomes its formatted text (what a recovery procedure
    reads); any other value JSON cannot hold, an object key that is not a string, a value
    nested more than :data:`MAX_JSON_DEPTH` deep or larger than :data:`MAX_JSON_BYTES`
    raises ``TypeError`` saying which.
    """
    loaded: JSONValue = json.loads(_json_text(value, what))
    return loaded


def json_size(value: object, what: str) -> int:
    """The size of ``value`` as JSON text in bytes, refused as :func:`storable` refuses it."""
    return text_size(_json_text(value, what))


_ATOMS: Final = frozenset({str, int, float, bool, type(None)})


def json_copy(value: _V) -> _V:
    """A deep copy of JSON data (what :func:`storable` returns): ``copy.deepcopy``'s
    result for it, made several times faster (JSON data shares no mutable part, so no
    memo is needed). A value of any other type is handed to ``copy.deepcopy``."""
    copied: _V = _json_copy(value)
    return copied


def _json_copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _ATOMS else _json_copy(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _ATOMS else _json_copy(v) for v in value]
    if kind in _ATOMS:
        return value
    return copy.deepcopy(value)


def json_text(value: object) -> str:
    """``value`` as the JSON text its size is counted on (characters kept, not escaped:
    the stores keep them so)."""
    return json.dumps(value, ensure_ascii=False)


def text_size(text: str) -> int:
    """The bytes of ``text`` in UTF-8; ``UnicodeEncodeError`` for a lone surrogate."""
    return len(text) if text.isascii() else len(text.encode())


def _json_text(value: object, what: str) -> str:
    _check_shape(value, what)
    try:
        text = json.dumps(value, default=_render, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as error:
        raise TypeError(f"{what} must be JSON data: {error}") from error
    try:
        size = text_size(text)
    except UnicodeEncodeError as error:
        bad = error.object[error.start : error.end]
        raise TypeError(
            f"{what}: {bad!r} is not Unicode text (a lone surrogate), which no store can keep"
        ) from error
    if size > MAX_JSON_BYTES:
        raise TypeError(
            f"{what}: {size:,} bytes as JSON; the limit is {MAX_JSON_BYTES:,} (MAX_JSON_BYTES)"
        )
    return text


def _check_shape(value: object, what: str) -> None:
    """Refuse ``value`` if it nests deeper than :data:`MAX_JSON_DEPTH` or an object in it
    has a key that is not a string (JSON would turn ``1`` into ``"1"``, merging keys).

    Walks with a stack of iterators, so neither depth nor a cycle recurses in Python."""
    stack: list[Iterator[object]] = [iter((value,))]
    while stack:
        for item in stack[-1]:
            if isinstance(item, dict):
                for key in item:
                    if not isinstance(key, str):
                        raise TypeError(
                            f"{what}: the object key {key!r} ({type(key).__name__}) is not "
                            "a string; JSON object keys are strings"
                        )
                stack.append(iter(item.values()))
            elif isinstance(item, (list, tuple)):
                stack.append(iter(item))
            else:
                continue
            if len(stack) > MAX_JSON_DEPTH + 1:
                raise TypeError(
                    f"{what}: lists and objects nest more than {MAX_JSON_DEPTH} deep; "
                    f"the limit is {MAX_JSON_DEPTH} (MAX_JSON_DEPTH)"
                )
            break
        else:
            stack.pop()


def storable_mapping(values: Mapping[str, object], what: str) -> dict[str, JSONValue]:
    """A mapping of JSON data with string keys, copied; refused as :func:`storable`
    refuses a value."""
    if not isinstance(values, Mapping):
        raise TypeError(f"{what} must be a mapping, not {type(values).__name__}")
    copied = storable(dict(values), what)
    assert isinstance(copied, dict)
    return copied


_RENDERED_CHARACTERS: Final = MAX_JSON_BYTES // 16
"""The most of an exception's or a traceback's text a payload keeps (its head and its
tail), so that an error payload always fits within :data:`MAX_JSON_BYTES`."""


def _render(value: Any) -> str:
    if isinstance(value, BaseException):
        return _clipped("".join(traceback.format_exception(value)))
    if isinstance(value, TracebackType):
        return _clipped("".join(traceback.format_tb(value)))
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON data")


def _clipped(text: str) -> str:
    if len(text) <= _RENDERED_CHARACTERS:
        return text
    half = _RENDERED_CHARACTERS // 2
    return f"{text[:half]}\n[... {len(text) - 2 * half:,} characters cut ...]\n{text[-half:]}"
