"""Breadth-first search over every reachable configuration, by code generated per spec.

:func:`search` writes one Python function for the spec (:func:`search_source`), with its
guards and effects compiled in (:mod:`statewright.verify.explore.pycode`), compiles it once and runs
it. The function is the semantics of :mod:`statewright.verify.semantics` specialised: per state, it
decodes the variables its exits read, takes the first enabled ``always`` exit if there
is one, and otherwise for each trigger the first transition whose guard holds, and the
leading timed exit. Configurations are packed integers (:mod:`statewright.verify.explore.layout`)
numbered in the order they are found, so that the search queue is the list of every
configuration, and breadth-first order makes every parent chain a shortest trace.

On the way it records what the data rules need: every edge (``first``, ``succ`` and
``via``: the configurations each one leads to, by which transition), which guards ever
hold (``holds``) and hold at rest (``free``), the configurations with nothing enabled
(``stuck``), where two transitions on one trigger are enabled at once (``nondet``) and
where an effect leaves its bounds (``out``).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, MutableSequence, Sequence
from dataclasses import dataclass, field
from typing import Any

from statewright.verify.explore.budget import DEFAULT_BUDGET, Budget, Exceeded
from statewright.verify.explore.gates import Gate, Gates
from statewright.verify.explore.layout import Layout
from statewright.verify.explore.pycode import Names, function, python, python_value, refs
from statewright.verify.model import Spec, Transition, VarType
from statewright.verify.semantics import Semantics

__all__ = [
    "DENSE_BITS",
    "PACKED_BITS",
    "Search",
    "compiled_search",
    "search",
    "search_from",
    "search_source",
]

DENSE_BITS = 24
"""Up to this many bits per configuration, the index of seen configurations is one flat
array (16 million entries); beyond, a dict holds the reached ones only."""

PACKED_BITS = 64
"""Up to this many bits per configuration, the configurations are kept in an array of
unsigned 64-bit numbers; beyond, in a list of Python ints, which have no width."""


@dataclass(slots=True)
class Search:
    """What a search found. Configuration ``i`` is ``order[i]``; its edges are
    ``succ[first[i]:first[i + 1]]`` (configuration numbers) taken by
    ``via[first[i]:first[i + 1]]`` (transition numbers in ``spec.transitions``).

    The edges into configuration ``j`` are a list linked through the same edge numbers:
    ``head[j]`` is the last edge into it (-1: none), ``back[e]`` the edge into it before
    ``e``, and ``source[e]`` the configuration edge ``e`` leaves."""

    layout: Layout
    transitions: tuple[Transition, ...]
    order: MutableSequence[int]
    parent: array[int]
    first: array[int]
    succ: array[int]
    via: array[int]
    source: array[int]
    back: array[int]
    head: array[int]
    holds: bytearray
    free: bytearray
    stuck: list[int]
    nondet: dict[tuple[int, int], int]
    out: dict[int, tuple[int, int]]
    exceeded: Exceeded | None
    """The bound the search ran out of (None: it found every configuration)."""
    code: str = field(repr=False, default="")
    """The generated search function, for whoever wants to read it."""
    gates: Gates | None = field(repr=False, default=None)
    """The spec's approval gates, where it has some to model: their votes and escalations
    are the edges by transition numbers from ``gates.first``
    (:mod:`statewright.verify.explore.gates`)."""

    def __len__(self) -> int:
        return len(self.order)

    @property
    def complete(self) -> bool:
        return self.exceeded is None

    @property
    def rollback(self) -> int:
        """The transition number of a rollback step (the spec's own come first, a gate's
        steps after it)."""
        return len(self.transitions) - 1 if self.gates is None else self.gates.first - 1

    def edges(self, i: int) -> range:
        """The positions in ``succ`` and ``via`` of configuration ``i``'s edges."""
        return range(self.first[i], self.first[i + 1])


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, depth: int, line: str) -> None:
        self.lines.append("    " * depth + line)


