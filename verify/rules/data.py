"""Data rules: proven over every reachable configuration, each with a counterexample.

For a spec that declares ``variables``, the explorer (:mod:`statewright.verify.explore`) visits
every reachable configuration once, and these rules read what it found: the analysis's
``proof``, the exploration when it is complete (:class:`~statewright.verify.analysis.Analysis`).
The functions without a registration here are the data forms of graph rules
(``unreachable-state``, ``trap``, ...): the graph rule of the same id names its data form,
and the registry runs that one for such a spec. Properties (``property-violated``) are
checked for any spec that states some.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence

from statewright.verify.analysis import Analysis
from statewright.verify.explore import Exploration
from statewright.verify.explore.budget import Exceeded
from statewright.verify.explore.graph import always_cycles, coreachable
from statewright.verify.findings import Finding, Severity, TraceStep, TransitionRef
from statewright.verify.model import Location, PropertyKind, Spec, Transition
from statewright.verify.registry import RULES, Family, data_rule, rule, with_examples
from statewright.verify.rules.build import listed, state_finding, transition_finding
from statewright.verify.semantics import Values, show_value

__all__ = [
    "always_cycle",
    "nondeterministic",
    "shadowed_transition",
    "too_large",
    "trap",
    "uncoverable_transition",
    "unreachable_state",
]

_RETRY = """\
statewright: 1
machine: retry
initial: RUNNING
variables:
  attempts: {type: int, min: 0, max: 2, initial: 0}
states:
  RUNNING: {}
  DONE: {kind: complete, final: true}
transitions:
  - from: RUNNING
    to: RUNNING
    trigger: retry
    when: attempts < 2
    set: {attempts: attempts + 1}
  - {from: RUNNING, to: DONE, trigger: finish}
