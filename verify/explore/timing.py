"""How long a run can take: the worst case over a graph of timed rests.

Time passes only while a machine rests (DESIGN.md, "Time: deadlines and bounds"). A node
of a :class:`Timed` graph (a configuration, :class:`Configurations`, or a state of a spec
without variables, :class:`States`) that takes an ``always`` step rests no time; any
other rests at most until its state's earliest ``after`` deadline, and without bound
when its state has none (a human who never acts, an agent that never returns) or when it
has no step at all. Every entry
restarts the deadlines, so the longest time from a node to a set of *targets* is its
rest plus the longest over its steps, and any cycle that avoids the targets can repeat:
the worst case is then unbounded.

:func:`worst_case` answers in two linear passes over the nodes a run can visit before
it reaches a target: a breadth-first search that stops at the first node that can rest
for ever (so a spec with one state nothing times out costs next to nothing, and its
trace is a shortest one), then a depth-first search that adds up the longest rests,
meeting any cycle on its way. Over configurations a bounded worst case is found first
by :meth:`Configurations.longest`, on plain lists: one sweep from the last configuration
back when the exploration's breadth-first numbering is already a topological order,
else one iterative depth-first pass; only when that finds the case unbounded do the two
passes above run, for the shortest trace to what makes it so. :func:`run_time` asks it
for a whole run: from leaving a configuration of the initial state to entering one of a
final state or of the initial state again (the wait for the first trigger, and the rest
in the last state, are not the run's time); :func:`unbounded_states` names the states
where such a run's time has no bound (what ``diagram --unbounded`` marks).

>>> from statewright.verify.load import load_text
>>> spec = load_text('''
... statewright: 1
... machine: review
... initial: IDLE
... states:
...   IDLE: {kind: idle}
...   DRAFTING: {kind: running}
...   REVIEW: {kind: approval, reviewers: [lead]}
...   DONE: {kind: complete, final: true}
...   TIMED_OUT: {kind: failed, final: true}
... reasons: {LATE: {recovery: [retry]}}
... transitions:
...   - {from: IDLE, to: DRAFTING, trigger: start}
...   - {from: DRAFTING, to: REVIEW, trigger: drafted}
...   - {from: DRAFTING, to: TIMED_OUT, trigger: stall, after: 2h, reason: LATE}
...   - {from: REVIEW, to: DONE, trigger: approve, human: true}
...   - {from: REVIEW, to: TIMED_OUT, trigger: expire, after: 3d, reason: LATE}
... ''').spec
>>> from statewright.verify.graph import build_graph
>>> bound = run_time(spec, States(spec, build_graph(spec)))
>>> bound.seconds, format_duration(bound.seconds)
(266400, '3d 2h')
"""

from __future__ import annotations

import bisect
import sys
from abc import ABC, abstractmethod
from array import array
from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, overload

import networkx as nx

from statewright.verify.graph import exits
from statewright.verify.model import Spec, Transition, format_duration

if TYPE_CHECKING:
    from statewright.verify.explore import Exploration

__all__ = [
    "FOREVER",
    "Bound",
    "Configurations",
    "States",
    "Timed",
    "deadlines",
    "describe",
    "format_duration",
    "run_time",
    "unbounded_states",
    "worst_case",
]

FOREVER = -1
"""A node's rest when nothing bounds it (no ``after`` exit, or no step at all)."""

_NEVER = 1 << 62
"""In :meth:`Configurations._sweep`, the time of a node that can rest for ever: more
than any sum of deadlines."""


def deadlines(spec: Spec, states: Sequence[str]) -> tuple[int, ...]:
    """The longest each of ``states`` can be held: its earliest ``after`` in seconds (the
    timed exit :meth:`Spec.deadline` names), or :data:`FOREVER`."""
    earliest: dict[str, int] = {}
    for t in spec.transitions:
        if t.after is not None:
            held = earliest.get(t.source)
            if held is None or t.after.seconds < held:
                earliest[t.source] = t.after.seconds
    return tuple(earliest.get(name, FOREVER) for name in states)


