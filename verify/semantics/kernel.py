"""The step kernel: what one step of a machine does, written once for the checker and the
generated runtime.

Which transition a trigger takes in a configuration, what its effect gives, what is
refused and why, when a state's timed exit is due, and which ``always`` steps follow
at once. The rules (the module documentation of :mod:`statewright.verify.semantics.machine`
states them for readers of a spec):

- a state's *named* exits are its manual exits and its leading timed exit (the shortest
  ``after``, the first declared among equals); a trigger fired by name takes the first
  declared of them on that trigger whose guard holds (:func:`choose`);
- a trigger the state does not name is *undeclared*; one whose guards all fail is
  *blocked*; a human exit needs an actor holding one of the state's reviewer roles; a
  timed exit is taken once the state has been held for its ``after`` (:func:`decide`
  checks in that order);
- a step's values are its effect applied to the values before it (:func:`effect`);
- entering a state in which an ``always`` exit's guard holds takes the first declared such
  exit at once, and so on down the chain; a chain that comes back to a configuration it
  passed never settles (:func:`settle`, :class:`AlwaysCycle`).

Both sides compile their own declaration of a machine into the :class:`Node` and
:class:`Edge` tables here and :func:`link` wires them by the rules: the checker
(:class:`statewright.verify.semantics.Semantics`, from a spec) with guards and effects that
interpret the spec's expressions, the generated runtime (``Machine``, from the
``MachineSpec`` a generated module declares) with guards and effects compiled to Python.
Guards and effects are opaque here: a :class:`Guard` is tested on the values, an
:class:`Effect` applied to them, whatever the values are.

Where it lives, and why. The meaning of a spec belongs to the checker, and ``verify`` never
imports ``generator``, so the file is ``verify/semantics/kernel.py``. The runtime support
package copied verbatim into every generated ``_statewright/`` must carry it too, and import
it relatively like the rest of the support, so ``generator/runtime/kernel.py`` is a
symbolic link to this file: one file on disk, imported as
``statewright.verify.semantics.kernel`` by the checker and as
``statewright.generator.runtime.kernel`` (``_statewright.kernel`` once generated) by the
engine. Hence this module imports the standard library alone and nothing of statewright's
(``tests/test_layering.py`` holds both rules and that the link is one).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Final, Generic, TypeVar

__all__ = [
    "AUTOMATIC",
    "AlwaysCycle",
    "Edge",
    "Effect",
    "Guard",
    "Node",
    "Outcome",
    "choose",
    "decide",
    "effect",
    "holding",
    "link",
    "settle",
]

AUTOMATIC: Final = "always"
"""The trigger of an automatic transition, taken as soon as its source is entered."""

V = TypeVar("V")
X = TypeVar("X")


class Outcome(Enum):
    """What the spec says must happen to a trigger fired in the current configuration."""

    ACCEPTED = "accepted"
    UNDECLARED = "undeclared"
    """The state names no exit on the trigger, or only a timed one not yet due."""
    BLOCKED = "blocked"
    """Declared in the state, but the guard of every transition on the trigger fails."""
    UNAUTHORISED = "unauthorised"


class AlwaysCycle(ValueError):
    """A chain of ``always`` transitions came back on itself: the machine never settles."""


@dataclass(frozen=True, slots=True)
class Guard(Generic[V]):
    """A transition's ``when``: the expression as written, and its test of the values."""

    text: str
    test: Callable[[V], bool]


@dataclass(frozen=True, slots=True)
class Effect(Generic[V]):
    """A transition's ``set``: the assignments as written, and the update (all computed
    from the values before the step)."""

    text: str
    apply: Callable[[V], V]


@dataclass(slots=True, eq=False)
class Node(Generic[X]):
    """A state as a machine runs it: what the spec declares of it, and its exits.

    ``exits`` maps each trigger fired by name to the first declared of its named exits,
    the others following by :attr:`Edge.orelse`; ``automatic`` is the first declared
    ``always`` exit (likewise); ``timed`` the leading timed exit, and ``timers`` every
    timed exit, the leading one first. :func:`link` fills them.
    """

    state: Any
    reviewers: frozenset[str] = frozenset()
    approval: bool = False
    failed: bool = False
    exits: dict[Any, Edge[X]] = field(default_factory=dict)
    automatic: Edge[X] | None = None
    timed: Edge[X] | None = None
    timers: tuple[Edge[X], ...] = ()

    def deadline(self, entered: datetime) -> datetime | None:
        """When the state, entered at ``entered``, is due; None if it has no timed exit."""
        timed = self.timed
        return None if timed is None or timed.after is None else entered + timed.after


@dataclass(slots=True, eq=False)
class Edge(Generic[X]):
    """A transition between nodes; ``declared`` is the transition as its side declares it.

    ``orelse`` is the next transition of the same source on the same trigger: guarded
    transitions share one, and the first whose guard holds is taken. ``bare`` marks an
    exit taken by name whose step only moves the state: no guard, alternative, timer,
    effect or actor, neither end a failed state (which keeps a reason), and nothing
    ``always`` to follow (:func:`link` sets it; a runtime may take such a step on a short
    path).
    """

    declared: X
    source: Node[X]
    trigger: Any
    target: Node[X]
    human: bool = False
    after: timedelta | None = None
    reason: Any = None
    when: Guard[Any] | None = None
    effect: Effect[Any] | None = None
    orelse: Edge[X] | None = None
    bare: bool = False

    def alternatives(self) -> Iterator[Edge[X]]:
        """This edge and every one after it by ``orelse``, in declaration order."""
        edge: Edge[X] | None = self
        while edge is not None:
            yield edge
            edge = edge.orelse


