"""``statewright diagram SPEC``: draw one spec, with its findings marked.

An ASL definition is drawn as the machine it maps to; ``FILE#PART`` draws one of its
Parallel branches or Map iterators (``order.asl.json#Fan out/branch0``), as ``check``
names them.

``--trace NAME`` highlights a counterexample: the violation of the property ``NAME`` (or
the first finding of the rule ``NAME`` that carries a trace), its steps numbered on the
edges they take and the states it passes outlined; when there is none, nothing is drawn
and the exit status is 1.

``--collapse stages`` draws an overview: each stage (the states that share a ``stage:``)
one node, with the transitions between stages; the transitions inside a stage are left
out. A spec that names no stages is a usage error.

``--unbounded`` marks the states where a run's time has no bound (a run can wait there
for ever, or go round a cycle through them:
:func:`~statewright.verify.explore.timing.unbounded_states`), with a legend entry; it is
asked for, not drawn by default, since most specs end in a state that waits for a
person on purpose.

Output choices of ``diagram``: the format is ``--format``, or else the one the ending of
``-o FILE`` names (``.svg``, ``.png``, ``.dot`` or ``.gv``, ``.mmd`` or ``.mermaid``), or
else ``svg``; a file ending that names no format, or another format than ``--format``,
is a usage error, never a file of one format under another's name. Text formats
(``dot``, ``mermaid``, ``svg``) go to standard output unless ``-o`` names a file; ``png``
is binary, so without ``-o`` it is written to ``<machine>.png`` in the current folder and
that path is printed. Exit status
0 when the diagram was written (whatever the spec's findings), 1 when the spec does not
load (its findings are printed on standard error), 2 for a usage problem: a missing spec
path, an unknown format, an unwritable output, or no Graphviz ``dot`` for svg or png.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from statewright.generator.commands import PROGRESS, Command
from statewright.generator.commands.inputs import (
    InputFormat,
    asl_options,
    check_paths,
    input_arguments,
    reads_asl,
)
from statewright.generator.diagram import (
    FORMATS,
    SUFFIXES,
    DotMissing,
    file_endings,
    format_of,
    render_format,
)
from statewright.generator.diagram.model import build_diagram, collapse_stages
from statewright.generator.output import Refused, write_tree
from statewright.verify.analysis import Analysis
from statewright.verify.check import CheckResult, check_file
from statewright.verify.explore.timing import unbounded_states
from statewright.verify.findings import Finding
from statewright.verify.load.asl import AslOptions
from statewright.verify.model import Spec
from statewright.verify.printable import printable_path

__all__ = ["COMMAND", "counterexample", "diagram_command"]

_PROG = "statewright diagram"


def diagram_command(
    spec_path: Path,
    fmt: str | None,
    output: Path | None,
    *,
    stdout: TextIO,
    stderr: TextIO,
    source: InputFormat = InputFormat.AUTO,
    asl: AslOptions | None = None,
    trace: str | None = None,
    unbounded: bool = False,
    collapse: str | None = None,
) -> int:
    """Draw the spec at ``spec_path`` as ``fmt`` into ``output`` (see the module doc); no
    ``fmt``: the format ``output``'s file ending names, else ``svg``; with ``trace`` (a
    property's name, or a rule id), its counterexample highlighted; with ``unbounded``,
    the states where a run's time has no bound marked; with ``collapse`` (``stages``),
    each stage drawn as one node (:func:`collapse_stages`)."""
    chosen = _format(fmt, output)
    if chosen not in FORMATS:
        return _usage(stderr, chosen)
    fmt = chosen
    spec_path, part = _split_part(spec_path)
    if spec_path.is_dir():
        return _usage(stderr, f"{spec_path} is a folder; name one spec file")
    if not spec_path.exists():
        return _usage(stderr, f"no such file: {spec_path}")
    if not spec_path.is_file():
        return _usage(stderr, f"{spec_path} is not a regular file; name one spec file")
    if not reads_asl(spec_path, source):
        if part:
            return _usage(stderr, f"#{part}: only an ASL definition has parts")
        checked = check_file(spec_path)
    else:
        found = _asl_machine(spec_path, part, source, asl or AslOptions())
        if isinstance(found, str):
            return _usage(stderr, found)
        checked = found
    if checked.spec is None:
        for finding in checked.findings:
            print(finding.format(), file=stderr)
        print(f"{_PROG}: {spec_path} does not load; nothing drawn", file=stderr)
        return 1
    drawn = None
    if trace is not None:
        named = counterexample(checked, trace)
        if isinstance(named, str):
            print(f"{_PROG}: {named}", file=stderr)
            return 1
        drawn = named
    marked = _unbounded(checked.spec) if unbounded else frozenset()
    diagram = build_diagram(checked.spec, checked.findings, drawn, marked)
    if collapse == "stages":
        if not diagram.stages:
            return _usage(stderr, f"--collapse stages: {spec_path} names no stages")
        diagram = collapse_stages(diagram)
    try:
        data = render_format(diagram, fmt)
    except DotMissing as error:
        return _usage(stderr, str(error))
    if output is None and fmt != "png":
        stdout.write(data.decode())
        return 0
    target = output or Path(f"{checked.spec.machine}{SUFFIXES[fmt]}")
    if not target.parent.is_dir():
        folder = printable_path(str(target.parent))
        return _usage(stderr, f"cannot write {printable_path(str(target))}: no folder {folder}")
    try:  # the one writer: never through a link, never half written
        write_tree(target.parent, {target.name: data})
    except Refused as refused:
        return _usage(stderr, "; ".join(refused.problems))
    if output is None:
        print(target, file=stdout)
    return 0


def counterexample(checked: CheckResult, name: str) -> Finding | str:
    """The finding with a trace that ``--trace NAME`` names: the violation of the property
    ``NAME``, or the first finding of the rule ``NAME`` that carries one; else why not."""
    spec = checked.spec
    assert spec is not None
    named = [p for p in spec.properties if p.name == name]
    for finding in checked.findings:
        if not (finding.trace or finding.cycle):
            continue
        if named and finding.rule == "property-violated":
            if finding.location == named[0].location:
                return finding
        elif finding.rule == name:
            return finding
    if named:
        return f"property {name} holds: there is no counterexample to draw"
    properties = ", ".join(p.name for p in spec.properties) or "none"
    return (
        f"--trace {name}: no property of that name (properties: {properties}) and no finding "
        "of that rule with a counterexample"
    )


def _format(fmt: str | None, output: Path | None) -> str:
    """The format to draw in, or a usage message (not one of :data:`FORMATS`)."""
    if fmt is not None and fmt not in FORMATS:
        return f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}"
    named = None if output is None else format_of(output)
    if fmt is None and output is not None and named is None:
        return (
            f"cannot tell the format from the name {output.name!r}; end it with one of "
            f"{file_endings()}, or give --format"
        )
    if fmt is not None and named is not None and named != fmt:
        return (
            f"-o {output} names a {named} file but --format is {fmt}; "
            f"leave out --format, or end the name with {SUFFIXES[fmt]}"
        )
    return fmt or named or FORMATS[0]


def _split_part(path: Path) -> tuple[Path, str]:
    """``file.asl.json#Fan out/branch0`` -> the file and the part (one of its machines)."""
    text = str(path)
    if path.exists() or "#" not in text:
        return path, ""
    file, part = text.split("#", 1)
    return Path(file), part


