"""The transition graph: the one place a :class:`~verify.model.Spec` becomes a graph.

:func:`build_graph` turns a spec into a :class:`networkx.MultiDiGraph` whose nodes are
the state names (attribute ``state``: the :class:`~verify.model.State`) and whose edges
are the expanded transitions, keyed by their position in ``spec.transitions``
(attribute ``transition``: the :class:`~verify.model.Transition`). Every analysis is a
free function that takes that graph first.

The graph must not be changed once built: the analyses that several rules share
(reachability from the initial state, exits per state) are computed once per
graph and remembered for as long as the graph lives. They read networkx's adjacency
dicts (``_succ``, ``_pred``) directly: the public views cost a ``Mapping`` protocol call
per step, which doubles the time of a search over a million transitions.

>>> from verify.model import Location, Spec, State, Transition
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
from operator import itemgetter
from typing import Any, TypeVar

import networkx as nx

from verify.model import Spec, State, Transition

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


def build_graph(spec: Spec) -> nx.MultiDiGraph:
    """The spec's transition graph: states in declaration order, one edge per transition.

    The graph is filled through networkx's documented dict-of-dicts layout rather than
    ``add_edges_from``, which spends most of its time on per-edge checks a validated spec
    does not need (about half the build time on a machine of a million transitions).
    The result is the same graph; the test suite compares the two. Each state's exits
    are recorded on the way, in declaration order, for :func:`exits_by_state`.
    """
    graph = nx.MultiDiGraph(machine=spec.machine, initial=spec.initial)
    nodes, succ, pred = graph._node, graph._succ, graph._pred
    leaving: dict[str, list[Transition]] = {}
    for s in spec.states:
        nodes[s.name] = {"state": s}
        succ[s.name] = {}
        pred[s.name] = {}
        leaving[s.name] = []
    for key, t in enumerate(spec.transitions):
        source, target = t.source, t.target
        targets = succ[source]
        keyed = targets.get(target)
        if keyed is None:
            keyed = targets[target] = pred[target][source] = {}
        keyed[key] = {"transition": t}
        leaving[source].append(t)
    _remember(graph, "exits", lambda: {name: tuple(found) for name, found in leaving.items()})
    return graph


def state(graph: nx.MultiDiGraph, name: str) -> State:
    """The :class:`State` called ``name``."""
    found: State = graph.nodes[name]["state"]
    return found


def exits(graph: nx.MultiDiGraph, name: str) -> tuple[Transition, ...]:
    """The transitions leaving ``name``, in declaration order."""
    return exits_by_state(graph)[name]


def entries(graph: nx.MultiDiGraph, name: str) -> tuple[Transition, ...]:
    """The transitions entering ``name``, in declaration order."""
    return _in_order(graph._pred[name])


def transitions(graph: nx.MultiDiGraph) -> Iterable[Transition]:
    """Every transition, grouped by source state (states in declaration order)."""
    for found in exits_by_state(graph).values():
        yield from found


def exits_by_state(graph: nx.MultiDiGraph) -> Mapping[str, tuple[Transition, ...]]:
    """Every state's exits in declaration order, computed once per graph."""
    succ = graph._succ
    return _remember(graph, "exits", lambda: {name: _in_order(succ[name]) for name in succ})


def reachable(graph: nx.MultiDiGraph, initial: str) -> frozenset[str]:
    """The states some path from ``initial`` reaches, ``initial`` included."""
    return _remember(graph, ("reachable", initial), lambda: _search(graph._succ, [initial]))


def coreachable(graph: nx.MultiDiGraph, targets: Iterable[str]) -> frozenset[str]:
    """The states from which some path reaches one of ``targets`` (included)."""
    return _search(graph._pred, list(targets))


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


def components(graph: nx.MultiDiGraph, among: Iterable[str] | None = None) -> list[Component]:
    """The strongly connected components of the states ``among`` (default: every state)
    and of the states they reach."""
    succ = graph._succ
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


def _in_order(neighbours: Mapping[str, Mapping[int, Mapping[str, Any]]]) -> tuple[Transition, ...]:
    """The transitions in an adjacency entry, by edge key (declaration order)."""
    keyed = [
        (key, data["transition"]) for edges in neighbours.values() for key, data in edges.items()
    ]
    keyed.sort(key=itemgetter(0))
    return tuple(t for _, t in keyed)


_MEMO: weakref.WeakKeyDictionary[nx.MultiDiGraph, dict[object, Any]] = weakref.WeakKeyDictionary()


def _remember(graph: nx.MultiDiGraph, key: object, compute: Callable[[], _T]) -> _T:
    """``compute()`` once per graph and key; later calls get the same value."""
    memo = _MEMO.setdefault(graph, {})
    if key not in memo:
        memo[key] = compute()
    found: _T = memo[key]
    return found
