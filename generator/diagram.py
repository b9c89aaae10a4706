"""Diagrams for design review: what ``statewright diagram`` and ``generate`` write.

:func:`diagram_files` gives the DOT, SVG and Mermaid files of a spec for ``generated/``;
:func:`diagram_command` is the ``diagram`` command behind its argument parsing. A spec
that loads can always be drawn: the checker's findings are drawn on it (unreachable
states, dead ends, traps, and the transitions of other findings), so a spec that fails
its checks shows at a glance what is missing.

Output choices of ``diagram``: text formats (``dot``, ``mermaid``, ``svg``) go to
standard output unless ``-o`` names a file; ``png`` is binary, so without ``-o`` it is
written to ``<machine>.png`` in the current folder and that path is printed. Exit status
0 when the diagram was written (whatever the spec's findings), 1 when the spec does not
load (its findings are printed on standard error), 2 for a usage problem: a missing spec
path, an unknown format, an unwritable output, or no Graphviz ``dot`` for svg or png.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from generator.diagram_dot import DotMissing, render_dot, render_image
from generator.diagram_mermaid import render_mermaid
from generator.diagram_model import Diagram, build_diagram
from verify.check import check_file
from verify.findings import Finding
from verify.model import Spec

__all__ = ["FORMATS", "DotMissing", "diagram_command", "diagram_files", "render_format"]

FORMATS = ("svg", "dot", "mermaid", "png")
"""The ``--format`` choices of ``statewright diagram``, the default first."""

_SUFFIXES = {"svg": ".svg", "dot": ".dot", "mermaid": ".mmd", "png": ".png"}
_PROG = "statewright diagram"


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
        f"{spec.machine}.svg": render_image(dot, "svg").decode(),
        f"{spec.machine}.mmd": render_mermaid(diagram),
    }


def diagram_command(
    spec_path: Path, fmt: str, output: Path | None, *, stdout: TextIO, stderr: TextIO
) -> int:
    """Draw the spec at ``spec_path`` as ``fmt`` into ``output`` (see the module doc)."""
    if fmt not in FORMATS:
        return _usage(stderr, f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if spec_path.is_dir():
        return _usage(stderr, f"{spec_path} is a folder; name one spec file")
    if not spec_path.exists():
        return _usage(stderr, f"no such file: {spec_path}")
    checked = check_file(spec_path)
    if checked.spec is None:
        for finding in checked.findings:
            print(finding.format(), file=stderr)
        print(f"{_PROG}: {spec_path} does not load; nothing drawn", file=stderr)
        return 1
    diagram = build_diagram(checked.spec, checked.findings)
    try:
        data = render_format(diagram, fmt)
    except DotMissing as error:
        return _usage(stderr, str(error))
    if output is None and fmt != "png":
        stdout.write(data.decode())
        return 0
    target = output or Path(f"{checked.spec.machine}{_SUFFIXES[fmt]}")
    try:
        target.write_bytes(data)
    except OSError as error:
        return _usage(stderr, f"cannot write {target}: {error.strerror or error}")
    if output is None:
        print(target, file=stdout)
    return 0


def _usage(stderr: TextIO, message: str) -> int:
    print(f"{_PROG}: {message}", file=stderr)
    return 2
