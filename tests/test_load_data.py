"""Loading data: variables, guards, effects and properties, and every problem with them
pointed at the exact line and column, inside the expression."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

import statewright.verify.load.exprcheck
import statewright.verify.load.expressions
import statewright.verify.load.scalars
from statewright.verify.load import load_text
from statewright.verify.load.expressions import ExpressionError, parse
from statewright.verify.model import (
    Binary,
    CurrentState,
    EnumValue,
    Literal,
    Member,
    PropertyKind,
    Ref,
    StateName,
    Unary,
    VarType,
)

ROOT = Path(__file__).resolve().parents[1]

HEAD = """\
statewright: 1
machine: retry
initial: RUNNING
variables:
  attempts: {type: int, min: 0, max: 3, initial: 0}
  severity: {type: enum, values: [none, minor, critical], initial: none}
  signed_off: {type: bool, initial: false}
states:
  RUNNING: {kind: running}
  DONE: {kind: complete, final: true}
transitions:
"""
"""A spec head; the transitions (line 12 on) and properties follow."""


def problems(text: str) -> list[tuple[str, int, int, str]]:
    result = load_text(text)
    return [(f.rule, f.location.line, f.location.column, f.message) for f in result.findings]


def only(text: str) -> tuple[str, int, int, str]:
    found = problems(text)
    assert len(found) == 1, found
    return found[0]


def test_the_modules_examples_run() -> None:
    for module in (
        statewright.verify.load.expressions,
        statewright.verify.load.exprcheck,
        statewright.verify.load.scalars,
    ):
        failed, tried = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert tried > 0 and failed == 0, module.__name__


def test_variables_guards_effects_and_properties_load_into_the_model() -> None:
    result = load_text(
        HEAD + "  - {from: RUNNING, to: RUNNING, trigger: retry, when: attempts < 3,"
        " set: {attempts: attempts + 1, severity: minor}}\n"
        "  - {from: RUNNING, to: DONE, trigger: finish, when: \"severity in ['none', minor]\"}\n"
        "properties:\n"
        "  signed: {always: state != DONE or signed_off, description: Signed first.}\n"
        "  order: {precedence: {state: DONE, requires: [finish, retry]}}\n"
        "  ends: {leads_to: {from: RUNNING, to: DONE}}\n"
    )
    assert result.findings == ()
    spec = result.spec
    assert spec is not None and spec.has_data
    attempts, severity, signed_off = spec.variables
    assert (attempts.type, attempts.minimum, attempts.maximum, attempts.initial) == (
        VarType.INT,
        0,
        3,
        0,
    )
    assert severity.domain == ("none", "minor", "critical")
    assert signed_off.domain == (False, True) and signed_off.initial is False
    retry, finish = spec.transitions
    assert retry.when is not None and retry.when.tree == Binary("<", Ref("attempts"), Literal(3))
    assert [str(e) for e in retry.effects] == ["attempts = attempts + 1", "severity = minor"]
    assert retry.effects[1].value.tree == EnumValue("severity", "minor")
    assert finish.when is not None
    assert finish.when.tree == Member(
        Ref("severity"), (EnumValue("severity", "none"), EnumValue("severity", "minor"))
    )
    signed, order, ends = spec.properties
    assert signed.kind is PropertyKind.ALWAYS and signed.description == "Signed first."
    assert signed.invariant is not None and signed.invariant.tree == Binary(
        "or", Binary("!=", CurrentState(), StateName("DONE")), Ref("signed_off")
    )
    assert (order.kind, order.states, order.triggers) == (
        PropertyKind.PRECEDENCE,
        ("DONE",),
        ("finish", "retry"),
    )
    assert (ends.kind, ends.states, ends.targets) == (
        PropertyKind.LEADS_TO,
        ("RUNNING",),
        ("DONE",),
    )


@pytest.mark.parametrize(
    ("text", "tree"),
    [
        ("not signed_off", Unary("not", Ref("signed_off"))),
        (
            "-attempts + 1 >= -2",
            Binary(">=", Binary("+", Unary("-", Ref("attempts")), Literal(1)), Literal(-2)),
        ),
        (
            "attempts == 1 or attempts == 2 and signed_off",
            Binary(
                "or",
                Binary("==", Ref("attempts"), Literal(1)),
                Binary("and", Binary("==", Ref("attempts"), Literal(2)), Ref("signed_off")),
            ),
        ),
        (
            "(attempts - 1) - 1 < 0",
            Binary(
                "<", Binary("-", Binary("-", Ref("attempts"), Literal(1)), Literal(1)), Literal(0)
            ),
        ),
        (
            "'critical' != severity",
            Binary("!=", EnumValue("severity", "critical"), Ref("severity")),
        ),
        (
            "severity not in [none]",
            Member(Ref("severity"), (EnumValue("severity", "none"),), negated=True),
        ),
        ("attempts in [0, -1]", Member(Ref("attempts"), (Literal(0), Literal(-1)))),
        ("true", Literal(True)),
        ("signed_off == false", Binary("==", Ref("signed_off"), Literal(False))),
    ],
)
def test_the_grammar_and_its_precedence(text: str, tree: object) -> None:
    result = load_text(HEAD + f'  - {{from: RUNNING, to: DONE, trigger: finish, when: "{text}"}}\n')
    assert result.spec is not None, [f.format() for f in result.findings]
    when = result.spec.transitions[0].when
    assert when is not None and when.tree == tree


# Each case: an expression (written in double quotes from column 55 of line 12), the
# offset inside it the finding must point at, and words its message must hold.
BAD = [
    ("attempts <", 10, "ends too early"),
    ("attempts < 3 < 4", 13, "do not chain"),
    ("attempts = 3", 9, "'=='"),
    ("attempts * 2 > 1", 9, "only + and -"),
    ("attempt < 3", 0, "did you mean 'attempts'"),
    ("severity == urgent", 12, "not a value of severity"),
    ("severity == 1", 9, "compares an enum value of severity with an int"),
    ("attempts", 0, "must be true or false"),
    ("signed_off and attempts", 15, "expected true or false"),
    ("not attempts", 4, "expected true or false"),
    ("state == DONE", 0, "known only in properties"),
    ("foo == bar", 0, "cannot tell what"),
    ("attempts in []", 9, "empty"),
    ("attempts in [signed_off]", 13, "expected an int"),
    ("severity in [minor, attempts]", 20, "not a value of severity"),
    ("(attempts < 3", 13, "')'"),
    ("attempts < 3)", 12, "after a complete expression"),
    ("attempts.count > 1", 8, "no attributes"),
    ("len(attempts) > 1", 3, "after a complete expression"),
    ("x not y", 6, "'in' after 'not'"),
    ("", 0, "empty"),
    ("attempts > 'none'", 11, "quoted value"),
]


@pytest.mark.parametrize(("text", "offset", "words"), BAD)
def test_a_bad_expression_is_found_where_it_is_wrong(text: str, offset: int, words: str) -> None:
    rule, line, column, message = only(
        HEAD + f'  - {{from: RUNNING, to: DONE, trigger: finish, when: "{text}"}}\n'
    )
    assert (rule, line, column) == ("bad-expression", 12, 55 + offset), message
    assert words in message and message.startswith("in 'when': ")


def test_positions_inside_plain_single_quoted_folded_and_block_scalars() -> None:
    spec = HEAD + (
        "  - {from: RUNNING, to: DONE, trigger: a, when: signed_off and attemps > 1}\n"
        "  - {from: RUNNING, to: DONE, trigger: b, when: 'severity == ''urgent'''}\n"
        "  - from: RUNNING\n"
        "    to: DONE\n"
        "    trigger: c\n"
        "    when: signed_off and\n"
        "      severity == bad\n"
        "  - from: RUNNING\n"
        "    to: DONE\n"
        "    trigger: d\n"
        "    when: |-\n"
        "      signed_off\n"
        "        and nope\n"
        '  - {from: RUNNING, to: DONE, trigger: e, when: "signed_off and \\\n'
        '      \\x61ttempts and 2"}\n'
    )
    found = [(line, column) for _, line, column, _ in problems(spec)]
    assert found == [(12, 64), (13, 62), (18, 19), (24, 13), (26, 7)]


def test_an_effect_has_its_variables_type_and_names_a_variable() -> None:
    found = problems(
        HEAD
        + "  - {from: RUNNING, to: DONE, trigger: a, set: {attempts: signed_off, severity: high,"
        " signed: true, signed_off: attempts < 1}}\n"
    )
    assert [(rule, line, column) for rule, line, column, _ in found] == [
        ("bad-expression", 12, 59),
        ("bad-expression", 12, 81),
        ("bad-expression", 12, 87),
    ]
    assert "attempts holds an int, but this is true or false" in found[0][3]
    assert "'high' is not a value of severity" in found[1][3]
    assert "'signed', which is not a variable; did you mean 'signed_off'?" in found[2][3]


def test_a_timed_transition_takes_no_guard() -> None:
    rule, line, column, message = only(
        HEAD + "  - {from: RUNNING, to: DONE, trigger: a, after: 1h, when: signed_off}\n"
    )
    assert (rule, line, column) == ("schema", 12, 54) and "takes no 'when'" in message


VARIABLES = [
    ("a: {type: int, min: 0, max: 3, initial: 5}", 5, 43, "not a whole number from 0 to 3"),
    ("a: {type: int, min: 3, max: 0, initial: 0}", 5, 6, "min 3 above max 0"),
    ("a: {type: int, max: 3, initial: 0}", 5, 6, "needs 'min'"),
    ("a: {type: int, min: 0.5, max: 3, initial: 0}", 5, 23, "whole number"),
    ("a: {type: integer, min: 0, max: 3, initial: 0}", 5, 13, "did you mean 'int'?"),
    ("a: {min: 0, max: 3, initial: 0}", 5, 6, "needs a type"),
    ("a: {type: bool, initial: 0}", 5, 28, "not true or false"),
    ("a: {type: bool, min: 0, initial: false}", 5, 19, "a bool has no bounds"),
    ("a: {type: enum, values: [x, y], initial: z}", 5, 44, "not one of x, y"),
    ("a: {type: enum, values: [x, x], initial: x}", 5, 31, "listed twice"),
    ("a: {type: enum, values: [X], initial: X}", 5, 28, "not snake_case"),
    ("a: {type: enum, values: [], initial: x}", 5, 27, "needs 'values'"),
    ("a: {type: enum, values: [in], initial: in}", 5, 28, "Python keyword"),
    ("Attempts: {type: bool, initial: true}", 5, 3, "not snake_case"),
    ("state: {type: bool, initial: true}", 5, 3, "word of the expression language"),
    ("a: {type: int, min: 0, max: 99999999999999999999, initial: 0}", 5, 31, "64 bits"),
    (
        "a: {type: bool, initial: true}\n  x: {type: enum, values: [a, b], initial: a}",
        5,
        3,
        "also a value of the enum x",
    ),
]


@pytest.mark.parametrize(("declaration", "line", "column", "words"), VARIABLES)
def test_a_bad_declaration_is_a_bad_variable(
    declaration: str, line: int, column: int, words: str
) -> None:
    spec = HEAD.replace(
        "  attempts: {type: int, min: 0, max: 3, initial: 0}\n"
        "  severity: {type: enum, values: [none, minor, critical], initial: none}\n"
        "  signed_off: {type: bool, initial: false}\n",
        f"  {declaration}\n",
    )
    rule, found_line, found_column, message = only(
        spec + "  - {from: RUNNING, to: DONE, trigger: a}\n"
    )
    assert (rule, found_line, found_column) == ("bad-variable", line, column), message
    assert words in message


PROPERTIES = [
    ("p: {always: state == FINISHED}", "bad-expression", 14, 24, "not a declared state"),
    ("p: {always: stat == DONE}", "bad-expression", 14, 15, "did you mean 'state'?"),
    ("p: {always: attempts}", "bad-expression", 14, 15, "must be true or false"),
    (
        "p: {precedence: {state: DONE, requires: finnish}}",
        "bad-expression",
        14,
        43,
        "did you mean 'finish'?",
    ),
    (
        "p: {precedence: {state: DON, requires: finish}}",
        "unknown-state",
        14,
        27,
        "did you mean 'DONE'?",
    ),
    ("p: {leads_to: {from: RUNNING}}", "schema", 14, 17, "missing the required key 'to'"),
    ("p: {always: 'true', leads_to: {from: RUNNING, to: DONE}}", "schema", 14, 6, "says one thing"),
    ("p: {}", "schema", 14, 3, "says one thing"),
    ("Bad: {always: 'true'}", "invalid-name", 14, 3, "not snake_case"),
]


@pytest.mark.parametrize(("declaration", "rule", "line", "column", "words"), PROPERTIES)
def test_a_bad_property_is_found(
    declaration: str, rule: str, line: int, column: int, words: str
) -> None:
    spec = HEAD + "  - {from: RUNNING, to: DONE, trigger: finish}\nproperties:\n  " + declaration
    found = only(spec + "\n")
    assert found[:3] == (rule, line, column), found
    assert words in found[3]


def schema_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((ROOT / "verify" / "spec.schema.json").read_text())
    return jsonschema.Draft7Validator(schema)


def test_the_schema_accepts_data_and_refuses_what_the_loader_refuses() -> None:
    validator = schema_validator()
    good = (
        HEAD + "  - {from: RUNNING, to: RUNNING, trigger: retry, when: attempts < 3,"
        " set: {attempts: attempts + 1, signed_off: true}}\n"
        "  - {from: RUNNING, to: DONE, trigger: finish}\n"
        "properties:\n"
        "  signed: {always: state != DONE or signed_off}\n"
        "  order: {precedence: {state: DONE, requires: finish}}\n"
        "  ends: {leads_to: {from: [RUNNING], to: DONE}}\n"
    )
    assert load_text(good).findings == ()
    assert list(validator.iter_errors(yaml.safe_load(good))) == []
    for bad in (
        good.replace("initial: none}", "initial: none, min: 0}"),
        good.replace("{type: bool, initial: false}", "{type: bool}"),
        good.replace("trigger: finish}\n", "trigger: finish, after: 1h, when: signed_off}\n", 1),
        good.replace("{always: state != DONE or signed_off}", "{}"),
        good.replace("requires: finish}", "requires: finish, extra: 1}"),
    ):
        assert load_text(bad).findings, bad
        assert list(validator.iter_errors(yaml.safe_load(bad))), bad


def test_parse_refuses_what_is_too_long_or_too_deep() -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        parse("x + " * 600 + "1")
    with pytest.raises(ExpressionError, match="deeper than"):
        parse("(" * 60 + "x" + ")" * 60)
    with pytest.raises(ExpressionError, match="deeper than"):
        parse("not " * 60 + "x")
