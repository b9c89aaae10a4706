"""The step kernel: what one step of a machine does, written once for the checker and the
generated runtime.

Which transition a trigger takes in a configuration, what its effect gives, what is
refused and why, when a state's timed exit is due, and which ``always`` steps follow
at once. The rules (the module documentation of :mod:`statewright.verify.semantics.machine`
states them for readers of a spec):

- a state's *named* exits are its manual exits and its leading timed exit (the shortest
  ``after``, the first declared among equals); a trigger fired by name takes the first
  declared of them on that trigger whose guard holds (:func:`choose`);
- a trigger the state does not name is *undeclared*; one whose guards all fail is
  *blocked*; a human exit needs an actor holding one of the state's reviewer roles; a
  timed exit is taken once the state has been held for its ``after`` (:func:`decide`
  checks in that order);
- a step's values are its effect applied to the values before it (:func:`effect`);
- entering a state in which an ``always`` exit's guard holds takes the first declared such
  exit at once, and so on down the chain; a chain that comes back to a configuration it
  passed never settles (:func:`settle`, :class:`AlwaysCycle`);
- an approval state's :class:`Policy` (``quorum``, ``separate_from``, ``escalate``,
  ``bind``) is kept by the :class:`Ledger` every record of a run updates (:func:`observe`):
  a human approve exit is taken once ``quorum`` distinct actors named it, the ones before
  counted as votes; one reject rejects; the run's requester and earlier approvers are
  refused where the policy separates them; an escalation, due ``escalate.after`` after the
  gate was entered, widens its reviewers; an approval naming a digest other than the one
  bound when the gate was entered (:func:`digest` of the context) is stale (:func:`vote`).

Both sides compile their own declaration of a machine into the :class:`Node` and
:class:`Edge` tables here and :func:`link` wires them by the rules: the checker
(:class:`statewright.verify.semantics.Semantics`, from a spec) with guards and effects that
interpret the spec's expressions, the generated runtime (``Machine``, from the
``MachineSpec`` a generated module declares) with guards and effects compiled to Python.
Guards and effects are opaque here: a :class:`Guard` is tested on the values, an
:class:`Effect` applied to them, whatever the values are.

Where it lives, and why. The meaning of a spec belongs to the checker, and ``verify`` never
imports ``generator``, so the file is ``verify/semantics/kernel.py``. The runtime support
package copied verbatim into every generated ``_statewright/`` must carry it too, and import
it relatively like the rest of the support, so ``generator/runtime/kernel.py`` is a
symbolic link to this file: one file on disk, imported as
``statewright.verify.semantics.kernel`` by the checker and as
``statewright.generator.runtime.kernel`` (``_statewright.kernel`` once generated) by the
engine. Hence this module imports the standard library alone and nothing of statewright's
(``tests/test_layering.py`` holds both rules and that the link is one).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Final, Generic, TypeVar

__all__ = [
    "APPROVAL_EVENT",
    "AUTOMATIC",
    "BOUND_EVENT",
    "ESCALATION_EVENT",
    "PREVIOUS_APPROVERS",
    "REQUESTER",
    "SEPARATIONS",
    "AlwaysCycle",
    "Edge",
    "Effect",
    "Gate",
    "Guard",
    "Ledger",
    "Node",
    "Outcome",
    "Policy",
    "Verdict",
    "Vote",
    "choose",
    "decide",
    "digest",
    "effect",
    "escalation_due",
    "holding",
    "link",
    "observe",
    "settle",
    "vote",
    "widened",
]

AUTOMATIC: Final = "always"
"""The trigger of an automatic transition, taken as soon as its source is entered."""

V = TypeVar("V")
X = TypeVar("X")


class Outcome(Enum):
    """What the spec says must happen to a trigger fired in the current configuration."""

    ACCEPTED = "accepted"
    UNDECLARED = "undeclared"
    """The state names no exit on the trigger, or only a timed one not yet due."""
    BLOCKED = "blocked"
    """Declared in the state, but the guard of every transition on the trigger fails."""
    UNAUTHORISED = "unauthorised"


class AlwaysCycle(ValueError):
    """A chain of ``always`` transitions came back on itself: the machine never settles."""


@dataclass(frozen=True, slots=True)
class Guard(Generic[V]):
    """A transition's ``when``: the expression as written, and its test of the values."""

    text: str
    test: Callable[[V], bool]


@dataclass(frozen=True, slots=True)
class Effect(Generic[V]):
    """A transition's ``set``: the assignments as written, and the update (all computed
    from the values before the step)."""

    text: str
    apply: Callable[[V], V]


