"""The migration proof: every run an old spec can leave stored moves to a configuration of
the new spec from which the new spec can go on.

A spec declares under ``migrations`` how runs of an earlier version move to it
(:class:`~statewright.verify.model.Migration`: a state map, values for new variables, the
dropped ones). :func:`prove` takes the old spec and the new one and:

1. finds the migration whose ``from`` matches the old spec's sha256 (the hash the runtime
   records with every instance, ``SOURCE_SHA256`` of the generated module);
2. explores the old spec (:func:`statewright.verify.explore.explore`) and takes every
   reachable configuration *at rest* (no ``always`` exit enabled): the runtime stores a run
   only once it has settled, so these are the configurations a stored run can be in;
3. maps each one (:meth:`Migration.apply <statewright.verify.model.Migration.apply>`) and
   checks its image exists in the new spec: its state is declared
   (``migration-unknown-state``), every variable has a value of its type and bounds
   (``migration-variables``);
4. explores the new spec from its initial configuration *and* every image (a migrated run
   may sit where the new spec's own runs never go), with the rules of
   :mod:`statewright.verify.semantics`, and reports each old configuration whose image is
   stranded (``migration-stranded``): a dead end (a non-final state where no step is
   possible), a trap (no run from it reaches the initial state or a final state), or a
   configuration beyond it that the new spec's own runs never reach and that is one of
   these; and each whose image breaks a property of the new spec where its own runs never
   go (``migration-breaks-property``): an ``always`` false, a ``leads_to`` a run can
   avoid, a ``precedence`` entered without its trigger (pessimistically: a migrated run
   counts as having fired it only if every old run to its configuration has, since the
   last time it left the initial state). Where its own runs go, the new spec's own check
   (``statewright check``) speaks.

Each finding carries its trace: the steps in the old spec that reach the configuration,
a ``migrated`` step to its image, then the steps in the new spec to where it goes wrong.

Over 600 lines: the proof's three parts (the new spec's graph from the mapped roots,
:class:`NewGraph`; the search of the old spec's history for traces, :class:`_OldHistory`;
and the verdicts, :class:`_Proof`) share the explored configurations; they are the
modules to split it into next.
"""

from __future__ import annotations

import hashlib
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from statewright.verify import progress
from statewright.verify.explore import DEFAULT_BUDGET, Budget, Exceeded, Exploration, explore
from statewright.verify.findings import Finding, TraceStep, has_errors, sort_findings
from statewright.verify.load import LoadResult, load_text
from statewright.verify.load.migrations import accepts
from statewright.verify.load.values import closest
from statewright.verify.model import Location, Migration, Property, PropertyKind, Spec, Value
from statewright.verify.registry import RULES
from statewright.verify.rules.data import too_large
from statewright.verify.semantics import Semantics, Values, evaluate, show_value

__all__ = [
    "MIGRATED",
    "Migrated",
    "MigrationResult",
    "NewGraph",
    "Verdict",
    "migrate_loaded",
    "migrate_texts",
    "prove",
    "sha256_of",
]

MIGRATED = "migrated"
"""The trigger of the step of a trace where a run moves from the old spec to the new."""

Config = tuple[str, Values]
"""A configuration: a state and a value of every variable, in declaration order."""


def sha256_of(data: bytes) -> str:
    """The spec version the runtime records: the sha256 of the spec file's bytes."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What became of one old configuration: its image in the new spec (None when it has
    none) and the ids of the rules it fails (empty: it moves safely)."""

    old: Config
    image: Config | None
    rules: frozenset[str]


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """The proof for one pair of specs: the migration used (None when the new spec
    declares none for the old, or they are the same file), every finding, the verdict on
    each old configuration at rest, and the size of the new spec's explored graph."""

    old: Spec
    new: Spec
    migration: Migration | None
    findings: tuple[Finding, ...]
    verdicts: tuple[Verdict, ...] = ()
    explored: int = 0

    @property
    def proved(self) -> bool:
        return not has_errors(self.findings)

    @property
    def same(self) -> bool:
        """The old and new spec files are the same version: nothing moves."""
        return self.old.sha256 == self.new.sha256

    @property
    def stranded(self) -> tuple[Verdict, ...]:
        return tuple(v for v in self.verdicts if v.rules)


