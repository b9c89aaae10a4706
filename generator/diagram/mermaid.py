"""The Mermaid view of a diagram: ``stateDiagram-v2`` text from ``diagram.mmd.jinja``.

Mermaid draws every transition the same way, so the kind of an edge is carried by its
label (``☺`` for a human decision, ``after 72h`` for a timed one, ``always`` for an
automatic one, ``⇒ REASON`` for a failure's reason code, ``⚠ rule-id`` for a finding);
states get a class per kind (``classDef``), stages become composite states and findings
become notes. Every text from the spec is written with Mermaid's ``#NN;`` entity codes
for the characters its grammar reserves, so any name or description renders literally.
"""

from __future__ import annotations

from dataclasses import dataclass

from statewright.generator.diagram.dot import (
    HUMAN_SIGN,
    MARK_COLOURS,
    MARK_SIGN,
    REASON_SIGN,
    TRACE_COLOUR,
    UNBOUNDED_COLOUR,
    UNBOUNDED_SIGN,
    UNBOUNDED_TEXT,
)
from statewright.generator.diagram.model import (
    Diagram,
    Edge,
    EdgeKind,
    Mark,
    Node,
    worst_severity,
)
from statewright.generator.env import environment
from statewright.verify.printable import printable

__all__ = ["MermaidView", "mermaid_text", "mermaid_view", "render_mermaid"]

# Characters Mermaid's state-diagram grammar or its HTML labels give a meaning to.
_RESERVED = {ord(c): f"#{ord(c)};" for c in '#"%&:;<>[]{}|\\`'}


def mermaid_text(text: str) -> str:
    """``text`` as Mermaid label text: one line, control characters as their escapes
    (``\\x01``), reserved characters as entity codes."""
    return printable(" ".join(text.split())).translate(_RESERVED)


@dataclass(frozen=True, slots=True)
class MermaidState:
    id: str
    label: str
    details: str
    note: str | None


@dataclass(frozen=True, slots=True)
class MermaidStage:
    id: str
    label: str
    states: tuple[MermaidState, ...]


@dataclass(frozen=True, slots=True)
class MermaidEdge:
    source: str
    target: str
    label: str


@dataclass(frozen=True, slots=True)
class MermaidClass:
    """A ``classDef`` and the state ids it is applied to (comma-separated)."""

    name: str
    style: str
    members: str


@dataclass(frozen=True, slots=True)
class MermaidView:
    """What ``diagram.mmd.jinja`` prints."""

    header: str
    stages: tuple[MermaidStage, ...]
    states: tuple[MermaidState, ...]
    initial: str
    finals: tuple[str, ...]
    edges: tuple[MermaidEdge, ...]
    classes: tuple[MermaidClass, ...]
    legend: tuple[MermaidState, ...]
    legend_note: str


def _marks(marks: tuple[Mark, ...]) -> list[str]:
    return list(dict.fromkeys(f"{MARK_SIGN} {mermaid_text(m.rule)}" for m in marks))


def _state(node: Node) -> MermaidState:
    marks = _marks(node.marks)
    if node.unbounded:
        marks.append(mermaid_text(f"{UNBOUNDED_SIGN} {UNBOUNDED_TEXT}"))
    return MermaidState(
        id=node.id,
        label=mermaid_text(node.name),
        details=mermaid_text(node.details),
        note="<br/>".join(marks) if marks else None,
    )


def _edge(edge: Edge) -> MermaidEdge:
    parts = [mermaid_text(edge.trigger)]
    if edge.kind is EdgeKind.HUMAN:
        parts.insert(0, HUMAN_SIGN)
    if edge.steps:
        parts.insert(0, mermaid_text(f"step {', '.join(edge.steps)}:"))
    if edge.guard is not None:
        parts.append(mermaid_text(f"[{edge.guard}]"))
    if edge.effects is not None:
        parts.append(mermaid_text(f"/ {edge.effects}"))
    if edge.after is not None:
        parts.append(f"after {mermaid_text(edge.after)}")
    if edge.reason is not None:
        parts.append(f"{REASON_SIGN} {mermaid_text(edge.reason)}")
    parts.extend(_marks(edge.labelled_marks))
    return MermaidEdge(edge.source, edge.target, " ".join(parts))


