"""Rollback inside the proof: ``rollback: {reviewers, keep, max}`` and ``at_most``.

The explorer's rollback steps are held to a second implementation of DESIGN.md's
definition (a plain fixpoint over the semantics, with ancestors found by backward
breadth-first searches), on random specs; the discovery pipeline proves its budgets with
``keep`` and fails ``at_most`` without it, by a trace through a rollback that the
generated runtime replays; the runtime enforces ``keep`` and ``max`` as explored.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from pathlib import Path

import pytest
from datagen import data_specs
from hypothesis import given, settings
from hypothesis import strategies as st
from test_runtime_kit import generate, load_spec

from statewright.verify.check import check_text
from statewright.verify.explore import explore
from statewright.verify.findings import Finding
from statewright.verify.load import load_text
from statewright.verify.model import Kind, Spec
from statewright.verify.semantics import OutOfRange, Semantics, Values

ROOT = Path(__file__).resolve().parent.parent
PIPELINE = ROOT / "specs" / "discovery_pipeline.yaml"

Config = tuple[str, Values, int]
"""A state, the variables and the rollbacks taken."""


# -- a second implementation of the definition -------------------------------------------


def steps(spec: Spec, state: str, values: Values) -> list[tuple[int, str, Values]]:
    """The spec's own steps from a configuration, by the semantics: (transition, state,
    values) for each, an enabled ``always`` exit alone if there is one."""
    semantics = Semantics.of(spec)
    data = semantics.data
    number = {id(t): n for n, t in enumerate(spec.transitions)}
    enabled = [t for t in semantics.always.get(state, ()) if data.holds(t.when, values)]
    if enabled:
        chosen = [enabled[0]]
    else:
        chosen = []
        for group in semantics.choices[state].values():
            holding = [t for t in group if data.holds(t.when, values)]
            if holding:
                chosen.append(holding[0])
    found = []
    for t in chosen:
        try:
            found.append((number[id(t)], t.target, semantics.take(t, values)))
        except OutOfRange:
            continue
    return found


def reference(spec: Spec) -> tuple[set[Config], set[tuple[Config, int, Config]]]:
    """Every configuration and step with rollbacks, as DESIGN.md defines them, computed
    the plain way: grow the graph until no rollback is new, each configuration's
    ancestors found by a backward breadth-first search."""
    semantics = Semantics.of(spec)
    rollback = len(spec.transitions)
    names = [v.name for v in spec.variables]
    start: Config = (spec.initial, semantics.data.initial, 0)
    rollbacks: set[tuple[Config, int, Config]] = set()
    while True:
        configs = {start}
        edges: set[tuple[Config, int, Config]] = set()
        queue = deque([start])
        while queue:
            config = queue.popleft()
            state, values, taken = config
            out = [(n, (s, v, taken)) for n, s, v in steps(spec, state, values)]
            out += [(n, b) for a, n, b in rollbacks if a == config]
            for n, after in out:
                edges.add((config, n, after))
                if after not in configs:
                    configs.add(after)
                    queue.append(after)
        into: dict[Config, set[Config]] = {c: set() for c in configs}
        for a, _, b in edges:
            into[b].add(a)
        fresh = set()
        for config in configs:
            state, values, taken = config
            if at_rest(spec, state, values) is False or spec.state(state).kind is Kind.APPROVAL:
                continue
            if spec.rollback_max is not None and taken >= spec.rollback_max:
                continue
            counted = taken + 1 if spec.rollback_max is not None else 0
            seen, frontier = {config}, [config]
            while frontier:
                for source in into[frontier.pop()]:
                    if source not in seen:
                        seen.add(source)
                        frontier.append(source)
            for back, earlier, _ in seen:
                if not at_rest(spec, back, earlier):
                    continue
                restored = tuple(
                    now if name in spec.rollback_keep else then
                    for name, now, then in zip(names, values, earlier, strict=True)
                )
                target = (back, restored, counted)
                if target != config:
                    fresh.add((config, rollback, target))
        if fresh == rollbacks:
            return configs, edges
        rollbacks = fresh


def at_rest(spec: Spec, state: str, values: Values) -> bool:
    return Semantics.of(spec).automatic_in(state, values) is None


def relation(spec: Spec) -> dict[Config, list[Config]]:
    """The rollbacks of :func:`reference`, as :func:`~statewright.verify.explore.promela.promela`
    takes them."""
    rollback = len(spec.transitions)
    found: dict[Config, list[Config]] = {}
    for before, n, after in reference(spec)[1]:
        if n == rollback:
            found.setdefault(before, []).append(after)
    return found


def explored(spec: Spec) -> tuple[set[Config], set[tuple[Config, int, Config]]]:
    found = explore(spec, 100_000)
    assert found.complete
    layout, search = found.layout, found.found

    def config(i: int) -> Config:
        state, values = found.unpack(i)
        return state, values, search.order[i] >> layout.bits

    configs = [config(i) for i in range(len(found))]
    edges = {
        (configs[i], search.via[e], configs[search.succ[e]])
        for i in range(len(found))
        for e in search.edges(i)
    }
    return set(configs), edges


@st.composite
def rollback_specs(draw: st.DrawFn, properties: bool = False, gates: bool = False) -> str:
    """A random data spec with ``rollback: {reviewers, keep, max}`` drawn (with ``gates``,
    an approval gate with a policy too)."""
    text = draw(data_specs(properties=properties, gates=gates))
    keep = draw(st.lists(st.sampled_from(["n", "m", "flag", "level"]), max_size=2, unique=True))
    most = draw(st.sampled_from([None, 1, 2]))
    parts = ["reviewers: [lead]", f"keep: [{', '.join(keep)}]"]
    if most is not None:
        parts.append(f"max: {most}")
    return text.replace("rollback: {reviewers: [lead]}", f"rollback: {{{', '.join(parts)}}}")


@settings(max_examples=60, deadline=None)
@given(text=rollback_specs())
def test_the_explorer_takes_the_rollbacks_the_definition_gives(text: str) -> None:
    spec = load_text(text).spec
    assert spec is not None
    assert explored(spec) == reference(spec)


# -- the spec format --------------------------------------------------------------------

BAD = """\
statewright: 1
machine: bad
initial: A
variables: {n: {type: int, min: 0, max: 2, initial: 0}}
states: {A: {}, B: {final: true}}
transitions:
  - {from: A, to: B, trigger: go}
