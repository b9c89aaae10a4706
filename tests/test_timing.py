"""How long a run can take (:mod:`statewright.verify.explore.timing`), ``leads_to ...
within`` and ``running-without-deadline``.

The worst cases are checked against a second, naive implementation: every timed path
enumerated one by one from the spec's own transitions (no memo, no graph class), on
random small specs with and without variables, and against values computed by hand for
the shipped specs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statewright.verify.check import check_spec, check_text
from statewright.verify.explore import Exploration, explore
from statewright.verify.explore.timing import (
    FOREVER,
    Configurations,
    States,
    format_duration,
    run_time,
    unbounded_states,
    worst_case,
)
from statewright.verify.graph import build_graph
from statewright.verify.load import load_file, load_text
from statewright.verify.model import Spec
from statewright.verify.report.jsondoc import render_json
from statewright.verify.report.text import render_text

ROOT = Path(__file__).resolve().parents[1]
HOUR = 3_600
DAY = 24 * HOUR

# -- the naive implementation ------------------------------------------------------------


def naive_rest(spec: Spec, found: Exploration, i: int) -> float:
    """How long configuration ``i`` can rest, read from the spec's transitions alone."""
    edges = found.found.edges(i)
    if not edges:
        return math.inf
    taken = [found.transitions[found.found.via[e]] for e in edges]
    if any(t.automatic for t in taken):
        return 0
    state, _ = found.unpack(i)
    delays = [t.after.seconds for t in spec.transitions if t.source == state and t.after]
    return min(delays, default=math.inf)


def naive_longest(
    spec: Spec, found: Exploration, i: int, targets: set[str], path: frozenset[int]
) -> float:
    """The longest time from configuration ``i`` to one of ``targets``, over every path
    enumerated one by one; infinite when a path meets itself or a rest without bound."""
    if i in path:
        return math.inf
    rest = naive_rest(spec, found, i)
    if rest == math.inf:
        return math.inf
    later = 0.0
    for e in found.found.edges(i):
        j = found.found.succ[e]
        if found.unpack(j)[0] not in targets:
            later = max(later, naive_longest(spec, found, j, targets, path | {i}))
    return rest + later


def naive_run_time(spec: Spec, found: Exploration) -> float:
    ends = {spec.initial, *(s.name for s in spec.states if s.final)}
    worst = 0.0
    for i in range(len(found)):
        if found.unpack(i)[0] != spec.initial:
            continue
        for e in found.found.edges(i):
            j = found.found.succ[e]
            if found.unpack(j)[0] not in ends:
                worst = max(worst, naive_longest(spec, found, j, ends, frozenset()))
    return worst


def naive_within(spec: Spec, found: Exploration, sources: set[str], targets: set[str]) -> float:
    worst = 0.0
    for i in range(len(found)):
        state = found.unpack(i)[0]
        if state in sources and state not in targets:
            worst = max(worst, naive_longest(spec, found, i, targets, frozenset()))
    return worst


# -- random small specs ------------------------------------------------------------------

NAMES = ["A", "B", "C", "D", "E"]


@st.composite
def timed_specs(draw: st.DrawFn, data: bool) -> str:
    """A spec of two to five states, some final, with manual, timed and ``always`` exits
    (with ``data``: a counter of 0..2 that guards and counts some of them)."""
    count = draw(st.integers(2, 5))
    names = NAMES[:count]
    finals = draw(st.sets(st.sampled_from(names[1:]), max_size=2))
    lines = ["statewright: 1", "machine: random_timed", "initial: A"]
    if data:
        lines.append("variables: {n: {type: int, min: 0, max: 2, initial: 0}}")
    lines.append("states:")
    lines.extend(f"  {n}: {{final: true}}" if n in finals else f"  {n}: {{}}" for n in names)
    lines.append("transitions:")
    lines.append("  - {from: A, to: B, trigger: go}")
    for k, name in enumerate(names):  # most states get a deadline
        if draw(st.integers(0, 9)) < 8:
            target = draw(st.sampled_from(names))
            delay = draw(st.integers(1, 5))
            lines.append(f"  - {{from: {name}, to: {target}, trigger: d{k}, after: {delay}h}}")
    for k in range(draw(st.integers(0, 6))):
        source = draw(st.sampled_from(names))
        target = draw(st.sampled_from(names))
        kind = draw(st.sampled_from(["manual", "manual", "timed", "always"]))
        extra = ""
        if kind == "timed":
            extra = f", after: {draw(st.integers(1, 5))}h"
        elif data and draw(st.booleans()):
            extra = ", when: n < 2, set: {n: n + 1}"
        trigger = "always" if kind == "always" else f"t{k}"
        lines.append(f"  - {{from: {source}, to: {target}, trigger: {trigger}{extra}}}")
    return "\n".join(lines) + "\n"


