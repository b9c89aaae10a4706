"""Approval policies (quorum, separate_from, escalate, bind) and signed decisions, run on
a generated runtime: in memory, in SQLite and in PostgreSQL; replayed; held against the
spec by ``audit check``; and the signatures checked by ``audit verify --keyring``.

The gate's outcome is also computed by a brute-force oracle written here from the design
brief alone (not from the kernel), and compared on random sequences of decisions."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from storekit import SQL_BACKENDS, Backend, backend_fixture, generate_runtime
from test_runtime_kit import Clock

from statewright.generator import signing
from statewright.generator.commands.audit import audit_command
from statewright.generator.runtime import chain
from statewright.verify.audit.replay import check_run
from statewright.verify.audit.trace import read_trace
from statewright.verify.check import check_text
from statewright.verify.load import load_text
from statewright.verify.semantics import kernel

START = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
ROWS, RECORDS = "statewright_instances", "statewright_records"

SPEC = """\
statewright: 1
machine: release
initial: IDLE
states:
  IDLE: {kind: idle}
  BUILDING: {kind: running}
  REVIEW:
    kind: approval
    reviewers: [maintainer]
    quorum: 2
    separate_from: [requester]
    escalate: {after: 24h, to: [director]}
    bind: context
  SECOND_LOOK:
    kind: approval
    reviewers: [maintainer, director]
    separate_from: [previous_approvers]
  RELEASED: {kind: complete, final: true}
  FAILED: {kind: failed, reviewers: [release_manager]}
transitions:
  - {from: IDLE, to: BUILDING, trigger: requested}
  - {from: BUILDING, to: REVIEW, trigger: built}
  - {from: BUILDING, to: FAILED, trigger: build_timeout, after: 2h, reason: SLOW}
  - {from: REVIEW, to: SECOND_LOOK, trigger: approved, human: true}
  - {from: REVIEW, to: FAILED, trigger: rejected, human: true, reason: REJECTED}
  - {from: REVIEW, to: FAILED, trigger: review_timeout, after: 72h, reason: SLOW}
  - {from: SECOND_LOOK, to: RELEASED, trigger: confirmed, human: true}
  - {from: SECOND_LOOK, to: FAILED, trigger: vetoed, human: true, reason: REJECTED}
  - {from: SECOND_LOOK, to: FAILED, trigger: second_timeout, after: 24h, reason: SLOW}
  - {from: FAILED, to: BUILDING, trigger: rebuild, human: true}
reasons:
  SLOW: {recovery: [Ask again]}
  REJECTED: {recovery: [Revise, Rebuild]}
