"""Verified loading (issue 21, item 4): an instance is never acted on unless its chain and
its row verify, on every path that reads one, and ``audit verify`` recomputes the row.

Each case edits one stored instance in SQLite behind the store's back (its row's state,
deadline, record count or head hash; a record's body), beside an honest instance. Then,
for every path: ``Class.load`` refuses it (``ChainBroken``), a rollback never gets to it,
a sweep never fires it (it is reported unreadable), a worker quarantines it at once and
serves the honest one, ``runs show`` refuses it (exit 1), ``audit verify`` names it with
what the records give, ``audit check`` reports it as tampered and ``audit export``
refuses it (but for an edited deadline: the trace is the records, which verify); the
honest instance passes every one.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from storekit import generate_runtime
from test_audit_check_store import cli
from test_audit_check_store import spec_file as ticket_spec_file
from test_runtime_late import Clock

spec_file = ticket_spec_file

Edit = Callable[[sqlite3.Connection], object]


def _row(sql: str) -> Edit:
    return lambda connection: connection.execute(sql + " WHERE instance_id = 'edited'")


EDITS: dict[str, tuple[Edit, str]] = {
    "the row's state": (
        _row("UPDATE statewright_instances SET state = 'DONE', deadline = NULL"),
        "the instance row says state 'DONE', deadline None; its records give 'REVIEW'",
    ),
    "the row's deadline": (
        _row("UPDATE statewright_instances SET deadline = '2099-01-01T00:00:00.000000Z'"),
        "the instance row says state 'REVIEW', deadline 2099-01-01T00:00:00.000000Z; its "
        "records give 'REVIEW', deadline 2026-12-01T10:05:00.000000Z",
    ),
    "the row's record count": (
        _row("UPDATE statewright_instances SET seq = seq - 1"),
        "altered: a record beyond the instance's head",
    ),
    "the row's head hash": (
        _row("UPDATE statewright_instances SET head = substr(head, 2) || '0'"),
        "altered: it is not the record the head row names",
    ),
    "a record's body": (
        lambda connection: connection.execute(
            "UPDATE statewright_records SET body = replace(body, '\"start\"', '\"submit\"')"
            " WHERE instance_id = 'edited' AND seq = 2"
        ),
        "record 2: altered: its content no longer matches its hash",
    ),
}


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("verified"))[0]


def stored(rt: Any, path: Path, edit: Edit, clock: Clock) -> None:
    """Two tickets waiting in REVIEW (due at 10:05), one of them then edited."""
    store = rt.SqlStore.sqlite(str(path))
    for name in ("edited", "honest"):
        machine = rt.Ticket.create(store, name, clock=clock)
        machine.start()
        clock.wait(minutes=5)
        machine.submit()
        clock.now -= timedelta(minutes=5)
    store.close()
    with contextlib.closing(sqlite3.connect(path)) as connection, connection:
        edit(connection)


@pytest.mark.parametrize("case", list(EDITS))
def test_an_edited_instance_is_never_acted_on(
    rt: Any, tmp_path: Path, spec_file: Path, case: str
) -> None:
    edit, problem = EDITS[case]
    path, clock = tmp_path / "store.sqlite", Clock()
    stored(rt, path, edit, clock)
    store = rt.SqlStore.sqlite(str(path))
    lead = rt.Actor("lee", frozenset({"lead"}))

    # loading, and so acting (a rollback, a trigger) on it
    with pytest.raises(rt.ChainBroken) as broken:
        rt.Ticket.load(store, "edited", clock=clock)
    assert problem in str(broken.value.problem)
    honest = rt.Ticket.load(store, "honest", clock=clock)
    honest.approve(actor=lead, decision="good")
    honest.rollback(2, actor=lead, decision="undo")

    # a sweep past the deadline: the edited one is unreadable, never fired
    clock.wait(hours=3)
    report = rt.Ticket.sweep(store, clock=clock)
    assert report.fired == []
    if case not in ("the row's state", "the row's deadline"):  # else not due: not read
        assert [i for i, _ in report.unreadable] == ["edited"]

    # a worker: quarantined at once, never delivered
    worker = rt.Worker(store, rt.Handlers(), clock=clock, jitter=lambda: 1.0)
    assert worker.run_once().quarantined == 1
    held = {p.instance_id: p for p in rt.Outbox(store).pending(due_only=False)}
    assert held["edited"].quarantined is not None and problem in str(held["edited"].error)
    assert held["honest"].quarantined is None and held["honest"].delivered == 5
    store.close()

    # the commands
    status, _, err = cli("runs", "show", str(path), "edited", "--specs", str(spec_file))
    assert status == 1 and "tampered" in err and problem in err
    status, out, _ = cli("runs", "show", str(path), "honest", "--specs", str(spec_file))
    assert status == 0, out
    status, out, _ = cli("audit", "verify", str(path), "--specs", str(spec_file))
    assert status == 1 and problem in out and "ticket 'edited'" in out
    assert "'honest'" not in out
    status, out, _ = cli("audit", "check", str(path), "--specs", str(spec_file))
    assert status == 1
    assert "error[run-tampered] ticket 'edited' is tampered, so not checked" in out
    assert problem in out and "1 with findings, 1 tampered" in out
    status, _, err = cli("audit", "export", str(path), "edited")
    if case == "the row's deadline":  # the trace is the records, which verify; not the row
        assert (status, err) == (0, "")
    else:
        assert status == 1 and "tampered" in err


def test_a_row_edited_under_another_spec_version_is_told_apart(rt: Any, tmp_path: Path) -> None:
    """A deadline that is not what the timers give, for an instance created under another
    version of the spec: loading says the spec may have changed, not that it is tampered
    (``StoreError``, which a worker retries and ``audit verify --specs`` settles)."""
    path, clock = tmp_path / "store.sqlite", Clock()
    stored(rt, path, EDITS["the row's deadline"][0], clock)
    store = rt.SqlStore.sqlite(str(path))
    other = rt.Ticket.spec.sha256
    try:
        object.__setattr__(rt.Ticket.spec, "sha256", "0" * 64)
        with pytest.raises(rt.StoreError, match="declares no migration from it") as error:
            rt.Ticket.load(store, "edited", clock=clock)
        assert not isinstance(error.value, rt.ChainBroken)
    finally:
        object.__setattr__(rt.Ticket.spec, "sha256", other)
    store.close()
