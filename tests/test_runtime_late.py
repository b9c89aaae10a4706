"""What the runtime records so that ``statewright audit check`` can hold a stored run to its
spec, and the order it records time in.

- every created record carries the sha256 of the spec the instance runs under, and a
  human step or a rollback the roles its actor held; records written before they were
  kept (no ``roles``, no ``spec``) still load, verify and check;
- a trigger (or a context change, a rollback) that comes after the current state's
  deadline finds the timed exit taken: it is recorded first, stamped at the deadline, and
  the trigger is judged from the state it led to, so a run recorded by statewright never
  shows ``run-missed-deadline``, whether or not a sweep ran on time (random runs below,
  checked by ``audit check`` through the real SQLite store).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from storekit import TICKET_SPEC, generate_runtime
from test_audit_check_store import cli
from test_audit_check_store import spec_file as ticket_spec_file

from statewright.generator.runtime.chain import GENESIS, canonical, link

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SHA256 = hashlib.sha256(TICKET_SPEC.encode()).hexdigest()


class Clock:
    """A fake clock: ``now`` moves only when a test moves it."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def wait(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("late"))[0]


def lead(rt: Any) -> Any:
    return rt.Actor("lee", frozenset({"lead", "ops"}))


def in_review(rt: Any, clock: Clock, store: Any = None) -> Any:
    machine = rt.Ticket(clock=clock) if store is None else rt.Ticket.create(store, "t", clock=clock)
    machine.start()
    clock.wait(minutes=5)
    machine.submit()  # REVIEW, due at START + 5 min + 1 h
    return machine


spec_file = ticket_spec_file
"""The ticket spec in ``specs/`` under the test's folder (the fixture of the store tests)."""


def approved_in(rt: Any, path: Path) -> None:
    """One ticket, approved, in a SQLite store at ``path``."""
    store = rt.SqlStore.sqlite(str(path))
    machine = in_review(rt, Clock(), store)
    machine.approve(actor=lead(rt), decision="good")
    store.close()


# -- what a record carries -------------------------------------------------------------


def test_the_created_record_carries_the_spec_hash_and_a_human_step_the_roles(rt: Any) -> None:
    clock = Clock()
    machine = in_review(rt, clock)
    machine.approve(actor=lead(rt), decision="good")
    created, *_, approved = machine.audit
    assert rt.Ticket.spec.sha256 == rt.SOURCE_SHA256 == SHA256
    assert created.spec_sha256 == SHA256 and created.as_json()["spec"] == SHA256
    assert approved.roles == ("lead", "ops")
    assert approved.as_json()["roles"] == ["lead", "ops"]
    assert all("roles" not in r.as_json() for r in machine.audit[1:-1])
    assert all("spec" not in r.as_json() for r in machine.audit[1:])

    machine.rollback(2, actor=lead(rt), decision="undo")
    assert machine.audit[-1].roles == ("lead", "ops")
    replayed = rt.Ticket.replay(rt.Ticket.load_audit(rt.Ticket.dump_audit(machine.audit)))
    assert replayed.audit == machine.audit


def test_recorded_roles_are_held_to_the_spec_on_replay(rt: Any) -> None:
    clock = Clock()
    machine = in_review(rt, clock)
    machine.approve(actor=lead(rt), decision="good")
    lines = [json.loads(line) for line in rt.Ticket.dump_audit(machine.audit).splitlines()]
    lines[-1]["roles"] = ["intruder"]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    with pytest.raises(rt.InvalidTransition, match="lee held intruder, none of the roles"):
        rt.Ticket.replay(rt.Ticket.load_audit(text))
    lines[2]["roles"] = ["lead"]  # submit is no human step
    lines[-1]["roles"] = ["lead"]
    text = "".join(json.dumps(line) + "\n" for line in lines)
    with pytest.raises(rt.InvalidTransition, match="only a human step or a rollback records"):
        rt.Ticket.replay(rt.Ticket.load_audit(text))


def test_records_written_before_roles_and_hashes_were_kept_still_load_and_check(
    rt: Any, tmp_path: Path, spec_file: Path
) -> None:
    """A store whose records carry neither key (as every store written before them):
    the chain verifies, the instance loads, and ``audit check`` checks the run by machine
    name and says what it could not check."""
    path = tmp_path / "old.sqlite"
    approved_in(rt, path)
    connection = sqlite3.connect(path)
    prev = GENESIS
    with connection:
        rows = connection.execute("SELECT seq, body FROM statewright_records ORDER BY seq")
        for seq, body in list(rows):
            record = json.loads(body)
            assert record.pop("roles", None) or record.pop("spec", None) or True
            old = canonical(record)
            digest = link("ticket", "t", prev, old)
            connection.execute(
                "UPDATE statewright_records SET body = ?, prev = ?, hash = ? WHERE seq = ?",
                (old, prev, digest, seq),
            )
            prev = digest
        connection.execute("UPDATE statewright_instances SET head = ?", (prev,))
    connection.close()
    store = rt.SqlStore.sqlite(str(path))
    loaded = rt.Ticket.load(store, "t")
    assert loaded.audit[0].spec_sha256 is None and loaded.audit[-1].roles is None
    store.close()
    status, out, err = cli("audit", "verify", str(path), "--specs", str(spec_file))
    assert status == 0, out + err
    status, out, err = cli("audit", "check", str(path), "--specs", str(spec_file))
    assert (status, err) == (0, ""), out
    assert "info[run-unchecked] a run records no spec hash" in out
    assert "info[run-unchecked] the run records no roles" in out


