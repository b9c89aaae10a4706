"""Orchestration rules: approval gates, human transitions, failures and their reasons."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import networkx as nx

from statewright.verify.analysis import Analysis
from statewright.verify.findings import Finding, Severity, TransitionRef
from statewright.verify.graph import entries, exits, state, transitions
from statewright.verify.model import Kind, Transition
from statewright.verify.registry import Family, rule, with_examples
from statewright.verify.rules.graph import reason_finding, state_finding, transition_finding

__all__: list[str] = []

_GATE = """\
statewright: 1
machine: demo
initial: IDLE
states:
  IDLE: {kind: idle}
  REVIEW: {kind: approval, reviewers: [tech_lead]}
  FAILED: {kind: failed, reviewers: [on_call]}
transitions:
  - {from: IDLE, to: REVIEW, trigger: submitted}
  - {from: REVIEW, to: IDLE, trigger: human_approved, human: true}
  - {from: REVIEW, to: FAILED, trigger: human_rejected, human: true, reason: REJECTED}
  - {from: REVIEW, to: FAILED, trigger: timeout, after: 72h, reason: TIMED_OUT}
  - {from: FAILED, to: IDLE, trigger: human_resumed, human: true}
reasons:
  REJECTED: {recovery: [Revise the output, Resubmit for review]}
  TIMED_OUT: {recovery: [Re-request approval]}
"""
"""A well-formed approval gate: the ``Passes`` example of the approval rules."""

_FAILURE = """\
statewright: 1
machine: demo
initial: IDLE
states:
  IDLE: {kind: idle}
  FAILED: {kind: failed, reviewers: [on_call]}
transitions:
  - {from: IDLE, to: FAILED, trigger: crashed, reason: WORKER_CRASHED}
  - {from: FAILED, to: IDLE, trigger: human_resumed, human: true}
reasons:
  WORKER_CRASHED: {recovery: [Read the worker log, Resume]}