rollback: {reviewers: [lead], keep: [n, count], max: 0}
properties:
  few: {at_most: {trigger: gone, times: -1}}
"""


def test_bad_rollback_and_at_most_keys_are_findings_with_their_place() -> None:
    found = {
        (f.rule, f.location.line, f.location.column): f.message for f in load_text(BAD).findings
    }
    assert found[("bad-variable", 8, 41)].startswith("'rollback' keeps 'count', which is not")
    assert "a whole number from 1, not the number 0" in found[("schema", 8, 54)]
    assert "counts trigger 'gone', which no transition has" in found[("bad-expression", 10, 28)]
    assert "from 0, not the number -1" in found[("schema", 10, 41)]


def test_the_cli_reports_a_bad_rollback_on_one_line_with_its_place(tmp_path: Path) -> None:
    result = check_text(BAD, "bad.yaml")
    lines = [f.format() for f in result.findings]
    assert any(line.startswith("bad.yaml:8:41: error[bad-variable]") for line in lines), lines


# -- the discovery pipeline -------------------------------------------------------------


def without_keep() -> str:
    text = PIPELINE.read_text()
    assert "  keep: [attempts, revisions]\n" in text
    return text.replace("  keep: [attempts, revisions]\n", "")


def violated(findings: list[Finding] | tuple[Finding, ...], name: str) -> Finding | None:
    return next(
        (f for f in findings if f.rule == "property-violated" and f" {name} " in f.message),
        None,
    )


def test_the_pipeline_proves_its_budgets_across_rollbacks() -> None:
    result = check_text(PIPELINE.read_text(), str(PIPELINE))
    assert result.ok(), [f.format() for f in result.findings]
    kinds = {p.name: p.kind for p in result.spec.properties} if result.spec else {}
    assert kinds["two_revisions_at_most"].value == "at_most"


def test_without_keep_the_pipeline_fails_at_most_through_a_rollback() -> None:
    result = check_text(without_keep(), "specs/discovery_pipeline.yaml")
    failure = violated(result.findings, "two_revisions_at_most")
    assert failure is not None, [f.format() for f in result.findings]
    shown = [str(step) for step in failure.trace]
    assert any(step.startswith("rollback -> WAITING_ARCHITECTURE_APPROVAL") for step in shown)
    assert [s.trigger for s in failure.trace].count("revision_requested") == 3


def test_the_counterexample_replays_on_the_generated_runtime(tmp_path: Path) -> None:
    spec = load_text(without_keep()).spec
    assert spec is not None
    result = check_text(without_keep(), "specs/discovery_pipeline.yaml")
    failure = violated(result.findings, "two_revisions_at_most")
    assert failure is not None
    rt = generate(dataclasses.replace(spec, properties=()), tmp_path)
    machine = rt.DiscoveryPipeline()
    roles = {"product_owner", "architect", "on_call"}
    actor = rt.Actor("tester", frozenset(roles))
    revisions = 0
    trace = failure.trace
    for k, step in enumerate(trace):
        if step.trigger == "rollback":
            assert step.rollback_to is not None
            machine.rollback(step.rollback_to + 1, actor=actor, decision="back")
        elif step.trigger == "always":
            continue  # the runtime follows an always exit at once
        else:
            trigger = rt.Trigger(step.trigger)
            human = any(t.human for t in spec.transitions if t.trigger == step.trigger)
            machine.fire(trigger, actor=actor if human else None, decision="ok" if human else None)
        revisions += step.trigger == "revision_requested"
        if k + 1 < len(trace) and trace[k + 1].trigger == "always":
            continue  # taken already, with the record of the step after
        assert str(machine.state) == step.target, step
        assert machine.variables.revisions == dict(step.variables)["revisions"], step
    assert revisions == 3


# -- the runtime ------------------------------------------------------------------------

KEPT = """\
statewright: 1
machine: drafting
initial: DRAFT
variables:
  revisions: {type: int, min: 0, max: 9, initial: 0}
  words: {type: int, min: 0, max: 9, initial: 0}
