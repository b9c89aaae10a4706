"""The explorer: generated search code held to the one semantics, on random specs.

The configuration graph the compiled search finds (every configuration, every step, the
stuck ones, the nondeterministic and out-of-range steps) must be exactly the one a plain
breadth-first search over :mod:`statewright.verify.semantics` finds; compiled expressions must
compute what :func:`statewright.verify.semantics.evaluate` computes; and every counterexample a
finding carries must replay through :class:`statewright.verify.semantics.Run` to where it claims.
"""

from __future__ import annotations

import dataclasses
import doctest
from collections import deque

from datagen import data_specs, expressions
from hypothesis import given, settings
from hypothesis import strategies as st

import statewright.verify.explore
import statewright.verify.explore.layout
import statewright.verify.explore.pycode
from statewright.verify.check import check_text
from statewright.verify.explore import explore
from statewright.verify.explore.layout import Layout
from statewright.verify.explore.pycode import Names, function, python, refs
from statewright.verify.findings import Finding, TraceStep
from statewright.verify.load import load_text
from statewright.verify.load.exprcheck import Scope, condition
from statewright.verify.model import Spec, VarType
from statewright.verify.semantics import OutOfRange, Semantics, Values, evaluate

Config = tuple[str, Values]


def loaded(text: str) -> Spec:
    result = load_text(text)
    assert result.spec is not None, [f.format() for f in result.findings]
    return result.spec


def test_the_modules_examples_run() -> None:
    for module in (
        statewright.verify.explore,
        statewright.verify.explore.layout,
        statewright.verify.explore.pycode,
    ):
        failed, tried = doctest.testmod(module)
        assert tried > 0 and failed == 0, module.__name__


class Reference:
    """A plain breadth-first search over the semantics: what the explorer must find."""

    def __init__(self, spec: Spec) -> None:
        semantics = Semantics.of(spec)
        data = semantics.data
        number = {id(t): n for n, t in enumerate(spec.transitions)}
        start: Config = (spec.initial, data.initial)
        self.depth: dict[Config, int] = {start: 0}
        self.edges: set[tuple[Config, int, Config]] = set()
        self.stuck: set[Config] = set()
        self.nondet: set[tuple[int, int]] = set()
        self.out: set[int] = set()
        queue = deque([start])
        while queue:
            config = queue.popleft()
            state, values = config
            enabled = [t for t in semantics.always.get(state, ()) if data.holds(t.when, values)]
            groups = [enabled] if enabled else []
            if not enabled:
                groups = [
                    [t for t in group if data.holds(t.when, values)]
                    for group in semantics.choices[state].values()
                ]
            steps = [group[0] for group in groups if group]
            for group in groups:
                self.nondet.update((number[id(group[0])], number[id(b)]) for b in group[1:])
            exits = [t for t in spec.transitions if t.source == state]
            if exits and not steps and not spec.state(state).final:
                self.stuck.add(config)
            for t in steps:
                try:
                    after: Config = (t.target, semantics.take(t, values))
                except OutOfRange:
                    self.out.add(number[id(t)])
                    continue
                self.edges.add((config, number[id(t)], after))
                if after not in self.depth:
                    self.depth[after] = self.depth[config] + 1
                    queue.append(after)


@settings(max_examples=120, deadline=None)
@given(text=data_specs(properties=False))
def test_the_compiled_search_finds_what_the_semantics_says(text: str) -> None:
    spec = loaded(text)
    reference = Reference(spec)
    found = explore(spec, 100_000, rollback=False)
    assert found.complete
    configs = [found.unpack(i) for i in range(len(found))]
    assert set(configs) == set(reference.depth)
    assert len(configs) == len(reference.depth)
    search = found.found
    edges = {
        (configs[i], search.via[e], configs[search.succ[e]])
        for i in range(len(found))
        for e in search.edges(i)
    }
    assert edges == reference.edges
    assert {configs[i] for i in search.stuck} == reference.stuck
    assert set(search.nondet) == reference.nondet
    assert set(search.out) == reference.out
    for i, config in enumerate(configs):  # breadth-first: every trace is a shortest one
        assert len(found.path_to(i)) == reference.depth[config]


VARIABLES = """\
statewright: 1
machine: values
initial: A
variables:
  n: {type: int, min: 0, max: 3, initial: 0}
  m: {type: int, min: -2, max: 2, initial: 0}
  flag: {type: bool, initial: false}
  level: {type: enum, values: [low, mid, high], initial: low}
states: {A: {}, B: {}, C: {}, D: {}, E: {}}
transitions: []
"""


@settings(max_examples=300, deadline=None)
@given(text=expressions(("A", "B", "C")), data=st.data())
def test_compiled_expressions_compute_what_the_semantics_evaluates(
    text: str, data: st.DataObject
) -> None:
    spec = loaded(VARIABLES)
    scope = Scope({v.name: v for v in spec.variables}, spec.state_names)
    tree = condition(text, scope)
    layout = Layout(spec.state_names, spec.variables)
    state = data.draw(st.sampled_from(spec.state_names))
    values = tuple(data.draw(st.sampled_from(v.domain)) for v in spec.variables)
    names = Names(
        {v.name: v for v in spec.variables},
        {f.variable.name: f"v{k}" for k, f in enumerate(layout.fields)},
        layout.number,
    )
    lines = ["def check(c):", f"    s = c & {layout.state_mask}"]
    for name in refs(tree):
        f = layout.by_name[name]
        low = f.variable.minimum if f.variable.type is VarType.INT else 0
        mask = (1 << f.width) - 1
        lines.append(f"    {names.locals[name]} = ((c >> {f.offset}) & {mask}) + {low}")
    lines.append(f"    return bool({python(tree, names)})")
    compiled = function("\n".join(lines) + "\n", "check", "test")
    named = dict(zip([v.name for v in spec.variables], values, strict=True))
    expected = evaluate(tree, named, state)
    assert compiled(layout.pack(state, values)) is expected