class Timed(ABC):
    """A graph of rests. Its nodes are numbered from 0 and its edges too: node ``i``'s
    steps are the edges :meth:`steps` gives, edge ``e`` leads to node ``succ[e]`` by the
    transition :meth:`transition` gives. A node whose step is an ``always`` one takes it
    at once (it has no other)."""

    succ: Sequence[int]

    @abstractmethod
    def steps(self, i: int) -> range:
        """The edges out of node ``i``."""

    @abstractmethod
    def rest(self, i: int) -> int:
        """How long node ``i`` can rest (:data:`FOREVER`: without bound)."""

    @abstractmethod
    def source(self, e: int) -> int:
        """The node edge ``e`` leaves."""

    @abstractmethod
    def transition(self, e: int) -> Transition:
        """The transition edge ``e`` takes."""

    @abstractmethod
    def state(self, i: int) -> str:
        """The name of node ``i``'s state."""

    @abstractmethod
    def nodes_of(self, states: Iterable[str]) -> Iterator[int]:
        """The nodes of ``states``, in order."""

    @abstractmethod
    def marks(self, states: Collection[str], lazy: bool = False) -> Sequence[int]:
        """1 for each node of ``states``, 0 for the others; ``lazy``: read from the
        node's state when asked, for a search that reads few of them."""


class Configurations(Timed):
    """The configurations an exploration found: a node's rest is 0 when it takes an
    ``always`` step, else its state's deadline."""

    def __init__(self, found: Exploration) -> None:
        search = found.found
        self.found = found
        self.first, self.succ, self.via = search.first, search.succ, search.via
        self.numbers = found.state_numbers
        self.names = found.layout.states
        self.deadline = deadlines(found.spec, self.names)
        self.automatic = bytes(1 if t.automatic else 0 for t in search.transitions)
        self.keys: Sequence[int] = self.numbers
        """Each node's key into ``deadline``: its state's number, or past the states for
        a node inside an approval gate (approvals counted or escalated), whose rest is 0:
        neither a vote nor an escalation restarts the state's clock, so the node that
        entered the gate rests for all of it (:mod:`statewright.verify.explore.gates`)."""
        mask = found.layout.gate_mask
        if mask:
            inside = len(self.names)
            self.deadline = (*self.deadline, 0)
            self.keys = array(
                "H",
                (
                    inside if c & mask else s
                    for c, s in zip(search.order, self.numbers, strict=True)
                ),
            )

    def steps(self, i: int) -> range:
        return range(self.first[i], self.first[i + 1])

    def rest(self, i: int) -> int:
        e = self.first[i]
        if e == self.first[i + 1]:
            return FOREVER
        return 0 if self.automatic[self.via[e]] else self.deadline[self.keys[i]]

    def source(self, e: int) -> int:
        return bisect.bisect_right(self.first, e, 0, len(self.numbers)) - 1

    def _sweep(
        self,
        roots: Sequence[int],
        first: list[int],
        succ: list[int],
        numbers: list[int],
        targets: bytes,
    ) -> tuple[list[int], list[int]] | None:
        """:meth:`longest` when the breadth-first numbering is a topological order (every
        step that does not reach a target leads to a later node, as in a model whose
        counters only count up): one sweep from the last node back, no stack. None as
        soon as a step leads back (the depth-first pass then decides); empty lists when
        a root can rest for ever (or reaches a node that can)."""
        via, automatic, deadline = self.via, self.automatic, self.deadline
        size = len(numbers)
        longest = [0] * size
        best = [-1] * size
        for i in range(size - 1, -1, -1):
            if targets[i]:
                continue
            start, end = first[i], first[i + 1]
            if start == end:
                longest[i] = _NEVER
                continue
            if automatic[via[start]]:
                rest = 0
            else:
                rest = deadline[numbers[i]]
                if rest == FOREVER:
                    rest = _NEVER
            value, choice = 0, start
            for e in range(start, end):
                j = succ[e]
                if j <= i:
                    if targets[j]:
                        continue
                    return None
                later = longest[j]
                if later > value:
                    value, choice = later, e
            longest[i] = rest + value
            best[i] = choice
        if any(longest[r] >= _NEVER for r in roots):
            return [], []
        return longest, best

    def longest(self, roots: Sequence[int], marked: bytes) -> tuple[list[int], list[int]] | None:
        """The longest time from each node the ``roots`` reach to a node whose state is
        ``marked`` (its rest included), and the edge each takes next (-1: none); None when
        one of them can rest for ever or lies on a cycle. One iterative depth-first pass
        over lists (not the exploration's arrays, whose items are boxed at each read),
        each edge read once: a finished node hands its time to the node it was reached
        from."""
        first, succ, numbers = list(self.first), list(self.succ), list(self.keys)
        targets = _targets_of(self.numbers, marked)
        swept = self._sweep(roots, first, succ, numbers, targets)
        if swept is not None:
            return swept if swept[0] else None
        via, automatic, deadline = self.via, self.automatic, self.deadline
        size = len(numbers)
        mark = bytearray(targets)  # 1: done, 2: on the walk
        longest = [0] * size
        best = [-1] * size
        for root in roots:
            if mark[root]:
                continue
            if first[root] == first[root + 1]:
                return None
            mark[root] = 2
            nodes, edges, values, choices = [root], [first[root]], [0], [first[root]]
            while nodes:
                i = nodes[-1]
                e, end, value, choice = edges[-1], first[i + 1], values[-1], choices[-1]
                j = -1
                while e < end:
                    j = succ[e]
                    m = mark[j]
                    if m == 1:
                        later = longest[j]
                        if later > value:
                            value, choice = later, e
                        e += 1
                        continue
                    if m == 2 or first[j] == first[j + 1]:
                        return None  # a cycle, or a node no step leaves
                    break
                if e < end:
                    edges[-1], values[-1], choices[-1] = e + 1, value, choice
                    mark[j] = 2
                    nodes.append(j)
                    edges.append(first[j])
                    values.append(0)
                    choices.append(first[j])
                    continue
                start = first[i]
                if automatic[via[start]]:
                    rest = 0
                else:
                    rest = deadline[numbers[i]]
                    if rest == FOREVER:
                        return None
                done = longest[i] = rest + value
                best[i] = choice
                mark[i] = 1
                nodes.pop()
                edges.pop()
                values.pop()
                choices.pop()
                if nodes and done > values[-1]:
                    values[-1], choices[-1] = done, edges[-1] - 1
        return longest, best

    def transition(self, e: int) -> Transition:
        return self.found.found.transitions[self.via[e]]

    def state(self, i: int) -> str:
        return self.names[self.numbers[i]]

    def nodes_of(self, states: Iterable[str]) -> Iterator[int]:
        wanted = {self.found.layout.number[name] for name in states}
        marked = bytes(1 if k in wanted else 0 for k in range(len(self.names)))
        found = _targets_of(self.numbers, marked)
        i = found.find(1)
        while i >= 0:
            yield i
            i = found.find(1, i + 1)

    def marks(self, states: Collection[str], lazy: bool = False) -> Sequence[int]:
        marked = bytes(1 if name in states else 0 for name in self.names)
        if lazy:
            return _ByState(self.numbers, marked)
        return bytes(marked[s] for s in self.numbers)


