"""Approval policy rules: a gate's ``quorum``, ``separate_from``, ``escalate`` and ``bind``.

What a policy means when a run reaches the gate is the step kernel's
(:mod:`statewright.verify.semantics.kernel`: :class:`~statewright.verify.semantics.kernel.Policy`
and :func:`~statewright.verify.semantics.kernel.vote`); these rules find the policies no run
could follow as written.

A quorum is a number of distinct *actors*, and a role stands for any number of them, so
no count of roles bounds a quorum: ``reviewers: [maintainer]`` with ``quorum: 3`` is met by
three maintainers, and statewright cannot know how many a team has. No rule compares the
two; the runtime's gate status (``Machine.gate_status()``) shows how many approvals are
still missing.
"""

from __future__ import annotations

from collections.abc import Iterator

from statewright.verify.analysis import Analysis
from statewright.verify.findings import Finding, Severity
from statewright.verify.load.values import suggest
from statewright.verify.model import Location, State
from statewright.verify.registry import RULES, Family, rule, with_examples
from statewright.verify.semantics.kernel import SEPARATIONS

__all__: list[str] = []

_POLICY = """\
statewright: 1
machine: demo
initial: IDLE
states:
  IDLE: {kind: idle}
  REVIEW:
    kind: approval
    reviewers: [maintainer]
    quorum: 2
    separate_from: [requester]
    escalate: {after: 24h, to: [director]}
    bind: context
  FAILED: {kind: failed, reviewers: [on_call]}
transitions:
  - {from: IDLE, to: REVIEW, trigger: submitted}
  - {from: REVIEW, to: IDLE, trigger: approved, human: true}
  - {from: REVIEW, to: FAILED, trigger: rejected, human: true, reason: REJECTED}
  - {from: REVIEW, to: FAILED, trigger: timeout, after: 72h, reason: TIMED_OUT}
  - {from: FAILED, to: IDLE, trigger: resumed, human: true}
reasons:
  REJECTED: {recovery: [Revise the change, Submit it again]}
  TIMED_OUT: {recovery: [Confirm the reviewer roster, Submit it again]}
"""
"""A gate with every policy key: the ``Passes`` example of the policy rules."""


def _finding(rule_id: str, state: State, location: Location, message: str) -> Finding:
    return Finding(rule_id, RULES[rule_id].severity, message, location, (state.name,))


@rule("policy-outside-approval", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(
    _POLICY,
    ("  IDLE: {kind: idle}\n", "  IDLE: {kind: idle, quorum: 2}\n"),
)
def policy_outside_approval(analysis: Analysis) -> Iterator[Finding]:
    """A state whose kind is not ``approval`` has an approval policy key (``quorum``,
    ``separate_from``, ``escalate``, ``bind``).

    Only an approval gate collects human decisions to count, separate, escalate or bind;
    anywhere else the key would be ignored. One finding per state, at its first policy key.
    """
    for s in analysis.spec.states:
        if s.policy is not None and not s.is_approval:
            yield _finding(
                "policy-outside-approval",
                s,
                s.policy.location,
                f"{s.name} is not an approval state, so its quorum, separate_from, escalate "
                "and bind mean nothing; give it kind: approval or remove them",
            )


@rule("unknown-separation", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(_POLICY, ("separate_from: [requester]", "separate_from: [requestor]"))
def unknown_separation(analysis: Analysis) -> Iterator[Finding]:
    """A name in ``separate_from`` is neither ``requester`` (the actor of the run's first
    step) nor ``previous_approvers`` (whoever approved earlier in the run).

    One finding per unknown name, at the name, with the closest known one.
    """
    for s in analysis.spec.states:
        for separation in () if s.policy is None else s.policy.separate_from:
            if separation.name not in SEPARATIONS:
                hint = suggest(separation.name, SEPARATIONS) or (
                    f"; use {' or '.join(SEPARATIONS)}"
                )
                yield _finding(
                    "unknown-separation",
                    s,
                    separation.location,
                    f"{s.name} separates approvals from '{separation.name}', which names no "
                    f"one{hint}",
                )


@rule("escalation-after-timeout", Severity.ERROR, Family.ORCHESTRATION)
@with_examples(_POLICY, ("after: 24h, to:", "after: 72h, to:"))
def escalation_after_timeout(analysis: Analysis) -> Iterator[Finding]:
    """An approval state's ``escalate.after`` is not shorter than its timeout (its
    earliest ``after`` exit).

    The timeout fires first (or at the same moment, and wins): the widened reviewers could
    never act. One finding per state, at its ``escalate``.
    """
    spec = analysis.spec
    for s in spec.states:
        escalation = None if s.policy is None else s.policy.escalate
        timeout = spec.deadline(s.name)
        if escalation is None or timeout is None or timeout.after is None:
            continue
        if escalation.after.seconds >= timeout.after.seconds:
            yield _finding(
                "escalation-after-timeout",
                s,
                escalation.location,
                f"{s.name} escalates after {escalation.after.text}, but its timeout "
                f"{timeout.trigger} fires after {timeout.after.text}: the roles "
                f"{', '.join(escalation.to)} could never act; escalate earlier",
            )


@rule("escalation-widens-nothing", Severity.WARNING, Family.ORCHESTRATION)
@with_examples(_POLICY, ("to: [director]", "to: [maintainer]"))
def escalation_widens_nothing(analysis: Analysis) -> Iterator[Finding]:
    """Every role an approval state's ``escalate.to`` names is one of its reviewers
    already: the escalation is recorded but lets no one new act.

    One finding per state, at its ``escalate``.
    """
    for s in analysis.spec.states:
        escalation = None if s.policy is None else s.policy.escalate
        if escalation is not None and set(escalation.to) <= set(s.reviewers):
            yield _finding(
                "escalation-widens-nothing",
                s,
                escalation.location,
                f"{s.name} escalates to {', '.join(escalation.to)}, who review it already; "
                "name the roles that should join the reviewers when the gate waits too long",
            )
