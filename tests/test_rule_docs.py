"""Every rule's documentation examples do what they say: the docs cannot drift."""

from __future__ import annotations

import pytest

from verify.check import CheckResult, check_text, check_together
from verify.findings import Severity
from verify.rules import RULES, Family, Rule

WARNINGS = {"unused-reason", "failed-without-recovery"}
CHECKED = [r for r in RULES.values() if r.check is not None or r.check_project is not None]


def checked(entry: Rule, which: str) -> list[CheckResult]:
    """The example's specs, each a whole v1 spec, checked together."""
    texts = entry.example_specs(which)
    assert texts, f"{entry.id} has no {which}: example"
    assert len(texts) == 1 or entry.family is Family.PROJECT, f"{entry.id}: one spec only"
    for text in texts:
        assert text.startswith("statewright: 1\n"), f"{entry.id} {which}: not a whole v1 spec"
    return check_together([check_text(t, f"{entry.id}-{n}.yaml") for n, t in enumerate(texts)])


@pytest.mark.parametrize("entry", RULES.values(), ids=lambda r: r.id)
def test_fails_example_yields_the_rule(entry: Rule) -> None:
    findings = [f for result in checked(entry, "Fails") for f in result.findings]
    assert entry.id in {f.rule for f in findings}, [f.format() for f in findings]


@pytest.mark.parametrize("entry", RULES.values(), ids=lambda r: r.id)
def test_passes_example_does_not(entry: Rule) -> None:
    for result in checked(entry, "Passes"):
        assert entry.id not in {f.rule for f in result.findings}
        if entry.family is not Family.LOAD:  # the checker's examples are clean specs
            assert result.ok(strict=True), [f.format() for f in result.findings]


def test_a_project_rule_reports_on_each_spec() -> None:
    for entry in RULES.values():
        if entry.family is Family.PROJECT:
            for result in checked(entry, "Fails"):
                assert entry.id in {f.rule for f in result.findings}, result.file


def test_every_rule_of_the_design_is_registered_once_with_its_severity() -> None:
    graph = {
        "unreachable-state",
        "dead-end",
        "trap",
        "nondeterministic",
        "always-cycle",
        "shadowed-transition",
        "uncoverable-transition",
        "final-with-exits",
    }
    orchestration = {
        "approval-missing-approve",
        "approval-missing-reject",
        "approval-missing-timeout",
        "approval-automatic-exit",
        "human-without-reviewers",
        "failure-missing-reason",
        "reason-missing-recovery",
        "unused-reason",
        "failed-without-recovery",
        "approval-timeout-approves",
        "failed-automatic-exit",
        "reason-outside-failure",
    }
    assert {r.id for r in CHECKED if r.family is Family.GRAPH} == graph
    assert {r.id for r in CHECKED if r.family is Family.ORCHESTRATION} == orchestration
    assert {r.id for r in CHECKED if r.family is Family.PROJECT} == {"duplicate-machine"}
    for entry in CHECKED:
        wanted = Severity.WARNING if entry.id in WARNINGS else Severity.ERROR
        assert entry.severity is wanted, entry.id


@pytest.mark.parametrize("entry", CHECKED, ids=lambda r: r.id)
def test_docstring_states_the_rule_in_one_sentence(entry: Rule) -> None:
    assert entry.summary.endswith("."), entry.id
    assert "Fails:" not in entry.description and "Passes:" not in entry.description
