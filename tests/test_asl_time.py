"""The worst case of a Step Functions execution (statewright.verify.load.asl.elapsed),
checked against a second implementation: a simulation of every execution of random small
definitions, attempt by attempt (each Task or Parallel attempt may succeed or raise any
error, each error matched against the retriers and their counters as Step Functions
does, then against the Catches), and against values worked out by hand for definitions
of the corpus (tests/data/asl)."""

from __future__ import annotations

import json
import random
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from statewright.verify.asl import check_asl_text
from statewright.verify.findings import Finding
from statewright.verify.load.asl import ExecutionTime, load_asl_file, load_asl_text
from statewright.verify.load.asl.definition import Retrier
from statewright.verify.load.asl.elapsed import LAMBDA_SECONDS, execution_time, retrier_seconds
from statewright.verify.load.asl.read import read_definition
from statewright.verify.load.yamlread import read_yaml
from statewright.verify.model import Location
from statewright.verify.report.jsondoc import render_json
from statewright.verify.report.text import render_text

CORPUS = Path(__file__).resolve().parent / "data" / "asl"
ERRORS = ("E1", "E2", "E3")
"""What an attempt may raise in the simulation; E3 is named by no retrier or Catch."""
LAMBDA = "arn:aws:states:::lambda:invoke"
CENTURY = 100 * 365 * 86_400


def time_of(definition: dict[str, Any]) -> ExecutionTime:
    text = json.dumps(definition)
    root = read_yaml(text, "r.asl.json").root
    assert root is not None
    problems: list[Finding] = []
    top = read_definition(root, "r.asl.json", problems)
    assert top is not None and not problems, problems
    return execution_time(top)


# -- the second implementation ----------------------------------------------------------


def simulate(definition: dict[str, Any]) -> Fraction:
    """The longest execution, every one of them walked: the outcomes of each state are the
    set of (time it took, where it went) over every sequence of attempts."""
    return max(t for t, _ in _outcomes(json.dumps(definition)))


@cache
def _outcomes(text: str) -> frozenset[tuple[Fraction, bool]]:
    """The longest time an execution of the definition ``text`` can end in success, and
    the longest it can end in failure. (Every step adds time whatever came before, so the
    longer of two ways to the same point is the only one that matters.)"""
    definition = json.loads(text)
    states = definition["States"]
    ends: set[tuple[Fraction, bool]] = set()
    pending: list[tuple[str, Fraction]] = [(definition["StartAt"], Fraction(0))]
    seen = {definition["StartAt"]: Fraction(0)}
    while pending:
        name, clock = pending.pop()
        state = states[name]
        kind = state["Type"]
        if kind in ("Succeed", "Fail"):
            ends.add((clock, kind == "Fail"))
            continue
        if kind == "Choice":
            for target in [r["Next"] for r in state["Choices"]] + [state["Default"]]:
                _push(pending, seen, (target, clock))
            continue
        for spent, went in _attempts(state):
            if went is None:
                ends.add((clock + spent, False))
            elif went == "":
                ends.add((clock + spent, True))
            else:
                _push(pending, seen, (went, clock + spent))
    return frozenset(
        (max(t for t, f in ends if f == failed), failed) for failed in {f for _, f in ends}
    )


def _push(
    pending: list[tuple[str, Fraction]],
    seen: dict[str, Fraction],
    item: tuple[str, Fraction],
) -> None:
    name, clock = item
    if name not in seen or seen[name] < clock:
        seen[name] = clock
        pending.append(item)


