"""``statewright audit check``: recorded runs held against their spec.

The core (:mod:`statewright.verify.audit`) on random runs of random specs: a clean run is
never reported (but for the properties the random spec itself breaks, which an oracle in
this file computes on its own), and every kind of planted mutant is caught with its rule.
Runs come from :class:`statewright.verify.semantics.Run` (fired, expired, rolled back),
which the checker does not use: it asks the semantics its questions one by one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from datagen import data_specs
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from statewright.verify.audit import check_run, read_trace
from statewright.verify.audit.trace import Recorded, TraceError
from statewright.verify.load import load_text
from statewright.verify.model import AUTOMATIC_TRIGGER, PropertyKind, Spec
from statewright.verify.semantics import AlwaysCycle, Entry, OutOfRange, Run, Semantics, Values
from statewright.verify.semantics.data import evaluate

START = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
LEAD = ["lead"]

Line = dict[str, Any]

Draw = Callable[[st.SearchStrategy[Any]], Any]
"""Hypothesis's ``data.draw``."""


@dataclass
class Recording:
    """A random run of a spec, as trace lines, and the configuration after each."""

    spec: Spec
    lines: list[Line]
    after: list[tuple[str, Values]]


def _line(seq: int, entry: Entry, spec: Spec, human: bool) -> Line:
    return {
        "seq": seq,
        "at": entry.at.isoformat(),
        "trigger": entry.trigger,
        "from": entry.source,
        "to": entry.target,
        "actor": "ann" if human else None,
        "roles": LEAD if human else [],
        "decision": "looks right" if human else None,
        "variables": dict(zip((v.name for v in spec.variables), entry.values, strict=True)),
    }


def record_run(spec: Spec, draw: Draw, steps: int = 25) -> Recording:
    """Drive ``spec``'s semantics at random (triggers, clock moves, expiries, rollbacks)
    and record every step in the trace format."""
    semantics = Semantics.of(spec)
    try:
        run = Run(semantics, START)
    except (AlwaysCycle, OutOfRange):
        assume(False)
    names = [v.name for v in spec.variables]
    lines: list[Line] = [
        {
            "seq": 0,
            "event": "created",
            "at": START.isoformat(),
            "state": spec.initial,
            "variables": dict(zip(names, semantics.data.initial, strict=True)),
        }
    ]
    after = [(spec.initial, semantics.data.initial)]
    now = START

    def flush() -> None:
        for entry in run.log:
            human = entry.transition is not None and entry.transition.human
            lines.append(_line(len(lines), entry, spec, human))
            after.append((entry.target, entry.values))
        run.log.clear()

    flush()
    waits = semantics.waits()
    for _ in range(draw(st.integers(1, steps))):
        now += timedelta(seconds=draw(st.sampled_from(waits)))
        try:
            if run.expire(now) is not None:
                flush()
                continue
        except (OutOfRange, AlwaysCycle):
            break
        action = draw(st.integers(0, 9))
        if action == 0 and spec.rollback is not None:
            back = draw(st.integers(0, len(after) - 1))
            state, values = after[back]
            if semantics.automatic_in(state, values) is None:
                run.restore(state, now, values)
                lines.append(
                    {
                        "seq": len(lines),
                        "event": "rollback",
                        "at": now.isoformat(),
                        "to": state,
                        "rollback_to": back,
                        "actor": "ann",
                        "roles": LEAD,
                        "decision": "undo",
                        "variables": dict(zip(names, values, strict=True)),
                    }
                )
                after.append((state, values))
            continue
        steps_now = [t for t in semantics.steps_in(run.state, run.values) if t.after is None]
        if not steps_now:
            continue
        transition = draw(st.sampled_from(steps_now))
        try:
            run.fire(transition.trigger, LEAD, "ann", now)
        except (OutOfRange, AlwaysCycle):
            run.log.clear()
            break
        flush()
    return Recording(spec, lines, after)


def check(spec: Spec, lines: list[Line]) -> list[tuple[str, str]]:
    """The (rule, message) of every finding ``audit check`` makes of ``lines``."""
    text = [json.dumps(line) for line in lines]
    records = [r for r in read_trace(text) if isinstance(r, Recorded)]
    findings, _ = check_run(spec, records, "run")
    return [(f.rule, f.message) for f in findings]


