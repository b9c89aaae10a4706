"""What a store holds of an instance, and what a store refuses.

An instance lives in a store under (machine, instance id) as a *head row*
(:class:`StoredInstance` without entries: its :class:`StoreHead`, the number and hash of
its last record, its version) and its records (:class:`StoredRecord`), each a canonical
JSON body hashed into a chain (:mod:`.chain`). These values are what every store
(:mod:`.memorystore`, :mod:`.sqlstore`) reads and writes; the errors are what they raise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "ConcurrencyConflict",
    "InstanceExists",
    "InstanceHead",
    "StoreError",
    "StoreHead",
    "StoredInstance",
    "StoredRecord",
    "Timers",
    "UnknownInstance",
    "check_version",
    "instant",
]


class StoreError(Exception):
    """A store refused a write; nothing was written."""


class ConcurrencyConflict(StoreError):
    """Another writer appended to the instance first: load it again and retry."""


class InstanceExists(StoreError):
    """``create`` was given an instance id the store already holds."""

    @classmethod
    def of(cls, machine: str, instance_id: str) -> InstanceExists:
        """The error for ``machine``'s instance ``instance_id``."""
        return cls(f"{machine} instance {instance_id!r} already exists")


class UnknownInstance(StoreError, LookupError):
    """The store holds no instance of this machine under this id."""

    @classmethod
    def of(cls, machine: str, instance_id: str) -> UnknownInstance:
        """The error for ``machine``'s instance ``instance_id``."""
        return cls(f"no {machine} instance {instance_id!r} in this store")


def check_version(machine: str, instance_id: str, stored: int, loaded: int) -> None:
    """:class:`ConcurrencyConflict` unless the ``stored`` version is the ``loaded`` one."""
    if stored != loaded:
        raise ConcurrencyConflict(
            f"{machine} instance {instance_id!r} changed since it was loaded (version "
            f"{stored}, not {loaded}): another writer came first; load it again and retry"
        )


@dataclass(frozen=True, slots=True)
class StoreHead:
    """An instance's present, kept beside its records so that sweeping needs no replay.

    ``deadline`` is an :func:`instant` (fixed-width UTC text, so text order is time
    order) or None.
    """

    state: str
    deadline: str | None


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One stored record: its number, canonical JSON body and the hashes that chain it."""

    seq: int
    body: str
    prev: str
    hash: str


@dataclass(frozen=True, slots=True)
class StoredInstance:
    """What a store holds of one instance: its head, the number and hash of its last
    record, its version (one more with every write) and its records.

    Without entries it is the instance's head row: where its chain ends, all a write
    needs to extend it.
    """

    head: StoreHead
    seq: int
    head_hash: str
    version: int
    entries: tuple[StoredRecord, ...] = ()


@dataclass(frozen=True, slots=True, order=True)
class InstanceHead:
    """Where one instance's chain ends: its last record's number and hash.

    Kept outside the store (``statewright audit head``), these witness the chain's end:
    a hash chain alone cannot show that its last records were cut off and the head
    rewound, but a later ``verify`` against the kept heads can.
    """

    machine: str
    instance_id: str
    seq: int
    hash: str


Timers = Mapping[str, timedelta]
"""A machine's timers: each state with a timed exit, and how long it may rest there (its
earliest ``after``). With them a store can tell what an instance's deadline must be."""


def instant(moment: datetime) -> str:
    """A moment as fixed-width UTC text, the form deadlines are stored and compared in."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