def _groups(semantics: Semantics, state: str) -> list[Sequence[Transition]]:
    """The choices of ``state`` by trigger (its leading timed exit among them), in
    declaration order: what :meth:`Semantics.steps_in` chooses from."""
    return list(semantics.choices[state].values())


def search_source(
    spec: Spec, layout: Layout, dense: bool, reports: bool = False, gates: Gates | None = None
) -> str:
    """The source of the search function of ``spec``; with ``reports``, it calls its last
    argument with the configurations expanded and found every 65,536 expanded. The
    layout's hidden bits (a rollback counter) are carried unchanged by every step, and
    the search starts from every configuration already in ``order``."""
    semantics = Semantics.of(spec)
    gates = Gates(spec) if gates is None else gates
    number = {id(t): i for i, t in enumerate(spec.transitions)}
    locals_ = {f.variable.name: f"v{k}" for k, f in enumerate(layout.fields)}
    names = Names({f.variable.name: f.variable for f in layout.fields}, locals_, layout.number)
    write = _Writer()
    write(
        0,
        "def run(limit, edges, order, parent, first, succ, via, source, back, head, seen, H, F, "
        f"stuck, ND, OUT{', report' if reports else ''}):",
    )
    for alias in ("order", "parent", "first", "succ", "via", "source", "back", "head", "stuck"):
        write(1, f"{alias}_append = {alias}.append")
    write(1, "E = 0")
    if not dense:
        write(1, "seen_get = seen.get")
    write(1, "count = len(order)")
    write(1, "i = 0")
    write(1, "while i < count:")
    write(2, "if count > limit:")
    write(3, "return 1")
    write(2, "if E > edges:")
    write(3, "return 2")
    if reports:
        write(2, "if not i & 0xFFFF:")
        write(3, "report(i, count)")
    write(2, "c = order[i]")
    write(2, "first_append(len(succ))")
    write(2, f"s = c & {layout.state_mask}")
    write(2, "r = c ^ s")
    _dispatch(
        write,
        2,
        list(range(len(layout.states))),
        spec,
        semantics,
        layout,
        names,
        number,
        dense,
        gates,
    )
    write(2, "i += 1")
    write(1, "first_append(len(succ))")
    write(1, "return 0")
    return "\n".join(write.lines) + "\n"


def _dispatch(
    write: _Writer,
    depth: int,
    states: list[int],
    spec: Spec,
    semantics: Semantics,
    layout: Layout,
    names: Names,
    number: dict[int, int],
    dense: bool,
    gates: Gates,
) -> None:
    """An ``if`` tree over the state numbers: log2 comparisons to reach a state's code."""
    if len(states) == 1:
        name = layout.states[states[0]]
        _state(write, depth, name, spec, semantics, layout, names, number, dense, gates)
        return
    middle = len(states) // 2
    for part, line in ((states[:middle], f"if s < {states[middle]}:"), (states[middle:], "else:")):
        write(depth, line)
        _dispatch(write, depth + 1, part, spec, semantics, layout, names, number, dense, gates)