def _finding(
    rule_id: str,
    message: str,
    at: Location,
    states: Sequence[str] = (),
    trace: tuple[TraceStep, ...] = (),
) -> Finding:
    return Finding(rule_id, RULES[rule_id].severity, message, at, tuple(states), trace=trace)


def _shown(names: Sequence[str], values: Values) -> str:
    pairs = [f"{n}={show_value(v)}" for n, v in zip(names, values, strict=True)]
    return f" with {', '.join(pairs)}" if pairs else ""


@dataclass(frozen=True, slots=True)
class Migrated:
    """Two loaded spec files and the proof between them (None when either failed to
    load): what ``statewright migrate OLD NEW`` reports."""

    old: LoadResult
    new: LoadResult
    result: MigrationResult | None

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The load findings of both files, then the proof's, sorted."""
        proof = self.result.findings if self.result is not None else ()
        return sort_findings((*self.old.findings, *self.new.findings, *proof))

    @property
    def proved(self) -> bool:
        return self.result is not None and not has_errors(self.findings)


def migrate_loaded(old: LoadResult, new: LoadResult, budget: Budget = DEFAULT_BUDGET) -> Migrated:
    """The proof for two loaded files, if both loaded."""
    if old.spec is None or new.spec is None:
        return Migrated(old, new, None)
    return Migrated(old, new, prove(old.spec, new.spec, budget))


def migrate_texts(
    old: str, new: str, old_file: str = "old.yaml", new_file: str = "new.yaml"
) -> Migrated:
    """Load two specs' texts and prove the migration between them.

    >>> from statewright.verify.rules.migration import OLD_EXAMPLE
    >>> same = migrate_texts(OLD_EXAMPLE, OLD_EXAMPLE)
    >>> same.proved, same.result.same
    (True, True)
    """
    return migrate_loaded(load_text(old, old_file), load_text(new, new_file))


# -- the new spec's graph, from its initial configuration and the images ---------------------