class States(Timed):
    """The states of a spec without variables (node ``k`` is its ``k``-th state), with the
    steps the semantics takes: a state's first ``always`` exit alone if it has one, else
    the first transition of each trigger, its earliest timed exit the only timed one.
    A state's steps are read from the transition graph when first asked for, so that a
    search that stops early reads only the states it visits."""

    def __init__(self, spec: Spec, graph: nx.DiGraph) -> None:
        self.graph = graph
        self.names = spec.state_names
        self.number = {name: k for k, name in enumerate(self.names)}
        self.succ: list[int] = []
        self.via: list[Transition] = []
        self.origin: list[int] = []
        self.ranges: dict[int, range] = {}
        self.rests: dict[int, int] = {}

    def steps(self, i: int) -> range:
        found = self.ranges.get(i)
        if found is None:
            found = self.ranges[i] = self._expand(i)
        return found

    def _expand(self, i: int) -> range:
        leaving = exits(self.graph, self.names[i])
        automatic = next((t for t in leaving if t.automatic), None)
        timed = [t for t in leaving if t.after is not None]
        leading = min(timed, key=_seconds, default=None)
        if automatic is not None:
            chosen = [automatic]
        else:
            triggers: dict[str, Transition] = {}
            for t in leaving:
                if t.after is None or t is leading:
                    triggers.setdefault(t.trigger, t)
            chosen = list(triggers.values())
        self.rests[i] = (
            0 if automatic is not None else FOREVER if leading is None else _seconds(leading)
        )
        begin = len(self.succ)
        for t in chosen:
            self.succ.append(self.number[t.target])
            self.via.append(t)
            self.origin.append(i)
        return range(begin, len(self.succ))

    def rest(self, i: int) -> int:
        if not self.steps(i):
            return FOREVER
        return self.rests[i]

    def source(self, e: int) -> int:
        return self.origin[e]

    def transition(self, e: int) -> Transition:
        return self.via[e]

    def state(self, i: int) -> str:
        return self.names[i]

    def nodes_of(self, states: Iterable[str]) -> Iterator[int]:
        return iter(sorted(self.number[name] for name in set(states)))

    def marks(self, states: Collection[str], lazy: bool = False) -> Sequence[int]:
        return bytes(1 if name in states else 0 for name in self.names)


