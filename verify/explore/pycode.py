"""Expressions compiled to Python source over packed configurations.

The explorer runs one generated Python function per spec (:mod:`verify.explore.search`);
this module writes its expressions. A variable is read into a local (``v3``) as its
*stored* number: an int as its value, a bool as 0 or 1, an enum as the index of its
value; literals are written the same way, so that comparisons compare stored numbers.
The source is built from the checked syntax tree alone (nothing from the spec is pasted
in as text), and what it computes is held to :func:`verify.semantics.evaluate` by the
test suite.

>>> from verify.model import Binary, Literal, Location, Ref, Variable, VarType
>>> at = Location("<doc>", 1, 1)
>>> attempts = Variable("attempts", VarType.INT, 0, at, 0, 3)
>>> names = Names({"attempts": attempts}, {"attempts": "v0"}, {})
>>> python(Binary("<", Ref("attempts"), Literal(3)), names)
'(v0 < 3)'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from verify.model import (
    Binary,
    CurrentState,
    Expr,
    Literal,
    Member,
    Ref,
    Unary,
    Value,
    Variable,
    VarType,
)

__all__ = ["Names", "function", "python", "python_value", "refs"]


@dataclass(frozen=True, slots=True)
class Names:
    """What the generated code calls things: each variable's local, and the number of
    each state (for properties, where ``state`` is the local ``s``)."""

    variables: Mapping[str, Variable]
    locals: Mapping[str, str]
    states: Mapping[str, int]


def refs(tree: Expr) -> set[str]:
    """The variables ``tree`` reads."""
    if isinstance(tree, Ref):
        return {tree.name}
    if isinstance(tree, Unary):
        return refs(tree.operand)
    if isinstance(tree, Binary):
        return refs(tree.left) | refs(tree.right)
    if isinstance(tree, Member):
        return refs(tree.operand)
    return set()


def _stored(value: Value, kind: Variable | str | None, names: Names) -> str:
    """A literal as the stored number of ``kind``: a variable's type, ``"state"``, or
    None (an int or a bool, stored as itself)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return repr(value)
    if kind == "state":
        return repr(names.states[value])
    if isinstance(kind, Variable) and kind.type is VarType.ENUM:
        return repr(kind.values.index(value))
    raise ValueError(f"cannot tell which enum {value!r} belongs to")


def _kind(tree: Expr, names: Names) -> Variable | str | None:
    """What a literal compared with ``tree`` is a value of."""
    if isinstance(tree, Ref):
        return names.variables[tree.name]
    if isinstance(tree, CurrentState):
        return "state"
    return None


def python(tree: Expr, names: Names, kind: Variable | str | None = None) -> str:
    """Python source computing ``tree`` on stored numbers (``kind``: what a literal at the
    top is a value of, for an effect's right-hand side)."""
    if isinstance(tree, Literal):
        return _stored(tree.value, kind, names)
    if isinstance(tree, Ref):
        return names.locals[tree.name]
    if isinstance(tree, CurrentState):
        return "s"
    if isinstance(tree, Unary):
        operand = python(tree.operand, names)
        return f"(not {operand})" if tree.op == "not" else f"(-{operand})"
    if isinstance(tree, Member):
        subject = _kind(tree.operand, names)
        items = ", ".join(_stored(item.value, subject, names) for item in tree.items)
        op = "not in" if tree.negated else "in"
        return f"({python(tree.operand, names)} {op} ({items},))"
    left_kind, right_kind = _kind(tree.left, names), _kind(tree.right, names)
    left = python(tree.left, names, right_kind)
    right = python(tree.right, names, left_kind)
    return f"({left} {tree.op} {right})"


def python_value(tree: Expr, variable: Variable, names: Names) -> str:
    """Python source computing the stored number an effect gives ``variable``."""
    source = python(tree, names, variable)
    if variable.type is VarType.BOOL and not isinstance(tree, Literal | Ref):
        return f"(1 if {source} else 0)"
    return source


def function(source: str, name: str, label: str) -> Callable[..., Any]:
    """The function ``name`` defined by generated ``source`` (``label`` names it in
    tracebacks). The source is written by this package from a checked syntax tree; no
    text of a spec is run."""
    namespace: dict[str, object] = {}
    exec(compile(source, f"<statewright {label}>", "exec"), namespace)
    found = namespace[name]
    assert callable(found)
    return found