class NewGraph:
    """The new spec's configurations reachable from its initial one and from ``roots``,
    built breadth-first with :class:`~statewright.verify.semantics.Semantics`: a
    configuration with an enabled ``always`` exit steps along it alone; otherwise each
    trigger takes its first enabled transition, and the leading timed exit fires. A step
    out of its variable's bounds is no step (the new spec's own check reports it).

    ``own[i]`` says whether configuration ``i`` is reached from the initial one (number 0).
    """

    def __init__(self, spec: Spec, roots: Iterable[Config], limit: int) -> None:
        self.spec = spec
        self.semantics = Semantics.of(spec)
        self.names = self.semantics.data.names
        self.configs: list[Config] = []
        self.number: dict[Config, int] = {}
        self.edges: list[list[tuple[int, int]]] = []  # (transition number, target)
        self.exceeded: Exceeded | None = None
        self._numbers = {id(t): n for n, t in enumerate(spec.transitions)}
        self._add((spec.initial, self.semantics.data.initial))
        for root in roots:
            self._add(root)
        self._search(limit)
        self.own = self.forward([0])
        self.final = [spec.state(s).final for s, _ in self.configs]

    def _add(self, config: Config) -> int:
        found = self.number.get(config)
        if found is None:
            found = self.number[config] = len(self.configs)
            self.configs.append(config)
        return found

    def _search(self, limit: int) -> None:
        i = 0
        while i < len(self.configs):
            if len(self.configs) > limit:
                self.exceeded = Exceeded("configurations", limit)
                return
            state, values = self.configs[i]
            self.edges.append(
                [(self._numbers[id(t)], self._add(c)) for t, c in self.steps(state, values)]
            )
            i += 1

    def steps(self, state: str, values: Values) -> Iterator[tuple[object, Config]]:
        semantics = self.semantics
        automatic = semantics.automatic_in(state, values)
        for t in (automatic,) if automatic is not None else semantics.steps_in(state, values):
            try:
                after = semantics.take(t, values)
            except ValueError:  # OutOfRange: the new spec's own out-of-range finding
                continue
            yield t, (t.target, after)

    def forward(self, starts: Iterable[int]) -> bytearray:
        """One byte per configuration: 1 where a run from one of ``starts`` gets."""
        seen = bytearray(len(self.configs))
        queue = deque(starts)
        for s in queue:
            seen[s] = 1
        while queue:
            for _, j in self.edges[queue.popleft()]:
                if not seen[j]:
                    seen[j] = 1
                    queue.append(j)
        return seen

    def predecessors(self) -> list[list[int]]:
        back: list[list[int]] = [[] for _ in self.configs]
        for i, edges in enumerate(self.edges):
            for _, j in edges:
                back[j].append(i)
        return back

    def backward(self, marks: Sequence[int], back: list[list[int]]) -> bytearray:
        """One byte per configuration: 1 where a run can get to a marked one."""
        seen = bytearray(marks)
        queue = deque(i for i, m in enumerate(marks) if m)
        while queue:
            for j in back[queue.popleft()]:
                if not seen[j]:
                    seen[j] = 1
                    queue.append(j)
        return seen

    def attractor(self, targets: Sequence[int], back: list[list[int]]) -> bytearray:
        """1 where every run reaches a target: a target, or a configuration with steps
        all of which lead into the attractor."""
        left = [len({j for _, j in e}) for e in self.edges]
        inside = bytearray(targets)
        queue = deque(i for i, t in enumerate(targets) if t)
        while queue:
            j = queue.popleft()
            for i in set(back[j]):
                if not inside[i]:
                    left[i] -= 1
                    if left[i] == 0:
                        inside[i] = 1
                        queue.append(i)
        return inside

    def nearest(self, start: int, marks: Sequence[int]) -> tuple[int, list[tuple[int, int]]]:
        """The marked configuration nearest ``start`` (a run gets there) and the steps
        (transition, target) of a shortest run to it."""
        parent: dict[int, tuple[int, int]] = {start: (-1, -1)}
        queue = deque([start])
        goal = start
        while queue:
            i = queue.popleft()
            if marks[i]:
                goal = i
                break
            for n, j in self.edges[i]:
                if j not in parent:
                    parent[j] = (i, n)
                    queue.append(j)
        else:
            raise ValueError("no marked configuration is reached")
        steps: list[tuple[int, int]] = []
        at = goal
        while at != start:
            i, n = parent[at]
            steps.append((n, at))
            at = i
        return goal, steps[::-1]

    def trace(self, start: int, steps: Sequence[tuple[int, int]]) -> tuple[TraceStep, ...]:
        before = self.configs[start][1]
        found: list[TraceStep] = []
        for n, j in steps:
            t = self.spec.transitions[n]
            state, after = self.configs[j]
            found.append(_step(t.trigger, state, self.names, before, after, t.location))
            before = after
        return tuple(found)


def _step(
    trigger: str,
    state: str,
    names: Sequence[str],
    before: Values | None,
    after: Values,
    at: Location,
) -> TraceStep:
    changed = tuple(
        n
        for k, n in enumerate(names)
        if before is None or k >= len(before) or before[k] != after[k]
    )
    return TraceStep(trigger, state, tuple(zip(names, after, strict=True)), changed, at)


# -- the proof ------------------------------------------------------------------------------


def prove(old: Spec, new: Spec, budget: Budget = DEFAULT_BUDGET) -> MigrationResult:
    """Prove that the migration ``new`` declares for ``old`` strands no run of ``old``."""
    if old.sha256 == new.sha256:
        return MigrationResult(old, new, None, ())
    migration = new.migration_from(old.sha256)
    if migration is None:
        message = (
            f"{new.file} declares no migration from {old.file} (sha256 {old.sha256[:12]}), "
            "so runs stored under it cannot be loaded; add one to migrations, starting "
            f"- from: {old.sha256[:12]}"
        )
        return MigrationResult(
            old, new, None, (_finding("migration-missing", message, new.location),)
        )
    return _Proof(old, new, migration, budget).run()


