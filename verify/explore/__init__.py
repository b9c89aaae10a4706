"""Exhaustive exploration of a spec's configurations: the data rules' and properties' proof.

:func:`explore` searches every reachable configuration (:mod:`statewright.verify.explore.search`,
breadth-first, so every trace is a shortest one), and the :class:`Exploration` it
returns answers what the data rules (:mod:`statewright.verify.rules.data`) and the properties
(:mod:`statewright.verify.explore.properties`) ask, computing each answer once:
which states and transitions are reached, which configurations cannot reach an anchor,
the cycles of ``always`` steps, and the counterexample trace of any path it finds. A
check explores each spec once, in its :class:`~statewright.verify.analysis.Analysis`.

>>> from statewright.verify.load import load_text
>>> spec = load_text('''
... statewright: 1
... machine: counter
... initial: COUNTING
... variables: {n: {type: int, min: 0, max: 2, initial: 0}}
... states: {COUNTING: {}, DONE: {final: true}}
... transitions:
...   - {from: COUNTING, to: COUNTING, trigger: tick, when: n < 2, set: {n: n + 1}}
...   - {from: COUNTING, to: DONE, trigger: stop, when: n == 2}
... ''').spec
>>> found = explore(spec)
>>> len(found), found.complete
(4, True)
>>> [str(step) for step in found.trace(found.path_to(3))]
['tick -> COUNTING (n=1)', 'tick -> COUNTING (n=2)', 'stop -> DONE']
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Sequence
from functools import cached_property

from statewright.verify import progress
from statewright.verify.explore import graph
from statewright.verify.explore.budget import (
    DEFAULT_BUDGET,
    DEFAULT_MAX_CONFIGURATIONS,
    Budget,
    Exceeded,
)
from statewright.verify.explore.rollback import (
    ROLLBACK_TRIGGER,
    replayable,
    rollback_to,
    search_with_rollback,
)
from statewright.verify.explore.search import Search, search
from statewright.verify.findings import TraceStep
from statewright.verify.model import Spec, Transition
from statewright.verify.semantics import Values

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_MAX_CONFIGURATIONS",
    "Budget",
    "Exceeded",
    "Exploration",
    "budget_of",
    "explore",
]


class Exploration:
    """The configurations of one spec, as far as the search went (``complete`` if all)."""

    def __init__(self, spec: Spec, found: Search, budget: Budget = DEFAULT_BUDGET) -> None:
        self.spec = spec
        self.found = found
        self.layout = found.layout
        self.budget = budget
        """The bounds of the check it belongs to (the tour and the properties read theirs)."""

    def __len__(self) -> int:
        return len(self.found)

    @property
    def complete(self) -> bool:
        return self.found.complete

    @property
    def exceeded(self) -> Exceeded | None:
        """The bound the search ran out of, if it did."""
        return self.found.exceeded

    @property
    def transitions(self) -> tuple[Transition, ...]:
        return self.spec.transitions

    # -- configurations and states ----------------------------------------------------

    def unpack(self, i: int) -> tuple[str, Values]:
        """The state and values of configuration ``i``."""
        return self.layout.unpack(self.found.order[i])

    @cached_property
    def state_numbers(self) -> array[int]:
        """The number of each configuration's state."""
        mask = self.layout.state_mask
        return array("H", (c & mask for c in self.found.order))

    @cached_property
    def reached(self) -> frozenset[str]:
        """The states with a reachable configuration."""
        states = self.layout.states
        return frozenset(states[s] for s in set(self.state_numbers))

    @cached_property
    def at_rest(self) -> frozenset[str]:
        """The states with a reachable configuration in which no ``always`` exit is
        enabled (every configuration of a state without one is at rest)."""
        found, numbers = self.found, self.state_numbers
        automatic = {n for n, t in enumerate(self.transitions) if t.automatic}
        with_always = {self.layout.number[t.source] for t in self.transitions if t.automatic}
        rest = {s for s in set(numbers) if s not in with_always}
        for i, s in enumerate(numbers if with_always else ()):
            if (
                s in with_always
                and s not in rest
                and not any(found.via[e] in automatic for e in found.edges(i))
            ):
                rest.add(s)
        return frozenset(self.layout.states[s] for s in rest)

    def holds(self, n: int) -> bool:
        """Whether transition ``n``'s guard holds in a reachable configuration of its
        source (no guard: whether the source is reached)."""
        t = self.transitions[n]
        return bool(self.found.holds[n]) if t.when is not None else t.source in self.reached

    def holds_at_rest(self, n: int) -> bool:
        """Whether it holds where no ``always`` exit is enabled, so that it can fire."""
        t = self.transitions[n]
        if t.when is not None and not t.automatic:
            return bool(self.found.free[n] if t.source in self._with_always else self.holds(n))
        return t.source in self.at_rest

    @cached_property
    def _with_always(self) -> frozenset[str]:
        return frozenset(t.source for t in self.transitions if t.automatic)

    def first_of(self, states: Sequence[str]) -> dict[str, int]:
        """The first (nearest) configuration of each of ``states`` that is reached."""
        wanted = {self.layout.number[name] for name in states}
        found: dict[str, int] = {}
        for i, s in enumerate(self.state_numbers):
            if s in wanted:
                found.setdefault(self.layout.states[s], i)
                if len(found) == len(wanted):
                    break
        return found

    def marked(self, states: Sequence[str]) -> bytearray:
        """One byte per configuration: 1 where its state is one of ``states``."""
        wanted = {self.layout.number[name] for name in states}
        return bytearray(1 if s in wanted else 0 for s in self.state_numbers)

    # -- paths and traces -------------------------------------------------------------

    def path_to(self, i: int) -> list[int]:
        """The edges of a shortest path from the initial configuration to ``i``."""
        return graph.path_to(self.found, i)

    @property
    def rollbacks(self) -> bool:
        """Whether the configurations include rollback steps (the spec has ``rollback:``)."""
        return self.spec.rollback is not None and any(
            t.trigger == ROLLBACK_TRIGGER and t.source == "*"
            for t in self.found.transitions[len(self.transitions) : len(self.transitions) + 1]
        )

    def replayable(self, edges: Sequence[int]) -> list[int]:
        """A path from the initial configuration, rewritten so that each rollback on it
        returns to a configuration visited before
        (:func:`~statewright.verify.explore.rollback.replayable`)."""
        if not self.rollbacks:
            return list(edges)
        return replayable(self.found, edges, self.spec.rollback_keep)

    def lasso_lead(self, trace: Sequence[int], cycle: Sequence[int]) -> list[int]:
        """The lead of a lasso whose every rollback returns to a step shown before it: the
        trace, made replayable; with a rollback in the cycle, the trace and one round of
        the cycle, so that the cycle's rollbacks find their targets in the round before."""
        rollback = len(self.transitions)
        if any(self.found.via[e] == rollback for e in cycle):
            return self.replayable([*trace, *cycle])
        return self.replayable(trace)

    def trace(
        self,
        edges: Sequence[int],
        start: int | None = None,
        after: Sequence[int] = (),
        reroute: bool = True,
    ) -> tuple[TraceStep, ...]:
        """The steps along ``edges``, which leave configuration ``start`` (default: the
        source of the first edge, or the initial configuration). A rollback step names
        the latest earlier step it returns to
        (:func:`~statewright.verify.explore.rollback.rollback_to`), counted from the
        start (0), or from the initial configuration when ``edges``
        continue the trace ``after`` (a lasso's cycle after its trace). A trace from the
        initial configuration is made replayable first (``reroute``:
        :func:`~statewright.verify.explore.rollback.replayable`), so that each rollback
        returns to a configuration the trace visited."""
        found = self.found
        rollback = len(self.transitions)
        if reroute and not after and start is None and not (edges and found.source[edges[0]]):
            edges = self.replayable(edges)
        names = tuple(f.variable.name for f in self.layout.fields)
        if start is None:
            start = graph.source(found, edges[0]) if edges else 0
        state, before = self.unpack(start)
        history = [self.unpack(j) for j in (0, *(found.succ[e] for e in after))]
        if not after:
            history = [(state, before)]
        steps: list[TraceStep] = []
        for e in edges:
            transition = found.transitions[found.via[e]]
            state, now = self.unpack(found.succ[e])
            changed = tuple(
                name for name, old, new in zip(names, before, now, strict=True) if old != new
            )
            variables = tuple(zip(names, now, strict=True))
            back = None
            if found.via[e] == rollback:
                back = rollback_to(history, state, now, names, self.spec.rollback_keep)
            approval, widened = self._gate_step(found.via[e], found.order[found.succ[e]])
            steps.append(
                TraceStep(
                    transition.trigger,
                    state,
                    variables,
                    changed,
                    transition.location,
                    None,
                    back,
                    approval,
                    widened,
                )
            )
            history.append((state, now))
            before = now
        return tuple(steps)

    def _gate_step(
        self, n: int, packed: int
    ) -> tuple[tuple[int, int] | None, tuple[str, ...] | None]:
        """For a step by transition ``n`` into the configuration ``packed``: which
        approval of how many it is, if a quorum counted it; the roles it widened the
        reviewers to, if it is an escalation (:mod:`statewright.verify.explore.gates`)."""
        gates = self.found.gates
        step = None if gates is None else gates.step(n)
        if gates is None or step is None:
            return None, None
        if step.transition is None:
            return None, step.widened
        gate = gates.by_state[step.state]
        bits = (packed & self.layout.gate_mask) >> self.layout.gate_offset
        return (gate.count(bits, step.transition.trigger), step.quorum), None

    def gate(self, i: int) -> tuple[dict[str, int], bool]:
        """The approvals counted on each trigger and whether the gate escalated, in
        configuration ``i`` (empty and False outside a gate that counts or escalates)."""
        gates = self.found.gates
        state = self.layout.state_of(self.found.order[i])
        gate = None if gates is None else gates.by_state.get(state)
        if gate is None:
            return {}, False
        bits = (self.found.order[i] & self.layout.gate_mask) >> self.layout.gate_offset
        return {t: gate.count(bits, t) for t in gate.counters}, gate.escalated(bits)


def budget_of(limit: int | Budget | None) -> Budget:
    """``limit`` as a budget: an int bounds the configurations alone, None is the default."""
    if limit is None:
        return DEFAULT_BUDGET
    if isinstance(limit, Budget):
        return limit
    return dataclasses.replace(DEFAULT_BUDGET, configurations=limit)


def explore(
    spec: Spec, limit: int | Budget = DEFAULT_BUDGET, *, rollback: bool = True
) -> Exploration:
    """The configurations of ``spec`` reachable from its initial one, within ``limit`` (a
    budget, or a number of configurations); progress is reported
    (:mod:`statewright.verify.progress`) while anyone listens. A spec with ``rollback:``
    has its rollback steps explored too (:mod:`statewright.verify.explore.rollback`)
    unless ``rollback`` is False (the tour covers the spec's own transitions)."""
    budget = budget_of(limit)
    searched = search_with_rollback if spec.rollback is not None and rollback else search
    progress.phase("exploring configurations")
    if not progress.listening():
        return Exploration(spec, searched(spec, budget), budget)

    def report(expanded: int, found: int) -> None:
        progress.phase(f"exploring configurations: {found:,} found, {expanded:,} expanded")

    return Exploration(spec, searched(spec, budget, report), budget)
