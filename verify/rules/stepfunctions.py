"""The rules an AWS Step Functions execution history is held to: documented here, raised by
:mod:`statewright.verify.conformance.stepfunctions`.

Each is documented the way every rule is: one sentence, then a failing and a passing
example. An example is an ASL definition and an execution history, separated by a line
``---``; the rule reference, ``statewright explain`` and the tests check both for real.
"""

from __future__ import annotations

import textwrap

from statewright.verify.findings import Severity
from statewright.verify.registry import Family, register_load_rule

__all__ = [
    "CHOICE_BRANCH",
    "END_EVENT",
    "EXECUTION_TIMEOUT",
    "HISTORY_INVALID",
    "NOT_JUDGED",
    "RETRY",
    "TASK_TIMEOUT",
    "UNEXPECTED",
    "WAIT_EARLY",
]

HISTORY_INVALID = "sfn-history-invalid"
UNEXPECTED = "sfn-unexpected-event"
CHOICE_BRANCH = "sfn-choice-branch"
RETRY = "sfn-retry"
TASK_TIMEOUT = "sfn-task-timeout"
WAIT_EARLY = "sfn-wait-early"
EXECUTION_TIMEOUT = "sfn-execution-timeout"
END_EVENT = "sfn-end-event"
NOT_JUDGED = "sfn-not-judged"

_PAY = """\
{"StartAt": "Pay",
 "States": {
   "Pay": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
     "TimeoutSeconds": 60, "Next": "Ship"},
   "Ship": {"Type": "Pass", "End": true}}}"""

_PAID = """\
{"events": [
  {"id": 1, "previousEventId": 0, "type": "ExecutionStarted",
   "timestamp": "2026-12-03T10:00:00Z"},
  {"id": 2, "previousEventId": 1, "type": "TaskStateEntered",
   "timestamp": "2026-12-03T10:00:00Z", "stateEnteredEventDetails": {"name": "Pay"}},
  {"id": 3, "previousEventId": 2, "type": "TaskScheduled",
   "timestamp": "2026-12-03T10:00:00Z", "taskScheduledEventDetails": {}},
  {"id": 4, "previousEventId": 3, "type": "TaskSucceeded",
   "timestamp": "2026-12-03T10:00:20Z", "taskSucceededEventDetails": {}},
  {"id": 5, "previousEventId": 4, "type": "TaskStateExited",
   "timestamp": "2026-12-03T10:00:20Z", "stateExitedEventDetails": {"name": "Pay"}},
  {"id": 6, "previousEventId": 5, "type": "PassStateEntered",
   "timestamp": "2026-12-03T10:00:20Z", "stateEnteredEventDetails": {"name": "Ship"}},
  {"id": 7, "previousEventId": 6, "type": "PassStateExited",
   "timestamp": "2026-12-03T10:00:20Z", "stateExitedEventDetails": {"name": "Ship"}},
  {"id": 8, "previousEventId": 7, "type": "ExecutionSucceeded",
   "timestamp": "2026-12-03T10:00:20Z"}]}"""


def _example(definition: str, history: str, *edits: tuple[str, str]) -> str:
    """A ``Fails``/``Passes`` pair: the passing definition and history, and the failing
    one made by replacing each ``(old, new)`` of ``edits`` (each must occur once)."""
    passes = f"{definition}\n---\n{history}"
    fails = passes
    for old, new in edits:
        if fails.count(old) != 1:
            raise ValueError(f"example edit {old!r} does not match exactly once")
        fails = fails.replace(old, new)
    shown = (
        f"{label}:\n\n{textwrap.indent(text, '    ')}"
        for label, text in (("Fails", fails), ("Passes", passes))
    )
    return "\n\n".join(shown)


def _register(rule_id: str, doc: str, example: str, severity: Severity = Severity.ERROR) -> None:
    text = f"{textwrap.dedent(doc).strip()}\n\n{example}"
    register_load_rule(rule_id, text, severity=severity, family=Family.STEP_FUNCTIONS)


