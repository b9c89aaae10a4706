"""The shape of a generated runtime: one function per distinct guard and effect, named by
what it computes and stable when other transitions come and go; one docstring bullet per
transition; the spec embedded in the test module as one block; the small set of names it
re-exports; triggers passed to the engine as ``Trigger`` members.

The functions are checked against the checker's own meaning of the expressions
(:func:`statewright.verify.semantics.data.evaluate`), over every value of the variables.
"""

from __future__ import annotations

import ast
import itertools
import keyword
import string
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_generate_module import HOSTILE
from test_runtime_kit import Clock, generate, load_spec, write_package

from statewright.generator.format import CONFIG
from statewright.generator.naming import MAX_FUNCTION_NAME, block_literal, function_names
from statewright.generator.render import render_runtime, render_tests
from statewright.generator.view import USER_NAMES, runtime_view
from statewright.verify.model import Spec, VarType
from statewright.verify.semantics.data import evaluate

RETRIES = """\
statewright: 1
machine: retries
initial: IDLE
variables:
  attempts: {type: int, min: 0, max: 3, initial: 0}
  level: {type: enum, values: [low, high], initial: low}
  done: {type: bool, initial: false}
states:
  IDLE: {kind: idle}
  A: {kind: running}
  B: {kind: running}
  FAILED: {kind: failed, reviewers: [on_call]}
transitions:
  - {from: IDLE, to: A, trigger: start}
  - {from: [A, B], to: FAILED, trigger: retry, when: attempts == 3, reason: GAVE_UP}
  - {from: A, to: A, trigger: retry, when: attempts < 3, set: {attempts: attempts + 1}}
  - {from: B, to: B, trigger: retry, when: attempts<3, set: {attempts: attempts+1}}
  - {from: A, to: B, trigger: escalate, when: "level in [low] and not done",
     set: {level: high, done: true}}
  - {from: B, to: A, trigger: calm, when: level == high, set: {level: low}}
  - {from: FAILED, to: IDLE, trigger: reset, human: true,
     set: {attempts: 0, level: low, done: false}}
reasons:
  GAVE_UP: {recovery: [Reset]}
"""

UNRELATED = (
    "  - {from: B, to: IDLE, trigger: jump, when: done or attempts > 1, set: {done: false}}\n"
)


def embedded_spec(module: str) -> str:
    """The value of the ``SPEC_TEXT`` a generated test module embeds."""
    (value,) = [
        node.value
        for node in ast.parse(module).body
        if isinstance(node, ast.AnnAssign)
        and ast.unparse(node.target) == "SPEC_TEXT"
        and node.value is not None
    ]
    text = ast.literal_eval(value)
    assert isinstance(text, str)
    return text


def _with_unrelated(text: str) -> str:
    """``text`` with a new transition, guard and effect first in its list."""
    head, _, tail = text.partition("transitions:\n")
    return f"{head}transitions:\n{UNRELATED}{tail}"


def _functions(source: str) -> dict[str, str]:
    """The module-level functions of ``source``: name -> the expression it returns."""
    found: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            (statement,) = node.body
            assert isinstance(statement, ast.Return) and statement.value is not None
            found[node.name] = ast.unparse(statement.value)
    return found


def _names_by_transition(spec: Spec) -> dict[tuple[str, str, str], tuple[str | None, str | None]]:
    return {
        (row.source, row.trigger, row.target): (
            None if row.when is None else row.when.function,
            None if row.effect is None else row.effect.function,
        )
        for row in runtime_view(spec).transitions
    }


@pytest.fixture(scope="module")
def retries() -> Spec:
    return load_spec(RETRIES)


