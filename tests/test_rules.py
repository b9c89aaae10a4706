"""Every checker rule on small inline specs: id, severity, location and what it names."""

from __future__ import annotations

import textwrap
from pathlib import Path

from statewright.verify.check import check_file, check_spec, check_text
from statewright.verify.findings import Finding, Severity, TransitionRef
from statewright.verify.load import load_text
from statewright.verify.rules import RULES

HEADER = "statewright: 1\nmachine: demo\ninitial: IDLE\n"


def spec_text(body: str) -> str:
    return HEADER + textwrap.dedent(body).lstrip("\n")


def found(text: str, rule_id: str) -> list[Finding]:
    """The findings of ``rule_id`` on ``text``, which must load."""
    result = check_text(text, "spec.yaml")
    assert result.spec is not None, [f.format() for f in result.findings]
    return [f for f in result.findings if f.rule == rule_id]


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only line of ``text`` that contains ``needle``."""
    lines = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(lines) == 1, (needle, lines)
    return lines[0]


def at(finding: Finding) -> tuple[int, int]:
    return finding.location.line, finding.location.column


def ref(source: str, target: str, trigger: str) -> TransitionRef:
    return TransitionRef(source, target, trigger)


# ---- graph rules ----------------------------------------------------------------------


def test_unreachable_state_names_every_state_no_path_reaches() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          ORPHAN: {kind: running}
          ORPHANS_CHILD: {kind: complete, final: true}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}
          - {from: ORPHAN, to: ORPHANS_CHILD, trigger: finish}
    """)
    hits = found(text, "unreachable-state")
    assert [f.states for f in hits] == [("ORPHAN",), ("ORPHANS_CHILD",)]
    assert [at(f) for f in hits] == [(line_of(text, "ORPHAN:"), 3), (line_of(text, "CHILD:"), 3)]
    assert all(f.severity is Severity.ERROR and not f.transitions for f in hits)
    assert "add a transition into it" in hits[0].message


def test_unreachable_state_passes_when_a_glob_reaches_it() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          LATE: {kind: complete, final: true}
        transitions:
          - {from: "*", to: LATE, trigger: finish}
    """)
    assert found(text, "unreachable-state") == []


def test_dead_end_flags_reachable_and_unreachable_states() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          STUCK: {kind: running}
          LOST: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: STUCK, trigger: start}
          - {from: IDLE, to: DONE, trigger: finish}
    """)
    hits = found(text, "dead-end")
    assert [(f.states, at(f)) for f in hits] == [
        (("STUCK",), (line_of(text, "STUCK:"), 3)),
        (("LOST",), (line_of(text, "LOST:"), 3)),
    ]
    assert hits[0].message == "STUCK has no exits; add a transition or mark it final: true"
    assert hits[0].severity is Severity.ERROR


def test_dead_end_passes_for_a_final_state() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          DONE: {final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}
    """)
    assert found(text, "dead-end") == []


def test_trap_lists_the_component_at_its_first_declared_state() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          PONG: {kind: running}
          PING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: PING, trigger: start}
          - {from: PING, to: PONG, trigger: ping}
          - {from: PONG, to: PING, trigger: pong}
          - {from: IDLE, to: DONE, trigger: finish}
    """)
    (hit,) = found(text, "trap")
    assert hit.states == ("PONG", "PING")
    assert at(hit) == (line_of(text, "PONG:"), 3)
    assert hit.severity is Severity.ERROR
    assert "add an exit" in hit.message


