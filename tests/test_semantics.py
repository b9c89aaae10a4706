"""The one semantics of a spec (statewright.verify.semantics), and the runtime engine held to it.

The engine is property-tested against :class:`statewright.verify.semantics.Run` on random specs:
both run the same random trigger sequences, clock moves and actors, and must agree at every
step on the outcome, the state, the log and the deadline.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from datagen import TRIGGERS as DATA_TRIGGERS
from datagen import data_specs
from hypothesis import assume, find, given, settings
from hypothesis import strategies as st
from test_explore_gates import explored as explored_edges
from test_runtime_kit import Clock, generate

from statewright.verify.check import check_text
from statewright.verify.load import load_file
from statewright.verify.model import Spec, Transition
from statewright.verify.semantics import (
    AlwaysCycle,
    Outcome,
    Run,
    Semantics,
    Values,
    evaluate,
    kernel,
)

ROOT = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 1, tzinfo=UTC)


def spec_of(name: str) -> Spec:
    result = load_file(ROOT / "specs" / f"{name}.yaml")
    assert result.spec is not None, result.findings
    return result.spec


def loaded(text: str) -> Spec:
    result = check_text(text)
    assert result.spec is not None, [f.format() for f in result.findings]
    return result.spec


def test_a_run_follows_always_transitions_and_records_them() -> None:
    run = Run(Semantics.of(spec_of("discovery_pipeline")), START)
    run.fire("discovery_requested", None, None, START)
    assert run.fire("scout_succeeded", None, None, START) is Outcome.ACCEPTED
    assert run.state == "WAITING_REQUIREMENT_APPROVAL"
    assert [(e.source, e.trigger, e.target) for e in run.log[-2:]] == [
        ("SCOUT_RUNNING", "scout_succeeded", "SCOUT_COMPLETE"),
        ("SCOUT_COMPLETE", "always", "WAITING_REQUIREMENT_APPROVAL"),
    ]


def test_a_run_keeps_its_data_and_guards_choose() -> None:
    semantics = Semantics.of(spec_of("discovery_pipeline"))
    run = Run(semantics, START)
    run.fire("discovery_requested", None, None, START)
    for attempt in (1, 2, 3):
        assert run.fire("agent_error", None, None, START) is Outcome.ACCEPTED
        assert run.state == "SCOUT_FAILED"
        assert run.fire("retry_stage", ("on_call",), "olu", START) is Outcome.ACCEPTED
        assert semantics.data.scope(run.values)["attempts"] == attempt
    run.fire("agent_error", None, None, START)
    assert run.state == "FAILED"  # the fourth failure: retries exhausted, left at once
    assert run.log[-1].trigger == "always" and run.log[-1].transition is not None
    assert run.log[-1].transition.reason == "RETRIES_EXHAUSTED"
    assert run.outcome("retry_stage", ("on_call",), START) is Outcome.UNDECLARED


def test_a_run_refuses_and_times_out() -> None:
    run = Run(Semantics.of(spec_of("orchestrator")), START)
    assert run.fire("gate_reached", None, None, START) is Outcome.UNDECLARED
    assert run.deadline is None and run.log == []
    run.fire("task_received", None, None, START)
    run.fire("gate_reached", None, None, START)
    assert run.deadline == START + timedelta(hours=72)
    assert run.outcome("human_approved", ("on_call",), START) is Outcome.UNAUTHORISED
    assert run.outcome("human_approved", None, START) is Outcome.UNAUTHORISED
    assert run.outcome("human_approved", ("tech_lead",), START) is Outcome.ACCEPTED
    assert run.outcome("approval_timeout", None, START) is Outcome.UNDECLARED  # not due
    assert run.expire(START + timedelta(hours=72, seconds=-1)) is None
    assert run.state == "WAITING_FOR_APPROVAL"
    late = START + timedelta(hours=72)
    assert run.outcome("approval_timeout", None, late) is Outcome.ACCEPTED  # due: by name too
    timed = run.expire(late)
    assert timed is not None and timed.trigger == "approval_timeout"
    assert run.state == "FAILED" and run.deadline is None


TWO_TIMERS = """\
statewright: 1
machine: timers
initial: WAIT
states:
  WAIT: {}
  SOON: {final: true}
  LATE: {final: true}
  NEXT: {final: true}
transitions:
  - {from: WAIT, to: LATE, trigger: late, after: 2h}
  - {from: WAIT, to: SOON, trigger: soon, after: 30m}
  - {from: WAIT, to: NEXT, trigger: go}
  - {from: WAIT, to: LATE, trigger: go}
