"""Migration at run time: an instance stored under one version of a spec, loaded by the
module generated from another. Refused without a declared migration (and left alone by
workers), moved with one (a ``migrated`` record the replay checks), and moved in bulk by
``statewright migrate OLD NEW --store``, resumably, checked by killing it mid-way."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pgcluster import postgres_server, postgres_url
from storekit import SQL_BACKENDS, Backend, backend_fixture, connect
from test_runtime_kit import Clock, generate, load_spec

from statewright.generator.cli import main
from statewright.generator.commands.migrate_store import runtime_migration
from statewright.generator.runtime.store import StoreHead
from statewright.verify.migration import sha256_of
from statewright.verify.model import Location, Migration

__all__ = ["postgres_server", "postgres_url"]

ROOT = Path(__file__).resolve().parents[1]

OLD = """\
statewright: 1
machine: review
initial: DRAFTING
variables:
  revisions: {type: int, min: 0, max: 2, initial: 0}
  legacy: {type: bool, initial: false}
states:
  DRAFTING: {kind: idle}
  REVIEWING: {kind: approval, reviewers: [lead]}
  STUCK: {kind: failed, reviewers: [lead]}
  DONE: {kind: complete, final: true}
transitions:
  - {from: DRAFTING, to: REVIEWING, trigger: submit}
  - {from: REVIEWING, to: DONE, trigger: approve, human: true}
  - {from: REVIEWING, to: STUCK, trigger: reject, human: true, reason: REJECTED}
  - {from: REVIEWING, to: STUCK, trigger: review_timeout, after: 1h, reason: TIMEOUT}
  - {from: STUCK, to: DRAFTING, trigger: resume, human: true}
  - from: REVIEWING
    to: DRAFTING
    trigger: revise
    human: true
    when: revisions < 2
    set: {revisions: revisions + 1}
rollback: {reviewers: [lead]}
reasons:
  REJECTED: {recovery: [Read the review]}
  TIMEOUT: {recovery: [Find a reviewer]}
"""
"""The version stored runs were started under: a draft, a review with a timeout, a
failed state, a revision counter and a variable the next version drops."""

OLD_SHA = sha256_of(OLD.encode())

NEW = OLD.replace("REVIEWING", "WAITING").replace(
    "  legacy: {type: bool, initial: false}\n", "  urgent: {type: bool, initial: false}\n"
).replace("after: 1h", "after: 2h") + textwrap.dedent(f"""\
        migrations:
          - from: {OLD_SHA[:8]}
            states: {{REVIEWING: WAITING}}
            variables: {{urgent: true}}
            drop: [legacy]
        """)
"""The next version: REVIEWING renamed WAITING (with a longer timeout), ``legacy``
dropped, ``urgent`` added, and the migration from OLD that says so."""

OTHER = OLD.replace("DONE", "FINISHED")
"""Another version, which declares no migration from OLD."""

LANDING = (
    OLD.replace("REVIEWING", "WAITING")
    .replace("  legacy: {type: bool, initial: false}\n", "")
    .replace(
        "  - {from: STUCK, to: DRAFTING, trigger: resume, human: true}\n",
        "  - {from: STUCK, to: DRAFTING, trigger: resume, human: true}\n"
        "  - {from: STUCK, to: PARKED, trigger: park, human: true}\n"
        "  - {from: PARKED, to: DRAFTING, trigger: always}\n",
    )
    .replace(
        "  DONE: {kind: complete, final: true}\n",
        "  DONE: {kind: complete, final: true}\n  PARKED: {}\n",
    )
    + f"migrations:\n  - {{from: {OLD_SHA[:8]}, states: {{REVIEWING: PARKED}}, drop: [legacy]}}\n"
)
"""A version that parks every reviewed run in PARKED, which moves on to DRAFTING at once."""

backend = backend_fixture(SQL_BACKENDS)
"""SQL stores: a memory store lives in one process, and so under one version of a spec
(the ``_statewright`` copy of each module tells its own values apart)."""
sql_backend = backend


@pytest.fixture(scope="module")
def rts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("versions")
    texts = {"old": OLD, "new": NEW, "other": OTHER, "landing": LANDING}
    return {
        name: generate(load_spec(text, "specs/review.yaml"), folder) for name, text in texts.items()
    }


def lead(rt: Any) -> Any:
    return rt.Actor("lena", frozenset({"lead"}))


def fleet(rt: Any, store: Any, clock: Clock) -> dict[str, str]:
    """A run resting in every state OLD's runs can rest in, by id: the state it is in."""
    review = rt.Review
    drafting = review.create(store, "drafting", clock=clock)
    drafting.update_context({"title": "draft"})
    revised = review.create(store, "revised", clock=clock, context={"title": "once more"})
    revised.submit()
    revised.revise(actor=lead(rt), decision="tighten it")
    revised.submit()
    stuck = review.create(store, "stuck", clock=clock)
    stuck.submit()
    clock.advance(hours=2)
    stuck.expire()
    done = review.create(store, "done", clock=clock)
    done.submit()
    done.approve(actor=lead(rt), decision="fine")
    return {"drafting": "DRAFTING", "revised": "REVIEWING", "stuck": "STUCK", "done": "DONE"}


