"""The stored format does not change: tables, columns, the JSON of records, the hash chain.

``tests/data/store/fleet-0.1.sql`` is the SQLite dump (``iterdump``) of a store that the
statewright of commit 5d48606 wrote running :func:`write_fleet` (before the store was
split into ``stored``, ``chain``, ``memorystore`` and ``sqlstore``); ``fleet-0.2.sql`` is
the same fleet written once records carried the spec's sha256 (on the created record) and
the actor's roles (on human steps and rollbacks), which ``audit check`` holds a run to.
Today's code must verify and load the older store, extend its chains, and write the very
same rows as the newer one, byte for byte, when it runs the same fleet; every record of
the newer store is the older one's plus those two keys, nothing else; the memory store
must hash the same chain. To write a dump again with another version of statewright
(only ever on purpose: a changed format strands every store in use)::

    PYTHONPATH=<that checkout>:<that checkout>/tests \\
        python tests/test_store_format.py tests/data/store/fleet-0.2.sql
"""

from __future__ import annotations

import importlib
import json
import sqlite3
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from storekit import RETRIES_SPEC, TICKET_SPEC
from test_runtime_kit import load_spec, write_package

from statewright.generator.render import render_runtime

DUMP = Path(__file__).parent / "data" / "store" / "fleet-0.1.sql"
"""A store written before records carried ``spec`` and ``roles``."""
DUMP_NOW = Path(__file__).parent / "data" / "store" / "fleet-0.2.sql"
"""The same fleet as records are written now."""
ADDED = ("roles", "spec")
"""The keys records gained since :data:`DUMP`: left out where a record has none."""
STATE_INDEX = (
    "CREATE INDEX statewright_state ON statewright_instances (machine, state, deadline);\n"
)
"""An index added since the dump (the console's inbox reads it): rows and format unchanged,
and a store written before gains it when the runtime opens it (``IF NOT EXISTS``)."""
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class Clock:
    """A clock that moves on a second at every reading: every record has its own time."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def write_fleet(ticket: Any, retries: Any, store: Any) -> None:
    """Every kind of record, every column: a created record with a context (non-ASCII
    too), plain, human, failed, timed and automatic transitions, a context change, a
    rollback, variables, a payload, and an instance left waiting with a deadline."""
    clock = Clock()
    lead = ticket.Actor("lëad-1", frozenset({"lead"}))
    one = ticket.Ticket.create(
        store, "t-1", clock=clock, context={"title": "Ünïcode ✓", "n": 1, "x": [1.5, None]}
    )
    one.start()
    one.step(actor=ticket.Actor("bot", frozenset()))
    one.update_context({"k": {"nested": [True, "tab\t", "é"]}}, actor=lead)
    one.submit()
    one.reject(actor=lead, decision="not yet: see the review", payload={"why": ["a", "b"]})
    one.resume(actor=lead, decision="fixed")
    one.rollback(3, actor=lead, decision="back to the step")
    one.finish()  # DONE, then OPEN at once (the automatic exit)
    two = ticket.Ticket.create(store, "t-2", clock=clock)
    two.start()
    two.submit()  # waits in REVIEW: its head row holds the deadline
    ops = retries.Actor("olu", frozenset({"ops"}))
    machine = retries.Retries.create(store, "r-1", clock=clock)
    for n in range(2):
        machine.crashed(payload={"error": f"boom {n}"})
        machine.retry(actor=ops, decision=f"retry {n + 1}")
    machine.crashed(payload="last")
    machine.give_up(actor=ops, decision="enough")


def runtimes(folder: Path) -> tuple[Any, Any]:
    """The two machines' runtimes, generated into one package (one ``_statewright``)."""
    specs = [load_spec(TICKET_SPEC, "specs/ticket.yaml"), load_spec(RETRIES_SPEC)]
    write_package(folder / "fleet", {f"{s.machine}/runtime.py": render_runtime(s) for s in specs})
    sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    ticket = importlib.import_module("fleet.ticket.runtime")
    return ticket, importlib.import_module("fleet.retries.runtime")


def dump(path: Path) -> str:
    """The SQLite database at ``path`` as SQL text, one statement a line."""
    connection = sqlite3.connect(path)
    try:
        return "".join(f"{line}\n" for line in connection.iterdump())
    finally:
        connection.close()


def restored(folder: Path, dumped: Path = DUMP) -> Path:
    """A SQLite file holding the store of :data:`DUMP` (or another dump)."""
    path = folder / f"restored-{dumped.stem}.sqlite"
    connection = sqlite3.connect(path)
    connection.executescript(dumped.read_text(encoding="utf-8"))
    connection.close()
    return path


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any]:
    return runtimes(tmp_path_factory.mktemp("runtimes"))


def test_the_store_writes_the_rows_it_always_wrote(rt: tuple[Any, Any], tmp_path: Path) -> None:
    ticket, retries = rt
    path = tmp_path / "fleet.sqlite"
    store = ticket.SqlStore.sqlite(str(path))
    write_fleet(ticket, retries, store)
    store.close()
    assert arrivals(path) == [("retries", "r-1", 1), ("ticket", "t-1", 1), ("ticket", "t-2", 2)]
    written = dump(without_arrival(path))
    assert STATE_INDEX in written
    assert written.replace(STATE_INDEX, "") == DUMP_NOW.read_text(encoding="utf-8")


