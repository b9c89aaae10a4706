"""Graph rules: reachability, dead ends, traps and the shape of automatic transitions.

Each rule reads the expanded transition graph built by :func:`verify.graph.build_graph`.
The finding builders at the top are shared with the orchestration rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

import networkx as nx

from verify.findings import Finding, Severity, TransitionRef
from verify.graph import (
    components,
    coreachable,
    exits,
    exits_by_state,
    reachable,
    strong_components,
)
from verify.model import Reason, Spec, State, Transition
from verify.registry import RULES, Family, rule

__all__ = ["reason_finding", "state_finding", "transition_finding"]


def state_finding(
    rule_id: str,
    about: State,
    message: str,
    transitions: Iterable[Transition] = (),
    states: Sequence[str] = (),
) -> Finding:
    """A finding located at a state, naming it (or ``states``) and some transitions."""
    names = tuple(states) or (about.name,)
    refs = tuple(TransitionRef.of(t) for t in transitions)
    return Finding(rule_id, RULES[rule_id].severity, message, about.location, names, refs)


def transition_finding(
    rule_id: str, about: Sequence[Transition], message: str, at: Transition | None = None
) -> Finding:
    """A finding at ``at`` (default: the first of ``about``), naming transitions and sources."""
    sources = tuple(dict.fromkeys(t.source for t in about))
    refs = tuple(TransitionRef.of(t) for t in about)
    where = (at or about[0]).location
    return Finding(rule_id, RULES[rule_id].severity, message, where, sources, refs)


def reason_finding(rule_id: str, about: Reason, message: str) -> Finding:
    """A finding located at a reason code's declaration."""
    return Finding(rule_id, RULES[rule_id].severity, message, about.location, reasons=(about.name,))


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _names(states: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(states[:limit])
    return shown if len(states) <= limit else f"{shown} and {len(states) - limit} more"


@rule("unreachable-state", Severity.ERROR, Family.GRAPH)
def unreachable_state(spec: Spec, graph: nx.DiGraph) -> Iterator[Finding]:
    """No path from ``initial`` reaches the state.

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
def dead_end(spec: Spec, graph: nx.DiGraph) -> Iterator[Finding]:
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
    for s in spec.states:
        if not s.final and not exits(graph, s.name):
            yield state_finding(
                "dead-end", s, f"{s.name} has no exits; add a transition or mark it final: true"
            )


@rule("trap", Severity.ERROR, Family.GRAPH)
def trap(spec: Spec, graph: nx.DiGraph) -> Iterator[Finding]:
    """A set of states that can be entered but never left, holding no initial or final state.

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
          PING: {kind: running}
          PONG: {kind: running}
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
          PING: {kind: running}
          PONG: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: PING, trigger: start}
          - {from: PING, to: PONG, trigger: ping}
          - {from: PONG, to: PING, trigger: pong}
          - {from: PONG, to: DONE, trigger: finish}
    """
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


@rule("nondeterministic", Severity.ERROR, Family.GRAPH)
def nondeterministic(spec: Spec, graph: nx.DiGraph) -> Iterator[Finding]:
    """Two transitions have the same source and the same trigger.

    One finding per source and trigger, at the second such transition, listing all of
    them. The runtime and the coverage tour take the first declared one.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          FAST: {kind: running}
          SLOW: {kind: running}
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
          FAST: {kind: running}
          SLOW: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: FAST, trigger: start_fast}
          - {from: IDLE, to: SLOW, trigger: start_slow}
          - {from: [FAST, SLOW], to: DONE, trigger: finish}
    """
    for name, leaving in exits_by_state(graph).items():
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


@rule("always-cycle", Severity.ERROR, Family.GRAPH)
def always_cycle(spec: Spec, graph: nx.DiGraph) -> Iterator[Finding]:
    """A cycle made only of ``always`` transitions: entering it never stops moving.

    One finding per strongly connected component of the automatic transitions that has
    a transition inside it, at its first declared automatic transition, listing those
    transitions and their sources.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          SPIN: {kind: running}
          SPUN: {kind: running}
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
          SPIN: {kind: running}
          SPUN: {kind: running}
        transitions:
          - {from: IDLE, to: SPIN, trigger: start}
          - {from: SPIN, to: SPUN, trigger: always}
          - {from: SPUN, to: IDLE, trigger: stop}
    """
    automatic = [t for leaving in exits_by_state(graph).values() for t in leaving if t.automatic]
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


@rule("shadowed-transition", Severity.ERROR, Family.GRAPH)
def shadowed_transition(spec: Spec, graph: nx.DiGraph) -> Iterator[Finding]:
    """A state with an ``always`` exit has other exits: they can never fire.

    The machine leaves such a state as soon as it enters it. One finding per shadowed
    transition, at the transition. A second ``always`` exit is ``nondeterministic``.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          CHECK: {kind: running}
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
          CHECK: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: CHECK, trigger: start}
          - {from: CHECK, to: DONE, trigger: always}
          - {from: IDLE, to: DONE, trigger: cancel}
    """
    for name, leaving in exits_by_state(graph).items():
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


@rule("uncoverable-transition", Severity.ERROR, Family.GRAPH)
def uncoverable_transition(spec: Spec, graph: nx.DiGraph) -> Iterator[Finding]:
    """A transition whose source is unreachable: no run can ever fire it.

    One finding per transition, at the transition.

    Fails:

        statewright: 1
        machine: demo
        initial: IDLE
        states:
          IDLE: {kind: idle}
          LEGACY: {kind: running}
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
          LEGACY: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: IDLE, to: LEGACY, trigger: migrate}
          - {from: [IDLE, LEGACY], to: DONE, trigger: finish}
    """
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
def final_with_exits(spec: Spec, graph: nx.DiGraph) -> Iterator[Finding]:
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