def bodies(store: Any, instance_id: str) -> list[dict[str, Any]]:
    return [json.loads(e.body) for e in store.load("review", instance_id).entries]


# -- refused without a migration ---------------------------------------------------------


def test_a_created_record_carries_the_spec_version(rts: dict[str, Any], backend: Backend) -> None:
    old = rts["old"]
    store = backend.open(old)
    old.Review.create(store, "a")
    assert bodies(store, "a")[0]["spec"] == OLD_SHA == old.SOURCE_SHA256
    assert old.Review.load(store, "a").audit[0].event == old.Event.CREATED


def test_another_version_without_a_migration_is_refused_and_nothing_changes(
    rts: dict[str, Any], backend: Backend
) -> None:
    old, other = rts["old"], rts["other"]
    store = backend.open(old)
    old.Review.create(store, "a").submit()
    version = store.version("review", "a")
    with pytest.raises(other.SpecMismatch) as refused:
        other.Review.load(store, "a")
    message = str(refused.value)
    assert f"runs under spec {OLD_SHA[:12]}" in message
    assert f"from: {OLD_SHA[:12]}" in message and "statewright migrate" in message
    assert isinstance(refused.value, other.StoreError)
    assert store.version("review", "a") == version and len(bodies(store, "a")) == 2


# -- moved by a declared migration -------------------------------------------------------


