"""The ASL mapping, construct by construct, on small inline definitions (docs/asl.md)."""

from __future__ import annotations

import doctest
import json
from typing import Any

import pytest

import statewright.verify.asl
import statewright.verify.load.asl
import statewright.verify.load.asl.names
from statewright.verify.asl import check_asl_text
from statewright.verify.check import CheckResult
from statewright.verify.load.asl import AslOptions, Machine, load_asl_text
from statewright.verify.model import Kind, Spec

CALLBACK = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
LAMBDA = "arn:aws:states:::lambda:invoke"


def asl(states: dict[str, Any], start: str | None = None, **top: Any) -> str:
    """A definition as indented JSON, one key a line, starting at ``start`` (default: the
    first state)."""
    return json.dumps({"StartAt": start or next(iter(states)), "States": states, **top}, indent=2)


def machines(text: str, options: AslOptions | None = None) -> tuple[Machine, ...]:
    result = load_asl_text(text, "m.asl.json", options)
    assert result.machines, [f.format() for f in result.findings]
    return result.machines


def top(text: str, options: AslOptions | None = None) -> Spec:
    return machines(text, options)[0].spec


def edges(spec: Spec) -> set[tuple[str, str, str]]:
    return {t.key for t in spec.transitions}


def rules(results: list[CheckResult]) -> list[tuple[str, str]]:
    """``(result name, rule)`` of every finding that is not info."""
    return [(r.file, f.rule) for r in results for f in r.findings if f.severity != "info"]


def line_of(text: str, needle: str) -> int:
    (line,) = [i for i, text_line in enumerate(text.splitlines(), 1) if needle in text_line]
    return line


def test_the_modules_examples_run() -> None:
    for module in (
        statewright.verify.load.asl,
        statewright.verify.load.asl.names,
        statewright.verify.asl,
    ):
        failed, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert tried > 0 and failed == 0, module.__name__


def test_states_keep_their_words_and_kinds_and_point_at_their_keys() -> None:
    text = asl(
        {
            "Charge Card": {"Type": "Task", "Resource": LAMBDA, "Next": "Is it paid?"},
            "Is it paid?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.paid", "BooleanEquals": True, "Next": "Done"}],
                "Default": "Refused",
            },
            "Done": {"Type": "Succeed"},
            "Refused": {"Type": "Fail", "Error": "CardRefused", "Cause": "no money"},
        }
    )
    spec = top(text)
    assert spec.machine == "m" and spec.initial == "CHARGE_CARD"
    kinds = {s.name: (s.kind, s.final) for s in spec.states}
    assert kinds == {
        "CHARGE_CARD": (Kind.RUNNING, False),
        "IS_IT_PAID": (None, False),
        "DONE": (Kind.COMPLETE, True),
        "REFUSED": (Kind.FAILED, True),
        "EXECUTION_FAILED": (Kind.FAILED, True),
    }
    charge = spec.state("CHARGE_CARD")
    assert (charge.location.line, charge.location.column) == (line_of(text, '"Charge Card": {'), 5)
    assert "Charge Card" in (charge.description or "")
    assert edges(spec) == {
        ("CHARGE_CARD", "IS_IT_PAID", "succeeded"),
        ("CHARGE_CARD", "EXECUTION_FAILED", "states_task_failed"),
        ("IS_IT_PAID", "DONE", "choose_done"),
        ("IS_IT_PAID", "REFUSED", "choose_refused"),
    }
    into_fail = next(t for t in spec.transitions if t.target == "REFUSED")
    assert into_fail.reason == "CARD_REFUSED"
    assert "no money" in (spec.reason("CARD_REFUSED").description or "")
    assert all(r.recovery and "Placeholder" in r.recovery[0] for r in spec.reasons)


def test_pass_is_automatic_end_succeeds_and_wait_is_timed() -> None:
    spec = top(
        asl(
            {
                "Prepare": {"Type": "Pass", "Next": "Pause"},
                "Pause": {"Type": "Wait", "Seconds": 90, "Next": "Nap"},
                "Nap": {"Type": "Wait", "Seconds": 0, "Next": "Later"},
                "Later": {"Type": "Wait", "TimestampPath": "$.when", "End": True},
            }
        )
    )
    assert ("PREPARE", "PAUSE", "always") in edges(spec)
    wait = next(t for t in spec.transitions if t.source == "PAUSE")
    assert (wait.trigger, wait.after and wait.after.text) == ("wait_elapsed", "1m30s")
    assert next(t for t in spec.transitions if t.source == "NAP").automatic
    later = next(t for t in spec.transitions if t.source == "LATER")
    assert later.target == "EXECUTION_SUCCEEDED" and later.after and later.after.text == "1d"


