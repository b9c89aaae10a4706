"""One fold over the expression tree: every meaning complete, and all meaning the same.

:func:`statewright.verify.expr.fold` is the only code that takes an expression's tree apart; the
evaluator, the explorer's Python, the generated runtime's Python and the Promela are
algebras of it. These tests fail when a kind of node or a meaning is added without its
counterpart, when some other module walks the tree itself, and when a meaning computes
something other than :func:`statewright.verify.semantics.evaluate` on any operator or nesting.
"""

from __future__ import annotations

import ast
import doctest
import re
from pathlib import Path
from types import SimpleNamespace
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import statewright.verify.expr
from statewright.generator import naming, pyexpr
from statewright.generator.pyexpr import python_of
from statewright.verify.explore import promela, pycode
from statewright.verify.explore.pycode import Names, python
from statewright.verify.expr import Algebra, fold, refs
from statewright.verify.model import (
    Binary,
    BinaryOp,
    CurrentState,
    EnumValue,
    Expr,
    Literal,
    Location,
    Member,
    Ref,
    StateName,
    Unary,
    UnaryOp,
    Value,
    Variable,
    VarType,
)
from statewright.verify.semantics import data
from statewright.verify.semantics.data import evaluate

ROOT = Path(__file__).resolve().parents[1]

MEANINGS: dict[str, type] = {
    "refs": statewright.verify.expr.Refs,
    "evaluate": data.Evaluation,
    "explorer python": pycode._Python,
    "runtime python": pyexpr._Python,
    "promela": promela._Promela,
    "function names": naming._Words,
}
"""Every algebra of the fold in the code base (the last test finds any other)."""


def _methods(cls: type) -> set[str]:
    return {name for name, member in vars(cls).items() if callable(member) and name[0] != "_"}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_the_examples_run() -> None:
    failed, tried = doctest.testmod(statewright.verify.expr)
    assert tried > 0 and failed == 0


def test_the_algebra_has_one_method_per_kind_of_node() -> None:
    kinds = {_snake(node.__name__) for node in get_args(Expr)}
    assert kinds == _methods(Algebra)


@pytest.mark.parametrize("name", sorted(MEANINGS))
def test_every_meaning_writes_every_method(name: str) -> None:
    missing = _methods(Algebra) - _methods(MEANINGS[name])
    assert not missing, f"{name} lacks {sorted(missing)}"


def _modules() -> list[Path]:
    return [path for package in ("verify", "generator") for path in (ROOT / package).rglob("*.py")]


def test_only_the_fold_takes_a_tree_apart() -> None:
    """No module but :mod:`statewright.verify.expr` asks which kind an operator node is: a walker of
    its own would be a fifth copy of the meaning."""
    inner = {"Unary", "Binary", "Member"}
    walkers = []
    for path in _modules():
        if path == ROOT / "verify" / "expr.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "isinstance":
                named = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                if named & inner:
                    walkers.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not walkers, walkers


def test_every_algebra_in_the_code_is_known() -> None:
    """A class that writes the operator methods is an algebra: it is listed in
    :data:`MEANINGS`, so that the tests above hold it."""
    known = {f"{cls.__module__}.{cls.__qualname__}" for cls in MEANINGS.values()}
    found = set()
    for path in _modules():
        module = ".".join(("statewright", *path.relative_to(ROOT).with_suffix("").parts))
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ClassDef):
                defined = {f.name for f in node.body if isinstance(f, ast.FunctionDef)}
                if {"unary", "binary", "member"} <= defined and node.name != "Algebra":
                    found.add(f"{module}.{node.name}")
    assert found == known


AT = Location("<test>", 1, 1)
VARIABLES = {
    "a": Variable("a", VarType.INT, 0, AT, -3, 3),
    "b": Variable("b", VarType.INT, 0, AT, -3, 3),
    "p": Variable("p", VarType.BOOL, False, AT),
    "q": Variable("q", VarType.BOOL, False, AT),
    "e": Variable("e", VarType.ENUM, "low", AT, values=("low", "mid", "high")),
}
STATES = {"A": 0, "B": 1}
ARITHMETIC: tuple[BinaryOp, ...] = ("+", "-")
ORDER: tuple[BinaryOp, ...] = ("==", "!=", "<", "<=", ">", ">=")
LOGIC: tuple[BinaryOp, ...] = ("and", "or")
EQUALITY: tuple[BinaryOp, ...] = ("==", "!=")
STATE_B = StateName("B")


def _trees(
    leaves: st.SearchStrategy[Expr], unary: UnaryOp, ops: tuple[BinaryOp, ...], depth: int
) -> st.SearchStrategy[Expr]:
    """Trees up to ``depth`` operators deep over ``leaves``, of ``unary`` and ``ops``."""
    if depth == 0:
        return leaves
    inner = _trees(leaves, unary, ops, depth - 1)
    return st.one_of(
        leaves,
        st.builds(Unary, st.just(unary), inner),
        st.builds(Binary, st.sampled_from(ops), inner, inner),
    )


