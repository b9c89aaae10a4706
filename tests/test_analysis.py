"""Rules take one explicit analysis: the spec, its graph, its budget and, searched once at
first use, its exploration; the registry picks a rule's data form for a spec with
variables, and nothing is remembered between checks."""

from __future__ import annotations

import ast
import dataclasses
import doctest
import inspect
from pathlib import Path

import pytest

import statewright.verify.analysis
import statewright.verify.rules.data
from statewright.verify.analysis import Analysis
from statewright.verify.check import check_spec
from statewright.verify.explore import Budget, Exploration, explore
from statewright.verify.explore.properties import Checked, checked
from statewright.verify.load import load_text
from statewright.verify.model import Spec
from statewright.verify.rules import RULES, Family

ROOT = Path(__file__).resolve().parents[1]

COUNTER = """\
statewright: 1
machine: counter
initial: COUNTING
variables: {n: {type: int, min: 0, max: 5, initial: 0}}
states: {COUNTING: {kind: running}, DONE: {kind: complete, final: true}}
transitions:
  - {from: COUNTING, to: COUNTING, trigger: tick, when: n < 5, set: {n: n + 1}}
  - {from: COUNTING, to: DONE, trigger: stop, when: n == 5}
  - {from: COUNTING, to: DONE, trigger: give_up, when: n > 5}
properties:
  bounded: {always: n <= 4}
"""
"""Seven configurations (counting to 5, then done); ``give_up`` is never enabled and
``bounded`` fails at n=5."""

PLAIN = """\
statewright: 1
machine: plain
initial: IDLE
states: {IDLE: {kind: idle}, LOST: {kind: idle}, DONE: {kind: complete, final: true}}
transitions:
  - {from: IDLE, to: DONE, trigger: finish}
  - {from: LOST, to: DONE, trigger: finish}
"""


def loaded(text: str) -> Spec:
    result = load_text(text)
    assert result.spec is not None, [f.format() for f in result.findings]
    return result.spec


def run(rule_id: str, analysis: Analysis) -> list[str]:
    """The rule's findings on ``analysis``, by the form the registry picks."""
    check = RULES[rule_id].form(analysis.spec)
    return [] if check is None else [f.rule for f in check(analysis)]


def test_the_modules_example_runs() -> None:
    failed, tried = doctest.testmod(statewright.verify.analysis)
    assert tried > 0 and failed == 0


def test_a_rule_called_on_its_own_needs_nothing_primed() -> None:
    analysis = Analysis.of(loaded(COUNTER))
    assert run("never-enabled", analysis) == ["never-enabled"]
    assert run("property-violated", analysis) == ["property-violated"]
    assert run("stuck", analysis) == []


def test_the_budget_of_the_analysis_governs_its_exploration() -> None:
    """Two analyses sharing one graph, each within its own budget (a memo keyed on the
    graph gave the second the first one's exploration)."""
    spec = loaded(COUNTER)
    small = Analysis.of(spec, Budget(configurations=3))
    whole = dataclasses.replace(small, budget=Budget())
    assert small.graph is whole.graph
    assert run("state-space-too-large", small) == ["state-space-too-large"]
    assert run("never-enabled", small) == [] and small.proof is None
    assert run("state-space-too-large", whole) == []
    assert whole.exploration is not None and len(whole.exploration) == 7
    assert run("never-enabled", whole) == ["never-enabled"]


def test_a_check_explores_a_spec_and_checks_its_properties_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    searches: list[Spec] = []
    checks: list[Exploration] = []

    def counted_explore(spec: Spec, limit: Budget) -> Exploration:
        searches.append(spec)
        return explore(spec, limit)

    def counted_check(found: Exploration) -> Checked:
        checks.append(found)
        return checked(found)

    monkeypatch.setattr(statewright.verify.analysis, "explore", counted_explore)
    monkeypatch.setattr(statewright.verify.analysis, "checked", counted_check)
    spec = loaded(COUNTER)
    result = check_spec(spec)
    assert {"never-enabled", "property-violated"} <= {f.rule for f in result.findings}
    assert searches == [spec] and len(checks) == 1
    check_spec(loaded(PLAIN))
    assert searches == [spec], "a spec without variables or properties is not searched"


def test_the_registry_picks_the_data_form_by_the_spec() -> None:
    with_data, without = loaded(COUNTER), loaded(PLAIN)
    both = [r for r in RULES.values() if r.check is not None and r.check_data is not None]
    assert {r.id for r in both} == {
        "unreachable-state",
        "trap",
        "nondeterministic",
        "always-cycle",
        "shadowed-transition",
        "uncoverable-transition",
    }
    for entry in RULES.values():
        if entry.check_data is not None:
            assert entry.form(with_data) is entry.check_data, entry.id
            assert entry.form(without) is entry.check, entry.id
        else:
            assert entry.form(with_data) is entry.form(without) is entry.check, entry.id
    assert run("unreachable-state", Analysis.of(without)) == ["unreachable-state"]


def test_a_data_form_is_documented_by_its_rule_and_defined_with_the_data_rules() -> None:
    """A graph rule with a data form says what it means with variables, and every
    function of the data rules is some rule's data form or registered itself: a data
    form written and never registered fails here."""
    forms = {r.check_data for r in RULES.values() if r.check_data is not None}
    registered = forms | {r.check for r in RULES.values() if r.family is Family.DATA}
    for entry in RULES.values():
        two = entry.check is not None and entry.check_data is not None
        assert ("With variables" in entry.doc) == two, entry.id
        if entry.check_data is not None:
            assert entry.check_data.__module__ == "statewright.verify.rules.data", entry.id
    for name, function in inspect.getmembers(statewright.verify.rules.data, inspect.isfunction):
        if function.__module__ == "statewright.verify.rules.data" and not name.startswith("_"):
            assert function in registered or name == "too_large", name


def test_no_rule_asks_whether_the_spec_has_data() -> None:
    for entry in RULES.values():
        for check in (entry.check, entry.check_data):
            if check is not None:
                source = inspect.getsource(check)
                assert "has_data" not in source, entry.id
                assert list(inspect.signature(check).parameters) == ["analysis"], entry.id


ANALYSES = [
    *sorted((ROOT / "verify" / "rules").glob("*.py")),
    *sorted((ROOT / "verify" / "explore").glob("*.py")),
    ROOT / "verify" / "analysis.py",
    ROOT / "verify" / "check.py",
]


@pytest.mark.parametrize("path", ANALYSES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_keeps_a_hidden_cache(path: Path) -> None:
    """What the rules read is passed to them: no module-level memo of explorations or
    property checks for something else to prime."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            made = ast.unparse(node.value)
            assert "WeakKeyDictionary" not in made and "lru_cache" not in made, made
        if isinstance(node, ast.FunctionDef):
            decorators = {ast.unparse(d) for d in node.decorator_list}
            assert not decorators & {"cache", "functools.cache", "lru_cache"}, node.name
