"""Properties checked over every reachable configuration, each failure with its trace.

- ``always: EXPR``: the first configuration, in breadth-first order, where ``EXPR`` is
  false; its trace is a shortest one. The expression is compiled once into a scan of
  every configuration (:mod:`statewright.verify.explore.pycode`).
- ``precedence: {state: S, requires: T}``: a breadth-first search of the configurations
  paired with one bit, "T fired since the machine last left its initial state"; the
  first step into S with the bit clear ends a shortest trace.
- ``at_most: {trigger: T, times: N}``: a breadth-first search of the configurations
  paired with a count of T's firings since the machine last left its initial state (up
  to N; a step out of the initial state clears it, but a rollback never lowers it); the
  first step that makes it N + 1 ends a shortest trace.
- ``leads_to: {from: A, to: B}``: the configurations from which some run avoids B for
  ever (round a cycle, or to a configuration where no step is possible) are the
  complement of B's attractor; the nearest configuration of A among them starts the
  counterexample, a *lasso* (a trace, then a cycle) or a finite trace to its end.
  With ``within: DURATION``, the worst case from each configuration of A to B
  (:func:`statewright.verify.explore.timing.worst_case`, every rest charged up to its
  state's earliest deadline) must not pass the bound: the counterexample is the path to
  a state that can rest for ever, a cycle, or the longest path, its steps timed.

:func:`checked` checks every property of a spec once, its work counted before it is done
against the budget's ``property_work`` (:mod:`statewright.verify.explore.budget`): an ``always``
visits each configuration once, the others each configuration and edge at most twice.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from statewright.verify.explore import Exploration, graph
from statewright.verify.explore.budget import Exceeded, Meter, OverBudget
from statewright.verify.explore.pycode import Names, function, python, refs
from statewright.verify.explore.rollback import monitored_with_rollback, replayable_monitored
from statewright.verify.explore.timing import Bound, Configurations, format_duration, worst_case
from statewright.verify.model import Duration, Property, PropertyKind, VarType
from statewright.verify.semantics import Values, show_value

__all__ = ["Checked", "Counterexample", "checked", "counterexample", "names_of", "work_of"]


@dataclass(frozen=True, slots=True)
class Counterexample:
    """A property's failure: what happened, the edges of its trace and of its cycle."""

    property: Property
    message: str
    trace: tuple[int, ...]
    cycle: tuple[int, ...] = ()
    elapsed: tuple[int | None, ...] = ()
    """For a timed ``leads_to``: when each step of the trace is taken at the latest,
    counted from entering ``from`` (None before)."""


@dataclass(frozen=True, slots=True)
class Checked:
    """The failures of a spec's properties, in their order, as far as the budget went:
    ``unchecked`` is the first property it left unchecked and ``exceeded`` the bound."""

    failures: tuple[Counterexample, ...]
    unchecked: Property | None = None
    exceeded: Exceeded | None = None
    worst_cases: tuple[tuple[str, int], ...] = ()
    """Each ``leads_to ... within`` that holds, by name, with its worst case in seconds
    (what the report prints as ``name: holds, worst case 7d 2h``)."""


def work_of(found: Exploration, prop: Property) -> int:
    """How many configurations and edges checking ``prop`` visits at most."""
    size = len(found)
    if prop.kind is PropertyKind.ALWAYS:
        return size
    if prop.kind is PropertyKind.AT_MOST and prop.times is not None:
        return (prop.times + 1) * (size + len(found.found.succ))
    return 2 * (size + len(found.found.succ))


def checked(found: Exploration) -> Checked:
    """Every property of the explored spec checked, each one's work counted before it is
    done (a check keeps the result in its :class:`~statewright.verify.analysis.Analysis`)."""
    meter = Meter("property work", found.budget.property_work)
    failures: list[Counterexample] = []
    worst: list[tuple[str, int]] = []
    for prop in found.spec.properties:
        try:
            meter.spend(work_of(found, prop))
        except OverBudget as over:
            return Checked(tuple(failures), prop, over.exceeded, tuple(worst))
        if prop.kind is PropertyKind.LEADS_TO and prop.within is not None:
            failure, seconds = _timed(found, prop, prop.within)
            if failure is None and seconds is not None:
                worst.append((prop.name, seconds))
        else:
            failure = counterexample(found, prop)
        if failure is not None:
            failures.append(failure)
    return Checked(tuple(failures), worst_cases=tuple(worst))


def names_of(found: Exploration) -> Names:
    layout = found.layout
    return Names(
        {f.variable.name: f.variable for f in layout.fields},
        {f.variable.name: f"v{k}" for k, f in enumerate(layout.fields)},
        layout.number,
    )