def test_trap_includes_a_self_loop_and_unreachable_components() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          SPINNING: {kind: running}
          ISLAND: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: SPINNING, trigger: start}
          - {from: SPINNING, to: SPINNING, trigger: retry}
          - {from: ISLAND, to: ISLAND, trigger: retry}
          - {from: IDLE, to: DONE, trigger: finish}
    """)
    assert [f.states for f in found(text, "trap")] == [("SPINNING",), ("ISLAND",)]


def test_trap_passes_for_components_holding_the_initial_or_a_final_state() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          RUNNING: {kind: running}
          CLOSED: {kind: complete, final: true}
          ARCHIVE: {kind: running}
        transitions:
          - {from: IDLE, to: RUNNING, trigger: start}
          - {from: RUNNING, to: IDLE, trigger: stop}
          - {from: ARCHIVE, to: CLOSED, trigger: close}
    """)
    # {IDLE, RUNNING} holds the initial state; CLOSED has no inner transition.
    assert found(text, "trap") == []


def test_nondeterministic_reports_at_the_second_transition() -> None:
    text = RULES["nondeterministic"].example("Fails") or ""
    (hit,) = found(text, "nondeterministic")
    assert at(hit) == (line_of(text, "to: SLOW"), 5)
    assert hit.states == ("IDLE",)
    assert hit.transitions == (ref("IDLE", "FAST", "start"), ref("IDLE", "SLOW", "start"))
    assert "'start'" in hit.message


def test_nondeterministic_sees_a_glob_that_repeats_a_trigger() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          RUNNING: {kind: running}
          DONE: {kind: complete}
        transitions:
          - {from: IDLE, to: RUNNING, trigger: start}
          - {from: RUNNING, to: DONE, trigger: finish}
          - {from: "*", to: IDLE, trigger: finish}
    """)
    (hit,) = found(text, "nondeterministic")
    assert at(hit) == (line_of(text, '"*"'), 5)
    assert hit.states == ("RUNNING",)
    assert hit.transitions == (ref("RUNNING", "DONE", "finish"), ref("RUNNING", "IDLE", "finish"))


def test_nondeterministic_passes_for_one_trigger_on_different_sources() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          RUNNING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: [IDLE, RUNNING], to: DONE, trigger: finish}
          - {from: IDLE, to: RUNNING, trigger: start}
    """)
    assert found(text, "nondeterministic") == []


def test_always_cycle_lists_the_automatic_transitions_of_the_loop() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          SPIN: {kind: running}
          SPUN: {kind: running}
          SELF: {kind: running}
        transitions:
          - {from: IDLE, to: SPIN, trigger: start}
          - {from: SPIN, to: SPUN, trigger: always}
          - {from: SPUN, to: SPIN, trigger: always}
          - {from: IDLE, to: SELF, trigger: other}
          - {from: SELF, to: SELF, trigger: always}
    """)
    first, second = found(text, "always-cycle")
    assert at(first) == (line_of(text, "from: SPIN, to: SPUN"), 5)
    assert first.states == ("SPIN", "SPUN")
    assert first.transitions == (ref("SPIN", "SPUN", "always"), ref("SPUN", "SPIN", "always"))
    assert second.transitions == (ref("SELF", "SELF", "always"),)


def test_always_cycle_passes_for_a_chain_and_for_a_mixed_cycle() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          A: {kind: running}
          B: {kind: running}
        transitions:
          - {from: IDLE, to: A, trigger: start}
          - {from: A, to: B, trigger: always}
          - {from: B, to: IDLE, trigger: stop}
    """)
    assert found(text, "always-cycle") == []


def test_shadowed_transition_flags_each_other_exit() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          CHECK: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: CHECK, trigger: start}
          - {from: CHECK, to: IDLE, trigger: cancel}
          - {from: CHECK, to: DONE, trigger: always}
          - {from: CHECK, to: IDLE, trigger: give_up, after: 5m}
    """)
    hits = found(text, "shadowed-transition")
    assert [(at(f), f.transitions) for f in hits] == [
        ((line_of(text, "cancel"), 5), (ref("CHECK", "IDLE", "cancel"),)),
        ((line_of(text, "give_up"), 5), (ref("CHECK", "IDLE", "give_up"),)),
    ]
    assert hits[0].states == ("CHECK",)
    assert "DONE" in hits[0].message


def test_shadowed_transition_passes_without_an_always_exit() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}
          - {from: IDLE, to: DONE, trigger: skip}
    """)
    assert found(text, "shadowed-transition") == []


