"""What the console's pages show, read from the store through the runtime.

The lists (the inbox of pending approvals, the runs) page through the store's head rows
(state and deadline, one read query each); every run a page shows is then loaded by its
machine's runtime class (``Machine.load``: the chain verified, every record checked
against the spec), which gives its context, its timeline, its failures and what may fire
now. Nothing here writes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from statewright.generator.console.machines import Served
from statewright.generator.runtime import Actor, Event, Machine, SqlStore, StoreError
from statewright.generator.runtime.kernel import digest as runtime_digest
from statewright.generator.runtime.records import Refused

__all__ = [
    "POSTGRES_SCHEMES",
    "Approval",
    "Gate",
    "Opened",
    "Page",
    "Pending",
    "RunRow",
    "Stores",
    "context_digest",
    "entered_at",
    "pending_page",
    "prior_approvals",
    "runs_page",
]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")


@dataclass(frozen=True, slots=True)
class Opened:
    """A store the runtime writes through, and its connection, which the lists read."""

    store: SqlStore
    connection: Any


class Stores:
    """One :class:`SqlStore` per thread over the store at ``target`` (a SQLite file or a
    ``postgresql://`` URL): a store and its connection belong to one thread."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._local = threading.local()
        self._all: list[Any] = []
        self._lock = threading.Lock()
        _rows(self.get(), "SELECT COUNT(*) FROM statewright_instances", ())  # fail now

    def get(self) -> Opened:
        opened: Opened | None = getattr(self._local, "opened", None)
        if opened is None:
            connection = connect(self.target)
            with self._lock:
                self._all.append(connection)
            opened = Opened(SqlStore(connection, create=False), connection)
            self._local.opened = opened
        return opened

    def close(self) -> None:
        with self._lock:
            for connection in self._all:
                connection.close()
            self._all.clear()


def connect(target: str) -> Any:
    """A connection to the store at ``target``, for reading and writing through the
    runtime; ``FileNotFoundError`` for a SQLite file that is not there (the console
    serves an existing store: workers and applications create it), ``ImportError``
    without psycopg for a URL."""
    if target.startswith(POSTGRES_SCHEMES):
        import psycopg

        return psycopg.connect(target)
    path = Path(target)
    if not path.is_file():
        raise FileNotFoundError(f"no store at {target}: name an existing SQLite file")
    return sqlite3.connect(str(path), timeout=30.0, isolation_level=None, check_same_thread=False)


def _rows(opened: Opened, sql: str, params: Sequence[Any]) -> list[Any]:
    """The rows of a read query (``?`` placeholders) on ``opened``'s connection, its
    transaction ended after it (the store opens its own)."""
    connection = opened.connection
    if not isinstance(connection, sqlite3.Connection):
        sql = sql.replace("?", "%s")
    cursor = connection.cursor()
    try:
        cursor.execute(sql, tuple(params))
        return list(cursor.fetchall())
    finally:
        cursor.close()
        connection.commit()


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a list: its ``number`` (from 1), ``size`` and the ``total`` of rows."""

    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))


@dataclass(frozen=True, slots=True)
class Approval:
    """One approval already counted at the gate a run waits at (under a quorum)."""

    actor: str
    at: datetime
    decision: str | None


@dataclass(frozen=True, slots=True)
class Gate:
    """What the approval gate a run waits at has collected and waits for, as the runtime
    answers it (``Machine.gate_status``): the approvals counted so far, the ``quorum``
    and how many approvals are ``missing``, the roles that may decide now (widened once
    ``escalated``), when it escalates, the ``digest`` an approval is bound to (None
    without ``bind: context``) and the actors the policy refuses as approvers."""

    approvals: tuple[Approval, ...]
    quorum: int
    missing: int
    reviewers: tuple[str, ...]
    escalated: bool
    escalates_at: datetime | None
    digest: str | None
    excluded: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Pending:
    """A run waiting at an approval gate, as the inbox shows it."""

    served: Served
    instance_id: str
    state: str
    since: datetime
    deadline: datetime | None
    reviewers: tuple[str, ...]
    context: dict[str, Any]
    digest: str
    gate: Gate | None
    problem: str | None = None


def distance(moment: datetime, at: datetime) -> str:
    """How far ``moment`` is from ``at``: ``in 3 h``, ``2 d ago`` (whole units, down)."""
    seconds = (moment - at).total_seconds()
    size = abs(seconds)
    for unit, length in (("d", 86400), ("h", 3600), ("min", 60)):
        if size >= length:
            amount = f"{int(size // length)} {unit}"
            break
    else:
        amount = f"{int(size)} s"
    return f"in {amount}" if seconds > 0 else f"{amount} ago"


def context_digest(context: Mapping[str, Any]) -> str:
    """The digest a reviewer approves: the runtime's (``sha256:`` and the hex SHA-256 of
    the canonical JSON of ``context``), the one ``bind: context`` records."""
    return runtime_digest(context)


def entered_at(run: Machine[Any, Any, Any]) -> datetime:
    """When ``run`` entered the state it is in: the last record that led into it (a
    gate's own records, an approval, an escalation, a bound digest, keep it there)."""
    state = run.state
    for record in reversed(run.audit):
        if (
            record.to_state == state
            and (record.from_state != state or record.event is not Event.TRANSITION)
            and record.event not in _GATES_OWN
        ):
            moment: datetime = record.at
            return moment
    first: datetime = run.audit[0].at
    return first


_GATES_OWN = (Event.APPROVAL, Event.ESCALATION, Event.BOUND)


def prior_approvals(run: Machine[Any, Any, Any]) -> Gate | None:
    """The gate ``run`` waits at, read through the runtime (``Machine.gate_status``):
    who approved already, the quorum and what is missing, who may decide, the
    escalation, the bound digest; None outside an approval state.

    The one place the console reads a gate: what a policy means is the runtime's alone.
    """
    status = run.gate_status()
    if status is None:
        return None
    return Gate(
        approvals=tuple(Approval(a.actor, a.at, a.decision) for a in status.approvals),
        quorum=status.quorum,
        missing=status.missing,
        reviewers=tuple(sorted(str(r) for r in status.reviewers)),
        escalated=status.escalated,
        escalates_at=status.escalates_at,
        digest=status.digest,
        excluded=tuple(sorted(status.excluded)),
    )


def _placeholders(count: int) -> str:
    return ", ".join("?" * count)


_OPEN = (
    " AND (deadline IS NOT NULL OR NOT EXISTS (SELECT 1 FROM statewright_records r"
    " WHERE r.machine = statewright_instances.machine"
    " AND r.instance_id = statewright_instances.instance_id"
    " AND r.seq = statewright_instances.seq AND r.body LIKE ?))"
)
"""Leaves out the runs a cancellation closed: their last record is a ``cancelled`` one (the
pattern is its last parameter), looked at only where the head row has no deadline (a
cancelled run has none), so a gate with a timeout costs no read of its records."""


def pending_page(
    opened: Opened, served: Mapping[str, Served], number: int, size: int
) -> tuple[list[Pending], Page]:
    """Page ``number`` of the runs waiting at an approval gate, the earliest deadline
    first (runs without one last)."""
    gates = {name: m.approval_states() for name, m in served.items() if m.approval_states()}
    if not gates:
        return [], Page(number, size, 0)
    where = " OR ".join(
        f"(machine = ? AND state IN ({_placeholders(len(states))}))" for states in gates.values()
    )
    where = f"({where}){_OPEN}"
    params = [p for name, states in gates.items() for p in (name, *states)]
    params.append('%"event":"cancelled"%')
    total = int(
        _rows(opened, f"SELECT COUNT(*) FROM statewright_instances WHERE {where}", params)[0][0]
    )
    rows = _rows(
        opened,
        "SELECT machine, instance_id FROM statewright_instances"
        f" WHERE {where} ORDER BY deadline IS NULL, deadline, machine, instance_id"
        f" LIMIT {int(size)} OFFSET {int((number - 1) * size)}",
        params,
    )
    return [_pending(opened.store, served[str(m)], str(i)) for m, i in rows], Page(
        number, size, total
    )


def _pending(store: SqlStore, served: Served, instance_id: str) -> Pending:
    try:
        run = served.machine.load(store, instance_id)
    except (StoreError, Refused, ValueError) as error:
        now = datetime.now(UTC)
        return Pending(served, instance_id, "?", now, None, (), {}, "", None, str(error))
    state = str(run.state)
    context = run.context
    gate = prior_approvals(run)
    if gate is None:  # the head row is behind the run: shown as the spec says
        found = next(s for s in served.spec.states if s.name == state)
        reviewers = tuple(sorted(found.reviewers))
    else:
        reviewers = gate.reviewers
    return Pending(
        served,
        instance_id,
        state,
        entered_at(run),
        run.deadline,
        reviewers,
        context,
        context_digest(context) if gate is None or gate.digest is None else gate.digest,
        gate,
    )


@dataclass(frozen=True, slots=True)
class RunRow:
    """One run in the runs list: where its head row says it stands."""

    machine: str
    instance_id: str
    state: str
    kind: str | None
    deadline: str | None


def runs_page(
    opened: Opened,
    served: Mapping[str, Served],
    number: int,
    size: int,
    machine: str | None = None,
    state: str | None = None,
) -> tuple[list[RunRow], Page]:
    """Page ``number`` of the runs (of ``machine``, in ``state``), by machine and id."""
    clauses = [c for c, v in (("machine = ?", machine), ("state = ?", state)) if v]
    params = [v for v in (machine, state) if v]
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    total = int(_rows(opened, f"SELECT COUNT(*) FROM statewright_instances{where}", params)[0][0])
    rows = _rows(
        opened,
        f"SELECT machine, instance_id, state, deadline FROM statewright_instances{where}"
        f" ORDER BY machine, instance_id LIMIT {int(size)} OFFSET {int((number - 1) * size)}",
        params,
    )
    found = []
    for m, i, s, d in rows:
        known = served.get(str(m))
        kind = None if known is None else known.kind(str(s))
        found.append(RunRow(str(m), str(i), str(s), kind, None if d is None else str(d)))
    return found, Page(number, size, total)


def can_act(actor: Actor, roles: Iterator[str] | frozenset[str]) -> bool:
    """True when ``actor`` holds one of ``roles``."""
    return not actor.roles.isdisjoint(roles)