"""

backend = backend_fixture(("memory", *SQL_BACKENDS))
sql_backend = backend_fixture(SQL_BACKENDS)


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("release"), SPEC)[0]


def who(rt: Any, name: str, *roles: str, key: bytes | None = None) -> Any:
    signer = None if key is None else signing.Ed25519Signer(key)
    return rt.Actor(name, frozenset(roles or ("maintainer",)), signer=signer)


def in_review(rt: Any, clock: Clock, store: Any = None, context: Any = None) -> Any:
    """A release requested by alice, built, waiting in REVIEW."""
    data = {"notes": "v1", "artefact": "sha256:aa"} if context is None else context
    if store is None:
        machine = rt.Release(clock=clock, context=data)
    else:
        machine = rt.Release.create(store, "r-1", clock=clock, context=data)
    machine.requested(actor=who(rt, "alice", "engineer"))
    machine.built()
    return machine


# -- the policy, enforced -----------------------------------------------------------------


def test_a_quorum_counts_distinct_actors_and_records_each_approval(rt: Any) -> None:
    machine = in_review(rt, Clock(START))
    status = machine.gate_status()
    assert (status.quorum, status.missing, status.approvals) == (2, 2, ())
    assert status.digest == kernel.digest({"notes": "v1", "artefact": "sha256:aa"})
    assert machine.approved(actor=who(rt, "bob"), decision="built as planned") == "REVIEW"
    with pytest.raises(rt.Unauthorized, match="already approved"):
        machine.approved(actor=who(rt, "bob"), decision="twice")
    status = machine.gate_status()
    assert [a.actor for a in status.approvals] == ["bob"] and status.missing == 1
    assert machine.approved(actor=who(rt, "carol"), decision="agreed") == "SECOND_LOOK"
    events = [(r.event.value, r.actor) for r in machine.audit]
    assert events[-2:] == [("approval", "bob"), ("transition", "carol")]
    vote = next(r for r in machine.audit if r.event == "approval")
    assert vote.data == {"approvals": 1, "quorum": 2, "digest": status.digest}


def test_the_requester_and_previous_approvers_are_refused(rt: Any) -> None:
    machine = in_review(rt, Clock(START))
    alice = who(rt, "alice", "maintainer")
    with pytest.raises(rt.Unauthorized, match="started this run"):
        machine.approved(actor=alice, decision="my own work")
    assert "alice" in machine.gate_status().excluded
    machine.approved(actor=who(rt, "bob"), decision="ok")
    machine.approved(actor=who(rt, "carol"), decision="ok")
    with pytest.raises(rt.Unauthorized, match="approved earlier"):
        machine.confirmed(actor=who(rt, "bob", "director"), decision="again")
    assert machine.confirmed(actor=alice, decision="second look") == "RELEASED"


def test_one_reject_rejects_whatever_the_quorum(rt: Any) -> None:
    machine = in_review(rt, Clock(START))
    machine.approved(actor=who(rt, "bob"), decision="ok")
    assert machine.rejected(actor=who(rt, "bob"), decision="found a bug") == "FAILED"
    assert machine.reason == "REJECTED"


def test_escalation_widens_the_reviewers_at_its_due_time(rt: Any) -> None:
    clock = Clock(START)
    machine = in_review(rt, clock)
    dave = who(rt, "dave", "director")
    with pytest.raises(rt.Unauthorized, match="maintainer"):
        machine.approved(actor=dave, decision="early")
    assert machine.gate_status().escalates_at == START + timedelta(hours=24)
    clock.advance(hours=30)
    assert machine.gate_status().reviewers == {"maintainer", "director"}
    assert machine.approved(actor=dave, decision="escalated to me") == "REVIEW"
    escalation = [r for r in machine.audit if r.event == "escalation"]
    assert [(r.at, r.data) for r in escalation] == [
        (START + timedelta(hours=24), {"roles": ["director"]})
    ]
    assert machine.audit[-1].at == START + timedelta(hours=30)


def test_expire_records_a_due_escalation_and_a_refusal_records_nothing(rt: Any) -> None:
    clock = Clock(START)
    machine = in_review(rt, clock)
    clock.advance(hours=25)
    before = len(machine.audit)
    with pytest.raises(rt.Unauthorized):  # refused: the escalation it found stays unrecorded
        machine.approved(actor=who(rt, "alice", "maintainer"), decision="mine")
    assert len(machine.audit) == before
    assert machine.expire() == "REVIEW"
    assert [r.event.value for r in machine.audit[before:]] == ["escalation"]
    assert machine.expire() is None


def test_an_approval_naming_another_digest_is_stale(rt: Any) -> None:
    machine = in_review(rt, Clock(START))
    read = machine.gate_status().digest
    machine.rejected(actor=who(rt, "bob"), decision="notes missing")
    machine.rebuild(actor=who(rt, "rita", "release_manager"), decision="retry")
    machine.update_context({"notes": "v2"})
    machine.built()
    assert machine.gate_status().digest != read
    with pytest.raises(rt.StaleDecision, match="context changed"):
        machine.fire(rt.Trigger.APPROVED, actor=who(rt, "carol"), decision="ok", digest=read)
    fresh = machine.gate_status().digest
    machine.fire(rt.Trigger.APPROVED, actor=who(rt, "carol"), decision="ok", digest=fresh)
    assert machine.gate_status().approvals[0].actor == "carol"


def test_a_replayed_log_keeps_the_policy(rt: Any) -> None:
    clock = Clock(START)
    machine = in_review(rt, clock)
    machine.approved(actor=who(rt, "bob"), decision="ok")
    clock.advance(hours=25)
    machine.approved(actor=who(rt, "dave", "director"), decision="ok")
    again = rt.Release.replay(machine.audit)
    assert again.state == machine.state == "SECOND_LOOK"
    records = list(machine.audit)
    vote = next(i for i, r in enumerate(records) if r.event == "approval")
    del records[vote]  # the quorum taken by one approval
    renumbered = [r._replace(seq=i) for i, r in enumerate(records, start=1)]
    with pytest.raises(rt.InvalidTransition, match="count under its policy"):
        rt.Release.replay(renumbered)
    bound = next(i for i, r in enumerate(machine.audit) if r.event == "bound")
    forged = list(machine.audit)
    forged[bound] = forged[bound]._replace(data={"digest": kernel.digest({"notes": "other"})})
    with pytest.raises(rt.InvalidTransition, match="bound"):
        rt.Release.replay(forged)


def test_a_stored_gate_survives_a_reload(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    machine = in_review(rt, Clock(START), store)
    machine.approved(actor=who(rt, "bob"), decision="ok")
    loaded = rt.Release.load(store, "r-1", clock=Clock(START))
    with pytest.raises(rt.Unauthorized, match="already approved"):
        loaded.approved(actor=who(rt, "bob"), decision="again")
    assert loaded.approved(actor=who(rt, "carol"), decision="ok") == "SECOND_LOOK"
    assert rt.Release.load(store, "r-1").state == "SECOND_LOOK"


# -- the oracle -----------------------------------------------------------------------------

Decision = tuple[str, str]  # (actor, "approve" | "reject")


def oracle(
    quorum: int, requester: str, separated: bool, decisions: list[Decision]
) -> tuple[list[str], str]:
    """What each decision does at a fresh gate, written from the design brief alone:
    'refused', 'counted' or 'taken'; and the gate's end ('open', 'approved', 'rejected')."""
    outcomes: list[str] = []
    approvers: list[str] = []
    end = "open"
    for actor, kind in decisions:
        if end != "open":
            outcomes.append("closed")
            continue
        if kind == "reject":
            outcomes.append("taken")
            end = "rejected"
        elif (separated and actor == requester) or actor in approvers:
            outcomes.append("refused")
        else:
            approvers.append(actor)
            done = len(approvers) >= quorum
            outcomes.append("taken" if done else "counted")
            end = "approved" if done else end
    return outcomes, end


