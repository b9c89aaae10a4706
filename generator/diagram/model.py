"""The diagram model: a spec and its findings as nodes, edges and stages, format-neutral.

One model feeds every diagram renderer (DOT for Graphviz, Mermaid), so both draw the same
content: each state once, with its kind, stage and finding marks, and each expanded
transition once, with its kind of edge and its marks. Node ids are safe internal ids
(``s0``, ``s1``, ...) in declaration order; state names appear only in labels. The
palette of colours per state kind lives here too, so that every renderer and its legend
use the same ones.

Findings are placed where they point: a finding that names transitions marks those
edges; a finding that names only states marks those nodes (``unreachable-state``,
``dead-end``, ``trap``, the approval rules, ...). Every finding also stays in
:attr:`Diagram.findings`, so renderers can list them all. Info findings are not drawn:
they say what an input mapping left out (``statewright check`` lists them), not what is
wrong with the machine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from enum import StrEnum

from statewright.generator import __version__
from statewright.verify.findings import Finding, Severity, TraceStep, TransitionRef, sort_findings
from statewright.verify.model import Kind, Spec, State, Transition
from statewright.verify.printable import printable

__all__ = [
    "KIND_STYLES",
    "UNLABELLED_EDGE_RULES",
    "Diagram",
    "Edge",
    "EdgeKind",
    "FindingGroup",
    "KindStyle",
    "Mark",
    "Node",
    "Stage",
    "build_diagram",
    "collapse_stages",
    "kind_style",
    "worst_severity",
]


UNLABELLED_EDGE_RULES = frozenset({"uncoverable-transition"})
"""Rules marked on their edges by colour alone. An uncoverable transition leaves an
unreachable state, which carries its own mark; a label on every such edge would only
repeat it."""


class EdgeKind(StrEnum):
    """How a transition fires, which decides how its edge is drawn."""

    TRIGGER = "trigger"
    HUMAN = "human"
    TIMED = "timed"
    AUTOMATIC = "automatic"


@dataclass(frozen=True, slots=True)
class KindStyle:
    """The colours of one kind of state, and what the legend says about it.

    ``name`` is the kind as written in specs (``plain`` for a state without one); it is
    also the Mermaid class name.
    """

    name: str
    fill: str
    stroke: str
    meaning: str


KIND_STYLES: dict[Kind | None, KindStyle] = {
    Kind.IDLE: KindStyle("idle", "#e5e7eb", "#4b5563", "waiting for input"),
    Kind.RUNNING: KindStyle("running", "#dbeafe", "#1d4ed8", "agents working"),
    Kind.APPROVAL: KindStyle("approval", "#fde68a", "#b45309", "human review gate"),
    Kind.WAITING: KindStyle("waiting", "#cffafe", "#0e7490", "waiting on the outside world"),
    Kind.FAILED: KindStyle("failed", "#fecaca", "#b91c1c", "stopped with a reason code"),
    Kind.COMPLETE: KindStyle("complete", "#bbf7d0", "#15803d", "finished"),
    None: KindStyle("plain", "#ffffff", "#374151", "no kind given"),
}
"""Per state kind (``None``: no kind written), in legend order."""


def kind_style(kind: Kind | None) -> KindStyle:
    return KIND_STYLES[kind]


@dataclass(frozen=True, slots=True)
class Mark:
    """A finding drawn on a node or an edge."""

    rule: str
    severity: Severity
    message: str

    @classmethod
    def of(cls, finding: Finding) -> Mark:
        return cls(finding.rule, finding.severity, finding.message)


def worst_severity(marks: Iterable[Mark]) -> Severity:
    """``ERROR`` if any mark is an error, else ``WARNING``."""
    errors = any(m.severity is Severity.ERROR for m in marks)
    return Severity.ERROR if errors else Severity.WARNING


@dataclass(frozen=True, slots=True)
class Node:
    """One state."""

    id: str
    name: str
    kind: Kind | None
    final: bool
    initial: bool
    stage: str | None
    description: str | None
    reviewers: tuple[str, ...]
    marks: tuple[Mark, ...]
    traced: bool = False
    """The highlighted counterexample passes through this state."""
    unbounded: bool = False
    """A run can rest here for ever, or go round a cycle through it (``diagram
    --unbounded``)."""
    members: tuple[str, ...] = ()
    """For a stage collapsed into one node (:func:`collapse_stages`), its states."""

    @property
    def details(self) -> str:
        """The small line under the name: kind, ``final`` and reviewers, if any (a
        collapsed stage: ``stage``, and how many states)."""
        if self.members:
            return f"stage \u00b7 {len(self.members)} states"
        details = [self.kind.value] if self.kind else []
        if self.final:
            details.append("final")
        if self.reviewers:
            details.append(", ".join(self.reviewers))
        return " \u00b7 ".join(details)

    @property
    def unreachable(self) -> bool:
        return any(m.rule == "unreachable-state" for m in self.marks)


@dataclass(frozen=True, slots=True)
class Edge:
    """One expanded transition, between two node ids."""

    id: str
    source: str
    target: str
    trigger: str
    kind: EdgeKind
    after: str | None
    reason: str | None
    description: str | None
    marks: tuple[Mark, ...]
    guard: str | None = None
    """The ``when`` as written."""
    effects: str | None = None
    """The ``set`` as assignments, ``a = a + 1; b = true``."""
    steps: tuple[str, ...] = ()
    """The numbers of the highlighted counterexample's steps that take this edge (``↻3``
    for a step of its cycle)."""

    @property
    def labelled_marks(self) -> tuple[Mark, ...]:
        """The marks to name in the edge's label (see :data:`UNLABELLED_EDGE_RULES`)."""
        return tuple(m for m in self.marks if m.rule not in UNLABELLED_EDGE_RULES)


