"""The explorer's approval gates: quorum counts and escalations in the configurations.

The compiled search is held to a reference search written here from the step kernel
directly (:func:`kernel.vote` with as many distinct actors as approvals counted,
:func:`kernel.escalation_due`), over random specs with a gate; Spin checks the Promela
model of the same specs (``tests/test_spin.py``); the counterexamples replay through the
semantics (``tests/test_explore.py``) and, for the release review, on the generated
runtime with a distinct reviewer per approval and a clock moved to each timed step.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

from datagen import data_specs
from hypothesis import event, given, settings
from test_explore import replay
from test_runtime_kit import generate

from statewright.verify.check import check_text
from statewright.verify.explore import explore
from statewright.verify.explore.gates import ESCALATE_TRIGGER
from statewright.verify.explore.properties import _escalations_due
from statewright.verify.explore.timing import Bound, Configurations, run_time, worst_case
from statewright.verify.findings import Finding, TraceStep
from statewright.verify.load import load_text
from statewright.verify.model import Spec
from statewright.verify.semantics import OutOfRange, Semantics, Values, kernel

Gate = tuple[tuple[str, int], ...]
"""The approvals counted so far on each trigger (those with one or more), sorted."""
Config = tuple[str, Values, Gate, bool]
Edge = tuple[Config, object, Config]

_T0 = datetime(2000, 1, 1, tzinfo=UTC)


def reference(spec: Spec) -> tuple[set[Config], set[Edge], dict[Config, int]]:
    """Every configuration a breadth-first search by the semantics and the step kernel
    reaches, its edges (labelled by transition number, ``("vote", n)`` for an approval
    counted on transition ``n``, ``"escalate"``) and each one's depth."""
    semantics = Semantics.of(spec)
    data = semantics.data
    number = {id(t): n for n, t in enumerate(spec.transitions)}
    start: Config = (spec.initial, data.initial, (), False)
    depth = {start: 0}
    edges: set[Edge] = set()
    queue = deque([start])
    while queue:
        config = queue.popleft()
        state, values, counted, escalated = config
        node = semantics.nodes[state]
        votes = tuple(
            kernel.Vote(f"actor{trigger}{k}", trigger)
            for trigger, count in counted
            for k in range(count)
        )
        ledger = kernel.Ledger(gate=kernel.Gate(votes, escalated))
        found: list[tuple[object, Config]] = []
        enabled = [t for t in semantics.always.get(state, ()) if data.holds(t.when, values)]
        steps = enabled[:1]
        if not enabled:
            for group in semantics.choices[state].values():
                steps += [t for t in group if data.holds(t.when, values)][:1]
        due = kernel.escalation_due(node, ledger.gate, _T0)
        deadline = node.deadline(_T0)
        escalates = due is not None and (deadline is None or due < deadline)
        for t in steps:
            if t.after is not None and escalates:
                continue  # the escalation is due first, and is recorded before it
            edge = semantics.edges[id(t)]
            if t.human and node.policy is not None:
                verdict = kernel.vote(edge, ledger, f"actor{len(votes)}")
                if verdict is kernel.Verdict.COUNT:
                    more = dict(counted)
                    more[t.trigger] = more.get(t.trigger, 0) + 1
                    gate = tuple(sorted(more.items()))
                    found.append((("vote", number[id(t)]), (state, values, gate, escalated)))
                    continue
                assert verdict is kernel.Verdict.TAKE
            try:
                after = semantics.take(t, values)
            except OutOfRange:
                continue
            found.append((number[id(t)], (t.target, after, (), False)))
        if not enabled and escalates:
            found.append(("escalate", (state, values, counted, True)))
        for label, after_config in found:
            edges.add((config, label, after_config))
            if after_config not in depth:
                depth[after_config] = depth[config] + 1
                queue.append(after_config)
    return set(depth), edges, depth


def explored(spec: Spec) -> tuple[list[Config], set[Edge]]:
    """The explorer's configurations (in its numbering) and edges, labelled as
    :func:`reference` labels them."""
    found = explore(spec, 100_000, rollback=False)
    assert found.complete
    search, gates = found.found, found.found.gates
    configs: list[Config] = []
    for i in range(len(found)):
        state, values = found.unpack(i)
        counts, escalated = found.gate(i)
        gate = tuple(sorted((t, c) for t, c in counts.items() if c))
        configs.append((state, values, gate, escalated))
    edges: set[Edge] = set()
    for i in range(len(found)):
        for e in search.edges(i):
            n = search.via[e]
            step = None if gates is None else gates.step(n)
            label: object = n
            if step is not None:
                assert step.transition is None or step.transition in spec.transitions
                label = (
                    "escalate"
                    if step.transition is None
                    else ("vote", spec.transitions.index(step.transition))
                )
            edges.add((configs[i], label, configs[search.succ[e]]))
    return configs, edges


