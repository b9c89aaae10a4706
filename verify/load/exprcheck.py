"""Type-check a parsed expression (:mod:`statewright.verify.load.expressions`) into the model's
tree.

Types are ``int``, ``bool``, an enum (the values of the variable it came from) and, in
properties only, ``state``. A bare word that is not a variable (or, in a property, a state)
is an enum value whose enum the other side of a comparison, the list's subject or the
variable assigned tells; a quoted word is always such a value. The word is resolved here,
once: the tree holds it as an :class:`~statewright.verify.model.EnumValue` naming its enum (a
state's name as a :class:`~statewright.verify.model.StateName`), so nothing that reads the tree
guesses. Every problem is an :class:`~statewright.verify.load.expressions.ExpressionError` at the
offset of what it is about.

>>> from statewright.verify.model import Location, Variable, VarType
>>> at = Location("<doc>", 1, 1)
>>> severity = Variable("severity", VarType.ENUM, "none", at, values=("none", "critical"))
>>> scope = Scope({"severity": severity})
>>> condition("severity == critical", scope)
Binary(op='==', left=Ref(name='severity'), right=EnumValue(enum='severity', member='critical'))
>>> condition("severity == urgent", scope)
Traceback (most recent call last):
...
statewright.verify.load.expressions.ExpressionError: 'urgent' is not a value of severity ...
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TypeGuard, assert_never, get_args

from statewright.verify.load.expressions import COMPARISONS, ExpressionError, Parsed, parse
from statewright.verify.load.values import UPPER_SNAKE, suggest
from statewright.verify.model import (
    Binary,
    BinaryOp,
    Constant,
    CurrentState,
    EnumValue,
    Expr,
    Literal,
    Member,
    Ref,
    StateName,
    Unary,
    Variable,
    VarType,
)

__all__ = ["Scope", "assignment", "condition"]


@dataclass(frozen=True, slots=True)
class Scope:
    """What names mean: the spec's variables and, in a property, its states (None
    elsewhere: ``state`` and state names are known only in properties)."""

    variables: Mapping[str, Variable]
    states: Collection[str] | None = None


@dataclass(frozen=True, slots=True)
class _Type:
    """``int``, ``bool``, ``enum`` (``values``, named after ``owner``), ``state`` or
    ``word`` (a word whose enum is not known yet)."""

    name: str
    values: tuple[str, ...] = ()
    owner: str = field(default="", compare=False)

    def __str__(self) -> str:
        if self.name == "enum":
            return f"an enum value of {self.owner}"
        return {"int": "an int", "bool": "true or false", "state": "a state"}.get(
            self.name, "a value"
        )


INT = _Type("int")
BOOL = _Type("bool")
STATE = _Type("state")
WORD = _Type("word")


def condition(text: str, scope: Scope) -> Expr:
    """The tree of ``text``, which must be true or false (a ``when`` or an ``always``)."""
    checker = _Checker(scope)
    tree, kind = checker.typed(parse(text))
    if kind != BOOL:
        raise ExpressionError(
            f"a condition must be true or false, but this is {kind}; compare it "
            f"(for example x == ... or x < ...)",
            0,
        )
    return tree


def assignment(text: str, variable: Variable, scope: Scope) -> Expr:
    """The tree of ``text``, the value ``set`` gives ``variable``."""
    checker = _Checker(scope)
    node = parse(text)
    tree, kind = checker.typed(node)
    want = _type_of(variable)
    if kind == WORD:
        return checker.resolve(node, want)
    if kind != want:
        raise ExpressionError(
            f"{variable.name} holds {want}, but this is {kind}; give it {want}", node.at
        )
    return tree


def _is_binary(op: str) -> TypeGuard[BinaryOp]:
    return op in get_args(BinaryOp)


def _word(node: Parsed) -> Expr:
    """A stand-in for a word whose enum is not known yet (its type is ``WORD``): every
    use of a ``WORD`` either resolves it (:meth:`_Checker.resolve`) or is an error."""
    return EnumValue("", str(node.value))


def _type_of(variable: Variable) -> _Type:
    if variable.type is VarType.INT:
        return INT
    if variable.type is VarType.BOOL:
        return BOOL
    return _Type("enum", variable.values, variable.name)


class _Checker:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def typed(self, node: Parsed) -> tuple[Expr, _Type]:
        match node.kind:
            case "int" | "bool":
                assert not isinstance(node.value, str)
                return Literal(node.value), BOOL if isinstance(node.value, bool) else INT
            case "text":
                return _word(node), WORD
            case "name":
                return self.name(node)
            case "unary":
                return self.unary(node)
            case "binary":
                return self.binary(node)
            case "in" | "not in":
                return self.membership(node)
            case _:
                assert_never(node.kind)

    def name(self, node: Parsed) -> tuple[Expr, _Type]:
        word = str(node.value)
        variable = self.scope.variables.get(word)
        if variable is not None:
            return Ref(word), _type_of(variable)
        states = self.scope.states
        if word == "state":
            if states is None:
                raise ExpressionError(
                    "'state' is known only in properties; a guard or an effect is about "
                    "variables (the transition's source is its state)",
                    node.at,
                )
            return CurrentState(), STATE
        if states is not None and word in states:
            return StateName(word), STATE
        if states is not None and UPPER_SNAKE.fullmatch(word):
            hint = suggest(word, states) or "; declare it under states"
            raise ExpressionError(f"'{word}' is not a declared state{hint}", node.at)
        return _word(node), WORD

    def unknown(self, node: Parsed, want: _Type) -> ExpressionError:
        """The error for a word where ``want`` is expected."""
        word = str(node.value)
        if node.kind == "text":
            return ExpressionError(f"'{word}' is a quoted value, but {want} is expected", node.at)
        hint = suggest(word, self.scope.variables) or "; declare it under variables"
        return ExpressionError(f"unknown name '{word}'{hint}", node.at)

    def resolve(self, node: Parsed, want: _Type) -> Expr:
        """The word ``node`` as a value of ``want`` (an enum or, in a property, a state)."""
        word = str(node.value)
        if want.name == "enum":
            if word in want.values:
                return EnumValue(want.owner, word)
            if node.kind == "name" and word in self.scope.variables:
                raise ExpressionError(
                    f"'{word}' is a variable, not a value of {want.owner} "
                    f"({', '.join(want.values)})",
                    node.at,
                )
            if node.kind == "name" and word not in self._enum_values():
                hint = suggest(word, self.scope.variables)
                if hint:
                    raise ExpressionError(f"unknown name '{word}'{hint}", node.at)
            values = ", ".join(want.values)
            hint = suggest(word, want.values)
            raise ExpressionError(
                f"'{word}' is not a value of {want.owner} ({values}){hint}", node.at
            )
        if want == STATE and self.scope.states is not None:
            if word in self.scope.states:
                return StateName(word)
            if node.kind == "name" and not UPPER_SNAKE.fullmatch(word):
                hint = suggest(word, [*self.scope.variables, "state"])
                raise ExpressionError(f"unknown name '{word}'{hint}", node.at)
            hint = suggest(word, self.scope.states) or "; declare it under states"
            raise ExpressionError(f"'{word}' is not a declared state{hint}", node.at)
        raise self.unknown(node, want)

    def _enum_values(self) -> set[str]:
        return {value for v in self.scope.variables.values() for value in v.values}

    def operand(self, node: Parsed, want: _Type) -> Expr:
        tree, kind = self.typed(node)
        if kind == WORD:
            raise self.unknown(node, want)
        if kind != want:
            raise ExpressionError(f"expected {want} here, but this is {kind}", node.at)
        return tree

    def unary(self, node: Parsed) -> tuple[Expr, _Type]:
        (inner,) = node.args
        if node.value == "not":
            return Unary("not", self.operand(inner, BOOL)), BOOL
        return Unary("-", self.operand(inner, INT)), INT

    def binary(self, node: Parsed) -> tuple[Expr, _Type]:
        op = str(node.value)
        assert _is_binary(op), op
        left, right = node.args
        if op in ("and", "or"):
            return Binary(op, self.operand(left, BOOL), self.operand(right, BOOL)), BOOL
        if op in ("+", "-"):
            return Binary(op, self.operand(left, INT), self.operand(right, INT)), INT
        assert op in COMPARISONS
        if op not in ("==", "!="):
            return Binary(op, self.operand(left, INT), self.operand(right, INT)), BOOL
        return Binary(op, *self.same(node, left, right)), BOOL

    def same(self, node: Parsed, left: Parsed, right: Parsed) -> tuple[Expr, Expr]:
        """Both sides of ``==`` or ``!=``, of one type."""
        left_tree, left_type = self.typed(left)
        right_tree, right_type = self.typed(right)
        if left_type == WORD and right_type == WORD:
            raise ExpressionError(
                f"cannot tell what '{left.value}' and '{right.value}' are; compare a "
                "variable with a value",
                left.at,
            )
        if left_type == WORD:
            return self.resolve(left, right_type), right_tree
        if right_type == WORD:
            return left_tree, self.resolve(right, left_type)
        if left_type != right_type:
            raise ExpressionError(
                f"'{node.value}' compares {left_type} with {right_type}; compare values of "
                "one type",
                node.at,
            )
        return left_tree, right_tree

    def membership(self, node: Parsed) -> tuple[Expr, _Type]:
        subject, *items = node.args
        tree, kind = self.typed(subject)
        if kind == WORD:
            raise self.unknown(subject, INT)
        if not items:
            raise ExpressionError("the list after 'in' is empty; name at least one value", node.at)
        literals: list[Constant] = []
        for item in items:
            if item.kind in ("name", "text") and kind.name in ("enum", "state"):
                resolved = self.resolve(item, kind)
            else:
                resolved = self.operand(item, kind)
            if not isinstance(resolved, Literal | EnumValue | StateName):
                raise ExpressionError(
                    "the list after 'in' holds values only, not variables; compare the "
                    "variables with == instead",
                    item.at,
                )
            literals.append(resolved)
        return Member(tree, tuple(literals), node.kind == "not in"), BOOL
