"""The hash chain of an instance's records: how it is written, and how it is verified.

Each record is kept as canonical JSON (:func:`canonical`) with a sha256 hash over its
owner, the hash of the record before it (:data:`GENESIS` for the first) and its body
(:func:`link`). :func:`started` and :func:`extended` write a chain; a :class:`Walk` reads
one back, a record at a time, and is the one definition of an intact instance (used by
every store's ``load``, ``walk`` and ``verify``); :func:`diagnose` says what was done to
a record that fails it, and :func:`check_witness` finds a chain cut off or rewritten
behind heads kept elsewhere. The bytes hashed never change: stores written by any
version of statewright verify here.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .stored import (
    InstanceHead,
    StoredInstance,
    StoredRecord,
    StoreError,
    StoreHead,
    Timers,
    UnknownInstance,
    check_version,
    instant,
)

if TYPE_CHECKING:
    from .store import Store

__all__ = [
    "GENESIS",
    "STAYS",
    "ChainBroken",
    "ChainProblem",
    "Walk",
    "canonical",
    "check_chain",
    "check_witness",
    "escalation",
    "extended",
    "link",
    "row_problem",
    "started",
    "verified",
]

GENESIS = "0" * 64
"""The ``prev`` hash of every instance's first record."""


@dataclass(frozen=True, slots=True)
class ChainProblem:
    """The first record of one instance's chain that was altered, removed or reordered."""

    machine: str
    instance_id: str
    seq: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.machine} {self.instance_id!r} record {self.seq}: {self.kind}: {self.detail}"


class ChainBroken(StoreError):
    """An instance's stored records fail verification, so nothing may act on them.

    A record was altered, removed or reordered (its hash, its link to the record before
    it or its number is wrong, or its body is no JSON record), or the instance's head row
    is not what its records give. The instance is tampered: it needs a person, and
    ``statewright audit verify`` names it. ``problem`` says where.
    """

    def __init__(self, problem: ChainProblem) -> None:
        super().__init__(f"{problem}: the instance is tampered; it is not loaded")
        self.problem = problem

    def __reduce__(self) -> tuple[type[ChainBroken], tuple[ChainProblem]]:
        return type(self), (self.problem,)


# -- writing --------------------------------------------------------------------------

_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)


def canonical(value: Any) -> str:
    """The one JSON text of ``value`` that is hashed: sorted keys, no spaces, no NaN."""
    return _ENCODER.encode(value)


_sha256 = hashlib.sha256


def link(machine: str, instance_id: str, prev: str, body: str) -> str:
    """The hash of a record: sha256 over its owner, the previous hash and its body."""
    owner = f"{len(machine)}:{machine}{len(instance_id)}:{instance_id}"
    return _sha256(f"{owner}{prev}{body}".encode()).hexdigest()


def _numbered(
    machine: str, instance_id: str, seq: int, prev: str, records: Sequence[Mapping[str, Any]]
) -> list[StoredRecord]:
    """Number and hash ``records`` as the ones following record ``seq`` (hash ``prev``)."""
    entries: list[StoredRecord] = []
    for number, record in enumerate(records, start=seq + 1):
        if record.get("seq") != number:
            raise ValueError(f"record {record.get('seq')!r} cannot follow record {number - 1}")
        body = canonical(record)
        digest = link(machine, instance_id, prev, body)
        entries.append(StoredRecord(number, body, prev, digest))
        prev = digest
    return entries


def started(
    machine: str, instance_id: str, head: StoreHead, records: Sequence[Mapping[str, Any]]
) -> tuple[StoredInstance, list[StoredRecord]]:
    """A new instance's head row (version 0) and its first ``records``, numbered from 1
    and hashed from :data:`GENESIS`: what ``create`` stores."""
    entries = _numbered(machine, instance_id, 0, GENESIS, records)
    last = entries[-1].hash if entries else GENESIS
    return StoredInstance(head, len(entries), last, 0), entries


