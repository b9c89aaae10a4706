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

from statewright.verify.digraph import Component, search, strong_components
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
    return _remember(graph, ("reachable", initial), lambda: search(successors, [initial]))


def coreachable(graph: nx.DiGraph, targets: Iterable[str]) -> frozenset[str]:
    """The states from which some path reaches one of ``targets`` (included)."""
    return search(_tables(graph).predecessors, list(targets))


def components(graph: nx.DiGraph, among: Iterable[str] | None = None) -> list[Component]:
    """The strongly connected components of the states ``among`` (default: every state)
    and of the states they reach."""
    succ = _tables(graph).successors
    return list(strong_components(succ if among is None else among, succ))


_MEMO: weakref.WeakKeyDictionary[nx.DiGraph, dict[object, Any]] = weakref.WeakKeyDictionary()


def _remember(graph: nx.DiGraph, key: object, compute: Callable[[], _T]) -> _T:
    """``compute()`` once per graph and key; later calls get the same value."""
    memo = _MEMO.setdefault(graph, {})
    if key not in memo:
        memo[key] = compute()
    found: _T = memo[key]
    return found