@pytest.fixture(scope="module")
def rt(retries: Spec, tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    return generate(retries, tmp_path_factory.mktemp("shape"))


def test_one_function_per_distinct_body_named_by_meaning(retries: Spec) -> None:
    functions = _functions(render_runtime(retries))
    bodies = list(functions.values())
    assert len(bodies) == len(set(bodies)), "two functions compute the same thing"
    assert functions == {
        "_when_attempts_eq_3": "v.attempts == 3",
        "_when_attempts_lt_3": "v.attempts < 3",
        "_when_level_in_low_and_not_done": "v.level in ('low',) and (not v.done)",
        "_when_level_eq_high": "v.level == 'high'",
        "_set_attempts_plus_1": "replace(v, attempts=v.attempts + 1)",
        "_set_level_high_and_done_true": "replace(v, level='high', done=True)",
        "_set_level_low": "replace(v, level='low')",
        "_set_attempts_0_and_level_low_and_done_false": (
            "replace(v, attempts=0, level='low', done=False)"
        ),
    }


def test_the_functions_compute_what_the_checker_means(retries: Spec, rt: ModuleType) -> None:
    """Every guard and effect of the table, over every value of the variables, against
    the checker's evaluation of the transition's own expressions: a function shared by
    the wrong transitions, or a body named after another, fails here."""
    domains: dict[str, list[Any]] = {}
    for variable in retries.variables:
        if variable.type is VarType.INT:
            domains[variable.name] = list(range(variable.minimum, variable.maximum + 1))
        elif variable.type is VarType.BOOL:
            domains[variable.name] = [False, True]
        else:
            domains[variable.name] = list(variable.values)
    table = rt.Retries.spec.transitions
    assert len(table) == len(retries.transitions)
    checked = 0
    for values in itertools.product(*domains.values()):
        names = dict(zip(domains, values, strict=True))
        variables = rt.Variables(**names)
        for compiled, declared in zip(table, retries.transitions, strict=True):
            if declared.when is not None:
                assert compiled.when.text == declared.when.text
                assert compiled.when.test(variables) == evaluate(declared.when.tree, names)
                checked += 1
            if declared.effects:
                after = compiled.effect.apply(variables)
                for effect in declared.effects:
                    expected = evaluate(effect.value.tree, names)
                    assert getattr(after, effect.variable) == expected
                    checked += 1
    assert checked == 16 * (6 + 8)  # 16 valuations; 6 guards, 8 assignments


def test_transitions_sharing_a_body_share_its_function(rt: ModuleType) -> None:
    table = rt.Retries.spec.transitions
    guards = {t.when.text: t.when.test for t in table if t.when is not None}
    retry_guards = [t.when.test for t in table if t.trigger is rt.Trigger.RETRY]
    assert len(retry_guards) == 4 and len(set(retry_guards)) == 2  # == 3 twice, < 3 twice
    assert guards["attempts < 3"] is guards["attempts<3"]


def test_adding_a_transition_renames_no_other_function(retries: Spec) -> None:
    grown = load_spec(_with_unrelated(RETRIES))
    before, after = _names_by_transition(retries), _names_by_transition(grown)
    assert set(before) < set(after)
    assert {key: after[key] for key in before} == before
    old, new = _functions(render_runtime(retries)), _functions(render_runtime(grown))
    assert old.items() < new.items()
    added = set(new) - set(old)
    assert added == {"_when_done_or_attempts_gt_1", "_set_done_false"}


def test_a_long_body_gets_a_short_stable_name() -> None:
    long_effect = RETRIES.replace(
        "set: {attempts: 0, level: low, done: false}",
        "set: {attempts: 3 - attempts - attempts + attempts - 0, level: low, done: false}",
    )
    spec = load_spec(long_effect)
    (name,) = [n for n in _functions(render_runtime(spec)) if n.startswith("_set_attempts_3")]
    assert len(name) <= MAX_FUNCTION_NAME
    assert name[-7] == "_" and all(c in string.hexdigits for c in name[-6:])
    assert not name[:-7].endswith(("_and", "_or"))
    grown = load_spec(_with_unrelated(long_effect))
    assert name in _functions(render_runtime(grown))


_WORDS = st.lists(st.sampled_from(["a", "b", "and", "lt", "3", "x" * 20]), min_size=1, max_size=8)


@given(st.dictionaries(st.text(min_size=1, max_size=12), _WORDS, max_size=12))
def test_function_names_are_distinct_identifiers_of_their_own_body(
    meanings: dict[str, list[str]],
) -> None:
    names = function_names("_when", meanings)
    assert set(names) == set(meanings)
    assert len(set(names.values())) == len(names)
    for body, name in names.items():
        assert name.isidentifier() and not keyword.iskeyword(name)
        alone = function_names("_when", {body: meanings[body]})[body]
        if alone == name:
            continue
        # renamed only where its words are shared by another body, or too long
        spelled = "_".join(("_when", *meanings[body]))
        assert len(spelled) > MAX_FUNCTION_NAME or any(
            "_".join(("_when", *words)) == spelled
            for other, words in meanings.items()
            if other != body
        )


def test_one_bullet_per_transition_in_trigger_docstrings(rt: ModuleType) -> None:
    doc = rt.Retries.retry.__doc__ or ""
    bullets = [line.strip() for line in doc.splitlines() if line.strip().startswith("- ")]
    assert bullets == [
        "- A -> FAILED [attempts == 3]",
        "- B -> FAILED [attempts == 3]",
        "- A -> A [attempts < 3] / attempts = attempts + 1",
        "- B -> B [attempts<3] / attempts = attempts+1",
    ]
    assert doc.startswith("Fire ``retry``, one of its 4 transitions:")
    assert (rt.Retries.start.__doc__ or "") == "Fire ``start``: IDLE -> A."


def test_typed_triggers_reach_the_engine(rt: ModuleType, retries: Spec) -> None:
    source = render_runtime(retries)
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "self._take"
    ]
    assert len(calls) == 5
    assert all(ast.unparse(call.args[0]).startswith("Trigger.") for call in calls)
    taken: list[object] = []

    class Spy(rt.Retries):  # type: ignore[misc, name-defined]
        __slots__ = ()

        def _take(self, trigger: object, *rest: object) -> object:
            taken.append(trigger)
            return super()._take(trigger, *rest)

    machine = Spy(clock=Clock())
    assert machine.start() is rt.State.A
    assert machine.escalate() is rt.State.B
    assert [type(trigger) for trigger in taken] == [rt.Trigger, rt.Trigger]