def _ints(depth: int) -> st.SearchStrategy[Expr]:
    leaves = st.one_of(st.sampled_from([Ref("a"), Ref("b")]), st.integers(-4, 4).map(Literal))
    return _trees(leaves, "-", ARITHMETIC, depth)


def _bools(depth: int) -> st.SearchStrategy[Expr]:
    level = st.sampled_from([EnumValue("e", m) for m in ("low", "mid", "high")])
    leaves = st.one_of(
        st.sampled_from([Ref("p"), Ref("q"), Literal(True), Literal(False)]),
        st.builds(Binary, st.sampled_from(ORDER), _ints(1), _ints(1)),
        st.builds(Binary, st.sampled_from(EQUALITY), st.just(Ref("e")), level),
        st.builds(Binary, st.sampled_from(EQUALITY), st.just(CurrentState()), st.just(STATE_B)),
        st.builds(Member, st.just(Ref("e")), st.lists(level, min_size=1).map(tuple), st.booleans()),
        st.builds(
            Member,
            _ints(1),
            st.lists(st.integers(-4, 4).map(Literal), min_size=1).map(tuple),
            st.booleans(),
        ),
    )
    return _trees(leaves, "not", LOGIC + EQUALITY, depth)


def _stored(name: str, value: Value) -> int:
    variable = VARIABLES[name]
    return variable.values.index(str(value)) if variable.type is VarType.ENUM else int(value)


@settings(max_examples=400, deadline=None)
@given(
    tree=_bools(3),
    values=st.fixed_dictionaries(
        {name: st.sampled_from(v.domain) for name, v in VARIABLES.items()}
    ),
    state=st.sampled_from(sorted(STATES)),
)
def test_every_meaning_computes_what_the_evaluator_does(
    tree: Expr, values: dict[str, Value], state: str
) -> None:
    """The explorer's Python on stored numbers and the runtime's Python on ``v`` (with
    the parentheses it leaves out) compute what :func:`evaluate` computes."""
    expected = evaluate(tree, values, state)
    names = Names(VARIABLES, {name: f"x_{name}" for name in VARIABLES}, STATES)
    stored = {f"x_{name}": _stored(name, value) for name, value in values.items()}
    assert bool(eval(python(tree, names), {**stored, "s": STATES[state]})) is expected
    if not any(isinstance(node, CurrentState) for node in _nodes(tree)):
        assert eval(python_of(tree), {"v": SimpleNamespace(**values)}) is expected


def _nodes(tree: Expr) -> list[Expr]:
    if isinstance(tree, Unary):
        return [tree, *_nodes(tree.operand)]
    if isinstance(tree, Binary):
        return [tree, *_nodes(tree.left), *_nodes(tree.right)]
    if isinstance(tree, Member):
        return [tree, *_nodes(tree.operand)]
    return [tree]


@pytest.mark.parametrize("op", get_args(BinaryOp))
def test_every_binary_operator_has_one_meaning(op: BinaryOp) -> None:
    """Each operator, on every pair of small operands, in the evaluator and both Pythons."""
    logic = op in LOGIC
    domain: tuple[Value, ...] = (False, True) if logic else (-2, -1, 0, 1, 2)
    left, right = ("p", "q") if logic else ("a", "b")
    tree = Binary(op, Ref(left), Ref(right))
    names = Names(VARIABLES, {left: "x", right: "y"}, STATES)
    for x in domain:
        for y in domain:
            expected = evaluate(tree, {left: x, right: y})
            assert eval(python(tree, names), {"x": int(x), "y": int(y)}) == expected
            assert eval(python_of(tree), {"v": SimpleNamespace(**{left: x, right: y})}) == expected


@pytest.mark.parametrize("op", get_args(UnaryOp))
def test_every_unary_operator_has_one_meaning(op: UnaryOp) -> None:
    name = "p" if op == "not" else "a"
    tree = Unary(op, Ref(name))
    for x in VARIABLES[name].domain:
        expected = evaluate(tree, {name: x})
        assert eval(python(tree, Names(VARIABLES, {name: "x"}, STATES)), {"x": int(x)}) == expected
        assert eval(python_of(tree), {"v": SimpleNamespace(**{name: x})}) == expected


def test_enum_values_are_written_as_each_target_spells_them() -> None:
    tree = Member(Ref("e"), (EnumValue("e", "high"), EnumValue("e", "low")), negated=True)
    names = Names(VARIABLES, {"e": "x"}, STATES)
    assert python(tree, names) == "(x not in (2, 0,))"
    assert python_of(tree) == 'v.e not in ("high", "low")'
    writer = promela._Promela(STATES, VARIABLES)
    assert fold(tree, writer) == "!(v_e == 2 || v_e == 0)"
    assert fold(Binary("==", CurrentState(), StateName("B")), writer) == "(state == 1)"
    assert refs(Binary("and", tree, Binary("<", Ref("a"), Unary("-", Ref("b"))))) == {
        "e",
        "a",
        "b",
    }