"""


def test_the_shortest_timer_leads_and_the_first_declared_exit_wins() -> None:
    semantics = Semantics.of(loaded(TWO_TIMERS))
    assert [t.trigger for t in semantics.timed["WAIT"]] == ["soon", "late"]
    assert semantics.timed_exit("WAIT") is not None
    assert semantics.candidates("WAIT", "go") == semantics.spec.transitions[2]
    assert [t.trigger for t in semantics.steps["WAIT"]] == ["soon", "go"]
    run = Run(semantics, START)
    assert run.deadline == START + timedelta(minutes=30)
    assert run.outcome("late", None, START + timedelta(hours=3)) is Outcome.UNDECLARED


def test_an_always_cycle_never_settles() -> None:
    spec = loaded(
        """\
statewright: 1
machine: spin
initial: A
states: {A: {}, B: {}}
transitions:
  - {from: A, to: B, trigger: always}
  - {from: B, to: A, trigger: always}
"""
    )
    semantics = Semantics.of(spec)
    assert semantics.settle("A") is None
    with pytest.raises(AlwaysCycle):
        semantics.chain("A")
    assert semantics.arrivals() == {}


def test_arrivals_reach_every_resting_state_by_a_shortest_path() -> None:
    semantics = Semantics.of(spec_of("discovery_pipeline"))
    found = semantics.arrivals()
    assert next(iter(found.items())) == ("IDLE", ())
    assert found["WAITING_REQUIREMENT_APPROVAL"] == ("discovery_requested", "scout_succeeded")
    assert "SCOUT_COMPLETE" not in found  # left at once by its always exit
    assert found["SCOUT_FAILED"] == ("discovery_requested", "agent_error")
    assert semantics.waits() == (
        60,
        1800,
        3599,
        3600,
        7199,
        7200,
        14399,
        14400,
        28799,
        43200,
        86399,
        129600,
        259199,
    )


# -- the engine against the semantics, on random specs ---------------------------------

NAMES = ("A", "B", "C", "D", "E")
TRIGGERS = ("go", "back", "stop", "always")


@st.composite
def specs(draw: st.DrawFn) -> str:
    """A random spec over a few states: plain, human, timed and automatic transitions."""
    count = draw(st.integers(min_value=2, max_value=len(NAMES)))
    names = NAMES[:count]
    lines = [
        "statewright: 1",
        "machine: random_machine",
        "initial: A",
        "states:",
        *(f"  {name}: {{reviewers: [lead]}}" for name in names),
        "transitions:",
    ]
    automatic: set[str] = set()
    for _ in range(draw(st.integers(min_value=1, max_value=9))):
        source, target = draw(st.sampled_from(names)), draw(st.sampled_from(names))
        trigger = draw(st.sampled_from(TRIGGERS))
        if trigger == "always":
            if source in automatic or source == target:
                continue
            automatic.add(source)
            lines.append(f"  - {{from: {source}, to: {target}, trigger: always}}")
            continue
        extra = draw(st.sampled_from(["", ", human: true", ", after: 1h", ", after: 30m"]))
        lines.append(f"  - {{from: {source}, to: {target}, trigger: {trigger}{extra}}}")
    return "\n".join(lines) + "\n"


Step = tuple[str, str | None, int]


@settings(max_examples=60, deadline=None)
@given(
    text=specs(),
    steps=st.lists(
        st.tuples(
            st.sampled_from(("fire", "expire")),
            st.sampled_from(TRIGGERS[:3]),
            st.sampled_from((0, 600, 1800, 3600)),
        ),
        max_size=12,
    ),
)
def test_the_engine_runs_random_specs_by_the_semantics(
    text: str, steps: list[Step], tmp_path_factory: pytest.TempPathFactory
) -> None:
    result = check_text(text)
    assert result.spec is not None
    semantics = Semantics.of(result.spec)
    assume(all(semantics.settle(state) is not None for state in semantics.steps))
    rt = generate(result.spec, tmp_path_factory.getbasetemp() / "semantics")
    clock = Clock(START)
    machine = rt.RandomMachine(clock=clock)
    run = Run(semantics, START)
    lead = rt.Actor("lead-1", frozenset({"lead"}))
    declared = {str(trigger) for trigger in rt.Trigger}
    for action, trigger, seconds in steps:
        clock.advance(seconds=seconds)
        now = clock.now
        if action == "expire":
            machine.expire()
            run.expire(now)
        elif trigger in declared:
            run.overdue(now, trigger)  # a late trigger finds the timed exit taken first
            expected = run.outcome(trigger, ("lead",), now)
            taken = semantics.candidates(run.state, trigger)
            decision = "ok" if taken is not None and taken.human else None
            try:
                machine.fire(rt.Trigger(trigger), actor=lead, decision=decision)
                got = Outcome.ACCEPTED
            except rt.InvalidTransition:
                got = Outcome.UNDECLARED
            assert got is expected, (trigger, run.state)
            if expected is Outcome.ACCEPTED:
                run.fire(trigger, ("lead",), "lead-1", now)
        transitions = [
            (r.from_state, r.trigger, r.to_state) for r in machine.audit if r.trigger is not None
        ]
        assert transitions == [(e.source, e.trigger, e.target) for e in run.log]
        assert machine.state == run.state
        assert machine.deadline == run.deadline


def test_the_random_specs_reach_every_kind_of_transition() -> None:
    """The strategy above draws human, timed and automatic transitions together (so the
    property cannot pass by drawing only plain specs)."""
    found = find(specs(), lambda text: all(kind in text for kind in ("human", "after", "always")))
    assert "always" in found


# -- with data: guards, effects and variables -------------------------------------------


GATE_EVENTS = (kernel.APPROVAL_EVENT, kernel.ESCALATION_EVENT, kernel.BOUND_EVENT)


@settings(max_examples=60, deadline=None)
@given(
    text=st.one_of(data_specs(properties=False), data_specs(properties=False, gates=True)),
    steps=st.lists(
        st.tuples(
            st.sampled_from(("fire", "fire", "expire", "rollback", "replay")),
            st.sampled_from(DATA_TRIGGERS),
            st.sampled_from((0, 600, 1800, 3600)),
        ),
        max_size=14,
    ),
)
def test_the_engine_runs_random_specs_with_data_by_the_semantics(
    text: str, steps: list[Step], tmp_path_factory: pytest.TempPathFactory
) -> None:
    result = check_text(text)
    assert result.spec is not None
    unrunnable = {"always-cycle", "out-of-range", "nondeterministic"}  # never generated
    assume(not {f.rule for f in result.findings} & unrunnable)
    spec = result.spec
    semantics = Semantics.of(spec)
    data = semantics.data
    # the explorer's configurations, approval gates' counts and escalation included: the
    # run never leaves them (an escalation due only after the timeout it leaves out)
    explored = None
    if "escalation-after-timeout" not in {f.rule for f in result.findings}:
        explored = set(explored_configurations(spec))
    rt = generate(spec, tmp_path_factory.getbasetemp() / "semantics-data")
    clock = Clock(START)
    machine = rt.RandomMachine(clock=clock)
    run = Run(semantics, START)
    declared = {str(trigger) for trigger in rt.Trigger}
    history: list[tuple[int, str, Values]] = [(len(machine.audit), run.state, run.values)]
    for action, trigger, seconds in steps:
        clock.advance(seconds=seconds)
        now = clock.now
        if action == "expire":
            machine.expire()
            run.expire(now)
        elif action == "replay":
            again = rt.RandomMachine.replay(machine.audit, clock=clock)
            assert (again.state, again.variables, again.audit) == (
                machine.state,
                machine.variables,
                machine.audit,
            )
        elif action == "rollback":
            if spec.state(run.state).is_approval:
                continue  # refused at a gate (tests/test_rollback.py)
            seq, state, values = history[seconds // 600 % len(history)]
            machine.rollback(seq, actor=rt.Actor("on-call", frozenset({"lead"})), decision="back")
            run.overdue(now)  # as a late trigger does, a rollback finds the timed exit taken
            run.restore(state, now, values)
        elif trigger in declared:
            run.overdue(now, trigger)
            voter = f"lead-{len(run.log)}"  # a quorum counts distinct reviewers
            expected = run.outcome(trigger, ("lead",), now, voter)
            taken = run.candidate(trigger)
            decision = "ok" if taken is not None and taken.human else None
            actor = rt.Actor(voter, frozenset({"lead"}))
            try:
                machine.fire(rt.Trigger(trigger), actor=actor, decision=decision)
                got = Outcome.ACCEPTED
            except rt.InvalidTransition as refusal:
                got = Outcome.BLOCKED if "is blocked" in str(refusal) else Outcome.UNDECLARED
            assert got is expected, (trigger, run.state, run.values)
            if expected is Outcome.ACCEPTED:
                run.fire(trigger, ("lead",), voter, now)
        transitions = [  # a gate's own records too: an approval counted, the escalation
            (r.from_state, r.trigger or str(r.event), r.to_state)
            for r in machine.audit
            if r.trigger is not None or str(r.event) in GATE_EVENTS
        ]
        assert transitions == [(e.source, e.trigger, e.target) for e in run.log]
        assert machine.state == run.state
        assert dataclasses.asdict(machine.variables) == data.scope(run.values)
        assert machine.deadline == run.deadline
        gate = run.ledger.gate
        status = machine.gate_status()
        if status is not None:  # an escalation due counts as done before it is recorded
            due = kernel.escalation_due(semantics.nodes[run.state], gate, run.entered_at)
            escalated = gate.escalated or (due is not None and due <= now)
            assert (len(status.approvals), status.escalated) == (len(gate.votes), escalated)
        counted = tuple(sorted(collections.Counter(v.trigger for v in gate.votes).items()))
        if explored is not None:
            assert (run.state, run.values, counted, gate.escalated) in explored
        history.append((len(machine.audit), run.state, run.values))


def explored_configurations(spec: Spec) -> Sequence[tuple[object, ...]]:
    """The explorer's configurations: state, values, the approvals a gate counted on each
    trigger (sorted, those with one or more), whether it escalated."""
    return explored_edges(spec)[0]


# -- the step kernel: one, and right ------------------------------------------------------


def oracle_takes(spec: Spec, state: str, trigger: str, values: Values) -> Transition | None:
    """The transition ``trigger`` fired by name takes, read off the spec's list as the
    rules say it in words (a second implementation, sharing nothing with the kernel's
    tables): the first declared exit of ``state`` on ``trigger`` whose guard holds, where
    a timed exit counts only if it is the state's shortest (the first among equals)."""
    scope = dict(zip((v.name for v in spec.variables), values, strict=True))
    timers = [t for t in spec.transitions if t.source == state and t.after is not None]
    leading = min(timers, key=lambda t: t.after.seconds if t.after else 0, default=None)
    for t in spec.transitions:
        if t.source != state or t.trigger != trigger or t.trigger == "always":
            continue
        if t.after is not None and t is not leading:
            continue
        if t.when is None or evaluate(t.when.tree, scope) is True:
            return t
    return None