@dataclass(frozen=True, slots=True)
class FindingGroup:
    """The findings of one rule, summed up: how many, and the states (or reasons) named."""

    rule: str
    severity: Severity
    count: int
    subjects: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Stage:
    """The states that share a ``stage``, in declaration order."""

    id: str
    name: str
    nodes: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Diagram:
    """Everything a diagram shows. ``loose`` holds the nodes outside any stage."""

    machine: str
    source: str
    sha256: str
    description: str | None
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    stages: tuple[Stage, ...]
    loose: tuple[Node, ...]
    initial: str
    findings: tuple[Finding, ...]
    trace: str | None = None
    """What the highlighted counterexample shows (None: no counterexample drawn)."""

    @property
    def header(self) -> str:
        """One line for the top of every diagram file: it is generated, from what."""
        source = printable(" ".join(self.source.split()))
        sha = f", sha256 {self.sha256[:12]}" if self.sha256 else ""
        return f"Generated by statewright {__version__} from {source}{sha}. Do not edit."

    # What the legend shows: only what the diagram draws, so that a machine of two kinds
    # and plain triggers gets a legend of a few lines, not one of everything there is.

    @property
    def legend_kinds(self) -> tuple[tuple[Kind | None, KindStyle], ...]:
        """The kinds of the diagram's states, in :data:`KIND_STYLES` order."""
        used = {n.kind for n in self.nodes}
        return tuple((kind, style) for kind, style in KIND_STYLES.items() if kind in used)

    @property
    def edge_kinds(self) -> frozenset[EdgeKind]:
        """The kinds of the diagram's edges."""
        return frozenset(e.kind for e in self.edges)

    @property
    def has_final(self) -> bool:
        return any(n.final for n in self.nodes)

    @property
    def has_unreachable(self) -> bool:
        return any(n.unreachable for n in self.nodes)

    @property
    def has_unbounded(self) -> bool:
        return any(n.unbounded for n in self.nodes)

    @property
    def has_reasons(self) -> bool:
        """Some edge shows a reason code."""
        return any(e.reason is not None for e in self.edges)

    @property
    def mark_severities(self) -> frozenset[Severity]:
        """The severities of the marks drawn on nodes and edge labels."""
        marks = [m for n in self.nodes for m in n.marks]
        marks.extend(m for e in self.edges for m in e.labelled_marks)
        return frozenset(m.severity for m in marks)

    @property
    def has_marked_edges(self) -> bool:
        """Some edge is drawn thick in a finding's colour."""
        return any(e.marks for e in self.edges)

    @property
    def finding_groups(self) -> tuple[FindingGroup, ...]:
        """One group per rule, errors first, then by rule id."""
        groups: dict[tuple[bool, str], list[Finding]] = defaultdict(list)
        for finding in self.findings:
            groups[(finding.severity is not Severity.ERROR, finding.rule)].append(finding)
        return tuple(
            FindingGroup(
                rule,
                members[0].severity,
                len(members),
                tuple(dict.fromkeys(n for f in members for n in f.states or f.reasons)),
            )
            for (_, rule), members in sorted(groups.items())
        )