def property_oracle(recording: Recording) -> set[str]:
    """The properties ``recording`` breaks, computed here on its own: every ``always`` at
    every record, every ``precedence`` over the steps (a rollback is a step too)."""
    spec = recording.spec
    names = [v.name for v in spec.variables]
    broken = set()
    for prop in spec.properties:
        if prop.kind is PropertyKind.ALWAYS and prop.invariant is not None:
            for state, values in recording.after:
                scope = dict(zip(names, values, strict=True))
                if evaluate(prop.invariant.tree, scope, state) is not True:
                    broken.add(prop.name)
        elif prop.kind is PropertyKind.PRECEDENCE:
            fired = False
            seen = {recording.lines[0]["seq"]: False}  # a rollback returns to what was seen
            for line, (before, _) in zip(recording.lines[1:], recording.after[:-1], strict=True):
                if line.get("event") == "rollback":
                    fired = seen[line["rollback_to"]]
                else:
                    fired = (fired and before != spec.initial) or line.get(
                        "trigger"
                    ) in prop.triggers
                seen[line["seq"]] = fired
                if not fired and line["to"] in prop.states:
                    broken.add(prop.name)
    return broken


def load(text: str) -> Spec:
    spec = load_text(text, "specs/random.yaml").spec
    assert spec is not None
    return spec


SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@SETTINGS
@given(text=data_specs(), data=st.data())
def test_a_clean_run_is_never_reported(text: str, data: st.DataObject) -> None:
    spec = load(text)
    recording = record_run(spec, data.draw)
    found = check(spec, recording.lines)
    assert {rule for rule, _ in found} <= {"run-property"}, found
    reported = {m.split("property ", 1)[1].split(" ")[0] for _, m in found}
    assert reported == property_oracle(recording)


# -- the mutants ------------------------------------------------------------------------

Mutant = Callable[[Recording, Draw], list[Line] | None]
"""A planted fault: the mutated lines, or None when the run offers no place for it."""


def _renumber(lines: list[Line]) -> list[Line]:
    return [{**line, "seq": n} for n, line in enumerate(lines)]


def skipped_step(recording: Recording, draw: Draw) -> list[Line] | None:
    """A step that moved the run to another state is left out (the records renumbered),
    where the step after it says where it left from (not a rollback that undoes it)."""
    lines = recording.lines
    places = [
        k
        for k in range(1, len(lines) - 1)
        if lines[k].get("event") is None
        and lines[k]["from"] != lines[k]["to"]
        and lines[k + 1].get("event") is None
    ]
    if not places:
        return None
    k = draw(st.sampled_from(places))
    return _renumber(lines[:k] + lines[k + 1 :])


def failed_guard(recording: Recording, draw: Draw) -> list[Line] | None:
    """A manual step whose guard did not hold, in place of the record at that point (the
    run ends there)."""
    semantics = Semantics.of(recording.spec)
    names = [v.name for v in recording.spec.variables]
    places = []
    for k in range(1, len(recording.lines)):
        state, values = recording.after[k - 1]
        if semantics.automatic_in(state, values) is not None:
            continue
        timed = semantics.timed_exit(state)
        for transition in semantics.spec.transitions:
            if (
                transition.source == state
                and transition.when is not None
                and transition.after is None
                and transition.trigger != AUTOMATIC_TRIGGER
                and not semantics.data.holds(transition.when, values)
                # once due, the timed exit takes its trigger: the same step is no mutant
                and not (
                    timed is not None
                    and (timed.trigger, timed.target) == (transition.trigger, transition.target)
                )
            ):
                chosen = semantics.candidates(state, transition.trigger, values)
                if chosen is None or chosen.target != transition.target:
                    places.append((k, transition, values))
    if not places:
        return None
    k, transition, values = draw(st.sampled_from(places))
    try:
        after = semantics.take(transition, values)
    except OutOfRange:
        after = values
    line = {
        **recording.lines[k],
        "event": "transition",
        "trigger": transition.trigger,
        "from": transition.source,
        "to": transition.target,
        "actor": "ann",
        "roles": LEAD,
        "decision": "go",
        "variables": dict(zip(names, after, strict=True)),
    }
    line.pop("rollback_to", None)
    return [*recording.lines[:k], line]


def wrong_effect(recording: Recording, draw: Draw) -> list[Line] | None:
    """A variable recorded with a value the step's effects do not give."""
    k = draw(st.integers(0, len(recording.lines) - 1))
    line = recording.lines[k]
    variables = dict(line["variables"])
    name = draw(st.sampled_from(sorted(variables)))
    value = variables[name]
    if isinstance(value, bool):
        variables[name] = not value
    elif isinstance(value, int):
        variables[name] = value + 1 if value < 2 else value - 1
    else:
        variables[name] = "high" if value != "high" else "low"
    return [*recording.lines[:k], {**line, "variables": variables}, *recording.lines[k + 1 :]]


