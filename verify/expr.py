"""One walk over an expression's syntax tree, for every meaning given to it.

An expression (:data:`statewright.verify.model.Expr`) is read in four ways: evaluated
(:func:`statewright.verify.semantics.evaluate`), written as Python for the explorer
(:mod:`statewright.verify.explore.pycode`), written as Python for a generated runtime
(:mod:`statewright.generator.pyexpr`) and written as Promela
(:mod:`statewright.verify.explore.promela`). Each is an :class:`Algebra`, one method per kind of
node, given what the node's children already became; :func:`fold` is the only code that takes the
tree apart. The node kinds and the operators (:data:`~statewright.verify.model.UnaryOp`,
:data:`~statewright.verify.model.BinaryOp`) are closed sets, so mypy proves :func:`fold` handles
every node and each algebra writes every method; an algebra that matches on operators ends with
:func:`typing.assert_never` and is proven complete too.

Enum values and state names were resolved when the spec was loaded
(:class:`~statewright.verify.model.EnumValue`, :class:`~statewright.verify.model.StateName`): no
algebra guesses which enum a bare word belongs to.

>>> from statewright.verify.model import Binary, Literal, Ref
>>> sorted(fold(Binary("<", Ref("attempts"), Ref("limit")), Refs()))
['attempts', 'limit']
>>> fold(Binary("+", Ref("attempts"), Literal(1)), Refs())
frozenset({'attempts'})
"""

from __future__ import annotations

from typing import Protocol, TypeVar, assert_never

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
    UnaryOp,
)

__all__ = ["Algebra", "Refs", "constant", "fold", "refs"]

T = TypeVar("T")


class Algebra(Protocol[T]):
    """What each kind of node becomes, given what its children became."""

    def literal(self, value: int | bool) -> T:
        """An int or a bool written in the expression."""
        ...

    def enum_value(self, enum: str, member: str) -> T:
        """``member`` of the enum of variable ``enum``."""
        ...

    def state_name(self, name: str) -> T:
        """A state's name (in a property)."""
        ...

    def ref(self, name: str) -> T:
        """The variable ``name``."""
        ...

    def current_state(self) -> T:
        """``state`` (in a property)."""
        ...

    def unary(self, op: UnaryOp, operand: T) -> T:
        """``not operand`` or ``-operand``."""
        ...

    def binary(self, op: BinaryOp, left: T, right: T) -> T:
        """``left op right``."""
        ...

    def member(self, operand: T, items: tuple[T, ...], negated: bool) -> T:
        """``operand in [items]`` (``negated``: ``not in``)."""
        ...


def constant(node: Constant, algebra: Algebra[T]) -> T:
    """What the constant ``node`` becomes under ``algebra``."""
    if isinstance(node, Literal):
        return algebra.literal(node.value)
    if isinstance(node, EnumValue):
        return algebra.enum_value(node.enum, node.member)
    if isinstance(node, StateName):
        return algebra.state_name(node.name)
    assert_never(node)


def fold(tree: Expr, algebra: Algebra[T]) -> T:
    """What ``tree`` becomes under ``algebra``, built from the leaves up.

    The loader keeps trees at most :data:`statewright.verify.load.expressions.MAX_DEPTH` deep, so
    the recursion stays far from Python's limit.
    """
    if isinstance(tree, Literal | EnumValue | StateName):
        return constant(tree, algebra)
    if isinstance(tree, Ref):
        return algebra.ref(tree.name)
    if isinstance(tree, CurrentState):
        return algebra.current_state()
    if isinstance(tree, Unary):
        return algebra.unary(tree.op, fold(tree.operand, algebra))
    if isinstance(tree, Binary):
        return algebra.binary(tree.op, fold(tree.left, algebra), fold(tree.right, algebra))
    if isinstance(tree, Member):
        items = tuple(constant(item, algebra) for item in tree.items)
        return algebra.member(fold(tree.operand, algebra), items, tree.negated)
    assert_never(tree)


class Refs:
    """The variables an expression reads."""

    def literal(self, value: int | bool) -> frozenset[str]:
        return frozenset()

    def enum_value(self, enum: str, member: str) -> frozenset[str]:
        return frozenset()

    def state_name(self, name: str) -> frozenset[str]:
        return frozenset()

    def ref(self, name: str) -> frozenset[str]:
        return frozenset({name})

    def current_state(self) -> frozenset[str]:
        return frozenset()

    def unary(self, op: UnaryOp, operand: frozenset[str]) -> frozenset[str]:
        return operand

    def binary(self, op: BinaryOp, left: frozenset[str], right: frozenset[str]) -> frozenset[str]:
        return left | right

    def member(
        self, operand: frozenset[str], items: tuple[frozenset[str], ...], negated: bool
    ) -> frozenset[str]:
        return operand


def refs(tree: Expr) -> frozenset[str]:
    """The variables ``tree`` reads."""
    return fold(tree, Refs())