"""
"""A well-formed failure path: the ``Passes`` example of the failure rules."""


_APPROVE = "  - {from: REVIEW, to: IDLE, trigger: human_approved, human: true}\n"
_REJECT = "  - {from: REVIEW, to: FAILED, trigger: human_rejected, human: true, reason: REJECTED}\n"
_TIMEOUT = "  - {from: REVIEW, to: FAILED, trigger: timeout, after: 72h, reason: TIMED_OUT}\n"
_RECOVERY = "{recovery: [Read the worker log, Resume]}"


def _gates_without(
    rule_id: str, analysis: Analysis, wanted: Callable[[Transition], bool], advice: str
) -> Iterator[Finding]:
    """One finding per approval state none of whose exits is ``wanted``."""
    for s in analysis.spec.states:
        if s.is_approval and not any(wanted(t) for t in exits(analysis.graph, s.name)):
            yield state_finding(rule_id, s, f"approval state {s.name} {advice}")


def _leads_to_failed(graph: nx.DiGraph, t: Transition) -> bool:
    return state(graph, t.target).is_failed


@rule("approval-missing-approve", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(_GATE, (_APPROVE, ""))
def approval_missing_approve(analysis: Analysis) -> Iterator[Finding]:
    """An approval state has no ``human`` exit to a state whose kind is not ``failed``.

    One finding per approval state, at the state. The example that fails is the gate without
    its approve transition.
    """
    graph = analysis.graph
    yield from _gates_without(
        "approval-missing-approve",
        analysis,
        lambda t: t.human and not _leads_to_failed(graph, t),
        "has no approve exit; add a human: true transition to a state that is not failed",
    )


@rule("approval-missing-reject", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(
    _GATE, (_REJECT, ""), ("  REJECTED: {recovery: [Revise the output, Resubmit for review]}\n", "")
)
def approval_missing_reject(analysis: Analysis) -> Iterator[Finding]:
    """An approval state has no ``human`` exit to a ``failed`` state.

    One finding per approval state, at the state. The example that fails is the gate without
    its reject transition.
    """
    graph = analysis.graph
    yield from _gates_without(
        "approval-missing-reject",
        analysis,
        lambda t: t.human and _leads_to_failed(graph, t),
        "has no reject exit; add a human: true transition to a failed state, with a reason",
    )


@rule("approval-missing-timeout", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(_GATE, (_TIMEOUT, ""), ("  TIMED_OUT: {recovery: [Re-request approval]}\n", ""))
def approval_missing_timeout(analysis: Analysis) -> Iterator[Finding]:
    """An approval state has no ``after`` exit to a ``failed`` state.

    One finding per approval state, at the state. The example that fails is the gate without
    its timeout.
    """
    graph = analysis.graph
    for s in analysis.spec.states:
        timed = [t for t in exits(graph, s.name) if t.timed] if s.is_approval else []
        if not s.is_approval or any(_leads_to_failed(graph, t) for t in timed):
            continue
        yield state_finding("approval-missing-timeout", s, _timeout_advice(s.name, timed))


def _timeout_advice(gate: str, timed: list[Transition]) -> str:
    """What is wrong with a gate's timeout: it has none, or it has one that does not fail
    (a timeout that approves is also ``approval-timeout-approves``' finding)."""
    if not timed:
        return (
            f"approval state {gate} has no timeout; add a transition with after: (e.g. 72h) "
            "to a failed state, with a reason such as TIMEOUT_APPROVAL"
        )
    targets = ", ".join(dict.fromkeys(t.target for t in timed))
    return (
        f"approval state {gate} times out into {targets}, which is not a failed state; "
        "point its after: exit at a failed state, with a reason such as TIMEOUT_APPROVAL"
    )


@rule("approval-automatic-exit", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(_GATE, (_APPROVE, _APPROVE + "  - {from: REVIEW, to: IDLE, trigger: withdrawn}\n"))
def approval_automatic_exit(analysis: Analysis) -> Iterator[Finding]:
    """An approval state has an exit that is neither ``human`` nor ``after``.

    Nothing but a reviewer's decision or the timeout may end the wait. One finding per such
    transition, at the transition. The example that fails is the gate with a plain
    ``withdrawn`` exit.
    """
    spec, graph = analysis.spec, analysis.graph
    for s in spec.states:
        for t in exits(graph, s.name) if s.is_approval else ():
            if not (t.human or t.timed):
                yield transition_finding(
                    "approval-automatic-exit",
                    [t],
                    f"{TransitionRef.of(t)} ends the approval wait without a reviewer; "
                    "mark it human: true or give it an after: timeout",
                )


@rule("human-without-reviewers", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(_GATE, ("approval, reviewers: [tech_lead]}", "approval}"))
def human_without_reviewers(analysis: Analysis) -> Iterator[Finding]:
    """A ``human`` transition leaves a state that names no reviewers.

    Nobody would be allowed to take it. One finding per transition, at the transition. The
    example that fails is the gate with no reviewers on the approval state.
    """
    spec, graph = analysis.spec, analysis.graph
    for s in spec.states:
        if s.reviewers:
            continue
        for t in exits(graph, s.name):
            if t.human:
                yield transition_finding(
                    "human-without-reviewers",
                    [t],
                    f"{TransitionRef.of(t)} needs a human but {s.name} names no reviewers; "
                    f"add reviewers: [role, ...] to {s.name}",
                )


@rule("failure-missing-reason", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(
    _FAILURE, (", reason: WORKER_CRASHED}", "}"), (f"reasons:\n  WORKER_CRASHED: {_RECOVERY}\n", "")
)
def failure_missing_reason(analysis: Analysis) -> Iterator[Finding]:
    """A transition from a state that is not ``failed`` into a ``failed`` state has no reason.

    A transition from one failed state to another inherits the reason it failed with. One
    finding per transition, at the transition. The example that fails is the passing one
    without its reason.
    """
    spec, graph = analysis.spec, analysis.graph
    for s in spec.states:
        if not s.is_failed:
            continue
        for t in entries(graph, s.name):
            if t.reason is None and not state(graph, t.source).is_failed:
                yield transition_finding(
                    "failure-missing-reason",
                    [t],
                    f"{TransitionRef.of(t)} enters failed state {s.name} without a reason; "
                    "add reason: with a code declared under reasons",
                )


@rule("reason-missing-recovery", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(_FAILURE, (_RECOVERY, "{recovery: []}"))
def reason_missing_recovery(analysis: Analysis) -> Iterator[Finding]:
    """A declared reason code has no recovery steps.

    One finding per reason, at the reason. The example that fails is the passing one with an
    empty procedure.
    """
    spec = analysis.spec
    for r in spec.reasons:
        if not r.recovery:
            yield reason_finding(
                "reason-missing-recovery",
                r,
                f"reason {r.name} has no recovery steps; add recovery: [step, ...]",
            )


@rule("unused-reason", Severity.WARNING, Family.ORCHESTRATION)
@with_examples(
    _FAILURE, (f"{_RECOVERY}\n", f"{_RECOVERY}\n  DISK_FULL: {{recovery: [Free some space]}}\n")
)
def unused_reason(analysis: Analysis) -> Iterator[Finding]:
    """A declared reason code that no transition uses.

    One finding per reason, at the reason. The example that fails declares a reason too
    many.
    """
    spec, graph = analysis.spec, analysis.graph
    if not spec.reasons:
        return
    used = {t.reason for t in transitions(graph)}
    for r in spec.reasons:
        if r.name not in used:
            yield reason_finding(
                "unused-reason",
                r,
                f"no transition uses reason {r.name}; use it in a reason: or remove it",
            )


@rule("failed-without-recovery", Severity.WARNING, Family.ORCHESTRATION)
@with_examples(
    _FAILURE,
    ("failed, reviewers: [on_call]}", "failed}"),
    ("trigger: human_resumed, human: true", "trigger: retry_timer, after: 5m"),
)
def failed_without_recovery(analysis: Analysis) -> Iterator[Finding]:
    """A failed state that is not ``final`` has no ``human`` exit and no exit to another
    failed state.

    Recovery from a failure needs a person (or an escalation to another failed state). One
    finding per state, at the state. The example that fails retries on a timer instead of
    waiting for a person.
    """
    spec, graph = analysis.spec, analysis.graph
    for s in spec.states:
        if not s.is_failed or s.final:
            continue
        if not any(
            t.human or (t.target != s.name and _leads_to_failed(graph, t))
            for t in exits(graph, s.name)
        ):
            yield state_finding(
                "failed-without-recovery",
                s,
                f"failed state {s.name} has no way to recover; add a human: true exit "
                "(e.g. human_resumed), an exit to another failed state, or mark it final: true",
            )


@rule("approval-timeout-approves", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(
    _GATE,
    (_TIMEOUT, "  - {from: REVIEW, to: IDLE, trigger: timeout, after: 72h}\n"),
    ("  TIMED_OUT: {recovery: [Re-request approval]}\n", ""),
)
def approval_timeout_approves(analysis: Analysis) -> Iterator[Finding]:
    """An approval state's ``after`` exit leads to a state whose kind is not ``failed``.

    A timeout must never approve: when no reviewer acts, the work stops in a failed state
    with a reason, never goes on as if approved. One finding per such transition, at the
    transition. The example that fails times out back to ``IDLE``.
    """
    spec, graph = analysis.spec, analysis.graph
    for s in spec.states:
        for t in exits(graph, s.name) if s.is_approval else ():
            if t.timed and not _leads_to_failed(graph, t):
                yield transition_finding(
                    "approval-timeout-approves",
                    [t],
                    f"{TransitionRef.of(t)} lets the approval wait time out into {t.target}, "
                    "which is not a failed state; a timeout must never approve: lead it to a "
                    "failed state with a reason such as TIMEOUT_APPROVAL",
                )


@rule("failed-automatic-exit", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(
    _FAILURE,
    (
        "human: true}\n",
        "human: true}\n  - {from: FAILED, to: IDLE, trigger: auto_retry, after: 5m}\n",
    ),
)
def failed_automatic_exit(analysis: Analysis) -> Iterator[Finding]:
    """An exit from a ``failed`` state is neither ``human`` nor into another ``failed`` state.

    Recovery needs a human: a failure (a rejection above all) must not end on its own, by
    a timer or an automatic trigger. Escalating to another failed state needs no person;
    a self-loop is not another state, so it needs one too. One finding per such transition,
    at the transition. The example that fails retries on a timer beside the human resume.
    """
    spec, graph = analysis.spec, analysis.graph
    for s in spec.states:
        for t in exits(graph, s.name) if s.is_failed else ():
            if not t.human and (t.target == s.name or not _leads_to_failed(graph, t)):
                yield transition_finding(
                    "failed-automatic-exit",
                    [t],
                    f"{TransitionRef.of(t)} leaves failed state {s.name} without a person; "
                    "recovery needs a human: mark it human: true, or lead it to another "
                    "failed state",
                )


@rule("reason-outside-failure", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(
    _FAILURE,
    ("human_resumed, human: true}", "human_resumed, human: true, reason: WORKER_CRASHED}"),
)
def reason_outside_failure(analysis: Analysis) -> Iterator[Finding]:
    """A ``reason`` on a transition into a state whose kind is not ``failed``.

    A reason code says why a run failed, and the runtime records it in the audit log: on
    any other transition it would claim a failure that did not happen. One finding per
    transition, at the transition. The example that fails gives the resume a reason.
    """
    graph = analysis.graph
    for t in transitions(graph):
        if t.reason is not None and not _leads_to_failed(graph, t):
            yield transition_finding(
                "reason-outside-failure",
                [t],
                f"{TransitionRef.of(t)} has reason {t.reason} but {t.target} is not a failed "
                "state; remove the reason, or lead the transition to a failed state",
            )


# --- waiting on the outside world -------------------------------------------------------
# A `waiting` state waits on a party that is not a reviewer (a webhook, an asynchronous
# API, a partner system). Like an approval it must not wait for ever; unlike an approval
# its timeout may lead anywhere (a retry, a notification), not only to a failed state.

_CALLBACK = """\
statewright: 1
machine: demo
initial: IDLE
states:
  IDLE: {kind: idle}
  AWAITING_WEBHOOK: {kind: waiting}
  DONE: {kind: complete, final: true}
transitions:
  - {from: IDLE, to: AWAITING_WEBHOOK, trigger: request_sent}
  - {from: AWAITING_WEBHOOK, to: DONE, trigger: webhook_received}
  - {from: AWAITING_WEBHOOK, to: IDLE, trigger: no_answer, after: 24h}
"""
"""A waiting state with a timeout: the ``Passes`` example of the waiting rules."""

_NO_ANSWER = "  - {from: AWAITING_WEBHOOK, to: IDLE, trigger: no_answer, after: 24h}\n"


@rule("waiting-missing-timeout", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(_CALLBACK, (_NO_ANSWER, ""))
def waiting_missing_timeout(analysis: Analysis) -> Iterator[Finding]:
    """A waiting state has no ``after`` exit.

    A wait on the outside world must end even when the other side never answers. The
    timeout may lead anywhere: a retry, a notification, a failed state. One finding per
    waiting state, at the state. The example that fails is the wait without its timeout.
    """
    spec, graph = analysis.spec, analysis.graph
    for s in spec.states:
        if s.is_waiting and not any(t.timed for t in exits(graph, s.name)):
            yield state_finding(
                "waiting-missing-timeout",
                s,
                f"waiting state {s.name} can wait for ever; add a transition with after: "
                "(e.g. 24h) to a retry, a notification or a failed state",
            )


_AGENT = """\
statewright: 1
machine: demo
initial: IDLE
states:
  IDLE: {kind: idle}
  RUNNING: {kind: running}
  DONE: {kind: complete, final: true}
  FAILED: {kind: failed, final: true}
transitions:
  - {from: IDLE, to: RUNNING, trigger: started}
  - {from: RUNNING, to: DONE, trigger: finished}
  - {from: RUNNING, to: FAILED, trigger: agent_timeout, after: 30m, reason: AGENT_TIMEOUT}
reasons:
  AGENT_TIMEOUT: {recovery: [Read the agent's log, Start the run again]}
"""
"""A running state with a deadline: the ``Passes`` example of ``running-without-deadline``."""

_AGENT_TIMEOUT = (
    "  - {from: RUNNING, to: FAILED, trigger: agent_timeout, after: 30m, reason: AGENT_TIMEOUT}\n"
)


@rule("running-without-deadline", Severity.WARNING, Family.ORCHESTRATION)
@with_examples(
    _AGENT,
    (_AGENT_TIMEOUT, ""),
    ("reasons:\n  AGENT_TIMEOUT: {recovery: [Read the agent's log, Start the run again]}\n", ""),
)
def running_without_deadline(analysis: Analysis) -> Iterator[Finding]:
    """A running state has no ``after`` exit.

    An agent that hangs (a worker that crashed, a call that never returns) stalls the run
    for ever unless something times it out; give the state a deadline, such as a
    transition with ``after: 30m`` to its failed state with a reason like
    ``AGENT_TIMEOUT``. A syntactic warning: one finding per such state, reachable or not,
    at the state; the time analysis (``every run ends within ...``) then bounds the run.
    The example that fails is the agent without its timeout. A machine read from an ASL
    definition is left to the ASL rules (a ``Task`` has its own timeouts there).
    """
    spec, graph = analysis.spec, analysis.graph
    if spec.from_asl:
        return
    for s in spec.states:
        if s.kind is Kind.RUNNING and not any(t.timed for t in exits(graph, s.name)):
            yield state_finding(
                "running-without-deadline",
                s,
                f"running state {s.name} has no deadline: an agent that hangs stalls the run "
                "for ever; add a transition with after: (e.g. 30m) to a failed state, with "
                "a reason such as AGENT_TIMEOUT",
            )