@dataclass(slots=True, eq=False)
class Node(Generic[X]):
    """A state as a machine runs it: what the spec declares of it, and its exits.

    ``exits`` maps each trigger fired by name to the first declared of its named exits,
    the others following by :attr:`Edge.orelse`; ``automatic`` is the first declared
    ``always`` exit (likewise); ``timed`` the leading timed exit, and ``timers`` every
    timed exit, the leading one first. :func:`link` fills them.
    """

    state: Any
    reviewers: frozenset[str] = frozenset()
    approval: bool = False
    failed: bool = False
    policy: Policy | None = None
    exits: dict[Any, Edge[X]] = field(default_factory=dict)
    automatic: Edge[X] | None = None
    timed: Edge[X] | None = None
    timers: tuple[Edge[X], ...] = ()

    def deadline(self, entered: datetime) -> datetime | None:
        """When the state, entered at ``entered``, is due; None if it has no timed exit."""
        timed = self.timed
        return None if timed is None or timed.after is None else entered + timed.after


@dataclass(slots=True, eq=False)
class Edge(Generic[X]):
    """A transition between nodes; ``declared`` is the transition as its side declares it.

    ``orelse`` is the next transition of the same source on the same trigger: guarded
    transitions share one, and the first whose guard holds is taken. ``bare`` marks an
    exit taken by name whose step only moves the state: no guard, alternative, timer,
    effect or actor, neither end a failed state (which keeps a reason), no approval policy
    at the target (whose gate records its digest), and nothing ``always`` to follow
    (:func:`link` sets it; a runtime may take such a step on a short path).
    """

    declared: X
    source: Node[X]
    trigger: Any
    target: Node[X]
    human: bool = False
    after: timedelta | None = None
    reason: Any = None
    when: Guard[Any] | None = None
    effect: Effect[Any] | None = None
    orelse: Edge[X] | None = None
    bare: bool = False

    def alternatives(self) -> Iterator[Edge[X]]:
        """This edge and every one after it by ``orelse``, in declaration order."""
        edge: Edge[X] | None = self
        while edge is not None:
            yield edge
            edge = edge.orelse


def link(edges: list[Edge[X]]) -> None:
    """Wire ``edges`` (in declaration order, their nodes' tables empty) into their source
    nodes by the rules of the module documentation."""
    timers: dict[int, list[Edge[X]]] = {}
    for edge in edges:  # the shortest timer of a state leads (the first among equals)
        source = edge.source
        if edge.trigger == AUTOMATIC:
            continue
        if edge.after is not None:
            timers.setdefault(id(source), []).append(edge)
            if source.timed is None or edge.after < _delay(source.timed):
                source.timed = edge
    last: dict[tuple[int, Hashable], Edge[X]] = {}  # the last edge of each source and trigger
    for edge in edges:
        source = edge.source
        if edge.trigger == AUTOMATIC or edge.after is None or edge is source.timed:
            key = (id(source), edge.trigger)
            if key in last:
                last[key].orelse = edge
            elif edge.trigger == AUTOMATIC:
                source.automatic = edge
            else:
                source.exits[edge.trigger] = edge
            last[key] = edge
    for edge in edges:
        found = timers.pop(id(edge.source), None)
        if found is not None:
            edge.source.timers = tuple(sorted(found, key=_delay))
    for edge in edges:
        edge.bare = edge.source.exits.get(edge.trigger) is edge and not (
            edge.human
            or edge.after is not None
            or edge.when is not None
            or edge.effect is not None
            or edge.orelse is not None
            or edge.source.failed
            or edge.target.failed
            or edge.target.automatic is not None
            or edge.target.policy is not None
        )


def _delay(edge: Edge[Any]) -> timedelta:
    return edge.after or timedelta()


def choose(first: Edge[X] | None, values: Any) -> Edge[X] | None:
    """The first of ``first`` and its alternatives whose guard holds with ``values``: the
    transition taken (no guard always holds)."""
    edge = first
    while edge is not None and edge.when is not None and not edge.when.test(values):
        edge = edge.orelse
    return edge


def holding(node: Node[X], values: Any) -> list[Edge[X]]:
    """Every exit ``node`` at rest with ``values`` can take by name: for each trigger, in
    declaration order, the one it takes (a timed one whether due or not)."""
    found = (choose(first, values) for first in node.exits.values())
    return [edge for edge in found if edge is not None]


def due(edge: Edge[Any], entered: datetime, at: datetime) -> bool:
    """Whether ``edge`` may be taken at ``at`` from a state entered at ``entered``: an
    untimed one always, a timed one once its ``after`` has passed."""
    return edge.after is None or at >= entered + edge.after


