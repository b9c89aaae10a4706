"""``runs list`` and ``runs show`` tell an escalation's due time from a timeout: the
shipped ``release_review`` (a quorum of two, escalated to a director after a day, failed
after three) on SQLite, the runs written with a fake clock and the command reading the
same clock. What is due, and when, is held to the runtime's own answer
(``Machine.next_due``, ``gate_status().escalates_at``, ``deadline``) for each run."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from consolekit import RELEASE_ROLES, ROOT, release_review
from test_runtime_kit import START, Clock

from statewright.generator.cli import main
from statewright.generator.commands import runs_due
from statewright.generator.runtime import Actor, SqlStore
from statewright.generator.runtime.store import instant

DAY = timedelta(days=1)


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Clock, Any]:
    """Release runs at REVIEW: ``fresh`` entered at START; ``half`` at START with one of
    its two approvals (a vote does not restart the clock); ``widened`` entered at START
    and escalated when a worker's sweep came by at START + 25 h; ``late`` entered a day
    before START and left unswept; ``released`` approved by two. The command's now is
    the clock's."""
    cls = release_review()["release_review"].machine
    path = tmp_path / "releases.sqlite"
    store = SqlStore.sqlite(str(path))
    alice = Actor("alice", RELEASE_ROLES["alice"])
    bob = Actor("bob", RELEASE_ROLES["bob"])
    carol = Actor("carol", RELEASE_ROLES["carol"])
    clock = Clock(START - DAY)
    for name in ("late", "fresh", "half", "widened", "released"):
        if name == "fresh":
            clock.advance(days=1)
        run = cls.create(store, name, clock=clock, context={"version": name})
        run.fire("release_requested", actor=alice)
        run.fire("build_ready")
        if name in ("half", "released"):
            run.fire("approved", actor=bob, decision="Checked the notes.")
        if name == "released":
            run.fire("approved", actor=carol, decision="Artefact matches.")
    clock.advance(hours=25)
    widened = cls.load(store, "widened", clock=clock)
    assert widened.expire() is not None  # the escalation, recorded at its due time
    monkeypatch.setattr(runs_due, "now", clock)
    return path, clock, cls


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def runtime_due(cls: Any, store: SqlStore, instance: str) -> list[tuple[str, str]]:
    """What the runtime says comes next for ``instance``: (what, stored moment), earliest
    first, the first being ``next_due``. The escalation is the gate's own account
    (``gate_status().escalates_at``) asked at a moment before every run entered the gate,
    when an unrecorded escalation is still to come."""
    machine = cls.load(store, instance, clock=lambda: START - 7 * DAY)
    status = machine.gate_status()
    found = []
    if status is not None and status.escalates_at is not None:
        found.append(("escalation", instant(status.escalates_at)))
    if machine.deadline is not None:
        found.append(("timeout", instant(machine.deadline)))
    found.sort(key=lambda item: (item[1], item[0] != "escalation"))
    assert (found[0][1] if found else None) == (
        None if machine.next_due is None else instant(machine.next_due)
    )
    return found


