"""What expressions, guards and effects mean: the reference interpreter of a spec's data.

A run's data is a :data:`Values` tuple, one value per variable in declaration order. An
expression is evaluated on a mapping of names to values (:func:`evaluate`); a guard holds
when its expression is true (no guard: always); effects are computed all at once from the
values before the step, and a value outside its variable's bounds is
:class:`OutOfRange`. The checker's explorer compiles expressions to faster code, and the
test suite holds that code to :func:`evaluate`.

>>> from statewright.verify.model import Binary, Literal, Ref
>>> evaluate(Binary("<", Ref("attempts"), Literal(3)), {"attempts": 2})
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import assert_never

from statewright.verify.expr import fold
from statewright.verify.model import (
    BinaryOp,
    Effect,
    Expr,
    Expression,
    UnaryOp,
    Value,
    Variable,
    VarType,
)

__all__ = ["Data", "Evaluation", "OutOfRange", "Values", "evaluate", "show_value"]

Values = tuple[Value, ...]
"""The value of every variable, in declaration order."""


class OutOfRange(ValueError):
    """A step's effect would take an int variable outside its bounds."""

    def __init__(self, effect: Effect, variable: Variable, value: int) -> None:
        super().__init__(
            f"'set' would give {variable.name} the value {value}, outside "
            f"{variable.minimum}..{variable.maximum}"
        )
        self.effect = effect
        self.variable = variable
        self.value = value


def evaluate(tree: Expr, names: Mapping[str, Value], state: str | None = None) -> Value:
    """The value of ``tree`` with variables ``names`` and, in a property, ``state``."""
    return fold(tree, Evaluation(names, state))


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The value of each node (:class:`statewright.verify.expr.Algebra`): the meaning of
    expressions.

    Both sides of ``and`` and ``or`` are computed: a checked expression has no effects
    and cannot fail, so the value is the same as Python's short circuit gives.
    """

    names: Mapping[str, Value]
    state: str | None = None

    def literal(self, value: int | bool) -> Value:
        return value

    def enum_value(self, enum: str, member: str) -> Value:
        return member

    def state_name(self, name: str) -> Value:
        return name

    def ref(self, name: str) -> Value:
        return self.names[name]

    def current_state(self) -> Value:
        if self.state is None:
            raise ValueError("'state' is known only in properties")
        return self.state

    def unary(self, op: UnaryOp, operand: Value) -> Value:
        if op == "not":
            return not operand
        if op == "-":
            return -int(operand)
        assert_never(op)

    def binary(self, op: BinaryOp, left: Value, right: Value) -> Value:
        if op == "and":
            return bool(left) and bool(right)
        if op == "or":
            return bool(left) or bool(right)
        if op == "==":
            return left == right
        if op == "!=":
            return left != right
        a, b = int(left), int(right)
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "<":
            return a < b
        if op == "<=":
            return a <= b
        if op == ">":
            return a > b
        if op == ">=":
            return a >= b
        assert_never(op)

    def member(self, operand: Value, items: tuple[Value, ...], negated: bool) -> Value:
        return (operand in items) != negated


def show_value(value: Value) -> str:
    """A value as the spec writes it: ``3``, ``true``, ``critical``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class Data:
    """A spec's variables, and what guards and effects do to their values."""

    variables: tuple[Variable, ...]
    index: Mapping[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "index", {v.name: i for i, v in enumerate(self.variables)})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.variables)

    @property
    def initial(self) -> Values:
        """Every variable at its ``initial`` value."""
        return tuple(v.initial for v in self.variables)

    def scope(self, values: Values) -> dict[str, Value]:
        """``values`` by variable name."""
        return dict(zip(self.names, values, strict=True))

    def holds(self, when: Expression | None, values: Values, state: str | None = None) -> bool:
        """Whether a guard (or an ``always`` property) holds; no guard always does."""
        if when is None:
            return True
        return evaluate(when.tree, self.scope(values), state) is True

    def apply(self, effects: tuple[Effect, ...], values: Values) -> Values:
        """The values after ``effects``, computed at once from ``values``.

        Raises :class:`OutOfRange` when an int would leave its bounds.
        """
        if not effects:
            return values
        names = self.scope(values)
        after = list(values)
        for effect in effects:
            variable = self.variables[self.index[effect.variable]]
            value = evaluate(effect.value.tree, names)
            if variable.type is VarType.INT:
                assert isinstance(value, int)
                if not variable.minimum <= value <= variable.maximum:
                    raise OutOfRange(effect, variable, value)
            after[self.index[effect.variable]] = value
        return tuple(after)

    def changed(self, before: Values, after: Values) -> dict[str, Value]:
        """The variables whose value differs, with their new value."""
        return {
            name: new
            for name, old, new in zip(self.names, before, after, strict=True)
            if old != new or type(old) is not type(new)
        }

    def show(self, values: Values) -> str:
        """``attempts=1, signed_off=false``."""
        return ", ".join(
            f"{name}={show_value(value)}" for name, value in zip(self.names, values, strict=True)
        )
