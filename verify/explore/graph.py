"""Searches over the configuration graph a :class:`~statewright.verify.explore.search.Search` found.

Configurations are numbered ``0 .. n-1`` (0 is the initial one); every function here
works on the search's flat arrays (edges out of a configuration in ``first``/``succ``,
edges into it linked from ``head``) and returns arrays or lists of those numbers, or of
*edge positions* (indices into ``succ`` and ``via``). Each is linear in the size of the
graph: backward reachability, the configurations from which a set cannot be avoided (the
attractor of a ``leads_to``), the cycles of ``always`` steps, and a breadth-first search
of the product with a one-bit monitor (``precedence``).
"""

from __future__ import annotations

import bisect
from array import array
from collections import deque

from statewright.verify.explore.search import Search

__all__ = [
    "always_cycles",
    "avoiders",
    "coreachable",
    "counted",
    "lasso",
    "monitored",
    "path_to",
    "source",
]


def coreachable(found: Search, targets: bytearray) -> bytearray:
    """The configurations from which some path reaches one marked in ``targets``."""
    head, back, source = found.head, found.back, found.source
    seen = bytearray(targets)
    frontier = [j for j, marked in enumerate(targets) if marked]
    while frontier:
        e = head[frontier.pop()]
        while e >= 0:
            i = source[e]
            if not seen[i]:
                seen[i] = 1
                frontier.append(i)
            e = back[e]
    return seen


def avoiders(found: Search, targets: bytearray) -> bytearray:
    """The configurations with a run that never reaches one marked in ``targets``: it goes
    round a cycle, or ends (no step is possible) first.

    The complement of the attractor: a configuration is sure to reach ``targets`` when it
    is one, or when it has a step and every step leads to one that is sure.
    """
    n = len(found)
    first, head, back, source = found.first, found.head, found.back, found.source
    left = array("q", (first[i + 1] - first[i] for i in range(n)))
    sure = bytearray(targets)
    frontier = [j for j, marked in enumerate(targets) if marked]
    while frontier:
        e = head[frontier.pop()]
        while e >= 0:
            i = source[e]
            if not sure[i]:
                left[i] -= 1
                if not left[i]:
                    sure[i] = 1
                    frontier.append(i)
            e = back[e]
    return bytearray(1 - marked for marked in sure)


def lasso(
    found: Search, begin: int, inside: bytearray, budget: int = 100_000
) -> tuple[list[int], list[int]]:
    """From configuration ``begin``, marked in ``inside``, a run staying inside: the edges
    to where it ends or enters its cycle, and the edges of the cycle (empty if it ends).

    Every configuration marked in ``inside`` has no step or a step to another one marked
    (as :func:`avoiders` leaves them), so such a run exists. A breadth-first search (of
    at most ``budget`` configurations) finds a near end or a near cycle, closed by the
    first step back to a configuration on the path taken; past the budget, a walk that
    always takes the first step inside finds one all the same.
    """
    first, succ = found.first, found.succ
    came: dict[int, int] = {begin: -1}
    queue = deque([begin])
    while queue and len(came) <= budget:
        here = queue.popleft()
        if first[here] == first[here + 1]:
            return _unwind(found, came, here), []
        for e in range(first[here], first[here + 1]):
            there = succ[e]
            if not inside[there]:
                continue
            if there not in came:
                came[there] = e
                queue.append(there)
                continue
            path = _unwind(found, came, here)
            on_path = [begin, *(succ[step] for step in path)]
            if there in on_path:
                at = on_path.index(there)
                return path[:at], [*path[at:], e]
    return _walk(found, begin, inside)


def _unwind(found: Search, came: dict[int, int], here: int) -> list[int]:
    path: list[int] = []
    while came[here] >= 0:
        path.append(came[here])
        here = source(found, came[here])
    path.reverse()
    return path


def _walk(found: Search, begin: int, inside: bytearray) -> tuple[list[int], list[int]]:
    first, succ = found.first, found.succ
    walked: list[int] = []
    at = {begin: 0}
    here = begin
    while True:
        step = next((e for e in range(first[here], first[here + 1]) if inside[succ[e]]), None)
        if step is None:
            return walked, []
        walked.append(step)
        here = succ[step]
        if here in at:
            return walked[: at[here]], walked[at[here] :]
        at[here] = len(walked)


def path_to(found: Search, j: int) -> list[int]:
    """The edges of the shortest path from the initial configuration to ``j``."""
    edges: list[int] = []
    parent, first, succ = found.parent, found.first, found.succ
    while j > 0:
        i = parent[j]
        edges.append(next(e for e in range(first[i], first[i + 1]) if succ[e] == j))
        j = i
    edges.reverse()
    return edges