class _ByState(Sequence[int]):
    """Node ``j`` is marked when its state's number is: marks read through the nodes'
    states instead of a byte per node."""

    def __init__(self, numbers: Sequence[int], marked: bytes) -> None:
        self.numbers, self.marked = numbers, marked

    def __len__(self) -> int:
        return len(self.numbers)

    @overload
    def __getitem__(self, j: int) -> int: ...
    @overload
    def __getitem__(self, j: slice) -> Sequence[int]: ...
    def __getitem__(self, j: int | slice) -> int | Sequence[int]:
        if isinstance(j, slice):
            return bytes(self.marked[s] for s in self.numbers[j])
        return self.marked[self.numbers[j]]


def _targets_of(numbers: Sequence[int], marked: bytes) -> bytes:
    """1 for each node whose state is ``marked``, 0 for the others: one byte per node,
    translated from the nodes' state numbers at C speed when they fit in a byte."""
    if len(marked) <= 256 and isinstance(numbers, array) and numbers.itemsize == 2:
        low = numbers.tobytes()[::2] if sys.byteorder == "little" else numbers.tobytes()[1::2]
        return low.translate(marked.ljust(256, b"\0"))
    return bytes(marked[s] for s in numbers)


def _seconds(t: Transition) -> int:
    return t.after.seconds if t.after is not None else 0


@dataclass(frozen=True, slots=True)
class Bound:
    """The worst case from some start to the targets.

    ``seconds`` is the longest time, None when it is unbounded. ``start`` is the node the
    worst path leaves and ``path`` its edges: the longest path to a target when bounded;
    when not, the path to ``forever`` (a node that can rest for ever: its state has no
    ``after`` exit, or the node has no step at all), or to the cycle ``cycle`` (its
    edges) that can repeat. ``elapsed[k]`` is when step ``path[k]`` is taken at the
    latest, counted from the start (from leaving it when its rest is not charged).
    """

    seconds: int | None
    start: int = 0
    path: tuple[int, ...] = ()
    elapsed: tuple[int, ...] = ()
    forever: int | None = None
    cycle: tuple[int, ...] = ()

    @property
    def bounded(self) -> bool:
        return self.seconds is not None


def worst_case(
    graph: Timed, starts: Iterable[int], targets: Sequence[int], *, charge_start: bool = True
) -> Bound:
    """The longest time from any of ``starts`` to a node marked in ``targets``, each node
    resting at most its :meth:`Timed.rest`; ``charge_start`` false does not count the
    rest in the start itself (a run's clock starts when it leaves it). A start that is a
    target takes no time when its rest is charged."""
    starts = [s for s in starts if not (charge_start and targets[s])]
    fast = _fast(graph, starts, targets, charge_start)
    if fast is not None:
        return fast
    if isinstance(targets, _ByState):  # read by node from here on
        targets = _targets_of(targets.numbers, targets.marked)
    came, failed = _visit(graph, starts, targets, charge_start)
    return failed or _longest(graph, starts, targets, came, charge_start)


def _fast(
    graph: Timed, starts: list[int], targets: Sequence[int], charge_start: bool
) -> Bound | None:
    """The bounded worst case over configurations whose targets are read through their
    states, in one iterative depth-first pass over the exploration's arrays (no dict, no
    method call per node); None when it is not bounded (a node that can rest for ever,
    or a cycle) or the graph is not of that kind: the two passes of :func:`worst_case`
    then find the shortest trace to what makes it unbounded."""
    if not isinstance(graph, Configurations) or not isinstance(targets, _ByState):
        return None
    if charge_start:
        roots = list(dict.fromkeys(starts))
    else:
        marked, numbers, succ, first = targets.marked, graph.numbers, graph.succ, graph.first
        roots = list(
            dict.fromkeys(
                succ[e]
                for s in starts
                for e in range(first[s], first[s + 1])
                if not marked[numbers[succ[e]]]
            )
        )
    found = graph.longest(roots, targets.marked)
    if found is None:
        return None
    longest, best = found
    return _worst_path(graph, starts, targets, longest, best, charge_start)