@settings(max_examples=150, deadline=None)
@given(text=data_specs(properties=False, gates=True))
def test_the_search_counts_votes_and_escalates_as_the_kernel_says(text: str) -> None:
    spec = load_text(text).spec
    assert spec is not None
    configs, edges = explored(spec)
    wanted, wanted_edges, depth = reference(spec)
    assert len(configs) == len(set(configs))
    assert set(configs) == wanted
    assert edges == wanted_edges
    found = explore(spec, 100_000, rollback=False)
    for i, config in enumerate(configs):  # breadth-first: every trace is a shortest one
        assert len(found.path_to(i)) == depth[config]


@dataclasses.dataclass(frozen=True)
class Path_:
    """A trace to replay as a finding's (``replay`` reads ``trace``, ``cycle``, ``format``)."""

    trace: tuple[TraceStep, ...]
    cycle: tuple[TraceStep, ...] = ()

    def format(self) -> str:
        return "\n".join(map(str, self.trace))


@settings(max_examples=60, deadline=None)
@given(text=data_specs(gates=True))
def test_the_trace_to_every_configuration_replays_through_the_semantics(text: str) -> None:
    """Every configuration's trace, votes and escalations included (rollbacks too),
    is one the semantics and the kernel's policy take; and so is every finding's."""
    result = check_text(text, max_configurations=100_000)
    spec = result.spec
    assert spec is not None
    found = explore(spec, 100_000)
    gates = 0
    for i in range(len(found)):
        trace = found.trace(found.path_to(i))
        gates += any(s.approval is not None or s.widened is not None for s in trace)
        replay(spec, cast(Finding, Path_(trace)))
    for finding in result.findings:
        if finding.trace or finding.cycle:
            replay(spec, finding)
    event(f"traces through a gate's steps: {'some' if gates else 'none'}")


# -- the release review ---------------------------------------------------------------

RELEASE = Path("specs/release_review.yaml").read_text()


def with_property(text: str) -> str:
    """The release review with a variable (so that time is analysed over configurations)
    and a property that fails once a quorum is met: nothing is ever released."""
    text = text.replace(
        "initial: IDLE\n",
        "initial: IDLE\nvariables:\n  builds: {type: int, min: 0, max: 1, initial: 0}\n",
    )
    text = text.replace(
        "{from: BUILDING, to: REVIEW, trigger: build_ready}",
        "{from: BUILDING, to: REVIEW, trigger: build_ready, set: {builds: 1}}",
    )
    return text + '\nproperties:\n  never_released: {always: "state != RELEASED"}\n'


def violated(findings: tuple[Finding, ...], name: str) -> Finding:
    return next(f for f in findings if f.rule == "property-violated" and name in f.message)


def test_the_release_review_has_four_configurations_at_its_gate() -> None:
    spec = load_text(RELEASE).spec
    assert spec is not None
    found = explore(spec)
    at_gate = [found.gate(i) for i in range(len(found)) if found.unpack(i)[0] == "REVIEW"]
    assert sorted(at_gate, key=repr) == sorted(
        [({"approved": c}, e) for c in (0, 1) for e in (False, True)], key=repr
    )
    assert len(found) == 8


def test_a_trace_shows_each_approval_and_the_second_releases() -> None:
    result = check_text(with_property(RELEASE))
    failure = violated(result.findings, "never_released")
    assert [str(step) for step in failure.trace] == [
        "release_requested -> BUILDING",
        "build_ready -> REVIEW (builds=1)",
        "approved (approval 1 of 2) -> REVIEW",
        "approved -> RELEASED",
    ]
    assert failure.trace[2].as_json()["approval"] == {"count": 1, "quorum": 2}


def test_the_escalation_is_a_timed_step_in_a_trace() -> None:
    """A path through the escalation shows it, with the roles it added."""
    spec = load_text(with_property(RELEASE)).spec
    assert spec is not None
    found = explore(spec)
    escalations = [
        e
        for i in range(len(found))
        for e in found.found.edges(i)
        if found.found.transitions[found.found.via[e]].trigger == ESCALATE_TRIGGER
    ]
    assert len(escalations) == 2  # from either count
    step = found.trace(found.path_to(found.found.succ[escalations[0]]))[-1]
    assert str(step) == "escalate -> REVIEW (reviewers widened to director)"
    assert step.as_json()["widened_to"] == ["director"]


def test_a_gate_does_not_lengthen_the_worst_case_beyond_its_timeout() -> None:
    """Votes and an escalation do not restart the clock: from entering the gate to
    leaving it is at most the 72h timeout, however many steps stay in it (the same bound
    as over the states alone, where the gate is one node)."""
    spec = load_text(with_property(RELEASE)).spec
    assert spec is not None
    found = explore(spec)
    graph = Configurations(found)
    starts = list(graph.nodes_of(["REVIEW"]))
    entry = starts[0]
    bound = worst_case(graph, [entry], graph.marks({"RELEASED", "FAILED"}))
    assert bound.seconds == 72 * 3600
    inside = [i for i in starts if i != entry]
    assert inside and all(graph.rest(i) == 0 for i in inside)
    assert graph.rest(entry) == 72 * 3600
    # the whole run: the build's 2h, then the gate's 72h, then FAILED waits for ever
    assert run_time(spec, graph).seconds is None