_register(
    HISTORY_INVALID,
    """
    An execution history is the JSON that GetExecutionHistory returns: events numbered
    1, 2, 3, ... from ExecutionStarted, each with a type and a timestamp that never goes
    back.

    Export it whole with ``aws stepfunctions get-execution-history --execution-arn ARN``
    (the CLI joins the pages); a page with a ``nextToken`` is not a whole history. The
    finding is at the history file, at the line and column of a JSON syntax error.
    """,
    _example(
        _PAY,
        _PAID,
        (
            '"type": "TaskScheduled",\n   "timestamp": "2026-12-03T10:00:00Z"',
            '"type": "TaskScheduled"',
        ),
    ),
)

_register(
    UNEXPECTED,
    """
    Every state is entered where the definition leads and every event belongs to the
    state the execution is in.

    From ``StartAt``, the ``Next`` of the state exited, a ``Catch`` whose ``ErrorEquals``
    matches a failure that no retrier retries, a Parallel branch's or a Map iterator's
    own ``StartAt``. A skipped state, a state of another branch, a task event while the
    execution is in a Pass state, a success after a failure nothing handled, or a
    Parallel state that succeeds before all its branches ran is reported at the state
    where the definition says otherwise.
    """,
    _example(
        _PAY,
        _PAID,
        (
            '"TaskSucceeded",\n   "timestamp": "2026-12-03T10:00:20Z", '
            '"taskSucceededEventDetails": {}',
            '"TaskFailed",\n   "timestamp": "2026-12-03T10:00:20Z",\n'
            '   "taskFailedEventDetails": {"error": "Card.Declined"}',
        ),
    ),
)

_CHOOSE = """\
{"StartAt": "Big order?",
 "States": {
   "Big order?": {"Type": "Choice", "Default": "Ship",
     "Choices": [{"Variable": "$.total", "NumericGreaterThan": 1000, "Next": "Review"}]},
   "Review": {"Type": "Pass", "End": true},
   "Ship": {"Type": "Pass", "End": true}}}"""

_CHOSEN = """\
{"events": [
  {"id": 1, "previousEventId": 0, "type": "ExecutionStarted",
   "timestamp": "2026-12-03T10:00:00Z"},
  {"id": 2, "previousEventId": 1, "type": "ChoiceStateEntered",
   "timestamp": "2026-12-03T10:00:00Z",
   "stateEnteredEventDetails": {"name": "Big order?", "input": "{\\"total\\": 4200}"}},
  {"id": 3, "previousEventId": 2, "type": "ChoiceStateExited",
   "timestamp": "2026-12-03T10:00:00Z", "stateExitedEventDetails": {"name": "Big order?"}},
  {"id": 4, "previousEventId": 3, "type": "PassStateEntered",
   "timestamp": "2026-12-03T10:00:00Z", "stateEnteredEventDetails": {"name": "Review"}},
  {"id": 5, "previousEventId": 4, "type": "PassStateExited",
   "timestamp": "2026-12-03T10:00:00Z", "stateExitedEventDetails": {"name": "Review"}},
  {"id": 6, "previousEventId": 5, "type": "ExecutionSucceeded",
   "timestamp": "2026-12-03T10:00:00Z"}]}"""

_register(
    CHOICE_BRANCH,
    """
    A Choice state goes where its rules select for the input it was given: the first
    rule that matches, else its ``Default``.

    The rules are evaluated on the input the ``ChoiceStateEntered`` event records, after
    the state's ``InputPath``, with every comparison operator and its ``...Path`` form,
    the ``Is...`` tests, ``And``, ``Or`` and ``Not``. A JSONata ``Condition``, a ``$$``
    path, or a history exported without state input is not judged (``sfn-not-judged``).
    """,
    _example(_CHOOSE, _CHOSEN, ('"{\\"total\\": 4200}"', '"{\\"total\\": 42}"')),
)

_RETRYING = """\
{"StartAt": "Pay",
 "States": {
   "Pay": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true,
     "Retry": [{"ErrorEquals": ["Lambda.TooManyRequestsException"],
                "IntervalSeconds": 2, "BackoffRate": 2, "MaxAttempts": 1}]}}}"""