def test_list_says_what_is_due_and_when(
    store_path: tuple[Path, Clock, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path, clock, cls = store_path
    specs = str(ROOT / "specs")
    clock.advance(hours=-24)  # START + 1 h: fresh and half escalate in 23 h
    status, out = run(capsys, "runs", "list", str(path), "--specs", specs)
    assert status == 0, out
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if ": REVIEW," in line}
    assert set(lines) == {"fresh", "half", "widened", "late"}
    escalates = iso(START + DAY)
    times_out = iso(START + 3 * DAY)
    expected = f"escalates {escalates} (in 23 h) to director, times out {times_out} (in 2 d)"
    assert expected in lines["fresh"] and expected in lines["half"]
    # the escalation recorded (here at START + 25 h, later than this now): only the timeout
    assert f"reviewers maintainer, times out {times_out} (in 2 d), spec" in lines["widened"]
    assert "escalates" not in lines["widened"]
    # past its escalation, and nobody swept it: the escalation is what is due, overdue
    assert (
        f"escalates {iso(START)} OVERDUE (1 h ago) to director, "
        f"times out {iso(START + 2 * DAY)} (in 1 d)"
    ) in lines["late"]

    status, out = run(capsys, "runs", "list", str(path), "--specs", specs, "--format", "json")
    (machine,) = json.loads(out)["machines"]
    approvals = {a["instance_id"]: a for a in machine["approvals"]}
    assert set(approvals) == {"fresh", "half", "widened", "late"}
    store = SqlStore.sqlite(str(path))
    heads = {i: h for _, i, h in store.instances("release_review")}
    for name, approval in approvals.items():
        due = approval["due"]
        assert [(d["event"], d["at"]) for d in due] == runtime_due(cls, store, name)
        # the old fields as they were: the store's due time, the first of what is due
        head = heads[name]
        assert approval["deadline"] == head.deadline == due[0]["at"]
        assert approval["overdue"] == (name == "late") == due[0]["overdue"]
        for d in due:
            if d["event"] == "escalation":
                assert d["to"] == ["director"]
            else:
                assert d["trigger"] == "review_timeout"
    assert [d["event"] for d in approvals["fresh"]["due"]] == ["escalation", "timeout"]
    assert [d["event"] for d in approvals["widened"]["due"]] == ["timeout"]


def test_show_says_what_is_due_and_when(
    store_path: tuple[Path, Clock, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    path, _, _ = store_path
    specs = str(ROOT / "specs")
    status, out = run(capsys, "runs", "show", str(path), "half", "--specs", specs)
    assert status == 0, out
    # START + 25 h: half's escalation fell due an hour ago and is not recorded yet
    assert f"  escalates: {iso(START + DAY)} OVERDUE (1 h ago) to director\n" in out
    assert f"  times out: {iso(START + 3 * DAY)} (in 1 d)\n" in out
    assert "  deadline:" not in out
    assert out.index("  escalates:") < out.index("  times out:")
    status, out = run(capsys, "runs", "show", str(path), "widened", "--specs", specs)
    assert "  escalates:" not in out and " escalation " in out  # recorded, in the timeline
    assert f"  times out: {iso(START + 3 * DAY)} (in 1 d)\n" in out
    status, out = run(capsys, "runs", "show", str(path), "released", "--specs", specs)
    assert "times out" not in out and "escalates:" not in out
    status, out = run(
        capsys, "runs", "show", str(path), "half", "--specs", specs, "--format", "json"
    )
    shown = json.loads(out)
    assert [(d["event"], d["overdue"]) for d in shown["due"]] == [
        ("escalation", True),
        ("timeout", False),
    ]
    assert shown["deadline"] == shown["due"][0]["at"]


def test_a_run_the_runtime_cannot_load_shows_its_stored_due_time(
    store_path: tuple[Path, Clock, Any], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """--specs holds an edited release_review (its timeout moved) and no history of the
    version the runs were written under: the runtime of the edited spec refuses to load
    them, so the listing says only what the store keeps, ``due``, and exits 0."""
    path, _, _ = store_path
    edited = tmp_path / "edited"
    edited.mkdir()
    text = (ROOT / "specs" / "release_review.yaml").read_text(encoding="utf-8")
    (edited / "release_review.yaml").write_text(text.replace("after: 72h", "after: 96h"))
    status, out = run(capsys, "runs", "list", str(path), "--specs", str(edited))
    assert status == 0 and "Traceback" not in out, out
    assert "not the version in --specs" in out
    assert f"fresh: REVIEW, reviewers maintainer, due {iso(START + DAY)} OVERDUE (1 h ago)" in out
    status, out = run(capsys, "runs", "list", str(path), "--specs", str(edited), "--format", "json")
    (machine,) = json.loads(out)["machines"]
    fresh = next(a for a in machine["approvals"] if a["instance_id"] == "fresh")
    assert [(d["event"], d["at"]) for d in fresh["due"]] == [("due", fresh["deadline"])]
