"""A spec's expressions as Python source for a generated module, over its ``Variables``.

The view model (:mod:`statewright.generator.view`) compiles each guard and effect once, from the
checked syntax tree, into the body of a small typed function of ``v`` (the machine's
frozen ``Variables``); nothing from the spec is pasted in as text, and nothing is
evaluated at run time. The expression language has Python's precedence, so parentheses
are written only where the tree needs them (a comparison inside a comparison, a right
operand of ``-``, ...).

>>> from statewright.verify.model import Binary, EnumValue, Literal, Member, Ref, Unary
>>> python_of(Binary("and", Binary("<", Ref("attempts"), Literal(3)), Unary("not", Ref("done"))))
'v.attempts < 3 and not v.done'
>>> minor, critical = EnumValue("severity", "minor"), EnumValue("severity", "critical")
>>> python_of(Member(Ref("severity"), (minor, critical)))
'v.severity in ("minor", "critical")'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import assert_never

from statewright.generator.naming import string_literal
from statewright.verify.expr import fold
from statewright.verify.model import BinaryOp, Expr, UnaryOp, Value

__all__ = ["python_of", "python_of_value"]

_OR, _AND, _NOT, _COMPARISON, _SUM, _NEGATION, _ATOM = range(1, 8)
"""How tightly each kind of expression binds, loosest first, as in Python."""


def python_of_value(value: Value) -> str:
    """A value as a Python literal: ``3``, ``True``, ``"critical"``."""
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return repr(value)
    return string_literal(value)


def _binding(op: BinaryOp) -> int:
    match op:
        case "or":
            return _OR
        case "and":
            return _AND
        case "+" | "-":
            return _SUM
        case "==" | "!=" | "<" | "<=" | ">" | ">=":
            return _COMPARISON
        case _:
            assert_never(op)


@dataclass(frozen=True, slots=True)
class _Source:
    """Python source and how tightly it binds."""

    text: str
    level: int

    def at_least(self, level: int) -> str:
        """The source, in parentheses when it binds more loosely than ``level``."""
        return self.text if self.level >= level else f"({self.text})"


class _Python:
    """Python source over ``v`` for each node (:class:`statewright.verify.expr.Algebra`)."""

    def literal(self, value: int | bool) -> _Source:
        negative = not isinstance(value, bool) and value < 0
        return _Source(python_of_value(value), _NEGATION if negative else _ATOM)

    def enum_value(self, enum: str, member: str) -> _Source:
        return _Source(python_of_value(member), _ATOM)

    def state_name(self, name: str) -> _Source:
        return _Source(python_of_value(name), _ATOM)

    def ref(self, name: str) -> _Source:
        return _Source(f"v.{name}", _ATOM)

    def current_state(self) -> _Source:
        raise ValueError("'state' is known only in properties")

    def unary(self, op: UnaryOp, operand: _Source) -> _Source:
        if op == "not":
            return _Source(f"not {operand.at_least(_NOT)}", _NOT)
        return _Source(f"-{operand.at_least(_NEGATION)}", _NEGATION)

    def binary(self, op: BinaryOp, left: _Source, right: _Source) -> _Source:
        level = _binding(op)
        if level == _COMPARISON:  # comparisons do not chain: both sides bind tighter
            text = f"{left.at_least(level + 1)} {op} {right.at_least(level + 1)}"
        else:  # left-associative: a right operand of the same level keeps its parentheses
            text = f"{left.at_least(level)} {op} {right.at_least(level + 1)}"
        return _Source(text, level)

    def member(self, operand: _Source, items: tuple[_Source, ...], negated: bool) -> _Source:
        listed = ", ".join(item.text for item in items)
        listed = f"({listed},)" if len(items) == 1 else f"({listed})"
        op = "not in" if negated else "in"
        return _Source(f"{operand.at_least(_COMPARISON + 1)} {op} {listed}", _COMPARISON)


def python_of(tree: Expr) -> str:
    """The Python expression computing ``tree`` from ``v``."""
    return fold(tree, _Python()).text