_RETRIED = """\
{"events": [
  {"id": 1, "previousEventId": 0, "type": "ExecutionStarted",
   "timestamp": "2026-12-03T10:00:00Z"},
  {"id": 2, "previousEventId": 1, "type": "TaskStateEntered",
   "timestamp": "2026-12-03T10:00:00Z", "stateEnteredEventDetails": {"name": "Pay"}},
  {"id": 3, "previousEventId": 2, "type": "TaskScheduled",
   "timestamp": "2026-12-03T10:00:00Z", "taskScheduledEventDetails": {}},
  {"id": 4, "previousEventId": 3, "type": "TaskFailed",
   "timestamp": "2026-12-03T10:00:01Z",
   "taskFailedEventDetails": {"error": "Lambda.TooManyRequestsException"}},
  {"id": 5, "previousEventId": 4, "type": "TaskScheduled",
   "timestamp": "2026-12-03T10:00:03Z", "taskScheduledEventDetails": {}},
  {"id": 6, "previousEventId": 5, "type": "TaskSucceeded",
   "timestamp": "2026-12-03T10:00:04Z", "taskSucceededEventDetails": {}},
  {"id": 7, "previousEventId": 6, "type": "TaskStateExited",
   "timestamp": "2026-12-03T10:00:04Z", "stateExitedEventDetails": {"name": "Pay"}},
  {"id": 8, "previousEventId": 7, "type": "ExecutionSucceeded",
   "timestamp": "2026-12-03T10:00:04Z"}]}"""

_register(
    RETRY,
    """
    A failed state is retried only by the first retrier whose ``ErrorEquals`` matches
    the error, within its ``MaxAttempts``, after its interval, and always while that
    retrier allows another attempt.

    Retry ``n`` of a retrier waits at least ``IntervalSeconds * BackoffRate ** (n - 1)``
    seconds (default 1 and 2.0), at most ``MaxDelaySeconds``; with ``"JitterStrategy":
    "FULL"`` it may come at once. ``States.ALL`` matches every error but
    ``States.Runtime`` and ``States.DataLimitExceeded``; ``States.TaskFailed`` every one
    but those and ``States.Timeout``. The finding is at the state's ``Retry``.
    """,
    _example(_RETRYING, _RETRIED, ('"MaxAttempts": 1', '"MaxAttempts": 0')),
)

_CALLBACK = """\
{"StartAt": "Approve",
 "States": {
   "Approve": {"Type": "Task", "End": true, "TimeoutSeconds": 3600,
     "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken"}}}"""

_ANSWERED = """\
{"events": [
  {"id": 1, "previousEventId": 0, "type": "ExecutionStarted",
   "timestamp": "2026-12-03T10:00:00Z"},
  {"id": 2, "previousEventId": 1, "type": "TaskStateEntered",
   "timestamp": "2026-12-03T10:00:00Z", "stateEnteredEventDetails": {"name": "Approve"}},
  {"id": 3, "previousEventId": 2, "type": "TaskScheduled",
   "timestamp": "2026-12-03T10:00:00Z", "taskScheduledEventDetails": {}},
  {"id": 4, "previousEventId": 3, "type": "TaskSucceeded",
   "timestamp": "2026-12-03T10:42:00Z", "taskSucceededEventDetails": {}},
  {"id": 5, "previousEventId": 4, "type": "TaskStateExited",
   "timestamp": "2026-12-03T10:42:00Z", "stateExitedEventDetails": {"name": "Approve"}},
  {"id": 6, "previousEventId": 5, "type": "ExecutionSucceeded",
   "timestamp": "2026-12-03T10:42:00Z"}]}"""