def _visit(
    graph: Timed, starts: list[int], targets: Sequence[int], charge_start: bool
) -> tuple[dict[int, int], Bound | None]:
    """The breadth-first half of :func:`worst_case`: the nodes a run visits before a
    target, each with the edge it was first reached by (-1: a start), and the bound that
    fails if one of them can rest for ever (the first found, on a shortest path)."""
    succ = graph.succ
    came: dict[int, int] = {}
    queue: deque[int] = deque()
    for s in starts:
        if charge_start:
            if s not in came:
                came[s] = -1
                queue.append(s)
            continue
        for e in graph.steps(s):
            j = succ[e]
            if not targets[j] and j not in came:
                came[j] = e
                queue.append(j)
    while queue:
        i = queue.popleft()
        if graph.rest(i) == FOREVER:
            start, path = _unwind(graph, came, i)
            return came, Bound(None, start, path, forever=i)
        for e in graph.steps(i):
            j = succ[e]
            if not targets[j] and j not in came:
                came[j] = e
                queue.append(j)
    return came, None


def _unwind(graph: Timed, came: dict[int, int], i: int) -> tuple[int, tuple[int, ...]]:
    """The start the search came to node ``i`` from, and the edges from it to ``i``."""
    path: list[int] = []
    while came.get(i, -1) >= 0:
        e = came[i]
        path.append(e)
        i = graph.source(e)
    path.reverse()
    return i, tuple(path)


def _longest(
    graph: Timed,
    starts: list[int],
    targets: Sequence[int],
    came: dict[int, int],
    charge_start: bool,
) -> Bound:
    """The depth-first half of :func:`worst_case`: every node in ``came`` rests a bounded
    time; the longest path to a target, or a cycle among them."""
    succ, steps, rest = graph.succ, graph.steps, graph.rest
    longest: dict[int, int] = {}  # the nodes done, each with its longest time
    best: dict[int, int] = {}  # the edge of each node's longest continuation
    walking: set[int] = set()  # the nodes on the current walk
    for root in came:
        if root in longest:
            continue
        walking.add(root)
        stack = [(root, iter(steps(root)))]
        while stack:
            i, edges = stack[-1]
            e = next(edges, -1)
            if e >= 0:
                j = succ[e]
                if targets[j] or j in longest:
                    continue
                if j in walking:
                    at = next(k for k, (node, _) in enumerate(stack) if node == j)
                    loop = [_taken(graph, node, stack, k) for k, (node, _) in enumerate(stack)]
                    start, path = _unwind(graph, came, j)
                    return Bound(None, start, path, cycle=(*loop[at:-1], e))
                walking.add(j)
                stack.append((j, iter(steps(j))))
                continue
            stack.pop()
            walking.discard(i)
            value, choice = 0, -1
            for k in steps(i):
                j = succ[k]
                later = 0 if targets[j] else longest[j]
                if later > value or choice < 0:
                    value, choice = later, k
            longest[i] = rest(i) + value
            best[i] = choice
    return _worst_path(graph, starts, targets, longest, best, charge_start)


def _taken(graph: Timed, node: int, stack: list[tuple[int, Iterator[int]]], k: int) -> int:
    """The edge from ``node`` (``stack[k]``) to the next node on the depth-first walk."""
    if k + 1 == len(stack):
        return -1
    following = stack[k + 1][0]
    return next(e for e in graph.steps(node) if graph.succ[e] == following)


def _worst_path(
    graph: Timed,
    starts: list[int],
    targets: Sequence[int],
    longest: Mapping[int, int] | Sequence[int],
    best: Mapping[int, int] | Sequence[int],
    charge_start: bool,
) -> Bound:
    """The longest of the starts, and the path that takes that long."""
    succ = graph.succ
    worst, start, lead = 0, -1, -1
    for s in starts:
        if charge_start:
            if longest[s] > worst or start < 0:
                worst, start, lead = longest[s], s, -1
            continue
        for e in graph.steps(s):
            j = succ[e]
            value = 0 if targets[j] else longest[j]
            if value > worst or start < 0:
                worst, start, lead = value, s, e
    if start < 0:
        return Bound(0)
    path: list[int] = []
    elapsed: list[int] = []
    clock = 0
    here = start
    if lead >= 0:
        path.append(lead)
        elapsed.append(0)
        here = succ[lead]
    while not targets[here]:
        clock += graph.rest(here)
        e = best[here]
        path.append(e)
        elapsed.append(clock)
        here = succ[e]
    return Bound(worst, start, tuple(path), tuple(elapsed))