def _attempts(state: dict[str, Any]) -> set[tuple[Fraction, str | None]]:
    """Each (time, next state) the state can end with, its retries walked one attempt at
    a time: None for the end of the execution, "" for its failure."""
    succeeded = state.get("Next")
    retriers = state.get("Retry", [])
    found: set[tuple[Fraction, str | None]] = set()
    # (time so far, each retrier's attempts so far)
    frontier = [(Fraction(0), (0,) * len(retriers))]
    seen = {(0,) * len(retriers): Fraction(0)}  # the longest way to each count of retries
    while frontier:
        clock, used = frontier.pop()
        if seen[used] > clock:
            continue
        for spent, may_fail in _one_attempt(state):
            now = clock + spent
            found.add((now, succeeded))
            if not may_fail:
                continue
            for error in ERRORS:
                k = next(
                    (
                        i
                        for i, r in enumerate(retriers)
                        if error in r["ErrorEquals"] or "States.ALL" in r["ErrorEquals"]
                    ),
                    None,
                )
                if k is not None and used[k] < retriers[k].get("MaxAttempts", 3):
                    r = retriers[k]
                    delay = (
                        Fraction(r.get("IntervalSeconds", 1))
                        * Fraction(r.get("BackoffRate", 2.0)) ** used[k]
                    )
                    if "MaxDelaySeconds" in r:
                        delay = min(delay, Fraction(r["MaxDelaySeconds"]))
                    again = (*used[:k], used[k] + 1, *used[k + 1 :])
                    if again not in seen or seen[again] < now + delay:
                        seen[again] = now + delay
                        frontier.append((now + delay, again))
                    continue
                catcher = next(
                    (
                        c
                        for c in state.get("Catch", [])
                        if error in c["ErrorEquals"] or "States.ALL" in c["ErrorEquals"]
                    ),
                    None,
                )
                found.add((now, "" if catcher is None else catcher["Next"]))
    return found


def _one_attempt(state: dict[str, Any]) -> set[tuple[Fraction, bool]]:
    """How long one attempt can take, and whether it may raise an error."""
    kind = state["Type"]
    if kind == "Wait":
        return {(Fraction(state["Seconds"]), False)}
    if kind == "Pass":
        return {(Fraction(0), False)}
    if kind == "Task":
        return {(Fraction(state.get("TimeoutSeconds", LAMBDA_SECONDS)), True)}
    assert kind == "Parallel"
    combos: list[list[tuple[Fraction, bool]]] = [[]]
    for branch in state["Branches"]:
        outcomes = _outcomes(json.dumps(branch))
        combos = [[*c, o] for c in combos for o in outcomes]
    found = set()
    for combo in combos:
        failures = [t for t, failed in combo if failed]
        # the first branch to fail stops the others; else the last to end ends it
        found.add((min(failures) if failures else max(t for t, _ in combo), True))
    return found


# -- random definitions -----------------------------------------------------------------


def _retriers(rng: random.Random) -> list[dict[str, Any]]:
    found = []
    pool = ["E1", "E2"]
    for _ in range(rng.randint(0, 2)):
        retrier: dict[str, Any] = {"ErrorEquals": rng.sample(pool, rng.randint(1, 2))}
        if rng.random() < 0.7:
            retrier["MaxAttempts"] = rng.randint(0, 3)
        if rng.random() < 0.7:
            retrier["IntervalSeconds"] = rng.randint(1, 9)
        if rng.random() < 0.7:
            retrier["BackoffRate"] = rng.choice([1.0, 1.5, 2.0, 2.5])
        if rng.random() < 0.4:
            retrier["MaxDelaySeconds"] = rng.randint(1, 12)
        if rng.random() < 0.2:
            retrier["JitterStrategy"] = "FULL"
        found.append(retrier)
    if rng.random() < 0.3:
        found.append({"ErrorEquals": ["States.ALL"], "MaxAttempts": rng.randint(0, 2)})
    return found


def _task(rng: random.Random, later: list[str], catch_all: bool) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": LAMBDA}
    if rng.random() < 0.7:
        state["TimeoutSeconds"] = rng.randint(1, 60)
    if retriers := _retriers(rng):
        state["Retry"] = retriers
    catchers = []
    if later and rng.random() < 0.5:
        catchers.append({"ErrorEquals": ["E1"], "Next": rng.choice(later)})
    if later and (catch_all or rng.random() < 0.3):
        catchers.append({"ErrorEquals": ["States.ALL"], "Next": rng.choice(later)})
    if catchers:
        state["Catch"] = catchers
    return state


