"""``statewright runs list|show``: the operators' view of a store, in text and JSON."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from agentkit import RELAY_SPEC, relay_runtime
from test_runtime_kit import Clock

from statewright.generator.cli import main


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return relay_runtime(tmp_path_factory.mktemp("relay"))[0]


@pytest.fixture
def store_path(rt: Any, tmp_path: Path) -> Path:
    """A store with one run waiting for review, one failed by its agent, one whose
    delivery keeps failing and one that never started."""
    path = tmp_path / "runs.sqlite"
    store = rt.SqlStore.sqlite(str(path))
    clock = Clock()
    handlers = rt.Handlers()

    @handlers.on_enter(rt.State.DRAFTING, error=rt.Trigger.AGENT_ERROR)
    def draft(job: Any) -> Any:
        if job.instance_id == "broken":
            raise ValueError("the draft came back empty")
        return rt.Trigger.DRAFTED

    @handlers.on_enter(rt.State.CHECKING)
    def check(job: Any) -> Any:
        if job.instance_id == "stuck":
            raise TimeoutError("checker timed out")
        return rt.Trigger.CHECKED

    for instance_id in ("waiting", "broken", "stuck"):
        machine = rt.Relay.create(store, instance_id, clock=clock, context={"topic": "x"})
        machine.start(actor=rt.Actor("ana"))
    rt.Relay.create(store, "idle", clock=clock)
    rt.Worker(store, handlers, clock=clock).run_once()
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "relay.yaml").write_text(RELAY_SPEC)
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out + captured.err


def test_list_shows_states_approvals_and_effects(
    rt: Any, store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = str(store_path.parent / "specs")
    status, out = run(capsys, "runs", "list", str(store_path), "--specs", specs)
    assert status == 0
    assert "relay: 4 instance(s)" in out
    assert "  FAILED (failed): 1\n" in out and "  REVIEW (approval): 1\n" in out
    assert "  IDLE (idle): 1\n" in out and "  CHECKING (running): 1\n" in out
    assert "waiting: REVIEW, reviewers lead, times out 2026-01-01T01:00:00+00:00 OVERDUE (" in out
    assert f"  spec {rt.SOURCE_SHA256[:12]}: 4, the version in --specs\n" in out
    assert "stuck: delivered 2 of 3 records, 1 failed, retry at" in out
    assert "TimeoutError('checker timed out')" in out
    status, out = run(capsys, "runs", "list", str(store_path), "--specs", specs, "--format", "json")
    (relay,) = json.loads(out)["machines"]
    assert relay["approvals"] == [
        {
            "instance_id": "waiting",
            "state": "REVIEW",
            "reviewers": ["lead"],
            "deadline": "2026-01-01T01:00:00.000000Z",
            "overdue": True,
            "spec": rt.SOURCE_SHA256[:12],
            "due": [
                {
                    "event": "timeout",
                    "trigger": "review_timeout",
                    "at": "2026-01-01T01:00:00.000000Z",
                    "overdue": True,
                }
            ],
        }
    ]
    assert {e["instance_id"] for e in relay["effects"]} == {"stuck"}
    assert relay["versions"] == [
        {"spec": rt.SOURCE_SHA256[:12], "instances": 4, "migrated": 0, "current": True}
    ]


def test_show_prints_the_timeline_with_snapshots(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    specs = str(store_path.parent / "specs")
    status, out = run(capsys, "runs", "show", str(store_path), "broken", "--specs", specs)
    assert status == 0
    assert out.startswith("relay broken: FAILED (failed), reason AGENT_ERROR\n")
    assert "  recovery 1. Read the snapshot\n" in out
    assert "IDLE -> DRAFTING  on start  by ana" in out
    assert "DRAFTING -> FAILED  on agent_error  by handler:draft  reason AGENT_ERROR" in out
    assert "ValueError: the draft came back empty" in out
    assert 'snapshot context: {"topic": "x"}' in out
    status, out = run(
        capsys, "runs", "show", str(store_path), "broken", "--specs", specs, "--format", "json"
    )
    shown = json.loads(out)
    assert (shown["state"], shown["reason"], shown["delivered"]) == ("FAILED", "AGENT_ERROR", 3)
    assert shown["timeline"][-1]["snapshot"]["context"] == {"topic": "x"}


def test_show_refuses_what_it_cannot_find(
    store_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out = run(capsys, "runs", "show", str(store_path), "nope")
    assert status == 2 and "no instance 'nope'" in out
    status, out = run(capsys, "runs", "list", str(store_path.parent / "missing.sqlite"))
    assert status == 2 and "no such file" in out


def test_show_gives_each_failure_its_recovery_and_each_step_its_variable_changes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The agents guide promises recovery steps per failure snapshot; runs show printed
    them for the current failure only, and never showed what a step changed."""
    from storekit import RETRIES_SPEC, generate_runtime

    rt, _ = generate_runtime(tmp_path / "retries", RETRIES_SPEC)
    store = rt.SqlStore.sqlite(str(tmp_path / "runs.sqlite"))
    ops = rt.Actor("olu", frozenset({"ops"}))
    run_ = rt.Retries.create(store, "r1", clock=Clock())
    run_.crashed(payload={"error": "first"})
    run_.retry(actor=ops, decision="try again")
    run_.crashed(payload={"error": "second"})
    run_.retry(actor=ops, decision="once more")
    store.close()
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "retries.yaml").write_text(RETRIES_SPEC)
    specs = str(tmp_path / "specs")
    status, out = run(capsys, "runs", "show", str(tmp_path / "runs.sqlite"), "r1", "--specs", specs)
    assert status == 0
    lines = out.splitlines()
    snapshots = [i for i, line in enumerate(lines) if "snapshot payload:" in line]
    assert len(snapshots) == 2  # both failures, not only a current one (there is none)
    for at in snapshots:
        assert lines[at + 2 : at + 4] == [
            "        recovery 1. Read the snapshot",
            "        recovery 2. Retry or give up",
        ]
    changes = [line.strip() for line in lines if "variables:" in line]
    assert changes == ["variables: attempts 0 -> 1", "variables: attempts 1 -> 2"]
    assert "no spec of" not in out


