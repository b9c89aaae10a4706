"""A machine's variables at run time: their declaration, guards and effects.

A generated module with variables declares a frozen ``Variables`` dataclass (its fields
are the spec's variables, each defaulting to its initial value), and compiles every
guard and effect to a small typed function of it; the :class:`Guard` and :class:`Effect`
here (the step kernel's, :mod:`.kernel`) pair that function with the expression as the
spec writes it, for messages and the audit log. :class:`VariablesSpec` checks values
against the declared bounds and turns them to and from the JSON the audit log keeps.
Nothing is evaluated from text at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .kernel import Effect, Guard
from .records import JSONValue

__all__ = ["Effect", "Guard", "OutOfBounds", "VariableSpec", "VariablesSpec"]

V = TypeVar("V")

Value = int | bool | str


class OutOfBounds(ValueError):
    """Values a variable's declaration does not allow."""


@dataclass(frozen=True, slots=True)
class VariableSpec:
    """A variable's declaration: ``kind`` is ``int`` (within ``minimum``..``maximum``),
    ``bool`` or ``enum`` (one of ``values``)."""

    name: str
    kind: str
    minimum: int = 0
    maximum: int = 0
    values: tuple[str, ...] = ()

    def allows(self, value: object) -> bool:
        if self.kind == "bool":
            return type(value) is bool
        if self.kind == "enum":
            return type(value) is str and value in self.values
        return type(value) is int and self.minimum <= value <= self.maximum

    def describe(self) -> str:
        if self.kind == "int":
            return f"a whole number from {self.minimum} to {self.maximum}"
        if self.kind == "enum":
            return f"one of {', '.join(self.values)}"
        return "true or false"


@dataclass(frozen=True, slots=True)
class VariablesSpec(Generic[V]):
    """The variables of a machine: the generated ``Variables`` type and the declarations."""

    type: type[V]
    variables: tuple[VariableSpec, ...]

    def initial(self) -> V:
        """Every variable at its initial value."""
        return self.type()

    def check(self, values: object, where: str) -> V:
        """``values`` if each variable holds a value its declaration allows;
        :class:`OutOfBounds` naming the first that does not."""
        if not isinstance(values, self.type):
            raise OutOfBounds(f"{where}: expected {self.type.__name__}, not {values!r}")
        for variable in self.variables:
            value = getattr(values, variable.name)
            if not variable.allows(value):
                raise OutOfBounds(
                    f"{where}: {variable.name} would be {value!r}, not {variable.describe()}"
                )
        return values

    def as_json(self, values: V) -> dict[str, JSONValue]:
        """Every variable's value, by name."""
        return {v.name: getattr(values, v.name) for v in self.variables}

    def changed(self, before: V, after: V) -> dict[str, JSONValue] | None:
        """The variables whose value differs after a step, with their new value."""
        found: dict[str, JSONValue] = {}
        for variable in self.variables:
            new = getattr(after, variable.name)
            if getattr(before, variable.name) != new:
                found[variable.name] = new
        return found or None

    def from_json(self, data: object, where: str) -> V:
        """The values a record's JSON gives every variable; :class:`OutOfBounds` if it
        does not name each exactly once with an allowed value."""
        if not isinstance(data, Mapping) or set(data) != {v.name for v in self.variables}:
            names = ", ".join(v.name for v in self.variables)
            raise OutOfBounds(f"{where}: the variables are {names}, not {data!r}")
        return self.check(self._make(data), where)

    def merged(self, values: V, data: object, where: str) -> V:
        """``values`` with the changes a record's JSON names."""
        if not isinstance(data, Mapping) or not set(data) <= {v.name for v in self.variables}:
            raise OutOfBounds(f"{where}: unknown variables in {data!r}")
        return self.check(self._make({**self.as_json(values), **data}), where)

    def _make(self, values: Mapping[str, Any]) -> V:
        make: Callable[..., V] = self.type
        return make(**values)