def _state(
    write: _Writer,
    depth: int,
    state: str,
    spec: Spec,
    semantics: Semantics,
    layout: Layout,
    names: Names,
    number: dict[int, int],
    dense: bool,
    gates: Gates,
) -> None:
    automatic = semantics.always.get(state, ())
    groups = _groups(semantics, state)
    exits = [*automatic, *(t for group in groups for t in group)]
    gate = gates.by_state.get(state)
    if gate is not None:  # every step out of the gate clears its bits
        write(depth, f"g = c & {layout.gate_mask}")
        write(depth, "c ^= g")
        write(depth, "r ^= g")
    if not exits and gate is None:
        write(depth, "pass")
        return

    def emit(depth: int, t: Transition) -> None:
        if gate is not None and gate.flag is not None and t.after is not None:
            # the escalation falls due first: the timed exit only once it has escalated
            write(depth, f"if g & {1 << (layout.gate_offset + gate.flag)}:")
            depth += 1
        _take(write, depth, t, layout, names, number, dense, gates, gate)

    used: set[str] = set()
    for t in exits:
        if t.when is not None:
            used |= refs(t.when.tree)
        for effect in t.effects:
            used |= refs(effect.value.tree)
    for name in sorted(used, key=lambda n: layout.by_name[n].offset):
        f = layout.by_name[name]
        low = f.variable.minimum if f.variable.type is VarType.INT else 0
        plus = f" + {low}" if low else ""
        write(depth, f"{names.locals[name]} = ((c >> {f.offset}) & {(1 << f.width) - 1}){plus}")
    can_stick = not spec.state(state).final and all(t.when is not None for t in exits)
    if can_stick:
        write(depth, "e = 0")
    rest = depth
    if automatic:
        _choose(write, depth, automatic, names, number, "k")
        write(depth, "if k >= 0:")
        for group in groups:  # guards that hold here, where an always exit wins: not free
            for t in group:
                if t.when is not None:
                    write(depth + 1, f"if {python(t.when.tree, names)}:")
                    write(depth + 2, f"H[{number[id(t)]}] = 1")
        _emit_chosen(write, depth + 1, automatic, emit, number, "k")
        if can_stick:
            write(depth + 1, "e = 1")
        write(depth, "else:")
        rest = depth + 1
    for group in groups:
        if len(group) == 1 and group[0].when is None:
            if can_stick:
                write(rest, "e = 1")
            emit(rest, group[0])
            continue
        if len(group) == 1:  # one guarded transition: no choice to make
            (t,) = group
            n = number[id(t)]
            assert t.when is not None
            write(rest, f"if {python(t.when.tree, names)}:")
            write(rest + 1, f"H[{n}] = 1")
            write(rest + 1, f"F[{n}] = 1")
            if can_stick:
                write(rest + 1, "e = 1")
            emit(rest + 1, t)
            continue
        _choose(write, rest, group, names, number, "k", free=True)
        write(rest, "if k >= 0:")
        if can_stick:
            write(rest + 1, "e = 1")
        _emit_chosen(write, rest + 1, group, emit, number, "k")
    if gate is not None and gate.flag is not None:
        flag = 1 << (layout.gate_offset + gate.flag)
        write(rest, f"if not g & {flag}:")  # the escalation, once, at rest in the gate
        _arrive(write, rest + 1, f"c | g | {flag}", gates.escalation[state], dense)
    elif not groups and automatic:
        write(rest, "pass")
    if can_stick:
        write(depth, "if not e:")
        write(depth + 1, "stuck_append(i)")


def _choose(
    write: _Writer,
    depth: int,
    group: Sequence[Transition],
    names: Names,
    number: dict[int, int],
    chosen: str,
    free: bool = False,
) -> None:
    """Set ``chosen`` to the first enabled transition of ``group`` (or -1), marking every
    guard that holds, and recording a second enabled one as nondeterminism."""
    write(depth, f"{chosen} = -1")
    for t in group:
        n = number[id(t)]
        if t.when is None:
            write(depth, f"if {chosen} < 0:")
            write(depth + 1, f"{chosen} = {n}")
            if len(group) > 1:
                write(depth, "else:")
                write(depth + 1, f"ND.setdefault(({chosen}, {n}), i)")
            continue
        write(depth, f"if {python(t.when.tree, names)}:")
        write(depth + 1, f"H[{n}] = 1")
        if free:
            write(depth + 1, f"F[{n}] = 1")
        write(depth + 1, f"if {chosen} < 0:")
        write(depth + 2, f"{chosen} = {n}")
        if len(group) > 1:
            write(depth + 1, "else:")
            write(depth + 2, f"ND.setdefault(({chosen}, {n}), i)")