def test_a_stored_run_is_checked_against_the_spec_version_it_names(
    rt: Any, tmp_path: Path, spec_file: Path
) -> None:
    """Two versions of the machine's spec in --specs: the run's hash picks its own, and
    no note says it was matched by name."""
    path = tmp_path / "runs.sqlite"
    approved_in(rt, path)
    newer = spec_file.parent / "ticket-v2.yaml"
    newer.write_text(TICKET_SPEC.replace("after: 1h", "after: 2h"))
    status, out, err = cli("audit", "check", str(path), "--specs", str(spec_file.parent))
    assert (status, err) == (0, ""), out
    assert "run-unchecked" not in out
    spec_file.unlink()  # only the other version is left: the run names a spec not given
    status, out, _ = cli("audit", "check", str(path), "--specs", str(newer))
    assert status == 1
    assert f"no spec of sha256 {SHA256} (1 other version of its machine given)" in out


# -- a late trigger --------------------------------------------------------------------


def test_a_trigger_after_the_deadline_finds_the_timed_exit_taken_at_the_deadline(
    rt: Any,
) -> None:
    clock = Clock()
    machine = in_review(rt, clock)
    due = machine.deadline
    assert due == START + timedelta(minutes=5, hours=1)
    clock.wait(hours=3)
    with pytest.raises(rt.InvalidTransition) as refused:
        machine.approve(actor=lead(rt), decision="late")
    message = str(refused.value)
    assert message.startswith(
        f"REVIEW's deadline {due.isoformat()} passed, so its timed exit review_timeout was "
        "taken first (to STUCK): STUCK has no exit on approve"
    )
    timed = machine.audit[-1]
    assert (timed.trigger, timed.at, timed.to_state) == ("review_timeout", due, "STUCK")
    assert machine.reason == rt.Reason.TIMEOUT
    # then the trigger is judged from STUCK: resume is a human exit of STUCK
    machine.resume(actor=lead(rt), decision="back to work")
    assert machine.audit[-1].at == clock.now and machine.state == "WORKING"


def test_a_trigger_at_the_deadline_is_in_time(rt: Any) -> None:
    clock = Clock()
    machine = in_review(rt, clock)
    clock.now = machine.deadline
    machine.approve(actor=lead(rt), decision="just in time")
    assert [r.trigger for r in machine.audit[1:]] == ["start", "submit", "approve"]


def test_the_overdue_exit_itself_is_taken_when_the_clock_reads(rt: Any) -> None:
    clock = Clock()
    machine = in_review(rt, clock)
    clock.wait(hours=3)
    machine.fire(rt.Trigger.REVIEW_TIMEOUT)
    assert machine.state == "STUCK" and machine.audit[-1].at == clock.now


def test_a_late_context_change_or_rollback_comes_after_the_timed_exit(rt: Any) -> None:
    clock = Clock()
    machine = in_review(rt, clock)
    due = machine.deadline
    clock.wait(hours=2)
    machine.update_context({"note": "while it waited"})  # REVIEW is locked; STUCK is not
    assert [(r.event, r.to_state, r.at) for r in machine.audit[-2:]] == [
        ("transition", "STUCK", due),
        ("context", "STUCK", clock.now),
    ]
    clock.wait(hours=1)
    machine.rollback(2, actor=lead(rt), decision="start over")
    assert machine.state == "WORKING"


def test_a_late_trigger_in_a_stored_instance_is_durable_in_two_steps(
    rt: Any, tmp_path: Path
) -> None:
    """The timed exit is its own change: it stays when the late trigger is refused, and a
    reload sees it (and the store's row holds the state it led to)."""
    store = rt.SqlStore.sqlite(str(tmp_path / "late.sqlite"))
    clock = Clock()
    machine = in_review(rt, clock, store)
    clock.wait(hours=2)
    with pytest.raises(rt.InvalidTransition):
        machine.approve(actor=lead(rt), decision="late")
    again = rt.Ticket.load(store, "t", clock=clock)
    assert again.state == "STUCK" and again.audit == machine.audit
    again.resume(actor=lead(rt), decision="on it")
    assert rt.Ticket.load(store, "t", clock=clock).state == "WORKING"


def drive_late(rt: Any, store: Any, runs: int, seed: int) -> None:
    """Random ticket runs on a clock that jumps past deadlines, never sweeping: every
    late trigger meets the timed exit first."""
    rng = random.Random(seed)
    clock = Clock()
    for n in range(runs):
        machine = rt.Ticket.create(store, f"t-{n}", clock=clock)
        for _ in range(rng.randint(3, 14)):
            clock.wait(minutes=rng.choice([1, 30, 61, 300]))
            triggers = [t for t in rt.Trigger if t.value not in ("always", "review_timeout")]
            trigger = rng.choice(triggers)
            human = trigger.value in ("approve", "reject", "resume")
            with contextlib.suppress(rt.InvalidTransition):
                if human:
                    machine.fire(trigger, actor=lead(rt), decision="checked")
                else:
                    machine.fire(trigger)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_runs_with_late_triggers_never_miss_a_deadline(
    rt: Any, tmp_path: Path, spec_file: Path, seed: int
) -> None:
    path = tmp_path / "late.sqlite"
    store = rt.SqlStore.sqlite(str(path))
    drive_late(rt, store, 30, seed)
    store.close()
    with contextlib.closing(sqlite3.connect(path)) as connection:
        bodies = [
            json.loads(b) for (b,) in connection.execute("SELECT body FROM statewright_records")
        ]
    status, out, err = cli("audit", "check", str(path), "--specs", str(spec_file))
    assert (status, err) == (0, ""), out
    assert "30 runs" in out and "0 with findings" in out and "run-unchecked" not in out
    assert any(b["trigger"] == "review_timeout" for b in bodies)  # the runs passed deadlines