def test_a_declared_migration_moves_each_run_on_load_and_it_goes_on(
    rts: dict[str, Any], backend: Backend
) -> None:
    old, new = rts["old"], rts["new"]
    clock = Clock()
    store = backend.open(old)
    states = fleet(old, store, clock)
    clock.advance(minutes=5)
    moved = {i: new.Review.load(store, i, clock=clock) for i in states}
    assert {i: m.state.value for i, m in moved.items()} == {
        "drafting": "DRAFTING",
        "revised": "WAITING",
        "stuck": "STUCK",
        "done": "DONE",
    }
    assert moved["revised"].variables == new.Variables(revisions=1, urgent=True)
    assert moved["stuck"].reason == new.Reason.TIMEOUT
    assert moved["drafting"].context == {"title": "draft"}
    assert moved["revised"].context == {"title": "once more"}
    record = bodies(store, "revised")[-1]
    assert record == {
        "seq": 5,
        "at": clock.now.isoformat(),
        "event": "migrated",
        "from_state": "REVIEWING",
        "to_state": "WAITING",
        "trigger": None,
        "actor": None,
        "decision": None,
        "reason": None,
        "rollback_to": None,
        "data": {
            "from_spec": OLD_SHA,
            "to_spec": new.SOURCE_SHA256,
            "migration": OLD_SHA[:8],
            "states": {"REVIEWING": "WAITING"},
            "values": {"urgent": True},
            "dropped": ["legacy"],
        },
        "variables": {"revisions": 1, "urgent": True},
    }
    # the timed exit counts from the migration, under the new timer
    assert moved["revised"].deadline == clock.now + timedelta(hours=2)
    assert store.verify() == []
    # loaded again: the same, no second migration
    again = new.Review.load(store, "revised", clock=clock)
    assert len(again.audit) == 5 and again.state == new.State.WAITING
    again.approve(actor=lead(new), decision="now it is")
    assert new.Review.load(store, "revised").state == new.State.DONE
    stuck = new.Review.load(store, "stuck", clock=clock)
    stuck.resume(actor=lead(new), decision="found one")
    stuck.submit()
    assert new.Review.load(store, "stuck").state == new.State.WAITING
    # the old module no longer holds these runs' version
    with pytest.raises(old.SpecMismatch, match=f"runs under spec {new.SOURCE_SHA256[:12]}"):
        old.Review.load(store, "revised")
    assert [b["event"] for b in bodies(store, "revised")].count("migrated") == 1


def test_a_run_created_under_the_new_version_is_not_migrated(rts: dict[str, Any]) -> None:
    new = rts["new"]
    store = new.MemoryStore()  # one version: a memory store will do
    new.Review.create(store, "a").submit()
    assert [b["event"] for b in bodies(store, "a")] == ["created", "transition"]
    assert len(new.Review.load(store, "a").audit) == 2


def test_no_rollback_reaches_behind_the_migration(rts: dict[str, Any], tmp_path: Path) -> None:
    old, new = rts["old"], rts["new"]
    store = old.SqlStore.sqlite(str(tmp_path / "store.sqlite"))
    machine = old.Review.create(store, "a")
    machine.submit()
    machine.revise(actor=lead(old), decision="again")
    moved = new.Review.load(store, "a")
    with pytest.raises(ValueError, match="record 2 was written under an earlier version"):
        moved.rollback(2, actor=lead(new), decision="back")
    moved.submit()
    moved.reject(actor=lead(new), decision="no")
    assert moved.rollback(4, actor=lead(new), decision="back").value == "DRAFTING"
    assert new.Review.load(store, "a").variables == new.Variables(revisions=1, urgent=True)


def test_the_new_state_left_at_once_takes_its_always_exit(
    rts: dict[str, Any], tmp_path: Path
) -> None:
    old, landing = rts["old"], rts["landing"]
    store = old.SqlStore.sqlite(str(tmp_path / "store.sqlite"))
    old.Review.create(store, "a").submit()
    moved = landing.Review.load(store, "a")
    assert moved.state == landing.State.DRAFTING
    assert [(r.event.value, r.to_state) for r in moved.audit[2:]] == [
        ("migrated", "PARKED"),
        ("transition", "DRAFTING"),
    ]
    assert len(landing.Review.load(store, "a").audit) == 4


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("to_state", "DRAFTING", "its to_state is 'DRAFTING'; the migration from"),
        ("variables", {"revisions": 2, "urgent": True}, "its variables is"),
        ("from_state", "DONE", "its from_state is 'DONE'"),
    ],
)
def test_a_migrated_record_that_is_not_the_migration_is_refused(
    rts: dict[str, Any], field: str, value: Any, says: str, tmp_path: Path
) -> None:
    old, new = rts["old"], rts["new"]
    store = old.SqlStore.sqlite(str(tmp_path / "store.sqlite"))
    machine = old.Review.create(store, "a")
    machine.submit()
    machine.revise(actor=lead(old), decision="again")
    machine.submit()
    text = new.Review.dump_audit(new.Review.load(store, "a").audit)
    lines = [json.loads(line) for line in text.splitlines()]
    assert new.Review.replay(new.Review.load_audit(text)).state == new.State.WAITING
    lines[-1][field] = value
    forged = "".join(json.dumps(line) + "\n" for line in lines)
    with pytest.raises(new.InvalidTransition, match=says):
        new.Review.replay(new.Review.load_audit(forged))


