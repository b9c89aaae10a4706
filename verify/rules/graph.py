"""Graph rules: reachability, dead ends, traps and the shape of automatic transitions.

Each rule reads the expanded transition graph built by :func:`statewright.verify.graph.build_graph`,
from the spec's :class:`~statewright.verify.analysis.Analysis`. The rules that have a data form
(:mod:`statewright.verify.rules.data`) name it when they register: for a spec with variables the
registry runs that one instead, and reachability and the rest are over configurations.
"""

from __future__ import annotations

from collections.abc import Iterator

from statewright.verify.analysis import Analysis
from statewright.verify.findings import Finding, Severity, TransitionRef
from statewright.verify.graph import (
    components,
    coreachable,
    exits,
    exits_by_state,
    reachable,
    strong_components,
)
from statewright.verify.model import Transition
from statewright.verify.registry import Family, rule
from statewright.verify.rules import data
from statewright.verify.rules.build import count as _count
from statewright.verify.rules.build import listed as _names
from statewright.verify.rules.build import reason_finding, state_finding, transition_finding

__all__ = ["reason_finding", "state_finding", "transition_finding"]


@rule("unreachable-state", Severity.ERROR, Family.GRAPH, data=data.unreachable_state)
def unreachable_state(analysis: Analysis) -> Iterator[Finding]:
    """No path from ``initial`` reaches the state.

    With variables, no reachable configuration is in the state (guards included).

    One finding per state, at the state.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          ARCHIVED: {kind: complete, final: true}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}

    Passes:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          ARCHIVED: {kind: complete, final: true}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}
          - {from: IDLE, to: ARCHIVED, trigger: archive}
    """
    spec, graph = analysis.spec, analysis.graph
    seen = reachable(graph, spec.initial)
    for s in spec.states:
        if s.name not in seen:
            yield state_finding(
                "unreachable-state",
                s,
                f"{s.name} is unreachable from the initial state {spec.initial}; "
                "add a transition into it or remove it",
            )


@rule("dead-end", Severity.ERROR, Family.GRAPH)
def dead_end(analysis: Analysis) -> Iterator[Finding]:
    """A state that is not ``final`` has no exits, whether it is reachable or not.

    One finding per state, at the state.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          DONE: {kind: complete}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}

    Passes:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}
    """
    spec, graph = analysis.spec, analysis.graph
    for s in spec.states:
        if not s.final and not exits(graph, s.name):
            yield state_finding(
                "dead-end", s, f"{s.name} has no exits; add a transition or mark it final: true"
            )


@rule("trap", Severity.ERROR, Family.GRAPH, data=data.trap)
def trap(analysis: Analysis) -> Iterator[Finding]:
    """A set of states that can be entered but never left, holding no initial or final state.

    With variables, a reachable configuration from which no configuration of the initial
    state or of a final state is reachable (a stuck one aside: that is ``stuck``); one
    finding per state holding one, with the trace to the nearest.

    Precisely: a strongly connected component with at least one transition inside it and
    none leaving it, holding neither the initial state nor a final state, whether it is
    reachable or not. One finding per component, at its first declared state, listing
    the component's states in declaration order. With ``dead-end`` this means: from
    every state, the initial state or a final state stays reachable.

    Such a component is a closed one among the states that cannot reach the initial
    state or a final state, so only those are searched.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          PING: {}
          PONG: {}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: PING, trigger: start}
          - {from: PING, to: PONG, trigger: ping}
          - {from: PONG, to: PING, trigger: pong}
          - {from: IDLE, to: DONE, trigger: finish}

    Passes:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          PING: {}
          PONG: {}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: PING, trigger: start}
          - {from: PING, to: PONG, trigger: ping}
          - {from: PONG, to: PING, trigger: pong}
          - {from: PONG, to: DONE, trigger: finish}
    """
    spec, graph = analysis.spec, analysis.graph
    anchors = [spec.initial, *(s.name for s in spec.states if s.final)]
    anchored = coreachable(graph, anchors)
    stranded = [name for name in spec.state_names if name not in anchored]
    order = {name: i for i, name in enumerate(stranded)}
    for component in components(graph, stranded):
        if component.inner and component.closed:
            names = sorted(component.states, key=order.__getitem__)
            yield state_finding(
                "trap",
                spec.state(names[0]),
                f"{_names(names)} form a trap: no transition leaves them, so neither the "
                "initial state nor a final state can be reached; add an exit",
                states=names,
            )


@rule("nondeterministic", Severity.ERROR, Family.GRAPH, data=data.nondeterministic)
def nondeterministic(analysis: Analysis) -> Iterator[Finding]:
    """Two transitions have the same source and the same trigger.

    With variables, two transitions on one trigger (or two ``always``) are enabled in
    one reachable configuration: transitions may share a source and a trigger when their
    guards never hold together. One finding per pair, with the trace to the nearest such
    configuration.

    One finding per source and trigger, at the second such transition, listing all of
    them. The runtime and the coverage tour take the first declared one.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          FAST: {}
          SLOW: {}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: FAST, trigger: start}
          - {from: IDLE, to: SLOW, trigger: start}
          - {from: [FAST, SLOW], to: DONE, trigger: finish}

    Passes:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          FAST: {}
          SLOW: {}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: FAST, trigger: start_fast}
          - {from: IDLE, to: SLOW, trigger: start_slow}
          - {from: [FAST, SLOW], to: DONE, trigger: finish}
    """
    for name, leaving in exits_by_state(analysis.graph).items():
        if len({t.trigger for t in leaving}) == len(leaving):
            continue
        by_trigger: dict[str, list[Transition]] = {}
        for t in leaving:
            by_trigger.setdefault(t.trigger, []).append(t)
        for trigger, same in by_trigger.items():
            if len(same) > 1:
                targets = _names(list(dict.fromkeys(t.target for t in same)))
                yield transition_finding(
                    "nondeterministic",
                    same,
                    f"{name} has {len(same)} transitions on trigger '{trigger}' (to {targets}); "
                    "give each its own trigger or remove all but one",
                    at=same[1],
                )