class _Proof:
    def __init__(self, old: Spec, new: Spec, migration: Migration, budget: Budget) -> None:
        self.old, self.new, self.migration, self.budget = old, new, migration, budget
        self.findings: list[Finding] = []
        self.reported: set[tuple[str, str]] = set()  # (rule, state or variable) told once

    def once(self, rule_id: str, about: str) -> bool:
        """True the first time ``(rule_id, about)`` is asked."""
        if (rule_id, about) in self.reported:
            return False
        self.reported.add((rule_id, about))
        return True

    def report(
        self,
        rule_id: str,
        message: str,
        at: Location,
        states: Sequence[str] = (),
        trace: tuple[TraceStep, ...] = (),
    ) -> None:
        self.findings.append(_finding(rule_id, message, at, states, trace))

    def run(self) -> MigrationResult:
        old, new, migration = self.old, self.new, self.migration
        self.declared()
        progress.phase("exploring the old spec")
        found = explore(old, self.budget)
        if found.exceeded is not None:
            self.findings.append(too_large(old, found.exceeded))
            return self.result(())
        names = tuple(f.variable.name for f in found.layout.fields)
        stored = self.at_rest(found)
        images: dict[int, Config | None] = {}
        for i, (state, values) in stored.items():
            images[i] = self.image(found, i, state, dict(zip(names, values, strict=True)))
        roots = [c for c in images.values() if c is not None]
        progress.phase("exploring the new spec from the migrated runs")
        graph = NewGraph(new, roots, self.budget.configurations)
        if graph.exceeded is not None:
            self.findings.append(too_large(new, graph.exceeded, migration.location))
            return self.result(())
        problems = _Problems(graph, new)
        precedence = _OldHistory(found, new.properties)
        verdicts: list[Verdict] = []
        known: dict[tuple[int, tuple[bool, ...]], list[tuple[str, str, list[tuple[int, int]]]]] = {}
        for i, (state, values) in stored.items():
            image = images[i]
            rules: set[str] = set()
            if image is None:
                rules.add("unknown")
            else:
                fired = precedence.fired(i)
                key = (graph.number[image], tuple(fired.values()))
                if key not in known:  # many old configurations may share an image
                    known[key] = list(problems.of(key[0], fired))
                for rule_id, message, path in known[key]:
                    rules.add(rule_id)
                    trace = self.old_trace(found, i, image, graph, path)
                    at = migration.where(f"states.{state}")
                    said = f"a run in {state}{_shown(names, values)} of {old.file} {message}"
                    self.report(rule_id, said, at, (state,), trace)
            verdicts.append(Verdict((state, values), image, frozenset(rules)))
        return self.result(tuple(verdicts), len(graph.configs))

    def result(self, verdicts: tuple[Verdict, ...], explored: int = 0) -> MigrationResult:
        return MigrationResult(
            self.old, self.new, self.migration, sort_findings(self.findings), verdicts, explored
        )

    def declared(self) -> None:
        """What the migration says that the old spec contradicts, and the variables it
        leaves without a value."""
        old, new, m = self.old, self.new, self.migration
        old_states = set(old.state_names)
        for name, _ in m.states:
            if name not in old_states:
                self.report(
                    "migration-unknown-state",
                    f"'states' maps {name}, which {old.file} does not declare; name one of "
                    "its states",
                    m.where(f"states.{name}"),
                    (name,),
                )
        old_vars = {v.name for v in old.variables}
        new_vars = {v.name for v in new.variables}
        given = {name for name, _ in m.values}
        for name in m.drop:
            if name not in old_vars:
                self.report(
                    "migration-variables",
                    f"'drop' names {name}, which {old.file} does not declare; remove it",
                    m.where(f"drop.{name}"),
                )
        for v in old.variables:
            if v.name not in new_vars and v.name not in m.drop:
                self.report(
                    "migration-variables",
                    f"{old.file} has the variable {v.name}, which {new.file} does not "
                    f"declare: list it under drop (its values are discarded) or declare it",
                    m.location,
                )
        for v in new.variables:
            if v.name not in old_vars and v.name not in given:
                self.report(
                    "migration-variables",
                    f"{new.file}'s variable {v.name} has no value in a migrated run: give it "
                    f"one under variables, e.g. {v.name}: {show_value(v.initial)}",
                    v.location,
                )

    def at_rest(self, found: Exploration) -> dict[int, Config]:
        """The old configurations a stored run can be in, by number: no ``always`` exit
        is enabled (the runtime stores a run once it has settled)."""
        automatic = Semantics.of(self.old).automatic_in
        configs = (found.unpack(i) for i in range(len(found)))
        return {i: c for i, c in enumerate(configs) if automatic(*c) is None}

    def image(
        self, found: Exploration, i: int, state: str, values: dict[str, Value]
    ) -> Config | None:
        """The image of an old configuration; None (and a finding, once per state or
        variable) when it is none of the new spec's."""
        new, m = self.new, self.migration
        target, moved = m.apply(state, values)
        names = tuple(values)
        shown = _shown(names, tuple(values.values()))
        if target not in new.state_names:
            if self.once("migration-unknown-state", state):
                how = f"moves to {target}" if target != state else "keeps its name"
                added = [s for s in new.state_names if s not in self.old.state_names]
                guess = closest(state, added) or (added or [new.initial])[0]
                self.report(
                    "migration-unknown-state",
                    f"a run in {state}{shown} of {self.old.file} {how}, which {new.file} does "
                    f"not declare: map it under states, e.g. {state}: {guess}",
                    m.where(f"states.{state}"),
                    (state,),
                    found.trace(found.path_to(i)),
                )
            return None
        result: list[Value] = []
        for v in new.variables:
            if v.name not in moved:
                return None  # reported once, by declared()
            value = moved[v.name]
            if not accepts(v, value):
                if self.once("migration-variables", v.name):
                    self.report(
                        "migration-variables",
                        f"a run in {state}{shown} of {self.old.file} carries {v.name}="
                        f"{show_value(value)} into {new.file}, where {v.name} cannot hold it: "
                        f"give migrated runs a value under variables",
                        v.location,
                        (state,),
                        found.trace(found.path_to(i)),
                    )
                return None
            result.append(value)
        return target, tuple(result)

    def old_trace(
        self,
        found: Exploration,
        i: int,
        image: Config,
        graph: NewGraph,
        path: Sequence[tuple[int, int]],
    ) -> tuple[TraceStep, ...]:
        steps = found.trace(found.path_to(i))
        before = steps[-1].variables if steps else None
        shown = _step(MIGRATED, image[0], graph.names, None, image[1], self.migration.location)
        if before is not None:
            old = dict(before)
            changed = tuple(n for n, v in shown.variables if n not in old or old[n] != v)
            shown = TraceStep(MIGRATED, image[0], shown.variables, changed, shown.location)
        return (*steps, shown, *graph.trace(graph.number[image], path))