def oracle_always(spec: Spec, state: str, values: Values) -> Transition | None:
    """The ``always`` exit entering ``state`` takes: the first declared whose guard holds."""
    scope = dict(zip((v.name for v in spec.variables), values, strict=True))
    for t in spec.transitions:
        holds = t.when is None or evaluate(t.when.tree, scope) is True
        if t.source == state and t.trigger == "always" and holds:
            return t
    return None


@settings(max_examples=60, deadline=None)
@given(text=st.one_of(data_specs(properties=False), specs()))
def test_the_kernel_chooses_as_the_rules_read(text: str) -> None:
    """In every configuration of a random spec, the transition each trigger takes, the
    ``always`` exit and the deadline are what the plain reading of the rules gives."""
    result = check_text(text)
    assert result.spec is not None
    spec = result.spec
    semantics = Semantics.of(spec)
    triggers = sorted({t.trigger for t in spec.transitions} - {"always"})
    domains = [v.domain for v in spec.variables]
    for state in semantics.steps:
        for values in itertools.product(*domains):
            for trigger in triggers:
                expected = oracle_takes(spec, state, trigger, values)
                assert semantics.candidates(state, trigger, values) is expected
            assert semantics.automatic_in(state, values) is oracle_always(spec, state, values)
        timers = [t.after.seconds for t in spec.transitions if t.source == state and t.after]
        wait = timedelta(seconds=min(timers)) if timers else None
        deadline = semantics.nodes[state].deadline(START)
        assert deadline == (None if wait is None else START + wait)