def extended(
    machine: str,
    instance_id: str,
    held: StoredInstance,
    version: int,
    head: StoreHead,
    records: Sequence[Mapping[str, Any]],
) -> tuple[StoredInstance, list[StoredRecord]]:
    """The head row after ``records`` follow the chain that ends at ``held`` (a head row),
    and those records numbered and hashed: what ``append`` stores. The writer loaded
    ``version``: :class:`~.stored.ConcurrencyConflict` unless ``held`` is still at it."""
    check_version(machine, instance_id, held.version, version)
    entries = _numbered(machine, instance_id, held.seq, held.head_hash, records)
    last = entries[-1].hash if entries else held.head_hash
    return StoredInstance(head, held.seq + len(entries), last, version + 1), entries


# -- verifying ------------------------------------------------------------------------


_SCAN: Callable[[str, int], tuple[Any, int]] = vars(json.JSONDecoder())["scan_once"]
"""The JSON scanner ``json.loads`` ends in (C where the interpreter has it, set by the
decoder's ``__init__``): ``(value, end)`` of the JSON text at an index,
``StopIteration`` where none starts."""


def _record(body: str) -> dict[str, Any] | None:
    """The JSON object a stored body holds, with its integer ``seq``; None for anything else.

    A canonical body (:func:`canonical`: no whitespace around it) is decoded as it is,
    without ``json.loads``'s two whitespace scans; anything else takes ``json.loads``."""
    try:
        record, end = _SCAN(body, 0)
        if end != len(body):
            record = json.loads(body)
    except (StopIteration, ValueError, RecursionError, TypeError):
        try:
            record = json.loads(body)
        except (ValueError, RecursionError, TypeError):
            return None
    if type(record) is not dict or type(record.get("seq")) is not int:
        return None
    return record


Later = Callable[[int, StoredRecord], Collection[str]]
"""Reads the hashes of the records stored after the one at a position (1 for the first),
given with the record stored there: asked only to tell a reordering from a removal."""