def loaded(text: str) -> Spec:
    result = load_text(text)
    assert result.spec is not None, [f.format() for f in result.findings]
    return result.spec


def seconds(value: float) -> int | None:
    return None if value == math.inf else int(value)


@settings(max_examples=300)
@given(timed_specs(data=False))
def test_a_run_s_worst_case_over_states_is_the_naive_one(text: str) -> None:
    spec = loaded(text)
    found = explore(spec)
    expected = seconds(naive_run_time(spec, found))
    assert run_time(spec, States(spec, build_graph(spec))).seconds == expected
    assert run_time(spec, Configurations(found)).seconds == expected


@settings(max_examples=300)
@given(timed_specs(data=True))
def test_a_run_s_worst_case_over_configurations_is_the_naive_one(text: str) -> None:
    spec = loaded(text)
    found = explore(spec)
    bound = run_time(spec, Configurations(found))
    assert bound.seconds == seconds(naive_run_time(spec, found))
    if bound.seconds is not None and bound.path:
        # the path it gives takes that long: its last step is taken at the worst case
        assert bound.elapsed[-1] == bound.seconds
        assert list(bound.elapsed) == sorted(bound.elapsed)


@settings(max_examples=300)
@given(
    timed_specs(data=True),
    st.sets(st.sampled_from(NAMES[:2]), min_size=1),
    st.sets(st.sampled_from(NAMES), min_size=1),
    st.integers(1, 12),
)
def test_leads_to_within_holds_exactly_when_the_naive_worst_case_is_in_bound(
    text: str, sources: set[str], targets: set[str], hours: int
) -> None:
    spec = loaded(text)
    names = set(spec.state_names)
    sources, targets = sources & names, targets & names
    if not sources or not targets:
        return
    prop = (
        f"properties:\n  timely: {{leads_to: {{from: [{', '.join(sorted(sources))}], "
        f"to: [{', '.join(sorted(targets))}], within: {hours}h}}}}\n"
    )
    result = check_text(text + prop)
    assert result.spec is not None
    found = explore(result.spec)
    worst = naive_within(result.spec, found, sources, targets)
    violated = [f for f in result.findings if f.rule == "property-violated"]
    assert bool(violated) == (worst > hours * HOUR)
    assert result.stats is not None
    assert result.stats.within == (() if violated else (("timely", worst),))
    if violated and worst != math.inf:
        (finding,) = violated
        assert finding.trace[-1].elapsed == worst
        assert f"can take {format_duration(int(worst))}" in finding.message


# -- the semantics, case by case ---------------------------------------------------------

GATE = """\
statewright: 1
machine: gate
initial: IDLE
states:
  IDLE: {kind: idle}
  DRAFTING: {kind: running}
  REVIEW: {kind: approval, reviewers: [lead]}
  DONE: {kind: complete, final: true}
  TIMED_OUT: {kind: failed, final: true}
reasons: {LATE: {recovery: [Start again]}, REJECTED: {recovery: [Revise]}}
transitions:
  - {from: IDLE, to: DRAFTING, trigger: start}
  - {from: DRAFTING, to: REVIEW, trigger: drafted}
  - {from: DRAFTING, to: TIMED_OUT, trigger: stall, after: 2h, reason: LATE}
  - {from: DRAFTING, to: TIMED_OUT, trigger: slow, after: 1d, reason: LATE}
  - {from: REVIEW, to: DONE, trigger: approve, human: true}
  - {from: REVIEW, to: TIMED_OUT, trigger: reject, human: true, reason: REJECTED}
  - {from: REVIEW, to: TIMED_OUT, trigger: expire, after: 3d, reason: LATE}
"""