def test_the_checker_and_the_runtime_step_by_one_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The generated runtime's engine and the checker's semantics each choose a guarded
    transition by calling the kernel's ``choose``: the same file, copied verbatim."""
    spec = spec_of("discovery_pipeline")
    rt = generate(spec, tmp_path)
    copied = sys.modules[f"{rt.__name__.split('.')[0]}._statewright.kernel"]
    assert copied is not kernel and copied.__file__ is not None and kernel.__file__ is not None
    original = Path(kernel.__file__).read_text(encoding="utf-8")
    assert Path(copied.__file__).read_text(encoding="utf-8").split("\n", 1)[1] == original
    asked: list[str] = []
    for module, side in ((copied, "runtime"), (kernel, "checker")):
        choose = module.choose

        def counted(
            first: object, values: object, side: str = side, choose: object = choose
        ) -> object:
            asked.append(side)
            return choose(first, values)  # type: ignore[operator]

        monkeypatch.setattr(module, "choose", counted)
    on_call = rt.Actor("olu", frozenset({"on_call"}))
    machine = rt.DiscoveryPipeline()
    machine.fire(rt.Trigger.DISCOVERY_REQUESTED)
    machine.fire(rt.Trigger.AGENT_ERROR)
    machine.fire(rt.Trigger.RETRY_STAGE, actor=on_call, decision="again")
    assert machine.state == rt.State.SCOUT_RUNNING and "runtime" in asked
    assert "checker" not in asked
    run = Run(Semantics.of(spec), START)
    for trigger in ("discovery_requested", "agent_error", "retry_stage"):
        run.fire(trigger, ("on_call",), "olu", START)
    assert run.state == "SCOUT_RUNNING" and "checker" in asked
