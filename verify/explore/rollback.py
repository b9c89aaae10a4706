"""Rollback steps in the configuration graph: the search of a spec with ``rollback:``.

A rollback (DESIGN.md, "Rollback inside the proof") is a human step, trigger
``rollback``, from any configuration at rest outside an approval state to any
configuration from which the current one is reachable (its *ancestors*, rollback steps
included), the ``keep`` variables carried over from the current one (a rollback that
would change nothing, to the very configuration it leaves, is left out). With ``max``, a
hidden counter of the rollbacks taken rides above the variables' bits
(:attr:`~statewright.verify.explore.layout.Layout.hidden`); a step never changes it, a
rollback adds one, and none is taken at ``max``. A configuration a record could never
hold at rest (one that takes an ``always`` step at once) is neither left nor returned
to by a rollback, as the runtime refuses both.

Ancestors grow with the rollback steps they make possible, so :func:`search_with_rollback`
iterates to a fixpoint: search the spec's own steps from the initial configuration and
every rollback target found so far (:func:`~statewright.verify.explore.search.search_from`),
compute every configuration's ancestors over those steps and the rollbacks so far (a
bitset per strongly connected component, in topological order), derive the rollbacks;
repeat until no rollback and no configuration is new. The result is renumbered
breadth-first from the initial configuration over both kinds of step, so every parent
chain is still a shortest trace, and a rollback edge is taken by transition number
``len(spec.transitions)``: :func:`rollback_transition`, the last of
:attr:`Search.transitions <statewright.verify.explore.search.Search.transitions>`.

>>> from statewright.verify.load import load_text
>>> spec = load_text('''
... statewright: 1
... machine: rounds
... initial: DRAFT
... variables: {revisions: {type: int, min: 0, max: 2, initial: 0}}
... states: {DRAFT: {}, DONE: {final: true}}
... rollback: {reviewers: [lead], keep: [revisions], max: 1}
... transitions:
...   - {from: DRAFT, to: DRAFT, trigger: revise, when: revisions < 2,
...      set: {revisions: revisions + 1}}
...   - {from: DRAFT, to: DONE, trigger: publish}
... ''').spec
>>> found = search_with_rollback(spec)
>>> rollbacks = [e for e, n in enumerate(found.via) if n == len(spec.transitions)]
>>> len(found), len(rollbacks)
(8, 9)
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, MutableSequence, Sequence

from statewright.verify.explore.budget import DEFAULT_BUDGET, Budget, Exceeded
from statewright.verify.explore.gates import Gates
from statewright.verify.explore.layout import Layout
from statewright.verify.explore.search import PACKED_BITS, Search, compiled_search, search_from
from statewright.verify.model import Kind, Spec, Transition
from statewright.verify.semantics import Semantics, Values

__all__ = [
    "ROLLBACK_TRIGGER",
    "replayable",
    "replayable_monitored",
    "rollback_to",
    "rollback_transition",
    "search_with_rollback",
]

ROLLBACK_TRIGGER = "rollback"
"""The trigger name of a rollback step in traces (no transition may declare it)."""


def rollback_transition(spec: Spec) -> Transition:
    """The step a rollback edge is taken by: a human step from any state to any, declared
    where the spec's ``rollback`` key is (its location, else the spec's)."""
    return Transition(
        "*",
        "*",
        ROLLBACK_TRIGGER,
        spec.location,
        len(spec.transitions),
        human=True,
        description="a rollback to an earlier configuration",
    )


def search_with_rollback(
    spec: Spec,
    budget: Budget = DEFAULT_BUDGET,
    report: Callable[[int, int], None] | None = None,
) -> Search:
    """Every configuration of ``spec`` reachable by its steps and its rollbacks, within
    ``budget``; rollback edges are taken by transition ``len(spec.transitions)``."""
    most = spec.rollback_max
    gates = Gates(spec)
    layout = Layout(spec.state_names, spec.variables, most.bit_length() if most else 0, gates.width)
    # a rollback into an approval gate opens it anew: its counts and flag are not returned to
    shift, visible = layout.bits, ((1 << layout.bits) - 1) & ~layout.gate_mask
    kept = 0
    for name in spec.rollback_keep:
        kept |= layout.by_name[name].mask
    locked = {layout.number[s.name] for s in spec.states if s.kind is Kind.APPROVAL}
    automatic = bytes(1 if t.automatic else 0 for t in spec.transitions)
    automatic += bytes(1 + len(gates.transitions))  # a rollback, the gates' steps
    mask = layout.state_mask
    starts = [layout.pack(spec.initial, tuple(v.initial for v in spec.variables))]
    rollbacks: dict[int, list[int]] = {}
    groups: dict[int, list[int]] = {}
    restored = visible & ~kept
    compiled = compiled_search(spec, layout, report is not None)
    while True:
        found = search_from(spec, layout, starts, budget, report, compiled)
        if found.exceeded is not None:
            return found  # incomplete: the check says which bound, and proves nothing
        order, n = found.order, len(found)
        transient = _transient(spec, found, automatic)
        index = {c: i for i, c in enumerate(order)}
        while True:
            ancestors = _ancestors(found, groups, index, restored, transient)
            fresh: dict[int, list[int]] = {}
            shared: dict[tuple[int, int], list[int]] = {}
            grouped: dict[int, list[int]] = {}
            edges = len(found.succ)
            for i in range(n):
                c = order[i]
                if transient[i] or (c & mask) in locked or (most and c >> shift >= most):
                    continue
                counter = ((c >> shift) + 1) << shift if most else 0
                carried = (c & kept) | counter
                key = (id(ancestors[i]), carried)
                targets = shared.get(key)
                if targets is None:
                    # the restored parts have no bit of ``carried``: adding it keeps their order
                    targets = shared[key] = [p | carried for p in ancestors[i]]
                grouped[c] = targets
                if not most:  # c's own part is among its ancestors': a rollback to c itself
                    targets = targets.copy()  # changes nothing, and is left out
                    targets.remove(c)
                fresh[c] = targets
                edges += len(targets)
            if edges > budget.edges:
                return _numbered(spec, found, rollbacks, Exceeded("edges", budget.edges))
            # each list in the order of the first configuration that has it: every target
            # first appears where it first appears among the configurations' own lists
            new = [t for targets in shared.values() for t in targets if t not in index]
            groups = grouped
            if new:
                starts.extend(dict.fromkeys(new))
                rollbacks = fresh
                break
            if fresh == rollbacks:
                return _numbered(spec, found, rollbacks, None)
            rollbacks = fresh


def _transient(spec: Spec, found: Search, automatic: bytes) -> bytearray:
    """1 for each configuration a record never holds at rest: one that takes an
    ``always`` step at once (or would, but for an effect out of its bounds)."""
    first, via = found.first, found.via
    semantics = Semantics.of(spec)
    marks = bytearray(len(found))
    for i in range(len(found)):
        if first[i] < first[i + 1]:
            marks[i] = automatic[via[first[i]]]
        else:
            state, values = found.layout.unpack(found.order[i])
            marks[i] = semantics.automatic_in(state, values) is not None
    return marks


def _ancestors(
    found: Search,
    groups: dict[int, list[int]],
    index: dict[int, int],
    restored: int,
    transient: bytearray,
) -> list[list[int]]:
    """For each configuration, the parts ``restored`` keeps (its state and the variables
    a rollback does not carry) of the configurations at rest from which it is reachable,
    itself included, over the spec's steps and the rollbacks, ``groups``: distinct, in
    ascending order. Configurations reachable from the same ones (a strongly connected
    component, as rollbacks make most of the graph) share one list.

    ``groups`` gives each configuration the targets of its rollbacks, one list shared
    by the configurations with the same ones (itself among them when a rollback would
    return to where it is: a loop, which reaches nothing new). A shared list is one node
    of the graph the ancestors are counted in, between those configurations and its
    targets, so its edges are counted once, not once per configuration."""
    order, first, succ = found.order, found.first, found.succ
    n = len(found)
    out: list[list[int]] = []
    node: dict[int, int] = {}  # a shared list (by id): its node
    lists: list[list[int]] = []
    for i in range(n):
        edges = list(succ[first[i] : first[i + 1]])
        targets = groups.get(order[i])
        if targets is not None:
            v = node.get(id(targets))
            if v is None:
                v = node[id(targets)] = n + len(lists)
                lists.append([index[t] for t in targets])
            edges.append(v)
        out.append(edges)
    out.extend(lists)
    parts = sorted({order[i] & restored for i in range(n) if not transient[i]})
    position = {p: k for k, p in enumerate(parts)}
    bit = [0 if transient[i] else 1 << position[order[i] & restored] for i in range(n)]
    bit.extend([0] * len(lists))
    decoded: dict[int, list[int]] = {}
    ancestors = []
    for bits in _reach(out, bit)[:n]:
        known = decoded.get(bits)
        if known is None:
            known = decoded[bits] = [parts[b] for b in _bits(bits)]
        ancestors.append(known)
    return ancestors


def _reach(out: list[list[int]], bit: list[int]) -> list[int]:
    """For each node of the graph ``out``, the union of ``bit`` over the nodes it is
    reachable from (itself included): one pass over the strongly connected components."""
    component, components = _components(out)
    # Tarjan numbers components in reverse topological order: sources come last.
    reach = [0] * len(components)
    for k in range(len(components) - 1, -1, -1):
        members = components[k]
        here = reach[k]
        for i in members:
            here |= bit[i]
        reach[k] = here
        for i in members:
            for j in out[i]:
                m = component[j]
                if m != k:
                    reach[m] |= here
    return [reach[component[i]] for i in range(len(out))]


_LOW_BITS = tuple(tuple(b for b in range(8) if byte >> b & 1) for byte in range(256))
"""The positions of the bits set in each byte."""


def _bits(number: int) -> list[int]:
    """The positions of the bits set in ``number``, ascending (a byte at a time)."""
    found: list[int] = []
    extend = found.extend
    for k, byte in enumerate(number.to_bytes((number.bit_length() + 7) // 8, "little")):
        if byte:
            base = k * 8
            extend([base + b for b in _LOW_BITS[byte]])
    return found


def _components(out: list[list[int]]) -> tuple[list[int], list[list[int]]]:
    """The strongly connected components (iterative Tarjan): each node's component number
    and the members of each, numbered in reverse topological order."""
    n = len(out)
    number = [-1] * n
    low = [0] * n
    on_stack = bytearray(n)
    stack: list[int] = []
    component = [-1] * n
    components: list[list[int]] = []
    counter = 0
    for root in range(n):
        if number[root] >= 0:
            continue
        work = [(root, 0)]
        number[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack[root] = 1
        while work:
            v, k = work[-1]
            edges = out[v]
            if k < len(edges):
                work[-1] = (v, k + 1)
                w = edges[k]
                if number[w] < 0:
                    number[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack[w] = 1
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], number[w])
                continue
            work.pop()
            if work:
                u = work[-1][0]
                low[u] = min(low[u], low[v])
            if low[v] == number[v]:
                members: list[int] = []
                while True:
                    w = stack.pop()
                    on_stack[w] = 0
                    component[w] = len(components)
                    members.append(w)
                    if w == v:
                        break
                components.append(members)
    return component, components


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
    rolled = {c: [index[t] for t in targets] for c, targets in rollbacks.items()}
    new = array("q", [-1]) * n
    new[0] = 0
    queue = [0]
    parent_of = [-1]
    for i in queue:  # the queue grows as it is read
        parent = new[i]
        for j in (*old_succ[old_first[i] : old_first[i + 1]], *rolled.get(old_order[i], ())):
            if new[j] < 0:
                new[j] = len(queue)
                queue.append(j)
                parent_of.append(parent)
    order: MutableSequence[int]
    width = found.layout.width
    order = array("Q") if width <= PACKED_BITS else []
    order.extend(old_order[i] for i in queue)
    first, succ, via, source = array("q"), array("q"), array("I"), array("q")
    for k, i in enumerate(queue):
        first.append(len(succ))
        a, b = old_first[i], old_first[i + 1]
        succ.extend([new[j] for j in old_succ[a:b]])
        via.extend(old_via[a:b].tolist())
        back_to = rolled.get(old_order[i])
        if back_to:
            succ.extend([new[j] for j in back_to])
            via.extend([rollback] * len(back_to))
        source.extend([k] * (len(succ) - len(source)))
    # the edges into each configuration, linked: head[j] the last, back[e] the one before
    back, head = array("q", [-1]) * len(succ), array("q", [-1]) * len(queue)
    for e, target in enumerate(succ):
        back[e] = head[target]
        head[target] = e
    first.append(len(succ))
    stuck = [new[i] for i in found.stuck if new[i] >= 0]
    nondet = {pair: new[i] for pair, i in found.nondet.items() if new[i] >= 0}
    out = {n_: (new[i], value) for n_, (i, value) in found.out.items() if new[i] >= 0}
    return Search(
        found.layout,
        (
            *spec.transitions,
            rollback_transition(spec),
            *found.transitions[len(spec.transitions) + 1 :],
        ),
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
        found.gates,
    )


def rollback_to(
    history: list[tuple[str, Values]],
    state: str,
    values: Values,
    names: tuple[str, ...],
    keep: tuple[str, ...],
) -> int | None:
    """The latest position in ``history`` (configurations of a trace, the start first)
    that a rollback to ``state`` with ``values`` returns to: the same state and the same
    values but for those kept; None if there is none (the explorer's ancestors
    over-approximate a run's records)."""
    restored = [k for k, name in enumerate(names) if name not in keep]
    for at in range(len(history) - 1, -1, -1):
        there, earlier = history[at]
        if there == state and all(earlier[k] == values[k] for k in restored):
            return at
    return None


def replayable(found: Search, edges: Sequence[int], keep: tuple[str, ...]) -> list[int]:
    """``edges``, a path from the initial configuration, or another path to where it
    ends on which every rollback returns to a configuration visited before it, as a run's
    rollback returns to an earlier record.

    The explorer lets a rollback return to any ancestor of where it leaves, so a
    shortest path may take one whose target it never visited (the run that makes it
    possible visits it first). Then a breadth-first search that takes a rollback only back
    to a configuration on its own path so far finds a path to the same configuration (the
    hidden counter included) if it can; if it cannot, ``edges`` are returned as they were.
    """
    restored = _restored(found.layout, keep)
    if _unmatched(found, list(edges), restored) is None or not edges:
        return list(edges)
    end = found.succ[edges[-1]]
    rollback = found.rollback
    first, succ, via, order = found.first, found.succ, found.via, found.order
    came: dict[int, int] = {0: -1}
    queue = [0]
    for i in queue:
        if i == end:
            break
        chain: set[int] | None = None
        for e in range(first[i], first[i + 1]):
            j = succ[e]
            if j in came:
                continue
            if via[e] == rollback:
                if chain is None:
                    chain = {order[k] & restored for k in _chain(found, came, i)}
                if order[j] & restored not in chain:
                    continue
            came[j] = e
            queue.append(j)
    if end not in came:
        return list(edges)
    path: list[int] = []
    at = end
    while came[at] >= 0:
        path.append(came[at])
        at = found.source[came[at]]
    path.reverse()
    return path


def _restored(layout: Layout, keep: tuple[str, ...]) -> int:
    """The bits a rollback restores: the state's and every variable's not kept."""
    restored = (1 << layout.bits) - 1
    for name in keep:
        restored &= ~layout.by_name[name].mask
    return restored


def _chain(found: Search, came: dict[int, int], i: int) -> list[int]:
    """The configurations on the search's path to ``i``, ``i`` included."""
    chain = [i]
    while came[i] >= 0:
        i = found.source[came[i]]
        chain.append(i)
    return chain


def _unmatched(found: Search, path: list[int], restored: int) -> int | None:
    """The position of the first rollback on ``path`` returning to no configuration
    visited before it; None if every one returns to one."""
    rollback = found.rollback
    seen = {found.order[0] & restored}
    for at, e in enumerate(path):
        target = found.order[found.succ[e]] & restored
        if found.via[e] == rollback and target not in seen:
            return at
        seen.add(target)
    return None


def replayable_monitored(
    found: Search,
    keep: tuple[str, ...],
    advance: Callable[[int, int, int], int | None],
    restore: bool = False,
) -> list[int] | None:
    """The edges of a shortest path from the initial configuration, every rollback on
    it returning to a configuration visited before, to the step where a monitor fails;
    None if the search finds none (it takes fewer rollbacks than the explorer's).

    The monitor starts at 0; ``advance(i, e, m)`` is its value after edge ``e`` out of
    configuration ``i`` with value ``m``, or None when that step fails it (a
    ``precedence`` entry without its trigger, an ``at_most`` count past its bound); with
    ``restore``, a rollback returns it to its value where the path was then."""
    restored = _restored(found.layout, keep)
    rollback = found.rollback
    first, succ, via, order = found.first, found.succ, found.via, found.order
    came: dict[tuple[int, int], tuple[tuple[int, int], int] | None] = {(0, 0): None}
    queue = [(0, 0)]
    for node in queue:
        i, m = node
        chain: dict[int, int] | None = None
        for e in range(first[i], first[i + 1]):
            after = advance(i, e, m)
            if via[e] == rollback:
                if chain is None:  # the latest pair on the path of each restored part
                    chain = {}
                    for k, value in _nodes(came, node):
                        chain.setdefault(order[k] & restored, value)
                back = chain.get(order[succ[e]] & restored)
                if back is None:
                    continue
                if restore:
                    after = back
            if after is None:
                path = [e]
                while (step := came[node]) is not None:
                    node, edge = step
                    path.append(edge)
                path.reverse()
                return path
            target = (succ[e], after)
            if target not in came:
                came[target] = (node, e)
                queue.append(target)
    return None


def _nodes(
    came: dict[tuple[int, int], tuple[tuple[int, int], int] | None], node: tuple[int, int]
) -> list[tuple[int, int]]:
    nodes = [node]
    while (step := came[node]) is not None:
        node = step[0]
        nodes.append(node)
    return nodes


def monitored_with_rollback(
    found: Search,
    spec: Spec,
    values: int,
    advance: Callable[[int, int, int], int | None],
    restore: bool = False,
) -> list[int] | None:
    """The edges (of ``found``) of a shortest path to the step where a monitor fails,
    with the monitor inside the configuration; None if there is none.

    A rollback returns to an ancestor of where it leaves; a monitor (a ``precedence``
    bit, an ``at_most`` count) that rides along must be part of the configuration that
    ancestry is counted in, or a rollback could reach a configuration with a monitor
    value no run has there. So the rollback fixpoint is repeated over the pairs
    (configuration, monitor value), ``values`` of them per configuration, the monitor
    starting at 0: a step of the spec moves it by ``advance(i, e, m)`` (None: the step
    fails it), a rollback carries it over (an ``at_most`` count: the log is not undone)
    or, with ``restore``, returns it to its value in the pair rolled back to (a
    ``precedence`` bit: what had happened in the run as it was). ``found`` is the
    search with rollbacks, whose rollback edges include every one the pairs take.
    Rollbacks only grow from one round to the next, so a failure found in any round is
    one of the fixpoint's."""
    rollback = found.rollback
    first, succ, via, order = found.first, found.succ, found.via, found.order
    restored = _restored(found.layout, spec.rollback_keep)
    transient = _transient(spec, found, bytes(1 if t.automatic else 0 for t in found.transitions))
    allowed: dict[int, set[int]] = {}  # pair: the pairs it may roll back to
    while True:
        number = {0: 0}
        nodes = [0]
        came: dict[int, tuple[int, int]] = {}
        out: list[list[int]] = []
        for node in nodes:
            i, m = divmod(node, values)
            targets: list[int] = []
            for e in range(first[i], first[i + 1]):
                if via[e] == rollback:
                    back = allowed.get(node, ())
                    for value in range(values) if restore else (m,):
                        target = succ[e] * values + value
                        if target in back:
                            _add(number, nodes, came, targets, target, node, e)
                    continue
                after = advance(i, e, m)
                if after is None:
                    path = [e]
                    while node:
                        node, step = came[node]
                        path.append(step)
                    path.reverse()
                    return path
                _add(number, nodes, came, targets, succ[e] * values + after, node, e)
            out.append(targets)
        projections: dict[tuple[int, int], int] = {}
        bits = [0] * len(nodes)
        for k, node in enumerate(nodes):
            i, m = divmod(node, values)
            if not transient[i]:
                key = (order[i] & restored, m if restore else 0)
                bits[k] = 1 << projections.setdefault(key, len(projections))
        reach = _reach(out, bits)
        fresh: dict[int, set[int]] = {}
        for k, node in enumerate(nodes):
            i, m = divmod(node, values)
            chosen = set()
            for e in range(first[i], first[i + 1]):
                if via[e] != rollback:
                    continue
                j = succ[e]
                for value in range(values) if restore else (m,):
                    p = projections.get((order[j] & restored, value if restore else 0))
                    if p is not None and reach[k] >> p & 1:
                        chosen.add(j * values + value)
            if chosen:
                fresh[node] = chosen
        if fresh == allowed:
            return None
        allowed = fresh


def _add(
    number: dict[int, int],
    nodes: list[int],
    came: dict[int, tuple[int, int]],
    targets: list[int],
    target: int,
    node: int,
    e: int,
) -> None:
    """Add the step ``e`` from pair ``node`` to pair ``target``, numbering a new one."""
    if target not in number:
        number[target] = len(nodes)
        nodes.append(target)
        came[target] = (node, e)
    targets.append(number[target])
