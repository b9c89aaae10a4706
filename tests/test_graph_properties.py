"""Graph rules against brute force, on random specs built straight from the model.

:func:`random_specs` is also the spec generator of ``test_coverage``.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from statewright.verify.analysis import Analysis
from statewright.verify.graph import (
    build_graph,
    components,
    entries,
    exits,
    reachable,
    strong_components,
)
from statewright.verify.model import AUTOMATIC_TRIGGER, Location, Spec, State, Transition
from statewright.verify.rules import RULES

FILE = "random.yaml"


def make_spec(
    count: int,
    edges: Iterable[tuple[int, int, str]],
    initial: int = 0,
    finals: Iterable[int] = (),
) -> Spec:
    """States ``S0..S{count-1}`` (state i on line i + 1), one transition per edge (edge j
    on line 1000 + j), ``S{initial}`` initial and the ``finals`` final."""
    finals = set(finals)
    states = tuple(
        State(f"S{i}", Location(FILE, i + 1, 3), final=i in finals) for i in range(count)
    )
    transitions = tuple(
        Transition(f"S{a}", f"S{b}", trigger, Location(FILE, 1000 + j, 5), j)
        for j, (a, b, trigger) in enumerate(edges)
    )
    return Spec(FILE, "random", f"S{initial}", states, transitions)


@st.composite
def random_specs(
    draw: st.DrawFn,
    max_states: int = 8,
    triggers: tuple[str, ...] = ("go", "stop", "retry", AUTOMATIC_TRIGGER),
    deterministic: bool = False,
) -> Spec:
    """Small random specs; ``deterministic``: no two exits of a state share a trigger."""
    count = draw(st.integers(1, max_states))
    state = st.integers(0, count - 1)
    edges = draw(st.lists(st.tuples(state, state, st.sampled_from(triggers)), max_size=24))
    if deterministic:
        edges = list({(a, trigger): (a, b, trigger) for a, b, trigger in edges}.values())
    finals = draw(st.sets(state, max_size=count))
    return make_spec(count, edges, draw(state), finals)


# ---- brute force ----------------------------------------------------------------------


def reach_from(spec: Spec, start: str, automatic_only: bool = False) -> set[str]:
    """Fixpoint over the transition list: every state a path from ``start`` reaches."""
    seen = {start}
    grew = True
    while grew:
        grew = False
        for t in spec.transitions:
            if automatic_only and not t.automatic:
                continue
            if t.source in seen and t.target not in seen:
                seen.add(t.target)
                grew = True
    return seen


def brute_traps(spec: Spec) -> set[frozenset[str]]:
    names = spec.state_names
    reach = {name: reach_from(spec, name) for name in names}
    anchors = {spec.initial} | {s.name for s in spec.states if s.final}
    traps = set()
    for name in names:
        component = frozenset(
            other for other in names if other in reach[name] and name in reach[other]
        )
        inner = any(t.source in component and t.target in component for t in spec.transitions)
        leaves = any(t.source in component and t.target not in component for t in spec.transitions)
        if inner and not leaves and anchors.isdisjoint(component):
            traps.add(component)
    return traps


def findings(spec: Spec, rule_id: str) -> list[tuple[str, ...]]:
    check = RULES[rule_id].check
    assert check is not None
    return [f.states for f in check(Analysis.of(spec))]


# ---- properties -----------------------------------------------------------------------


@settings(max_examples=300)
@given(random_specs())
def test_unreachable_state_matches_a_fixpoint(spec: Spec) -> None:
    seen = reach_from(spec, spec.initial)
    expected = [(s.name,) for s in spec.states if s.name not in seen]
    assert findings(spec, "unreachable-state") == expected


@settings(max_examples=300)
@given(random_specs())
def test_dead_end_matches_states_without_exits(spec: Spec) -> None:
    sources = {t.source for t in spec.transitions}
    expected = [(s.name,) for s in spec.states if not s.final and s.name not in sources]
    assert findings(spec, "dead-end") == expected


@settings(max_examples=300)
@given(random_specs())
def test_trap_matches_mutual_reachability(spec: Spec) -> None:
    found = findings(spec, "trap")
    assert len(found) == len(set(found))
    assert {frozenset(states) for states in found} == brute_traps(spec)
    order = spec.state_names
    assert all(list(states) == sorted(states, key=order.index) for states in found)


@settings(max_examples=300)
@given(random_specs())
def test_dead_end_and_trap_mean_an_anchor_stays_reachable(spec: Spec) -> None:
    """DESIGN: together they mean that from every state the initial or a final state
    stays reachable; so every state that cannot reach one reaches a flagged state."""
    flagged = {
        name for rule in ("dead-end", "trap") for found in findings(spec, rule) for name in found
    }
    anchors = {spec.initial} | {s.name for s in spec.states if s.final}
    for name in spec.state_names:
        reach = reach_from(spec, name)
        if anchors.isdisjoint(reach):
            assert reach & flagged, name


@settings(max_examples=300)
@given(random_specs())
def test_always_cycle_matches_automatic_self_reachability(spec: Spec) -> None:
    on_cycle = {
        t.source
        for t in spec.transitions
        if t.automatic and t.source in reach_from(spec, t.target, automatic_only=True)
    }
    found = findings(spec, "always-cycle")
    assert {name for states in found for name in states} == on_cycle


@settings(max_examples=300)
@given(random_specs())
def test_nondeterministic_matches_repeated_source_and_trigger(spec: Spec) -> None:
    pairs = [(t.source, t.trigger) for t in spec.transitions]
    expected = {pair for pair in pairs if pairs.count(pair) > 1}
    check = RULES["nondeterministic"].check
    assert check is not None
    found = list(check(Analysis.of(spec)))
    assert {(f.states[0], f.transitions[0].trigger) for f in found} == expected
    assert len(found) == len(expected)


@settings(max_examples=200)
@given(random_specs())
def test_build_graph_equals_the_networkx_way(spec: Spec) -> None:
    graph = build_graph(spec)
    expected = nx.DiGraph(machine=spec.machine, initial=spec.initial)
    expected.add_nodes_from((s.name, {"state": s}) for s in spec.states)
    expected.add_edges_from((t.source, t.target) for t in spec.transitions)
    assert list(graph.nodes(data=True)) == list(expected.nodes(data=True))
    assert sorted(graph.edges()) == sorted(expected.edges())
    assert graph.graph == expected.graph
    assert nx.utils.graphs_equal(graph, expected)
    for name in spec.state_names:
        assert exits(graph, name) == tuple(t for t in spec.transitions if t.source == name)
        assert entries(graph, name) == tuple(t for t in spec.transitions if t.target == name)


@settings(max_examples=200)
@given(random_specs())
def test_components_match_networkx(spec: Spec) -> None:
    graph = build_graph(spec)
    ours = components(graph)
    assert {frozenset(c.states) for c in ours} == {
        frozenset(c) for c in nx.strongly_connected_components(graph)
    }
    for c in ours:
        inside = set(c.states)
        edges = [(a, b) for a, b in graph.edges() if a in inside]
        assert c.inner == any(b in inside for _, b in edges)
        assert c.closed == all(b in inside for _, b in edges)
    assert reachable(graph, spec.initial) == reach_from(spec, spec.initial)


def test_strong_components_take_a_plain_adjacency_and_a_deep_chain() -> None:
    chain = {f"N{i}": {f"N{i + 1}"} for i in range(50_000)}
    chain["N50000"] = {"N0"}
    (loop,) = list(strong_components(["N0"], chain))
    assert len(loop.states) == 50_001 and loop.inner and loop.closed
    assert [c.states for c in strong_components(["A", "B"], {"A": {"B"}})] == [("B",), ("A",)]


def test_the_documentation_examples_run() -> None:
    import doctest

    import statewright.verify.check
    import statewright.verify.digraph
    import statewright.verify.graph

    for module in (statewright.verify.graph, statewright.verify.digraph, statewright.verify.check):
        failed, tried = doctest.testmod(module)
        assert tried > 0 and failed == 0, module.__name__