def test_a_bounded_run_is_reported_in_every_format() -> None:
    result = check_text(GATE, "gate.yaml")
    assert result.stats is not None
    # the wait in IDLE is not the run's; DRAFTING rests its earliest deadline (2h, not
    # 1d), REVIEW its 3d
    assert result.stats.worst_case_seconds == 3 * DAY + 2 * HOUR
    assert render_text([result]).splitlines()[0].endswith("; every run ends within 3d 2h")
    (entry,) = json.loads(render_json([result]))["specs"]
    assert entry["stats"]["worst_case_seconds"] == 3 * DAY + 2 * HOUR


def test_a_state_nothing_times_out_makes_the_run_unbounded_and_is_named() -> None:
    result = check_text(GATE.replace("after: 3d", "human: true"), "gate.yaml")
    assert result.stats is not None
    assert result.stats.worst_case_seconds is None
    assert result.stats.run_time == "a run can wait in REVIEW for ever (it has no after exit)"
    (entry,) = json.loads(render_json([result]))["specs"]
    assert entry["stats"]["worst_case_seconds"] is None


def test_a_cycle_that_can_repeat_makes_the_run_unbounded() -> None:
    # every state has a deadline, but REVIEW can send the draft back for ever
    looping = GATE + "  - {from: REVIEW, to: DRAFTING, trigger: revise, human: true}\n"
    result = check_text(looping, "gate.yaml")
    assert result.stats is not None and result.stats.worst_case_seconds is None
    assert result.stats.run_time == "a run can go round REVIEW, DRAFTING for ever"


def test_a_self_loop_restarts_the_deadline() -> None:
    spec = GATE + "  - {from: DRAFTING, to: DRAFTING, trigger: progress}\n"
    result = check_text(spec, "gate.yaml")
    assert result.stats is not None and result.stats.worst_case_seconds is None
    assert result.stats.run_time == "a run can go round DRAFTING for ever"


def test_always_steps_take_no_time_and_an_always_cycle_is_unbounded() -> None:
    base = GATE.replace(
        "  - {from: DRAFTING, to: REVIEW, trigger: drafted}\n",
        "  - {from: DRAFTING, to: CHECKED, trigger: drafted}\n"
        "  - {from: CHECKED, to: REVIEW, trigger: always}\n",
    ).replace("  DONE:", "  CHECKED: {}\n  DONE:")
    result = check_text(base, "gate.yaml")
    assert result.stats is not None and result.stats.worst_case_seconds == 3 * DAY + 2 * HOUR
    spinning = base + "  - {from: REVIEW, to: CHECKED, trigger: always}\n"
    result = check_text(spinning.replace("after: 3d", "human: true"), "gate.yaml")
    assert result.stats is not None and result.stats.worst_case_seconds is None


def test_within_is_inclusive() -> None:
    prop = (
        "properties:\n  timely: {leads_to: {from: DRAFTING, to: [DONE, TIMED_OUT], within: %s}}\n"
    )
    assert check_text(GATE + prop % "3d2h").ok()
    result = check_text(GATE + prop % "3d1h59m", "gate.yaml")
    (finding,) = [f for f in result.findings if f.rule == "property-violated"]
    assert finding.message == (
        "property timely fails: a run in DRAFTING can take 3d 2h to reach DONE or "
        "TIMED_OUT, past the bound 3d1h59m"
    )
    assert [str(step) for step in finding.trace] == [
        "start -> DRAFTING",
        "drafted -> REVIEW at 2h",
        "approve -> DONE at 3d 2h",
    ]
    (entry,) = json.loads(render_json([result]))["specs"]
    (violated,) = [f for f in entry["findings"] if f["rule"] == "property-violated"]
    assert [step.get("elapsed_seconds") for step in violated["trace"]] == [
        None,
        2 * HOUR,
        3 * DAY + 2 * HOUR,
    ]


def test_within_fails_on_a_state_that_can_rest_for_ever() -> None:
    prop = "properties:\n  timely: {leads_to: {from: IDLE, to: DONE, within: 7d}}\n"
    result = check_text(GATE + prop, "gate.yaml")
    (finding,) = [f for f in result.findings if f.rule == "property-violated"]
    assert finding.message == (
        "property timely fails: a run in IDLE can wait in IDLE for ever without reaching "
        "DONE (IDLE has no after exit to bound it within 7d)"
    )