def test_without_its_spec_list_and_show_say_what_specs_would_add(
    store_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run outside the clone, runs list silently dropped approvals and state kinds."""
    monkeypatch.chdir(store_path.parent / "specs")  # a folder with no specs/ in it
    for command in (["list", str(store_path)], ["show", str(store_path), "waiting"]):
        status, out = run(capsys, "runs", *command)
        assert status == 0
        sha = hashlib.sha256(RELAY_SPEC.encode()).hexdigest()[:12]
        assert (
            f"  (no spec of relay with sha256 {sha} in specs/ (there is none here): state kinds, "
            in out
        )
        assert "pass --specs PATH with the spec it runs under)" in out
    status, out = run(capsys, "runs", "list", str(store_path), "--specs", ".")
    assert "no spec of" not in out and "reviewers lead" in out


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


def test_each_instance_finds_its_spec_by_hash_in_the_git_history(
    store_path: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The spec in --specs moved on (its reviewers are editors now, another hash): the
    instances recorded the hash of the version they run under, found in the file's git
    history, and are shown with that version's reviewers and kinds."""
    clone = tmp_path / "clone"
    (clone / "specs").mkdir(parents=True)
    spec = clone / "specs" / "relay.yaml"
    spec.write_text(RELAY_SPEC)
    git(clone, "init", "-q")
    git(clone, "add", ".")
    git(clone, "commit", "-q", "-m", "relay")
    assert "reviewers: [lead]" in RELAY_SPEC
    spec.write_text(RELAY_SPEC.replace("reviewers: [lead]", "reviewers: [editor]"))
    status, out = run(capsys, "runs", "list", str(store_path), "--specs", str(spec))
    assert status == 0
    assert "reviewers lead" in out and "editor" not in out, out
    assert "  REVIEW (approval): 1" in out and "no spec of" not in out
    status, out = run(capsys, "runs", "show", str(store_path), "broken", "--specs", str(spec))
    assert status == 0 and "(failed)" in out and "recovery 1." in out, out


def test_a_version_found_nowhere_is_named_with_what_specs_would_add(
    store_path: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Outside git, --specs holds another machine only: the line names the hash looked for."""
    other = tmp_path / "other.yaml"
    other.write_text(RELAY_SPEC.replace("machine: relay", "machine: other"))
    status, out = run(capsys, "runs", "list", str(store_path), "--specs", str(other))
    sha = hashlib.sha256(RELAY_SPEC.encode()).hexdigest()[:12]
    assert status == 0
    assert f"  (no spec of relay with sha256 {sha} in {other}: state kinds" in out, out
    assert "waiting for approval" not in out