def test_a_migration_that_does_not_land_is_refused_and_nothing_changes(
    rts: dict[str, Any], tmp_path: Path
) -> None:
    old = rts["old"]
    unfinished = NEW.replace("variables: {urgent: true}", "variables: {}")
    broken = generate(load_spec(unfinished, "specs/review.yaml"), tmp_path)
    store = old.SqlStore.sqlite(str(tmp_path / "store.sqlite"))
    old.Review.create(store, "a").submit()
    with pytest.raises(broken.BadMigration, match="urgent"):
        broken.Review.load(store, "a")
    assert len(bodies(store, "a")) == 2


# -- workers -----------------------------------------------------------------------------


def drafting_handlers(rt: Any, log: list[str]) -> Any:
    handlers = rt.Handlers()

    def draft(job: Any) -> Any:
        log.append(f"draft {job.key}")
        return rt.Trigger.SUBMIT

    handlers.on_enter(rt.State.DRAFTING)(draft)
    return handlers


def test_a_worker_leaves_a_run_of_another_version_to_a_worker_holding_it(
    rts: dict[str, Any], sql_backend: Backend
) -> None:
    old, other = rts["old"], rts["other"]
    clock = Clock()
    old.Review.create(sql_backend.open(old), "a", clock=clock)
    log: list[str] = []
    foreign = other.Worker(sql_backend.open(other), drafting_handlers(other, log), clock=clock)
    first = foreign.run_once()
    assert (first.claimed, first.foreign, first.failures, first.quarantined) == (1, 1, 0, 0)
    assert foreign.foreign == {"a"}
    for _ in range(3):  # not claimed again while its claim is held, never failed
        again = foreign.run_once()
        assert (again.claimed, again.failures) == (0, 0)
    pending = other.Outbox(sql_backend.open(other)).pending(due_only=False)
    assert [(p.instance_id, p.attempts, p.error, p.quarantined) for p in pending] == [
        ("a", 0, None, None)
    ]
    clock.advance(minutes=2)  # the claim's lease ran out: a worker holding OLD takes it
    holder = old.Worker(sql_backend.open(old), drafting_handlers(old, log), clock=clock)
    assert holder.run_once().fired == 1
    assert log == ["draft review:a:1:enter"]
    assert old.Review.load(sql_backend.open(old), "a").state == old.State.REVIEWING


def test_a_worker_sweeping_passes_a_run_of_another_version_by(
    rts: dict[str, Any], sql_backend: Backend
) -> None:
    old, other = rts["old"], rts["other"]
    clock = Clock()
    old.Review.create(sql_backend.open(old), "a", clock=clock).submit()
    clock.advance(hours=3)  # its timeout is due
    worker = other.Worker(sql_backend.open(other), other.Handlers(), clock=clock)
    rounds = [worker.run_once() for _ in range(3)]
    assert [(r.timeouts, r.failures, r.quarantined) for r in rounds] == [(0, 0, 0)] * 3
    # the sweep loads it once, the claim once more (its records are undelivered); then
    # the sweeps pass it by and its claim is held
    assert [r.foreign for r in rounds] == [2, 0, 0]
    assert old.Review.load(sql_backend.open(old), "a", clock=clock).state == old.State.REVIEWING