class _OldHistory:
    """For each ``precedence`` of the new spec, which old configurations every old run
    reaches with one of its triggers fired since it last left the initial state."""

    def __init__(self, found: Exploration, properties: Sequence[Property]) -> None:
        self.found = found
        self.clear: dict[str, bytearray] = {}
        for prop in properties:
            if prop.kind is PropertyKind.PRECEDENCE:
                self.clear[prop.name] = self._clear(set(prop.triggers))

    def _clear(self, triggers: set[str]) -> bytearray:
        """1 where some old run arrives with none of ``triggers`` fired since it last
        left the initial state (a breadth-first search over configurations and that bit)."""
        found, search = self.found, self.found.found
        initial = found.spec.initial
        transitions = search.transitions
        seen = {(0, False)}
        queue = deque(seen)
        while queue:
            i, fired = queue.popleft()
            for e in search.edges(i):
                j = search.succ[e]
                bit = fired or transitions[search.via[e]].trigger in triggers
                if found.unpack(j)[0] == initial:
                    bit = False
                if (j, bit) not in seen:
                    seen.add((j, bit))
                    queue.append((j, bit))
        clear = bytearray(len(found))
        for i, fired in seen:
            if not fired:
                clear[i] = 1
        return clear

    def fired(self, i: int) -> dict[str, bool]:
        return {name: not clear[i] for name, clear in self.clear.items()}