def _classes(diagram: Diagram) -> tuple[MermaidClass, ...]:
    classes = [
        MermaidClass(
            style.name,
            f"fill:{style.fill},stroke:{style.stroke},color:#111827",
            ",".join([*(n.id for n in diagram.nodes if n.kind is kind), f"legend_{style.name}"]),
        )
        for kind, style in diagram.legend_kinds
    ]
    classes.append(
        MermaidClass("final", "stroke-width:4px", ",".join(n.id for n in diagram.nodes if n.final))
    )
    for severity, colour in MARK_COLOURS.items():
        worst = [n.id for n in diagram.nodes if n.marks and worst_severity(n.marks) is severity]
        classes.append(
            MermaidClass(f"{severity}_mark", f"stroke:{colour},stroke-width:4px", ",".join(worst))
        )
    traced = ",".join(n.id for n in diagram.nodes if n.traced)
    if traced:
        classes.append(MermaidClass("traced", f"stroke:{TRACE_COLOUR},stroke-width:4px", traced))
    classes.append(
        MermaidClass(
            "unreachable",
            "stroke-dasharray:6 4",
            ",".join(n.id for n in diagram.nodes if n.unreachable),
        )
    )
    unbounded = ",".join(n.id for n in diagram.nodes if n.unbounded)
    if unbounded:
        classes.append(
            MermaidClass("unbounded", f"stroke:{UNBOUNDED_COLOUR},stroke-width:3px", unbounded)
        )
    return tuple(classes)


def mermaid_view(diagram: Diagram) -> MermaidView:
    """The finished view model of ``diagram`` for ``diagram.mmd.jinja``."""
    states = {n.id: _state(n) for n in diagram.nodes}
    return MermaidView(
        header=diagram.header,
        stages=tuple(
            MermaidStage(
                f"stage{i}",
                mermaid_text(f"stage {stage.name}"),
                tuple(states[n.id] for n in stage.nodes),
            )
            for i, stage in enumerate(diagram.stages)
        ),
        states=tuple(states[n.id] for n in diagram.loose),
        initial=diagram.initial,
        finals=tuple(n.id for n in diagram.nodes if n.final),
        edges=tuple(_edge(e) for e in diagram.edges),
        classes=_classes(diagram),
        legend=tuple(
            MermaidState(f"legend_{style.name}", style.name, mermaid_text(style.meaning), None)
            for _, style in diagram.legend_kinds
        ),
        legend_note=_legend_note(diagram),
    )


def _legend_note(diagram: Diagram) -> str:
    """What the signs and styles the diagram uses mean, in one line."""
    used = diagram.edge_kinds
    parts = [
        (EdgeKind.HUMAN in used, f"{HUMAN_SIGN} human decision"),
        (EdgeKind.TIMED in used, "'after' timed"),
        (EdgeKind.AUTOMATIC in used, "'always' automatic"),
        (diagram.has_reasons, f"{REASON_SIGN} reason code"),
        (bool(diagram.mark_severities), f"{MARK_SIGN} finding"),
        (diagram.has_final, "thick border final"),
        (diagram.has_unreachable, "dashed border unreachable"),
        (diagram.has_unbounded, f"{UNBOUNDED_SIGN} no bound on a run's time"),
    ]
    return mermaid_text(", ".join(text for shown, text in parts if shown))


def render_mermaid(diagram: Diagram) -> str:
    """The Mermaid ``stateDiagram-v2`` text of ``diagram``."""
    return environment().get_template("diagram.mmd.jinja").render(view=mermaid_view(diagram))