def edge_kind(transition: Transition) -> EdgeKind:
    """Human first (a person acts), then timed, then automatic, else an ordinary trigger."""
    if transition.human:
        return EdgeKind.HUMAN
    if transition.timed:
        return EdgeKind.TIMED
    if transition.automatic:
        return EdgeKind.AUTOMATIC
    return EdgeKind.TRIGGER


def build_diagram(
    spec: Spec,
    findings: Iterable[Finding],
    trace: Finding | None = None,
    unbounded: Collection[str] = (),
) -> Diagram:
    """The diagram of ``spec`` with ``findings`` placed on its nodes and edges and, given
    a finding with a counterexample (``trace``), its steps numbered on the edges they take
    and the states they pass highlighted; the states named in ``unbounded`` marked as
    where a run's time has no bound."""
    ordered = sort_findings(f for f in findings if f.severity is not Severity.INFO)
    state_marks: dict[str, list[Mark]] = defaultdict(list)
    edge_marks: dict[TransitionRef, list[Mark]] = defaultdict(list)
    for finding in ordered:
        if finding.transitions:
            for ref in dict.fromkeys(finding.transitions):
                edge_marks[ref].append(Mark.of(finding))
        else:
            for name in dict.fromkeys(finding.states):
                state_marks[name].append(Mark.of(finding))

    ids = {state.name: f"s{i}" for i, state in enumerate(spec.states)}
    steps, visited = _steps(spec, trace)
    nodes = tuple(
        _node(state, ids[state.name], spec, state_marks, state.name in visited)
        for state in spec.states
    )
    if unbounded:
        nodes = tuple(replace(n, unbounded=n.name in unbounded) for n in nodes)
    edges = tuple(
        _edge(t, f"e{i}", ids, edge_marks, tuple(steps.get(i, ())))
        for i, t in enumerate(spec.transitions)
        if t.source in ids and t.target in ids
    )
    by_stage: dict[str, list[Node]] = defaultdict(list)
    for node in nodes:
        if node.stage is not None:
            by_stage[node.stage].append(node)
    stages = tuple(
        Stage(f"cluster_{i}", name, tuple(members))
        for i, (name, members) in enumerate(by_stage.items())
    )
    return Diagram(
        machine=spec.machine,
        source=spec.file,
        sha256=spec.sha256,
        description=spec.description,
        nodes=nodes,
        edges=edges,
        stages=stages,
        loose=tuple(n for n in nodes if n.stage is None),
        initial=ids.get(spec.initial, ""),
        findings=ordered,
        trace=None if trace is None else _trace_title(trace),
    )


def _trace_title(finding: Finding) -> str:
    cycle = f", then {len(finding.cycle)} for ever" if finding.cycle else ""
    return f"counterexample: {len(finding.trace)} steps{cycle}. {finding.message}"


def _steps(spec: Spec, trace: Finding | None) -> tuple[dict[int, list[str]], set[str]]:
    """The step numbers of each transition (by position) the counterexample takes, and the
    states it passes."""
    if trace is None:
        return {}, set()
    found: dict[int, list[str]] = defaultdict(list)
    state = spec.initial
    visited = {state}
    walk: list[tuple[TraceStep, str]] = [(step, "") for step in trace.trace]
    walk += [(step, "\u21bb") for step in trace.cycle]
    for number, (step, mark) in enumerate(walk, start=1):
        for i, t in enumerate(spec.transitions):
            if (t.source, t.trigger, t.target) == (state, step.trigger, step.target) and (
                t.location == step.location
            ):
                found[i].append(f"{mark}{number}")
                break
        state = step.target
        visited.add(state)
    return found, visited