class _Problems:
    """What goes wrong after a move: the new spec's graph analysed once, backwards from
    every configuration a migrated run must not reach, so that each image costs a lookup
    and, for a finding, one search for its trace."""

    Found = Iterator[tuple[str, str, list[tuple[int, int]]]]

    def __init__(self, graph: NewGraph, spec: Spec) -> None:
        self.graph, self.spec = graph, spec
        back = self.back = graph.predecessors()
        configs = graph.configs
        anchors = [1 if s == spec.initial or spec.state(s).final else 0 for s, _ in configs]
        self.coreach = graph.backward(anchors, back)
        self.stuck = [not e and not graph.final[i] for i, e in enumerate(graph.edges)]
        outside = [not o for o in graph.own]
        self.bad = [
            1 if outside[i] and (self.stuck[i] or not self.coreach[i]) else 0
            for i in range(len(configs))
        ]
        self.to_bad = graph.backward(self.bad, back)
        self.broken: dict[str, tuple[bytearray, bytearray, str]] = {}
        for prop in spec.properties:
            if prop.kind is PropertyKind.PRECEDENCE:
                continue  # depends on each run's history: searched per image
            marks, why = self.violations(prop, outside)
            self.broken[prop.name] = (marks, graph.backward(marks, back), why)

    def violations(self, prop: Property, outside: Sequence[bool]) -> tuple[bytearray, str]:
        """1 for each configuration outside the new spec's own runs where ``prop`` fails
        (an ``always`` false; a ``leads_to`` source from which a run avoids its targets),
        and why, for the message."""
        graph = self.graph
        if prop.kind is PropertyKind.ALWAYS:
            assert prop.invariant is not None
            tree = prop.invariant.tree
            marks = bytearray(
                1
                if outside[i]
                and evaluate(tree, dict(zip(graph.names, values, strict=True)), state) is not True
                else 0
                for i, (state, values) in enumerate(graph.configs)
            )
            return marks, f"'{prop.invariant.text}' is false"
        targets = [1 if s in prop.targets else 0 for s, _ in graph.configs]
        inside = graph.attractor(targets, self.back)
        marks = bytearray(
            1 if outside[i] and not inside[i] and s in prop.states else 0
            for i, (s, _) in enumerate(graph.configs)
        )
        return marks, f"a run can avoid {' or '.join(prop.targets)} for ever"

    def of(self, k: int, fired: dict[str, bool]) -> Found:
        """``(rule, message, steps in the new spec)`` for each problem of image ``k``."""
        graph, spec = self.graph, self.spec
        state, values = graph.configs[k]
        moved = f"moves to {state}{_shown(graph.names, values)}"
        if self.stuck[k]:
            why = f"a dead end in {spec.file}: no step is possible there"
            yield "migration-stranded", f"{moved}, {why}", []
        elif not self.coreach[k]:
            why = f"a trap in {spec.file}: no run from it reaches {spec.initial} or a final state"
            yield "migration-stranded", f"{moved}, {why}", []
        elif self.to_bad[k]:
            goal, steps = graph.nearest(k, self.bad)
            there, at = graph.configs[goal]
            what = "a dead end" if self.stuck[goal] else "a trap"
            yield (
                "migration-stranded",
                f"{moved}, from which a run can reach {there}{_shown(graph.names, at)}, "
                f"{what} that {spec.file}'s own runs never reach",
                steps,
            )
        if graph.own[k]:
            return
        for prop in spec.properties:
            if prop.kind is PropertyKind.PRECEDENCE:
                found = self.entry(k, prop, fired.get(prop.name, False))
                if found is None:
                    continue
                goal, steps = graph.nearest(
                    k, bytearray(i == found for i in range(len(graph.configs)))
                )
                why = f"the run enters it without {' or '.join(prop.triggers)}"
            else:
                marks, reaches, why = self.broken[prop.name]
                if not reaches[k]:
                    continue
                goal, steps = graph.nearest(k, marks)
            there, at = graph.configs[goal]
            yield (
                "migration-breaks-property",
                f"{moved} and breaks property {prop.name} of {spec.file}: in "
                f"{there}{_shown(graph.names, at)}, which its own runs never reach, {why}",
                steps,
            )

    def entry(self, k: int, prop: Property, fired: bool) -> int | None:
        """The first configuration outside the new spec's own runs that a run from ``k``
        enters in one of ``prop.states`` with none of its triggers fired since it last
        left the initial state."""
        graph, spec = self.graph, self.spec
        seen = {(k, fired)}
        queue = deque(seen)
        while queue:
            i, bit = queue.popleft()
            for n, j in graph.edges[i]:
                t = spec.transitions[n]
                after = bit or t.trigger in prop.triggers
                state = graph.configs[j][0]
                if state == spec.initial:
                    after = False
                if state in prop.states and not after and not graph.own[i]:
                    return j
                if (j, after) not in seen:
                    seen.add((j, after))
                    queue.append((j, after))
        return None
