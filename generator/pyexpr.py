"""A spec's expressions as Python source for a generated module, over its ``Variables``.

The view model (:mod:`generator.view`) compiles each guard and effect once, from the
checked syntax tree, into the body of a small typed function of ``v`` (the machine's
frozen ``Variables``); nothing from the spec is pasted in as text, and nothing is
evaluated at run time. The expression language has Python's precedence, so parentheses
are written only where the tree needs them (a comparison inside a comparison, a right
operand of ``-``, ...).

>>> from verify.model import Binary, Literal, Member, Ref, Unary
>>> python_of(Binary("and", Binary("<", Ref("attempts"), Literal(3)), Unary("not", Ref("done"))))
'v.attempts < 3 and not v.done'
>>> python_of(Member(Ref("severity"), (Literal("minor"), Literal("critical"))))
'v.severity in ("minor", "critical")'
"""

from __future__ import annotations

from generator.naming import string_literal
from verify.model import Binary, CurrentState, Expr, Literal, Member, Ref, Unary, Value

__all__ = ["python_of", "python_of_value"]

_LEVEL = {"or": 1, "and": 2, "not": 3, "+": 5, "-": 5}
_COMPARISON = 4
_NEGATION = 6
_ATOM = 7


def python_of_value(value: Value) -> str:
    """A value as a Python literal: ``3``, ``True``, ``"critical"``."""
    return _literal(value)


def _literal(value: Value) -> str:
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return repr(value)
    return string_literal(value)


def _level(tree: Expr) -> int:
    if isinstance(tree, Binary):
        return _LEVEL.get(tree.op, _COMPARISON)
    if isinstance(tree, Member):
        return _COMPARISON
    if isinstance(tree, Unary):
        return _LEVEL["not"] if tree.op == "not" else _NEGATION
    if isinstance(tree, Literal) and isinstance(tree.value, int) and tree.value < 0:
        return _NEGATION
    return _ATOM


def _at_least(tree: Expr, level: int) -> str:
    """``tree``'s source, in parentheses when it binds more loosely than ``level``."""
    source = python_of(tree)
    return source if _level(tree) >= level else f"({source})"


def python_of(tree: Expr) -> str:
    """The Python expression computing ``tree`` from ``v``."""
    if isinstance(tree, Literal):
        return _literal(tree.value)
    if isinstance(tree, Ref):
        return f"v.{tree.name}"
    if isinstance(tree, CurrentState):
        raise ValueError("'state' is known only in properties")
    if isinstance(tree, Unary):
        if tree.op == "not":
            return f"not {_at_least(tree.operand, _LEVEL['not'])}"
        return f"-{_at_least(tree.operand, _NEGATION)}"
    if isinstance(tree, Member):
        items = ", ".join(_literal(item.value) for item in tree.items)
        items = f"({items},)" if len(tree.items) == 1 else f"({items})"
        op = "not in" if tree.negated else "in"
        return f"{_at_least(tree.operand, _COMPARISON + 1)} {op} {items}"
    level = _level(tree)
    if level == _COMPARISON:
        left, right = _at_least(tree.left, level + 1), _at_least(tree.right, level + 1)
    else:  # left-associative: a right operand of the same level keeps its parentheses
        left, right = _at_least(tree.left, level), _at_least(tree.right, level + 1)
    return f"{left} {tree.op} {right}"
