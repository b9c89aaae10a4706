"""Every rule's documentation examples do what they say: the docs cannot drift."""

from __future__ import annotations

import pytest

from statewright.generator.commands.migrate import migration_results
from statewright.verify.asl import check_asl_text
from statewright.verify.check import CheckResult, check_text, check_together
from statewright.verify.conformance.stepfunctions import check_history_text
from statewright.verify.findings import Finding, Severity
from statewright.verify.migration import migrate_texts
from statewright.verify.rules import RULES, Family, Rule

WARNINGS = {
    "unused-reason",
    "failed-without-recovery",
    "running-without-deadline",
    "escalation-widens-nothing",
}
CHECKED = [r for r in RULES.values() if r.checked]


def checked(entry: Rule, which: str) -> list[CheckResult]:
    """The example checked as what it is: an ASL definition for an ASL rule, else its
    specs, each a whole v1 spec, checked together (several only for a project rule)."""
    text = entry.example(which)
    assert text is not None, f"{entry.id} has no {which}: example"
    if entry.family is Family.ASL:
        assert text.startswith(('{"StartAt": ', '{"Resources": ')), (
            f"{entry.id} {which}: not an ASL definition (or a template)"
        )
        return check_asl_text(text, f"{entry.id}.asl.json")
    if entry.family is Family.STEP_FUNCTIONS:  # a definition, then its history
        definition, history = entry.example_specs(which)
        assert definition.startswith('{"StartAt": ') or definition.startswith('{"Timeout')
        assert history.startswith('{"events": [')
        found = check_history_text(definition, history, f"{entry.id}.asl.json", "history.json")
        return [CheckResult(f"{entry.id}.asl.json", None, tuple(found), None, None)]
    texts = entry.example_specs(which)
    if entry.family is Family.MIGRATION:  # the old spec, then the new one
        old, new = texts
        return migration_results(
            migrate_texts(old, new, f"{entry.id}-0.yaml", f"{entry.id}-1.yaml")
        )
    assert len(texts) == 1 or entry.family is Family.PROJECT, f"{entry.id}: one spec only"
    for spec in texts:
        assert spec.startswith("statewright: 1\n"), f"{entry.id} {which}: not a whole v1 spec"
    limit = entry.example_limit
    return check_together(
        [
            check_text(t, f"{entry.id}-{n}.yaml", max_configurations=limit)
            for n, t in enumerate(texts)
        ]
    )


def findings(results: list[CheckResult]) -> list[Finding]:
    return [f for r in results for f in r.findings]


@pytest.mark.parametrize("entry", RULES.values(), ids=lambda r: r.id)
def test_fails_example_yields_the_rule(entry: Rule) -> None:
    found = findings(checked(entry, "Fails"))
    assert entry.id in {f.rule for f in found}, [f.format() for f in found]


@pytest.mark.parametrize("entry", RULES.values(), ids=lambda r: r.id)
def test_passes_example_does_not(entry: Rule) -> None:
    results = checked(entry, "Passes")
    assert entry.id not in {f.rule for f in findings(results)}
    clean = (Family.ASL, Family.STEP_FUNCTIONS, Family.MIGRATION)
    if entry.check or entry.check_data or entry.family in clean:  # clean examples
        assert all(r.ok(strict=True) for r in results), [f.format() for f in findings(results)]


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
        "waiting-missing-timeout",
        "running-without-deadline",
        "policy-outside-approval",
        "unknown-separation",
        "escalation-after-timeout",
        "escalation-widens-nothing",
    }
    assert {r.id for r in CHECKED if r.family is Family.GRAPH} == graph
    assert {r.id for r in CHECKED if r.family is Family.ORCHESTRATION} == orchestration
    assert {r.id for r in CHECKED if r.family is Family.PROJECT} == {"duplicate-machine"}
    for entry in CHECKED:
        wanted = Severity.WARNING if entry.id in WARNINGS else Severity.ERROR
        assert entry.severity is wanted, entry.id
    migration = {r.id for r in RULES.values() if r.family is Family.MIGRATION}
    assert migration == {
        "migration-missing",
        "migration-unknown-state",
        "migration-variables",
        "migration-stranded",
        "migration-breaks-property",
    }
    asl = [(r.id, r.severity) for r in RULES.values() if r.family is Family.ASL]
    assert asl == [
        ("asl-not-modelled", Severity.INFO),
        ("unbounded-loop", Severity.ERROR),
        ("retry-unbounded-delay", Severity.WARNING),
        ("failure-ends-in-success", Severity.WARNING),
        ("asl-placeholder-resource", Severity.INFO),
        ("asl-template-source", Severity.WARNING),
    ]


@pytest.mark.parametrize("entry", CHECKED, ids=lambda r: r.id)
def test_docstring_states_the_rule_in_one_sentence(entry: Rule) -> None:
    assert entry.summary.endswith("."), entry.id
    assert "Fails:" not in entry.description and "Passes:" not in entry.description
