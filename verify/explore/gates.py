"""Approval gates in the configuration graph: quorum counts and escalations.

An approval state with a policy (DESIGN.md, "Approval policies") gathers what a run's
records say while it waits: the approvals counted toward its ``quorum`` and whether it
escalated. What each means is the step kernel's
(:mod:`statewright.verify.semantics.kernel`), asked here once per gate, not restated:
:func:`~statewright.verify.semantics.kernel.vote` says at which count an approval is
taken rather than counted, :func:`~statewright.verify.semantics.kernel.escalation_due`
whether the gate escalates, :func:`~statewright.verify.semantics.kernel.widened` the
roles an escalation adds.

The explorer carries the gate in the configuration, in bits above the variables'
(:attr:`~statewright.verify.explore.layout.Layout.gate_mask`), shared by every gate since
a run rests in one state at a time: for each trigger whose approvals a quorum counts, the
number counted so far (0 to ``quorum - 1``), and, for a gate that escalates, a flag. Two
kinds of step keep the run in the gate:

- a *vote*: a human approve exit whose approval does not complete the quorum is counted,
  the count one more (shown ``approved (approval 1 of 2) -> REVIEW``); the approval that
  completes it takes the exit. A reject (a human exit into a failed state) is taken at
  once, as the kernel says;
- an *escalation*: a timed step, due ``escalate.after`` after the gate was entered, that
  sets the flag (``escalate -> REVIEW (reviewers widened to director)``). It is taken only
  where it falls before the state's leading timed exit (rule
  ``escalation-after-timeout`` reports one that does not): the runtime records it
  before it takes the timed exit, so the gate takes its timed exit only once it has
  escalated. Neither it nor a vote
  restarts the state's clock, so a gate's worst case is its timeout
  (:class:`~statewright.verify.explore.timing.Configurations` charges a gate's whole rest
  to the configuration that enters it).

Every step out of the gate clears its bits: the next visit opens a new gate, as a
transition or a rollback does at run time.

Actors are abstract: a role stands for any number of people, so the explorer assumes a
quorum can always be met by distinct actors, ``separate_from`` (which excludes the
requester and earlier approvers, never a whole role) included; the runtime refuses the
actors a policy separates, and its gate status says how many approvals are missing.

Both kinds of step are edges of the search by transition numbers past the spec's own and
its rollback's (:func:`gate_steps`): a vote by a :class:`GateStep` copy of the approve
transition (its trigger, its location), an escalation by one whose trigger is
:data:`ESCALATE_TRIGGER`, so that a trace shows and replays them and properties about a
trigger count only the transitions taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from statewright.verify.model import Duration, Location, Spec, State, Transition, format_duration
from statewright.verify.semantics import Semantics, kernel

__all__ = ["ESCALATE_TRIGGER", "Gate", "GateStep", "Gates", "gate_steps"]

ESCALATE_TRIGGER = "escalate"
"""The trigger name of an escalation step in traces."""


@dataclass(frozen=True, slots=True)
class GateStep:
    """What a step kept inside a gate is: a vote toward ``quorum`` on ``transition`` (the
    approve exit it would take), or an escalation of ``state`` (``transition`` None)
    widening its reviewers by ``widened``."""

    state: str
    transition: Transition | None
    quorum: int = 1
    widened: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Gate:
    """One approval state's gate in the layout: the offset and width of each counted
    trigger's count (relative to the gate bits), the quorum, and the escalation flag's
    bit (None: it does not escalate)."""

    state: str
    quorum: int
    counters: dict[str, tuple[int, int]]
    flag: int | None
    escalate_after: int | None
    widened: tuple[str, ...]

    def count(self, bits: int, trigger: str) -> int:
        """The approvals counted on ``trigger`` in the gate ``bits``."""
        offset, width = self.counters[trigger]
        return (bits >> offset) & ((1 << width) - 1)

    def escalated(self, bits: int) -> bool:
        return self.flag is not None and bool(bits >> self.flag & 1)


class Gates:
    """The gates of a spec: which approval states count votes or escalate, the bits they
    need (``width``), and the steps they add (:attr:`steps`, numbered from ``first``)."""

    def __init__(self, spec: Spec) -> None:
        self.by_state: dict[str, Gate] = {}
        self.first = len(spec.transitions) + 1  # after the spec's own and the rollback
        self.vote: dict[int, int] = {}
        """The step number of each counted approve transition's vote (by ``index`` into
        ``spec.transitions`` position)."""
        self.escalation: dict[str, int] = {}
        self.width = 0
        self.steps: tuple[GateStep, ...] = ()
        self.transitions: tuple[Transition, ...] = ()
        if any(s.is_approval and s.policy is not None for s in spec.states):
            self._model(spec)

    def _model(self, spec: Spec) -> None:
        semantics = Semantics.of(spec)
        steps: list[tuple[GateStep, Transition]] = []
        width = 0
        for s in spec.states:
            node = semantics.nodes[s.name]
            policy = node.policy
            if policy is None:
                continue
            quorum = _quorum(semantics, s.name)
            counters: dict[str, tuple[int, int]] = {}
            offset = 0
            for n, t in enumerate(spec.transitions):
                if t.source != s.name or not _counted(semantics, t, quorum):
                    continue
                if t.trigger not in counters:
                    bits = (quorum - 1).bit_length()
                    counters[t.trigger] = (offset, bits)
                    offset += bits
                self.vote[n] = self.first + len(steps)
                steps.append(
                    (GateStep(s.name, t, quorum), _copy(t, self.first + len(steps), t.trigger))
                )
            after = _escalates(semantics, s.name)
            flag = None
            widened = tuple(sorted(kernel.widened(node, kernel.Gate(escalated=True))))
            if after is not None:
                flag = offset
                offset += 1
                self.escalation[s.name] = self.first + len(steps)
                step = Transition(
                    s.name,
                    s.name,
                    ESCALATE_TRIGGER,
                    _escalate_location(s),
                    self.first + len(steps),
                    after=Duration(format_duration(after), after),
                    description=f"{s.name} escalates: its reviewers widened",
                )
                steps.append((GateStep(s.name, None, quorum, widened), step))
            if offset:
                self.by_state[s.name] = Gate(s.name, quorum, counters, flag, after, widened)
                width = max(width, offset)
        self.width = width
        self.steps = tuple(step for step, _ in steps)
        self.transitions = tuple(t for _, t in steps)

    def __bool__(self) -> bool:
        return bool(self.by_state)

    def step(self, n: int) -> GateStep | None:
        """The gate step transition number ``n`` takes (None: a transition or rollback)."""
        k = n - self.first
        return self.steps[k] if 0 <= k < len(self.steps) else None


def gate_steps(spec: Spec) -> Gates:
    """The gates of ``spec`` (:class:`Gates`; false when it has none to model)."""
    return Gates(spec)


def _copy(t: Transition, number: int, trigger: str) -> Transition:
    return Transition(
        t.source,
        t.source,
        trigger,
        t.location,
        number,
        human=True,
        description=f"an approval of {t.trigger} counted toward the quorum",
    )


def _quorum(semantics: Semantics, state: str) -> int:
    """The number of distinct approvals the gate takes an approve exit at, as
    :func:`kernel.vote` counts them (1 without a quorum)."""
    node = semantics.nodes[state]
    policy = node.policy
    assert policy is not None
    edge = next(
        (
            e
            for first in node.exits.values()
            for e in first.alternatives()
            if e.human and not e.target.failed
        ),
        None,
    )
    if edge is None:
        return policy.quorum
    votes: tuple[kernel.Vote, ...] = ()
    while kernel.vote(edge, kernel.Ledger(gate=kernel.Gate(votes)), f"actor{len(votes)}") is (
        kernel.Verdict.COUNT
    ):
        votes = (*votes, kernel.Vote(f"actor{len(votes)}", edge.trigger))
    return len(votes) + 1


def _counted(semantics: Semantics, t: Transition, quorum: int) -> bool:
    """Whether an approval on ``t`` may be counted rather than taken: the kernel counts
    the first of a quorum (a reject, or any exit under quorum 1, is taken at once)."""
    if not t.human or t.after is not None or t.automatic:
        return False
    edge = semantics.edges[id(t)]
    return kernel.vote(edge, kernel.Ledger(), "actor0") is kernel.Verdict.COUNT and quorum > 1


def _escalates(semantics: Semantics, state: str) -> int | None:
    """When the gate of ``state`` escalates, in seconds after it was entered, if that is
    before its leading timed exit (None: it does not escalate in time)."""
    node = semantics.nodes[state]
    entered = datetime(2000, 1, 1, tzinfo=UTC)
    due = kernel.escalation_due(node, kernel.Gate(), entered)
    if due is None:
        return None
    deadline = node.deadline(entered)
    if deadline is not None and due >= deadline:
        return None
    return int((due - entered) / timedelta(seconds=1))


def _escalate_location(state: State) -> Location:
    escalation = None if state.policy is None else state.policy.escalate
    return state.location if escalation is None else escalation.location
