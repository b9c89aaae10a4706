"""The transition graph: the one place a :class:`~statewright.verify.model.Spec` becomes a graph.

:func:`build_graph` turns a spec into a :class:`networkx.DiGraph` whose nodes are the
state names (attribute ``state``: the :class:`~statewright.verify.model.State`), with an edge from
one state to another wherever a transition leads there (:func:`exits` and :func:`entries`
give the transitions, in declaration order). Every analysis is a free function that takes
that graph first.

The graph must not be changed once built: the tables that several analyses share (each
state's exits and entries in declaration order, its successor and predecessor names)
are made once, in the same pass that builds the graph through networkx's public API, and
remembered for as long as the graph lives; searches over a million transitions walk
those plain tables rather than networkx's views, which cost a ``Mapping`` protocol call
per step.

>>> from statewright.verify.model import Location, Spec, State, Transition
>>> at = Location("<doc>", 1, 1)
>>> spec = Spec(
...     "<doc>", "demo", "A",
...     (State("A", at), State("B", at), State("C", at)),
...     (Transition("A", "B", "go", at, 0), Transition("B", "A", "back", at, 1)),
... )
>>> graph = build_graph(spec)
>>> sorted(reachable(graph, "A"))
['A', 'B']
>>> [t.trigger for t in exits(graph, "B")]
['back']
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import networkx as nx

from statewright.verify.model import Spec, State, Transition

__all__ = [
    "Component",
    "build_graph",
    "components",
    "coreachable",
    "entries",
    "exits",
    "exits_by_state",
    "reachable",
    "state",
    "strong_components",
    "transitions",
]

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class _Tables:
    """What the analyses read, per state name, built with the graph."""

    exits: Mapping[str, tuple[Transition, ...]]
    entries: Mapping[str, tuple[Transition, ...]]
    successors: Mapping[str, Collection[str]]
    predecessors: Mapping[str, Collection[str]]


def build_graph(spec: Spec) -> nx.DiGraph:
    """The spec's transition graph: states in declaration order, an edge per pair of states
    a transition joins."""
    leaving: dict[str, list[Transition]] = {s.name: [] for s in spec.states}
    entering: dict[str, list[Transition]] = {s.name: [] for s in spec.states}
    succ: dict[str, dict[str, None]] = {s.name: {} for s in spec.states}
    pred: dict[str, dict[str, None]] = {s.name: {} for s in spec.states}
    for t in spec.transitions:
        source, target = t.source, t.target
        leaving[source].append(t)
        entering[target].append(t)
        succ[source][target] = None
        pred[target][source] = None
    graph = nx.DiGraph(machine=spec.machine, initial=spec.initial)
    graph.add_nodes_from((s.name, {"state": s}) for s in spec.states)
    graph.add_edges_from((source, target) for source, targets in succ.items() for target in targets)
    tables = _Tables(
        {name: tuple(found) for name, found in leaving.items()},
        {name: tuple(found) for name, found in entering.items()},
        succ,
        pred,
    )
    _remember(graph, "tables", lambda: tables)
    return graph


def _tables(graph: nx.DiGraph) -> _Tables:
    found: _Tables = _MEMO[graph]["tables"]
    return found


def state(graph: nx.DiGraph, name: str) -> State:
    """The :class:`State` called ``name``."""
    found: State = graph.nodes[name]["state"]
    return found


def exits(graph: nx.DiGraph, name: str) -> tuple[Transition, ...]:
    """The transitions leaving ``name``, in declaration order."""
    return exits_by_state(graph)[name]


def entries(graph: nx.DiGraph, name: str) -> tuple[Transition, ...]:
    """The transitions entering ``name``, in declaration order."""
    return _tables(graph).entries[name]


def transitions(graph: nx.DiGraph) -> Iterable[Transition]:
    """Every transition, grouped by source state (states in declaration order)."""
    for found in exits_by_state(graph).values():
        yield from found


def exits_by_state(graph: nx.DiGraph) -> Mapping[str, tuple[Transition, ...]]:
    """Every state's exits in declaration order, computed once per graph."""
    return _tables(graph).exits


def reachable(graph: nx.DiGraph, initial: str) -> frozenset[str]:
    """The states some path from ``initial`` reaches, ``initial`` included."""
    successors = _tables(graph).successors
    return _remember(graph, ("reachable", initial), lambda: _search(successors, [initial]))


def coreachable(graph: nx.DiGraph, targets: Iterable[str]) -> frozenset[str]:
    """The states from which some path reaches one of ``targets`` (included)."""
    return _search(_tables(graph).predecessors, list(targets))


def _search(adjacency: Mapping[str, Collection[str]], frontier: list[str]) -> frozenset[str]:
    seen = set(frontier)
    while frontier:
        here = frontier.pop()
        for there in adjacency[here]:
            if there not in seen:
                seen.add(there)
                frontier.append(there)
    return frozenset(seen)


@dataclass(frozen=True, slots=True)
class Component:
    """A strongly connected component.

    ``states`` are in discovery order; ``inner`` says whether at least one transition
    runs inside it (more than one state, or a self-loop); ``closed`` says whether no
    transition leaves it.
    """

    states: tuple[str, ...]
    inner: bool
    closed: bool


def components(graph: nx.DiGraph, among: Iterable[str] | None = None) -> list[Component]:
    """The strongly connected components of the states ``among`` (default: every state)
    and of the states they reach."""
    succ = _tables(graph).successors
    return list(strong_components(succ if among is None else among, succ))


def strong_components(
    nodes: Iterable[str], successors: Mapping[str, Collection[str]]
) -> Iterable[Component]:
    """Tarjan's strongly connected components of ``successors``, iteratively.

    ``successors`` maps every node to the nodes it has an edge to (``graph.succ`` or a
    plain dict for a subgraph); nodes missing from it have no edges. Components come out
    in reverse topological order, each knowing whether an edge leaves it, in one pass.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    leaving: set[str] = set()  # nodes with an edge out of their own component
    empty: Collection[str] = ()
    for root in nodes:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work = [(root, iter(successors.get(root, empty)))]
        while work:
            here, pending = work[-1]
            for there in pending:
                if there not in index:
                    index[there] = low[there] = len(index)
                    stack.append(there)
                    on_stack.add(there)
                    work.append((there, iter(successors.get(there, empty))))
                    break
                if there in on_stack:
                    low[here] = min(low[here], index[there])
                else:
                    leaving.add(here)
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    if low[here] == index[here]:
                        leaving.add(parent)
                    else:
                        low[parent] = min(low[parent], low[here])
                if low[here] == index[here]:
                    yield _pop_component(here, stack, on_stack, leaving, successors)


def _pop_component(
    root: str,
    stack: list[str],
    on_stack: set[str],
    leaving: set[str],
    successors: Mapping[str, Collection[str]],
) -> Component:
    at = len(stack) - 1
    while stack[at] != root:
        at -= 1
    members = tuple(stack[at:])
    del stack[at:]
    on_stack.difference_update(members)
    inner = len(members) > 1 or root in successors.get(root, ())
    return Component(members, inner, closed=leaving.isdisjoint(members))


_MEMO: weakref.WeakKeyDictionary[nx.DiGraph, dict[object, Any]] = weakref.WeakKeyDictionary()


def _remember(graph: nx.DiGraph, key: object, compute: Callable[[], _T]) -> _T:
    """``compute()`` once per graph and key; later calls get the same value."""
    memo = _MEMO.setdefault(graph, {})
    if key not in memo:
        memo[key] = compute()
    found: _T = memo[key]
    return found
