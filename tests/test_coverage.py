"""The transition tour: its paths replay, and what they cover is counted, not assumed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from test_graph_properties import make_spec, random_specs

from statewright.verify.coverage import Coverage, replay, transition_tour
from statewright.verify.explore import explore
from statewright.verify.explore.tour import configuration_tour
from statewright.verify.graph import build_graph
from statewright.verify.load import load_text
from statewright.verify.model import AUTOMATIC_TRIGGER, Spec, Transition

SPECS = sorted((Path(__file__).parent.parent / "specs").glob("*.yaml"))


def simulate(spec: Spec, paths: tuple[tuple[str, ...], ...]) -> set[int]:
    """An independent runtime: positions in ``spec.transitions`` that ``paths`` fire.

    Scans the transition list as written; asserts that every trigger of every path is
    accepted where it is sent (the tour never sends a trigger that does nothing).
    """
    fired: set[int] = set()

    def leaving(state: str) -> list[tuple[int, Transition]]:
        return [(i, t) for i, t in enumerate(spec.transitions) if t.source == state]

    def settle(state: str) -> str | None:
        seen = {state}
        while True:
            automatic = [(i, t) for i, t in leaving(state) if t.automatic]
            if not automatic:
                return state
            i, t = automatic[0]
            fired.add(i)
            if t.target in seen:
                return None
            seen.add(t.target)
            state = t.target

    for path in paths:
        here = settle(spec.initial)
        for trigger in path:
            assert here is not None, f"{path}: {trigger} sent after an endless always loop"
            matching = [(i, t) for i, t in leaving(here) if t.trigger == trigger]
            assert matching, f"{path}: {here} does not accept {trigger}"
            i, t = matching[0]
            fired.add(i)
            here = settle(t.target)
    return fired


def tour(spec: Spec) -> Coverage:
    coverage = transition_tour(spec, build_graph(spec))
    assert coverage.covered == len(simulate(spec, coverage.paths))
    assert replay(spec, build_graph(spec), coverage.paths) == coverage.covered
    return coverage


def loaded(text: str) -> Spec:
    result = load_text(textwrap.dedent(text))
    assert result.spec is not None, [f.format() for f in result.findings]
    return result.spec


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_the_shipped_specs_are_covered_in_full(path: Path) -> None:
    spec = loaded(path.read_text(encoding="utf-8"))
    coverage = configuration_tour(explore(spec)) if spec.has_data else tour(spec)
    assert coverage.complete and coverage.total == len(spec.transitions)
    timed = {t.trigger for t in spec.transitions if t.timed}
    assert timed <= {trigger for path in coverage.paths for trigger in path}
    assert coverage.length <= 4 * coverage.total


def test_a_chain_is_one_path() -> None:
    spec = make_spec(4, [(0, 1, "go"), (1, 2, "go"), (2, 3, "stop")], finals=[3])
    coverage = tour(spec)
    assert coverage.paths == (("go", "go", "stop"),)
    assert (coverage.covered, coverage.total) == (3, 3)


def test_always_transitions_are_implied_and_covered() -> None:
    spec = make_spec(
        4,
        [(0, 1, "start"), (1, 2, AUTOMATIC_TRIGGER), (2, 3, AUTOMATIC_TRIGGER), (3, 0, "reset")],
    )
    coverage = tour(spec)
    assert coverage.paths == (("start", "reset"),)
    assert (coverage.covered, coverage.total) == (4, 4)


def test_an_always_exit_of_the_initial_state_fires_on_an_empty_path() -> None:
    spec = make_spec(2, [(0, 1, AUTOMATIC_TRIGGER)], finals=[1])
    coverage = tour(spec)
    assert coverage.paths == ((),)
    assert (coverage.covered, coverage.total) == (1, 1)
    assert tour(make_spec(1, [])) == Coverage((), 0, 0)


def test_a_timed_transition_appears_as_its_trigger() -> None:
    spec = loaded("""\
        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          DONE: {final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: expired, after: 30m}
    """)
    assert tour(spec).paths == (("expired",),)


def test_unfirable_transitions_show_as_covered_below_total() -> None:
    shadowed = make_spec(3, [(0, 1, "go"), (1, 2, AUTOMATIC_TRIGGER), (1, 0, "back")], finals=[2])
    coverage = tour(shadowed)
    assert (coverage.covered, coverage.total) == (2, 3)
    nondeterministic = make_spec(3, [(0, 1, "go"), (0, 2, "go")], finals=[1, 2])
    coverage = tour(nondeterministic)
    assert coverage.paths == (("go",),)
    assert (coverage.covered, coverage.total) == (1, 2)


def test_unreachable_transitions_are_not_counted() -> None:
    spec = make_spec(3, [(0, 1, "go"), (2, 1, "go")], finals=[1])
    assert (tour(spec).covered, tour(spec).total) == (1, 1)


def test_a_path_into_an_always_cycle_ends_there() -> None:
    spec = make_spec(
        4,
        [(0, 1, "go"), (1, 2, AUTOMATIC_TRIGGER), (2, 1, AUTOMATIC_TRIGGER), (0, 3, "stop")],
        finals=[3],
    )
    coverage = tour(spec)
    assert sorted(coverage.paths) == [("go",), ("stop",)]
    assert (coverage.covered, coverage.total) == (4, 4)


def test_stuck_walks_take_a_short_detour_instead_of_a_new_path() -> None:
    # A star: every arm returns to the hub, whose exits are all needed.
    arms = 6
    edges = [(0, i, f"arm{i}") for i in range(1, arms + 1)] + [
        (i, 0, "back") for i in range(1, arms + 1)
    ]
    coverage = tour(make_spec(arms + 1, edges))
    assert coverage.complete
    assert len(coverage.paths) == 1 and coverage.length == 2 * arms


def test_replay_stops_at_a_trigger_the_state_does_not_accept() -> None:
    spec = make_spec(3, [(0, 1, "go"), (1, 2, "go")], finals=[2])
    graph = build_graph(spec)
    assert replay(spec, graph, [("stop", "go")]) == 0
    assert replay(spec, graph, [("go", "stop", "go")]) == 1
    assert replay(spec, graph, [("go",), ("go", "go")]) == 2


@settings(max_examples=300)
@given(random_specs(triggers=("go", "stop", "retry", "wait"), deterministic=True))
def test_deterministic_specs_without_always_are_covered_in_full(spec: Spec) -> None:
    coverage = tour(spec)
    assert coverage.covered == coverage.total
    assert coverage.length >= coverage.total


@settings(max_examples=300)
@given(random_specs())
def test_any_spec_replays_to_what_the_tour_claims(spec: Spec) -> None:
    coverage = tour(spec)
    assert coverage.covered <= coverage.total
    assert all(AUTOMATIC_TRIGGER not in path for path in coverage.paths)
    assert len(set(coverage.paths)) == len(coverage.paths)