def _node(
    state: State, node_id: str, spec: Spec, marks: dict[str, list[Mark]], traced: bool = False
) -> Node:
    return Node(
        id=node_id,
        name=state.name,
        kind=state.kind,
        final=state.final,
        initial=state.name == spec.initial,
        stage=state.stage,
        description=state.description,
        reviewers=state.reviewers,
        marks=tuple(marks.get(state.name, ())),
        traced=traced,
    )


def _edge(
    transition: Transition,
    edge_id: str,
    ids: dict[str, str],
    marks: dict[TransitionRef, list[Mark]],
    steps: tuple[str, ...] = (),
) -> Edge:
    return Edge(
        id=edge_id,
        source=ids[transition.source],
        target=ids[transition.target],
        trigger=transition.trigger,
        kind=edge_kind(transition),
        after=transition.after.text if transition.after else None,
        reason=transition.reason,
        description=transition.description,
        marks=tuple(marks.get(TransitionRef.of(transition), ())),
        guard=None if transition.when is None else transition.when.text,
        effects="; ".join(map(str, transition.effects)) or None,
        steps=steps,
    )


def collapse_stages(diagram: Diagram) -> Diagram:
    """The overview of ``diagram``: each stage one node (its states' marks on it, its
    states named in its description), the states in no stage as they are, and one edge
    per pair of nodes the transitions between them join (their triggers listed, their
    marks kept); the transitions inside a stage are left out.

    A large machine drawn whole is too wide to read on a page (``diagram --collapse
    stages``, and the docs site shows it above the full diagram)."""
    loose = {n.id for n in diagram.loose}
    group = {n: n for n in loose}
    nodes: list[Node] = []
    for stage in diagram.stages:
        first = stage.nodes[0]
        for member in stage.nodes:
            group[member.id] = first.id
        kinds = {n.kind for n in stage.nodes}
        nodes.append(
            Node(
                id=first.id,
                name=stage.name,
                kind=kinds.pop() if len(kinds) == 1 else None,
                final=all(n.final for n in stage.nodes),
                initial=any(n.initial for n in stage.nodes),
                stage=None,
                description="states: " + ", ".join(n.name for n in stage.nodes),
                reviewers=(),
                marks=tuple(dict.fromkeys(m for n in stage.nodes for m in n.marks)),
                traced=any(n.traced for n in stage.nodes),
                unbounded=any(n.unbounded for n in stage.nodes),
                members=tuple(n.name for n in stage.nodes),
            )
        )
    order = {n.id: i for i, n in enumerate(diagram.nodes)}
    nodes.extend(diagram.loose)
    nodes.sort(key=lambda n: order[n.id])
    joined: dict[tuple[str, str], list[Edge]] = defaultdict(list)
    for edge in diagram.edges:
        source, target = group[edge.source], group[edge.target]
        if source != target or edge.source in loose:  # a loose state's loop is kept
            joined[(source, target)].append(edge)
    edges = tuple(
        _joined(f"e{i}", source, target, members)
        for i, ((source, target), members) in enumerate(joined.items())
    )
    return replace(
        diagram,
        nodes=tuple(nodes),
        edges=edges,
        stages=(),
        loose=tuple(nodes),
        initial=group.get(diagram.initial, diagram.initial),
    )


def _joined(edge_id: str, source: str, target: str, members: list[Edge]) -> Edge:
    """One edge for the transitions ``members`` between two nodes of an overview: their
    triggers (the first two, and how many more), without guards and effects."""
    if len(members) == 1:
        only = members[0]  # its guard and effects are in the full diagram
        return replace(only, id=edge_id, source=source, target=target, guard=None, effects=None)
    kinds = {e.kind for e in members}
    triggers = list(dict.fromkeys(e.trigger for e in members))
    shown = ", ".join(triggers[:2]) + (f" +{len(triggers) - 2}" if len(triggers) > 2 else "")
    return Edge(
        id=edge_id,
        source=source,
        target=target,
        trigger=shown,
        kind=kinds.pop() if len(kinds) == 1 else EdgeKind.TRIGGER,
        after=None,
        reason=None,
        description=f"{len(members)} transitions: " + ", ".join(triggers),
        marks=tuple(dict.fromkeys(m for e in members for m in e.marks)),
        steps=tuple(s for e in members for s in e.steps),
    )
