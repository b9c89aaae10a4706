"""What a generated module declares of its machine, and its compilation to the step kernel.

A generated module declares its machine's ``State``, ``Trigger`` and ``Reason`` enums and
a :class:`MachineSpec` of its :class:`Transition` s; :func:`compile_spec` turns that, once
per machine class, into the :class:`~.kernel.Node` and :class:`~.kernel.Edge` tables the
step kernel (:mod:`.kernel`, the rules the checker explores) runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum
from typing import Any, Generic, TypeVar

from . import kernel
from .data import Effect, Guard, VariablesSpec
from .records import JSONValue
from .versions import MigrationSpec

__all__ = ["Compiled", "MachineSpec", "Transition", "compile_spec"]

S = TypeVar("S", bound=StrEnum)
T = TypeVar("T", bound=StrEnum)
R = TypeVar("R", bound=StrEnum)


@dataclass(frozen=True, slots=True)
class Transition(Generic[S, T, R]):
    """One transition as the spec declares it; ``when`` and ``effect`` are its guard and
    its ``set`` (on the machine's ``Variables``), if it has them."""

    source: S
    trigger: T
    target: S
    human: bool = False
    after: timedelta | None = None
    reason: R | None = None
    when: Guard[Any] | None = None
    effect: Effect[Any] | None = None


@dataclass(frozen=True, slots=True)
class MachineSpec(Generic[S, T, R]):
    """What a generated module declares of its machine; ``Machine`` runs it.

    ``rollback`` holds the roles that may roll an instance back; None when the spec
    allows no rollback. ``rollback_keep`` names the variables a rollback carries over
    from the current values, and ``rollback_max`` bounds the rollbacks of a run (None:
    unbounded). ``policies`` holds the approval states' policies (quorum, separation,
    escalation, binding), by state. ``data`` declares the variables; None when the spec
    has none. ``sha256`` is the hash of the spec file the module was generated from,
    recorded with every instance it creates (None: versions are not recorded);
    ``migrations`` say how stored runs of earlier versions move to this one
    (:mod:`.versions`).
    ``states``, ``triggers`` and ``reasons``, the machine's enums, are not declared: the
    class the spec is set on (``Machine[State, Trigger, Reason]``) names them already.
    """

    machine: str
    initial: S
    transitions: tuple[Transition[S, T, R], ...]
    approval: frozenset[S] = frozenset()
    failed: frozenset[S] = frozenset()
    reviewers: Mapping[S, frozenset[str]] = field(default_factory=dict)
    recovery: Mapping[R, tuple[str, ...]] = field(default_factory=dict)
    rollback: frozenset[str] | None = None
    rollback_keep: tuple[str, ...] = ()
    rollback_max: int | None = None
    data: VariablesSpec[Any] | None = None
    policies: Mapping[S, kernel.Policy] = field(default_factory=dict)
    sha256: str | None = None
    migrations: tuple[MigrationSpec, ...] = ()
    states: type[S] = field(init=False, repr=False, compare=False)
    triggers: type[T] = field(init=False, repr=False, compare=False)
    reasons: type[R] = field(init=False, repr=False, compare=False)

    def _bind(self, states: type[S], triggers: type[T], reasons: type[R]) -> None:
        """Set the enums, once, from the machine class (``Machine.__init_subclass__``)."""
        for name, enum in (("states", states), ("triggers", triggers), ("reasons", reasons)):
            object.__setattr__(self, name, enum)


Node = kernel.Node[Transition[Any, Any, Any]]
"""A state as the engine runs it."""

Edge = kernel.Edge[Transition[Any, Any, Any]]
"""A transition as the engine runs it."""


@dataclass(frozen=True, slots=True)
class Compiled:
    """A :class:`MachineSpec` compiled for running, once per machine class."""

    spec: MachineSpec[Any, Any, Any]
    nodes: Mapping[Any, Node]
    initial: Node
    start: Any = None
    """Every variable at its initial value (a frozen value, so shared), or None."""
    start_json: Mapping[str, JSONValue] | None = None
    """``start`` as the created record holds it, or None."""


def compile_spec(spec: MachineSpec[Any, Any, Any]) -> Compiled:
    """``spec``'s states and transitions as the kernel's tables (its enums bound)."""
    nodes = {
        state: Node(
            state,
            frozenset(spec.reviewers.get(state, ())),
            approval=state in spec.approval,
            failed=state in spec.failed,
            policy=spec.policies.get(state),
        )
        for state in spec.states
    }
    edges = [
        Edge(
            t,
            nodes[t.source],
            t.trigger,
            nodes[t.target],
            human=t.human,
            after=t.after,
            reason=t.reason,
            when=t.when,
            effect=t.effect,
        )
        for t in spec.transitions
    ]
    kernel.link(edges)
    data = spec.data
    start = None if data is None else data.initial()
    start_json = None if data is None else data.as_json(start)
    return Compiled(spec, nodes, nodes[spec.initial], start, start_json)
