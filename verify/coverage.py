"""The transition tour: trigger sequences that together fire every reachable transition.

Each path is a sequence of triggers sent to a fresh machine in its initial state. The
machine runs by the one semantics of a spec (:mod:`statewright.verify.semantics`): a trigger takes
the state's first declared exit with that trigger, ``always`` chains follow at once (so
they never appear in a path, and a chain that cycles ends the path), and a timed exit
appears as its trigger.

:func:`transition_tour` builds the paths, then *replays* every one of them from the
initial state and counts the distinct transitions that actually fire: ``covered`` is
that count, never an assumption of the construction. ``total`` counts the transitions
whose source is reachable in the graph, so a transition the semantics above never fires
shows as ``covered < total``.

The construction: a breadth-first search from the initial state gives every state a
shortest trigger prefix; then, visiting states in that order, each state that still has
an unfired exit starts a path with its prefix and extends it greedily, always taking the
current state's first unfired exit. When the walk reaches a state with none left, a
small search (at most :data:`DETOUR_STATES` states) looks for a nearby state that has
one, and continues there when that is no longer than the prefix a new path would need.
Apart from those bounded searches every step is amortised constant time. The steps of
the paths are counted against a bound (``--max-tour-steps``, default
:data:`~statewright.verify.explore.budget.DEFAULT_MAX_TOUR_STEPS`): past it there is no tour, and
the coverage names the bound (:attr:`Coverage.exceeded`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import pairwise

import networkx as nx

from statewright.verify.explore.budget import DEFAULT_MAX_TOUR_STEPS, Exceeded, Meter, OverBudget
from statewright.verify.graph import exits_by_state, reachable
from statewright.verify.model import Spec
from statewright.verify.semantics import Semantics

__all__ = ["DETOUR_STATES", "Coverage", "replay", "transition_tour"]

Path = tuple[str, ...]

DETOUR_STATES = 32
"""How many states a stuck walk may look at to find a nearby unfired exit."""

_NOWHERE = -1
"""The landing of a state whose ``always`` chain never settles."""


@dataclass(frozen=True, slots=True)
class Coverage:
    """Covering trigger sequences and the proof of what they cover.

    ``paths`` are trigger sequences, each from a fresh initial state; ``covered`` is the
    number of distinct transitions the paths fire when replayed; ``total`` the number of
    transitions whose source is reachable; ``exceeded``, the bound the tour ran out of
    (then there are no paths).
    """

    paths: tuple[Path, ...]
    covered: int
    total: int
    exceeded: Exceeded | None = None

    @property
    def complete(self) -> bool:
        return self.covered == self.total

    @property
    def length(self) -> int:
        """The number of triggers over all paths."""
        return sum(len(p) for p in self.paths)


def transition_tour(
    spec: Spec, graph: nx.DiGraph, max_steps: int = DEFAULT_MAX_TOUR_STEPS
) -> Coverage:
    """A small set of trigger sequences from ``initial`` covering every reachable transition,
    of at most ``max_steps`` steps in all.

    See the module documentation for the semantics and the construction; ``covered``
    comes from replaying the paths.
    """
    leaving = exits_by_state(graph)
    machine = _Machine(Semantics.of(spec))
    total = sum(len(leaving[name]) for name in reachable(graph, spec.initial))
    try:
        paths = _Tour(machine, spec.initial).paths(Meter("tour steps", max_steps))
    except OverBudget as over:
        return Coverage((), 0, total, over.exceeded)
    return Coverage(tuple(paths), machine.replay(spec.initial, paths), total)


def replay(spec: Spec, graph: nx.DiGraph, paths: Iterable[Path]) -> int:
    """How many distinct transitions ``paths`` fire, each run from ``spec.initial``.

    A path stops at the first trigger the current state does not accept.
    """
    del graph  # the semantics needs only the spec
    return _Machine(Semantics.of(spec)).replay(spec.initial, paths)


class _Machine:
    """The semantics' steps as flat tables over numbered states and transitions, for speed.

    States are numbered in declaration order. The transitions a trigger can fire
    (:attr:`Semantics.steps` of a state without an ``always`` exit) are numbered so that
    each state's are contiguous, from ``first[state]`` to ``first[state + 1]``. A state's
    ``always`` exit is known by the state's own number.
    """

    def __init__(self, semantics: Semantics) -> None:
        number = {name: i for i, name in enumerate(semantics.steps)}
        self.number = number
        self.first: list[int] = []
        self.trigger: list[str] = []
        self.source: list[int] = []
        self.target: list[int] = []
        self.on: list[dict[str, int]] = []
        self.then: list[int] = []  # the target of each state's always exit, or _NOWHERE
        for here, (name, steps) in enumerate(semantics.steps.items()):
            self.first.append(len(self.trigger))
            automatic = semantics.automatic.get(name)
            if automatic is not None:
                self.then.append(number[automatic.target])
                self.on.append({})
                continue
            self.then.append(_NOWHERE)
            base = len(self.trigger)
            self.on.append({t.trigger: base + i for i, t in enumerate(steps)})
            self.trigger += [t.trigger for t in steps]
            self.source += [here] * len(steps)
            self.target += [number[t.target] for t in steps]
        self.first.append(len(self.trigger))
        self.on.append({})  # on[_NOWHERE]: a machine stuck in an always loop accepts nothing
        self.lands = self._landings()

    def _landings(self) -> list[int]:
        """Where entering each state comes to rest: itself, the end of its ``always``
        chain, or ``_NOWHERE`` when the chain cycles."""
        unknown = -2
        then = self.then
        lands = [i if after == _NOWHERE else unknown for i, after in enumerate(then)]
        for start, known in enumerate(lands):
            if known != unknown:
                continue
            chain: list[int] = []
            on_chain: set[int] = set()
            here = start
            while lands[here] == unknown and here not in on_chain:
                chain.append(here)
                on_chain.add(here)
                here = then[here]
            rest = _NOWHERE if here in on_chain else lands[here]
            for state in chain:
                lands[state] = rest
        return lands

    def enter(self, state: int, automatic: bytearray) -> int:
        """Enter ``state``: mark the ``always`` exits taken, return where it rests.

        Marking stops at an exit already marked: everything after it was marked with it.
        """
        then = self.then
        while then[state] != _NOWHERE and not automatic[state]:
            automatic[state] = 1
            state = then[state]
        return self.lands[state]

    def replay(self, initial: str, paths: Iterable[Path]) -> int:
        """The number of distinct transitions ``paths`` fire, each from ``initial``."""
        fired = bytearray(len(self.trigger))
        automatic = bytearray(len(self.then))
        on, target, then = self.on, self.target, self.then
        start = self.number[initial]
        for path in paths:
            here = self.enter(start, automatic)
            try:
                for trigger in path:
                    step = on[here][trigger]
                    fired[step] = 1
                    here = target[step]
                    if then[here] != _NOWHERE:
                        here = self.enter(here, automatic)
            except KeyError:
                continue  # a trigger the state does not accept ends the path
        return fired.count(1) + automatic.count(1)


class _Tour:
    """The greedy construction of the paths (see the module documentation).

    ``left[state]`` counts the state's exits not fired yet; ``cursor[state]`` is where
    the search for the next one resumes, so each exit is looked at a bounded number of
    times.
    """

    def __init__(self, machine: _Machine, initial: str) -> None:
        first = machine.first
        self.machine = machine
        self.arrive = [machine.lands[there] for there in machine.target]
        self.fired = bytearray(len(machine.trigger))
        self.automatic = bytearray(len(machine.then))
        self.left = [end - begin for begin, end in pairwise(first)]
        self.cursor = first[:-1]
        self.start = machine.enter(machine.number[initial], self.automatic)
        self.via: list[int] = [_NOWHERE] * len(machine.then)
        self.depth: list[int] = [_NOWHERE] * len(machine.then)
        self.order: list[int] = []
        if self.start != _NOWHERE:
            self._search()

    def _search(self) -> None:
        """Breadth-first: the last step of a shortest trigger prefix to every state."""
        first, arrive, via, depth = self.machine.first, self.arrive, self.via, self.depth
        depth[self.start] = 0
        self.order.append(self.start)
        queue = deque(self.order)
        while queue:
            here = queue.popleft()
            for step in range(first[here], first[here + 1]):
                there = arrive[step]
                if there != _NOWHERE and depth[there] == _NOWHERE:
                    via[there] = step
                    depth[there] = depth[here] + 1
                    self.order.append(there)
                    queue.append(there)

    def paths(self, meter: Meter) -> list[Path]:
        trigger, left = self.machine.trigger, self.left
        paths: list[Path] = []
        for state in self.order:
            while left[state]:
                steps = self._walk(state)
                meter.spend(len(steps))
                paths.append(tuple(map(trigger.__getitem__, steps)))
        if not paths and any(self.automatic):
            paths.append(())  # the initial state's always chain fires on an empty path
        return paths

    def _walk(self, state: int) -> list[int]:
        """One path: the prefix to ``state``, then unfired exits for as long as there are.

        The hot loop of the tour, so firing a step is written out in place: mark it,
        count it off its state's ``left``, rest where its target leads. A detour only
        takes steps fired before, so it just moves.
        """
        machine, fired, left, cursor = self.machine, self.fired, self.left, self.cursor
        source, target, then, arrive = machine.source, machine.target, machine.then, self.arrive
        steps = _unwind(self.via, source, state)
        for step in steps:
            if not fired[step]:
                fired[step] = 1
                left[source[step]] -= 1
                if then[target[step]] >= 0:
                    machine.enter(target[step], self.automatic)
        here, record = state, steps.append
        while True:
            if left[here]:
                step = cursor[here]
                while fired[step]:
                    step += 1
                cursor[here] = step + 1
                fired[step] = 1
                left[here] -= 1
                record(step)
                here = target[step]
                if then[here] >= 0:
                    here = machine.enter(here, self.automatic)
                    if here < 0:
                        return steps
            else:
                route = self._detour(here)
                if not route:
                    return steps
                steps += route
                here = arrive[route[-1]]

    def _detour(self, state: int) -> list[int]:
        """A short run of fired steps to a state with an unfired exit, or nothing.

        Looks at no more than :data:`DETOUR_STATES` states, and takes the detour only
        when it is no longer than the prefix a fresh path to that state would need.
        """
        first, arrive, left, depth = self.machine.first, self.arrive, self.left, self.depth
        for step in range(first[state], first[state + 1]):  # most detours are one step
            there = arrive[step]
            if there != _NOWHERE and left[there]:
                return [step] if depth[there] >= 1 else []
        back = {state: _NOWHERE}
        queue = deque([state])
        while queue and len(back) <= DETOUR_STATES:
            here = queue.popleft()
            for step in range(first[here], first[here + 1]):
                there = arrive[step]
                if there == _NOWHERE or there in back:
                    continue
                back[there] = step
                if left[there]:
                    route = _unwind(back, self.machine.source, there)
                    return route if len(route) <= depth[there] else []
                queue.append(there)
        return []


def _unwind(via: Mapping[int, int] | list[int], source: list[int], state: int) -> list[int]:
    """The steps that lead to ``state`` following ``via`` (the last step into each state)."""
    steps: list[int] = []
    step = via[state]
    while step != _NOWHERE:
        steps.append(step)
        step = via[source[step]]
    steps.reverse()
    return steps
