"""The ASL time and outcome rules (unbounded-loop, retry-unbounded-delay,
failure-ends-in-success, asl-placeholder-resource), human decisions read from a Choice,
and state machines read from SAM/CloudFormation templates."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import networkx as nx
from hypothesis import given, settings
from hypothesis import strategies as st

from statewright.verify.asl import check_asl_text
from statewright.verify.load.asl import load_asl_text, load_asl_texts
from statewright.verify.load.asl.bounds import retry_delay
from statewright.verify.load.asl.definition import Retrier
from statewright.verify.load.yamlread import read_yaml
from statewright.verify.model import Kind, Location

AT = Location("f", 1, 1)


def findings(definition: dict[str, Any] | str, rule: str, file: str = "f.asl.json") -> list[str]:
    text = definition if isinstance(definition, str) else json.dumps(definition, indent=1)
    return [f.format() for r in check_asl_text(text, file) for f in r.findings if f.rule == rule]


# -- retry-unbounded-delay ----------------------------------------------------------------


def brute_delay(interval: int, attempts: int, rate: float, cap: int | None) -> float:
    """The second implementation: every retry's delay, one by one."""
    total, delay = 0.0, float(interval)
    for _ in range(attempts):
        total += delay if cap is None else min(delay, cap)
        delay *= rate
    return total


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 1000),
    st.integers(0, 40),
    st.sampled_from([1.0, 1.5, 2.0, 2.5, 3.0, 10.0]),
    st.one_of(st.none(), st.integers(1, 100_000)),
)
def test_the_worst_case_delay_is_the_sum_of_every_retry(
    interval: int, attempts: int, rate: float, cap: int | None
) -> None:
    retrier = Retrier(("E",), AT, interval, attempts, rate, cap)
    assert math.isclose(retry_delay(retrier) or 0, brute_delay(interval, attempts, rate, cap))


def test_a_huge_retrier_is_infinite_not_an_overflow() -> None:
    assert retry_delay(Retrier(("E",), AT, 10, 99_999_999, 2.0)) == math.inf
    assert retry_delay(Retrier(("E",), AT, None, 3, 2.0)) is None