def test_uncoverable_transition_is_located_at_the_transition() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          LEGACY: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}
          - {from: LEGACY, to: DONE, trigger: migrate}
    """)
    (hit,) = found(text, "uncoverable-transition")
    assert at(hit) == (line_of(text, "migrate"), 5)
    assert hit.states == ("LEGACY",)
    assert hit.transitions == (ref("LEGACY", "DONE", "migrate"),)
    fixed = text.replace("to: DONE, trigger: finish}", "to: LEGACY, trigger: finish}")
    assert found(fixed, "uncoverable-transition") == []


def test_final_with_exits_lists_the_exits() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}
          - {from: DONE, to: IDLE, trigger: reopen}
    """)
    (hit,) = found(text, "final-with-exits")
    assert at(hit) == (line_of(text, "DONE:"), 3)
    assert hit.states == ("DONE",)
    assert hit.transitions == (ref("DONE", "IDLE", "reopen"),)
    assert found(text.replace(", final: true", ""), "final-with-exits") == []


# ---- orchestration rules --------------------------------------------------------------

GATE = """
    states:
      IDLE: {kind: idle}
      REVIEW: {kind: approval, reviewers: [tech_lead]}
      FAILED: {kind: failed, reviewers: [on_call]}
      PARKED: {}
    transitions:
      - {from: IDLE, to: REVIEW, trigger: submitted}
      - {from: REVIEW, to: PARKED, trigger: human_approved, human: true}
      - {from: REVIEW, to: FAILED, trigger: human_rejected, human: true, reason: REJECTED}
      - {from: REVIEW, to: FAILED, trigger: timeout, after: 72h, reason: TIMED_OUT}
      - {from: [FAILED, PARKED], to: IDLE, trigger: human_resumed, human: true}
    reasons:
      REJECTED: {recovery: [Revise the output]}
      TIMED_OUT: {recovery: [Re-request approval]}
"""


def gate(old: str = "", new: str = "") -> str:
    text = spec_text(GATE)
    assert old in text
    return text.replace(old, new)


def test_the_gate_passes_every_rule() -> None:
    text = gate().replace("PARKED: {}", "PARKED: {reviewers: [ops]}")
    result = check_text(text)
    assert result.ok(strict=True), [f.format() for f in result.findings]


def test_approval_missing_approve_ignores_human_exits_to_failed_states() -> None:
    text = gate("to: PARKED, trigger: human_approved", "to: FAILED, trigger: human_approved")
    (hit,) = found(text, "approval-missing-approve")
    assert at(hit) == (line_of(text, "REVIEW: {"), 3)
    assert hit.states == ("REVIEW",)
    assert hit.severity is Severity.ERROR
    assert found(gate(), "approval-missing-approve") == []  # PARKED has no kind: not failed


def test_approval_missing_reject_needs_a_human_exit_to_a_failed_state() -> None:
    text = gate("trigger: human_rejected, human: true", "trigger: human_rejected, after: 1h")
    (hit,) = found(text, "approval-missing-reject")
    assert (at(hit), hit.states) == ((line_of(text, "REVIEW: {"), 3), ("REVIEW",))


def test_approval_missing_timeout_needs_an_after_exit_to_a_failed_state() -> None:
    text = gate("to: FAILED, trigger: timeout", "to: PARKED, trigger: timeout")
    (hit,) = found(text, "approval-missing-timeout")
    assert (at(hit), hit.states) == ((line_of(text, "REVIEW: {"), 3), ("REVIEW",))
    assert "after:" in hit.message


