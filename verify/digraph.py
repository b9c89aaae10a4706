"""Searches over a plain adjacency mapping (a node to the nodes it has an edge to), with
no networkx: what :mod:`statewright.verify.graph` runs over its tables, and what the loader's
analyses of Step Functions definitions (:mod:`statewright.verify.load.asl.bounds`) run over
theirs, so reading a definition never imports networkx.

>>> successors = {"A": ["B"], "B": ["A", "C"], "C": []}
>>> sorted(search(successors, ["C"])), sorted(search(successors, ["A"]))
(['C'], ['A', 'B', 'C'])
>>> [c.states for c in strong_components(["A"], successors)]
[('C',), ('A', 'B')]
>>> shortest_path(successors, "A", "C")
['A', 'B', 'C']
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Component", "search", "shortest_path", "strong_components"]


def search(adjacency: Mapping[str, Collection[str]], frontier: list[str]) -> frozenset[str]:
    """The nodes some path from ``frontier`` reaches, ``frontier`` included."""
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


def shortest_path(
    successors: Mapping[str, Collection[str]], source: str, target: str
) -> list[str] | None:
    """A shortest path from ``source`` to ``target`` (both included), breadth first in
    the order of each node's successors; None when there is none."""
    parent: dict[str, str | None] = {source: None}
    frontier = [source]
    while frontier and target not in parent:
        following = []
        for here in frontier:
            for there in successors.get(here, ()):
                if there not in parent:
                    parent[there] = here
                    following.append(there)
        frontier = following
    if target not in parent:
        return None
    path: list[str] = []
    at: str | None = target
    while at is not None:
        path.append(at)
        at = parent[at]
    return path[::-1]