def wrong_role(recording: Recording, draw: Draw) -> list[Line] | None:
    """A human step (or a rollback) by an actor holding none of the roles it needs."""
    places = [k for k, line in enumerate(recording.lines) if line.get("actor")]
    if not places:
        return None
    k = draw(st.sampled_from(places))
    lines = list(recording.lines)
    lines[k] = {**lines[k], "roles": ["intruder"]}
    return lines


def missed_deadline(recording: Recording, draw: Draw) -> list[Line] | None:
    """A record (and every one after it) moved past a deadline the state it came from had
    (a state it rested in, not one its ``always`` exit left at once): the timed exit should
    have fired first."""
    semantics = Semantics.of(recording.spec)
    lines = recording.lines
    places = []
    entered = START
    for k in range(1, len(lines)):
        state, _ = recording.after[k - 1]
        timed = semantics.timed_exit(state)
        line = lines[k]
        if (
            timed is not None
            and timed.after is not None
            and line.get("trigger") not in (timed.trigger, AUTOMATIC_TRIGGER)
        ):
            due = entered + timedelta(seconds=timed.after.seconds)
            places.append((k, due + timedelta(seconds=1) - datetime.fromisoformat(line["at"])))
        if line.get("event") != "context":
            entered = datetime.fromisoformat(line["at"])
    places = [(k, shift) for k, shift in places if shift > timedelta(0)]
    if not places:
        return None
    k, shift = draw(st.sampled_from(places))
    moved = [
        {**line, "at": (datetime.fromisoformat(line["at"]) + shift).isoformat()}
        for line in lines[k:]
    ]
    return [*lines[:k], *moved]


def unauthorised_rollback(recording: Recording, draw: Draw) -> list[Line] | None:
    """A rollback by an actor without a rollback role, to where the run was created."""
    state, values = recording.after[0]
    if Semantics.of(recording.spec).automatic_in(state, values) is not None:
        return None
    last = recording.lines[-1]
    line = {
        "seq": len(recording.lines),
        "event": "rollback",
        "at": last["at"],
        "to": state,
        "rollback_to": 0,
        "actor": "mallory",
        "roles": draw(st.sampled_from([[], ["intruder"]])),
        "decision": "undo",
        "variables": recording.lines[0]["variables"],
    }
    return [*recording.lines, line]


def reordered(recording: Recording, draw: Draw) -> list[Line] | None:
    """Two records swapped."""
    if len(recording.lines) < 3:
        return None
    k = draw(st.integers(1, len(recording.lines) - 2))
    lines = list(recording.lines)
    lines[k], lines[k + 1] = lines[k + 1], lines[k]
    return lines


def other_version(recording: Recording, draw: Draw) -> list[Line] | None:
    """A record of a run under another version of the spec (its sha256 differs)."""
    k = draw(st.integers(0, len(recording.lines) - 1))
    lines = list(recording.lines)
    other = "0" * 64 if not recording.spec.sha256.startswith("0") else "1" * 64
    lines[k] = {**lines[k], "spec": other[:12]}
    return lines


MUTANTS: dict[str, tuple[Mutant, set[str]]] = {
    "a skipped step": (skipped_step, {"run-undeclared-step"}),
    "a guard that did not hold": (failed_guard, {"run-guard-failed"}),
    "an effect with the wrong value": (wrong_effect, {"run-effect-mismatch"}),
    "an approval by a wrong role": (wrong_role, {"run-unauthorised", "run-rollback"}),
    "a deadline passed unfired": (missed_deadline, {"run-missed-deadline"}),
    "an unauthorised rollback": (unauthorised_rollback, {"run-rollback"}),
    "a reordered pair of records": (reordered, {"run-out-of-order"}),
    "a record of another spec version": (other_version, {"run-spec-version"}),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MUTANTS))
@SETTINGS
@given(text=data_specs(properties=False), data=st.data())
def test_every_planted_mutant_is_caught(name: str, text: str, data: st.DataObject) -> None:
    mutant, rules = MUTANTS[name]
    spec = load(text)
    recording = record_run(spec, data.draw)
    mutated = mutant(recording, data.draw)
    assume(mutated is not None)
    assert mutated is not None
    found = check(spec, mutated)
    assert {rule for rule, _ in found} & rules, (name, found, mutated)


