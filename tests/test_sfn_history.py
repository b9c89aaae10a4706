"""Step Functions execution histories held against their ASL definitions.

Three kinds of evidence:

- committed histories (``tests/data/asl/histories``) of definitions of the ASL corpus,
  clean ones and ones with each defect, each with the findings it must give
  (``NAME.findings``; rewrite after a deliberate change with ``STATEWRIGHT_UPDATE_GOLDEN=1``);
- an independent simulator (``tests/sfnsim.py``) that runs random and committed
  definitions as the service would: every clean history it writes passes, and every
  mutant it plants (a skipped state, a wrong Choice branch, a late answer, a retry beyond
  MaxAttempts, an event of another state, a success after an unhandled failure) is
  reported under its rule;
- hostile input: a file that is not JSON or not a history, events out of order, unknown
  states: one finding each, never a traceback.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sfnsim import Bug, random_definition, simulate

from statewright.verify.conformance.stepfunctions import check_history, check_history_text, rules
from statewright.verify.conformance.stepfunctions.choice import NoChoice, NotJudged, choose
from statewright.verify.findings import Finding, Severity

CORPUS = Path(__file__).resolve().parent / "data" / "asl"
HISTORIES = CORPUS / "histories"
FIXTURES = sorted(HISTORIES.glob("*.json"))
UPDATE = os.environ.get("STATEWRIGHT_UPDATE_GOLDEN") == "1"

CAUGHT_BY = {
    Bug.SKIP_STATE: {rules.UNEXPECTED, rules.CHOICE_BRANCH},
    Bug.WRONG_CHOICE: {rules.CHOICE_BRANCH},
    Bug.LATE_ANSWER: {rules.TASK_TIMEOUT},
    Bug.EXTRA_RETRY: {rules.RETRY},
    Bug.FOREIGN_EVENT: {rules.UNEXPECTED},
    Bug.SUCCESS_AFTER_FAILURE: {rules.END_EVENT},
}


def errors(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity is Severity.ERROR]


def check(definition: dict[str, object] | str, history: str) -> list[Finding]:
    text = definition if isinstance(definition, str) else json.dumps(definition, indent=1)
    return check_history_text(text, history, "machine.asl.json", "history.json")


# -- committed histories ----------------------------------------------------------------


def definition_of(history: Path) -> Path:
    return CORPUS / (history.name.split(".")[0] + ".asl.json")


def report(history: Path) -> str:
    definition = definition_of(history)
    found = check_history(
        definition,
        history,
        definition_display=definition.name,
        history_display=f"histories/{history.name}",
    )
    return "".join(f"{f.format()}\n" for f in found) or "clean\n"


def test_the_fixtures_cover_clean_runs_and_every_defect() -> None:
    reported = {
        rule
        for path in FIXTURES
        for rule in rules_in(path.with_suffix(".findings").read_text(encoding="utf-8"))
    }
    assert reported >= {
        rules.UNEXPECTED,
        rules.CHOICE_BRANCH,
        rules.RETRY,
        rules.TASK_TIMEOUT,
        rules.END_EVENT,
    }
    clean = [p for p in FIXTURES if p.with_suffix(".findings").read_text() == "clean\n"]
    assert len(clean) >= 4
    assert len({definition_of(p) for p in FIXTURES}) >= 4


def rules_in(text: str) -> set[str]:
    return {line.split("[", 1)[1].split("]", 1)[0] for line in text.splitlines() if "[" in line}


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.name)
def test_each_history_gives_its_findings(path: Path) -> None:
    expected = path.with_suffix(".findings")
    text = report(path)
    if UPDATE:
        expected.write_text(text, encoding="utf-8")
    assert expected.exists(), f"{expected.name} is missing; run with STATEWRIGHT_UPDATE_GOLDEN=1"
    assert text == expected.read_text(encoding="utf-8")


def test_a_finding_names_the_state_where_it_is_written_and_the_event() -> None:
    path = HISTORIES / "human-in-the-loop.wrong-branch.json"
    (finding,) = errors(check_history(definition_of(path), path))
    assert finding.rule == rules.CHOICE_BRANCH
    assert finding.states == ("Approved?",)
    lines = definition_of(path).read_text(encoding="utf-8").splitlines()
    assert lines[finding.location.line - 1][finding.location.column - 1 :].startswith('"Approved?"')
    assert finding.message.startswith("event ")


# -- the simulator's runs ---------------------------------------------------------------


def corpus_definitions() -> list[Path]:
    """The corpus definitions the simulator can run (JSON, JSONPath, inline Maps, the
    Choice operators it evaluates) within its event budget: a definition whose runs the
    simulator cuts short (``ExecutionAborted``: retriers of 20 attempts inside a Map)
    makes no whole history to judge."""
    usable = []
    for path in sorted(CORPUS.glob("*.asl.json")):
        text = path.read_text(encoding="utf-8")
        if "JSONata" in text or "DISTRIBUTED" in text or "Timestamp" in text:
            continue
        try:
            runs = [simulate(json.loads(text), seed)[0] for seed in range(5)]
        except (NotImplementedError, KeyError, TypeError):
            continue
        if not any('"ExecutionAborted"' in history for history in runs):
            usable.append(path)
    return usable


CORPUS_RUNS = corpus_definitions()


def test_the_simulator_runs_most_of_the_corpus() -> None:
    assert len(CORPUS_RUNS) >= 6, [p.name for p in CORPUS_RUNS]


@pytest.mark.parametrize("path", CORPUS_RUNS, ids=lambda p: p.name)
def test_simulated_runs_of_the_corpus_pass_and_their_mutants_are_caught(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    definition = json.loads(text)
    planted: set[Bug] = set()
    for seed in range(60):
        history, _ = simulate(definition, seed)
        assert errors(check(text, history)) == [], (path.name, seed)
        for bug in Bug:
            history, done = simulate(definition, seed, bug)
            if done and '"ExecutionTimedOut"' not in history:
                assert_caught(bug, check(text, history), f"{path.name} seed {seed}")
                planted.add(bug)
    assert planted, "no mutant could be planted"


def assert_caught(bug: Bug, found: list[Finding], where: str) -> None:
    reported = {f.rule for f in errors(found)}
    assert reported & CAUGHT_BY[bug], (bug.value, where, [f.format() for f in found])


@settings(max_examples=150)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_every_clean_run_of_a_random_definition_passes(seed: int) -> None:
    definition = random_definition(random.Random(seed))
    history, _ = simulate(definition, seed)
    found = errors(check(definition, history))
    assert found == [], [f.format() for f in found]


@pytest.mark.parametrize("bug", list(Bug), ids=lambda b: b.name.lower())
def test_each_planted_mutant_of_random_runs_is_caught(bug: Bug) -> None:
    caught = 0
    for seed in range(400):
        definition = random_definition(random.Random(seed))
        history, planted = simulate(definition, seed, bug)
        if planted and '"ExecutionTimedOut"' not in history:
            assert_caught(bug, check(definition, history), f"seed {seed}")
            caught += 1
    assert caught >= 10, f"only {caught} runs planted {bug.value}"


# -- mutations of one history -----------------------------------------------------------


def edited(path: Path, change: Callable[[list[dict[str, object]]], None]) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data["events"])
    return json.dumps(data)


APPROVED = HISTORIES / "human-in-the-loop.approved.json"


def test_an_unknown_state_is_named_with_a_suggestion() -> None:
    def rename(events: list[dict[str, object]]) -> None:
        for event in events:
            for key in ("stateEnteredEventDetails", "stateExitedEventDetails"):
                details = event.get(key)
                if isinstance(details, dict) and details.get("name") == "Handle approval":
                    details["name"] = "Handle aproval"

    found = errors(check(definition_of(APPROVED).read_text(), edited(APPROVED, rename)))
    assert found[0].rule == rules.UNEXPECTED
    assert "'Handle aproval' is not a state of the definition; did you mean" in found[0].message


def test_reordered_events_are_one_finding_at_the_history() -> None:
    def swap(events: list[dict[str, object]]) -> None:
        events[2]["id"], events[3]["id"] = events[3]["id"], events[2]["id"]

    (finding,) = check(definition_of(APPROVED).read_text(), edited(APPROVED, swap))
    assert finding.rule == rules.HISTORY_INVALID
    assert finding.location.file == "history.json"
    assert "names a later event" in finding.message or "dated before" in finding.message


def test_the_execution_timeout_is_held() -> None:
    definition = json.loads(definition_of(APPROVED).read_text())
    definition["TimeoutSeconds"] = 600
    found = errors(check(definition, APPROVED.read_text()))
    assert [f.rule for f in found] == [rules.EXECUTION_TIMEOUT]
    assert "past its TimeoutSeconds (10m)" in found[0].message


# -- hostile input ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "not JSON"),
        ('{\n  "events": [,]}', "not JSON"),
        ("\xff\xfe", "not JSON"),
        ("[1, 2]", "event #1 is not a JSON object"),
        ('{"executionArn": "x"}', 'expected {"events": [...]}'),
        ('{"events": []}', "no events"),
        ('{"events": [{"id": 1, "type": "ExecutionStarted", "timestamp": "soon"}]}', "timestamp"),
        ('{"events": [{"id": 2, "type": "X", "timestamp": 1}]}', "event id 1 is missing"),
        ('{"events": [{"id": 1, "type": "X", "timestamp": 1e400}]}', "timestamp"),
        (
            '{"events": [{"id": 1, "type": "ExecutionStarted", "timestamp": 1}], "nextToken": "n"}',
            "one page",
        ),
        ("[" * 100_000, "nested too deeply"),
    ],
)
def test_a_file_that_is_not_a_history_is_one_finding(text: str, says: str) -> None:
    (finding,) = check(definition_of(APPROVED).read_text(), text)
    assert finding.rule == rules.HISTORY_INVALID
    assert says in finding.message, finding.message


def test_a_bad_event_is_located_in_the_history() -> None:
    text = '{"events": [\n  {"id": 1, "type": "ExecutionStarted", "timestamp": 0},\n  {"id": 2}]}'
    (finding,) = check('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}', text)
    assert (finding.location.line, finding.location.column) == (3, 3)
    assert finding.message.startswith('event #2 (id 2) has no "type"')
    (finding,) = check(definition_of(APPROVED).read_text(), edited(APPROVED, swap_two))
    lines = json.dumps(json.loads(edited(APPROVED, swap_two))).splitlines()
    assert finding.location.line == 1 and finding.location.column > 1, lines[:1]


def swap_two(events: list[dict[str, object]]) -> None:
    events[2]["timestamp"], events[3]["timestamp"] = events[3]["timestamp"], events[2]["timestamp"]


def test_a_json_syntax_error_is_located_in_the_history() -> None:
    (finding,) = check(
        '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}', '{\n  "events": [,]}'
    )
    assert (finding.location.file, finding.location.line, finding.location.column) == (
        "history.json",
        2,
        14,
    )


def test_a_bad_definition_gives_the_asl_readers_findings(tmp_path: Path) -> None:
    found = check('{"StartAt": "A", "States": {"A": {"Type": "Tusk"}}}', APPROVED.read_text())
    assert {f.rule for f in found} == {"schema", "unknown-state"}
    assert any("did you mean 'Task'" in f.message for f in found)
    missing = check_history(tmp_path / "none.asl.json", APPROVED)
    assert len(missing) == 1 and "cannot read the ASL definition" in missing[0].message
    history = check_history(definition_of(APPROVED), tmp_path)
    assert [f.rule for f in history] == [rules.HISTORY_INVALID]


@settings(max_examples=200)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "id",
                        "type",
                        "timestamp",
                        "previousEventId",
                        "events",
                        "stateEnteredEventDetails",
                        "name",
                        "input",
                    ]
                ),
                inner,
                max_size=5,
            )
        ),
        max_leaves=30,
    )
)
def test_any_json_gives_findings_and_never_raises(data: object) -> None:
    found = check(definition_of(APPROVED).read_text(), json.dumps(data))
    assert all(isinstance(f, Finding) for f in found)


@settings(max_examples=100)
@given(st.data())
def test_shuffled_event_types_of_a_real_history_never_raise(data: st.DataObject) -> None:
    events = json.loads(APPROVED.read_text())["events"]
    types = [e["type"] for e in events]
    for event in events:
        event["type"] = data.draw(st.sampled_from(types))
    found = check(definition_of(APPROVED).read_text(), json.dumps({"events": events}))
    assert all(isinstance(f, Finding) for f in found)


# -- Choice rules, against a brute-force reading ----------------------------------------


def test_choice_rules_select_as_the_language_says() -> None:
    rules_ = [
        {"Not": {"Variable": "$.kind", "StringEquals": "gift"}, "Next": "Charge"},
        {"Variable": "$.note", "StringMatches": "rush*\\*", "Next": "Rush"},
        {"Variable": "$.at", "TimestampLessThanPath": "$.deadline", "Next": "OnTime"},
    ]
    assert choose(rules_, "Other", {"kind": "sale"}) == "Charge"
    assert choose(rules_, "Other", {"kind": "gift", "note": "rush now*"}) == "Rush"
    on_time = {"kind": "gift", "note": "slow", "at": "2026-12-03T10:00:00Z"}
    on_time["deadline"] = "2026-12-04T00:00:00Z"
    assert choose(rules_, None, on_time) == "OnTime"
    late = {**on_time, "note": "rush now", "at": "2026-12-05T10:00:00+01:00"}
    assert choose(rules_, "Other", late) == "Other"
    with pytest.raises(NoChoice, match=r"States\.Runtime"):
        choose(rules_, None, {"kind": "gift"})
    with pytest.raises(NotJudged):
        choose([{"Variable": "$.a[*]", "IsPresent": True, "Next": "A"}], None, {})


@given(st.integers(-3, 3) | st.text(max_size=2) | st.booleans() | st.none(), st.integers(-3, 3))
def test_numeric_comparisons_agree_with_python(value: object, bound: int) -> None:
    tests: dict[str, Callable[[int, int], bool]] = {
        "NumericLessThan": lambda a, b: a < b,
        "NumericGreaterThanEquals": lambda a, b: a >= b,
        "NumericEquals": lambda a, b: a == b,
    }
    for op, test in tests.items():
        rule = {"Variable": "$.v", op: bound, "Next": "Yes"}
        expected = isinstance(value, int) and not isinstance(value, bool) and test(value, bound)
        assert (choose([rule], "No", {"v": value}) == "Yes") == expected


# -- a few behaviours, one small history each ------------------------------------------


def history(*events: tuple[str, float, Mapping[str, object]]) -> str:
    """A history of ``(type, seconds after the start, details)``, each event following
    the one before it."""
    out = []
    for number, (kind, seconds, details) in enumerate(
        [("ExecutionStarted", 0.0, {}), *events], start=1
    ):
        key = {"Entered": "stateEnteredEventDetails", "Exited": "stateExitedEventDetails"}
        detail = next((v for k, v in key.items() if kind.endswith(k)), "taskEventDetails")
        event = {"id": number, "previousEventId": number - 1, "type": kind}
        event["timestamp"] = 1_796_292_000 + seconds
        out.append({**event, detail: details})
    return json.dumps({"events": out})


CALLBACK = json.dumps(
    {
        "StartAt": "Wait for worker",
        "States": {
            "Wait for worker": {
                "Type": "Task",
                "Resource": "arn:aws:states:us-east-1:123456789012:activity:pack",
                "HeartbeatSeconds": 60,
                "End": True,
            }
        },
    }
)


@pytest.mark.parametrize(("after", "reported"), [(10, True), (90, False)])
def test_a_heartbeat_time_out_comes_no_sooner_than_heartbeat_seconds(
    after: int, reported: bool
) -> None:
    run = history(
        ("TaskStateEntered", 0, {"name": "Wait for worker"}),
        ("ActivityScheduled", 0, {"heartbeatInSeconds": 60}),
        ("ActivityStarted", 1, {}),
        ("ActivityTimedOut", after + 1, {"error": "States.HeartbeatTimeout"}),
        ("ExecutionFailed", after + 1, {"error": "States.HeartbeatTimeout"}),
    )
    found = errors(check(CALLBACK, run))
    assert [f.rule for f in found] == ([rules.TASK_TIMEOUT] if reported else [])
    if reported:
        assert "before its HeartbeatSeconds (1m)" in found[0].message


def test_a_late_answer_past_the_heartbeat_is_said_to_be_unjudged() -> None:
    run = history(
        ("TaskStateEntered", 0, {"name": "Wait for worker"}),
        ("ActivityScheduled", 0, {}),
        ("ActivityStarted", 1, {}),
        ("ActivitySucceeded", 600, {}),
        ("TaskStateExited", 600, {"name": "Wait for worker"}),
        ("ExecutionSucceeded", 600, {}),
    )
    found = check(CALLBACK, run)
    assert [(f.rule, f.severity) for f in found] == [(rules.NOT_JUDGED, Severity.INFO)]
    assert "heartbeats" in found[0].message


def test_a_fail_state_gives_its_own_error() -> None:
    definition = json.dumps({"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "X"}}})
    entered = ("FailStateEntered", 0, {"name": "No"})
    assert errors(check(definition, history(entered, ("ExecutionFailed", 0, {"error": "X"})))) == []
    (found,) = errors(check(definition, history(entered, ("ExecutionFailed", 0, {"error": "Y"}))))
    assert found.rule == rules.END_EVENT and "Fail 'No' gives X" in found.message


def test_a_redriven_execution_is_checked_up_to_its_redrive() -> None:
    definition = json.dumps({"StartAt": "No", "States": {"No": {"Type": "Fail", "Error": "X"}}})
    run = history(
        ("FailStateEntered", 0, {"name": "No"}),
        ("ExecutionFailed", 0, {"error": "X"}),
        ("ExecutionRedriven", 5, {}),
        ("FailStateEntered", 5, {"name": "No"}),
    )
    found = check(definition, run)
    assert [f.rule for f in found] == [rules.NOT_JUDGED]


def test_without_previous_event_ids_a_sequential_history_is_still_checked() -> None:
    for name, expected in (("approved", []), ("wrong-branch", [rules.CHOICE_BRANCH])):
        path = HISTORIES / f"human-in-the-loop.{name}.json"

        def strip(events: list[dict[str, object]]) -> None:
            for event in events:
                event.pop("previousEventId")

        found = errors(check(definition_of(path).read_text(), edited(path, strip)))
        assert [f.rule for f in found] == expected


def test_a_wait_for_a_path_is_held_to_the_recorded_input() -> None:
    definition = json.dumps(
        {"StartAt": "Cool", "States": {"Cool": {"Type": "Wait", "SecondsPath": "$.s", "End": True}}}
    )
    for exit_at, expected in ((30, []), (5, [rules.WAIT_EARLY])):
        run = history(
            ("WaitStateEntered", 0, {"name": "Cool", "input": '{"s": 30}'}),
            ("WaitStateExited", exit_at, {"name": "Cool"}),
            ("ExecutionSucceeded", exit_at, {}),
        )
        assert [f.rule for f in errors(check(definition, run))] == expected


NOISE_TYPES = [
    "TaskStateEntered",
    "TaskStateExited",
    "ChoiceStateExited",
    "ParallelStateStarted",
    "ParallelStateFailed",
    "MapIterationStarted",
    "MapIterationFailed",
    "MapStateSucceeded",
    "TaskScheduled",
    "TaskSucceeded",
    "TaskTimedOut",
    "ExecutionFailed",
    "FailStateEntered",
    "EvaluationFailed",
    "MapRunStarted",
    "TaskStateAborted",
    "SomethingNew",
]


@settings(max_examples=150)
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_corrupted_simulated_histories_give_findings_and_never_raise(seed: int) -> None:
    """Random runs with events of the wrong type, dangling ``previousEventId`` and
    details of the wrong shape: findings, never an exception."""
    rng = random.Random(seed)
    definition = random_definition(rng)
    data = json.loads(simulate(definition, seed)[0])
    events = data["events"]
    names = [*definition["States"], "nope", ""]
    for event in events[1:]:
        roll = rng.random()
        if roll < 0.1:
            event["type"] = rng.choice(NOISE_TYPES)
        elif roll < 0.15:
            event["previousEventId"] = rng.randint(0, len(events))
        elif roll < 0.2:
            for key in [k for k in event if k.endswith("Details")]:
                event[key] = {
                    "name": rng.choice(names),
                    "index": rng.choice([0, 1, None, 2.5, "x"]),
                    "input": rng.choice(["{", "[]", '{"total": 5}', None, 3]),
                    "error": rng.choice(["States.ALL", None, 5]),
                }
    found = check(definition, json.dumps(data))
    assert all(isinstance(f, Finding) for f in found)
