"""Expressions compiled to Python source over packed configurations.

The explorer runs one generated Python function per spec (:mod:`statewright.verify.explore.search`);
this module writes its expressions. A variable is read into a local (``v3``) as its
*stored* number: an int as its value, a bool as 0 or 1, an enum as the index of its
value; literals are written the same way, so that comparisons compare stored numbers.
The source is built from the checked syntax tree alone (nothing from the spec is pasted
in as text), and what it computes is held to :func:`statewright.verify.semantics.evaluate` by the
test suite.

>>> from statewright.verify.model import Binary, Literal, Location, Ref, Variable, VarType
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

from statewright.verify.expr import fold, refs
from statewright.verify.model import BinaryOp, Expr, Literal, Ref, UnaryOp, Variable, VarType

__all__ = ["Names", "function", "python", "python_value", "refs"]


@dataclass(frozen=True, slots=True)
class Names:
    """What the generated code calls things: each variable's local, and the number of
    each state (for properties, where ``state`` is the local ``s``)."""

    variables: Mapping[str, Variable]
    locals: Mapping[str, str]
    states: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class _Python:
    """Python source on stored numbers for each node (:class:`statewright.verify.expr.Algebra`)."""

    names: Names

    def literal(self, value: int | bool) -> str:
        return repr(int(value))

    def enum_value(self, enum: str, member: str) -> str:
        return repr(self.names.variables[enum].values.index(member))

    def state_name(self, name: str) -> str:
        return repr(self.names.states[name])

    def ref(self, name: str) -> str:
        return self.names.locals[name]

    def current_state(self) -> str:
        return "s"

    def unary(self, op: UnaryOp, operand: str) -> str:
        return f"(not {operand})" if op == "not" else f"(-{operand})"

    def binary(self, op: BinaryOp, left: str, right: str) -> str:
        return f"({left} {op} {right})"

    def member(self, operand: str, items: tuple[str, ...], negated: bool) -> str:
        op = "not in" if negated else "in"
        return f"({operand} {op} ({', '.join(items)},))"


def python(tree: Expr, names: Names) -> str:
    """Python source computing ``tree`` on stored numbers."""
    return fold(tree, _Python(names))


def python_value(tree: Expr, variable: Variable, names: Names) -> str:
    """Python source computing the stored number an effect gives ``variable``."""
    source = python(tree, names)
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
