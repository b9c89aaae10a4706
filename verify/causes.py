"""Which findings follow from others, so that a report can lead with the root causes.

One missing transition can make a whole stage unreachable: every state only it led to is
an ``unreachable-state`` finding too, and every transition out of those states an
``uncoverable-transition``. The sketch of the discovery pipeline reports 34 errors from
about three mistakes. :func:`link_causes` keeps every finding and gives each such
consequence its :attr:`~statewright.verify.findings.Finding.cause`: the ``unreachable-state``
finding of the state at the head of its unreachable region. Adding a transition into that
state reaches the whole region, and fixes the findings that follow from it.

The head of a region: among the unreachable states and the transitions between them, a
state that some reachable state leads to (a transition that never fires, with data), or
else the first declared state of a strongly connected component that no other
unreachable state leads into. Every other unreachable state belongs to the first head,
in that order, that reaches it.

>>> from statewright.verify.graph import build_graph
>>> from statewright.verify.model import Location, Spec, State, Transition
>>> at = Location("<doc>", 1, 1)
>>> spec = Spec(
...     "<doc>", "demo", "A",
...     (State("A", at), State("B", at), State("C", at)),
...     (Transition("B", "C", "go", at, 0), Transition("C", "A", "back", at, 1)),
... )
>>> root_states(build_graph(spec), {"B", "C"})
{'B': 'B', 'C': 'B'}
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable

import networkx as nx

from statewright.verify.findings import Finding
from statewright.verify.graph import entries, exits, strong_components

__all__ = ["CONSEQUENCES", "link_causes", "root_states"]

UNREACHABLE_STATE = "unreachable-state"
UNCOVERABLE_TRANSITION = "uncoverable-transition"
CONSEQUENCES = frozenset({UNREACHABLE_STATE, UNCOVERABLE_TRANSITION})
"""The rules whose findings can follow from an unreachable state."""


def root_states(graph: nx.DiGraph, unreachable: Collection[str]) -> dict[str, str]:
    """Each of the ``unreachable`` states, mapped to the head of its region (a head to
    itself); see the module documentation."""
    among = set(unreachable)
    order = {name: index for index, name in enumerate(graph) if name in among}
    successors = {
        name: [t.target for t in exits(graph, name) if t.target in among] for name in order
    }
    entered = {name for name in order if any(t.source not in among for t in entries(graph, name))}
    owner: dict[str, str] = {}

    def claim(head: str) -> None:
        owner[head] = head
        frontier = [head]
        while frontier:
            for there in successors[frontier.pop()]:
                if there not in owner and there not in entered:
                    owner[there] = head
                    frontier.append(there)

    for name in order:
        if name in entered:
            claim(name)
    components = list(strong_components(order, successors))
    for component in reversed(components):  # sources of the component graph come first
        if not any(name in owner for name in component.states):
            claim(min(component.states, key=order.__getitem__))
    return owner


def link_causes(graph: nx.DiGraph, findings: Iterable[Finding]) -> list[Finding]:
    """``findings``, each ``unreachable-state`` and ``uncoverable-transition`` finding that
    follows from another state's unreachability with that finding as its ``cause``."""
    found = list(findings)
    unreachable = {
        f.states[0]: f for f in found if f.rule == UNREACHABLE_STATE and len(f.states) == 1
    }
    if not unreachable:
        return found
    heads = root_states(graph, unreachable)
    linked = []
    for finding in found:
        if finding.rule in CONSEQUENCES and finding.cause is None and finding.states:
            head = heads.get(finding.states[0])
            cause = unreachable.get(head) if head is not None else None
            if cause is not None and cause != finding:
                finding = dataclasses.replace(finding, cause=cause)
        linked.append(finding)
    return linked