def random_definition(rng: random.Random, depth: int = 0, timer: bool = False) -> dict[str, Any]:
    """States S0..Sn, each going only to later ones (no cycle), ending in a Succeed (and
    a Fail at the top). A branch of a Parallel is either a *timer* (Wait, Pass, Choice,
    and a Fail at the end) or one that never fails (every Task caught into the branch,
    no Fail), so that the analysis's rule for Parallel is exact."""
    count = rng.randint(1, 4 if depth else 6)
    names = [f"S{i}" for i in range(count)]
    finals = ["FAILED"] if timer else ["DONE", *(["FAILED"] if depth == 0 else [])]
    states: dict[str, Any] = {}
    for i, name in enumerate(names):
        later = names[i + 1 :] + finals
        kinds = ["Wait", "Pass", "Choice"] if timer else ["Wait", "Pass", "Choice", "Task"]
        if depth == 0:
            kinds.append("Parallel")
        kind = rng.choice(kinds)
        if kind == "Wait":
            state: dict[str, Any] = {"Type": "Wait", "Seconds": rng.randint(0, 30)}
        elif kind == "Pass":
            state = {"Type": "Pass"}
        elif kind == "Choice":
            rules = [
                {"Variable": "$.x", "NumericEquals": k, "Next": rng.choice(later)}
                for k in range(rng.randint(1, 2))
            ]
            states[name] = {"Type": "Choice", "Choices": rules, "Default": rng.choice(later)}
            continue
        elif kind == "Task":
            state = _task(rng, later, catch_all=depth > 0)
        else:
            branches = [
                random_definition(rng, depth + 1, timer=rng.random() < 0.3)
                for _ in range(rng.randint(1, 2))
            ]
            state = {"Type": "Parallel", "Branches": branches}
            if retriers := _retriers(rng):
                state["Retry"] = retriers
        state["Next"] = rng.choice(later)
        states[name] = state
    if "DONE" in finals:
        states["DONE"] = {"Type": "Succeed"}
    if "FAILED" in finals:
        states["FAILED"] = {"Type": "Fail", "Error": "Stopped"}
    return {"StartAt": names[0], "States": states}


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_the_worst_case_is_the_longest_execution_simulated(seed: int) -> None:
    definition = random_definition(random.Random(seed))
    time = time_of(definition)
    longest = simulate(definition)
    assert time.uncapped == -(-longest.numerator // longest.denominator)
    assert time.seconds == time.uncapped


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 400))
def test_the_execution_timeout_caps_the_worst_case(seed: int, timeout: int) -> None:
    definition = random_definition(random.Random(seed))
    definition["TimeoutSeconds"] = timeout
    time = time_of(definition)
    longest = simulate(definition)
    assert time.seconds == min(timeout, -(-longest.numerator // longest.denominator))
    assert time.uncapped is not None
    if time.uncapped > timeout:
        assert time.describe().endswith("(its TimeoutSeconds)")


def brute_retrier(interval: int, attempts: int, rate: float, cap: int | None) -> Fraction:
    total, delay = Fraction(0), Fraction(interval)
    for _ in range(attempts):
        total += delay if cap is None else min(delay, Fraction(cap))
        delay *= Fraction(rate)
    return total


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 1000),
    st.integers(0, 60),
    st.sampled_from([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 10.0]),
    st.one_of(st.none(), st.integers(1, 100_000)),
)
def test_a_retriers_delays_are_added_one_by_one(
    interval: int, attempts: int, rate: float, cap: int | None
) -> None:
    retrier = Retrier(("E",), Location("f", 1, 1), interval, attempts, rate, cap)
    found = retrier_seconds(retrier)
    assert found is not None
    exact = brute_retrier(interval, attempts, rate, cap)
    if exact > CENTURY:  # not added up past a hundred years, but past that all the same
        assert found > CENTURY
    elif rate >= 1:
        assert found == exact
    else:  # below 1 (which AWS refuses), a bound
        assert found >= exact