ORACLE_SPEC = SPEC.replace("    quorum: 2\n", "    quorum: 3\n")


@pytest.fixture(scope="module")
def rt3(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("release3"), ORACLE_SPEC)[0]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["alice", "bob", "carol", "dan"]),
            st.sampled_from(["approve"] * 4 + ["reject"]),
        ),
        max_size=8,
    )
)
def test_the_runtime_gate_agrees_with_the_oracle(rt3: Any, decisions: list[Decision]) -> None:
    machine = in_review(rt3, Clock(START))
    seen: list[str] = []
    for actor, kind in decisions:
        if machine.state != "REVIEW":
            seen.append("closed")
            continue
        before = len(machine.audit)
        method = machine.approved if kind == "approve" else machine.rejected
        try:
            method(actor=who(rt3, actor, "maintainer"), decision=f"{kind} by {actor}")
        except rt3.Unauthorized:
            assert len(machine.audit) == before
            seen.append("refused")
            continue
        seen.append("taken" if machine.state != "REVIEW" else "counted")
    outcomes, end = oracle(3, "alice", True, decisions)
    assert seen == outcomes
    assert {"open": "REVIEW", "approved": "SECOND_LOOK", "rejected": "FAILED"}[end] == (
        machine.state
    )
    assert rt3.Release.replay(machine.audit).state == machine.state


# -- audit check: the same kernel on recorded runs ------------------------------------------


def _trace(records: list[dict[str, Any]]) -> list[Any]:
    return [r for r in read_trace(json.dumps(record) for record in records)]


def _run(*steps: dict[str, Any]) -> list[dict[str, Any]]:
    at = START.isoformat()
    created = {"seq": 0, "event": "created", "at": at, "state": "IDLE"}
    return [created, *({"seq": i, "at": at, **step} for i, step in enumerate(steps, start=1))]


