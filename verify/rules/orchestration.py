"""Orchestration rules: approval gates, human transitions, failures and their reasons."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Iterator

import networkx as nx

from verify.findings import Finding, Severity, TransitionRef
from verify.graph import entries, exits, state, transitions
from verify.model import Spec, Transition
from verify.registry import Family, RuleCheck, rule
from verify.rules.graph import reason_finding, state_finding, transition_finding

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


def _examples(passes: str, *edits: tuple[str, str]) -> Callable[[RuleCheck], RuleCheck]:
    """Document a rule with ``passes`` as its ``Passes`` example and, as its ``Fails``
    example, ``passes`` with each ``(old, new)`` of ``edits`` replaced."""
    fails = passes
    for old, new in edits:
        if fails.count(old) != 1:
            raise ValueError(f"example edit {old!r} does not match exactly once")
        fails = fails.replace(old, new)

    def decorate(check: RuleCheck) -> RuleCheck:
        shown = [
            f"{which}:\n\n{textwrap.indent(text.rstrip(), ' ' * 4)}"
            for which, text in (("Fails", fails), ("Passes", passes))
        ]
        check.__doc__ = "\n\n".join([inspect.getdoc(check) or "", *shown])
        return check

    return decorate


_APPROVE = "  - {from: REVIEW, to: IDLE, trigger: human_approved, human: true}\n"
_REJECT = "  - {from: REVIEW, to: FAILED, trigger: human_rejected, human: true, reason: REJECTED}\n"
_TIMEOUT = "  - {from: REVIEW, to: FAILED, trigger: timeout, after: 72h, reason: TIMED_OUT}\n"
_RECOVERY = "{recovery: [Read the worker log, Resume]}"


def _gates_without(
    rule_id: str,
    spec: Spec,
    graph: nx.MultiDiGraph,
    wanted: Callable[[Transition], bool],
    advice: str,
) -> Iterator[Finding]:
    """One finding per approval state none of whose exits is ``wanted``."""
    for s in spec.states:
        if s.is_approval and not any(wanted(t) for t in exits(graph, s.name)):
            yield state_finding(rule_id, s, f"approval state {s.name} {advice}")


def _leads_to_failed(graph: nx.MultiDiGraph, t: Transition) -> bool:
    return state(graph, t.target).is_failed


@rule("approval-missing-approve", Severity.ERROR, Family.ORCHESTRATION)
@_examples(_GATE, (_APPROVE, ""))
def approval_missing_approve(spec: Spec, graph: nx.MultiDiGraph) -> Iterator[Finding]:
    """An approval state has no ``human`` exit to a state whose kind is not ``failed``.

    One finding per approval state, at the state. The example that fails is the gate without
    its approve transition.
    """
    yield from _gates_without(
        "approval-missing-approve",
        spec,
        graph,
        lambda t: t.human and not _leads_to_failed(graph, t),
        "has no approve exit; add a human: true transition to a state that is not failed",
    )


@rule("approval-missing-reject", Severity.ERROR, Family.ORCHESTRATION)
@_examples(
    _GATE, (_REJECT, ""), ("  REJECTED: {recovery: [Revise the output, Resubmit for review]}\n", "")
)
def approval_missing_reject(spec: Spec, graph: nx.MultiDiGraph) -> Iterator[Finding]:
    """An approval state has no ``human`` exit to a ``failed`` state.

    One finding per approval state, at the state. The example that fails is the gate without
    its reject transition.
    """
    yield from _gates_without(
        "approval-missing-reject",
        spec,
        graph,
        lambda t: t.human and _leads_to_failed(graph, t),
        "has no reject exit; add a human: true transition to a failed state, with a reason",
    )


@rule("approval-missing-timeout", Severity.ERROR, Family.ORCHESTRATION)
@_examples(_GATE, (_TIMEOUT, ""), ("  TIMED_OUT: {recovery: [Re-request approval]}\n", ""))
def approval_missing_timeout(spec: Spec, graph: nx.MultiDiGraph) -> Iterator[Finding]:
    """An approval state has no ``after`` exit to a ``failed`` state.

    One finding per approval state, at the state. The example that fails is the gate without
    its timeout.
    """
    yield from _gates_without(
        "approval-missing-timeout",
        spec,
        graph,
        lambda t: t.timed and _leads_to_failed(graph, t),
        "has no timeout; add a transition with after: (e.g. 72h) to a failed state, "
        "with a reason such as TIMEOUT_APPROVAL",
    )


@rule("approval-automatic-exit", Severity.ERROR, Family.ORCHESTRATION)
@_examples(_GATE, (_APPROVE, _APPROVE + "  - {from: REVIEW, to: IDLE, trigger: withdrawn}\n"))
def approval_automatic_exit(spec: Spec, graph: nx.MultiDiGraph) -> Iterator[Finding]:
    """An approval state has an exit that is neither ``human`` nor ``after``.

    Nothing but a reviewer's decision or the timeout may end the wait. One finding per such
    transition, at the transition. The example that fails is the gate with a plain
    ``withdrawn`` exit.
    """
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
@_examples(_GATE, ("approval, reviewers: [tech_lead]}", "approval}"))
def human_without_reviewers(spec: Spec, graph: nx.MultiDiGraph) -> Iterator[Finding]:
    """A ``human`` transition leaves a state that names no reviewers.

    Nobody would be allowed to take it. One finding per transition, at the transition. The
    example that fails is the gate with no reviewers on the approval state.
    """
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
@_examples(
    _FAILURE, (", reason: WORKER_CRASHED}", "}"), (f"reasons:\n  WORKER_CRASHED: {_RECOVERY}\n", "")
)
def failure_missing_reason(spec: Spec, graph: nx.MultiDiGraph) -> Iterator[Finding]:
    """A transition from a state that is not ``failed`` into a ``failed`` state has no reason.

    A transition from one failed state to another inherits the reason it failed with. One
    finding per transition, at the transition. The example that fails is the passing one
    without its reason.
    """
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
@_examples(_FAILURE, (_RECOVERY, "{recovery: []}"))
def reason_missing_recovery(spec: Spec, graph: nx.MultiDiGraph) -> Iterator[Finding]:
    """A declared reason code has no recovery steps.

    One finding per reason, at the reason. The example that fails is the passing one with an
    empty procedure.
    """
    for r in spec.reasons:
        if not r.recovery:
            yield reason_finding(
                "reason-missing-recovery",
                r,
                f"reason {r.name} has no recovery steps; add recovery: [step, ...]",
            )


@rule("unused-reason", Severity.WARNING, Family.ORCHESTRATION)
@_examples(
    _FAILURE, (f"{_RECOVERY}\n", f"{_RECOVERY}\n  DISK_FULL: {{recovery: [Free some space]}}\n")
)
def unused_reason(spec: Spec, graph: nx.MultiDiGraph) -> Iterator[Finding]:
    """A declared reason code that no transition uses.

    One finding per reason, at the reason. The example that fails declares a reason too
    many.
    """
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
@_examples(
    _FAILURE,
    ("failed, reviewers: [on_call]}", "failed}"),
    ("trigger: human_resumed, human: true", "trigger: retry_timer, after: 5m"),
)
def failed_without_recovery(spec: Spec, graph: nx.MultiDiGraph) -> Iterator[Finding]:
    """A failed state that is not ``final`` has no ``human`` exit and no exit to another
    failed state.

    Recovery from a failure needs a person (or an escalation to another failed state). One
    finding per state, at the state. The example that fails retries on a timer instead of
    waiting for a person.
    """
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
@_examples(_CALLBACK, (_NO_ANSWER, ""))
def waiting_missing_timeout(spec: Spec, graph: nx.MultiDiGraph) -> Iterator[Finding]:
    """A waiting state has no ``after`` exit.

    A wait on the outside world must end even when the other side never answers. The
    timeout may lead anywhere: a retry, a notification, a failed state. One finding per
    waiting state, at the state. The example that fails is the wait without its timeout.
    """
    for s in spec.states:
        if s.is_waiting and not any(t.timed for t in exits(graph, s.name)):
            yield state_finding(
                "waiting-missing-timeout",
                s,
                f"waiting state {s.name} can wait for ever; add a transition with after: "
                "(e.g. 24h) to a retry, a notification or a failed state",
            )
