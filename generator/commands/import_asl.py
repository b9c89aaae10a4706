"""``statewright import asl FILE [-o SPEC.yaml]``: an ASL definition as statewright specs.

The state machine's spec goes to ``-o`` (default: standard output); each Parallel branch
and Map iterator is a machine of its own, written beside it as ``<machine>.yaml`` (so they
need ``-o``). Nothing is overwritten: a file in the way is a usage error and nothing is
written. The files are written all or nothing (:func:`statewright.generator.output.write_tree`):
every path is checked first (no symbolic link, no name too long for the file system, no
two machines of one file name), and a failure leaves the folder as it was. What the
mapping leaves out (the ``asl-not-modelled`` findings) is printed on standard error, so
the import says what it did not carry over. Exit status 0 when written, 1 when the
definition does not load (its findings on standard error), 2 for a usage problem.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from statewright.generator import __version__
from statewright.generator.commands import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, Command, Group
from statewright.generator.commands.inputs import asl_arguments, asl_options
from statewright.generator.output import Output, Refused, collect, path_problems, write_tree
from statewright.generator.spec_yaml import spec_yaml
from statewright.verify.asl import result_name
from statewright.verify.load.asl import AslOptions, Machine, load_asl_file
from statewright.verify.printable import printable_path

__all__ = ["COMMAND", "import_command"]

_PROG = "statewright import"


def import_command(
    source: Path,
    output: Path | None,
    options: AslOptions | None = None,
    *,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Write the specs of the ASL definition at ``source`` (see the module doc)."""
    if source.is_dir() or not source.exists():
        what = "is a folder; name one ASL file" if source.is_dir() else "does not exist"
        return _usage(stderr, f"{printable_path(source.as_posix())} {what}")
    load = load_asl_file(source, options or AslOptions())
    for finding in load.findings:
        stderr.write(finding.format() + "\n")
    if not load.machines:
        stderr.write(
            f"{_PROG}: {printable_path(source.as_posix())} does not load; nothing written\n"
        )
        return EXIT_FINDINGS
    top, *nested = load.machines
    if output is None:
        stdout.write(_text(top, source))
        if nested:
            stderr.write(
                f"{_PROG}: {len(nested)} more machine(s) (branches, iterators) not written; "
                "name a file with -o to write them beside it\n"
            )
        return EXIT_OK
    folder = output.parent
    outputs = [
        Output(output.name, _text(top, source), result_name(str(source), top)),
        *(
            Output(f"{m.spec.machine}.yaml", _text(m, source), result_name(str(source), m))
            for m in nested
        ),
    ]
    try:
        files = collect(outputs)
        problems = path_problems(folder, files)
        in_the_way = [folder / name for name in files if (folder / name).exists()]
        if not problems and in_the_way:
            shown = ", ".join(printable_path(path.as_posix()) for path in in_the_way)
            problems.append(f"not overwriting {shown}")
        if problems:
            raise Refused(problems)
        written = write_tree(folder, files)
    except Refused as refused:
        return _usage(stderr, "; ".join(refused.problems) + "; nothing written")
    for path in written:
        stdout.write(f"wrote {printable_path(path.as_posix())}\n")
    return EXIT_OK


def _text(machine: Machine, source: Path) -> str:
    part = f"#{machine.part}" if machine.part else ""
    header = (
        f"Imported by statewright {__version__} from {source}{part} (Amazon States Language).",
        "Recovery steps are placeholders: replace them with your team's procedures.",
    )
    return spec_yaml(machine.spec, header)


def _usage(stderr: TextIO, message: str) -> int:
    stderr.write(f"{_PROG}: {message}\n")
    return EXIT_USAGE


# --- the command ---------------------------------------------------------------------------


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", type=Path, metavar="FILE", help="the definition to import")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="SPEC",
        help="where to write the spec (default: standard output); branches and iterators "
        "go beside it; never overwritten",
    )
    asl_arguments(parser)


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    asl = asl_options(args)
    return import_command(args.source, args.output, asl, stdout=stdout, stderr=stderr)


_WRITTEN = (
    "Nothing is overwritten: a file in the way is a usage error, and then nothing "
    "is written; so are a symbolic link where a spec goes and a name longer than "
    "the file system allows. The specs are written all or nothing."
)
_EXITS = (
    (0, "written"),
    (1, "the definition does not load (its findings go to standard error)"),
    (
        2,
        "a usage error: no such file, a file in the way, a symbolic link, a name "
        "too long, an unwritable output",
    ),
)

ASL = Command(
    name="import asl",
    summary="an AWS Step Functions definition (Amazon States Language, JSON or YAML)",
    description=(
        "Write the statewright spec of an AWS Step Functions definition (Amazon "
        "States Language). The state machine's spec goes to -o SPEC, or to standard "
        "output; each Parallel branch and Map iterator is a machine of its own, "
        "written beside SPEC as <machine>.yaml. What the mapping cannot express is "
        "listed as info findings on standard error.",
        _WRITTEN,
    ),
    exits=_EXITS,
    arguments=_arguments,
    run=_run,
)

COMMAND = Group(
    name="import",
    summary="write the statewright spec of another format (asl: AWS Step Functions)",
    description=(
        "Write the statewright spec of a definition in another format: 'import asl' "
        "reads an AWS Step Functions definition (Amazon States Language). The spec goes "
        "to -o SPEC, or to standard output.",
        _WRITTEN,
    ),
    exits=_EXITS,
    metavar="FORMAT",
    actions=(ASL,),
)
