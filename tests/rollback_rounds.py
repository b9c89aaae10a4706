"""The explorer's first rollback search, kept as the oracle of the one it ships.

:func:`search_with_rollback_rounds` is the explorer's
:func:`~statewright.verify.explore.rollback.search_with_rollback` as first written: a
fixpoint that reruns the compiled search from the initial configuration and every
rollback target found so far, then recomputes every configuration's ancestors as lists of
(state, variables) values, until no rollback and no configuration is new.
``tests/test_rollback_search.py`` holds the shipped search to it on random specs;
``benchmarks/bench_rollback.py --oracle`` times the two side by side.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, MutableSequence

from statewright.verify.explore.budget import DEFAULT_BUDGET, Budget, Exceeded
from statewright.verify.explore.layout import Layout
from statewright.verify.explore.rollback import _reach, _transient, rollback_transition
from statewright.verify.explore.search import PACKED_BITS, Search, search_from
from statewright.verify.model import Kind, Spec

__all__ = ["search_with_rollback_rounds"]


def search_with_rollback_rounds(
    spec: Spec,
    budget: Budget = DEFAULT_BUDGET,
    report: Callable[[int, int], None] | None = None,
) -> Search:
    """Every configuration of ``spec`` reachable by its steps and its rollbacks, within
    ``budget``: the fixpoint as first written, one fresh search per round."""
    most = spec.rollback_max
    layout = Layout(spec.state_names, spec.variables, most.bit_length() if most else 0)
    shift, visible = layout.bits, (1 << layout.bits) - 1
    kept = 0
    for name in spec.rollback_keep:
        kept |= layout.by_name[name].mask
    locked = {layout.number[s.name] for s in spec.states if s.kind is Kind.APPROVAL}
    automatic = bytes(1 if t.automatic else 0 for t in spec.transitions)
    mask = layout.state_mask
    starts = [layout.pack(spec.initial, tuple(v.initial for v in spec.variables))]
    rollbacks: dict[int, list[int]] = {}
    while True:
        found = search_from(spec, layout, starts, budget, report)
        if found.exceeded is not None:
            return found  # incomplete: the check says which bound, and proves nothing
        order, n = found.order, len(found)
        transient = _transient(spec, found, automatic)
        index = {c: i for i, c in enumerate(order)}
        while True:
            ancestors = _ancestors(found, rollbacks, index, visible, transient)
            fresh: dict[int, list[int]] = {}
            edges = len(found.succ)
            for i in range(n):
                c = order[i]
                if transient[i] or (c & mask) in locked or (most and c >> shift >= most):
                    continue
                counter = ((c >> shift) + 1) << shift if most else 0
                carried = (c & kept) | counter
                targets = {(p & ~kept) | carried for p in ancestors[i]}
                targets.discard(c)  # a rollback to where the run is changes nothing
                fresh[c] = sorted(targets)
                edges += len(fresh[c])
            if edges > budget.edges:
                return _numbered(spec, found, rollbacks, Exceeded("edges", budget.edges))
            new = [t for targets in fresh.values() for t in targets if t not in index]
            if new:
                starts.extend(dict.fromkeys(new))
                rollbacks = fresh
                break
            if fresh == rollbacks:
                return _numbered(spec, found, rollbacks, None)
            rollbacks = fresh


def _ancestors(
    found: Search,
    rollbacks: dict[int, list[int]],
    index: dict[int, int],
    visible: int,
    transient: bytearray,
) -> list[list[int]]:
    """For each configuration, the visible parts (state and variables) of the
    configurations at rest from which it is reachable, itself included, over the spec's
    steps and ``rollbacks``."""
    order, first, succ = found.order, found.first, found.succ
    n = len(found)
    out: list[list[int]] = [
        [*succ[first[i] : first[i + 1]], *(index[t] for t in rollbacks.get(order[i], ()))]
        for i in range(n)
    ]
    projections: dict[int, int] = {}
    bit = [0] * n
    for i in range(n):
        if not transient[i]:
            p = order[i] & visible
            bit[i] = 1 << projections.setdefault(p, len(projections))
    values = list(projections)
    return [[values[b] for b in _bits(bits)] for bits in _reach(out, bit)]


def _bits(number: int) -> list[int]:
    found: list[int] = []
    while number:
        low = number & -number
        found.append(low.bit_length() - 1)
        number ^= low
    return found


def _numbered(
    spec: Spec, found: Search, rollbacks: dict[int, list[int]], exceeded: Exceeded | None
) -> Search:
    """``found`` and ``rollbacks`` as one search, numbered breadth-first from the initial
    configuration over both (each configuration's own steps first, then its rollbacks by
    packed target)."""
    old_order, old_first, old_succ, old_via = found.order, found.first, found.succ, found.via
    index = {c: i for i, c in enumerate(old_order)}
    n = len(found)
    rollback = len(spec.transitions)
    new = array("q", [-1]) * n
    new[0] = 0
    queue = [0]
    parent_of = [-1]
    at = 0
    while at < len(queue):
        i = queue[at]
        at += 1
        targets = list(old_succ[old_first[i] : old_first[i + 1]])
        targets += [index[t] for t in rollbacks.get(old_order[i], ())]
        for j in targets:
            if new[j] < 0:
                new[j] = len(queue)
                queue.append(j)
                parent_of.append(new[i])
    order: MutableSequence[int]
    width = found.layout.width
    order = array("Q") if width <= PACKED_BITS else []
    order.extend(old_order[i] for i in queue)
    first, succ, via, source = array("q"), array("q"), array("I"), array("q")
    back, head = array("q"), array("q", [-1]) * len(queue)
    for k, i in enumerate(queue):
        first.append(len(succ))
        steps = [(old_succ[e], old_via[e]) for e in range(old_first[i], old_first[i + 1])]
        steps += [(index[t], rollback) for t in rollbacks.get(old_order[i], ())]
        for j, n_via in steps:
            target = new[j]
            e = len(succ)
            succ.append(target)
            via.append(n_via)
            source.append(k)
            back.append(head[target])
            head[target] = e
    first.append(len(succ))
    stuck = [new[i] for i in found.stuck if new[i] >= 0]
    nondet = {pair: new[i] for pair, i in found.nondet.items() if new[i] >= 0}
    out = {n_: (new[i], value) for n_, (i, value) in found.out.items() if new[i] >= 0}
    return Search(
        found.layout,
        (*spec.transitions, rollback_transition(spec)),
        order,
        array("q", parent_of),
        first,
        succ,
        via,
        source,
        back,
        head,
        found.holds,
        found.free,
        sorted(stuck),
        nondet,
        out,
        exceeded,
        found.code,
    )