def test_catch_routes_each_error_to_the_first_catcher_that_matches() -> None:
    spec = top(
        asl(
            {
                "Book": {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "TimeoutSeconds": 30,
                    "Catch": [
                        {"ErrorEquals": ["BookingFull"], "Next": "Waitlist"},
                        {"ErrorEquals": ["States.TaskFailed"], "Next": "Apologise"},
                    ],
                    "End": True,
                },
                "Waitlist": {"Type": "Pass", "End": True},
                "Apologise": {"Type": "Pass", "End": True},
            }
        )
    )
    out = {t.trigger: t for t in spec.transitions if t.source == "BOOK"}
    assert out["booking_full"].target == "WAITLIST"
    assert out["states_task_failed"].target == "APOLOGISE"
    timeout = out["states_timeout"]  # States.TaskFailed does not catch a timeout
    assert (timeout.target, timeout.reason) == ("EXECUTION_FAILED", "STATES_TIMEOUT")
    assert timeout.after is not None and timeout.after.seconds == 30
    assert out["succeeded"].target == "EXECUTION_SUCCEEDED"


def test_a_heartbeat_is_its_own_timed_exit_and_states_all_catches_it() -> None:
    spec = top(
        asl(
            {
                "Poll": {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "TimeoutSeconds": 3600,
                    "HeartbeatSeconds": 60,
                    "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Give up"}],
                    "End": True,
                },
                "Give up": {"Type": "Fail", "Error": "Gave.Up"},
            }
        )
    )
    out = {t.trigger: t for t in spec.transitions if t.source == "POLL"}
    assert {t.target for t in out.values() if t.trigger != "succeeded"} == {"GIVE_UP"}
    assert out["states_heartbeat_timeout"].after is not None
    assert out["states_heartbeat_timeout"].after.text == "1m"
    assert {t.reason for t in out.values() if t.target == "GIVE_UP"} == {"GAVE_UP"}
    assert "EXECUTION_FAILED" not in spec.state_names


def test_a_choice_without_default_can_fail_with_no_choice_matched() -> None:
    spec = top(
        asl(
            {
                "Route": {"Type": "Choice", "Choices": [{"Next": "A", "Condition": "{% 1 %}"}]},
                "A": {"Type": "Succeed"},
            }
        )
    )
    failing = next(t for t in spec.transitions if t.target == "EXECUTION_FAILED")
    assert (failing.trigger, failing.reason) == (
        "states_no_choice_matched",
        "STATES_NO_CHOICE_MATCHED",
    )


def test_callbacks_are_waiting_or_human_approvals() -> None:
    states = {
        "Ask partner": {"Type": "Task", "Resource": CALLBACK, "Next": "Manager review"},
        "Manager review": {
            "Type": "Task",
            "Resource": CALLBACK,
            "TimeoutSeconds": 86400,
            "End": True,
        },
    }
    spec = top(asl(states))
    assert spec.state("ASK_PARTNER").kind is Kind.WAITING
    review = spec.state("MANAGER_REVIEW")  # the heuristic: "review" in its name
    assert (review.kind, review.reviewers) == (Kind.APPROVAL, ("reviewer",))
    out = {t.trigger: t for t in spec.transitions if t.source == "MANAGER_REVIEW"}
    assert out["approved"].human and out["approved"].target == "EXECUTION_SUCCEEDED"
    assert out["states_task_failed"].human  # SendTaskFailure is the reviewer's rejection
    assert not out["states_timeout"].human and out["states_timeout"].after is not None
    named = top(asl(states), AslOptions(human=frozenset({"Ask partner"}), reviewers=("ops",)))
    assert named.state("ASK_PARTNER").kind is Kind.APPROVAL
    assert named.state("ASK_PARTNER").reviewers == ("ops",)
    assert named.state("MANAGER_REVIEW").kind is Kind.WAITING  # named ones only
    assert top(asl(states), AslOptions(human=frozenset())).state("MANAGER_REVIEW").kind is (
        Kind.WAITING
    )


def test_a_callback_without_timeout_is_found_at_its_key_with_asl_advice() -> None:
    text = asl({"Wait for webhook": {"Type": "Task", "Resource": CALLBACK, "End": True}})
    (finding,) = [f for r in check_asl_text(text, "w.asl.json") for f in r.findings]
    assert finding.rule == "waiting-missing-timeout"
    where = (finding.location.file, finding.location.line)
    assert where == ("w.asl.json", line_of(text, '"Wait for webhook": {'))
    assert 'in the ASL: give "Wait for webhook" a "TimeoutSeconds"' in finding.message
    activity = "arn:aws:states:eu-west-1:123456789012:activity:pick"
    text = asl(
        {"Pick": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 60, "End": True}}
    )
    assert rules(check_asl_text(text)) == []  # an activity waits too; its heartbeat ends it