def test_it_re_exports_only_what_a_user_needs(rt: ModuleType) -> None:
    own = ["SOURCE", "SOURCE_SHA256", "Handlers", "Reason", "Retries", "State", "Trigger"]
    support = [name for _, names in USER_NAMES for name in names]
    assert rt.__all__ == own + support
    assert len(support) == len(set(support))
    assert all(hasattr(rt, name) for name in rt.__all__)
    namespace: dict[str, object] = {}
    exec(f"from {rt.__name__} import *", namespace)  # the star import itself
    assert set(namespace) - {"__builtins__"} == set(rt.__all__)
    assert not {"MachineSpec", "Guard", "Effect", "VariablesSpec"} & set(namespace)
    doc = rt.__doc__ or ""
    for what, _ in USER_NAMES:
        assert what in " ".join(doc.split())


@given(
    st.text(st.sampled_from(list(' "\\\n\tab\u00e9\U0001f600\r\x00\x0c\u2028')), max_size=300),
    st.integers(20, 100),
)
def test_a_block_literal_is_the_text_and_fits(text: str, width: int) -> None:
    literal = block_literal(text, width)
    assert ast.literal_eval(literal) == text
    assert literal.isascii()
    for line in literal.split("\n"):
        assert len(line) <= width
        assert line == line.rstrip()


def test_the_test_module_embeds_a_hostile_spec_as_one_block(tmp_path: Path) -> None:
    spec = load_spec(HOSTILE, "specs/hostile.yaml")
    text = render_tests(spec, HOSTILE)
    assert embedded_spec(text) == HOSTILE
    assert "\ntransitions:\n" in text  # the spec's lines, as written
    package = write_package(tmp_path / "pkg", {"state/test_state.py": text})
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--config", str(CONFIG), "-q", "."],
        cwd=package / "state",
        capture_output=True,
        text=True,
        check=False,
    )
    assert lint.returncode == 0, lint.stdout