def test_within_keeps_the_untimed_failures() -> None:
    prop = "properties:\n  timely: {leads_to: {from: DRAFTING, to: DONE, within: 7d}}\n"
    result = check_text(GATE + prop, "gate.yaml")
    (finding,) = [f for f in result.findings if f.rule == "property-violated"]
    assert finding.message == (
        "property timely fails: a run in DRAFTING can end in TIMED_OUT without reaching DONE"
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3x", "12:57: error[bad-duration] '3x' is not a duration"),
        ("0s", "12:57: error[bad-duration] duration '0s' is zero"),
        ("[1h]", "12:57: error[schema] 'within' must be a duration such as '30m', not a list"),
    ],
)
def test_a_bad_within_is_a_finding_at_its_value(value: str, expected: str) -> None:
    text = GATE.replace(
        "transitions:",
        "properties:\n  timely: {leads_to: {from: DRAFTING, to: DONE, within: "
        + value
        + "}}\ntransitions:",
    )
    result = load_text(text, "gate.yaml")
    assert result.spec is None
    assert any(f.format().startswith(f"gate.yaml:{expected}") for f in result.findings), [
        f.format() for f in result.findings
    ]


def test_the_time_of_a_run_cut_short_is_not_known() -> None:
    text = GATE.replace(
        "transitions:", "variables: {n: {type: int, min: 0, max: 900, initial: 0}}\ntransitions:"
    )
    text += "  - {from: IDLE, to: IDLE, trigger: bump, when: n < 900, set: {n: n + 1}}\n"
    result = check_text(text, "gate.yaml", max_configurations=100)
    assert result.stats is not None and result.stats.worst_case_seconds is None
    assert result.stats.run_time == "a run's time is not known (the exploration was cut short)"


def test_the_model_exposes_deadlines_and_bounds() -> None:
    spec = loaded(
        GATE + "properties:\n  timely: {leads_to: {from: DRAFTING, to: DONE, within: 4d}}\n"
    )
    deadline = spec.deadline("DRAFTING")
    assert deadline is not None and deadline.trigger == "stall"
    assert spec.deadline("IDLE") is None
    (prop,) = spec.properties
    assert prop.within is not None and prop.within.seconds == 4 * DAY


def test_an_unbounded_run_reads_only_the_states_it_visits() -> None:
    """Counted work: on a 1,000-state chain whose second state waits for ever, the state
    graph expands two states."""
    lines = ["statewright: 1", "machine: chain", "initial: S0", "states:"]
    lines += [f"  S{i}: {{}}" for i in range(1000)]
    lines.append("transitions:")
    lines += [f"  - {{from: S{i}, to: S{(i + 1) % 1000}, trigger: next}}" for i in range(1000)]
    spec = loaded("\n".join(lines) + "\n")
    graph = States(spec, build_graph(spec))
    bound = run_time(spec, graph)
    assert bound.seconds is None and bound.forever == 1
    assert len(graph.ranges) == 2


# -- the shipped specs, by hand ----------------------------------------------------------


def test_the_discovery_pipeline_s_bound_is_the_hand_computed_one() -> None:
    """Per stage, four attempts (each up to its agent deadline) with a day's wait for the
    on-call engineer after each of three failures: SCOUT 4*2h + 72h = 80h, HUNTER and
    ATLAS 4*4h + 72h = 88h, FORGE 4*8h + 72h = 104h, SENTINEL 4*2h + 72h = 80h. A run
    goes SCOUT, the requirements' 72h, HUNTER, its 1h hand-off, ATLAS, then three times
    the architecture's 72h, FORGE, 1h, SENTINEL, 1h (twice back on critical findings):
    80 + 72 + 88 + 1 + 88 + 3 * (72 + 104 + 1 + 80 + 1) = 1103h = 45d 23h, without a
    rollback; its three rollbacks (each a human step, resting up to the deadline of the
    state it leaves) take it to 119d 8h, within the spec's 120 days."""
    spec = load_file(ROOT / "specs" / "discovery_pipeline.yaml").spec
    assert spec is not None
    found = explore(spec, rollback=False)
    graph = Configurations(found)
    starts = [i for i in range(len(found)) if found.unpack(i)[0] == "SCOUT_RUNNING"]
    bound = worst_case(graph, starts, found.marked(["COMPLETE", "FAILED"]))
    assert bound.seconds == 1103 * HOUR
    assert format_duration(1103 * HOUR) == "45d 23h"
    found = explore(spec)
    graph = Configurations(found)
    starts = [i for i in range(len(found)) if found.unpack(i)[0] == "SCOUT_RUNNING"]
    bound = worst_case(graph, starts, found.marked(["COMPLETE", "FAILED", "IDLE"]))
    assert bound.seconds is not None and format_duration(bound.seconds) == "119d 8h"
    (timely,) = [p for p in spec.properties if p.within is not None]
    assert timely.within is not None and timely.within.seconds == 120 * DAY
    result = check_spec(spec)
    assert result.ok(strict=True)
    # FAILED waits for the on-call engineer's reset, which nothing times out
    assert result.stats is not None and result.stats.worst_case_seconds is None
    assert result.stats.run_time == "a run can wait in FAILED for ever (it has no after exit)"
    # the property that holds says by how much: its bound with the rollbacks
    assert result.stats.within == (("every_run_ends_in_time", bound.seconds),)
    assert "\n  every_run_ends_in_time: holds, worst case 119d 8h\n" in render_text([result])
    (entry,) = json.loads(render_json([result]))["specs"]
    assert entry["stats"]["within_seconds"] == {"every_run_ends_in_time": bound.seconds}


