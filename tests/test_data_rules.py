"""The data rules on small specs: each finding, where it points and the trace it carries;
a spec without variables checked exactly as before; the tour over configurations."""

from __future__ import annotations

from datagen import data_specs
from hypothesis import assume, given, settings

from statewright.verify.check import CheckResult, check_text
from statewright.verify.explore import explore
from statewright.verify.explore.tour import configuration_tour, replay
from statewright.verify.load import load_text

HEAD = """\
statewright: 1
machine: job
initial: IDLE
variables:
  attempts: {type: int, min: 0, max: 2, initial: 0}
  approved: {type: bool, initial: false}
states:
  IDLE: {kind: idle}
  RUNNING: {}
  CHECK: {}
  DONE: {kind: complete, final: true}
transitions:
  - {from: IDLE, to: RUNNING, trigger: start}
"""
"""Lines 1-13 (states IDLE 8, RUNNING 9, CHECK 10, DONE 11); transitions follow from 14."""


def check(text: str) -> CheckResult:
    return check_text(text, "job.yaml")


def found(result: CheckResult, rule: str) -> list[tuple[int, str, list[str], list[str]]]:
    return [
        (f.location.line, f.message, [str(s) for s in f.trace], [str(s) for s in f.cycle])
        for f in result.findings
        if f.rule == rule
    ]


def test_a_clean_spec_with_data_proves_everything_and_covers_every_transition() -> None:
    result = check(
        HEAD + "  - {from: RUNNING, to: RUNNING, trigger: retry, when: attempts < 2,"
        " set: {attempts: attempts + 1}}\n"
        "  - {from: RUNNING, to: CHECK, trigger: submit}\n"
        "  - {from: CHECK, to: DONE, trigger: always, when: approved}\n"
        "  - {from: CHECK, to: RUNNING, trigger: always, when: not approved,"
        " set: {approved: true}}\n"
    )
    assert result.ok(strict=True), [f.format() for f in result.findings]
    assert result.stats is not None and result.stats.configurations == 16
    assert result.coverage is not None and result.coverage.complete
    assert result.coverage.total == 5


def test_stuck_never_enabled_and_out_of_range() -> None:
    result = check(
        HEAD + "  - {from: RUNNING, to: RUNNING, trigger: retry, when: attempts <= 2,"
        " set: {attempts: attempts + 1}}\n"
        "  - {from: RUNNING, to: CHECK, trigger: submit, when: attempts == 1}\n"
        "  - {from: CHECK, to: DONE, trigger: finish, when: approved}\n"
        "  - {from: CHECK, to: IDLE, trigger: cancel, when: attempts > 5}\n"
    )
    assert found(result, "out-of-range") == [
        (
            14,
            "RUNNING --retry--> RUNNING sets attempts to 3, outside 0..2, from RUNNING with "
            "attempts=2, approved=false; guard the transition or widen the bounds",
            ["start -> RUNNING", "retry -> RUNNING (attempts=1)", "retry -> RUNNING (attempts=2)"],
            [],
        )
    ]
    assert [(line, trace) for line, _, trace, _ in found(result, "stuck")] == [
        (10, ["start -> RUNNING", "retry -> RUNNING (attempts=1)", "submit -> CHECK"])
    ]
    assert [line for line, *_ in found(result, "never-enabled")] == [16, 17]
    assert "'approved' holds in none" in found(result, "never-enabled")[0][1]
    assert [line for line, *_ in found(result, "unreachable-state")] == [11]
    assert [line for line, *_ in found(result, "uncoverable-transition")] == []


