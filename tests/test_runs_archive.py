"""``statewright runs archive``: finished runs move out of the store into an archive store
(a SQLite file with the same tables), verified there before they are deleted, on SQLite
and on a real PostgreSQL; what is not finished, not delivered or too recent stays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pgcluster import postgres_server, postgres_url
from storekit import SQL_BACKENDS, Backend, backend_fixture, generate_runtime
from test_runtime_kit import Clock
from test_worker_timers import TIMER_SPEC

from statewright.generator.cli import main

__all__ = ["postgres_server", "postgres_url"]

sql_backend = backend_fixture(SQL_BACKENDS)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("timer"), TIMER_SPEC)[0]


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "timer.yaml"
    path.write_text(TIMER_SPEC)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def finished(rt: Any, store: Any, instance_id: str, clock: Any) -> None:
    machine = rt.Timer.create(store, instance_id, clock=clock)
    machine.start()
    machine.fire(rt.Trigger.FINISH)


def fill(rt: Any, store: Any) -> None:
    """Two old finished runs and a recent one, delivered; an old unfinished one; then an
    old finished one whose effects no worker delivered yet."""
    old = Clock(datetime.now(UTC) - timedelta(days=40))
    finished(rt, store, "old-1", old)
    finished(rt, store, "old-2", old)
    finished(rt, store, "recent", Clock(datetime.now(UTC) - timedelta(days=2)))
    rt.Timer.create(store, "waiting", clock=old).start()
    worker = rt.Worker(store, rt.Handlers())
    while not worker.run_once().idle:  # delivered: the runs above leave the claimable index
        pass
    finished(rt, store, "undelivered", old)


def test_archive_moves_finished_runs_and_keeps_their_chains(
    rt: Any, sql_backend: Backend, spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = sql_backend.open(rt)
    fill(rt, store)
    records = {i: len(rt.Timer.load(store, i).audit) for i in ("old-1", "old-2")}
    archive = tmp_path / "archive.db"
    args = ["runs", "archive", sql_backend.target, "--finished-before", "30d"]
    status, out = run(capsys, *args, "--to", str(archive), "--specs", str(spec))
    assert status == 0, out
    assert "timer: 2 run(s) finished before" in out
    assert f"archived to {archive} ({sum(records.values())} records)" in out

    store = sql_backend.open(rt)
    for instance_id in ("old-1", "old-2"):
        with pytest.raises(rt.UnknownInstance):
            rt.Timer.load(store, instance_id)
    for instance_id in ("recent", "waiting", "undelivered"):
        rt.Timer.load(store, instance_id)
    assert store.verify() == []
    assert {p.instance_id for p in rt.Outbox(store, create=False).pending(due_only=False)} <= {
        "recent",
        "waiting",
        "undelivered",
    }, "the archived runs' outbox rows went with them"

    kept = rt.SqlStore.sqlite(str(archive))
    assert [i for _, i, _ in kept.instances()] == ["old-1", "old-2"]
    for instance_id, count in records.items():
        machine = rt.Timer.load(kept, instance_id)
        assert machine.state is rt.State.FINISHED and len(machine.audit) == count
    assert run(capsys, "audit", "verify", str(archive))[0] == 0, "the archive verifies"

    status, out = run(capsys, *args, "--to", str(archive), "--specs", str(spec))
    assert (status, "nothing finished before" in out) == (0, True), out


def test_a_run_whose_copy_fails_verification_stays(
    rt: Any, sql_backend: Backend, spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = sql_backend.open(rt)
    fill(rt, store)
    sql_backend.execute(
        'UPDATE statewright_records SET body = REPLACE(body, \'"at":"\', \'"at":"1\')'
        " WHERE instance_id = 'old-1' AND seq = 1"
    )
    archive = tmp_path / "archive.db"
    status, out = run(
        capsys,
        *("runs", "archive", sql_backend.target, "--finished-before", "30d"),
        *("--to", str(archive), "--specs", str(spec)),
    )
    assert status == 1, out
    assert "timer old-1: the archived copy fails verification" in out
    assert "timer: 1 run(s)" in out, "the intact one was archived"
    assert [i for _, i, _ in sql_backend.open(rt).instances()] == [
        "old-1",
        "recent",
        "undelivered",
        "waiting",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--finished-before", "soon"], "'soon' is not a duration"),
        (["--finished-before", "30d", "--specs", "nowhere.yaml"], "no such file"),
        (["--finished-before", "30d", "--specs", "EMPTY"], "no spec files"),
    ],
)
def test_bad_input_is_one_line(
    rt: Any,
    spec: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    message: str,
) -> None:
    store = tmp_path / "runs.db"
    rt.SqlStore.sqlite(str(store)).close()
    (tmp_path / "EMPTY").mkdir()
    args = [str(tmp_path / "EMPTY") if arg == "EMPTY" else arg for arg in args]
    argv = ["runs", "archive", str(store), "--to", str(tmp_path / "a.db"), *args]
    if "--specs" not in args:
        argv += ["--specs", str(spec)]
    try:
        status, out = run(capsys, *argv)
    except SystemExit as exit:  # argparse: usage and one error line
        status, out = int(str(exit.code)), capsys.readouterr().err
    assert status == 2 and message in out, out
    assert "Traceback" not in out
    status, out = run(
        capsys,
        "runs",
        "archive",
        str(tmp_path / "none.db"),
        "--to",
        "a.db",
        "--finished-before",
        "1d",
        "--specs",
        str(spec),
    )
    assert (status, out.count("\n")) == (2, 1) and "no such file" in out, out
