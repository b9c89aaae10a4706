"""Which version of its spec a stored instance runs under, and moving it to another.

Every instance a generated machine creates records the sha256 of the spec file it was
generated from (the ``spec`` key of its created record's stored body). A spec that
changes while runs are in flight declares how runs of an earlier version move to it
(``migrations:`` in the spec, carried by the generated module as
:class:`MigrationSpec` entries); ``statewright migrate OLD NEW`` proves that no run is
stranded. Here is what the runtime does with that, on the stored records alone (JSON
objects), so that a program holding the generated module and ``statewright migrate
--store`` holding only the spec files write the same records:

- :func:`version_of` reads the version an instance runs under from its records: the
  ``to_spec`` of its last ``migrated`` record, else the created record's ``spec`` (None
  for records written before versions were recorded);
- :func:`fold` rebuilds, without the old spec, what a migration needs of the old run: its
  state, failure reason and variables after its last record;
- :func:`migrated_body` is the ``migrated`` record itself: the old and new hashes, the
  state map, the values set and the variables dropped, as the declared migration gives
  them, with the run's state and every variable after it.

:class:`SpecMismatch` is what loading an instance under a version with no declared
migration from its own raises; :class:`BadMigration` what loading one whose migration does
not land in this spec (an unknown state, a variable missing or out of range) raises.
Records before a ``migrated`` record ran under the old spec; the runtime trusts them as
the store's hash chain does and replays only what follows (``statewright audit check``
checks both halves, each against its own spec).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from .records import JSONValue
from .stored import StoreError

__all__ = [
    "MIGRATED",
    "MIGRATED_TEXT",
    "BadMigration",
    "Folded",
    "MigrationSpec",
    "NewVersion",
    "SpecMismatch",
    "Version",
    "fold",
    "migrated_body",
    "version_of",
]

MIGRATED: Final = "migrated"
"""The ``event`` of a migrated record."""

MIGRATED_TEXT: Final = '"event":"migrated"'
"""What the canonical JSON body of every migrated record holds (and few others do): a
body without it need not be parsed to learn an instance's version."""


class SpecMismatch(StoreError):
    """A stored instance runs under another version of the spec, and this version
    declares no migration from it: nothing was changed. Load it with the module generated
    from its own version, or declare the migration (see the message)."""

    def __init__(self, machine: str, instance_id: str, stored: str, current: str) -> None:
        self.machine, self.instance_id = machine, instance_id
        self.stored, self.current = stored, current
        super().__init__(
            f"{machine} instance {instance_id!r} runs under spec {stored[:12]}, and this "
            f"module was generated from spec {current[:12]}, which declares no migration "
            f"from it: add to the new spec 'migrations: [{{from: {stored[:12]}, states: "
            "{...}, variables: {...}}]', prove it with 'statewright migrate OLD.yaml "
            "NEW.yaml' and run 'statewright generate'; or load the instance with the "
            f"module generated from spec {stored[:12]}"
        )


class BadMigration(StoreError):
    """A declared migration does not land a stored run in this spec (a state it does not
    declare, a variable without a value it allows): nothing was changed.
    ``statewright migrate OLD NEW`` proves a migration before it is deployed."""


@dataclass(frozen=True, slots=True)
class MigrationSpec:
    """One entry of a spec's ``migrations``, as the generated module carries it.

    ``source`` is a prefix (8 to 64 lower-case hex digits) of the old spec's sha256;
    ``states`` renames or merges old states (an old state not named keeps its name);
    ``values`` gives variables a value (new ones, or a reset); ``drop`` names the old
    variables whose values are discarded.
    """

    source: str
    states: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, JSONValue] = field(default_factory=dict)
    drop: tuple[str, ...] = ()

    def matches(self, sha256: str) -> bool:
        """Whether runs of the spec whose file has hash ``sha256`` move by this entry."""
        return sha256.lower().startswith(self.source)

    def state(self, old: str) -> str:
        """The state a run in ``old`` moves to."""
        return self.states.get(old, old)

    def variables(self, old: Mapping[str, JSONValue] | None) -> dict[str, JSONValue]:
        """The values a run with ``old`` values moves with: dropped ones removed, the
        given ones set."""
        moved = {k: v for k, v in (old or {}).items() if k not in self.drop}
        moved.update(self.values)
        return moved


@dataclass(frozen=True, slots=True)
class Version:
    """The spec version an instance runs under, read from its records.

    ``spec`` is the full sha256 (None when its records predate recorded versions);
    ``origin`` the version it was created under; ``migrated`` the number of its last
    ``migrated`` record (None if it never moved); ``migrations`` how many it holds.
    """

    spec: str | None
    origin: str | None = None
    migrated: int | None = None
    migrations: int = 0

    @property
    def short(self) -> str:
        """The version as ``runs list`` shows it: 12 hex digits, or ``unrecorded``."""
        return "unrecorded" if self.spec is None else self.spec[:12]


def version_of(bodies: Sequence[Mapping[str, Any]]) -> Version:
    """The version the instance whose records (JSON objects, oldest first) these are
    runs under."""
    origin = bodies[0].get("spec") if bodies else None
    origin = origin if isinstance(origin, str) else None
    spec, last, count = origin, None, 0
    for body in bodies:
        if body.get("event") == MIGRATED:
            data = body.get("data")
            to_spec = data.get("to_spec") if isinstance(data, dict) else None
            spec = to_spec if isinstance(to_spec, str) else None
            last, count = body.get("seq"), count + 1
    return Version(spec, origin, last if isinstance(last, int) else None, count)


