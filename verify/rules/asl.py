"""The rules of ASL input: documented here, raised by :mod:`statewright.verify.load.asl`.

Their examples are ASL definitions (JSON) rather than specs; ``statewright explain`` and
the rule reference check them with the ASL reader.
"""

from __future__ import annotations

from statewright.verify.findings import Severity
from statewright.verify.load.asl.bounds import (
    FAILURE_ENDS_IN_SUCCESS,
    PLACEHOLDER_RESOURCE,
    RETRY_UNBOUNDED_DELAY,
    UNBOUNDED_LOOP,
)
from statewright.verify.load.asl.gaps import NOT_MODELLED
from statewright.verify.load.asl.template import TEMPLATE_SOURCE
from statewright.verify.registry import Family, register_load_rule

__all__: list[str] = []

register_load_rule(
    NOT_MODELLED,
    """An ASL construct that the mapping to a statewright machine does not express.

    Retries, data (paths, parameters, Choice conditions), delays read from data, Map
    settings and the like: each is reported once per file, at its first use, with the
    states that use it, so that it is plain what the check proved and what it did not.
    An info finding: it never fails a check.

    Fails:

        {"StartAt": "Charge card",
         "States": {
           "Charge card": {
             "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
             "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
             "End": true}}}

    Passes:

        {"StartAt": "Charge card",
         "States": {
           "Charge card": {
             "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
             "End": true}}}
    """,
    severity=Severity.INFO,
    family=Family.ASL,
)

register_load_rule(
    UNBOUNDED_LOOP,
    """A cycle of ASL states that nothing bounds: the execution can go round it for ever.

    A polling loop through a ``Wait`` and a ``Choice`` waits for the outside world to
    change; if it never does (a job stuck in ``error``), the execution runs until Step
    Functions' history limit fails it. A cycle is bounded when the execution has a
    ``TimeoutSeconds`` (an Express workflow of a template: its five-minute limit), or
    when every cycle of it passes through a Choice whose rule out
    of the loop compares numbers (``NumericGreaterThanEquals`` and the like, or a
    JSONata ``Condition`` with ``<``, ``>`` or ``=``) on data a state of the loop writes
    (a key of its ``Parameters``, ``Result``, ``ResultSelector``, ``Assign``,
    ``Arguments`` or ``Output``, a step of its ``ResultPath``, or anything when its result
    replaces the whole input): a counter the loop increments. A Choice rule that stays
    in the loop while a pagination cursor the loop writes is present (``NextToken``,
    ``LastEvaluatedKey``, ``Marker``) bounds it too: a listing ends. So does a *timer
    branch* beside the loop's Parallel branch (one that only waits and fails, which
    stops its siblings). A loop nested in a loop is judged on its own. A cycle with no way
    out at all is a ``trap`` instead. Reported at the loop's Choice (else its first
    state), with one cycle of it.

    Fails:

        {"StartAt": "Wait",
         "States": {
           "Wait": {"Type": "Wait", "Seconds": 15, "Next": "Get status"},
           "Get status": {"Type": "Task", "Next": "Ready?",
             "Resource": "arn:aws:states:::aws-sdk:rds:describeDBSnapshots"},
           "Ready?": {"Type": "Choice", "Default": "Wait",
             "Choices": [{"Variable": "$.Status", "StringEquals": "available",
                          "Next": "Done"}]},
           "Done": {"Type": "Succeed"}}}

    Passes:

        {"StartAt": "Wait", "TimeoutSeconds": 3600,
         "States": {
           "Wait": {"Type": "Wait", "Seconds": 15, "Next": "Get status"},
           "Get status": {"Type": "Task", "Next": "Ready?",
             "Resource": "arn:aws:states:::aws-sdk:rds:describeDBSnapshots"},
           "Ready?": {"Type": "Choice", "Default": "Wait",
             "Choices": [{"Variable": "$.Status", "StringEquals": "available",
                          "Next": "Done"}]},
           "Done": {"Type": "Succeed"}}}
    """,
    family=Family.ASL,
)