def run_time(spec: Spec, graph: Timed) -> Bound:
    """The worst case of a run of ``spec`` over ``graph`` (its states or configurations):
    from leaving a node of the initial state to entering one of the initial state again
    or of a final state.

    A run from the first node of the initial state is tried first, its ends read
    through the states of the nodes it visits: when it is unbounded, so is the worst
    case, and no other node is read."""
    ends = {spec.initial, *(s.name for s in spec.states if s.final)}
    begin = next(graph.nodes_of([spec.initial]), None)
    if begin is None:
        return Bound(0)
    if isinstance(graph, Configurations):
        starts = list(graph.nodes_of([spec.initial]))
        fast = _fast(graph, starts, graph.marks(ends, lazy=True), False)
        if fast is not None:
            return fast
    came, failed = _visit(graph, [begin], graph.marks(ends, lazy=True), False)
    if failed is not None:
        return failed
    starts = list(graph.nodes_of([spec.initial]))
    marks = graph.marks(ends)
    if starts != [begin]:
        came, failed = _visit(graph, starts, marks, False)
        if failed is not None:
            return failed
    return _longest(graph, starts, marks, came, False)


def unbounded_states(spec: Spec, graph: Timed) -> frozenset[str]:
    """The states where a run's time has no bound (what ``diagram --unbounded`` marks): a
    run from leaving a node of the initial state, before it reaches one of the initial
    or of a final state, can rest in one of their nodes for ever (no ``after`` exit, or no
    step), or go round a cycle through one of them.

    >>> from statewright.verify.load import load_text
    >>> from statewright.verify.graph import build_graph
    >>> spec = load_text('''
    ... statewright: 1
    ... machine: loop
    ... initial: IDLE
    ... states: {IDLE: {}, WORK: {kind: running}, CHECK: {}, WAIT: {}, DONE: {final: true}}
    ... transitions:
    ...   - {from: IDLE, to: WORK, trigger: start}
    ...   - {from: WORK, to: CHECK, trigger: worked, after: 1h}
    ...   - {from: CHECK, to: WORK, trigger: again, after: 1m}
    ...   - {from: CHECK, to: WAIT, trigger: park}
    ...   - {from: WAIT, to: DONE, trigger: resume}
    ... ''').spec
    >>> sorted(unbounded_states(spec, States(spec, build_graph(spec))))
    ['CHECK', 'WAIT', 'WORK']
    """
    ends = graph.marks({spec.initial, *(s.name for s in spec.states if s.final)})
    starts = list(graph.nodes_of([spec.initial]))
    succ = graph.succ
    seen: dict[int, None] = {}
    frontier = [succ[e] for s in starts for e in graph.steps(s) if not ends[succ[e]]]
    while frontier:
        i = frontier.pop()
        if i in seen:
            continue
        seen[i] = None
        frontier.extend(succ[e] for e in graph.steps(i) if not ends[succ[e]])
    names = {graph.state(i) for i in seen if graph.rest(i) == FOREVER}
    inside = nx.DiGraph()
    inside.add_nodes_from(seen)
    inside.add_edges_from((i, succ[e]) for i in seen for e in graph.steps(i) if not ends[succ[e]])
    for component in nx.strongly_connected_components(inside):
        only = next(iter(component))
        if len(component) > 1 or inside.has_edge(only, only):
            names.update(graph.state(i) for i in component)
    return frozenset(names)


def describe(graph: Timed, bound: Bound) -> str:
    """What a run's worst case is, as the text report says it: ``every run ends within
    3d 2h``, or what makes it unbounded (the state that can wait for ever, or the
    states of the cycle that can repeat)."""
    if bound.seconds is not None:
        return f"every run ends within {format_duration(bound.seconds)}"
    if bound.forever is not None:
        name = graph.state(bound.forever)
        if not graph.steps(bound.forever):
            return f"a run can stop in {name} for ever (no step leaves it there)"
        return f"a run can wait in {name} for ever (it has no after exit)"
    names = dict.fromkeys(graph.state(graph.succ[e]) for e in bound.cycle)
    return f"a run can go round {', '.join(names)} for ever"