def test_approval_missing_timeout_says_where_a_timeout_that_does_not_fail_leads() -> None:
    """A gate whose timeout led elsewhere was told it "has no timeout"."""
    text = gate("to: FAILED, trigger: timeout", "to: PARKED, trigger: timeout")
    (hit,) = found(text, "approval-missing-timeout")
    assert "has no timeout" not in hit.message
    assert hit.message.startswith(
        "approval state REVIEW times out into PARKED, which is not a failed state; "
    )
    (none,) = found(gate("  - {from: REVIEW, to: FAILED, trigger: timeout", "  #"), hit.rule)
    assert none.message.startswith("approval state REVIEW has no timeout; ")


def test_approval_automatic_exit_flags_plain_and_always_exits() -> None:
    extra = "  - {from: REVIEW, to: IDLE, trigger: withdrawn}\n"
    text = gate("transitions:\n", "transitions:\n" + extra)
    (hit,) = found(text, "approval-automatic-exit")
    assert at(hit) == (line_of(text, "withdrawn"), 5)
    assert hit.states == ("REVIEW",)
    assert hit.transitions == (ref("REVIEW", "IDLE", "withdrawn"),)
    assert found(gate(), "approval-automatic-exit") == []


def test_human_without_reviewers_is_per_transition() -> None:
    text = gate()  # PARKED names no reviewers but has a human exit
    (hit,) = found(text, "human-without-reviewers")
    assert at(hit) == (line_of(text, "human_resumed"), 5)
    assert hit.states == ("PARKED",)
    assert hit.transitions == (ref("PARKED", "IDLE", "human_resumed"),)
    assert "reviewers" in hit.message


def test_failure_missing_reason_exempts_failed_to_failed() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          FAILED: {kind: failed, reviewers: [on_call]}
          ESCALATED: {kind: failed, reviewers: [manager]}
        transitions:
          - {from: IDLE, to: FAILED, trigger: crashed}
          - {from: FAILED, to: ESCALATED, trigger: human_escalated, human: true}
          - {from: [FAILED, ESCALATED], to: IDLE, trigger: human_resumed, human: true}
    """)
    (hit,) = found(text, "failure-missing-reason")
    assert at(hit) == (line_of(text, "crashed"), 5)
    assert hit.states == ("IDLE",)
    assert hit.transitions == (ref("IDLE", "FAILED", "crashed"),)


def test_reason_rules_point_at_the_reason() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          FAILED: {kind: failed, reviewers: [on_call]}
        transitions:
          - {from: IDLE, to: FAILED, trigger: crashed, reason: CRASHED}
          - {from: FAILED, to: IDLE, trigger: human_resumed, human: true}
        reasons:
          CRASHED: {recovery: []}
          DISK_FULL: {recovery: [Free some space]}
    """)
    (missing,) = found(text, "reason-missing-recovery")
    assert (at(missing), missing.reasons) == ((line_of(text, "CRASHED: {"), 3), ("CRASHED",))
    assert missing.severity is Severity.ERROR and missing.states == ()
    (unused,) = found(text, "unused-reason")
    assert (at(unused), unused.reasons) == ((line_of(text, "DISK_FULL:"), 3), ("DISK_FULL",))
    assert unused.severity is Severity.WARNING