def _emit_chosen(
    write: _Writer,
    depth: int,
    group: Sequence[Transition],
    emit: Callable[[int, Transition], None],
    number: dict[int, int],
    chosen: str,
) -> None:
    for position, t in enumerate(group):
        keyword = "if" if position == 0 else "elif"
        write(depth, f"{keyword} {chosen} == {number[id(t)]}:")
        emit(depth + 1, t)


def _take(
    write: _Writer,
    depth: int,
    t: Transition,
    layout: Layout,
    names: Names,
    number: dict[int, int],
    dense: bool,
    gates: Gates,
    gate: Gate | None,
) -> None:
    """Take ``t``; in a gate that counts its approvals, count one instead while the quorum
    is not met (the bits ``g`` one more, the values as they are)."""
    n = number[id(t)]
    vote = gates.vote.get(n)
    if gate is None or vote is None:
        _emit(write, depth, t, layout, names, number, dense)
        return
    offset, width = gate.counters[t.trigger]
    at = layout.gate_offset + offset
    write(depth, f"if (g >> {at}) & {(1 << width) - 1} < {gate.quorum - 1}:")
    _arrive(write, depth + 1, f"c | (g + {1 << at})", vote, dense)
    write(depth, "else:")
    _emit(write, depth + 1, t, layout, names, number, dense)


def _emit(
    write: _Writer,
    depth: int,
    t: Transition,
    layout: Layout,
    names: Names,
    number: dict[int, int],
    dense: bool,
) -> None:
    """Take ``t``: compute its effects, check their bounds, find or number the target."""
    n = number[id(t)]
    target = layout.number[t.target]
    keep = ~layout.state_mask
    parts = [str(target)] if target else []
    checks: list[str] = []
    for k, effect in enumerate(t.effects):
        f = layout.by_name[effect.variable]
        variable = f.variable
        keep &= ~f.mask
        value = python_value(effect.value.tree, variable, names)
        local = f"n{k}"
        write(depth, f"{local} = {value}")
        if variable.type is VarType.INT:
            checks.append(f"{variable.minimum} <= {local} <= {variable.maximum}")
            low = variable.minimum
            stored = f"({local} - {low})" if low else local
        else:
            stored = local
        parts.append(f"({stored} << {f.offset})" if f.offset else stored)
    base = "r" if not t.effects else f"(c & {keep & ((1 << layout.width) - 1)})"
    packed = " | ".join([base, *parts])
    if checks:
        write(depth, f"if not ({' and '.join(checks)}):")
        for k, effect in enumerate(t.effects):
            variable = layout.by_name[effect.variable].variable
            if variable.type is not VarType.INT:
                continue
            if len(checks) == 1:
                write(depth + 1, f"OUT.setdefault({n}, (i, n{k}))")
                break
            write(depth + 1, f"if not ({variable.minimum} <= n{k} <= {variable.maximum}):")
            write(depth + 2, f"OUT.setdefault({n}, (i, n{k}))")
        write(depth, "else:")
        depth += 1
    _arrive(write, depth, packed, n, dense)


def _arrive(write: _Writer, depth: int, packed: str, n: int, dense: bool) -> None:
    """Step to the configuration ``packed`` by transition ``n``: find or number it, and
    record the edge."""
    write(depth, f"t = {packed}")
    if dense:
        write(depth, "j = seen[t]")
    else:
        write(depth, "j = seen_get(t, 0)")
    write(depth, "if not j:")
    write(depth + 1, "order_append(t)")
    write(depth + 1, "parent_append(i)")
    write(depth + 1, "head_append(-1)")
    write(depth + 1, "count += 1")
    write(depth + 1, "j = count")
    write(depth + 1, "seen[t] = j")
    write(depth, "j -= 1")
    write(depth, "succ_append(j)")
    write(depth, f"via_append({n})")
    write(depth, "source_append(i)")
    write(depth, "back_append(head[j])")
    write(depth, "head[j] = E")
    write(depth, "E += 1")


