"""The one executable meaning of a spec: which transition fires, how ``always`` chains,
timers, guards and effects behave.

Everything in statewright that runs a spec runs it through this module: the checker's
transition tour (:mod:`statewright.verify.coverage`) and configuration search
(:mod:`statewright.verify.explore`, which compiles the same rules to faster code and is tested
against this module), the conformance harness's model of the spec
(:mod:`statewright.verify.conformance`) and with it the generated hypothesis tests, and the test
suite that holds the generated runtime engine to it. A *configuration* is a state and a value of
every variable (:data:`Values`; a spec without variables has one configuration per state). The
rules, written once:

- A trigger fired in a configuration takes the first declared transition of its state
  with that trigger whose guard (``when``) holds; when several share a source and a
  trigger and more than one holds, the others never fire (``nondeterministic``). A
  trigger declared there whose guards all fail is *blocked*, and changes nothing.
  ``always`` and timed (``after``) transitions are not fired by name: a caller's trigger
  reaches only the state's *manual* exits.
- Firing a transition assigns every ``set`` at once, computed from the values before the
  step; a value outside its bounds is an ``out-of-range`` step (:class:`OutOfRange`).
- Entering a configuration in which an ``always`` exit is enabled moves on at once along
  the first declared enabled one, and so on down the chain, before any other trigger.
  A chain that comes back to a configuration it passed (``always-cycle``) never settles.
- A state's timed exits run on one clock: the state is *due* when it has been held as
  long as its shortest ``after`` (the first declared among equals), and expiring it takes
  that exit, stamped with the time of the expiry. Firing that exit's trigger by name is
  the same as expiring: accepted once due, refused before. A longer timed exit of the
  same state never fires. Timed exits take no guard.
- A human transition is taken only by an actor holding one of its source state's
  reviewer roles (a trigger is first declared, then its guards are evaluated, then its
  actor is authorised, then a timed one's time is checked).

The rules are code once, in the step kernel :mod:`statewright.verify.semantics.kernel`,
which the generated runtime's engine runs too (copied into every ``_statewright/``): the
steps the checker explores are the steps production takes. :class:`Semantics` compiles a
spec to the kernel, once per spec, and keeps the tables the checker reads (guards and
effects interpreted by :mod:`statewright.verify.semantics.data`, which says what
expressions mean); :class:`Run` is one run of it, with a clock, its data, a log and the
outcome of every request (:class:`Outcome`).

Standard library only; no I/O.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from statewright.verify.model import Spec, State, Transition
from statewright.verify.semantics import kernel
from statewright.verify.semantics.data import Data, Values
from statewright.verify.semantics.kernel import AlwaysCycle, Outcome

__all__ = ["AlwaysCycle", "Entry", "Outcome", "Run", "Semantics"]

_Node = kernel.Node[Transition]
_Edge = kernel.Edge[Transition]


@dataclass(frozen=True, slots=True)
class Entry:
    """One transition a run took, as an audit log records it, and the values after it
    (``transition`` is the one taken)."""

    source: str
    target: str
    trigger: str
    at: datetime
    actor: str | None = None
    values: Values = ()
    transition: Transition | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Semantics:
    """A spec's transitions compiled to the step kernel (:mod:`.kernel`), and the tables
    the checker reads of it.

    ``named[state][trigger]`` is the transition a trigger fired by name takes: the first
    declared among the state's manual exits and its leading timed exit; ``manual`` is the
    same without the timed one. ``timed[state]`` holds the state's timed exits, the one
    that fires first leading; ``automatic[state]`` the ``always`` exit taken on entry;
    ``steps[state]`` the values of ``named[state]`` in declaration order: every exit that
    can fire from the state at rest.

    These tables name the *first declared* transition; with guards, ``choices[state]
    [trigger]`` holds every transition a trigger fired by name may take, in declaration
    order, and ``always[state]`` every ``always`` exit: the first whose guard holds is
    taken. ``data`` knows the variables; ``nodes`` are the kernel's states.
    """

    spec: Spec
    manual: Mapping[str, Mapping[str, Transition]]
    timed: Mapping[str, tuple[Transition, ...]]
    automatic: Mapping[str, Transition]
    reviewers: Mapping[str, frozenset[str]] = field(repr=False)
    steps: Mapping[str, tuple[Transition, ...]] = field(repr=False)
    named: Mapping[str, Mapping[str, Transition]] = field(repr=False)
    choices: Mapping[str, Mapping[str, Sequence[Transition]]] = field(repr=False)
    always: Mapping[str, Sequence[Transition]] = field(repr=False)
    data: Data = field(repr=False)
    nodes: Mapping[str, _Node] = field(repr=False, default_factory=dict)
    edges: Mapping[int, _Edge] = field(repr=False, default_factory=dict)
    """The kernel's edge of each transition, by ``id`` of the transition."""

    @classmethod
    def of(cls, spec: Spec) -> Semantics:
        data = Data(spec.variables)
        # kernel.Node(...), not _Node(...): calling a subscripted generic goes through
        # typing's alias machinery, which cost more than the rest of the compilation
        nodes: dict[str, _Node] = {
            s.name: kernel.Node(s.name, frozenset(s.reviewers)) for s in spec.states
        }
        for s in spec.states:  # what approval policies read (the kernel's Ledger, vote)
            if s.is_approval or s.is_failed:
                node = nodes[s.name]
                node.approval, node.failed, node.policy = s.is_approval, s.is_failed, policy(s)
        edges = [_edge(t, nodes, data) for t in spec.transitions]
        kernel.link(edges)
        choices = {
            name: {
                trigger: [edge.declared for edge in first.alternatives()]
                for trigger, first in node.exits.items()
            }
            for name, node in nodes.items()
        }
        named = {
            name: {trigger: edge.declared for trigger, edge in node.exits.items()}
            for name, node in nodes.items()
        }
        return cls(
            spec,
            {
                name: {k: t for k, t in found.items() if t.after is None}
                for name, found in named.items()
            },
            {name: tuple(e.declared for e in n.timers) for name, n in nodes.items() if n.timers},
            {name: n.automatic.declared for name, n in nodes.items() if n.automatic},
            {name: node.reviewers for name, node in nodes.items()},
            {name: tuple(found.values()) for name, found in named.items()},
            named,
            choices,
            {
                name: [edge.declared for edge in n.automatic.alternatives()]
                for name, n in nodes.items()
                if n.automatic is not None
            },
            data,
            nodes,
            {id(edge.declared): edge for edge in edges},
        )

    @property
    def initial(self) -> str:
        return self.spec.initial

    def node(self, state: str) -> _Node:
        """``state`` as the step kernel runs it (its exits, reviewers and policy)."""
        return self.nodes[state]

    def candidates(self, state: str, trigger: str, values: Values = ()) -> Transition | None:
        """The transition ``trigger`` fired by name takes from ``state`` with ``values``:
        the first declared whose guard holds, or None."""
        edge = kernel.choose(self.nodes[state].exits.get(trigger), values)
        return None if edge is None else edge.declared

    def timed_exit(self, state: str) -> Transition | None:
        """The timed exit ``state`` takes when it is due, or None if it has none."""
        timed = self.nodes[state].timed
        return None if timed is None else timed.declared

    def automatic_in(self, state: str, values: Values = ()) -> Transition | None:
        """The ``always`` exit entering ``state`` with ``values`` takes at once, or None."""
        edge = kernel.choose(self.nodes[state].automatic, values)
        return None if edge is None else edge.declared

    def take(self, transition: Transition, values: Values) -> Values:
        """The values after ``transition``'s effects (:class:`OutOfRange` past a bound)."""
        edge = self.edges.get(id(transition))
        if edge is None or edge.declared is not transition:  # an equal one, made elsewhere
            found = [e for e in self.edges.values() if e.declared == transition]
            if not found:
                raise ValueError(f"{transition.key} is not a transition of {self.spec.machine}")
            edge = found[0]
        return kernel.effect(edge, values)

    def enter(self, state: str, values: Values = ()) -> list[tuple[Transition, Values]]:
        """The ``always`` transitions taken on entering ``state`` with ``values``, in
        order, each with the values after it.

        Raises :class:`AlwaysCycle` when the chain never settles.
        """
        return [(edge.declared, after) for edge, after in kernel.settle(self.nodes[state], values)]

    def chain(self, state: str, values: Values = ()) -> list[Transition]:
        """The ``always`` transitions taken on entering ``state``, in order.

        Raises :class:`AlwaysCycle` when the chain never settles.
        """
        return [step for step, _ in self.enter(state, values)]

    def settle(self, state: str) -> str | None:
        """Where entering ``state`` (with the initial values) comes to rest; None when its
        ``always`` chain cycles."""
        try:
            chain = self.chain(state, self.data.initial)
        except AlwaysCycle:
            return None
        return chain[-1].target if chain else state

    def outcome(
        self, state: str, trigger: str, roles: Iterable[str] | None, values: Values = ()
    ) -> Outcome:
        """What firing ``trigger`` in ``state`` with ``values`` by an actor with ``roles``
        (None: no actor) must do, its timed exit aside (:meth:`Run.outcome` knows the
        time: here a timed exit is never due)."""
        held = None if roles is None else frozenset(roles)
        return kernel.decide(self.nodes[state], trigger, values, held, _EVER, _EVER)[0]

    def failed_guards(self, state: str, trigger: str) -> tuple[str, ...]:
        """The guards of the transitions ``trigger`` may take from ``state``, as written."""
        first = self.nodes[state].exits.get(trigger)
        found = () if first is None else first.alternatives()
        return tuple(edge.when.text for edge in found if edge.when is not None)

    def exits(self, state: str) -> tuple[Transition, ...]:
        """The transitions a caller can fire from ``state`` (neither automatic nor timed)."""
        return tuple(self.manual[state].values())

    def roles_for(self, trigger: str) -> tuple[str, ...]:
        """The roles that may take ``trigger`` where it is a declared human exit, sorted."""
        return tuple(
            sorted(
                {
                    role
                    for state, exits in self.manual.items()
                    if (t := exits.get(trigger)) is not None and t.human
                    for role in self.reviewers[state]
                }
            )
        )

    @property
    def roles(self) -> tuple[str, ...]:
        """Every reviewer role of the spec, sorted."""
        return tuple(sorted({role for roles in self.reviewers.values() for role in roles}))

    def steps_in(self, state: str, values: Values = ()) -> tuple[Transition, ...]:
        """Every transition that can fire from ``state`` at rest with ``values``: for each
        trigger, in declaration order, the one it takes, and the leading timed exit."""
        found = (self.candidates(state, trigger, values) for trigger in self.named[state])
        return tuple(t for t in found if t is not None)

    def arrivals(self, limit: int = 10_000) -> dict[str, tuple[str, ...]]:
        """For each state a fresh run can rest in, the shortest trigger sequence that brings
        it there, nearest first, the start first. A timed exit appears as its trigger.

        With variables, the search runs over configurations (at most ``limit`` of them)
        and a state's sequence brings the run to the first configuration of it found.
        """
        initial = self.data.initial
        try:
            chain = self.enter(self.initial, initial)
        except AlwaysCycle:
            return {}
        start = (chain[-1][0].target, chain[-1][1]) if chain else (self.initial, initial)
        paths: dict[tuple[str, Values], tuple[str, ...]] = {start: ()}
        found: dict[str, tuple[str, ...]] = {start[0]: ()}
        queue = deque([start])
        while queue and len(paths) < limit:
            state, values = queue.popleft()
            for t in self.steps_in(state, values):
                try:
                    after = self.take(t, values)
                    chain = self.enter(t.target, after)
                except (AlwaysCycle, ValueError):
                    continue
                rest = (chain[-1][0].target, chain[-1][1]) if chain else (t.target, after)
                if rest not in paths:
                    paths[rest] = (*paths[state, values], t.trigger)
                    found.setdefault(rest[0], paths[rest])
                    queue.append(rest)
        return found

    def waits(self) -> tuple[int, ...]:
        """Clock moves worth trying, in seconds: a minute, an hour, and half and all but a
        second of each of the spec's timeouts."""
        found = {60, 3600}
        for t in self.spec.transitions:
            if t.after is not None:
                found |= {max(1, t.after.seconds // 2), max(1, t.after.seconds - 1)}
        return tuple(sorted(found))


_EVER = datetime.min
"""The time :meth:`Semantics.outcome` asks at: none, as it leaves timed exits aside."""


def _edge(transition: Transition, nodes: Mapping[str, _Node], data: Data) -> _Edge:
    """``transition`` as the kernel runs it: its guard and effects interpreted by ``data``."""
    when, effects = transition.when, transition.effects
    return kernel.Edge(
        transition,
        nodes[transition.source],
        transition.trigger,
        nodes[transition.target],
        human=transition.human,
        after=None if transition.after is None else timedelta(seconds=transition.after.seconds),
        reason=transition.reason,
        when=None if when is None else kernel.Guard(when.text, partial(data.holds, when)),
        effect=None
        if not effects
        else kernel.Effect(
            "; ".join(f"{e.variable} = {e.value.text}" for e in effects),
            partial(data.apply, effects),
        ),
    )


class Run:
    """One run of a spec: its current state and values, when the state was entered, and
    its log (with the records an approval gate keeps of its own: ``approval`` votes, an
    ``escalation``, a ``bound`` digest, as entries from the gate to itself on those
    names, whose ``transition`` is None); ``ledger`` is what its gates' policies read."""

    __slots__ = ("entered_at", "ledger", "log", "semantics", "state", "values")

    def __init__(self, semantics: Semantics, now: datetime) -> None:
        self.semantics = semantics
        self.state = semantics.initial
        self.values: Values = semantics.data.initial
        self.entered_at = now
        self.log: list[Entry] = []
        self.ledger = kernel.Ledger()
        self._settle(now)

    def candidate(self, trigger: str) -> Transition | None:
        """The transition ``trigger`` would take now, if any."""
        return self.semantics.candidates(self.state, trigger, self.values)

    def outcome(
        self, trigger: str, roles: Iterable[str] | None, now: datetime, actor: str | None = None
    ) -> Outcome:
        """What firing ``trigger`` at ``now`` by ``actor`` with ``roles`` must do (at a
        gate with a policy, a vote the policy refuses is UNAUTHORISED)."""
        held = None if roles is None else frozenset(roles)
        node = self.semantics.nodes[self.state]
        ledger = self._escalated(now)[0]
        widened = kernel.widened(node, ledger.gate)
        outcome, edge = kernel.decide(
            node, trigger, self.values, held, self.entered_at, now, widened
        )
        if outcome is Outcome.ACCEPTED and edge is not None and edge.human and node.policy:
            verdict = kernel.vote(edge, ledger, actor or "")
            if verdict not in (kernel.Verdict.TAKE, kernel.Verdict.COUNT):
                return Outcome.UNAUTHORISED
        return outcome

    def fire(
        self, trigger: str, roles: Iterable[str] | None, actor: str | None, now: datetime
    ) -> Outcome:
        """Fire ``trigger``; the run changes only when the outcome is ACCEPTED (at a gate
        with a policy: an escalation that fell due is recorded first, and a vote the quorum
        still lacks is recorded instead of the transition)."""
        outcome = self.outcome(trigger, roles, now, actor)
        if outcome is Outcome.ACCEPTED:
            transition = self.candidate(trigger)
            assert transition is not None
            node = self.semantics.nodes[self.state]
            if node.policy is not None:
                self._escalate(now)
                edge = self.semantics.edges[id(transition)]
                if transition.human and kernel.vote(edge, self.ledger, actor or "") is (
                    kernel.Verdict.COUNT
                ):
                    self._own(kernel.APPROVAL_EVENT, now, actor, trigger)
                    return outcome
            self.take(transition, now, actor if transition.human else None)
        return outcome

    def _escalated(self, now: datetime) -> tuple[kernel.Ledger, datetime | None]:
        """The ledger with the gate's escalation if it fell due by ``now``, and when it fell
        due (None: it did not, or it is recorded already)."""
        node = self.semantics.nodes[self.state]
        due = kernel.escalation_due(node, self.ledger.gate, self.entered_at)
        if due is None or now < due:
            return self.ledger, None
        return kernel.observe(self.ledger, kernel.ESCALATION_EVENT), due

    def _escalate(self, now: datetime) -> None:
        """Record the gate's escalation, stamped at its due time, if it fell due."""
        due = self._escalated(now)[1]
        if due is not None:
            self._own(kernel.ESCALATION_EVENT, due)

    def _own(
        self, event: str, at: datetime, actor: str | None = None, trigger: str | None = None
    ) -> None:
        """Log a record the gate keeps of its own (a vote on ``trigger``, an escalation, a
        bound digest), as the runtime's audit log holds it."""
        self.log.append(Entry(self.state, self.state, trigger or event, at, actor, self.values))
        digest = "bound" if event == kernel.BOUND_EVENT else None
        self.ledger = kernel.observe(self.ledger, event, actor=actor, trigger=trigger, bound=digest)

    def _entered(self, transition: Transition | None, source: str, actor: str | None) -> None:
        """Move the ledger past a step out of ``source`` (a rollback when ``transition`` is
        None), and bind the digest of a gate so entered."""
        semantics = self.semantics
        self.ledger = kernel.observe(
            self.ledger,
            "rollback" if transition is None else "transition",
            source=semantics.nodes[source],
            target=semantics.nodes[self.state],
            actor=actor,
            trigger=None if transition is None else transition.trigger,
            human=transition is not None and transition.human,
            leaves_initial=source == semantics.initial != self.state,
        )

    @property
    def timed_exit(self) -> Transition | None:
        """The timed exit the current state takes when it is due."""
        return self.semantics.timed_exit(self.state)

    @property
    def deadline(self) -> datetime | None:
        """When the current state is due, or None if it has no timed exit."""
        return self.semantics.nodes[self.state].deadline(self.entered_at)

    def overdue(self, now: datetime, trigger: str | None = None) -> list[Transition]:
        """Take every timed exit whose deadline passed before ``now``, each stamped at its
        deadline, as the runtime does before a late trigger, context change or rollback
        (DESIGN.md, "Checking what really ran"); ``trigger``, when it is the overdue exit
        itself, is left to the caller. The exits taken, in order."""
        taken: list[Transition] = []
        while True:
            node = self.semantics.nodes[self.state]
            timed, deadline = node.timed, node.deadline(self.entered_at)
            if timed is None or deadline is None or deadline >= now or timed.trigger == trigger:
                return taken
            self.take(timed.declared, deadline, None)
            taken.append(timed.declared)

    def expire(self, now: datetime) -> Transition | None:
        """Take the timed exit if ``now`` has reached the deadline; the exit taken (an
        approval gate's escalation that fell due is recorded first)."""
        self._escalate(now)
        timed = self.semantics.nodes[self.state].timed
        if timed is None or not kernel.due(timed, self.entered_at, now):
            return None
        self.take(timed.declared, now, None)
        return timed.declared

    def take(self, transition: Transition, now: datetime, actor: str | None) -> None:
        """Take ``transition`` with its effects, then the ``always`` chain of its target.

        Raises :class:`~statewright.verify.semantics.data.OutOfRange`, changing nothing, when an
        effect leaves its variable's bounds.
        """
        values = self.semantics.take(transition, self.values)
        self.log.append(
            Entry(self.state, transition.target, transition.trigger, now, actor, values, transition)
        )
        source = self.state
        self.state = transition.target
        self.values = values
        self.entered_at = now
        self._entered(transition, source, actor)
        self._settle(now)

    def restore(self, state: str, now: datetime, values: Values | None = None) -> None:
        """Return to ``state`` and ``values`` (a rollback), entered at ``now``; the log
        records transitions and gate records only, so a rollback adds nothing to it but
        the digest of a binding gate it returns to."""
        source = self.state
        self.state = state
        if values is not None:
            self.values = values
        self.entered_at = now
        self._entered(None, source, None)
        self._bind(now)

    def _settle(self, now: datetime) -> None:
        for step, values in self.semantics.enter(self.state, self.values):
            self.log.append(Entry(step.source, step.target, step.trigger, now, None, values, step))
            source = self.state
            self.state = step.target
            self.values = values
            self._entered(step, source, None)
        self._bind(now)

    def _bind(self, now: datetime) -> None:
        policy = self.semantics.nodes[self.state].policy
        if policy is not None and policy.bind:
            self._own(kernel.BOUND_EVENT, now)


def policy(state: State) -> kernel.Policy | None:
    """``state``'s approval policy as the step kernel reads it; None without one (or
    outside an approval state, where rule ``policy-outside-approval`` reports it)."""
    written = state.policy
    if written is None or not state.is_approval:
        return None
    escalation = written.escalate
    return kernel.Policy(
        quorum=written.quorum or 1,
        separate_from=frozenset(s.name for s in written.separate_from),
        escalate_after=None if escalation is None else timedelta(seconds=escalation.after.seconds),
        escalate_to=frozenset(() if escalation is None else escalation.to),
        bind=written.bind == "context",
    )