def test_the_execution_timeout_bounds_every_wait() -> None:
    states = {"Wait for webhook": {"Type": "Task", "Resource": CALLBACK, "End": True}}
    spec = top(asl(states, TimeoutSeconds=600))
    (timed,) = [t for t in spec.transitions if t.timed]
    assert (timed.trigger, timed.target, timed.reason) == (
        "execution_timeout",
        "EXECUTION_FAILED",
        "STATES_TIMEOUT",
    )
    assert rules(check_asl_text(asl(states, TimeoutSeconds=600))) == []


def test_approval_rules_on_callbacks_marked_human() -> None:
    gate: dict[str, Any] = {
        "Approve order": {
            "Type": "Task",
            "Resource": CALLBACK,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify rejection"}],
            "Next": "Ship",
        },
        "Notify rejection": {"Type": "Pass", "End": True},
        "Ship": {"Type": "Succeed"},
    }
    found = rules(check_asl_text(asl(gate), "g.asl.json"))
    assert found == [
        ("g.asl.json", "approval-missing-reject"),
        ("g.asl.json", "approval-missing-timeout"),
        ("g.asl.json", "failure-ends-in-success"),  # the rejection ends it as succeeded
    ]
    gate["Approve order"]["TimeoutSeconds"] = 3600
    gate["Approve order"]["Catch"][0]["Next"] = "Rejected"
    gate["Rejected"] = {"Type": "Fail", "Error": "OrderRejected"}
    del gate["Notify rejection"]
    assert rules(check_asl_text(asl(gate), "g.asl.json")) == []


def test_branches_and_iterators_are_machines_of_their_own() -> None:
    inner = {
        "StartAt": "Ask",
        "States": {"Ask": {"Type": "Task", "Resource": CALLBACK, "End": True}},
    }
    text = asl(
        {
            "Fan out": {"Type": "Parallel", "Branches": [inner, inner], "Next": "Each"},
            "Each": {"Type": "Map", "ItemProcessor": inner, "End": True},
        }
    )
    found = machines(text)
    assert [m.part for m in found] == ["", "Fan out/branch0", "Fan out/branch1", "Each/iterator"]
    assert [m.spec.machine for m in found][1:] == [
        "m_fan_out_branch0",
        "m_fan_out_branch1",
        "m_each_iterator",
    ]
    branch = found[1].spec
    assert set(branch.state_names) == {"ASK", "BRANCH_SUCCEEDED", "BRANCH_FAILED"}
    assert "ITERATION_SUCCEEDED" in found[3].spec.state_names
    parent = {t.trigger for t in found[0].spec.transitions if t.source == "FAN_OUT"}
    assert parent == {"succeeded", "states_branch_failed"}
    results = check_asl_text(text, "m.asl.json")
    assert [r.file for r in results][1] == "m.asl.json#Fan out/branch0"
    assert rules(results) == [
        ("m.asl.json#Fan out/branch0", "waiting-missing-timeout"),
        ("m.asl.json#Fan out/branch1", "waiting-missing-timeout"),
        ("m.asl.json#Each/iterator", "waiting-missing-timeout"),
    ]


def test_names_that_clash_stay_distinct() -> None:
    spec = top(
        asl(
            {
                "Go!": {"Type": "Pass", "Next": "Go?"},
                "Go?": {"Type": "Task", "Resource": LAMBDA, "Next": "EXECUTION_FAILED"},
                "EXECUTION_FAILED": {
                    "Type": "Task",
                    "Resource": LAMBDA,
                    "Catch": [{"ErrorEquals": ["Succeeded"], "Next": "Go!"}],
                    "End": True,
                },
            }
        )
    )
    assert spec.state_names[:3] == ("GO", "GO_2", "EXECUTION_FAILED")
    assert "EXECUTION_FAILED_2" in spec.state_names  # the end the mapping adds
    triggers = {t.trigger for t in spec.transitions if t.source == "EXECUTION_FAILED"}
    assert triggers == {"succeeded", "succeeded_2", "states_task_failed"}


@pytest.mark.parametrize(
    ("definition", "rule"),
    [
        ({"A": {"Type": "Pass", "Next": "A"}}, "always-cycle"),
        (
            {
                "Poll": {"Type": "Task", "Resource": LAMBDA, "Next": "Again"},
                "Again": {"Type": "Wait", "Seconds": 5, "Next": "Poll"},
                "Never": {"Type": "Succeed"},
            },
            "unreachable-state",
        ),
    ],
)
def test_graph_rules_find_asl_defects(definition: dict[str, Any], rule: str) -> None:
    found = [f for r in check_asl_text(asl(definition)) for f in r.findings if f.rule == rule]
    assert found and "in the ASL:" in found[0].message