def task(**extra: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", **extra}


def retrying(retry: dict[str, Any], timeout: int | None = None) -> dict[str, Any]:
    definition: dict[str, Any] = {
        "StartAt": "T",
        "States": {"T": task(Retry=[{"ErrorEquals": ["States.ALL"], **retry}], End=True)},
    }
    if timeout is not None:
        definition["TimeoutSeconds"] = timeout
    return definition


def test_a_retrier_past_seven_days_is_reported_at_the_retrier() -> None:
    (line,) = findings(retrying({"IntervalSeconds": 5, "MaxAttempts": 20}), "retry-unbounded-delay")
    assert line.startswith("f.asl.json:8:5: warning[retry-unbounded-delay]")
    assert "60d16h21m15s" in line and "7 days" in line


def test_a_capped_or_short_retrier_passes_and_a_timeout_is_the_limit() -> None:
    capped = {"IntervalSeconds": 5, "MaxAttempts": 20, "MaxDelaySeconds": 300}
    assert findings(retrying(capped), "retry-unbounded-delay") == []
    assert findings(retrying({"MaxAttempts": 3}), "retry-unbounded-delay") == []
    # 1 + 2 + 4 + ... + 512 = 1023 s: past a 10-minute execution, within a 20-minute one
    ten = {"MaxAttempts": 10}
    assert "TimeoutSeconds (10m)" in findings(retrying(ten, 600), "retry-unbounded-delay")[0]
    assert findings(retrying(ten, 1200), "retry-unbounded-delay") == []


# -- unbounded-loop -----------------------------------------------------------------------


def polling(
    *, timeout: bool = False, counter: bool = False, bypass: bool = False
) -> dict[str, Any]:
    rules: list[dict[str, Any]] = [{"Variable": "$.s", "StringEquals": "ok", "Next": "Done"}]
    if counter:
        rules.append({"Variable": "$.n.count", "NumericGreaterThan": 5, "Next": "Gave up"})
    states: dict[str, Any] = {
        "Wait": {"Type": "Wait", "Seconds": 15, "Next": "Count"},
        "Count": {
            "Type": "Pass",
            "Parameters": {"count.$": "States.MathAdd($.n.count, 1)"},
            "ResultPath": "$.n",
            "Next": "Poll",
        },
        "Poll": task(ResultPath="$.s", Next="Ready?"),
        "Ready?": {"Type": "Choice", "Choices": rules, "Default": "Wait"},
        "Done": {"Type": "Succeed"},
        "Gave up": {"Type": "Fail"},
    }
    if bypass:  # a second way round that skips the counting Choice
        states["Poll"]["Catch"] = [{"ErrorEquals": ["States.ALL"], "Next": "Wait"}]
    definition: dict[str, Any] = {"StartAt": "Wait", "States": states}
    if timeout:
        definition["TimeoutSeconds"] = 3600
    return definition


def test_a_polling_loop_that_nothing_bounds_is_reported_at_its_choice() -> None:
    (line,) = findings(polling(), "unbounded-loop")
    assert "error[unbounded-loop] the loop 'Ready?' -> 'Wait' -> 'Count' -> 'Poll'" in line
    assert line.startswith("f.asl.json:23:3:")  # the key "Ready?"


def test_a_timeout_or_a_counter_bounds_the_loop() -> None:
    assert findings(polling(timeout=True), "unbounded-loop") == []
    assert findings(polling(counter=True), "unbounded-loop") == []


def test_a_cycle_around_the_counting_choice_is_still_unbounded() -> None:
    (line,) = findings(polling(counter=True, bypass=True), "unbounded-loop")
    assert "'Wait' -> 'Count' -> 'Poll' -> 'Wait'" in line


def test_a_counter_the_loop_does_not_write_bounds_nothing() -> None:
    definition = polling(counter=True)
    del definition["States"]["Count"]["ResultPath"], definition["States"]["Count"]["Parameters"]
    assert len(findings(definition, "unbounded-loop")) == 1


def test_a_jsonata_counter_bounds_the_loop() -> None:
    definition: dict[str, Any] = {
        "QueryLanguage": "JSONata",
        "StartAt": "Poll",
        "States": {
            "Poll": task(Assign={"tries": "{% $tries + 1 %}"}, Next="Again?"),
            "Again?": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $tries >= 3 %}", "Next": "Done"}],
                "Default": "Poll",
            },
            "Done": {"Type": "Succeed"},
        },
    }
    assert findings(definition, "unbounded-loop") == []
    del definition["States"]["Poll"]["Assign"]
    assert len(findings(definition, "unbounded-loop")) == 1


def test_a_loop_without_a_way_out_is_a_trap_not_an_unbounded_loop() -> None:
    choice = {"Variable": "$.x", "IsPresent": True, "Next": "A"}
    definition = {
        "StartAt": "C",
        "States": {
            "C": {"Type": "Choice", "Choices": [choice], "Default": "D"},
            "D": {"Type": "Succeed"},
            "A": {"Type": "Wait", "Seconds": 1, "Next": "B"},
            "B": {"Type": "Pass", "Next": "A"},
        },
    }
    assert findings(definition, "unbounded-loop") == []
    assert findings(definition, "trap")


@st.composite
def flows(draw: st.DrawFn) -> dict[str, Any]:
    """Random small definitions of Pass, Wait, Task and Choice states (no counters)."""
    count = draw(st.integers(2, 7))
    names = [f"S{i}" for i in range(count)]
    targets = st.sampled_from([*names, "END"])
    states: dict[str, Any] = {}
    for name in names:
        kind = draw(st.sampled_from(["Pass", "Wait", "Task", "Choice"]))
        state: dict[str, Any] = {"Type": kind}
        if kind == "Choice":
            nexts = draw(st.lists(st.sampled_from(names), min_size=1, max_size=2))
            state["Choices"] = [{"Variable": "$.x", "StringEquals": "a", "Next": n} for n in nexts]
            state["Default"] = draw(st.sampled_from(names))
        else:
            target = draw(targets)
            state.update({"End": True} if target == "END" else {"Next": target})
            if kind == "Task":
                state["Resource"] = "arn:aws:states:::lambda:invoke"
            if kind == "Wait":
                state["Seconds"] = 1
        states[name] = state
    return {"StartAt": "S0", "States": states}