# -- in bulk: statewright migrate --store -------------------------------------------------


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str) -> Ran:
    """``statewright ARGS`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(args))
    return Ran(status, out.getvalue(), err.getvalue())


def spec_files(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "old.yaml").write_text(OLD)
    (tmp_path / "new.yaml").write_text(NEW)
    return str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")


def test_migrate_store_moves_every_stored_run_once(
    rts: dict[str, Any], sql_backend: Backend, tmp_path: Path
) -> None:
    old, new = rts["old"], rts["new"]
    clock = Clock()
    states = fleet(old, sql_backend.open(old), clock)
    new.Review.create(sql_backend.open(new), "fresh")
    old_file, new_file = spec_files(tmp_path)
    done = cli("migrate", old_file, new_file, "--store", sql_backend.target, "--batch", "3")
    assert done.returncode == 0, done.stderr
    last = done.stdout.splitlines()[-1]
    assert f"4 review instances migrated from spec {OLD_SHA[:12]}" in last
    assert "(2 batches of at most 3); 1 already under" in last
    store = sql_backend.open(new)
    assert store.verify() == []
    for instance_id, state in states.items():
        moved = new.Review.load(store, instance_id)
        assert [r.event.value for r in moved.audit].count("migrated") == 1
        assert moved.audit[-1].event == new.Event.MIGRATED  # loading added nothing
        assert moved.state.value == {"REVIEWING": "WAITING"}.get(state, state)
    new_sha = new.SOURCE_SHA256[:12]
    listed = cli("runs", "list", sql_backend.target, "--specs", new_file).stdout
    assert f"  spec {new_sha}: 5 (4 migrated), the version in --specs\n" in listed
    shown = cli("runs", "show", sql_backend.target, "revised", "--specs", new_file).stdout
    assert f"migrated    REVIEWING -> WAITING  spec {OLD_SHA[:12]} -> {new_sha}\n" in shown
    again = cli("migrate", old_file, new_file, "--store", sql_backend.target)
    assert again.returncode == 0, again.stderr
    assert "0 review instances migrated" in again.stdout
    assert "5 already under" in again.stdout


def test_migrate_store_touches_nothing_unless_proved(
    rts: dict[str, Any], sql_backend: Backend, tmp_path: Path
) -> None:
    old = rts["old"]
    old.Review.create(sql_backend.open(old), "a").submit()
    (tmp_path / "old.yaml").write_text(OLD)
    (tmp_path / "new.yaml").write_text(NEW.replace("variables: {urgent: true}", "variables: {}"))
    done = cli(
        "migrate",
        str(tmp_path / "old.yaml"),
        str(tmp_path / "new.yaml"),
        "--store",
        sql_backend.target,
    )
    assert done.returncode == 1
    assert "not proved, so no stored run was moved" in done.stderr
    assert [b["event"] for b in bodies(sql_backend.open(old), "a")] == ["created", "transition"]


KILLER = """\
import os, signal, sys
from statewright.generator.commands import migrate_store
from statewright.generator.cli import main
from statewright.generator.commands.migrate_store import runtime_migration
from statewright.generator.runtime.store import StoreHead

kill_at = int(os.environ["KILL_AT_BATCH"])
batch = migrate_store._Mover.batch
seen = [0]