@rule("always-cycle", Severity.ERROR, Family.GRAPH, data=data.always_cycle)
def always_cycle(analysis: Analysis) -> Iterator[Finding]:
    """A cycle made only of ``always`` transitions: entering it never stops moving.

    With variables, a reachable cycle of configurations made only of ``always`` steps;
    the finding's trace leads to it and its ``cycle`` goes round it.

    One finding per strongly connected component of the automatic transitions that has
    a transition inside it, at its first declared automatic transition, listing those
    transitions and their sources.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          SPIN: {}
          SPUN: {}
        transitions:
          - {from: IDLE, to: SPIN, trigger: start}
          - {from: SPIN, to: SPUN, trigger: always}
          - {from: SPUN, to: SPIN, trigger: always}

    Passes:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          SPIN: {}
          SPUN: {}
        transitions:
          - {from: IDLE, to: SPIN, trigger: start}
          - {from: SPIN, to: SPUN, trigger: always}
          - {from: SPUN, to: IDLE, trigger: stop}
    """
    leaving_each = exits_by_state(analysis.graph).values()
    automatic = [t for leaving in leaving_each for t in leaving if t.automatic]
    successors: dict[str, set[str]] = {}
    for t in automatic:
        successors.setdefault(t.source, set()).add(t.target)
    loop_of: dict[str, int] = {}
    for number, component in enumerate(strong_components(successors, successors)):
        if component.inner:
            loop_of.update(dict.fromkeys(component.states, number))
    loops: dict[int, list[Transition]] = {}
    for t in automatic:
        inside = loop_of.get(t.source)
        if inside is not None and loop_of.get(t.target) == inside:
            loops.setdefault(inside, []).append(t)
    for loop in loops.values():
        loop.sort(key=lambda t: t.index)
        sources = list(dict.fromkeys(t.source for t in loop))
        yield transition_finding(
            "always-cycle",
            loop,
            f"automatic transitions loop through {_names(sources)} forever; "
            "give one of them a trigger other than always",
        )


@rule("shadowed-transition", Severity.ERROR, Family.GRAPH, data=data.shadowed_transition)
def shadowed_transition(analysis: Analysis) -> Iterator[Finding]:
    """A state with an ``always`` exit has other exits: they can never fire.

    With variables, a transition whose ``when`` holds somewhere in its source's
    reachable configurations, but wherever it holds an ``always`` transition is enabled
    too.

    The machine leaves such a state as soon as it enters it. One finding per shadowed
    transition, at the transition. A second ``always`` exit is ``nondeterministic``.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          CHECK: {}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: CHECK, trigger: start}
          - {from: CHECK, to: DONE, trigger: always}
          - {from: CHECK, to: IDLE, trigger: cancel}

    Passes:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          CHECK: {}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: CHECK, trigger: start}
          - {from: CHECK, to: DONE, trigger: always}
          - {from: IDLE, to: DONE, trigger: cancel}
    """
    for name, leaving in exits_by_state(analysis.graph).items():
        auto = next((t for t in leaving if t.automatic), None)
        if auto is None:
            continue
        for t in leaving:
            if not t.automatic:
                yield transition_finding(
                    "shadowed-transition",
                    [t],
                    f"{TransitionRef.of(t)} can never fire: {name} leaves at once to "
                    f"{auto.target} by its always transition; remove it or give that one a trigger",
                )


@rule("uncoverable-transition", Severity.ERROR, Family.GRAPH, data=data.uncoverable_transition)
def uncoverable_transition(analysis: Analysis) -> Iterator[Finding]:
    """A transition whose source is unreachable: no run can ever fire it.

    With variables, no reachable configuration is in its source.

    One finding per transition, at the transition.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          LEGACY: {}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}
          - {from: LEGACY, to: DONE, trigger: finish}

    Passes:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          LEGACY: {}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: LEGACY, trigger: migrate}
          - {from: [IDLE, LEGACY], to: DONE, trigger: finish}
    """
    spec, graph = analysis.spec, analysis.graph
    seen = reachable(graph, spec.initial)
    for s in spec.states:
        if s.name not in seen:
            for t in exits(graph, s.name):
                yield transition_finding(
                    "uncoverable-transition",
                    [t],
                    f"{TransitionRef.of(t)} can never fire: {s.name} is unreachable; "
                    f"add a transition into {s.name} or remove this one",
                )


@rule("final-with-exits", Severity.ERROR, Family.GRAPH)
def final_with_exits(analysis: Analysis) -> Iterator[Finding]:
    """A ``final`` state has an exit.

    One finding per state, at the state, listing its exits.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}
          - {from: DONE, to: IDLE, trigger: housekeeping_done}

    Passes:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          DONE: {kind: complete}
        transitions:
          - {from: IDLE, to: DONE, trigger: finish}
          - {from: DONE, to: IDLE, trigger: housekeeping_done}
    """
    spec, graph = analysis.spec, analysis.graph
    for s in spec.states:
        leaving = exits(graph, s.name) if s.final else ()
        if leaving:
            yield state_finding(
                "final-with-exits",
                s,
                f"{s.name} is final but has {_count(len(leaving), 'exit')} "
                f"({_names([t.trigger for t in leaving])}); drop final: true or remove its exits",
                leaving,
            )