@settings(max_examples=150, deadline=None)
@given(flows())
def test_every_cycle_with_a_way_out_is_reported_as_networkx_enumerates_them(
    definition: dict[str, Any],
) -> None:
    """Second implementation: enumerate the simple cycles; the states on cycles of a
    component that the execution can leave are those the findings name."""
    states = definition["States"]
    graph = nx.DiGraph()
    for name, state in states.items():
        graph.add_node(name)
        for target in [state.get("Next"), state.get("Default")]:
            if target:
                graph.add_edge(name, target)
        for rule in state.get("Choices", []):
            graph.add_edge(name, rule["Next"])
    looping: set[str] = set()
    for component in nx.strongly_connected_components(graph):
        leaves = any(
            states[n].get("End") or states[n]["Type"] == "Task" or set(graph[n]) - component
            for n in component
        )
        cyclic = len(component) > 1 or any(graph.has_edge(n, n) for n in component)
        if leaves and cyclic:
            looping |= {n for cycle in nx.simple_cycles(graph.subgraph(component)) for n in cycle}
    (load,) = load_asl_texts(json.dumps(definition), "r.asl.json")
    named = {
        name
        for f in load.findings
        if f.rule == "unbounded-loop"
        for name in states
        if f"'{name}'" in f.message.split(" can go round")[0]
    }
    reported = {f.message.split("'")[1] for f in load.findings if f.rule == "unbounded-loop"}
    assert named <= looping
    components = [c for c in nx.strongly_connected_components(graph) if c & looping]
    assert len(reported) == len(components)


# -- failure-ends-in-success --------------------------------------------------------------


def catching(handler: dict[str, Any]) -> dict[str, Any]:
    states = {
        "Work": task(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Handle"}], Next="More"),
        "More": task(Next="Done"),
        "Done": {"Type": "Succeed"},
        **handler,
    }
    return {"StartAt": "Work", "States": states}


def test_a_handler_that_only_ends_is_a_failure_reported_as_success() -> None:
    (line,) = findings(catching({"Handle": task(End=True)}), "failure-ends-in-success")
    assert "warning[failure-ends-in-success] the Catch of 'Work' for States.ALL" in line
    (line,) = findings(catching({"Handle": task(Next="Done")}), "failure-ends-in-success")


def test_a_handler_that_fails_retries_or_recovers_passes() -> None:
    fails = {"Handle": task(Next="Failed"), "Failed": {"Type": "Fail"}}
    retries = {"Handle": {"Type": "Wait", "Seconds": 5, "Next": "Work"}}
    recovers = {"Handle": task(Next="More")}
    choice = {
        "Handle": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.x", "IsPresent": True, "Next": "Failed"}],
            "Default": "Done",
        },
        "Failed": {"Type": "Fail"},
    }
    for handler in (fails, retries, recovers, choice):
        assert findings(catching(handler), "failure-ends-in-success") == [], handler


def test_a_catch_inside_an_iterator_hands_its_outcome_to_the_parent() -> None:
    inner = catching({"Handle": task(End=True)})
    definition = {
        "StartAt": "Each",
        "States": {"Each": {"Type": "Map", "ItemProcessor": inner, "End": True}},
    }
    assert findings(definition, "failure-ends-in-success") == []


# -- placeholders and human decisions -----------------------------------------------------


def test_a_placeholder_resource_is_an_info_finding_unless_something_bounds_it() -> None:
    waiting: dict[str, Any] = {
        "StartAt": "W",
        "States": {"W": {"Type": "Task", "Resource": "${Act}", "End": True}},
    }
    (line,) = findings(waiting, "asl-placeholder-resource")
    assert "info[asl-placeholder-resource] the Resource of 'W' (${Act})" in line
    waiting["States"]["W"]["HeartbeatSeconds"] = 60
    assert findings(waiting, "asl-placeholder-resource") == []