def authorised(
    edge: Edge[Any], roles: frozenset[str] | None, widened: frozenset[str] = frozenset()
) -> bool:
    """Whether an actor holding ``roles`` (None: no actor) may take ``edge``; ``widened``
    are roles an escalation added to its source's reviewers (:func:`widened`)."""
    return not edge.human or (
        roles is not None
        and not (roles.isdisjoint(edge.source.reviewers) and roles.isdisjoint(widened))
    )


def decide(
    node: Node[X],
    trigger: Hashable,
    values: Any,
    roles: frozenset[str] | None,
    entered: datetime,
    at: datetime,
    widened: frozenset[str] = frozenset(),
) -> tuple[Outcome, Edge[X] | None]:
    """What firing ``trigger`` at ``at`` in ``node`` (entered at ``entered``) with
    ``values``, by an actor holding ``roles`` (None: no actor), must do, and the edge it
    concerns: the one taken when ACCEPTED, the one refused when UNAUTHORISED or a timed
    one not yet due (UNDECLARED), else None. ``widened``: roles an escalation added.

    The checks run in the order of the module documentation: declared, guards,
    authorised, due.
    """
    first = node.exits.get(trigger)
    if first is None:
        return Outcome.UNDECLARED, None
    edge = choose(first, values)
    if edge is None:
        return Outcome.BLOCKED, None
    if not authorised(edge, roles, widened):
        return Outcome.UNAUTHORISED, edge
    if not due(edge, entered, at):
        return Outcome.UNDECLARED, edge
    return Outcome.ACCEPTED, edge


def effect(edge: Edge[Any], values: V) -> V:
    """The values after ``edge``'s effect, computed from ``values``; the same without one."""
    return values if edge.effect is None else edge.effect.apply(values)


def settle(
    node: Node[X], values: V, apply: Callable[[Edge[X], V], V] = effect
) -> list[tuple[Edge[X], V]]:
    """The ``always`` steps entering ``node`` with ``values`` takes at once, in order, each
    with the values after it (``apply`` gives them: :func:`effect`, or a caller's own that
    also checks them and may refuse the step by raising).

    Raises :class:`AlwaysCycle` when the chain comes back to a configuration it passed.
    """
    step = choose(node.automatic, values)
    if step is None:
        return []
    taken: list[tuple[Edge[X], V]] = []
    seen = {(id(node), values)}
    while step is not None:
        values = apply(step, values)
        taken.append((step, values))
        here = step.target
        if (id(here), values) in seen:
            raise AlwaysCycle(f"'always' transitions from {node.state} never stop")
        seen.add((id(here), values))
        step = choose(here.automatic, values)
    return taken


# -- approval policies ------------------------------------------------------------------

REQUESTER: Final = "requester"
"""``separate_from: [requester]``: the actor of the run's first step (the step that last
left the initial state) may not approve."""

PREVIOUS_APPROVERS: Final = "previous_approvers"
"""``separate_from: [previous_approvers]``: an actor who approved at an earlier gate of
the run (or an earlier visit of this one) may not approve here."""

SEPARATIONS: Final = (REQUESTER, PREVIOUS_APPROVERS)
"""The names ``separate_from`` may list."""


@dataclass(frozen=True, slots=True)
class Policy:
    """An approval state's policy: how many distinct actors must approve (``quorum``), who
    may not (``separate_from``, of :data:`SEPARATIONS`), which roles join the reviewers
    once the gate has waited ``escalate_after`` (``escalate_to``), and whether an approval
    is bound to the digest of the context the gate was entered with (``bind``)."""

    quorum: int = 1
    separate_from: frozenset[str] = frozenset()
    escalate_after: timedelta | None = None
    escalate_to: frozenset[str] = frozenset()
    bind: bool = False


@dataclass(frozen=True, slots=True)
class Vote:
    """An approval counted toward a quorum: who, on which trigger."""

    actor: str
    trigger: Any


@dataclass(frozen=True, slots=True)
class Gate:
    """What an approval gate has gathered since it was entered: the votes counted so far,
    whether it escalated, and the digest bound on entry (None without ``bind``)."""

    votes: tuple[Vote, ...] = ()
    escalated: bool = False
    digest: str | None = None

    def count(self, trigger: Any) -> int:
        """The votes counted for ``trigger``."""
        return sum(1 for v in self.votes if v.trigger == trigger)


@dataclass(frozen=True, slots=True)
class Ledger:
    """What a run's records say that approval policies read: the run's requester, the
    actors who approved earlier in it, and the gate open now (:func:`observe` keeps it)."""

    requester: str | None = None
    approvers: frozenset[str] = frozenset()
    gate: Gate = field(default_factory=Gate)


