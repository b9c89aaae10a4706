"""What a gate's records carry beyond the policy: the voter's roles on every ``approval``
record (held to the gate's reviewers by replay and ``audit check``, as a transition's
roles are; older records without roles still read), and the actor's signature on a
rollback (checked by ``audit verify --keyring``, which catches a forged rollback in a
rebuilt chain)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from storekit import SQL_BACKENDS, Backend, backend_fixture, generate_runtime
from test_approval_policies import (
    BOUND,
    BUILT,
    REQUESTED,
    SPEC,
    START,
    _approve,
    _rebuild_chain,
    _run,
    _trace,
    _verify,
    _vote,
    in_review,
    who,
)
from test_runtime_kit import Clock

from statewright.generator import signing
from statewright.generator.runtime.signing import signed_content
from statewright.verify.audit.replay import check_run
from statewright.verify.load import load_text

sql_backend = backend_fixture(SQL_BACKENDS)

ROLLBACK_SPEC = SPEC.replace("reasons:", "rollback: {reviewers: [release_manager]}\nreasons:")


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("release"), ROLLBACK_SPEC)[0]


def _findings(records: list[dict[str, Any]], rule: str) -> list[str]:
    spec = load_text(ROLLBACK_SPEC, "specs/release.yaml").spec
    assert spec is not None
    findings, _ = check_run(spec, _trace(records), "run")
    return [f.message for f in findings if f.rule == rule]


# -- roles on votes --------------------------------------------------------------------------


def test_a_vote_records_the_roles_its_actor_held(rt: Any) -> None:
    machine = in_review(rt, Clock(START))
    machine.approved(actor=who(rt, "bob", "maintainer", "oncall"), decision="ok")
    vote = machine.audit[-1]
    assert (vote.event, vote.roles) == ("approval", ("maintainer", "oncall"))
    assert '"roles":["maintainer","oncall"]' in vote.to_json().replace(" ", "")
    assert rt.Release.replay(machine.audit).audit == machine.audit


def test_a_vote_without_roles_still_replays(rt: Any) -> None:
    machine = in_review(rt, Clock(START))
    machine.approved(actor=who(rt, "bob"), decision="ok")
    older = [r._replace(roles=None) if r.event == "approval" else r for r in machine.audit]
    text = rt.Release.dump_audit(older)
    assert '"roles"' not in text.splitlines()[-1]
    assert rt.Release.replay(rt.Release.load_audit(text)).state == "REVIEW"


def test_replay_refuses_a_vote_by_roles_the_gate_does_not_take(rt: Any) -> None:
    clock = Clock(START)
    machine = in_review(rt, clock)
    machine.approved(actor=who(rt, "bob"), decision="ok")
    forged = [*machine.audit[:-1], machine.audit[-1]._replace(roles=("engineer",))]
    with pytest.raises(rt.InvalidTransition, match="bob held engineer, none of the roles"):
        rt.Release.replay(forged)
    escalation = [r._replace(roles=("maintainer",)) if r.event == "bound" else r for r in forged]
    with pytest.raises(rt.InvalidTransition, match="only a human step or a rollback records"):
        rt.Release.replay(escalation)


def test_a_director_votes_once_the_gate_escalated(rt: Any) -> None:
    clock = Clock(START)
    machine = in_review(rt, clock)
    clock.advance(hours=25)
    machine.approved(actor=who(rt, "dana", "director"), decision="escalated to me")
    assert machine.audit[-1].roles == ("director",)
    assert rt.Release.replay(machine.audit).audit == machine.audit


def test_audit_check_holds_votes_to_the_gate_reviewers() -> None:
    good = _run(REQUESTED, BUILT, BOUND, _vote("bob"), _approve("carol"))
    assert _findings(good, "run-unauthorised") == []
    engineer = {**_vote("bob"), "roles": ["engineer"]}
    found = _findings(
        _run(REQUESTED, BUILT, BOUND, engineer, _approve("carol")), "run-unauthorised"
    )
    assert found == [
        "run record 4 (line 5): an approval at REVIEW is a human step: "
        "bob holds engineer, none of the roles maintainer"
    ]
    older = {k: v for k, v in _vote("bob").items() if k != "roles"}
    assert (
        _findings(_run(REQUESTED, BUILT, BOUND, older, _approve("carol")), "run-unauthorised") == []
    )


def test_audit_check_takes_the_escalation_roles_once_escalated() -> None:
    late = (START + timedelta(hours=25)).isoformat()
    escalation = {
        "event": "escalation",
        "to": "REVIEW",
        "at": (START + timedelta(hours=24)).isoformat(),
    }
    director = {**_vote("dana"), "roles": ["director"], "at": late}
    carol = {**_approve("carol"), "at": late}
    records = _run(REQUESTED, BUILT, BOUND, escalation, director, carol)
    assert _findings(records, "run-unauthorised") == []
    early = _run(REQUESTED, BUILT, BOUND, {**_vote("dana"), "roles": ["director"]})
    assert _findings(early, "run-unauthorised") == [
        "run record 4 (line 5): an approval at REVIEW is a human step: "
        "dana holds director, none of the roles maintainer"
    ]


# -- signed rollbacks ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rita() -> tuple[bytes, str]:
    return signing.new_key()


def _rolled_back(rt: Any, backend: Backend, key: bytes | None) -> Any:
    """A release rejected at its gate, then returned to BUILDING by rita, who signs."""
    machine = in_review(rt, Clock(START), backend.open(rt))
    machine.rejected(actor=who(rt, "bob", key=None), decision="notes missing")
    building = next(r.seq for r in machine.audit if r.to_state == "BUILDING")
    rita = who(rt, "rita", "release_manager", key=key)
    assert machine.rollback(building, actor=rita, decision="rebuild with notes") == "BUILDING"
    return machine


def _ring(tmp_path: Path, **public: str) -> Path:
    path = tmp_path / "rollback.keys"
    path.write_text("".join(f"{name} {key}\n" for name, key in public.items()), encoding="utf-8")
    return path


def test_a_rollback_is_signed_and_verifies(
    rt: Any, sql_backend: Backend, rita: tuple[bytes, str], tmp_path: Path
) -> None:
    machine = _rolled_back(rt, sql_backend, rita[0])
    back = machine.audit[-1]
    assert back.event == "rollback" and back.signature is not None
    content = signed_content("release", "r-1", back.as_json())
    assert signing.verify_signature(rita[1], content, back.signature)
    loaded = rt.Release.load(sql_backend.open(rt), "r-1")  # replay keeps the signature
    assert loaded.audit[-1].signature == back.signature
    reject = next(r.seq for r in machine.audit if r.trigger == "rejected")
    ring = _ring(tmp_path, rita=rita[1])
    status, out = _verify(sql_backend.target, ring)
    assert status == 1  # bob's reject is unsigned; the rollback is not what is reported
    assert f"record {reject} by bob: a human decision without a signature" in out
    assert f"record {back.seq} by rita" not in out


def test_a_forged_rollback_in_a_rebuilt_chain_is_caught(
    rt: Any, sql_backend: Backend, rita: tuple[bytes, str], tmp_path: Path
) -> None:
    machine = _rolled_back(rt, sql_backend, rita[0])
    back = machine.audit[-1].seq
    ring = _ring(tmp_path, rita=rita[1], bob=signing.new_key()[1])
    # a database writer changes rita's rollback and rebuilds every hash and the head row
    _rebuild_chain(sql_backend, {back: {"decision": "rebuild, and skip the review"}})
    assert _verify(sql_backend.target, None)[0] == 0  # the chain alone cannot tell
    status, out = _verify(sql_backend.target, ring)
    assert status == 1
    assert f"release r-1 record {back} by rita: its signature does not verify" in out
    # or invents a rollback with no signature at all
    _rebuild_chain(sql_backend, {back: {"signature": ...}})
    status, out = _verify(sql_backend.target, ring)
    assert status == 1 and f"record {back} by rita: a human decision without a signature" in out


def test_an_unsigned_rollback_passes_without_a_keyring(rt: Any, sql_backend: Backend) -> None:
    machine = _rolled_back(rt, sql_backend, None)
    assert machine.audit[-1].signature is None
    assert _verify(sql_backend.target, None)[0] == 0