def test_a_placeholder_named_as_a_lambda_function_is_one() -> None:
    for resource in ("${CheckPriceFnArn}", "${Handler1FunctionArn}", "${invoke_lambda}"):
        states = {"W": {"Type": "Task", "Resource": resource, "End": True}}
        assert findings({"StartAt": "W", "States": states}, "asl-placeholder-resource") == []


def test_an_activity_arn_with_substitutions_is_an_activity() -> None:
    resource = "arn:aws:states:${AWS::Region}:${AWS::AccountId}:activity:Review"
    definition = {
        "StartAt": "W",
        "States": {"W": {"Type": "Task", "Resource": resource, "End": True}},
    }
    assert load_asl_text(json.dumps(definition)).callbacks == {"W"}


def decided(field: str) -> dict[str, Any]:
    resource = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    return {
        "StartAt": "Send link",
        "States": {
            "Send link": {
                "Type": "Task",
                "Resource": resource,
                "TimeoutSeconds": 60,
                "Next": "Check",
            },
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": field, "StringEquals": "yes", "Next": "Done"}],
                "Default": "No",
            },
            "Done": {"Type": "Succeed"},
            "No": {"Type": "Fail"},
        },
    }


def test_a_callback_whose_result_a_choice_on_a_decision_reads_is_human() -> None:
    load = load_asl_text(json.dumps(decided("$.taskresult.approved")))
    assert load.human == {"Send link"}
    assert load.machines[0].spec.states[0].kind is Kind.APPROVAL
    assert load_asl_text(json.dumps(decided("$.taskresult.size"))).human == frozenset()


# -- templates ----------------------------------------------------------------------------

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Transform: AWS::Serverless-2016-10-31
Resources:
  Worker:
    Type: AWS::StepFunctions::Activity
    Properties: {Name: worker}
  Inline:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionSubstitutions:
        WorkerArn: !Ref Worker
      Definition:
        StartAt: Work
        States:
          Work:
            Type: Task
            Resource: ${WorkerArn}
            End: true
  AsString:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      DefinitionString: !Sub |
        {"StartAt": "Poll",
         "States": {
           "Poll": {"Type": "Task", "Resource": "${Fn}", "Next": "Ready?"},
           "Ready?": {"Type": "Choice", "Default": "Poll",
             "Choices": [{"Variable": "$.ok", "BooleanEquals": true, "Next": "Done"}]},
           "Done": {"Type": "Succeed"}}}
  Joined:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      DefinitionString: !Join ["", ['{"StartAt": "A", "States": {"A": ', '{"Type": "Task", ',
        '"Resource": "', !GetAtt Fn.Arn, '", "End": true}}}']]
  InS3:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      DefinitionS3Location: {Bucket: b, Key: k}
  Fn:
    Type: AWS::Serverless::Function