def test_a_counted_approval_is_no_firing_for_at_most() -> None:
    text = with_property(RELEASE).replace(
        '  never_released: {always: "state != RELEASED"}\n',
        "  approved_once: {at_most: {trigger: approved, times: 1}}\n",
    )
    result = check_text(text)
    assert not [f for f in result.findings if f.rule == "property-violated"]


def clock_at(moments: list[datetime]) -> object:
    return lambda: moments[-1]


def test_the_counterexample_replays_on_the_generated_runtime(tmp_path: Path) -> None:
    """The trace through a vote and an escalation, replayed with a distinct maintainer
    per approval (none of them the requester) and the clock moved to each timed step."""
    spec = load_text(with_property(RELEASE)).spec
    assert spec is not None
    found = explore(spec)
    target = next(
        i
        for i in range(len(found))
        if found.unpack(i)[0] == "REVIEW" and found.gate(i) == ({"approved": 1}, True)
    )
    path = found.path_to(target)
    released = next(
        found.found.succ[e]
        for e in found.found.edges(target)
        if found.unpack(found.found.succ[e])[0] == "RELEASED"
    )
    edge = next(e for e in found.found.edges(target) if found.found.succ[e] == released)
    trace = found.trace([*path, edge])
    assert [str(s) for s in trace][2:] == [
        "approved (approval 1 of 2) -> REVIEW",
        "escalate -> REVIEW (reviewers widened to director)",
        "approved -> RELEASED",
    ] or [str(s) for s in trace][2:] == [
        "escalate -> REVIEW (reviewers widened to director)",
        "approved (approval 1 of 2) -> REVIEW",
        "approved -> RELEASED",
    ]
    rt = generate(dataclasses.replace(spec, properties=()), tmp_path)
    moments = [_T0]
    machine = rt.ReleaseReview(clock=clock_at(moments))
    requester = rt.Actor("rita", frozenset({"maintainer"}))
    voters = iter(["mona", "max", "mia"])
    entered = _T0
    for step in trace:
        if step.trigger == ESCALATE_TRIGGER:
            moments.append(entered + timedelta(hours=24))
            machine.expire()
            status = machine.gate_status()
            assert status is not None and status.escalated, step
        else:
            human = any(t.human for t in spec.transitions if t.trigger == step.trigger)
            actor = None
            if step.trigger == "release_requested":
                actor = requester
            elif human:
                actor = rt.Actor(next(voters), frozenset({"maintainer"}))
            status = machine.gate_status()
            digest = None if status is None else status.digest
            machine.fire(
                rt.Trigger(step.trigger),
                actor=actor,
                decision="ok" if human else None,
                digest=digest,
            )
            if step.approval is not None:
                status = machine.gate_status()
                assert status is not None and len(status.approvals) == step.approval[0]
        assert str(machine.state) == step.target, step
        if step.target == "REVIEW" and step.trigger == "build_ready":
            entered = moments[-1]
    assert str(machine.state) == "RELEASED"


def within(bound: str) -> str:
    return with_property(RELEASE).replace(
        '  never_released: {always: "state != RELEASED"}\n',
        f"  decided: {{leads_to: {{from: REVIEW, to: [RELEASED, FAILED], within: {bound}}}}}\n",
    )


def test_a_gate_is_decided_within_its_timeout_and_no_sooner() -> None:
    """``within`` over the gate's configurations: 3d holds (votes and the escalation do not
    restart the clock); 2d fails, its latest steps at 3d, an escalation at its due 1d."""
    assert not [f for f in check_text(within("3d")).findings if f.rule == "property-violated"]
    failure = violated(check_text(within("2d")).findings, "decided")
    assert "can take 3d to reach RELEASED or FAILED, past the bound 2d" in failure.message
    last = failure.trace[-1]
    assert last.elapsed == 3 * 86400
    spec = load_text(within("2d")).spec
    assert spec is not None
    found = explore(spec)
    graph = Configurations(found)
    entry = next(graph.nodes_of(["REVIEW"]))
    escalate = next(
        e
        for e in found.found.edges(entry)
        if found.found.transitions[found.found.via[e]].trigger == ESCALATE_TRIGGER
    )
    timeout = next(
        e
        for e in found.found.edges(found.found.succ[escalate])
        if found.unpack(found.found.succ[e])[0] == "FAILED"
    )
    path = (escalate, timeout)
    assert _escalations_due(found, Bound(3 * 86400, entry, path, (3 * 86400, 3 * 86400))) == (
        86400,
        3 * 86400,
    )