def test_a_huge_backoff_is_bounded_without_adding_every_attempt() -> None:
    retrier = Retrier(("E",), Location("f", 1, 1), 10, 99_999_999, 2.0)
    found = retrier_seconds(retrier)
    assert found is not None and found > CENTURY


# -- what makes it unbounded ------------------------------------------------------------


def _wait_loop() -> dict[str, Any]:
    return {
        "StartAt": "Wait",
        "States": {
            "Wait": {"Type": "Wait", "Seconds": 15, "Next": "Check"},
            "Check": {
                "Type": "Task",
                "Resource": LAMBDA,
                "TimeoutSeconds": 30,
                "ResultPath": "$.status",
                "Next": "Done?",
            },
            "Done?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.status", "StringEquals": "DONE", "Next": "End"}],
                "Default": "Wait",
            },
            "End": {"Type": "Succeed"},
        },
    }


def test_a_polling_loop_is_unbounded_until_the_execution_times_out() -> None:
    definition = _wait_loop()
    time = time_of(definition)
    assert time.seconds is None
    assert time.describe() == (
        "an execution can go round 'Wait', 'Check', 'Done?' with no bound written on the rounds"
    )
    definition["TimeoutSeconds"] = 3600
    capped = time_of(definition)
    assert (capped.seconds, capped.describe()) == (
        3600,
        "every execution ends within 1h (its TimeoutSeconds)",
    )


@pytest.mark.parametrize(
    ("state", "why"),
    [
        (
            {"Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken"},
            "a callback with no TimeoutSeconds",
        ),
        (
            {
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "HeartbeatSeconds": 60,
            },
            "a callback with no TimeoutSeconds: HeartbeatSeconds alone lets a worker that "
            "keeps beating hold it",
        ),
        (
            {"Resource": "arn:aws:states:us-east-1:123456789012:activity:review"},
            "an activity with no TimeoutSeconds",
        ),
        (
            {"Resource": "arn:aws:states:::glue:startJobRun.sync"},
            "a .sync job with no TimeoutSeconds",
        ),
        ({"Resource": "arn:aws:states:::dynamodb:putItem"}, "a Task with no TimeoutSeconds"),
        (
            {"Resource": "arn:aws:states:::dynamodb:putItem", "TimeoutSecondsPath": "$.t"},
            "its TimeoutSecondsPath is read from the input",
        ),
        (
            {"Resource": "${WorkerArn}"},
            "its Resource is filled in when deployed, and it has no TimeoutSeconds",
        ),
    ],
)
def test_a_task_nothing_times_out_is_named_with_its_reason(state: dict[str, Any], why: str) -> None:
    definition = {"StartAt": "Work", "States": {"Work": {"Type": "Task", **state, "End": True}}}
    time = time_of(definition)
    assert time.seconds is None
    assert time.describe() == f"an execution can wait in 'Work' for ever ({why})"


@pytest.mark.parametrize(
    "resource",
    [
        LAMBDA,
        "arn:aws:lambda:us-east-1:123456789012:function:charge",
        "${ChargeFunctionArn}",
    ],
)
def test_a_lambda_function_returns_within_lambdas_own_limit(resource: str) -> None:
    definition = {
        "StartAt": "Charge",
        "States": {"Charge": {"Type": "Task", "Resource": resource, "End": True}},
    }
    assert time_of(definition).seconds == LAMBDA_SECONDS