states: {DRAFT: {}, DONE: {final: true}}
rollback: {reviewers: [editor], keep: [revisions], max: 3}
transitions:
  - from: DRAFT
    to: DRAFT
    trigger: revise
    when: revisions < 9
    set: {revisions: revisions + 1, words: 5}
  - {from: DRAFT, to: DONE, trigger: publish}
"""


def test_the_runtime_keeps_what_the_spec_keeps_and_refuses_the_fourth(tmp_path: Path) -> None:
    rt = generate(load_spec(KEPT), tmp_path)
    machine = rt.Drafting()
    editor = rt.Actor("ed", frozenset({"editor"}))
    machine.fire(rt.Trigger.REVISE)
    machine.fire(rt.Trigger.REVISE)
    assert (machine.variables.revisions, machine.variables.words) == (2, 5)
    machine.rollback(1, actor=editor, decision="start over")
    assert (machine.variables.revisions, machine.variables.words) == (2, 0)
    record = machine.audit[-1]
    assert record.data == {"kept": {"revisions": 2}}
    assert record.variables == {"revisions": 2, "words": 0}
    machine.rollback(2, actor=editor, decision="again")
    machine.rollback(1, actor=editor, decision="and again")
    before = machine.audit
    with pytest.raises(rt.RollbackLimit, match="allows 3 rollbacks per run"):
        machine.rollback(1, actor=editor, decision="once more")
    assert machine.audit == before
    again = rt.Drafting.replay(machine.audit)
    assert (again.state, again.variables) == (machine.state, machine.variables)


def test_a_replayed_rollback_must_say_what_it_kept(tmp_path: Path) -> None:
    rt = generate(load_spec(KEPT), tmp_path)
    machine = rt.Drafting()
    machine.fire(rt.Trigger.REVISE)
    machine.rollback(1, actor=rt.Actor("ed", frozenset({"editor"})), decision="back")
    forged = [*machine.audit[:-1], machine.audit[-1]._replace(data=None)]
    with pytest.raises(rt.InvalidTransition, match="kept"):
        rt.Drafting.replay(forged)
    restored = [
        *machine.audit[:-1],
        machine.audit[-1]._replace(variables={"revisions": 0, "words": 0}),
    ]
    with pytest.raises(rt.InvalidTransition):
        rt.Drafting.replay(restored)


# -- audit check ------------------------------------------------------------------------


def test_audit_check_counts_at_most_and_rollbacks_over_a_recorded_run() -> None:
    from test_audit_check import check

    text = KEPT.replace("initial: DRAFT", "initial: IDLE").replace(
        "states: {DRAFT: {}", "states: {IDLE: {}, DRAFT: {}"
    )
    text = text.replace(
        "transitions:\n", "transitions:\n  - {from: IDLE, to: DRAFT, trigger: begin}\n"
    )
    text += "properties:\n  two_rounds: {at_most: {trigger: revise, times: 2}}\n"
    spec = load_text(text, "specs/drafting.yaml").spec
    assert spec is not None
    at = "2026-12-03T10:00:00+00:00"
    lines: list[dict[str, object]] = [
        {
            "seq": 0,
            "event": "created",
            "at": at,
            "state": "IDLE",
            "variables": {"revisions": 0, "words": 0},
        },
        {"seq": 1, "at": at, "trigger": "begin", "to": "DRAFT"},
    ]

    def revise(revisions: int) -> None:
        lines.append(
            {
                "seq": len(lines),
                "at": at,
                "trigger": "revise",
                "to": "DRAFT",
                "variables": {"revisions": revisions, "words": 5},
            }
        )

    def back(revisions: int) -> None:
        lines.append(
            {
                "seq": len(lines),
                "event": "rollback",
                "at": at,
                "to": "DRAFT",
                "rollback_to": 1,
                "actor": "ed",
                "roles": ["editor"],
                "decision": "undo",
                "variables": {"revisions": revisions, "words": 0},
            }
        )

    revise(1)
    back(1)  # revisions kept
    revise(2)
    assert check(spec, lines) == []
    back(2)
    revise(3)  # the third round: a count over the log, which the rollbacks did not lower
    back(3)
    back(3)  # the fourth rollback, beyond max: 3
    found = check(spec, lines)
    rules = [rule for rule, _ in found]
    assert rules.count("run-property") == 1 and "revise fires 3 times" in found[0][1]
    assert any(rule == "run-rollback" and "allows 3" in m for rule, m in found), found
    assert check(spec, lines[:4]) == []
    restored = {**lines[3], "variables": {"revisions": 0, "words": 0}}  # not kept
    assert check(spec, [*lines[:3], restored])