def test_the_orchestrator_s_approval_loop_can_repeat() -> None:
    spec = load_file(ROOT / "specs" / "orchestrator.yaml").spec
    assert spec is not None
    graph = States(spec, build_graph(spec))
    number = {name: k for k, name in enumerate(spec.state_names)}
    targets = bytes(1 if n in ("COMPLETE", "FAILED") else 0 for n in spec.state_names)
    bound = worst_case(graph, [number["RUNNING"]], targets)
    assert bound.seconds is None
    assert {graph.state(graph.succ[e]) for e in bound.cycle} == {"RUNNING", "WAITING_FOR_APPROVAL"}
    # without the loop back, RUNNING's 2h and the gate's 72h bound it
    spec_text = (ROOT / "specs" / "orchestrator.yaml").read_text()
    cut = loaded(
        spec_text.replace(
            "to: RUNNING, trigger: human_approved", "to: COMPLETE, trigger: human_approved"
        )
    )
    graph = States(cut, build_graph(cut))
    assert worst_case(graph, [number["RUNNING"]], targets).seconds == 74 * HOUR


def test_running_without_deadline_names_every_running_state_reachable_or_not() -> None:
    text = GATE.replace("  DONE:", "  ORPHAN: {kind: running}\n  DONE:")
    text = text.replace(
        "  - {from: DRAFTING, to: TIMED_OUT, trigger: stall, after: 2h, reason: LATE}\n", ""
    )
    text = text.replace(
        "  - {from: DRAFTING, to: TIMED_OUT, trigger: slow, after: 1d, reason: LATE}\n", ""
    )
    result = check_text(text, "gate.yaml")
    found = [f for f in result.findings if f.rule == "running-without-deadline"]
    assert [f.states for f in found] == [("DRAFTING",), ("ORPHAN",)]
    assert all(f.severity.value == "warning" for f in found)


def naive_unbounded(spec: Spec, graph: States) -> set[str]:
    """The second implementation of unbounded_states: per state, a search of what a run
    reaches before it ends; a state is unbounded when a run reaches it and it rests for
    ever, or it reaches itself again."""
    ends = {spec.initial, *(s.name for s in spec.states if s.final)}
    names = spec.state_names

    def after(i: int) -> set[int]:
        seen: set[int] = set()
        todo = [graph.succ[e] for e in graph.steps(i)]
        while todo:
            j = todo.pop()
            if names[j] in ends or j in seen:
                continue
            seen.add(j)
            todo.extend(graph.succ[e] for e in graph.steps(j))
        return seen

    reached = after(names.index(spec.initial))
    return {names[i] for i in reached if graph.rest(i) == FOREVER or i in after(i)}


@settings(max_examples=300)
@given(timed_specs(data=False))
def test_the_unbounded_states_are_the_naive_ones(text: str) -> None:
    spec = loaded(text)
    graph = States(spec, build_graph(spec))
    expected = naive_unbounded(spec, graph)
    assert unbounded_states(spec, graph) == expected
    # the states of its configurations say the same for a spec without variables
    assert unbounded_states(spec, Configurations(explore(spec))) == expected
    assert (run_time(spec, graph).seconds is None) == bool(expected)