def test_failed_without_recovery_is_a_warning_with_its_exceptions() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          RETRYING: {kind: failed}
          LOOPING: {kind: failed}
          ESCALATING: {kind: failed}
          ESCALATED: {kind: failed, reviewers: [manager]}
          GONE: {kind: failed, final: true}
        transitions:
          - {from: IDLE, to: RETRYING, trigger: crashed, reason: CRASHED}
          - {from: IDLE, to: LOOPING, trigger: hung, reason: CRASHED}
          - {from: IDLE, to: ESCALATING, trigger: lost, reason: CRASHED}
          - {from: IDLE, to: GONE, trigger: gone, reason: CRASHED}
          - {from: RETRYING, to: IDLE, trigger: retry, after: 5m}
          - {from: LOOPING, to: LOOPING, trigger: retry, after: 5m}
          - {from: ESCALATING, to: ESCALATED, trigger: escalate}
          - {from: ESCALATED, to: IDLE, trigger: human_resumed, human: true}
        reasons:
          CRASHED: {recovery: [Read the log]}
    """)
    hits = found(text, "failed-without-recovery")
    assert [(f.states, at(f)) for f in hits] == [
        (("RETRYING",), (line_of(text, "RETRYING: {"), 3)),
        (("LOOPING",), (line_of(text, "LOOPING: {"), 3)),
    ]
    assert all(f.severity is Severity.WARNING for f in hits)
    assert "human" in hits[0].message


def test_approval_timeout_approves_flags_each_timed_exit_out_of_failure() -> None:
    extra = "  - {from: REVIEW, to: IDLE, trigger: reminder, after: 1h}\n"
    text = gate("to: FAILED, trigger: timeout", "to: PARKED, trigger: timeout")
    text = text.replace("transitions:\n", "transitions:\n" + extra)
    hits = found(text, "approval-timeout-approves")
    assert [(at(f), f.transitions) for f in hits] == [
        ((line_of(text, "reminder"), 5), (ref("REVIEW", "IDLE", "reminder"),)),
        ((line_of(text, "trigger: timeout"), 5), (ref("REVIEW", "PARKED", "timeout"),)),
    ]
    assert all(f.states == ("REVIEW",) and f.severity is Severity.ERROR for f in hits)
    assert "a timeout must never approve" in hits[0].message
    assert found(gate(), "approval-timeout-approves") == []  # the timeout leads to FAILED


def test_failed_automatic_exit_allows_people_and_escalation_only() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          FAILED: {kind: failed, reviewers: [on_call]}
          ESCALATED: {kind: failed, reviewers: [manager]}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: FAILED, trigger: crashed, reason: CRASHED}
          - {from: FAILED, to: ESCALATED, trigger: escalate, after: 1h}
          - {from: FAILED, to: IDLE, trigger: human_resumed, human: true}
          - {from: FAILED, to: DONE, trigger: shipped}
          - {from: ESCALATED, to: IDLE, trigger: retry, after: 5m}
          - {from: ESCALATED, to: ESCALATED, trigger: remind, after: 1d}
          - {from: ESCALATED, to: DONE, trigger: human_closed, human: true}
        reasons:
          CRASHED: {recovery: [Read the log]}
    """)
    hits = found(text, "failed-automatic-exit")
    assert [(at(f), f.transitions) for f in hits] == [
        ((line_of(text, "shipped"), 5), (ref("FAILED", "DONE", "shipped"),)),
        ((line_of(text, "trigger: retry"), 5), (ref("ESCALATED", "IDLE", "retry"),)),
        ((line_of(text, "remind"), 5), (ref("ESCALATED", "ESCALATED", "remind"),)),
    ]
    assert [f.states for f in hits] == [("FAILED",), ("ESCALATED",), ("ESCALATED",)]
    assert "recovery needs a human" in hits[0].message


def test_reason_outside_failure_flags_every_expanded_transition() -> None:
    text = spec_text(
        """
        states:
          IDLE: {kind: idle}
          RUNNING: {kind: running}
          FAILED: {kind: failed, reviewers: [on_call]}
          LIMBO: {}
        transitions:
          - {from: IDLE, to: RUNNING, trigger: start}
          - {from: RUNNING, to: FAILED, trigger: crashed, reason: CRASHED}
          - {from: [RUNNING, FAILED], to: IDLE, trigger: human_reset, human: true, reason: CRASHED}
          - {from: RUNNING, to: LIMBO, trigger: parked, reason: CRASHED}
          - {from: LIMBO, to: IDLE, trigger: unparked}
        reasons:
          CRASHED: {recovery: [Read the log]}
    """.replace("RUNNING: {kind: running}", "RUNNING: {kind: running, reviewers: [ops]}")
    )
    hits = found(text, "reason-outside-failure")
    assert [(at(f), f.transitions) for f in hits] == [
        ((line_of(text, "human_reset"), 5), (ref("FAILED", "IDLE", "human_reset"),)),
        ((line_of(text, "human_reset"), 5), (ref("RUNNING", "IDLE", "human_reset"),)),
        ((line_of(text, "parked,"), 5), (ref("RUNNING", "LIMBO", "parked"),)),
    ]
    assert "CRASHED" in hits[0].message and "not a failed state" in hits[0].message
    assert found(text.replace("LIMBO: {}", "LIMBO: {kind: failed}"), "reason-outside-failure")