def counterexample(found: Exploration, prop: Property) -> Counterexample | None:
    """How ``prop`` fails in the configurations ``found``, or None if it holds."""
    if prop.kind is PropertyKind.ALWAYS:
        return _always(found, prop)
    if prop.kind is PropertyKind.PRECEDENCE:
        return _precedence(found, prop)
    if prop.kind is PropertyKind.AT_MOST:
        return _at_most(found, prop)
    return _leads_to(found, prop)


def _scan_source(found: Exploration, prop: Property) -> str:
    assert prop.invariant is not None
    names = names_of(found)
    layout = found.layout
    lines = ["def scan(order):", "    for i, c in enumerate(order):"]
    lines.append(f"        s = c & {layout.state_mask}")
    for name in sorted(refs(prop.invariant.tree), key=lambda n: layout.by_name[n].offset):
        f = layout.by_name[name]
        low = f.variable.minimum if f.variable.type is VarType.INT else 0
        plus = f" + {low}" if low else ""
        lines.append(
            f"        {names.locals[name]} = ((c >> {f.offset}) & {(1 << f.width) - 1}){plus}"
        )
    lines.append(f"        if not {python(prop.invariant.tree, names)}:")
    lines.append("            return i")
    lines.append("    return -1")
    return "\n".join(lines) + "\n"


def _always(found: Exploration, prop: Property) -> Counterexample | None:
    assert prop.invariant is not None
    scan = function(_scan_source(found, prop), "scan", f"property {prop.name}")
    i = scan(found.found.order)
    if i < 0:
        return None
    state, values = found.unpack(i)
    message = (
        f"property {prop.name} fails: '{prop.invariant.text}' is false in {state}"
        f"{_with(found, values)}"
    )
    return Counterexample(prop, message, tuple(found.path_to(i)))


def _with(found: Exploration, values: Values) -> str:
    pairs = [
        f"{f.variable.name}={show_value(value)}"
        for f, value in zip(found.layout.fields, values, strict=True)
    ]
    return f" with {', '.join(pairs)}" if pairs else ""


def _precedence(found: Exploration, prop: Property) -> Counterexample | None:
    sets = _firing(found, prop.triggers)
    resets = found.marked([found.spec.initial])
    bad = found.marked(prop.states)
    carried = _rollbacks(found)
    via, succ = found.found.via, found.found.succ

    def advance(i: int, e: int, bit: int) -> int | None:
        n = via[e]
        after = sets[n] or (0 if resets[i] and not carried[n] else bit)
        return None if not after and bad[succ[e]] else after

    if found.rollbacks:  # a rollback returns the run to what had happened by then
        path = _with_rollback(found, 2, advance, restore=True)
    else:
        path = graph.monitored(found.found, resets, sets, bad)
    if path is None:
        return None
    state, _ = found.unpack(found.found.succ[path[-1]])
    required = " or ".join(prop.triggers)
    message = (
        f"property {prop.name} fails: the run enters {state} without {required} since it "
        f"last left {found.spec.initial}"
    )
    return Counterexample(prop, message, tuple(path))


def _at_most(found: Exploration, prop: Property) -> Counterexample | None:
    assert prop.times is not None
    counts = _firing(found, prop.triggers)
    resets = found.marked([found.spec.initial])
    carried = _rollbacks(found)
    via, times = found.found.via, prop.times

    def advance(i: int, e: int, count: int) -> int | None:
        n = via[e]
        after = (0 if resets[i] and not carried[n] else count) + counts[n]
        return None if after > times else after

    if found.rollbacks:
        path = _with_rollback(found, times + 1, advance)
    else:
        path = graph.counted(found.found, resets, counts, carried, times)
    if path is None:
        return None
    (trigger,) = prop.triggers
    rollback = len(found.transitions)
    through = " (through a rollback)" if rollback in {found.found.via[e] for e in path} else ""
    message = (
        f"property {prop.name} fails: {trigger} fires {prop.times + 1} times since the run "
        f"last left {found.spec.initial}{through}, more than the {prop.times} allowed"
    )
    return Counterexample(prop, message, tuple(path))


def _firing(found: Exploration, triggers: Collection[str]) -> bytes:
    """1 for each explored transition (a rollback's too, where the spec has them) on one
    of ``triggers``; an approval gate's steps are no transition taken (an approval a quorum
    counts, an escalation), and fire nothing."""
    gates = found.found.gates
    own = len(found.found.transitions) if gates is None else gates.first
    return bytes(
        1 if n < own and t.trigger in triggers else 0 for n, t in enumerate(found.found.transitions)
    )


def _rollbacks(found: Exploration) -> bytes:
    """1 for the rollback step among the explored transitions: it carries a monitor over
    (a rollback never lowers a count, nor clears a firing seen)."""
    rollback = found.found.rollback if found.rollbacks else -1
    return bytes(1 if n == rollback else 0 for n in range(len(found.found.transitions)))