def _asl_machine(
    path: Path, part: str, source: InputFormat, options: AslOptions
) -> CheckResult | str:
    """The checked machine ``part`` of the ASL file (the state machine itself for no
    part), or a usage error."""
    checked = check_paths([path], source, options)
    problem = checked.usage_problem()
    if problem is not None:
        return problem
    wanted = f"{path}#{part}" if part else str(path)
    for result in checked.results:
        if result.file == wanted:
            return result
    parts = [r.file.partition("#")[2] for r in checked.results[1:]]
    return f"{path} has no part {part!r}; its parts: {', '.join(parts) or 'none'}"


def _usage(stderr: TextIO, message: str) -> int:
    print(f"{_PROG}: {message}", file=stderr)
    return 2


# --- the command ---------------------------------------------------------------------------


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "spec",
        type=Path,
        metavar="SPEC",
        help="the spec file, or an ASL definition (FILE#PART: one of its branches)",
    )
    parser.add_argument(
        "--format",
        choices=["svg", "dot", "mermaid", "png"],
        default=None,
        help="what to draw (default: the format -o FILE's ending names, else svg)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the diagram to FILE, replacing it (default: standard output; png: "
        "<machine>.png)",
    )
    parser.add_argument(
        "--trace",
        default=None,
        metavar="NAME",
        help="highlight the counterexample of the property NAME (or of the first finding of "
        "the rule NAME that has one): its steps numbered on the edges they take",
    )
    parser.add_argument(
        "--unbounded",
        action="store_true",
        help="mark the states where a run's time has no bound: a run can wait there for "
        "ever (no after exit) or go round a cycle through them (not for an ASL definition)",
    )
    parser.add_argument(
        "--collapse",
        choices=["stages"],
        default=None,
        help="stages: draw each stage as one node, with the transitions between stages "
        "(an overview of a large machine)",
    )
    input_arguments(parser)


def _unbounded(spec: Spec) -> frozenset[str]:
    """The states where a run's time has no bound, read from the spec's configurations
    (or its states); none for a machine mapped from ASL, whose time is an execution's."""
    if spec.from_asl:
        return frozenset()
    analysis = Analysis.of(spec)
    timed = analysis.timed
    return frozenset() if timed is None else unbounded_states(spec, timed)


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    asl = asl_options(args)
    return diagram_command(
        args.spec,
        args.format,
        args.output,
        stdout=stdout,
        stderr=stderr,
        source=InputFormat(args.input),
        asl=asl,
        trace=args.trace,
        unbounded=args.unbounded,
        collapse=args.collapse,
    )


COMMAND = Command(
    name="diagram",
    summary="draw a spec, with its findings marked",
    description=(
        "Draw SPEC, or an AWS Step Functions definition (FILE#PART for one of its "
        "branches), with the checker's findings marked on it.",
        "The format is --format, else the one the ending of -o FILE names (.svg, "
        ".png, .dot or .gv, .mmd or .mermaid), else svg. svg, dot and mermaid go to "
        "standard output unless -o names a file; png without -o is written to "
        "<machine>.png in the current folder, and that path is printed. --collapse stages "
        "draws each stage as one node (a spec without stages is a usage error). A spec that "
        "does not load has its findings printed on standard error and is not drawn. " + PROGRESS,
    ),
    exits=(
        (0, "drawn, whatever the spec's findings"),
        (1, "the spec does not load"),
        (
            2,
            "a usage error: no such spec, an unknown format or file ending, an "
            "output that cannot be written, no Graphviz 'dot' for svg or png",
        ),
    ),
    arguments=_arguments,
    run=_run,
)
