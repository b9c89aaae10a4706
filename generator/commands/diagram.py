"""``statewright diagram SPEC``: draw one spec, with its findings marked.

Output choices of ``diagram``: text formats (``dot``, ``mermaid``, ``svg``) go to
standard output unless ``-o`` names a file; ``png`` is binary, so without ``-o`` it is
written to ``<machine>.png`` in the current folder and that path is printed. Exit status
0 when the diagram was written (whatever the spec's findings), 1 when the spec does not
load (its findings are printed on standard error), 2 for a usage problem: a missing spec
path, an unknown format, an unwritable output, or no Graphviz ``dot`` for svg or png.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from generator.diagram import FORMATS, SUFFIXES, DotMissing, render_format
from generator.diagram.model import build_diagram
from verify.check import check_file

__all__ = ["diagram_command"]

_PROG = "statewright diagram"


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
    if not spec_path.is_file():
        return _usage(stderr, f"{spec_path} is not a regular file; name one spec file")
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
    target = output or Path(f"{checked.spec.machine}{SUFFIXES[fmt]}")
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