# ---- waiting on the outside world -----------------------------------------------------

WAIT = """
    states:
      IDLE: {kind: idle}
      AWAITING: {kind: waiting}
      FAILED: {kind: failed, final: true}
    transitions:
      - {from: IDLE, to: AWAITING, trigger: sent}
      - {from: AWAITING, to: IDLE, trigger: answered}
      - {from: AWAITING, to: FAILED, trigger: refused, reason: REFUSED}
    reasons:
      REFUSED: {recovery: [Call the partner]}
"""


def test_waiting_missing_timeout_is_at_the_state_and_wants_any_after_exit() -> None:
    text = spec_text(WAIT)
    (hit,) = found(text, "waiting-missing-timeout")
    assert (at(hit), hit.states) == ((line_of(text, "AWAITING: {"), 3), ("AWAITING",))
    assert hit.severity is Severity.ERROR and "after:" in hit.message
    retry = "  - {from: AWAITING, to: IDLE, trigger: no_answer, after: 1h}\n"
    timed = text.replace("transitions:\n", "transitions:\n" + retry)
    assert found(timed, "waiting-missing-timeout") == []  # a timeout may lead anywhere
    result = check_text(timed)
    assert result.ok(strict=True), [f.format() for f in result.findings]


def test_waiting_states_get_no_approval_rules() -> None:
    rules = {f.rule for f in check_text(spec_text(WAIT)).findings}
    assert rules == {"waiting-missing-timeout"}


# ---- check orchestration --------------------------------------------------------------


def test_check_result_without_a_spec_carries_the_load_findings() -> None:
    result = check_text("statewright: 1\nmachine: demo\n", "broken.yaml")
    assert result.spec is None and result.coverage is None and result.stats is None
    assert result.machine is None
    assert result.findings and {f.rule for f in result.findings} == {"schema"}
    assert not result.ok()


def test_check_result_is_sorted_and_counts_the_machine() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          STUCK: {kind: running}
          LOST: {kind: running}
        transitions:
          - {from: [IDLE, LOST], to: STUCK, trigger: start}
    """)
    result = check_text(text, "spec.yaml")
    assert result.machine == "demo"
    assert result.stats is not None
    assert (result.stats.states, result.stats.transitions, result.stats.reachable) == (3, 2, 2)
    keys = [f.sort_key for f in result.findings]
    assert keys == sorted(keys) and len(keys) > 1


def test_ok_is_strict_about_warnings_only_when_asked() -> None:
    text = spec_text("""
        states:
          IDLE: {kind: idle}
          DONE: {final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}
        reasons:
          SPARE: {recovery: [Nothing]}
    """)
    result = check_text(text)
    assert [f.rule for f in result.findings] == ["unused-reason"]
    assert result.ok() and not result.ok(strict=True)


def test_check_file_and_check_spec_agree(tmp_path: Path) -> None:
    text = gate()
    path = tmp_path / "gate.yaml"
    path.write_text(text, encoding="utf-8")
    from_file = check_file(path, display="specs/gate.yaml")
    assert from_file.file == "specs/gate.yaml"
    assert {f.location.file for f in from_file.findings} == {"specs/gate.yaml"}
    loaded = load_text(text, "specs/gate.yaml").spec
    assert loaded is not None
    assert check_spec(loaded).findings == from_file.findings
    assert check_file(tmp_path / "missing.yaml").spec is None