def search(
    spec: Spec,
    budget: Budget = DEFAULT_BUDGET,
    report: Callable[[int, int], None] | None = None,
) -> Search:
    """Every configuration of ``spec`` reachable from its initial one, within ``budget``
    (its configurations and edges); ``report``, if given, is called now and then with the
    numbers of configurations expanded and found so far (the code that calls it is left
    out without one)."""
    layout = Layout(spec.state_names, spec.variables, gates=Gates(spec).width)
    start = layout.pack(spec.initial, tuple(v.initial for v in spec.variables))
    return search_from(spec, layout, [start], budget, report)


def compiled_search(
    spec: Spec, layout: Layout, reports: bool = False, gates: Gates | None = None
) -> tuple[str, Callable[..., Any]]:
    """The source of the search function of ``spec`` over ``layout`` and the function,
    compiled: what :func:`search_from` runs, for a caller that searches more than once
    (the rollback fixpoint) to compile once."""
    code = search_source(spec, layout, layout.width <= DENSE_BITS, reports, gates)
    return code, function(code, "run", f"search of {spec.machine}")


def search_from(
    spec: Spec,
    layout: Layout,
    starts: Sequence[int],
    budget: Budget = DEFAULT_BUDGET,
    report: Callable[[int, int], None] | None = None,
    compiled: tuple[str, Callable[..., Any]] | None = None,
) -> Search:
    """Every configuration reachable from ``starts`` (distinct packed configurations, the
    first numbered 0), by the steps of the spec, within ``budget``; ``compiled`` is
    :func:`compiled_search`'s result for them, if the caller has it."""
    dense = layout.width <= DENSE_BITS
    gates = Gates(spec)
    code, run = compiled or compiled_search(spec, layout, report is not None, gates)
    limit = budget.configurations
    wide = limit >= 2**31 - 1
    many = wide or budget.edges + len(spec.transitions) >= 2**31 - 1
    order: MutableSequence[int]
    order = array("Q", starts) if layout.width <= PACKED_BITS else list(starts)
    parent = array("q" if wide else "i", [-1]) * len(starts)
    first = array("q" if many else "i")
    succ = array("Q" if wide else "I")
    transitions = spec.transitions
    if gates:  # their steps after the spec's own and the rollback's number
        unused = Transition(
            "*",
            "*",
            "(no rollback)",
            spec.location,
            len(transitions),
            description="no step: the number a rollback takes in a search with rollbacks",
        )
        transitions = (*transitions, unused, *gates.transitions)
    via = array("H" if len(transitions) < 2**16 else "I")
    source = array("Q" if wide else "I")
    back = array("q" if many else "i")
    head = array("q" if many else "i", [-1]) * len(starts)
    seen: array[int] | dict[int, int]
    if dense:
        seen = array("Q" if wide else "I", bytes((4 if not wide else 8) << layout.width))
    else:
        seen = {}
    for k, start in enumerate(starts):
        seen[start] = k + 1
    holds = bytearray(len(spec.transitions))
    free = bytearray(len(spec.transitions))
    stuck: list[int] = []
    nondet: dict[tuple[int, int], int] = {}
    out: dict[int, tuple[int, int]] = {}
    stopped = run(
        limit,
        budget.edges,
        order,
        parent,
        first,
        succ,
        via,
        source,
        back,
        head,
        seen,
        holds,
        free,
        stuck,
        nondet,
        out,
        *(() if report is None else (report,)),
    )
    exceeded = None
    if stopped == 1:
        del order[limit:]
        exceeded = Exceeded("configurations", limit)
    elif stopped == 2:
        exceeded = Exceeded("edges", budget.edges)
    return Search(
        layout,
        transitions,
        order,
        parent,
        first,
        succ,
        via,
        source,
        back,
        head,
        holds,
        free,
        stuck,
        nondet,
        out,
        exceeded,
        code,
        gates if gates else None,
    )