class Verdict(Enum):
    """What an authorised human decision at a gate does under its policy (:func:`vote`)."""

    TAKE = "take"
    """The transition is taken: a reject, or the approval that completes the quorum."""
    COUNT = "count"
    """An approval counted toward the quorum; the gate stays."""
    REPEATED = "repeated"
    """The actor already approved at this gate: a quorum counts distinct actors."""
    REQUESTER = "requester"
    """``separate_from: [requester]`` and the actor started the run."""
    PREVIOUS_APPROVER = "previous_approver"
    """``separate_from: [previous_approvers]`` and the actor approved earlier in the run."""
    STALE = "stale"
    """The approval names a digest other than the one the gate bound."""


def digest(context: object) -> str:
    """``sha256:`` and the hex SHA-256 of ``context`` as canonical JSON (keys sorted, no
    spaces, UTF-8): what ``bind: context`` records and an approval names.

    >>> digest({"b": 1, "a": [True, None]}) == digest({"a": [True, None], "b": 1})
    True
    """
    text = json.dumps(
        context, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def widened(node: Node[Any], gate: Gate) -> frozenset[str]:
    """The roles an escalation added to ``node``'s reviewers (none before it escalated)."""
    policy = node.policy
    return policy.escalate_to if policy is not None and gate.escalated else frozenset()


def escalation_due(node: Node[Any], gate: Gate, entered: datetime) -> datetime | None:
    """When the gate ``node``, entered at ``entered``, escalates; None if it has no
    escalation or already escalated."""
    policy = node.policy
    if policy is None or policy.escalate_after is None or gate.escalated:
        return None
    return entered + policy.escalate_after


def vote(edge: Edge[Any], ledger: Ledger, actor: str, named: str | None = None) -> Verdict:
    """What the authorised human decision ``edge`` by ``actor`` does at the gate
    ``ledger`` holds open, naming the digest ``named`` (None: names none).

    A decision naming a digest is stale unless it is the one bound; a reject (a human
    exit into a failed state) is taken at once, by anyone authorised; an approval is
    refused to a separated actor and to one who already approved here, else counted, and
    taken once ``quorum`` distinct actors approved on its trigger.
    """
    policy = edge.source.policy
    gate = ledger.gate
    if named is not None and gate.digest is not None and named != gate.digest:
        return Verdict.STALE
    if policy is None or edge.target.failed:
        return Verdict.TAKE
    if REQUESTER in policy.separate_from and actor == ledger.requester:
        return Verdict.REQUESTER
    if PREVIOUS_APPROVERS in policy.separate_from and actor in ledger.approvers:
        return Verdict.PREVIOUS_APPROVER
    if any(v.actor == actor for v in gate.votes):
        return Verdict.REPEATED
    return Verdict.TAKE if gate.count(edge.trigger) + 1 >= policy.quorum else Verdict.COUNT


APPROVAL_EVENT: Final = "approval"
"""The record of an approval counted toward a quorum (the gate stays)."""
ESCALATION_EVENT: Final = "escalation"
"""The record of a gate's escalation (its reviewers widened)."""
BOUND_EVENT: Final = "bound"
"""The record of the digest a ``bind: context`` gate bound on entry."""


def observe(
    ledger: Ledger,
    event: str,
    *,
    source: Node[Any] | None = None,
    target: Node[Any] | None = None,
    actor: str | None = None,
    trigger: Any = None,
    human: bool = False,
    leaves_initial: bool = False,
    bound: str | None = None,
) -> Ledger:
    """The ledger after a record of ``event`` (``transition``, ``rollback``, or one of
    the approval events above; any other leaves it as it is).

    A transition that leaves the initial state starts a run (its actor is the
    requester); a human approval out of an approval state adds its actor and the gate's
    voters to the approvers; every transition and rollback opens a new gate.
    """
    if event == "transition":
        if leaves_initial:
            ledger = Ledger(requester=actor)
        approvers = ledger.approvers
        approved = human and source is not None and source.approval
        if approved and actor is not None and target is not None and not target.failed:
            approvers = approvers | {v.actor for v in ledger.gate.votes} | {actor}
        return Ledger(ledger.requester, approvers)
    if event == "rollback":
        return Ledger(ledger.requester, ledger.approvers)
    gate = ledger.gate
    if event == APPROVAL_EVENT and actor is not None:
        gate = replace(gate, votes=(*gate.votes, Vote(actor, trigger)))
    elif event == ESCALATION_EVENT:
        gate = replace(gate, escalated=True)
    elif event == BOUND_EVENT:
        gate = replace(gate, digest=bound)
    else:
        return ledger
    return replace(ledger, gate=gate)