_register(
    TASK_TIMEOUT,
    """
    A task, callback (``.waitForTaskToken``) or activity is answered within its
    ``TimeoutSeconds`` of being scheduled, and times out no sooner.

    The limit is the ``timeoutInSeconds`` the ``TaskScheduled`` event records (so a
    ``TimeoutSecondsPath`` is judged too), else the state's ``TimeoutSeconds``. An answer
    after it means the service let a late answer through, or the history was edited.
    """,
    _example(
        _CALLBACK,
        _ANSWERED,
        (
            '"timestamp": "2026-12-03T10:42:00Z", "taskSucceededEventDetails"',
            '"timestamp": "2026-12-03T11:42:00Z", "taskSucceededEventDetails"',
        ),
        (
            '"timestamp": "2026-12-03T10:42:00Z", "stateExitedEventDetails"',
            '"timestamp": "2026-12-03T11:42:00Z", "stateExitedEventDetails"',
        ),
        ('"timestamp": "2026-12-03T10:42:00Z"}]}', '"timestamp": "2026-12-03T11:42:00Z"}]}'),
    ),
)

_WAIT = """\
{"StartAt": "Cool off",
 "States": {"Cool off": {"Type": "Wait", "Seconds": 600, "End": true}}}"""

_WAITED = """\
{"events": [
  {"id": 1, "previousEventId": 0, "type": "ExecutionStarted",
   "timestamp": "2026-12-03T10:00:00Z"},
  {"id": 2, "previousEventId": 1, "type": "WaitStateEntered",
   "timestamp": "2026-12-03T10:00:00Z", "stateEnteredEventDetails": {"name": "Cool off"}},
  {"id": 3, "previousEventId": 2, "type": "WaitStateExited",
   "timestamp": "2026-12-03T10:10:00Z", "stateExitedEventDetails": {"name": "Cool off"}},
  {"id": 4, "previousEventId": 3, "type": "ExecutionSucceeded",
   "timestamp": "2026-12-03T10:10:00Z"}]}"""

_register(
    WAIT_EARLY,
    """
    A Wait state is exited no sooner than its ``Seconds`` after it was entered, or its
    ``Timestamp``.

    ``SecondsPath`` and ``TimestampPath`` are read from the state's input as the history
    records it; a JSONata value is not judged.
    """,
    _example(
        _WAIT,
        _WAITED,
        (
            '"timestamp": "2026-12-03T10:10:00Z", "state',
            '"timestamp": "2026-12-03T10:01:00Z", "state',
        ),
        ('"timestamp": "2026-12-03T10:10:00Z"}]}', '"timestamp": "2026-12-03T10:01:00Z"}]}'),
    ),
)

_register(
    EXECUTION_TIMEOUT,
    """
    Nothing but its time-out happens after an execution's own ``TimeoutSeconds``, and it
    does not time out before.

    The finding is at the definition's ``TimeoutSeconds``, for the first event past it.
    """,
    _example(
        _WAIT.replace('{"StartAt"', '{"TimeoutSeconds": 900, "StartAt"'),
        _WAITED,
        (
            '"timestamp": "2026-12-03T10:10:00Z", "state',
            '"timestamp": "2026-12-03T10:20:00Z", "state',
        ),
        ('"timestamp": "2026-12-03T10:10:00Z"}]}', '"timestamp": "2026-12-03T10:20:00Z"}]}'),
    ),
)

_register(
    END_EVENT,
    """
    An execution succeeds only from a state with ``"End": true`` or a Succeed state,
    fails only from a Fail state or a failure nothing handles, and nothing follows its
    end.

    A success after an unhandled failure, a failure with another error than its Fail
    state gives, and an end event in the middle of the flow are reported at the state
    the execution was in.
    """,
    _example(_PAY, _PAID, ('"ExecutionSucceeded"', '"ExecutionFailed"')),
)

_register(
    NOT_JUDGED,
    """
    What a history check could not judge, said once per kind: a JSONata condition, a
    ``$$`` path, states recorded without their input, the child executions of a
    distributed Map.

    An info finding: it never fails a check. Its other checks still hold.
    """,
    _example(
        _CHOOSE,
        _CHOSEN,
        (
            '"Variable": "$.total", "NumericGreaterThan": 1000',
            '"Variable": "$$.Execution.Input.total", "NumericGreaterThan": 1000',
        ),
    ),
    severity=Severity.INFO,
)