# -- the trace format -------------------------------------------------------------------


def test_a_line_that_is_no_record_is_named_by_its_line() -> None:
    lines = [
        '{"seq": 0, "event": "created", "at": "2026-12-03T10:00:00Z", "state": "A"}',
        "",
        "not json",
        '{"seq": 1, "at": "2026-12-03T10:00:00", "trigger": "go", "to": "B"}',
        '{"seq": 2, "at": "2026-12-03T10:00:00Z", "to": "B"}',
        '{"seq": 3, "at": "2026-12-03T10:00:00Z", "trigger": "go", "to": "B", "roles": "lead"}',
    ]
    read = list(read_trace(lines))
    assert isinstance(read[0], Recorded)
    errors = [r for r in read if isinstance(r, TraceError)]
    assert [(e.line, e.reason.split(" ")[0]) for e in errors] == [
        (3, "not"),
        (4, "at"),
        (5, "a"),
        (6, "roles"),
    ]


GATELESS = """\
statewright: 1
machine: gateless
initial: A
states:
  A: {}
  REVIEW: {kind: approval, reviewers: [lead]}
  DONE: {final: true}
transitions:
  - {from: A, to: REVIEW, trigger: submit}
  - {from: REVIEW, to: DONE, trigger: approved, human: true}
"""


@pytest.mark.parametrize("event", ["approval", "escalation", "bound"])
def test_a_gate_record_where_no_state_has_a_policy_is_reported(event: str) -> None:
    """Where no state has a policy the checker follows no gate, but a gate's own record
    is still one the spec cannot have made; the steps around it still check clean."""
    at = START.isoformat()
    lines: list[Line] = [
        {"seq": 0, "event": "created", "at": at, "state": "A"},
        {"seq": 1, "at": at, "trigger": "submit", "from": "A", "to": "REVIEW"},
        {"seq": 2, "event": event, "at": at, "trigger": "approved", "to": "REVIEW"},
        {
            "seq": 3,
            "at": at,
            "trigger": "approved",
            "from": "REVIEW",
            "to": "DONE",
            "actor": "ann",
            "roles": LEAD,
            "decision": "ok",
        },
    ]
    spec = load(GATELESS)
    assert check(spec, [lines[0], lines[1], {**lines[3], "seq": 2}]) == []
    found = check(spec, lines)
    assert found == [
        (
            "run-policy",
            f"run record 2 (line 3): a {event} record outside an approval gate with a policy",
        )
    ]


def test_a_leads_to_within_bound_is_held_at_every_record_and_at_the_end() -> None:
    """The hook for ``leads_to: {within}`` (issue 22): a property model that carries
    ``within`` is checked on the run, while it is open too."""
    from dataclasses import dataclass, replace

    from statewright.verify.model import Duration, Property

    @dataclass(frozen=True)
    class Within(Property):
        within: Duration | None = None

    spec = load(
        "statewright: 1\nmachine: m\ninitial: A\nstates:\n  A: {}\n  B: {}\n"
        "  C: {final: true}\ntransitions:\n  - {from: A, to: B, trigger: go}\n"
        "  - {from: B, to: C, trigger: done}\n"
    )
    bound = Within("quick", PropertyKind.LEADS_TO, spec.location, states=("B",), targets=("C",))
    spec = replace(spec, properties=(replace(bound, within=Duration("1h", 3600)),))

    def at(minutes: int) -> str:
        return (START + timedelta(minutes=minutes)).isoformat()

    created = {"seq": 0, "event": "created", "at": at(0), "state": "A"}
    go = {"seq": 1, "at": at(1), "trigger": "go", "to": "B"}
    done = {"seq": 2, "at": at(90), "trigger": "done", "to": "C"}
    late = check(spec, [created, go, done])
    assert [rule for rule, _ in late] == ["run-property"], late
    assert "record 2" in late[0][1] and "more than 3600s" in late[0][1]
    assert check(spec, [created, go, {**done, "at": at(61)}]) == []
    records = [
        r for r in read_trace(json.dumps(x) for x in (created, go)) if isinstance(r, Recorded)
    ]
    open_run, _ = check_run(spec, records, "run", now=START + timedelta(hours=2))
    assert [f.rule for f in open_run] == ["run-property"]
    assert check_run(spec, records, "run", now=START + timedelta(minutes=30))[0] == []