def _with_rollback(
    found: Exploration,
    values: int,
    advance: Callable[[int, int, int], int | None],
    restore: bool = False,
) -> list[int] | None:
    """Where a monitor of ``values`` values fails, with rollbacks: the verdict of the
    fixpoint over configurations and monitor values
    (:func:`~statewright.verify.explore.rollback.monitored_with_rollback`), its trace one
    on which each rollback returns to a configuration visited before when a search that
    takes only such rollbacks finds one
    (:func:`~statewright.verify.explore.rollback.replayable_monitored`)."""
    keep = found.spec.rollback_keep
    path = monitored_with_rollback(found.found, found.spec, values, advance, restore)
    if path is None:
        return None
    return replayable_monitored(found.found, keep, advance, restore) or path


def _leads_to(found: Exploration, prop: Property) -> Counterexample | None:
    if prop.within is not None:
        return _within(found, prop, prop.within)
    sources = found.marked(prop.states)
    avoid = graph.avoiders(found.found, found.marked(prop.targets))
    begin = next((i for i, (a, b) in enumerate(zip(sources, avoid, strict=True)) if a and b), None)
    if begin is None:
        return None
    walked, cycle = graph.lasso(found.found, begin, avoid)
    trace = (*found.path_to(begin), *walked)
    goal = " or ".join(prop.targets)
    state, _ = found.unpack(begin)
    if cycle:
        through = list(dict.fromkeys(found.unpack(found.found.succ[e])[0] for e in cycle))
        message = (
            f"property {prop.name} fails: a run in {state} can go round "
            f"{', '.join(through)} for ever without reaching {goal}"
        )
    else:
        end = found.unpack(found.found.succ[trace[-1]])[0] if trace else state
        message = (
            f"property {prop.name} fails: a run in {state} can end in {end} without reaching {goal}"
        )
    return Counterexample(prop, message, tuple(trace), tuple(cycle))


def _within(found: Exploration, prop: Property, within: Duration) -> Counterexample | None:
    return _timed(found, prop, within)[0]


def _timed(
    found: Exploration, prop: Property, within: Duration
) -> tuple[Counterexample | None, int | None]:
    """How a ``leads_to ... within`` fails, or None; and its worst case in seconds (None:
    unbounded)."""
    graph = Configurations(found)
    starts = [i for i, marked in enumerate(found.marked(prop.states)) if marked]
    bound = worst_case(graph, starts, graph.marks(prop.targets, lazy=True))
    if bound.seconds is not None and bound.seconds <= within.seconds:
        return None, bound.seconds
    return _late(found, prop, within, graph, bound), bound.seconds


def _escalations_due(found: Exploration, bound: Bound) -> tuple[int, ...]:
    """When each step of ``bound``'s path is taken at the latest, an approval gate's
    escalation at its due time: ``escalate.after`` past the step that entered the gate
    (the gate's whole rest is charged before its first step, :class:`Configurations`)."""
    gates, via = found.found.gates, found.found.via
    if gates is None:
        return bound.elapsed
    elapsed = list(bound.elapsed)
    entered = 0
    for k, e in enumerate(bound.path):
        step = gates.step(via[e])
        if step is None:
            entered = elapsed[k]
        elif step.transition is None:
            after = gates.by_state[step.state].escalate_after
            assert after is not None
            elapsed[k] = min(elapsed[k], entered + after)
    return tuple(elapsed)


def _late(
    found: Exploration, prop: Property, within: Duration, graph: Configurations, bound: Bound
) -> Counterexample:
    """The counterexample of a ``leads_to ... within`` whose worst case ``bound`` is past
    its bound."""
    lead = found.path_to(bound.start)
    trace = (*lead, *bound.path)
    goal = " or ".join(prop.targets)
    begin = graph.state(bound.start)
    fails = f"property {prop.name} fails: a run in {begin}"
    if bound.seconds is not None:
        message = (
            f"{fails} can take {format_duration(bound.seconds)} to reach {goal}, past the "
            f"bound {within.text}"
        )
        elapsed = (*(None for _ in lead), *_escalations_due(found, bound))
        return Counterexample(prop, message, trace, elapsed=elapsed)
    if bound.forever is not None:
        there = graph.state(bound.forever)
        if graph.steps(bound.forever):
            message = (
                f"{fails} can wait in {there} for ever without reaching {goal} ({there} has "
                f"no after exit to bound it within {within.text})"
            )
        else:
            message = f"{fails} can end in {there} without reaching {goal}"
        return Counterexample(prop, message, trace)
    through = list(dict.fromkeys(graph.state(graph.succ[e]) for e in bound.cycle))
    message = f"{fails} can go round {', '.join(through)} for ever without reaching {goal}"
    return Counterexample(prop, message, trace, bound.cycle)