def dying(self, ids):
    seen[0] += 1
    if seen[0] == kill_at:  # inside the batch's transaction, half its runs appended
        with self.store.batch():
            for instance_id in ids[: len(ids) // 2]:
                self.one(instance_id, migrate_store.Moved())
            os.kill(os.getpid(), signal.SIGKILL)
    return batch(self, ids)

migrate_store._Mover.batch = dying
sys.exit(main(sys.argv[1:]))
"""


def killed_migration(rts: dict[str, Any], target: str, tmp_path: Path, count: int) -> None:
    old, new = rts["old"], rts["new"]
    store = (
        rts["old"].SqlStore(connect(target))
        if target.startswith("postgresql")
        else old.SqlStore.sqlite(target)
    )
    with store.batch():
        for n in range(count):
            machine = old.Review.create(store, f"r{n:04}")
            if n % 3:
                machine.submit()
    old_file, new_file = spec_files(tmp_path)
    script = tmp_path / "killer.py"
    script.write_text(KILLER)
    env = {**os.environ, "KILL_AT_BATCH": "4"}
    args = ["migrate", old_file, new_file, "--store", target, "--batch", "25"]
    dead = subprocess.run([sys.executable, str(script), *args], env=env, cwd=ROOT, check=False)
    assert dead.returncode == -signal.SIGKILL
    reader = (
        new.SqlStore(connect(target))
        if target.startswith("postgresql")
        else new.SqlStore.sqlite(target)
    )
    events = Counter(b["event"] for i in range(count) for b in bodies(reader, f"r{i:04}"))
    assert events["migrated"] == 75  # three batches committed; the fourth rolled back
    done = cli(*args)
    assert done.returncode == 0, done.stderr
    assert f"{count - 75} review instances migrated" in done.stdout
    assert "75 already under" in done.stdout
    reader = (
        new.SqlStore(connect(target))
        if target.startswith("postgresql")
        else new.SqlStore.sqlite(target)
    )
    assert reader.verify() == []
    for n in range(count):
        found = bodies(reader, f"r{n:04}")
        assert [b["event"] for b in found].count("migrated") == 1
        assert found[-1]["to_state"] == ("WAITING" if n % 3 else "DRAFTING")
    assert new.Review.load(reader, "r0001").state == new.State.WAITING


def test_a_killed_migration_run_again_migrates_each_run_once_on_sqlite(
    rts: dict[str, Any], tmp_path: Path
) -> None:
    killed_migration(rts, str(tmp_path / "store.sqlite"), tmp_path, 200)


def test_a_killed_migration_run_again_migrates_each_run_once_on_postgresql(
    rts: dict[str, Any], tmp_path: Path, postgres_url: str
) -> None:
    killed_migration(rts, postgres_url, tmp_path, 200)


# -- audit check: each part of a migrated run against its own version ---------------------


def migrated_store(rts: dict[str, Any], path: Path) -> str:
    old, new = rts["old"], rts["new"]
    store = old.SqlStore.sqlite(str(path))
    clock = Clock()
    fleet(old, store, clock)
    for instance_id in ("drafting", "revised", "stuck"):
        new.Review.load(store, instance_id, clock=clock)
    moved = new.Review.load(store, "revised", clock=clock)
    moved.approve(actor=lead(new), decision="fine")
    return str(path)


def test_audit_check_holds_each_part_of_a_migrated_run_to_its_version(
    rts: dict[str, Any], tmp_path: Path
) -> None:
    target = migrated_store(rts, tmp_path / "store.sqlite")
    both = tmp_path / "specs"
    both.mkdir()
    (both / "review-1.yaml").write_text(OLD)
    (both / "review-2.yaml").write_text(NEW)
    done = cli("audit", "check", target, "--specs", str(both))
    assert (done.returncode, done.stdout.splitlines()[-1]) == (
        0,
        f"audit check: {target}: 4 runs (16 records): 0 with findings, 0 tampered",
    ), done.stdout
    (both / "review-1.yaml").unlink()
    done = cli("audit", "check", target, "--specs", str(both))
    assert done.returncode == 1
    assert (
        f"review 'revised': records 1 to 4 ran under spec {OLD_SHA[:12]}, which is" in done.stdout
    )
    assert "4 with findings" in done.stdout  # each holds records OLD wrote


def test_audit_check_finds_the_old_version_in_git_history(
    rts: dict[str, Any], tmp_path: Path
) -> None:
    target = migrated_store(rts, tmp_path / "store.sqlite")
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    spec = repo / "specs" / "review.yaml"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=repo, check=True)
    for text, message in ((OLD, "first"), (NEW, "rename REVIEWING")):
        spec.write_text(text)
        subprocess.run([*git, "add", "."], cwd=repo, check=True)
        subprocess.run([*git, "commit", "-qm", message], cwd=repo, check=True)
    done = cli("audit", "check", target, "--specs", str(spec))
    assert done.returncode == 0, done.stdout
    assert "4 runs (16 records): 0 with findings" in done.stdout


def test_audit_check_refuses_a_migrated_record_that_is_not_the_migration(
    rts: dict[str, Any], tmp_path: Path
) -> None:
    old = rts["old"]
    target = str(tmp_path / "store.sqlite")
    store = old.SqlStore.sqlite(target)
    old.Review.create(store, "a").submit()
    stored = store.load("review", "a")
    new_sha = sha256_of(NEW.encode())
    forged = {  # written by a forger with the chain rebuilt: REVIEWING taken to DONE
        "seq": 3,
        "at": "2026-06-01T00:00:00+00:00",
        "event": "migrated",
        "from_state": "REVIEWING",
        "to_state": "DONE",
        "trigger": None,
        "actor": None,
        "decision": None,
        "reason": None,
        "rollback_to": None,
        "data": {
            "from_spec": OLD_SHA,
            "to_spec": new_sha,
            "migration": OLD_SHA[:8],
            "states": {"REVIEWING": "WAITING"},
            "values": {"urgent": True},
            "dropped": ["legacy"],
        },
        "variables": {"revisions": 0, "urgent": True},
    }
    store.append("review", "a", stored.version, StoreHead("DONE", None), [forged])
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "old.yaml").write_text(OLD)
    (tmp_path / "specs" / "new.yaml").write_text(NEW)
    done = cli("audit", "check", target, "--specs", str(tmp_path / "specs"))
    assert done.returncode == 1
    assert (
        "error[run-migration] review 'a' record 3: not what the migration from "
        f'{OLD_SHA[:8]} gives: to_state "DONE", not "WAITING"'
    ) in done.stdout
    with pytest.raises(rts["new"].InvalidTransition, match="its to_state is 'DONE'"):
        rts["new"].Review.load(old.SqlStore.sqlite(target), "a")


# -- one migration, three implementations agree ------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    state=st.sampled_from(["A", "B", "C", "D"]),
    renames=st.dictionaries(st.sampled_from(["A", "B", "C"]), st.sampled_from(["B", "X", "Y"])),
    values=st.dictionaries(st.sampled_from(["n", "flag", "mode"]), st.integers(0, 3), max_size=3),
    given_values=st.dictionaries(st.sampled_from(["n", "extra"]), st.integers(0, 3), max_size=2),
    drop=st.lists(st.sampled_from(["n", "flag", "mode"]), unique=True, max_size=2),
)
def test_the_runtime_mapping_is_the_proofs(
    state: str,
    renames: dict[str, str],
    values: dict[str, int],
    given_values: dict[str, int],
    drop: list[str],
) -> None:
    """The runtime's ``MigrationSpec`` moves a configuration where the proof's
    ``Migration.apply`` does, on random mappings and configurations."""
    location = Location("new.yaml", 1, 1)
    proof = Migration(
        "3b76db81", location, tuple(renames.items()), tuple(given_values.items()), tuple(drop)
    )
    runtime = runtime_migration(proof)
    assert (runtime.state(state), runtime.variables(values)) == proof.apply(state, values)


def test_migrate_store_writes_the_record_the_runtime_writes(
    rts: dict[str, Any], tmp_path: Path
) -> None:
    """The same fleet moved by loading each run and by ``migrate --store``: the same
    records, but for when they were written."""
    old, new = rts["old"], rts["new"]
    loaded, bulk = str(tmp_path / "loaded.sqlite"), str(tmp_path / "bulk.sqlite")
    for target in (loaded, bulk):
        fleet(old, old.SqlStore.sqlite(target), Clock())
    states = ("drafting", "revised", "stuck", "done")
    for instance_id in states:
        new.Review.load(new.SqlStore.sqlite(loaded), instance_id)
    old_file, new_file = spec_files(tmp_path)
    assert cli("migrate", old_file, new_file, "--store", bulk).returncode == 0
    for instance_id in states:
        one, other = (bodies(new.SqlStore.sqlite(t), instance_id) for t in (loaded, bulk))
        assert [b["at"] for b in one[:-1]] == [b["at"] for b in other[:-1]]
        for body in (one[-1], other[-1]):
            del body["at"]
        assert one == other
        heads = [
            new.SqlStore.sqlite(t).load("review", instance_id).head.state for t in (loaded, bulk)
        ]
        assert heads[0] == heads[1]


class Racing:
    """A store whose first append lets another program migrate the run first."""

    def __init__(self, store: Any, other: Any) -> None:
        self.store, self.other, self.raced = store, other, False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def append(self, *args: Any) -> None:
        if not self.raced:
            self.raced = True
            self.other()
        self.store.append(*args)


def test_two_programs_migrating_one_run_at_once_migrate_it_once(
    rts: dict[str, Any], tmp_path: Path
) -> None:
    """Another program migrates the run between this one's read and its write: this one's
    write loses the race, it loads the run again and finds it moved."""
    old, new = rts["old"], rts["new"]
    target = str(tmp_path / "store.sqlite")
    old.Review.create(old.SqlStore.sqlite(target), "a").submit()
    racing = Racing(
        new.SqlStore.sqlite(target), lambda: new.Review.load(new.SqlStore.sqlite(target), "a")
    )
    moved = new.Review.load(racing, "a")
    assert racing.raced and moved.state == new.State.WAITING
    events = [b["event"] for b in bodies(new.SqlStore.sqlite(target), "a")]
    assert events == ["created", "transition", "migrated"]
    moved.approve(actor=lead(new), decision="fine")  # the instance in hand is current
    assert new.Review.load(new.SqlStore.sqlite(target), "a").state == new.State.DONE


def test_migrate_store_leaves_a_tampered_run_and_says_so(
    rts: dict[str, Any], tmp_path: Path
) -> None:
    old, new = rts["old"], rts["new"]
    target = str(tmp_path / "store.sqlite")
    store = old.SqlStore.sqlite(target)
    for instance_id in ("a", "b"):
        old.Review.create(store, instance_id).submit()
    connection = connect(target)
    connection.execute(
        "UPDATE statewright_records SET body = replace(body, 'submit', 'approve')"
        " WHERE instance_id = 'b' AND seq = 2"
    )
    connection.close()
    old_file, new_file = spec_files(tmp_path)
    done = cli("migrate", old_file, new_file, "--store", target)
    assert done.returncode == 1
    assert "1 review instance migrated" in done.stdout
    assert "  not migrated: \"b\": review 'b' record 2: altered" in done.stdout
    assert [b["event"] for b in bodies(new.SqlStore.sqlite(target), "a")][-1] == "migrated"


def test_migrate_store_leaves_a_cancelled_run_closed(
    rts: dict[str, Any], sql_backend: Backend, tmp_path: Path
) -> None:
    """A cancelled run is closed: neither the command nor a load under the new version
    appends a migrated record after its cancellation."""
    old, new = rts["old"], rts["new"]
    clock = Clock()
    states = fleet(old, sql_backend.open(old), clock)
    closed = next(iter(states))
    old.Review.load(sql_backend.open(old), closed).cancel(actor=old.Actor("olga"), reason="stop")
    old_file, new_file = spec_files(tmp_path)
    done = cli("migrate", old_file, new_file, "--store", sql_backend.target)
    assert done.returncode == 0, done.stderr
    assert "3 review instances migrated" in done.stdout
    assert "  1 cancelled instance: closed, left as they are" in done.stdout
    store = sql_backend.open(new)
    assert store.verify() == []
    with pytest.raises(new.Cancelled, match="a cancelled run is closed and not migrated"):
        new.Review.load(store, closed)
    assert old.Review.load(sql_backend.open(old), closed).cancelled is not None