@dataclass(frozen=True, slots=True)
class Folded:
    """What an old run is after its records, read without its spec: the state, the
    failure reason, every variable (None for a machine without), and the time of its
    last record."""

    state: str
    reason: str | None
    variables: dict[str, JSONValue] | None
    at: str


def fold(bodies: Sequence[Mapping[str, Any]]) -> Folded:
    """The state, reason and variables the records (JSON objects, oldest first) leave.

    A created, rollback or migrated record holds every variable, a transition the ones it
    changed; the state and reason are the last record's. ``ValueError`` on records that
    are not an audit log's."""
    if not bodies:
        raise ValueError("an empty log: every log starts with its created record")
    variables: dict[str, JSONValue] | None = None
    for body in bodies:
        values = body.get("variables")
        if values is not None and not isinstance(values, dict):
            raise ValueError(f"record {body.get('seq')}: variables must be a JSON object")
        if body.get("event") in ("created", "rollback", MIGRATED):
            variables = None if values is None else dict(values)
        elif values is not None:
            variables = {**(variables or {}), **values}
    last = bodies[-1]
    state, reason, at = last.get("to_state"), last.get("reason"), last.get("at")
    if not isinstance(state, str) or not isinstance(at, str):
        raise ValueError(f"record {last.get('seq')} names no state or time")
    return Folded(state, reason if isinstance(reason, str) else None, variables, at)


@dataclass(frozen=True, slots=True)
class NewVersion:
    """What a migration needs of the version a run moves to: its hash, its states, its
    failed states and reasons, and ``check``, which raises ``ValueError`` saying why
    when the values are not the new variables (each named once, each allowed)."""

    sha256: str
    states: frozenset[str]
    failed: frozenset[str]
    reasons: frozenset[str]
    check: Callable[[dict[str, JSONValue]], None]


def migrated_body(
    where: str,
    bodies: Sequence[Mapping[str, Any]],
    old: str,
    migration: MigrationSpec,
    new: NewVersion,
    at: str,
) -> dict[str, JSONValue]:
    """The ``migrated`` record that moves the run whose records are ``bodies`` from spec
    ``old`` (full sha256) to ``new`` by ``migration``, at ``at`` (ISO 8601).

    :class:`BadMigration` (naming ``where``) when the run would land where ``new`` has
    no configuration. The record enters the mapped state (its timed exit counts from the
    migration), keeps the failure reason where the new state is failed and declares it,
    and holds every variable after it."""
    folded = fold(bodies)
    state = migration.state(folded.state)
    if state not in new.states:
        raise BadMigration(
            f"{where}: the migration from {migration.source} maps state {folded.state} to "
            f"{state}, which spec {new.sha256[:12]} does not declare; map it in 'states' "
            "and prove it with 'statewright migrate OLD.yaml NEW.yaml'"
        )
    values = migration.variables(folded.variables)
    try:
        new.check(values)
    except ValueError as error:
        raise BadMigration(
            f"{where}: the migration from {migration.source} leaves the variables "
            f"{values}: {error}; give each new variable a value in 'variables' and drop "
            "the removed ones, and prove it with 'statewright migrate OLD.yaml NEW.yaml'"
        ) from error
    reason = folded.reason if state in new.failed and folded.reason in new.reasons else None
    last = bodies[-1].get("seq")
    body: dict[str, JSONValue] = {
        "seq": (last if isinstance(last, int) else len(bodies)) + 1,
        "at": at,
        "event": MIGRATED,
        "from_state": folded.state,
        "to_state": state,
        "trigger": None,
        "actor": None,
        "decision": None,
        "reason": reason,
        "rollback_to": None,
        "data": {
            "from_spec": old,
            "to_spec": new.sha256,
            "migration": migration.source,
            "states": dict(migration.states),
            "values": dict(migration.values),
            "dropped": list(migration.drop),
        },
    }
    if values:
        body["variables"] = values
    return body


class Earlier(str):
    """A state, trigger or reason of an earlier version of the spec, named in a record
    written before the instance migrated: its text, with ``value`` as an enum member has."""

    __slots__ = ()

    @property
    def value(self) -> str:
        return str(self)


def last_migrated(bodies: Sequence[object]) -> int:
    """The index of the last ``migrated`` record among ``bodies``, or -1."""
    for index in range(len(bodies) - 1, -1, -1):
        body = bodies[index]
        if isinstance(body, Mapping) and body.get("event") == MIGRATED:
            return index
    return -1


def lenient(enum: type[Any]) -> Callable[[Any], Any]:
    """Reads a name as ``enum``'s member, or as :class:`Earlier` when this version of
    the spec does not have it (``ValueError`` if it is not text)."""
    members: Mapping[str, Any] = enum._value2member_map_

    def read(value: Any) -> Any:
        found = members.get(value)
        if found is not None:
            return found
        if not isinstance(value, str):
            raise ValueError(f"{value!r} is not a name")
        return Earlier(value)

    return read
