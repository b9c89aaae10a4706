"""The transition tour over configurations: trigger sequences that fire every transition
that can fire, guarded ones included.

For a spec with variables a transition may fire only once its data allows it (a retry
after two failures, a completion after both approvals), so the tour is built on the
explorer's configuration graph: each transition's *witness* is the nearest edge that
takes it, and a path is the shortest trace to a witness, then the greedy continuation of
:mod:`statewright.verify.coverage`: the current configuration's first edge by a transition not fired
yet, or, within :data:`~statewright.verify.coverage.DETOUR_STATES` configurations, a short detour to
one. ``always`` steps are implied and a timed exit appears as its trigger, as in every
tour. ``covered`` comes from replaying the paths through the semantics
(:func:`replay`), never from the construction; ``total`` counts the transitions whose
source has a reachable configuration. The paths' steps are counted against the
budget's ``tour_steps`` (:mod:`statewright.verify.explore.budget`): past it, there is no tour, and
the coverage says which bound was exceeded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime

from statewright.verify.coverage import DETOUR_STATES, Coverage
from statewright.verify.explore import Exploration, explore
from statewright.verify.explore.budget import Meter, OverBudget
from statewright.verify.explore.graph import source
from statewright.verify.model import Spec
from statewright.verify.semantics import AlwaysCycle, Outcome, OutOfRange, Run, Semantics

__all__ = ["configuration_tour", "replay"]

_START = datetime(2000, 1, 1, tzinfo=UTC)


def configuration_tour(found: Exploration) -> Coverage:
    """The covering trigger sequences of the explored spec and what they cover."""
    spec = found.spec
    total = sum(1 for t in spec.transitions if t.source in found.reached)
    if not found.complete:
        return Coverage((), 0, total)
    if found.rollbacks:  # the spec's own steps only
        found = explore(spec, found.budget, rollback=False)
    meter = Meter("tour steps", found.budget.tour_steps)
    try:
        paths = _paths(found, meter)
    except OverBudget as over:
        return Coverage((), 0, total, over.exceeded)
    if not paths and any(t.automatic for t in spec.transitions):
        paths.append(())
    return Coverage(tuple(paths), len(replay(spec, paths)), total)


def _paths(found: Exploration, meter: Meter) -> list[tuple[str, ...]]:
    """The paths of the tour, each step counted by ``meter``."""
    spec, search = found.spec, found.found
    own = len(spec.transitions)  # an approval gate's steps after: no transition to cover
    witness: dict[int, int] = {}
    for e, n in enumerate(search.via):
        if n < own:
            witness.setdefault(n, e)
            if len(witness) == own:
                break
    fired = bytearray(own) + b"\x01" * (len(search.transitions) - own)
    paths: list[tuple[str, ...]] = []
    for n, e in sorted(witness.items(), key=lambda item: item[1]):
        if fired[n]:
            continue
        edges = [*found.path_to(_source(found, e)), e]
        here = search.succ[e]
        for step in edges:
            fired[search.via[step]] = 1
        while True:
            route = _next(found, here, fired)
            if not route:
                break
            for step in route:
                fired[search.via[step]] = 1
            edges += route
            here = search.succ[route[-1]]
        meter.spend(len(edges))
        paths.append(_triggers(found, edges))
    return paths


def _source(found: Exploration, edge: int) -> int:
    return source(found.found, edge)


def _next(found: Exploration, here: int, fired: bytearray) -> list[int]:
    """The edges to the nearest edge by a transition not fired yet, looking at no more
    than :data:`DETOUR_STATES` configurations; empty when there is none so near."""
    search = found.found
    back: dict[int, int] = {here: -1}
    queue = deque([here])
    while queue and len(back) <= DETOUR_STATES:
        at = queue.popleft()
        for e in search.edges(at):
            if not fired[search.via[e]]:
                route = [e]
                while back[at] >= 0:
                    route.append(back[at])
                    at = _source(found, back[at])
                route.reverse()
                return route
            there = search.succ[e]
            if there not in back:
                back[there] = e
                queue.append(there)
    return []


def _triggers(found: Exploration, edges: list[int]) -> tuple[str, ...]:
    """The triggers along ``edges``; ``always`` steps are implied, and so are an approval
    gate's (a replayed approve calls as many reviewers as its quorum needs, and an
    escalation is waited for)."""
    transitions, via = found.transitions, found.found.via
    own = len(transitions)
    return tuple(
        transitions[via[e]].trigger
        for e in edges
        if via[e] < own and not transitions[via[e]].automatic
    )


VOTERS = 16
"""The most distinct reviewers a replayed approval calls before the step counts as not
taken: a quorum larger than that is not met by a replay."""


def _taken(run: Run, trigger: str, roles: Iterable[str]) -> bool:
    """Fire ``trigger`` as a path step: at a gate with a quorum, one step stands for the
    approvals it needs, each by another reviewer (``tour-1``, ``tour-2``, ...), as the
    explorer takes it; False when the step is refused."""
    before = len(run.log)
    for voter in range(1, VOTERS + 1):
        if run.fire(trigger, roles, f"tour-{voter}", run.entered_at) is not Outcome.ACCEPTED:
            return False
        if any(entry.transition is not None for entry in run.log[before:]):
            return True
    return False


def replay(spec: Spec, paths: Iterable[tuple[str, ...]]) -> set[int]:
    """The transitions (by position in ``spec.transitions``) that ``paths`` fire, each run
    from the initial configuration by the semantics; a path stops at the first trigger
    that is not taken (a timed one is waited for)."""
    semantics = Semantics.of(spec)
    number = {id(t): n for n, t in enumerate(spec.transitions)}
    roles = semantics.roles
    fired: set[int] = set()
    for path in paths:
        try:
            run = Run(semantics, _START)
        except (AlwaysCycle, OutOfRange):
            continue
        try:
            for trigger in path:
                taken = run.candidate(trigger)
                if taken is not None and taken is run.timed_exit and run.deadline is not None:
                    run.expire(run.deadline)
                elif not _taken(run, trigger, roles):
                    break
        except (AlwaysCycle, OutOfRange):
            pass
        fired.update(number[id(e.transition)] for e in run.log if e.transition is not None)
    return fired