"""


def test_each_state_machine_of_a_template_is_checked_at_its_own_place() -> None:
    results = check_asl_text_all(TEMPLATE)
    assert [r.file for r in results] == [
        "template.yaml#Inline",
        "template.yaml#AsString",
        "template.yaml#Joined",
        "template.yaml#InS3",
    ]
    lines = [f.format() for r in results for f in r.findings if f.severity != "info"]
    # the activity named by !Ref through DefinitionSubstitutions waits for a worker
    assert any(
        line.startswith("template.yaml:15:11: error[waiting-missing-timeout]") for line in lines
    )
    # the literal block keeps the template's lines and columns
    assert any(line.startswith("template.yaml:26:12: error[unbounded-loop]") for line in lines)
    assert any(
        line.startswith("template.yaml:37:29: warning[asl-template-source]") for line in lines
    )
    joined = next(r for r in results if r.file.endswith("#Joined"))
    assert joined.spec is not None and joined.spec.machine == "joined"
    assert not [f for f in joined.findings if f.severity == "error"]


def check_asl_text_all(text: str) -> list[Any]:
    from statewright.verify.asl import check_asl

    return [r for load in load_asl_texts(text, "template.yaml") for r in check_asl(load)]


def test_a_definition_uri_is_read_beside_the_template(tmp_path: Path) -> None:
    (tmp_path / "flow.asl.json").write_text(
        '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "Next": "X"},'
        ' "X": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "W"}}}'
    )
    template = tmp_path / "template.yaml"
    template.write_text(
        "Resources:\n  Flow:\n    Type: AWS::Serverless::StateMachine\n"
        "    Properties:\n      DefinitionUri: flow.asl.json\n"
    )
    run = subprocess.run(
        [sys.executable, "-m", "statewright", "check", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1, run.stderr
    assert f"{tmp_path / 'flow.asl.json'}:1:29: error[unbounded-loop]" in run.stdout
    assert f"{template}#Flow: flow: failed" in run.stdout


def test_intrinsic_tags_are_read_only_when_asked() -> None:
    assert read_yaml("a: !Ref X\n", "t").findings
    root = read_yaml("a: !Ref X\nb: !GetAtt [A, Arn]\n", "t", intrinsic=True).root
    assert repr(root.get("a")) == "Mapping(1 entries, 1:4)"  # type: ignore[union-attr]


def test_an_intrinsic_delay_in_a_template_is_a_delay_not_written_out() -> None:
    template = (
        "Resources:\n  Flow:\n    Type: AWS::StepFunctions::StateMachine\n    Properties:\n"
        "      Definition:\n        StartAt: W\n        States:\n"
        "          W: {Type: Wait, Seconds: !Ref Pause, Next: T}\n"
        "          T: {Type: Task, Resource: !GetAtt Fn.Arn, TimeoutSeconds: !Ref Limit,"
        " End: true}\n"
    )
    (load,) = load_asl_texts(template, "template.yaml")
    assert load.machines, [f.format() for f in load.findings]
    delays = [f.message for f in load.findings if "not written out" in f.message]
    assert delays and "'W', 'T' (Seconds, TimeoutSeconds)" in delays[0]


def test_a_template_error_elsewhere_does_not_keep_its_machine_from_being_checked() -> None:
    template = (
        "Resources:\n  Vpc: {Type: AWS::EC2::VPC}\n  Vpc: {Type: AWS::EC2::VPC}\n"
        "  Flow:\n    Type: AWS::StepFunctions::StateMachine\n    Properties:\n"
        "      Definition: {StartAt: W, States: {W: {Type: Wait, Seconds: 1, Next: T},"
        " T: {Type: Task, Resource: x, Next: W}}}\n"
    )
    (load,) = load_asl_texts(template, "template.yaml")
    assert load.machines
    assert {f.rule for f in load.findings} >= {"duplicate-key", "unbounded-loop"}


def test_a_callback_whose_timeout_catch_returns_to_it_is_an_unbounded_loop() -> None:
    resource = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    definition = {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "Task",
                "Resource": resource,
                "TimeoutSeconds": 3600,
                "Catch": [{"ErrorEquals": ["States.Timeout"], "Next": "Remind"}],
                "End": True,
            },
            "Remind": task(Next="Ask"),
        },
    }
    (line,) = findings(definition, "unbounded-loop")
    assert "the loop 'Ask' -> 'Remind' -> 'Ask'" in line


def test_an_express_workflow_runs_five_minutes_at_most() -> None:
    template = (
        "Resources:\n  Flow:\n    Type: AWS::Serverless::StateMachine\n    Properties:\n"
        "      Type: EXPRESS\n"
        "      Definition: {StartAt: W, States: {W: {Type: Wait, Seconds: 1, Next: T},"
        " T: {Type: Task, Resource: x, Next: W,"
        " Retry: [{ErrorEquals: [States.ALL], MaxAttempts: 10}]}}}\n"
    )
    (load,) = load_asl_texts(template, "template.yaml")
    rules = {f.rule: f for f in load.findings}
    assert "unbounded-loop" not in rules
    assert "an Express execution's limit (5m)" in rules["retry-unbounded-delay"].message
    assert "unbounded-loop" in {
        f.rule for f in load_asl_texts(template.replace("EXPRESS", "STANDARD"))[0].findings
    }
