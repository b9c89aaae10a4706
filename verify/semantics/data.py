"""What expressions, guards and effects mean: the reference interpreter of a spec's data.

A run's data is a :data:`Values` tuple, one value per variable in declaration order. An
expression is evaluated on a mapping of names to values (:func:`evaluate`); a guard holds
when its expression is true (no guard: always); effects are computed all at once from the
values before the step, and a value outside its variable's bounds is
:class:`OutOfRange`. The checker's explorer compiles expressions to faster code, and the
test suite holds that code to :func:`evaluate`.

>>> from verify.model import Binary, Literal, Ref
>>> evaluate(Binary("<", Ref("attempts"), Literal(3)), {"attempts": 2})
True
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from verify.model import (
    Binary,
    CurrentState,
    Effect,
    Expr,
    Expression,
    Literal,
    Member,
    Ref,
    Unary,
    Value,
    Variable,
    VarType,
)

__all__ = ["Data", "OutOfRange", "Values", "evaluate", "show_value"]

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
    if isinstance(tree, Literal):
        return tree.value
    if isinstance(tree, Ref):
        return names[tree.name]
    if isinstance(tree, CurrentState):
        if state is None:
            raise ValueError("'state' is known only in properties")
        return state
    if isinstance(tree, Unary):
        operand = evaluate(tree.operand, names, state)
        return not operand if tree.op == "not" else -int(operand)
    if isinstance(tree, Member):
        found = evaluate(tree.operand, names, state) in [item.value for item in tree.items]
        return found != tree.negated
    return _binary(tree, names, state)


def _binary(tree: Binary, names: Mapping[str, Value], state: str | None) -> Value:
    op = tree.op
    left = evaluate(tree.left, names, state)
    if op == "and":
        return bool(left) and bool(evaluate(tree.right, names, state))
    if op == "or":
        return bool(left) or bool(evaluate(tree.right, names, state))
    right = evaluate(tree.right, names, state)
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
    raise ValueError(f"unknown operator {op!r}")


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