def always_cycles(found: Search, automatic: bytes | bytearray) -> list[tuple[int, list[int]]]:
    """Each cycle of ``always`` steps (``automatic[n]`` is 1 for an ``always`` transition
    ``n``): a configuration on it and the cycle's edges.

    A configuration takes at most one ``always`` step (the first enabled), so these
    steps form a functional graph, walked once with three colours.
    """
    n = len(found)
    first, succ, via = found.first, found.succ, found.via
    if not any(automatic):
        return []
    step = array("q", [-1]) * n
    for i in range(n):
        for e in range(first[i], first[i + 1]):
            if automatic[via[e]]:
                step[i] = e
                break
    colour = bytearray(n)  # 0 unseen, 1 on the current walk, 2 done
    cycles: list[tuple[int, list[int]]] = []
    for root in range(n):
        walk: list[int] = []
        here = root
        while here >= 0 and not colour[here]:
            colour[here] = 1
            walk.append(here)
            e = step[here]
            here = succ[e] if e >= 0 else -1
        if here >= 0 and colour[here] == 1:
            loop = walk[walk.index(here) :]
            cycles.append((here, [step[i] for i in loop]))
        for i in walk:
            colour[i] = 2
    return cycles


def monitored(
    found: Search,
    resets: bytes | bytearray,
    sets: bytes | bytearray,
    bad: bytes | bytearray,
    carried: bytes | bytearray = b"",
) -> list[int] | None:
    """The edges of a shortest path to a step into a ``bad`` configuration taken while a
    one-bit monitor is clear; None if there is none.

    The monitor starts clear; a step out of a configuration marked in ``resets`` clears
    it first, and a step by a transition marked in ``sets`` sets it; a step by one marked
    in ``carried`` (a rollback) never clears it. This is ``precedence``: the monitor
    remembers a firing of the required trigger since the machine last left its initial
    state.
    """
    n = len(found)
    first, succ, via = found.first, found.succ, found.via
    seen = bytearray(2 * n)
    back = array("q", [-1]) * (2 * n)  # the edge into each (configuration, bit), as 2e + bit
    seen[0] = 1
    queue = array("Q", [0])
    at = 0
    while at < len(queue):
        node = queue[at]
        at += 1
        i, bit = node >> 1, node & 1
        kept = bit
        if resets[i]:
            bit = 0
        for e in range(first[i], first[i + 1]):
            after = sets[via[e]] or (kept if carried and carried[via[e]] else bit)
            j = succ[e]
            if not after and bad[j]:
                path = [e]
                while node:
                    came = back[node]
                    path.append(came >> 1)
                    node = (source(found, came >> 1) << 1) | (came & 1)
                path.reverse()
                return path
            target = (j << 1) | after
            if not seen[target]:
                seen[target] = 1
                back[target] = (e << 1) | (node & 1)
                queue.append(target)
    return None


def counted(
    found: Search,
    resets: bytes | bytearray,
    counts: bytes | bytearray,
    carried: bytes | bytearray,
    times: int,
) -> list[int] | None:
    """The edges of a shortest path to the step that brings a counter past ``times``;
    None if there is none.

    The counter starts at 0; a step out of a configuration marked in ``resets`` clears
    it first (as :func:`monitored` does) unless the step is by a transition marked in
    ``carried`` (a rollback never lowers it), and a step by a transition marked in
    ``counts`` adds one. The search is over the configurations paired with the counter
    (0 to ``times``): this is ``at_most``.
    """
    width = times + 1
    first, succ, via = found.first, found.succ, found.via
    seen = bytearray(len(found) * width)
    came = array("q", [-1]) * (len(found) * width)  # the node before, and the edge taken
    edge = array("q", [-1]) * (len(found) * width)
    seen[0] = 1
    queue = array("Q", [0])
    at = 0
    while at < len(queue):
        node = queue[at]
        at += 1
        i, count = divmod(node, width)
        reset = resets[i]
        for e in range(first[i], first[i + 1]):
            n = via[e]
            after = (0 if reset and not carried[n] else count) + counts[n]
            if after > times:
                path = [e]
                while node:
                    path.append(edge[node])
                    node = came[node]
                path.reverse()
                return path
            target = succ[e] * width + after
            if not seen[target]:
                seen[target] = 1
                came[target] = node
                edge[target] = e
                queue.append(target)
    return None


def source(found: Search, edge: int) -> int:
    """The configuration an edge leaves: the last ``i`` with ``first[i] <= edge``."""
    return bisect.bisect_right(found.first, edge, 0, len(found)) - 1
