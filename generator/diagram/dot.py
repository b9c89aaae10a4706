"""The Graphviz view of a diagram: DOT text from ``diagram.dot.jinja``, and images from it.

Every label, colour and escaped string is computed here; the template only loops and
prints. Labels are Graphviz HTML-like labels (``label=<...>``), so state names and
triggers are XML-escaped; tooltips are quoted strings, escaped for DOT. Images are
rendered by the real ``dot`` executable through the ``graphviz`` package; when ``dot``
cannot be run, :class:`DotMissing` says which package to install.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import graphviz

from statewright.generator.diagram.model import (
    Diagram,
    Edge,
    EdgeKind,
    FindingGroup,
    Mark,
    Node,
    kind_style,
    worst_severity,
)
from statewright.generator.env import environment
from statewright.verify.findings import Severity
from statewright.verify.model import Kind
from statewright.verify.printable import printable

__all__ = ["IMAGE_FORMATS", "DotMissing", "dot_view", "render_dot", "render_image"]

IMAGE_FORMATS = ("svg", "png")

FONT = "DejaVu Sans"
MARK_COLOURS = {Severity.ERROR: "#dc2626", Severity.WARNING: "#ea580c"}
MARK_SIGN = "\u26a0"  # warning sign
HUMAN_SIGN = "\u263a"  # smiling face: a person acts
REASON_SIGN = "\u21d2"  # rightwards double arrow: the failure's reason code
GUARD_COLOUR = "#0f766e"  # a guard and the effects of a transition
TRACE_COLOUR = "#c026d3"  # the highlighted counterexample
UNBOUNDED_SIGN = "\u29d6"  # hourglass: a run's time has no bound here
UNBOUNDED_COLOUR = "#b45309"  # the states where a run's time has no bound
UNBOUNDED_TEXT = "no time bound"

_SHAPES: dict[Kind | None, str] = {
    Kind.APPROVAL: "hexagon",
    Kind.WAITING: "parallelogram",
    Kind.FAILED: "octagon",
}
_PENWIDTHS: dict[Kind | None, str] = {Kind.APPROVAL: "2.5", Kind.WAITING: "2", Kind.FAILED: "2"}


@dataclass(frozen=True, slots=True)
class EdgeStyle:
    """How one kind of edge is drawn, and how the legend shows it."""

    colour: str
    style: str
    penwidth: str
    sample: str
    meaning: str


EDGE_STYLES: dict[EdgeKind, EdgeStyle] = {
    EdgeKind.TRIGGER: EdgeStyle("#374151", "solid", "1.2", "\u2500\u2500\u25b6", "trigger"),
    EdgeKind.HUMAN: EdgeStyle(
        "#1d4ed8", "bold", "2.2", f"{HUMAN_SIGN} \u2501\u2501\u25b6", "human decision"
    ),
    EdgeKind.TIMED: EdgeStyle(
        "#7c3aed", "dashed", "1.5", "\u254c\u254c\u25b6 after 72h", "timed: fires after a delay"
    ),
    EdgeKind.AUTOMATIC: EdgeStyle(
        "#6b7280", "dotted", "1.5", "\u2504\u2504\u25b6 always", "automatic, on entry"
    ),
}


class DotMissing(RuntimeError):
    """The Graphviz ``dot`` executable cannot be run."""

    def __init__(self) -> None:
        super().__init__(
            "the Graphviz 'dot' executable was not found; install it "
            "(Debian/Ubuntu: apt-get install graphviz) or use --format dot or mermaid"
        )


@dataclass(frozen=True, slots=True)
class DotNode:
    id: str
    label: str
    tooltip: str
    shape: str
    style: str
    fill: str
    stroke: str
    penwidth: str
    peripheries: int


@dataclass(frozen=True, slots=True)
class DotEdge:
    source: str
    target: str
    label: str
    tooltip: str
    style: str
    colour: str
    penwidth: str


@dataclass(frozen=True, slots=True)
class DotCluster:
    id: str
    label: str
    nodes: tuple[DotNode, ...]


@dataclass(frozen=True, slots=True)
class LegendRow:
    """A legend line: a sample (HTML) on a background colour, and what it means."""

    sample: str
    background: str
    meaning: str


@dataclass(frozen=True, slots=True)
class FindingRow:
    colour: str
    rule: str
    text: str


@dataclass(frozen=True, slots=True)
class DotView:
    """What ``diagram.dot.jinja`` prints."""

    header: str
    name: str
    title: str
    font: str
    clusters: tuple[DotCluster, ...]
    nodes: tuple[DotNode, ...]
    edges: tuple[DotEdge, ...]
    initial: str
    state_legend: tuple[LegendRow, ...]
    edge_legend: tuple[LegendRow, ...]
    findings: tuple[FindingRow, ...]
    trace: str | None = None


def html(text: str) -> str:
    """``text`` for a Graphviz HTML-like label: XML-escaped, on one line.

    Graphviz still expands backslash escapes in HTML-like labels (``\\N`` is the node
    id), so backslashes are doubled. A control character, which XML does not allow even
    as a character reference, is shown as its escape (``\\x01``).
    """
    text = printable(" ".join(text.split()))
    return (
        text.replace("\\", "\\\\")
        .replace("&", "&amp;")
        .replace("<", "&lt;")
        .replace(">", "&gt;")
        .replace('"', "&quot;")
    )


def quoted(text: str) -> str:
    """``text`` for a quoted DOT attribute such as ``tooltip`` (no quotes around it).

    Graphviz expands backslash escapes in tooltips twice (``\\N`` is the node name), and
    keeps anything that looks like an XML entity, so backslashes are doubled twice and
    ``&`` is written as a character reference. Line breaks stay line breaks; any other
    control character is shown as its escape (``\\x01``), as XML cannot hold it.
    """
    lines = text.replace("\r\n", "\n").split("\n")
    return (
        "\n".join(map(printable, lines))
        .replace("\\", "\\\\\\\\")
        .replace('"', '\\"')
        .replace("&", "&#38;")
        .replace("\r\n", "\n")
        .replace("\n", "\\n")
    )


def _font(text: str, colour: str | None = None, size: int | None = None) -> str:
    attrs = (f' COLOR="{colour}"' if colour else "") + (f' POINT-SIZE="{size}"' if size else "")
    return f"<FONT{attrs}>{text}</FONT>"


def _mark_lines(marks: tuple[Mark, ...]) -> list[str]:
    return [
        _font(f"{MARK_SIGN} {html(m.rule)}", MARK_COLOURS[m.severity], 10)
        for m in dict.fromkeys(Mark(m.rule, m.severity, "") for m in marks)
    ]


def _worst(marks: tuple[Mark, ...]) -> str:
    return MARK_COLOURS[worst_severity(marks)]


def _tooltip(head: str, description: str | None, marks: tuple[Mark, ...]) -> str:
    lines = [head]
    if description:
        lines.append(description)
    lines.extend(f"{m.severity}[{m.rule}] {m.message}" for m in marks)
    return quoted("\n".join(lines))


def _node(node: Node) -> DotNode:
    style = kind_style(node.kind)
    lines = [f"<B>{html(node.name)}</B>"]
    if node.details:
        lines.append(_font(html(node.details), style.stroke, 10))
    lines.extend(_mark_lines(node.marks))
    if node.unbounded:
        lines.append(_font(f"{UNBOUNDED_SIGN} {UNBOUNDED_TEXT}", UNBOUNDED_COLOUR, 10))
    shape = _SHAPES.get(node.kind, "box")
    styles = ["rounded"] if shape == "box" else []
    styles.append("filled")
    if node.unreachable:
        styles.append("dashed")
    marked = bool(node.marks)
    stroke = _worst(node.marks) if marked else TRACE_COLOUR if node.traced else style.stroke
    return DotNode(
        id=node.id,
        label="<BR/>".join(lines),
        tooltip=_tooltip(node.name, node.description, node.marks),
        shape=shape,
        style=",".join(styles),
        fill=style.fill,
        stroke=stroke,
        penwidth="4" if marked or node.traced else _PENWIDTHS.get(node.kind, "1.2"),
        peripheries=2 if node.final else 1,
    )


def _edge(edge: Edge, names: dict[str, str]) -> DotEdge:
    look = EDGE_STYLES[edge.kind]
    trigger = html(edge.trigger)
    if edge.kind is EdgeKind.HUMAN:
        trigger = f"{HUMAN_SIGN} {trigger}"
    lines = [_font(trigger, look.colour)]
    if edge.steps:
        lines.insert(0, _font(f"<B>step {html(', '.join(edge.steps))}</B>", TRACE_COLOUR, 10))
    if edge.guard is not None:
        lines.append(_font(f"[{html(edge.guard)}]", GUARD_COLOUR, 10))
    if edge.effects is not None:
        lines.append(_font(f"/ {html(edge.effects)}", GUARD_COLOUR, 10))
    if edge.after is not None:
        lines.append(_font(f"after {html(edge.after)}", EDGE_STYLES[EdgeKind.TIMED].colour, 10))
    if edge.reason is not None:
        failed = kind_style(Kind.FAILED).stroke
        lines.append(_font(f"{REASON_SIGN} {html(edge.reason)}", failed, 10))
    lines.extend(_mark_lines(edge.labelled_marks))
    marked = bool(edge.marks)
    head = f"{names[edge.source]} \u2192 {names[edge.target]} on {edge.trigger}"
    colour = TRACE_COLOUR if edge.steps else _worst(edge.marks) if marked else look.colour
    return DotEdge(
        source=edge.source,
        target=edge.target,
        label="<BR/>".join(lines),
        tooltip=_tooltip(head, edge.description, edge.marks),
        style=look.style,
        colour=colour,
        penwidth="3.5" if marked or edge.steps else look.penwidth,
    )


def _state_legend(diagram: Diagram) -> tuple[LegendRow, ...]:
    rows = [
        LegendRow(
            _font(html(style.name), style.stroke)
            + (f" ({_SHAPES[kind]})" if kind in _SHAPES else ""),
            style.fill,
            style.meaning,
        )
        for kind, style in diagram.legend_kinds
    ]
    if diagram.has_final:
        rows.append(LegendRow("double border", "#ffffff", "final state"))
    rows.append(LegendRow("\u25cf\u2500\u25b6", "#ffffff", "initial state"))
    if diagram.has_unreachable:
        rows.append(LegendRow("dashed border", "#ffffff", "unreachable state"))
    if diagram.has_unbounded:
        sample = _font(f"{UNBOUNDED_SIGN} {UNBOUNDED_TEXT}", UNBOUNDED_COLOUR)
        rows.append(LegendRow(sample, "#ffffff", "a run can wait here for ever, or repeat"))
    return tuple(rows)


def _edge_legend(diagram: Diagram) -> tuple[LegendRow, ...]:
    rows = [
        LegendRow(_font(html(look.sample), look.colour), "#ffffff", look.meaning)
        for kind, look in EDGE_STYLES.items()
        if kind in diagram.edge_kinds
    ]
    if any(e.guard is not None or e.effects is not None for e in diagram.edges):
        rows.append(
            LegendRow(_font("[guard]", GUARD_COLOUR), "#ffffff", "taken only while it holds")
        )
        rows.append(LegendRow(_font("/ x = ...", GUARD_COLOUR), "#ffffff", "effects on variables"))
    if diagram.trace is not None:
        rows.append(
            LegendRow(_font("<B>step 1</B>", TRACE_COLOUR), "#ffffff", "counterexample step")
        )
    if diagram.has_reasons:
        failed = kind_style(Kind.FAILED).stroke
        rows.append(LegendRow(_font(f"{REASON_SIGN} REASON", failed), "#ffffff", "reason code"))
    rows.extend(
        LegendRow(_font(f"{MARK_SIGN} rule-id", colour), "#ffffff", f"{severity} found by check")
        for severity, colour in MARK_COLOURS.items()
        if severity in diagram.mark_severities
    )
    if diagram.has_marked_edges:
        thick = "\u2501\u2501\u25b6"
        error = MARK_COLOURS[Severity.ERROR]
        rows.append(LegendRow(_font(thick, error), "#ffffff", "transition a finding names"))
    return tuple(rows)


def _finding_row(group: FindingGroup) -> FindingRow:
    count = f" \u00d7{group.count}" if group.count > 1 else ""
    subjects = [
        html(", ".join(group.subjects[i : i + 4])) for i in range(0, len(group.subjects), 4)
    ]
    return FindingRow(
        MARK_COLOURS[group.severity],
        html(f"{group.severity}[{group.rule}]{count}"),
        "<BR/>    ".join(subjects),
    )


def dot_view(diagram: Diagram) -> DotView:
    """The finished view model of ``diagram`` for ``diagram.dot.jinja``."""
    names = {n.id: n.name for n in diagram.nodes}
    dot_nodes = {n.id: _node(n) for n in diagram.nodes}
    source = diagram.source
    return DotView(
        header=diagram.header,
        name=quoted(diagram.machine),
        title=f"<B>{html(diagram.machine)}</B>  " + _font(html(source), "#4b5563", 11),
        font=FONT,
        clusters=tuple(
            DotCluster(
                stage.id,
                _font(f"stage <B>{html(stage.name)}</B>", "#4b5563"),
                tuple(dot_nodes[n.id] for n in stage.nodes),
            )
            for stage in diagram.stages
        ),
        nodes=tuple(dot_nodes[n.id] for n in diagram.loose),
        edges=tuple(_edge(e, names) for e in diagram.edges),
        initial=diagram.initial,
        state_legend=_state_legend(diagram),
        edge_legend=_edge_legend(diagram),
        findings=tuple(_finding_row(g) for g in diagram.finding_groups),
        trace=None if diagram.trace is None else _font(html(diagram.trace), TRACE_COLOUR, 11),
    )


def render_dot(diagram: Diagram) -> str:
    """The DOT text of ``diagram``."""
    return environment().get_template("diagram.dot.jinja").render(view=dot_view(diagram))


_VERSION_COMMENT = re.compile(rb"<!-- Generated by graphviz version [^>]*-->\n")


def render_image(dot_text: str, fmt: str) -> bytes:
    """``dot_text`` rendered by Graphviz as ``svg`` or ``png`` bytes.

    The SVG's Graphviz version comment is dropped so that the output depends on the
    drawing alone. Raises :class:`DotMissing` when ``dot`` cannot be run.
    """
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"unknown image format {fmt!r}; expected one of {IMAGE_FORMATS}")
    try:
        data: bytes = graphviz.Source(dot_text).pipe(format=fmt)
    except graphviz.ExecutableNotFound as error:
        raise DotMissing() from error
    if fmt == "svg":
        data = _VERSION_COMMENT.sub(b"", data)
    return data