class Walk:
    """Checks one instance's records as they are read, oldest first, keeping none of them.

    Each record must extend the chain: numbered one more than the last, pointing at its
    hash, hashed as stored, and its body the JSON record of that number. At the end the
    head row must name the last record and hold what the records give: its state, and its
    deadline when the machine's timers are known. This is the one definition of an intact
    instance; :func:`diagnose` only says, once a record fails it, what was done to it.
    """

    __slots__ = ("entered", "escalated", "instance_id", "last", "machine", "owner", "prev", "seq")

    def __init__(self, machine: str, instance_id: str) -> None:
        self.machine, self.instance_id = machine, instance_id
        self.owner = f"{len(machine)}:{machine}{len(instance_id)}:{instance_id}"
        """What :func:`link` hashes first, for every record of the instance."""
        self.seq, self.prev = 0, GENESIS
        self.last: dict[str, Any] | None = None
        self.entered: object = None
        """The ``at`` of the last record that entered a state (any but a context change
        or a gate's own record, :data:`STAYS`): the state's deadline counts from it."""
        self.escalated = False
        """Whether the gate entered then recorded its escalation."""

    def step(self, entry: StoredRecord) -> dict[str, Any] | None:
        """The record ``entry`` holds, if it extends the chain; else None, nothing changed."""
        return self.row(entry.seq, entry.body, entry.prev, entry.hash)

    def row(self, number: int, body: str, prev: str, digest: str) -> dict[str, Any] | None:
        """:meth:`step` on a stored row's columns (a scan of many rows makes no
        :class:`StoredRecord` of each)."""
        row = (self.machine, self.instance_id, number, body, prev, digest)
        return self.last if self.rows((row,), 0, None) else None

    def rows(
        self, rows: Sequence[Sequence[Any]], start: int, kept: list[dict[str, Any]] | None
    ) -> int:
        """:meth:`row` on each of the stored rows ``rows[start:]`` (their columns: machine,
        instance id, seq, body, prev, hash) in turn, while they are this instance's and
        extend its chain, each record appended to ``kept``; how many it took (it stops at
        another instance's row, or at one that does not extend the chain).

        The one loop every record of a store's scan takes, so it is written out: the
        record's hash over its text as stored (the text the writer hashed, whatever its
        form), and one JSON parse."""
        machine, instance_id, owner = self.machine, self.instance_id, self.owner
        seq, prev, last = self.seq, self.prev, self.last
        entered, escalated = self.entered, self.escalated
        scan, sha256, stays = _SCAN, _sha256, STAYS
        taken = 0
        record: dict[str, Any] | None
        for index in range(start, len(rows)):
            row_machine, row_instance, number, body, row_prev, digest = rows[index]
            if row_instance != instance_id or row_machine != machine:
                break
            if (
                number != seq + 1
                or row_prev != prev
                or sha256(f"{owner}{prev}{body}".encode()).hexdigest() != digest  # link()
            ):
                break
            try:  # _record's short path, written out: one call less a record
                record, end = scan(body, 0)
            except (StopIteration, ValueError, RecursionError, TypeError):
                record = end = None
            if end != len(body) or type(record) is not dict:
                record = _record(body)
                if record is None:
                    break
            numbered = record.get("seq")
            if numbered != seq + 1 or type(numbered) is not int:
                break
            seq, prev, last = numbered, digest, record
            event = record.get("event")
            if event not in stays:
                entered, escalated = record.get("at"), False
            elif event == "escalation":
                escalated = True
            if kept is not None:
                kept.append(record)
            taken += 1
        self.seq, self.prev, self.last = seq, prev, last
        self.entered, self.escalated = entered, escalated
        return taken

    def run(
        self,
        entries: Iterable[StoredRecord],
        later: Later,
        visit: Callable[[dict[str, Any]], object] | None = None,
    ) -> ChainProblem | None:
        """Step through ``entries`` (the next ones in stored order), handing each record
        that extends the chain to ``visit``; what was done to the first that does not, or
        None when all do."""
        for entry in entries:
            position = self.seq + 1
            record = self.step(entry)
            if record is None:
                return diagnose(
                    self.machine,
                    self.instance_id,
                    entry,
                    position,
                    self.prev,
                    functools.partial(later, position, entry),
                )
            if visit is not None:
                visit(record)
        return None

    def end(self, stored: StoredInstance, timers: Timers | None) -> ChainProblem | None:
        """What is wrong with the head row ``stored`` after the last record, or None."""
        machine, instance_id, seq = self.machine, self.instance_id, stored.seq
        if seq > self.seq:
            return ChainProblem(
                machine, instance_id, self.seq + 1, "removed", f"the head counts {seq} records"
            )
        if seq < self.seq:
            return ChainProblem(
                machine, instance_id, seq + 1, "altered", "a record beyond the instance's head"
            )
        if stored.head_hash != self.prev:
            return ChainProblem(
                machine, instance_id, seq, "altered", "it is not the record the head row names"
            )
        derived = self.derived(timers)
        if derived is None:
            return None
        if timers is None:
            derived = StoreHead(derived.state, stored.head.deadline)
        if derived != stored.head:
            return row_problem(machine, instance_id, seq, stored.head, derived)
        return None

    def derived(self, timers: Timers | None) -> StoreHead | None:
        """The head the records give: the last one's state and, with ``timers``, the
        deadline of that state counted from its entry. None for records that name no state
        (or no records): a store holds what it is given, and only a machine's records have
        states."""
        state = None if self.last is None else self.last.get("to_state")
        if not isinstance(state, str):
            return None
        delay = None if timers is None else timers.get(state)
        escalates = None if timers is None or self.escalated else timers.get(escalation(state))
        if escalates is not None and (delay is None or escalates < delay):
            delay = escalates
        if delay is None or (self.last or {}).get("event") == "cancelled":  # closed: none
            return StoreHead(state, None)
        try:
            entered = datetime.fromisoformat(str(self.entered))
            return StoreHead(state, instant(entered + delay) if entered.tzinfo else "?")
        except (ValueError, OverflowError):
            return StoreHead(state, "?")


STAYS = frozenset({"context", "approval", "escalation", "bound"})
"""The events of records that leave the machine where it was: a context change and an
approval gate's own records (a vote, the escalation, the bound digest)."""


def escalation(state: str) -> str:
    """The key under which :data:`Timers` hold how long the approval gate ``state`` waits
    before it escalates (a state's own name holds its timeout): an instance's due time is
    the earlier of the two, until its escalation is recorded."""
    return f"{state}/escalate"