"""
"""A bounded retry loop: the ``Passes`` example of the data rules."""

_FINISH = "  - {from: RUNNING, to: DONE, trigger: finish}\n"


def _at(found: Exploration, values: Values) -> str:
    """`` with attempts=1, signed_off=false`` (nothing for a spec without variables)."""
    pairs = [
        f"{f.variable.name}={show_value(value)}"
        for f, value in zip(found.layout.fields, values, strict=True)
    ]
    return f" with {', '.join(pairs)}" if pairs else ""


def _ref(t: Transition) -> str:
    guard = f" [{t.when.text}]" if t.when is not None else ""
    return f"{TransitionRef.of(t)}{guard}"


# -- the data forms of graph rules ------------------------------------------------------


def unreachable_state(analysis: Analysis) -> Iterator[Finding]:
    """``unreachable-state`` over configurations."""
    spec, found = analysis.spec, analysis.proof
    if found is None:
        return
    for s in spec.states:
        if s.name not in found.reached:
            yield state_finding(
                "unreachable-state",
                s,
                f"{s.name} is unreachable: no reachable configuration is in it (guards "
                "included); loosen the guards that lead into it, or remove it",
            )


def uncoverable_transition(analysis: Analysis) -> Iterator[Finding]:
    """``uncoverable-transition`` over configurations."""
    spec, found = analysis.spec, analysis.proof
    if found is None:
        return
    for t in spec.transitions:
        if t.source not in found.reached:
            yield transition_finding(
                "uncoverable-transition",
                [t],
                f"{TransitionRef.of(t)} can never fire: no reachable configuration is in "
                f"{t.source}; make {t.source} reachable or remove this transition",
            )


def trap(analysis: Analysis) -> Iterator[Finding]:
    """``trap`` over configurations: one finding per state holding a trapped one."""
    spec, found = analysis.spec, analysis.proof
    if found is None:
        return
    anchors = found.marked([spec.initial, *(s.name for s in spec.states if s.final)])
    fine = coreachable(found.found, anchors)
    stuck = set(found.found.stuck)
    first: dict[int, int] = {}
    for i, (ok, s) in enumerate(zip(fine, found.state_numbers, strict=True)):
        if not ok and i not in stuck and s not in first:
            first[s] = i
    for _, i in sorted(first.items()):
        state, values = found.unpack(i)
        yield state_finding(
            "trap",
            spec.state(state),
            f"{state}{_at(found, values)} is a trap: no run from it reaches the initial "
            f"state {spec.initial} or a final state; add an exit for this case",
            trace=found.trace(found.path_to(i)),
        )


def nondeterministic(analysis: Analysis) -> Iterator[Finding]:
    """``nondeterministic`` over configurations: two enabled at once."""
    spec, found = analysis.spec, analysis.proof
    if found is None:
        return
    for (a, b), i in sorted(found.found.nondet.items()):
        first, second = spec.transitions[a], spec.transitions[b]
        _, values = found.unpack(i)
        trigger = first.trigger
        yield transition_finding(
            "nondeterministic",
            [first, second],
            f"{first.source}{_at(found, values)} has two transitions on '{trigger}' enabled "
            f"at once: {_ref(first)} and {_ref(second)}; make their guards exclusive",
            at=second,
            trace=found.trace(found.path_to(i)),
        )


def always_cycle(analysis: Analysis) -> Iterator[Finding]:
    """``always-cycle`` over configurations."""
    spec, found = analysis.spec, analysis.proof
    if found is None:
        return
    automatic = bytes(1 if t.automatic else 0 for t in found.found.transitions)
    reported: set[frozenset[int]] = set()
    for i, cycle in always_cycles(found.found, automatic):
        numbers = frozenset(found.found.via[e] for e in cycle)
        if numbers in reported:
            continue
        reported.add(numbers)
        loop = sorted((spec.transitions[n] for n in numbers), key=lambda t: t.index)
        sources = list(dict.fromkeys(t.source for t in loop))
        state, values = found.unpack(i)
        yield transition_finding(
            "always-cycle",
            loop,
            f"automatic transitions loop through {listed(sources)} for ever, from "
            f"{state}{_at(found, values)}; guard one of them so the loop ends",
            trace=found.trace(found.path_to(i)),
            cycle=found.trace(cycle, start=i, after=found.path_to(i)),
        )


def shadowed_transition(analysis: Analysis) -> Iterator[Finding]:
    """``shadowed-transition`` over configurations."""
    spec, found = analysis.spec, analysis.proof
    if found is None:
        return
    for n, t in enumerate(spec.transitions):
        if t.automatic or t.source not in found.reached:
            continue
        if found.holds(n) and not found.holds_at_rest(n):
            when = f"'{t.when.text}' holds" if t.when is not None else "it is declared"
            yield transition_finding(
                "shadowed-transition",
                [t],
                f"{TransitionRef.of(t)} can never fire: wherever {when} in {t.source}, an "
                "always transition leaves first; guard the always transition or remove this one",
            )


# -- rules of data alone ----------------------------------------------------------------


@data_rule("stuck", Severity.ERROR)
@with_examples(
    _RETRY, (_FINISH, "  - {from: RUNNING, to: DONE, trigger: finish, when: attempts < 2}\n")
)
def stuck(analysis: Analysis) -> Iterator[Finding]:
    """A reachable configuration of a non-final state has exits, but none is enabled.

    The run would rest there for ever. One finding per state, at the state, with the
    trace to its nearest stuck configuration. The example that fails can retry only
    while ``attempts < 2`` and finish only then too, so at ``attempts=2`` nothing is left.
    """
    spec, found = analysis.spec, analysis.proof
    if found is None:
        return
    first: dict[str, int] = {}
    for i in found.found.stuck:
        first.setdefault(found.unpack(i)[0], i)
    for name, i in first.items():
        _, values = found.unpack(i)
        exits = [t for t in spec.transitions if t.source == name]
        yield state_finding(
            "stuck",
            spec.state(name),
            f"{name} is stuck{_at(found, values)}: none of its exits is enabled "
            f"({'; '.join(_ref(t) for t in exits[:3])}); add an exit for this case",
            exits,
            trace=found.trace(found.path_to(i)),
        )


@data_rule("never-enabled", Severity.ERROR)
@with_examples(
    _RETRY,
    (_FINISH, _FINISH + "  - {from: RUNNING, to: DONE, trigger: give_up, when: attempts > 2}\n"),
)
def never_enabled(analysis: Analysis) -> Iterator[Finding]:
    """A transition's source is reachable, but its ``when`` holds in none of the source's
    reachable configurations.

    One finding per transition, at the transition. The example that fails gives up only
    past two attempts, which the counter never reaches.
    """
    spec, found = analysis.spec, analysis.proof
    if found is None:
        return
    for n, t in enumerate(spec.transitions):
        if t.when is not None and t.source in found.reached and not found.holds(n):
            yield transition_finding(
                "never-enabled",
                [t],
                f"{TransitionRef.of(t)} can never fire: '{t.when.text}' holds in none of the "
                f"reachable configurations of {t.source}; loosen the guard or remove it",
            )


@data_rule("out-of-range", Severity.ERROR)
@with_examples(_RETRY, ("when: attempts < 2", "when: attempts <= 2"))
def out_of_range(analysis: Analysis) -> Iterator[Finding]:
    """A reachable step's ``set`` takes a variable outside its bounds.

    One finding per transition, at the transition, with the trace to the configuration
    the step leaves; the checker does not follow the step. The example that fails lets
    a third retry count to 3, past ``max: 2``.
    """
    spec, found = analysis.spec, analysis.proof
    if found is None:
        return
    for n, (i, value) in sorted(found.found.out.items()):
        t = spec.transitions[n]
        _, values = found.unpack(i)
        names = {f.variable.name: f.variable for f in found.layout.fields}
        culprit = next(
            e.variable
            for e in t.effects
            if e.variable in names
            and not names[e.variable].minimum <= value <= names[e.variable].maximum
        )
        variable = names[culprit]
        yield transition_finding(
            "out-of-range",
            [t],
            f"{TransitionRef.of(t)} sets {culprit} to {value}, outside "
            f"{variable.minimum}..{variable.maximum}, from {t.source}{_at(found, values)}; "
            "guard the transition or widen the bounds",
            trace=found.trace(found.path_to(i)),
        )


_PROPERTIES = _RETRY + "properties:\n  bounded: {always: attempts <= 2}\n"


@rule("property-violated", Severity.ERROR, Family.DATA)
@with_examples(_PROPERTIES, ("{always: attempts <= 2}", "{always: attempts < 2}"))
def property_violated(analysis: Analysis) -> Iterator[Finding]:
    """A property under ``properties`` fails; the finding carries the counterexample.

    ``always`` fails in a reachable configuration, ``precedence`` on an entry into its
    state without the required trigger, ``leads_to`` on a run that goes round a cycle or
    ends without reaching its target (the finding's ``cycle`` is what it repeats). One
    finding per property, at the property, with a shortest trace. The example that
    fails claims the counter stays below 2.
    """
    found, properties = analysis.proof, analysis.properties
    if found is None or properties is None:
        return
    for failure in properties.failures:
        lead: Sequence[int] = failure.trace
        if not failure.elapsed and failure.property.kind in _ENDING:
            lead = found.lasso_lead(failure.trace, failure.cycle)  # each rollback replayable
        yield Finding(
            "property-violated",
            RULES["property-violated"].severity,
            failure.message,
            failure.property.location,
            trace=_timed(found.trace(lead, reroute=False), failure.elapsed),
            cycle=found.trace(failure.cycle, start=_cycle_start(found, failure.trace), after=lead),
        )


_ENDING = frozenset({PropertyKind.ALWAYS, PropertyKind.LEADS_TO})
"""The properties whose counterexample is about where its trace ends (or its lasso
goes round), not about the path to it: another path there shows the same."""


def _timed(steps: tuple[TraceStep, ...], elapsed: tuple[int | None, ...]) -> tuple[TraceStep, ...]:
    """The steps with the time each is taken at the latest, where it is known."""
    if not elapsed:
        return steps
    return tuple(
        dataclasses.replace(step, elapsed=at) for step, at in zip(steps, elapsed, strict=True)
    )


def _cycle_start(found: Exploration, trace: tuple[int, ...]) -> int:
    return found.found.succ[trace[-1]] if trace else 0


def too_large(spec: Spec, exceeded: Exceeded, at: Location | None = None) -> Finding:
    """The ``state-space-too-large`` finding of a bound the check ran out of, at ``at``
    (default: the first variable, or the spec)."""
    if at is None:
        at = spec.variables[0].location if spec.variables else spec.location
    return Finding(
        "state-space-too-large",
        RULES["state-space-too-large"].severity,
        exceeded.message(),
        at,
    )


@rule("state-space-too-large", Severity.ERROR, Family.DATA, example_limit=1000)
@with_examples(
    _RETRY, ("max: 2, initial: 0}", "max: 2000, initial: 0}"), ("attempts < 2", "attempts < 2000")
)
def state_space_too_large(analysis: Analysis) -> Iterator[Finding]:
    """The check ran out of one of its bounds: more reachable configurations than
    ``--max-configurations``, more edges (steps between them) than ``--max-edges``, a
    covering tour longer than ``--max-tour-steps`` or properties that need more work than
    ``--max-property-work``.

    Past the configurations or the edges the search stops, so nothing about data is
    proven: no data rule and no property reports anything more. Past the property work,
    the properties from the first one left unchecked (where the finding is) are not
    proven. Past the tour steps there are no covering paths (that finding comes with the
    tour). Otherwise the finding is at the first variable. Narrow the bounds, split the
    machine, or raise the limit (defaults: 10,000,000 configurations, 50,000,000 edges,
    1,000,000 tour steps, 200,000,000 configurations and edges visited for properties).
    The example is checked with ``--max-configurations 1000``: its counter would run to
    2000.
    """
    spec, found, checked = analysis.spec, analysis.exploration, analysis.properties
    if found is not None and found.exceeded is not None:
        yield too_large(spec, found.exceeded)
    elif checked is not None and checked.exceeded is not None and checked.unchecked is not None:
        yield too_large(spec, checked.exceeded, checked.unchecked.location)