def test_nondeterminism_shadowing_and_always_cycles_over_configurations() -> None:
    result = check(
        HEAD + "  - {from: RUNNING, to: CHECK, trigger: submit, when: attempts < 2}\n"
        "  - {from: RUNNING, to: DONE, trigger: submit, when: attempts > 0}\n"
        "  - {from: RUNNING, to: RUNNING, trigger: retry, when: attempts < 2,"
        " set: {attempts: attempts + 1}}\n"
        "  - {from: CHECK, to: RUNNING, trigger: always, when: attempts == 1}\n"
        "  - {from: CHECK, to: DONE, trigger: finish, when: attempts == 1}\n"
        "  - {from: CHECK, to: CHECK, trigger: always, when: attempts == 2 and approved}\n"
        "  - {from: CHECK, to: DONE, trigger: done, when: attempts == 0}\n"
    )
    (nondeterministic,) = found(result, "nondeterministic")
    assert nondeterministic[0] == 15
    assert nondeterministic[2] == ["start -> RUNNING", "retry -> RUNNING (attempts=1)"]
    assert "enabled at once" in nondeterministic[1]
    (shadowed,) = found(result, "shadowed-transition")
    assert shadowed[0] == 18 and "an always transition leaves first" in shadowed[1]
    assert [line for line, *_ in found(result, "never-enabled")] == [19]
    assert not found(result, "always-cycle")  # attempts == 2 and approved never holds
    loop = check(
        HEAD + "  - {from: RUNNING, to: RUNNING, trigger: retry, when: attempts < 2,"
        " set: {attempts: attempts + 1}}\n"
        "  - {from: RUNNING, to: CHECK, trigger: always, when: attempts == 2}\n"
        "  - {from: CHECK, to: RUNNING, trigger: always, when: attempts == 2}\n"
        "  - {from: CHECK, to: DONE, trigger: finish}\n"
    )
    ((line, message, trace, cycle),) = found(loop, "always-cycle")
    assert line == 15 and "loop through RUNNING, CHECK for ever" in message
    assert trace == [
        "start -> RUNNING",
        "retry -> RUNNING (attempts=1)",
        "retry -> RUNNING (attempts=2)",
    ]
    assert cycle == ["always -> CHECK", "always -> RUNNING"]


def test_traps_over_configurations() -> None:
    result = check(
        HEAD + "  - {from: RUNNING, to: CHECK, trigger: submit, set: {approved: true}}\n"
        "  - {from: CHECK, to: RUNNING, trigger: rework, set: {attempts: 1}}\n"
        "  - {from: RUNNING, to: DONE, trigger: finish, when: attempts == 0}\n"
    )
    lines = [(line, trace) for line, _, trace, _ in found(result, "trap")]
    start = ["start -> RUNNING", "submit -> CHECK (approved=true)"]
    assert lines == [
        (9, [*start, "rework -> RUNNING (attempts=1)"]),
        (10, start),
    ]


def test_a_spec_without_variables_is_checked_exactly_as_before() -> None:
    text = (
        "statewright: 1\nmachine: demo\ninitial: IDLE\n"
        "states: {IDLE: {kind: idle}, DONE: {kind: complete}}\n"
        "transitions: [{from: IDLE, to: DONE, trigger: finish}]\n"
    )
    result = check(text)
    assert [f.rule for f in result.findings] == ["dead-end"]
    assert result.stats is not None and result.stats.configurations is None
    assert all(not f.trace for f in result.findings)


def test_properties_without_variables_explore_the_states() -> None:
    result = check(
        "statewright: 1\nmachine: demo\ninitial: IDLE\n"
        "states: {IDLE: {kind: idle}, RUNNING: {}, DONE: {kind: complete}}\n"
        "transitions:\n"
        "  - {from: IDLE, to: RUNNING, trigger: start}\n"
        "  - {from: RUNNING, to: DONE, trigger: finish}\n"
        "  - {from: DONE, to: IDLE, trigger: again}\n"
        "properties:\n"
        "  finishes: {leads_to: {from: RUNNING, to: DONE}}\n"
        "  started_first: {precedence: {state: DONE, requires: start}}\n"
        "  never_done: {always: state != DONE}\n"
    )
    assert [(f.rule, f.location.line) for f in result.findings] == [("property-violated", 12)]
    assert result.stats is not None and result.stats.configurations == 3


def test_a_state_space_past_the_limit_proves_nothing_more() -> None:
    text = HEAD.replace("max: 2, initial: 0", "max: 5000, initial: 0") + (
        "  - {from: RUNNING, to: RUNNING, trigger: retry, set: {attempts: attempts + 1}}\n"
    )
    result = check_text(text, "job.yaml", max_configurations=100)
    assert [(f.rule, f.location.line) for f in result.findings] == [
        ("state-space-too-large", 5),
        ("dead-end", 10),
    ]
    assert "more than 100 reachable configurations" in result.findings[0].message
    assert result.coverage is not None and result.coverage.paths == ()


@settings(max_examples=60, deadline=None)
@given(text=data_specs(properties=False))
def test_the_tour_replays_to_what_it_claims(text: str) -> None:
    spec = load_text(text).spec
    assert spec is not None
    rules = {f.rule for f in check_text(text).findings}
    assume(not rules & {"always-cycle", "out-of-range"})  # runs that cannot go on
    exploration = explore(spec, 100_000, rollback=False)  # the tour covers the spec's own steps
    coverage = configuration_tour(exploration)
    fired = replay(spec, coverage.paths)
    assert coverage.covered == len(fired)
    search = exploration.found
    can_fire = set(search.via)
    assert fired == can_fire, "the tour must fire every transition the search saw fire"
