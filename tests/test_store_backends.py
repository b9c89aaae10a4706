"""The store contract, the same tests on memory, a SQLite file and a real PostgreSQL."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

import pytest
from storekit import SQL_BACKENDS, Backend, backend_fixture, connect

from statewright.generator.runtime import chain
from statewright.generator.runtime import store as S

backend = backend_fixture(("memory", *SQL_BACKENDS))
sql_backend = backend_fixture(SQL_BACKENDS)
M = "orders"


def records(first: int, count: int) -> list[dict[str, Any]]:
    return [{"seq": n, "trigger": f"t{n}", "note": "é ✓"} for n in range(first, first + count)]


def head(state: str = "A", deadline: str | None = None) -> Any:
    return S.StoreHead(state, deadline)


def test_create_then_load_round_trips(backend: Backend) -> None:
    store = backend.open()
    store.create(M, "i-1", head("B", "2026-01-01T00:00:00.000000Z"), records(1, 2))
    loaded = backend.open().load(M, "i-1")
    assert loaded.head == head("B", "2026-01-01T00:00:00.000000Z")
    assert loaded.seq == 2
    assert [e.seq for e in loaded.entries] == [1, 2]
    assert [json.loads(e.body) for e in loaded.entries] == records(1, 2)
    assert loaded.entries[0].prev == chain.GENESIS
    assert (
        loaded.entries[1].prev
        == loaded.entries[0].hash
        == chain.link(M, "i-1", chain.GENESIS, loaded.entries[0].body)
    )
    assert loaded.head_hash == loaded.entries[1].hash


def test_create_refuses_a_taken_id_and_changes_nothing(backend: Backend) -> None:
    store = backend.open()
    store.create(M, "i-1", head("A"), records(1, 1))
    with pytest.raises(S.InstanceExists, match="i-1"):
        store.create(M, "i-1", head("B"), records(1, 3))
    assert store.load(M, "i-1").head.state == "A"
    assert store.load(M, "i-1").seq == 1
    store.create("other_machine", "i-1", head("Z"), [])
    assert store.load("other_machine", "i-1").seq == 0


def test_append_extends_the_chain(backend: Backend) -> None:
    store = backend.open()
    store.create(M, "i-1", head("A"), records(1, 1))
    store.append(M, "i-1", 0, head("C"), records(2, 2))
    loaded = backend.open().load(M, "i-1")
    assert (loaded.head.state, loaded.seq, loaded.version) == ("C", 3, 1)
    assert loaded.entries[1].prev == loaded.entries[0].hash
    assert store.verify() == []


def test_stale_append_conflicts_and_writes_nothing(backend: Backend) -> None:
    first, second = backend.open(), backend.open()
    first.create(M, "i-1", head("A"), records(1, 1))
    first.append(M, "i-1", 0, head("B"), records(2, 1))
    with pytest.raises(S.ConcurrencyConflict, match="version 1, not 0"):
        second.append(M, "i-1", 0, head("X"), [{"seq": 2, "trigger": "loser"}])
    loaded = second.load(M, "i-1")
    assert (loaded.head.state, loaded.seq) == ("B", 2)
    assert json.loads(loaded.entries[-1].body)["trigger"] == "t2"


def test_a_write_without_records_still_moves_the_version(backend: Backend) -> None:
    store = backend.open()
    store.create(M, "i-1", head("A"), records(1, 1))
    store.append(M, "i-1", 0, head("A", None), [])
    with pytest.raises(S.ConcurrencyConflict):
        store.append(M, "i-1", 0, head("B"), [])
    loaded = store.load(M, "i-1")
    assert (loaded.seq, loaded.version, loaded.head.state) == (1, 1, "A")
    assert store.verify() == []


def test_unknown_instance(backend: Backend) -> None:
    store = backend.open()
    with pytest.raises(S.UnknownInstance, match="no orders instance 'nope'"):
        store.load(M, "nope")
    with pytest.raises(S.UnknownInstance):
        store.append(M, "nope", 0, head(), records(1, 1))


def test_records_must_follow_on(backend: Backend) -> None:
    store = backend.open()
    store.create(M, "i-1", head(), records(1, 1))
    with pytest.raises(ValueError, match="cannot follow record 1"):
        store.append(M, "i-1", 0, head(), records(3, 1))
    assert store.load(M, "i-1").seq == 1


def test_due_lists_expired_deadlines_earliest_first(backend: Backend) -> None:
    store = backend.open()
    store.create(M, "late", head("W", S.instant(datetime(2026, 1, 3, tzinfo=UTC))), [])
    store.create(M, "early", head("W", S.instant(datetime(2026, 1, 1, tzinfo=UTC))), [])
    store.create(M, "never", head("W"), [])
    store.create("other", "x", head("W", S.instant(datetime(2026, 1, 1, tzinfo=UTC))), [])
    now = S.instant(datetime(2026, 1, 3, tzinfo=UTC))
    assert store.due(M, now) == ["early", "late"]
    assert store.due(M, now, limit=1) == ["early"]
    assert store.due(M, S.instant(datetime(2025, 12, 31, tzinfo=UTC))) == []


def test_batch_commits_together(sql_backend: Backend) -> None:
    store = sql_backend.open()
    with store.batch():
        for n in range(5):
            store.create(M, f"i-{n}", head(), records(1, 1))
            store.append(M, f"i-{n}", 0, head("B"), records(2, 1))
    assert [sql_backend.open().load(M, f"i-{n}").seq for n in range(5)] == [2] * 5


def test_failed_batch_leaves_nothing(sql_backend: Backend) -> None:
    store = sql_backend.open()
    store.create(M, "kept", head(), records(1, 1))
    with pytest.raises(RuntimeError), store.batch():
        store.append(M, "kept", 0, head("B"), records(2, 1))
        store.create(M, "new", head(), records(1, 1))
        raise RuntimeError("crash inside the batch")
    assert store.load(M, "kept").seq == 1
    with pytest.raises(S.UnknownInstance):
        store.load(M, "new")


def test_a_conflict_inside_a_batch_spares_the_rest(sql_backend: Backend) -> None:
    store = sql_backend.open()
    store.create(M, "a", head(), records(1, 1))
    with store.batch():
        with pytest.raises(S.ConcurrencyConflict):
            store.append(M, "a", 5, head("X"), records(2, 1))
        store.append(M, "a", 0, head("B"), records(2, 1))
    assert store.load(M, "a").head.state == "B"


def test_committed_writes_survive_a_new_connection(sql_backend: Backend) -> None:
    store = sql_backend.open()
    store.create(M, "i-1", head(), records(1, 3))
    store.close()
    assert sql_backend.open().load(M, "i-1").seq == 3


def test_sqlite_runs_in_wal_with_full_sync(tmp_path: Any) -> None:
    store = S.SqlStore.sqlite(str(tmp_path / "s.sqlite"))
    connection = store._connection
    assert isinstance(connection, sqlite3.Connection)
    assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert connection.execute("PRAGMA synchronous").fetchone()[0] == 2
    store.close()


def test_sqlite_store_takes_a_default_connection(tmp_path: Any) -> None:
    plain = sqlite3.connect(str(tmp_path / "s.sqlite"))
    store = S.SqlStore(plain)
    store.create(M, "i", head(), records(1, 1))
    assert connect(str(tmp_path / "s.sqlite")).execute(
        "SELECT count(*) FROM statewright_records"
    ).fetchone() == (1,)


def test_postgres_autocommit_connection_works(postgres_url: str) -> None:
    import psycopg

    store = S.SqlStore(psycopg.connect(postgres_url, autocommit=True))
    store.create(M, "i", head(), records(1, 1))
    store.append(M, "i", 0, head("B"), records(2, 1))
    with pytest.raises(RuntimeError), store.batch():
        store.append(M, "i", 1, head("C"), records(3, 1))
        raise RuntimeError
    assert store.load(M, "i").seq == 2
    store.close()


def test_unknown_driver_is_refused_with_a_clear_message() -> None:
    class Elsewhere:
        def cursor(self) -> None: ...

    with pytest.raises(ValueError, match="pass dialect='sqlite' or dialect='postgresql'"):
        S.SqlStore(Elsewhere())  # type: ignore[arg-type]  # deliberately not a connection