def link(edges: list[Edge[X]]) -> None:
    """Wire ``edges`` (in declaration order, their nodes' tables empty) into their source
    nodes by the rules of the module documentation."""
    timers: dict[int, list[Edge[X]]] = {}
    for edge in edges:  # the shortest timer of a state leads (the first among equals)
        source = edge.source
        if edge.trigger == AUTOMATIC:
            continue
        if edge.after is not None:
            timers.setdefault(id(source), []).append(edge)
            if source.timed is None or edge.after < _delay(source.timed):
                source.timed = edge
    last: dict[tuple[int, Hashable], Edge[X]] = {}  # the last edge of each source and trigger
    for edge in edges:
        source = edge.source
        if edge.trigger == AUTOMATIC or edge.after is None or edge is source.timed:
            key = (id(source), edge.trigger)
            if key in last:
                last[key].orelse = edge
            elif edge.trigger == AUTOMATIC:
                source.automatic = edge
            else:
                source.exits[edge.trigger] = edge
            last[key] = edge
    for edge in edges:
        found = timers.pop(id(edge.source), None)
        if found is not None:
            edge.source.timers = tuple(sorted(found, key=_delay))
    for edge in edges:
        edge.bare = edge.source.exits.get(edge.trigger) is edge and not (
            edge.human
            or edge.after is not None
            or edge.when is not None
            or edge.effect is not None
            or edge.orelse is not None
            or edge.source.failed
            or edge.target.failed
            or edge.target.automatic is not None
        )


def _delay(edge: Edge[Any]) -> timedelta:
    return edge.after or timedelta()


def choose(first: Edge[X] | None, values: Any) -> Edge[X] | None:
    """The first of ``first`` and its alternatives whose guard holds with ``values``: the
    transition taken (no guard always holds)."""
    edge = first
    while edge is not None and edge.when is not None and not edge.when.test(values):
        edge = edge.orelse
    return edge


def holding(node: Node[X], values: Any) -> list[Edge[X]]:
    """Every exit ``node`` at rest with ``values`` can take by name: for each trigger, in
    declaration order, the one it takes (a timed one whether due or not)."""
    found = (choose(first, values) for first in node.exits.values())
    return [edge for edge in found if edge is not None]


def due(edge: Edge[Any], entered: datetime, at: datetime) -> bool:
    """Whether ``edge`` may be taken at ``at`` from a state entered at ``entered``: an
    untimed one always, a timed one once its ``after`` has passed."""
    return edge.after is None or at >= entered + edge.after


def authorised(edge: Edge[Any], roles: frozenset[str] | None) -> bool:
    """Whether an actor holding ``roles`` (None: no actor) may take ``edge``."""
    return not edge.human or (roles is not None and not roles.isdisjoint(edge.source.reviewers))


def decide(
    node: Node[X],
    trigger: Hashable,
    values: Any,
    roles: frozenset[str] | None,
    entered: datetime,
    at: datetime,
) -> tuple[Outcome, Edge[X] | None]:
    """What firing ``trigger`` at ``at`` in ``node`` (entered at ``entered``) with
    ``values``, by an actor holding ``roles`` (None: no actor), must do, and the edge it
    concerns: the one taken when ACCEPTED, the one refused when UNAUTHORISED or a timed
    one not yet due (UNDECLARED), else None.

    The checks run in the order of the module documentation: declared, guards,
    authorised, due.
    """
    first = node.exits.get(trigger)
    if first is None:
        return Outcome.UNDECLARED, None
    edge = choose(first, values)
    if edge is None:
        return Outcome.BLOCKED, None
    if not authorised(edge, roles):
        return Outcome.UNAUTHORISED, edge
    if not due(edge, entered, at):
        return Outcome.UNDECLARED, edge
    return Outcome.ACCEPTED, edge


def effect(edge: Edge[Any], values: V) -> V:
    """The values after ``edge``'s effect, computed from ``values``; the same without one."""
    return values if edge.effect is None else edge.effect.apply(values)


def settle(
    node: Node[X], values: V, apply: Callable[[Edge[X], V], V] = effect
) -> list[tuple[Edge[X], V]]:
    """The ``always`` steps entering ``node`` with ``values`` takes at once, in order, each
    with the values after it (``apply`` gives them: :func:`effect`, or a caller's own that
    also checks them and may refuse the step by raising).

    Raises :class:`AlwaysCycle` when the chain comes back to a configuration it passed.
    """
    step = choose(node.automatic, values)
    if step is None:
        return []
    taken: list[tuple[Edge[X], V]] = []
    seen = {(id(node), values)}
    while step is not None:
        values = apply(step, values)
        taken.append((step, values))
        here = step.target
        if (id(here), values) in seen:
            raise AlwaysCycle(f"'always' transitions from {node.state} never stop")
        seen.add((id(here), values))
        step = choose(here.automatic, values)
    return taken
