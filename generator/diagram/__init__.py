"""Diagrams for design review: what ``statewright diagram`` and ``generate`` write.

One diagram model (:mod:`statewright.generator.diagram.model`) and one renderer per output
(:mod:`statewright.generator.diagram.dot`, :mod:`statewright.generator.diagram.mermaid`).
:func:`diagram_files` gives the DOT, SVG and Mermaid files of a spec for ``generated/``. A spec
that loads can always be drawn: the checker's findings are drawn on it (unreachable
states, dead ends, traps, and the transitions of other findings), so a spec that fails
its checks shows at a glance what is missing.

"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import PurePath

from statewright.generator.diagram.dot import DotMissing, render_dot, render_image
from statewright.generator.diagram.mermaid import render_mermaid
from statewright.generator.diagram.model import Diagram, build_diagram
from statewright.verify.findings import Finding
from statewright.verify.model import Spec

__all__ = [
    "FORMATS",
    "SUFFIXES",
    "DotMissing",
    "diagram_files",
    "file_endings",
    "format_of",
    "marked_svg",
    "render_format",
]

FORMATS = ("svg", "dot", "mermaid", "png")
"""The ``--format`` choices of ``statewright diagram``, the default first."""

SUFFIXES = {"svg": ".svg", "dot": ".dot", "mermaid": ".mmd", "png": ".png"}
"""The file name ending of each format, as ``diagram`` names a file it chooses."""

_FORMAT_OF_SUFFIX = {
    **{suffix: fmt for fmt, suffix in SUFFIXES.items()},
    ".gv": "dot",
    ".mermaid": "mermaid",
}


def format_of(path: PurePath) -> str | None:
    """The format a file name asks for by its ending (case ignored), or None.

    >>> format_of(PurePath("pipeline.PNG")), format_of(PurePath("flow.gv"))
    ('png', 'dot')
    >>> format_of(PurePath("pipeline.jpg")) is None
    True
    """
    return _FORMAT_OF_SUFFIX.get(path.suffix.lower())


def file_endings() -> str:
    """The endings :func:`format_of` knows, for a message: ``.svg, .dot, ...``."""
    return ", ".join(_FORMAT_OF_SUFFIX)


def render_format(diagram: Diagram, fmt: str) -> bytes:
    """``diagram`` in one of :data:`FORMATS`, as bytes (UTF-8 for the text formats).

    Raises :class:`DotMissing` for ``svg`` and ``png`` when Graphviz is not installed.
    """
    if fmt == "dot":
        return render_dot(diagram).encode()
    if fmt == "mermaid":
        return render_mermaid(diagram).encode()
    return render_image(render_dot(diagram), fmt)


def diagram_files(spec: Spec, findings: Iterable[Finding] = ()) -> dict[str, str]:
    """``{"<machine>.dot": ..., "<machine>.svg": ..., "<machine>.mmd": ...}`` for ``spec``.

    Deterministic for a given Graphviz version. Raises :class:`DotMissing` when the
    ``dot`` executable is not installed.
    """
    diagram = build_diagram(spec, findings)
    dot = render_dot(diagram)
    return {
        f"{spec.machine}.dot": dot,
        f"{spec.machine}.svg": marked_svg(render_image(dot, "svg").decode(), dot),
        f"{spec.machine}.mmd": render_mermaid(diagram),
    }


def marked_svg(svg: str, dot: str) -> str:
    """``svg`` with the DOT's first line (the generated mark) as a comment after its XML
    declaration, so that ``generate`` knows the file for its own."""
    declaration, newline, rest = svg.partition("\n")
    mark = dot.partition("\n")[0].removeprefix("//").strip().replace("--", "- -")
    return f"{declaration}{newline}<!-- {mark} -->\n{rest}"