def replay(spec: Spec, finding: Finding) -> list[Config]:
    """Walk a finding's trace (then its cycle) by the semantics, step by step: each step
    must be the one the semantics takes there (an enabled ``always`` exit first, else the
    transition its trigger takes, or the timed exit), to the state and values it claims.
    Returns the configurations after each step."""
    semantics = Semantics.of(spec)
    state, values = spec.initial, semantics.data.initial
    visited: list[Config] = []
    shown = [(s.target, tuple(v for _, v in s.variables)) for s in (*finding.trace, *finding.cycle)]
    counted: dict[str, int] = {}  # at an approval gate: the approvals counted on each trigger
    escalated = False
    for at, step in enumerate((*finding.trace, *finding.cycle)):
        policy = semantics.nodes[state].policy
        if step.approval is not None or step.widened is not None:  # the gate stays
            assert policy is not None and semantics.automatic_in(state, values) is None, step
            if step.widened is not None:
                assert policy.escalate_after is not None and not escalated, step
                assert step.widened == tuple(sorted(policy.escalate_to)), step
                escalated = True
            else:
                taken = semantics.candidates(state, step.trigger, values)
                assert taken is not None and taken.human, step
                counted[step.trigger] = counted.get(step.trigger, 0) + 1
                assert step.approval == (counted[step.trigger], policy.quorum), step
                assert counted[step.trigger] < policy.quorum, step
            assert (state, values) == (step.target, tuple(v for _, v in step.variables)), step
            visited.append((state, values))
            continue
        if step.trigger == "rollback" and spec.rollback is not None:
            history = [(spec.initial, semantics.data.initial), *visited]
            if step.rollback_to is None and at >= len(finding.trace):
                # in a lasso's cycle: a target first shown later in the round is in the
                # history of the next round
                history.append(next(c for c in shown if same_restored(spec, c, shown[at])))
                step = dataclasses.replace(step, rollback_to=len(history) - 1)
            state, values = rolled_back(spec, history, step)
            visited.append((state, values))
            counted, escalated = {}, False
            continue
        taken = semantics.automatic_in(state, values)
        if taken is None:
            taken = semantics.candidates(state, step.trigger, values)
        assert taken is not None and taken.trigger == step.trigger, (step, finding.format())
        target = semantics.nodes[taken.target]
        if policy is not None and taken.human and not target.failed:  # the quorum is met
            assert counted.get(taken.trigger, 0) == policy.quorum - 1, step
        counted, escalated = {}, False
        values = semantics.take(taken, values)
        state = taken.target
        assert (state, values) == (step.target, tuple(v for _, v in step.variables)), step
        visited.append((state, values))
    return visited


def same_restored(spec: Spec, a: Config, b: Config) -> bool:
    """Whether a rollback to ``a`` restores ``b`` (same state, same values not kept)."""
    kept = [v.name in spec.rollback_keep for v in spec.variables]
    return a[0] == b[0] and all(keep or x == y for keep, x, y in zip(kept, a[1], b[1], strict=True))


def rolled_back(spec: Spec, history: list[Config], step: TraceStep) -> Config:
    """A rollback step of a trace, checked as the runtime takes it: out of a state at rest
    that is not an approval, back to the earlier step it names (at rest too), the kept
    variables carried over."""
    semantics = Semantics.of(spec)
    state, values = history[-1]
    assert not spec.state(state).is_approval and semantics.automatic_in(state, values) is None
    assert step.rollback_to is not None, step
    back, earlier = history[step.rollback_to]
    assert semantics.automatic_in(back, earlier) is None
    names = [v.name for v in spec.variables]
    restored = tuple(
        now if name in spec.rollback_keep else then
        for name, now, then in zip(names, values, earlier, strict=True)
    )
    assert (back, restored) == (step.target, tuple(v for _, v in step.variables)), step
    return back, restored


@settings(max_examples=80, deadline=None)
@given(text=data_specs())
def test_every_counterexample_replays_through_the_semantics(text: str) -> None:
    result = check_text(text, max_configurations=100_000)
    spec = result.spec
    assert spec is not None
    semantics = Semantics.of(spec)
    for finding in result.findings:
        if not (finding.trace or finding.cycle):
            continue
        visited = replay(spec, finding)
        state, values = visited[-1] if visited else (spec.initial, semantics.data.initial)
        if finding.cycle:  # a lasso comes back to where its cycle starts
            start = len(finding.trace)
            before = visited[start - 1] if start else (spec.initial, semantics.data.initial)
            assert visited[-1] == before
        if finding.rule == "stuck":
            assert not semantics.steps_in(state, values) and not semantics.automatic_in(
                state, values
            )