REQUESTED = {"trigger": "requested", "to": "BUILDING", "actor": "alice"}
BUILT = {"trigger": "built", "to": "REVIEW"}
DIGEST = kernel.digest({})
BOUND = {"event": "bound", "to": "REVIEW", "digest": DIGEST}


def _vote(actor: str) -> dict[str, Any]:
    return {
        "event": "approval",
        "trigger": "approved",
        "to": "REVIEW",
        "actor": actor,
        "roles": ["maintainer"],
        "decision": "ok",
        "digest": DIGEST,
    }


def _approve(actor: str) -> dict[str, Any]:
    return {
        "trigger": "approved",
        "to": "SECOND_LOOK",
        "actor": actor,
        "roles": ["maintainer"],
        "decision": "ok",
    }


def _policy_findings(records: list[dict[str, Any]]) -> list[str]:
    spec = load_text(SPEC, "specs/release.yaml").spec
    assert spec is not None
    findings, _ = check_run(spec, _trace(records), "run")
    return [f.message for f in findings if f.rule == "run-policy"]


def test_audit_check_passes_a_run_that_kept_its_gate() -> None:
    assert _policy_findings(_run(REQUESTED, BUILT, BOUND, _vote("bob"), _approve("carol"))) == []


@pytest.mark.parametrize(
    ("steps", "wanted"),
    [
        ((REQUESTED, BUILT, BOUND, _approve("carol")), "1 of 2 approvals"),
        ((REQUESTED, BUILT, BOUND, _vote("bob"), _approve("bob")), "repeated"),
        ((REQUESTED, BUILT, BOUND, _vote("alice"), _approve("bob")), "requester"),
        ((REQUESTED, BUILT, _vote("bob"), _approve("carol")), "no digest was recorded"),
        (
            (REQUESTED, BUILT, BOUND, {**_vote("bob"), "digest": "sha256:00"}, _approve("carol")),
            "stale",
        ),
        (
            (REQUESTED, BUILT, BOUND, {"event": "escalation", "to": "REVIEW"}),
            "escalates at",
        ),
    ],
)
def test_audit_check_finds_what_the_policy_refuses(
    steps: tuple[dict[str, Any], ...], wanted: str
) -> None:
    found = _policy_findings(_run(*steps))
    assert any(wanted in message for message in found), found


# -- signed decisions -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> dict[str, tuple[bytes, str]]:
    return {name: signing.new_key() for name in ("bob", "carol", "mallory")}