register_load_rule(
    RETRY_UNBOUNDED_DELAY,
    """A retrier whose worst-case total delay exceeds the execution's ``TimeoutSeconds``,
    or 7 days when the execution has none.

    The delay before retry *n* is ``IntervalSeconds`` (default 1) times ``BackoffRate``
    (default 2) to the power *n - 1*, at most ``MaxDelaySeconds``; a retrier waits at most
    the sum over its ``MaxAttempts`` (default 3) retries. ``JitterStrategy: FULL`` only
    shortens each delay, so the worst case is the same. ``MaxAttempts: 20`` with
    ``IntervalSeconds: 5`` and ``BackoffRate: 2`` and no ``MaxDelaySeconds`` waits about
    60 days before it gives up: the retrier reads as bounded but the execution is stuck.
    Reported at the retrier, with its worst case.

    Fails:

        {"StartAt": "Charge card",
         "States": {
           "Charge card": {
             "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
             "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5,
                        "MaxAttempts": 20, "BackoffRate": 2}],
             "End": true}}}

    Passes:

        {"StartAt": "Charge card",
         "States": {
           "Charge card": {
             "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
             "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 5,
                        "MaxAttempts": 20, "BackoffRate": 2, "MaxDelaySeconds": 300}],
             "End": true}}}
    """,
    severity=Severity.WARNING,
    family=Family.ASL,
)

register_load_rule(
    FAILURE_ENDS_IN_SUCCESS,
    """A ``Catch`` of the state machine whose every path ends the execution as succeeded:
    the execution reports success after a failure.

    The handler is every state its ``Next`` leads to through ``Next``, Choice rules and
    ``Default``. It is reported when it reaches no Fail state, ends somewhere (a Succeed
    state or ``End: true``), never comes back to the state that caught (a retry loop)
    and never joins the states the execution runs without an error (a fallback that
    carries on the work). Only the top-level machine is judged: a branch or an iterator
    that catches hands its outcome back to the parent's data. Notify, then fail: end the
    handler in a Fail state.

    Fails:

        {"StartAt": "Run batch job",
         "States": {
           "Run batch job": {
             "Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync",
             "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify failure"}],
             "Next": "Notify success"},
           "Notify success": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
             "End": true},
           "Notify failure": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
             "End": true}}}

    Passes:

        {"StartAt": "Run batch job",
         "States": {
           "Run batch job": {
             "Type": "Task", "Resource": "arn:aws:states:::batch:submitJob.sync",
             "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Notify failure"}],
             "Next": "Notify success"},
           "Notify success": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
             "End": true},
           "Notify failure": {"Type": "Task", "Resource": "arn:aws:states:::sns:publish",
             "Next": "Job failed"},
           "Job failed": {"Type": "Fail", "Error": "BatchJobFailed"}}}
    """,
    severity=Severity.WARNING,
    family=Family.ASL,
)

register_load_rule(
    PLACEHOLDER_RESOURCE,
    """A Task whose ``Resource`` is only a substitution filled in when the machine is
    deployed (``"${ActivityArn}"`` of SAM's ``DefinitionSubstitutions``, Terraform's
    ``templatefile``), so that whether it is an activity or a callback, which wait for
    the outside world, cannot be read.

    Such a Task is checked as one that returns by itself, so an unbounded wait on it
    would go unseen: the finding says so. Reported once per file, at the first such
    Task, naming them; a Task with a ``TimeoutSeconds`` or ``HeartbeatSeconds``, or an
    execution with a ``TimeoutSeconds``, is bounded whatever it is and is not named, and
    a substitution named as a Lambda function (``${CheckStockFunctionArn}``,
    ``${BuyFnArn}``) is taken as one. A
    template that says what the substitution is (a ``Ref`` to an
    ``AWS::StepFunctions::Activity``) is read as that. An info finding.

    Fails:

        {"StartAt": "Wait for worker",
         "States": {
           "Wait for worker": {"Type": "Task", "Resource": "${ActivityArn}",
             "End": true}}}

    Passes:

        {"StartAt": "Wait for worker",
         "States": {
           "Wait for worker": {"Type": "Task", "Resource": "${ActivityArn}",
             "TimeoutSeconds": 3600, "End": true}}}
    """,
    severity=Severity.INFO,
    family=Family.ASL,
)

register_load_rule(
    TEMPLATE_SOURCE,
    """A state machine of a SAM or CloudFormation template whose definition cannot be
    read from the template: in S3 (``DefinitionS3Location``, a ``DefinitionUri`` with a
    ``Bucket``), a ``DefinitionUri`` file that is missing, or a ``DefinitionString`` of
    no known shape. Check the definition file itself. A warning: the machine is not
    checked.

    Fails:

        {"Resources": {
           "Flow": {"Type": "AWS::StepFunctions::StateMachine",
             "Properties": {"DefinitionS3Location": {"Bucket": "b", "Key": "flow.json"}}}}}

    Passes:

        {"Resources": {
           "Flow": {"Type": "AWS::StepFunctions::StateMachine",
             "Properties": {"Definition": {"StartAt": "Done",
               "States": {"Done": {"Type": "Succeed"}}}}}}}
    """,
    severity=Severity.WARNING,
    family=Family.ASL,
)
