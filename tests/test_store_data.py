"""Variables kept durably: a stored instance's variables come back from its log on load,
a guard that fails refuses with nothing stored, and a rollback restores the variables of
the record it returns to, in memory, a SQLite file and a real PostgreSQL alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from storekit import SQL_BACKENDS, Backend, backend_fixture, generate_runtime

backend = backend_fixture(("memory", *SQL_BACKENDS))

RETRIES_SPEC = """\
statewright: 1
machine: retries
initial: RUNNING
variables:
  attempts: {type: int, min: 0, max: 2, initial: 0}
  escalated: {type: bool, initial: false}
rollback: {reviewers: [ops]}
states:
  RUNNING: {}
  FAILED: {kind: failed, reviewers: [ops]}
  DONE: {kind: complete, final: true}
transitions:
  - {from: RUNNING, to: DONE, trigger: finished}
  - {from: RUNNING, to: FAILED, trigger: crashed, reason: CRASH}
  - {from: FAILED, to: RUNNING, trigger: retry, human: true,
     when: attempts < 2, set: {attempts: attempts + 1}}
  - {from: FAILED, to: DONE, trigger: give_up, human: true,
     when: attempts == 2, set: {escalated: true}}
reasons:
  CRASH: {recovery: [Read the snapshot, Retry or give up]}
"""


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    module, _ = generate_runtime(tmp_path_factory.mktemp("runtime"), RETRIES_SPEC)
    return module


def ops(rt: Any) -> Any:
    return rt.Actor("olu", frozenset({"ops"}))


def crash_and_retry(rt: Any, machine: Any, times: int) -> None:
    for n in range(times):
        machine.crashed()
        machine.retry(actor=ops(rt), decision=f"retry {n + 1}")


def test_variables_come_back_from_the_store(rt: Any, backend: Backend) -> None:
    machine = rt.Retries.create(backend.open(rt), "r-1")
    crash_and_retry(rt, machine, 2)
    assert machine.variables == rt.Variables(attempts=2, escalated=False)
    loaded = rt.Retries.load(backend.open(rt), "r-1")
    assert (loaded.state, loaded.variables, loaded.audit) == (
        machine.state,
        machine.variables,
        machine.audit,
    )
    created, *changes = [r.variables for r in loaded.audit if r.variables]
    assert created == {"attempts": 0, "escalated": False}  # the created record: all of them
    assert changes == [{"attempts": 1}, {"attempts": 2}]  # then only what changed


def test_a_failing_guard_stores_nothing(rt: Any, backend: Backend) -> None:
    machine = rt.Retries.create(backend.open(rt), "r-2")
    crash_and_retry(rt, machine, 2)
    machine.crashed()
    stored = len(rt.Retries.load(backend.open(rt), "r-2").audit)
    with pytest.raises(rt.InvalidTransition, match=r"guard 'attempts < 2' does not hold"):
        machine.retry(actor=ops(rt), decision="a third time")
    loaded = rt.Retries.load(backend.open(rt), "r-2")
    assert len(loaded.audit) == stored and loaded.variables.attempts == 2
    loaded.give_up(actor=ops(rt), decision="Two retries are enough.")
    again = rt.Retries.load(backend.open(rt), "r-2")
    assert again.state is rt.State.DONE and again.variables.escalated is True


def test_a_stored_rollback_restores_the_variables(rt: Any, backend: Backend) -> None:
    machine = rt.Retries.create(backend.open(rt), "r-3")
    crash_and_retry(rt, machine, 2)
    first_retry = next(r.seq for r in machine.audit if r.variables == {"attempts": 1})
    loaded = rt.Retries.load(backend.open(rt), "r-3")
    loaded.rollback(first_retry, actor=ops(rt), decision="The second retry used a bad build.")
    assert loaded.variables.attempts == 1
    again = rt.Retries.load(backend.open(rt), "r-3")
    assert (again.state, again.variables) == (rt.State.RUNNING, rt.Variables(attempts=1))
    assert rt.Retries.replay(again.audit).variables == again.variables
    again.crashed()
    again.retry(actor=ops(rt), decision="With the good build.")
    assert rt.Retries.load(backend.open(rt), "r-3").variables.attempts == 2


def test_the_spec_checks(tmp_path: Path) -> None:
    from statewright.verify.check import check_text

    result = check_text(RETRIES_SPEC, "retries.yaml")
    assert result.ok(strict=True), [f.format() for f in result.findings]