def _keyring(tmp_path: Path, keys: dict[str, tuple[bytes, str]], *names: str) -> Path:
    path = tmp_path / "reviewers.keys"
    lines = ["# the release reviewers", *(f"{n} {keys[n][1]}" for n in names)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _verify(target: str, keyring: Path | None) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    status = audit_command(target, stdout=out, stderr=err, keyring=keyring)
    return status, out.getvalue() + err.getvalue()


def _signed_release(rt: Any, backend: Backend, keys: dict[str, tuple[bytes, str]]) -> Any:
    store = backend.open(rt)
    machine = in_review(rt, Clock(START), store)
    machine.approved(actor=who(rt, "bob", key=keys["bob"][0]), decision="ok")
    machine.approved(actor=who(rt, "carol", key=keys["carol"][0]), decision="ok")
    return machine


def _rebuild_chain(backend: Backend, edit: dict[int, dict[str, Any]]) -> None:
    """The attacker with write access: change the bodies of ``edit`` (by seq) and rebuild
    every hash after them and the head row, so that the chain verifies."""
    rows = backend.execute(
        f"SELECT seq, body FROM {RECORDS} WHERE instance_id = ? ORDER BY seq", ("r-1",)
    )
    prev = chain.GENESIS
    for seq, body in rows:
        data = json.loads(body)
        if int(seq) in edit:
            data.update(edit[int(seq)])
            data = {k: v for k, v in data.items() if v is not ...}
        text = chain.canonical(data)
        digest = chain.link("release", "r-1", prev, text)
        backend.execute(
            f"UPDATE {RECORDS} SET body = ?, prev = ?, hash = ? WHERE instance_id = ? AND seq = ?",
            (text, prev, digest, "r-1", int(seq)),
        )
        prev = digest
    backend.execute(f"UPDATE {ROWS} SET head = ? WHERE instance_id = ?", (prev, "r-1"))


def test_every_signature_verifies(
    rt: Any, sql_backend: Backend, keys: dict[str, tuple[bytes, str]], tmp_path: Path
) -> None:
    machine = _signed_release(rt, sql_backend, keys)
    signed = [r for r in machine.audit if r.signature is not None]
    assert [(r.event.value, r.actor) for r in signed] == [
        ("approval", "bob"),
        ("transition", "carol"),
    ]
    status, out = _verify(sql_backend.target, _keyring(tmp_path, keys, "bob", "carol"))
    assert status == 0, out
    assert "every human decision signed" in out
    loaded = rt.Release.load(sql_backend.open(rt), "r-1")  # as read back: signatures kept
    assert [r.signature for r in loaded.audit] == [r.signature for r in machine.audit]
    assert rt.Release.replay(machine.audit).audit == machine.audit


def test_a_rebuilt_chain_is_caught_by_the_signatures(
    rt: Any, sql_backend: Backend, keys: dict[str, tuple[bytes, str]], tmp_path: Path
) -> None:
    machine = _signed_release(rt, sql_backend, keys)
    vote = next(r.seq for r in machine.audit if r.event == "approval")
    _rebuild_chain(sql_backend, {vote: {"decision": "ok, and ship it to everyone"}})
    assert _verify(sql_backend.target, None)[0] == 0  # the chain alone cannot tell
    status, out = _verify(sql_backend.target, _keyring(tmp_path, keys, "bob", "carol"))
    assert status == 1
    assert f"record {vote} by bob: its signature does not verify" in out


def test_an_invented_decision_is_caught_unsigned_or_signed_by_another_key(
    rt: Any, sql_backend: Backend, keys: dict[str, tuple[bytes, str]], tmp_path: Path
) -> None:
    machine = _signed_release(rt, sql_backend, keys)
    vote = next(r for r in machine.audit if r.event == "approval")
    ring = _keyring(tmp_path, keys, "bob", "carol", "mallory")
    _rebuild_chain(sql_backend, {vote.seq: {"actor": "dora", "signature": ...}})
    status, out = _verify(sql_backend.target, ring)
    assert status == 1 and f"record {vote.seq} by dora: a human decision without a signature" in out
    # mallory signs a decision in bob's name with her own key
    forged = {**vote.as_json(), "actor": "bob"}
    forged.pop("signature")
    from statewright.generator.runtime.signing import signed_content

    signature = signing.Ed25519Signer(keys["mallory"][0])(signed_content("release", "r-1", forged))
    _rebuild_chain(sql_backend, {vote.seq: {"actor": "bob", "signature": signature}})
    status, out = _verify(sql_backend.target, ring)
    assert status == 1 and f"record {vote.seq} by bob: its signature does not verify" in out


def test_a_bad_keyring_is_one_line_with_its_place(rt: Any, tmp_path: Path) -> None:
    path = tmp_path / "bad.keys"
    path.write_text("bob not-a-key\n", encoding="utf-8")
    status, out = _verify(str(tmp_path / "none.sqlite"), path)
    assert status == 2 and f"{path}:1:1: the key of bob starts with ed25519:" in out


# -- the spec -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "wanted"),
    [
        (("quorum: 2", "quorum: 0"), "a whole number of at least 1"),
        (("bind: context", "bind: inputs"), "can only be 'context'"),
        (("escalate: {after: 24h, to: [director]}", "escalate: {after: 24h}"), "needs both"),
    ],
)
def test_a_malformed_policy_is_a_schema_finding_at_its_key(
    edit: tuple[str, str], wanted: str
) -> None:
    result = check_text(SPEC.replace(*edit), "specs/release.yaml")
    found = [f for f in result.findings if f.rule == "schema"]
    assert len(found) == 1 and wanted in found[0].message
    assert (
        found[0].location.line
        == SPEC.splitlines().index(next(line for line in SPEC.splitlines() if edit[0] in line)) + 1
    )