def row_problem(
    machine: str, instance_id: str, seq: int, row: StoreHead, derived: StoreHead
) -> ChainProblem:
    """The problem of a head row that is not what the instance's records give."""
    return ChainProblem(
        machine,
        instance_id,
        seq,
        "altered",
        f"the instance row says state {row.state!r}, deadline {row.deadline}; "
        f"its records give {derived.state!r}, deadline {derived.deadline}",
    )


def diagnose(
    machine: str,
    instance_id: str,
    entry: StoredRecord,
    position: int,
    prev: str,
    later: Callable[[], Collection[str]],
) -> ChainProblem:
    """What was done to ``entry``, stored at ``position`` after the record hashed ``prev``,
    which :meth:`Walk.step` refused. ``later`` reads the hashes of the records stored after
    it (only asked when the chain does not lead to it: it tells a reordering)."""

    def problem(seq: int, kind: str, detail: str) -> ChainProblem:
        return ChainProblem(machine, instance_id, seq, kind, detail)

    if link(machine, instance_id, entry.prev, entry.body) != entry.hash:
        return problem(position, "altered", "its content no longer matches its hash")
    record = _record(entry.body)
    numbered = None if record is None else record["seq"]
    if entry.prev != prev:
        if entry.prev in later():
            return problem(position, "reordered", f"record {numbered} stands in its place")
        if entry.seq == numbered == position:
            return problem(
                position - 1, "altered", "its hash was rewritten; the next record disagrees"
            )
        return problem(position, "removed", "the chain skips it")
    if record is None:
        return problem(position, "altered", "its body is not a JSON record")
    return problem(position, "altered", f"renumbered as {entry.seq} (body: {numbered})")


def check_chain(
    machine: str,
    instance_id: str,
    stored: StoredInstance,
    timers: Timers | None = None,
    visit: Callable[[dict[str, Any]], object] | None = None,
) -> ChainProblem | None:
    """The first record of one instance that was altered, removed or reordered, or its
    head row if that is not what the records give; None when it is intact. ``visit``
    sees each record that extends the chain, until one does not.

    ``stored.entries`` are in stored order (by record number).
    """
    entries = stored.entries

    def later(position: int, entry: StoredRecord) -> set[str]:
        return {after.hash for after in entries[position:]}

    walk = Walk(machine, instance_id)
    problem = walk.run(entries, later, visit)
    return walk.end(stored, timers) if problem is None else problem


def verified(machine: str, instance_id: str, stored: StoredInstance) -> StoredInstance:
    """``stored``, if its records and head row are intact; else :class:`ChainBroken`."""
    problem = check_chain(machine, instance_id, stored)
    if problem is not None:
        raise ChainBroken(problem)
    return stored


def check_witness(store: Store, heads: Sequence[InstanceHead]) -> list[ChainProblem]:
    """Where ``store`` no longer extends the chain ends ``heads`` saw (kept elsewhere).

    A chain a witness saw end at record N with hash H must still hold record N with hash
    H: cutting records off the end and rewinding the head, or rewriting a chain with
    recomputed hashes, is found here even though the chain itself stays consistent. An
    instance whose chain is broken is left to ``verify``, which names it.
    """
    problems: list[ChainProblem] = []
    for seen in heads:
        try:
            entries = store.load(seen.machine, seen.instance_id).entries
        except UnknownInstance:
            problems.append(
                ChainProblem(seen.machine, seen.instance_id, 1, "removed", "the instance is gone")
            )
            continue
        except ChainBroken:
            continue
        if len(entries) < seen.seq:
            problems.append(
                ChainProblem(
                    seen.machine,
                    seen.instance_id,
                    len(entries) + 1,
                    "removed",
                    f"the store holds {len(entries)} records; the witness saw {seen.seq}",
                )
            )
        elif seen.seq and entries[seen.seq - 1].hash != seen.hash:
            problems.append(
                ChainProblem(
                    seen.machine,
                    seen.instance_id,
                    seen.seq,
                    "altered",
                    "its hash is not the one the witness saw: the chain was rewritten",
                )
            )
    return problems