def test_records_gained_only_the_spec_hash_and_the_roles(tmp_path: Path) -> None:
    def bodies(dumped: Path) -> list[dict[str, Any]]:
        connection = sqlite3.connect(restored(tmp_path, dumped))
        try:
            query = "SELECT body FROM statewright_records ORDER BY machine, instance_id, seq"
            return [json.loads(body) for (body,) in connection.execute(query)]
        finally:
            connection.close()

    before, now = bodies(DUMP), bodies(DUMP_NOW)
    assert [{k: v for k, v in b.items() if k not in ADDED} for b in now] == before
    assert sum("spec" in b for b in now) == 3  # every created record
    assert {tuple(b["roles"]) for b in now if "roles" in b} == {("lead",), ("ops",)}
    assert all(("roles" in b) == (b["decision"] is not None) for b in now)


def arrivals(path: Path) -> list[tuple[str, str, int]]:
    """The ``arrival`` of every head row (no worker delivered their records: all due, in
    the order they were created, per machine)."""
    connection = sqlite3.connect(path)
    try:
        sql = "SELECT machine, instance_id, arrival FROM statewright_instances ORDER BY 1, 2"
        return list(connection.execute(sql))
    finally:
        connection.close()


def without_arrival(path: Path) -> Path:
    """``path`` less the delivery bookkeeping added since the dump (the ``arrival`` column
    and its index, which the store adds to the tables of an older store when it opens
    them): what is left is what every version wrote."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("DROP INDEX statewright_claimable")
        connection.execute("ALTER TABLE statewright_instances DROP COLUMN arrival")
        connection.commit()
    finally:
        connection.close()
    return path


def test_a_store_written_before_verifies_and_loads(rt: tuple[Any, Any], tmp_path: Path) -> None:
    ticket, retries = rt
    store = ticket.SqlStore.sqlite(str(restored(tmp_path)))
    timers = {"ticket": {"REVIEW": timedelta(hours=1)}}
    assert store.verify(timers=timers) == []
    assert [(h.machine, h.instance_id, h.seq) for h in store.heads()] == [
        ("retries", "r-1", 7),
        ("ticket", "t-1", 10),
        ("ticket", "t-2", 3),
    ]
    fresh = ticket.MemoryStore()
    write_fleet(ticket, retries, fresh)
    for cls, instance_id in [
        (ticket.Ticket, "t-1"),
        (ticket.Ticket, "t-2"),
        (retries.Retries, "r-1"),
    ]:
        loaded, expected = cls.load(store, instance_id), cls.load(fresh, instance_id)
        assert loaded.audit == tuple(
            r._replace(roles=None, spec_sha256=None) for r in expected.audit
        )
    assert ticket.Ticket.load(store, "t-2").state == ticket.State.REVIEW


def test_a_chain_written_before_goes_on(rt: tuple[Any, Any], tmp_path: Path) -> None:
    ticket, _ = rt
    path = restored(tmp_path)
    store = ticket.SqlStore.sqlite(str(path))
    waiting = ticket.Ticket.load(store, "t-2", clock=lambda: START + timedelta(minutes=30))
    waiting.approve(actor=ticket.Actor("lead-2", frozenset({"lead"})), decision="ok")
    assert store.verify() == []
    again = ticket.SqlStore.sqlite(str(path))
    assert ticket.Ticket.load(again, "t-2").state == ticket.State.WORKING
    assert [h.seq for h in again.heads("ticket")] == [10, 4]


def test_memory_and_sql_stores_hash_the_same_chain(rt: tuple[Any, Any], tmp_path: Path) -> None:
    ticket, retries = rt
    memory = ticket.MemoryStore()
    write_fleet(ticket, retries, memory)
    sql = ticket.SqlStore.sqlite(str(restored(tmp_path, DUMP_NOW)))
    assert memory.heads() == sql.heads()
    assert memory.verify() == []


def test_a_line_separator_in_the_context_loads(rt: tuple[Any, Any]) -> None:
    """A stored body keeps U+2028 as it is (canonical JSON escapes no character it need
    not), and ``str.splitlines`` splits a line there: the instance is stored but cannot
    be loaded again (``Machine.load_audit`` in ``engine.py`` should split on "\\n")."""
    ticket, _ = rt
    store = ticket.MemoryStore()
    ticket.Ticket.create(store, "t-1", context={"text": "one\u2028two"})
    assert ticket.Ticket.load(store, "t-1").context == {"text": "one\u2028two"}


if __name__ == "__main__":
    target = Path(sys.argv[1])
    with tempfile.TemporaryDirectory() as scratch:
        ticket, retries = runtimes(Path(scratch))
        written = Path(scratch) / "fleet.sqlite"
        store = ticket.SqlStore.sqlite(str(written))
        write_fleet(ticket, retries, store)
        store.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(dump(written), encoding="utf-8")
    print(f"wrote {target}")
