"""Configurations packed into integers: a state's number and every variable in bit fields.

The state takes the lowest bits (states numbered in declaration order); each variable
then takes the bits its range needs, in declaration order: an int stores its value minus
its minimum, a bool 0 or 1, an enum the index of its value. Packed configurations are
plain Python ints, so sets, dicts and arrays of them are compact and fast, and a step is
a few shifts and masks.

>>> from statewright.verify.model import Location, Variable, VarType
>>> at = Location("<doc>", 1, 1)
>>> layout = Layout(("IDLE", "RUNNING", "DONE"),
...                 (Variable("attempts", VarType.INT, 0, at, 0, 3),
...                  Variable("signed_off", VarType.BOOL, False, at)))
>>> packed = layout.pack("RUNNING", (2, True))
>>> packed, layout.unpack(packed)
(25, ('RUNNING', (2, True)))
"""

from __future__ import annotations

from dataclasses import dataclass

from statewright.verify.model import Value, Variable, VarType
from statewright.verify.semantics import Values

__all__ = ["Field", "Layout"]


@dataclass(frozen=True, slots=True)
class Field:
    """Where one variable lives in a packed configuration."""

    variable: Variable
    offset: int
    width: int

    @property
    def mask(self) -> int:
        """The field's bits, in place."""
        return ((1 << self.width) - 1) << self.offset

    def encode(self, value: Value) -> int:
        """The stored number of ``value`` (not shifted)."""
        variable = self.variable
        if variable.type is VarType.ENUM:
            return variable.values.index(str(value))
        return int(value) - variable.minimum

    def decode(self, stored: int) -> Value:
        variable = self.variable
        if variable.type is VarType.ENUM:
            return variable.values[stored]
        if variable.type is VarType.BOOL:
            return bool(stored)
        return stored + variable.minimum


class Layout:
    """The bit layout of a spec's configurations."""

    def __init__(
        self,
        states: tuple[str, ...],
        variables: tuple[Variable, ...],
        hidden: int = 0,
        gates: int = 0,
    ) -> None:
        self.states = states
        self.number = {name: i for i, name in enumerate(states)}
        self.state_bits = max(1, (len(states) - 1).bit_length())
        fields: list[Field] = []
        offset = self.state_bits
        for variable in variables:
            span = variable.maximum - variable.minimum
            width = max(1, span.bit_length())
            fields.append(Field(variable, offset, width))
            offset += width
        self.fields = tuple(fields)
        self.gate_offset = offset
        """Where the bits of an approval gate start, above the variables'
        (:mod:`statewright.verify.explore.gates`)."""
        self.gate_mask = ((1 << gates) - 1) << offset
        """The bits of an approval gate's counts and escalation flag, in place (0: none)."""
        offset += gates
        self.bits = offset
        self.hidden = hidden
        """Bits above the variables' that a step carries unchanged (a rollback counter)."""
        self.width = offset + hidden
        """Every bit of a packed configuration, the hidden ones included."""
        self.by_name = {f.variable.name: f for f in fields}

    @property
    def state_mask(self) -> int:
        return (1 << self.state_bits) - 1

    def pack(self, state: str, values: Values) -> int:
        packed = self.number[state]
        for field, value in zip(self.fields, values, strict=True):
            packed |= field.encode(value) << field.offset
        return packed

    def unpack(self, packed: int) -> tuple[str, Values]:
        state = self.states[packed & self.state_mask]
        values = tuple(
            field.decode((packed >> field.offset) & ((1 << field.width) - 1))
            for field in self.fields
        )
        return state, values

    def state_of(self, packed: int) -> str:
        return self.states[packed & self.state_mask]