def test_waits_read_from_the_input_and_maps_are_unbounded() -> None:
    waits = {
        "StartAt": "Until",
        "States": {"Until": {"Type": "Wait", "TimestampPath": "$.when", "End": True}},
    }
    assert time_of(waits).describe() == (
        "an execution can wait in 'Until' for ever (its TimestampPath is read from the input)"
    )
    each = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemProcessor": {
                    "StartAt": "Charge",
                    "States": {"Charge": {"Type": "Task", "Resource": LAMBDA, "End": True}},
                },
                "End": True,
            }
        },
    }
    assert time_of(each).describe() == (
        "an execution can run Map 'Each' for as many items as its input holds (each item "
        "within 15m; the definition does not bound the items)"
    )


def test_an_unbounded_state_in_a_branch_says_which_branch() -> None:
    definition = {
        "StartAt": "Both",
        "States": {
            "Both": {
                "Type": "Parallel",
                "Branches": [
                    {"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 5, "End": True}}},
                    {
                        "StartAt": "B",
                        "States": {
                            "B": {
                                "Type": "Task",
                                "Resource": "arn:aws:states:::sns:publish",
                                "End": True,
                            }
                        },
                    },
                ],
                "End": True,
            }
        },
    }
    assert time_of(definition).describe() == (
        "an execution can wait in 'B' (in Both/branch1) for ever (a Task with no TimeoutSeconds)"
    )


# -- the report -------------------------------------------------------------------------


def test_the_spec_line_and_json_carry_an_executions_worst_case() -> None:
    text = json.dumps(
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 90, "End": True}}}
    )
    results = check_asl_text(text, "w.asl.json")
    assert "; every execution ends within 1m 30s" in render_text(results)
    assert json.loads(render_json(results))["specs"][0]["stats"]["worst_case_seconds"] == 90


def test_an_express_workflow_ends_within_five_minutes() -> None:
    template = """
Resources:
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      Type: EXPRESS
      Definition:
        StartAt: Call
        States:
          Call: {Type: Task, Resource: "arn:aws:states:::dynamodb:putItem", End: true}
"""
    (load,) = [load_asl_text(template, "t.template.yaml")]
    assert load.time is not None
    assert load.time.describe() == "every execution ends within 5m (an Express execution's limit)"


# -- worked out by hand for the corpus --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "seconds"),
    [
        # 'Call Amazon S3 ListObjectsV2', TimeoutSeconds 5: six attempts (1, then 2 of
        # ErrorA/ErrorB and 3 of ErrorC, MaxAttempts' default) = 30 s; delays 1 + 2 (the
        # first retrier) and 5 + 10 + 20 (the second, BackoffRate's default 2) = 38 s
        ("simple-retry.asl.json", 68),
        # 'Notify Approver' (a callback, TimeoutSeconds 3600), then at worst 'Handle
        # failure': a Lambda (900 s) tried 7 times, waiting 2+4+8+16+32+64 = 126 s
        ("human-in-the-loop.asl.json", 3600 + 7 * 900 + 126),
        # the timer branch waits 15 s and fails, which stops the polling branches
        ("either-or-parallel-pattern.asl.json", 15),
        # a polling loop, capped by the execution's TimeoutSeconds (3600)
        ("synchronous-job.asl.json", 3600),
        # two Lambda invocations (900 s each, no TimeoutSeconds), each retried 6 times
        # 2 s apart doubling: 2 * (7 * 900 + 2 + 4 + 8 + 16 + 32 + 64)
        ("background-cropper.asl.json", 2 * (7 * 900 + 126)),
        # TimeoutSeconds 15, States.ALL retried 4 times 5 s apart (BackoffRate 1)
        ("redshift-batch-execute.asl.json", 5 * 15 + 4 * 5),
        # a Wait on SecondsPath; loops that only a Lambda's timer ends
        ("request-response.asl.json", None),
        ("load-testing-orchestrator.asl.json", None),
    ],
)
def test_hand_worked_worst_cases_of_the_corpus(name: str, seconds: int | None) -> None:
    load = load_asl_file(CORPUS / name)
    assert load.time is not None and load.time.seconds == seconds
