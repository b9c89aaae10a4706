"""The ``statewright`` command: arguments and dispatch; the handlers are in
:mod:`generator.commands`, one module per command.

Exit status: 0 when no finding is an error (``--strict``: no warning either), 1 when one
is (or ``generate --check`` found a difference), 2 for a usage error or a path that does
not exist.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TextIO, cast

from generator import __version__
from generator.commands import EXIT_USAGE
from generator.commands.inputs import InputFormat
from generator.helptext import COMMANDS, TOP
from generator.progress import TerminalProgress
from generator.streams import ReaderSafe
from verify import progress
from verify.discover import MissingPath
from verify.explore import DEFAULT_BUDGET, Budget
from verify.load.asl import AslOptions
from verify.load.rules import check_label
from verify.report import RENDERERS

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    top = TOP.options()
    del top["help"]
    parser = argparse.ArgumentParser(prog="statewright", **top)
    parser.add_argument("--version", action="version", version=f"statewright {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", **COMMANDS["check"].options())
    check.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="spec files, or folders whose specs (not subfolders) are checked (default: specs/)",
    )
    check.add_argument(
        "--format",
        choices=sorted(RENDERERS),
        default="text",
        help="the report's format on standard output (default: text)",
    )
    check.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    check.add_argument(
        "--regressions",
        type=Path,
        default=None,
        metavar="DIR",
        help="write into DIR a pytest module per violated property that replays its "
        "counterexample on the generated runtime: it fails until the spec is fixed",
    )
    check.add_argument(
        "--runtime-package",
        default="generated",
        metavar="NAME",
        help="the package the runtimes were generated into, which the regression tests "
        "import (default: generated)",
    )
    _limit_argument(check)
    _input_arguments(check)

    paths = sub.add_parser("paths", **COMMANDS["paths"].options())
    paths.add_argument("spec", type=Path, metavar="SPEC", help="the spec file")

    generate = sub.add_parser("generate", **COMMANDS["generate"].options())
    generate.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="spec files, or folders whose specs (not subfolders) are generated; only "
        "folders (or none) prune output of specs that are gone (default: specs/)",
    )
    generate.add_argument(
        "--out",
        type=Path,
        default=Path("generated"),
        metavar="DIR",
        help="the folder to write into, made if missing; a package of yours is fine "
        "(default: generated/)",
    )
    generate.add_argument(
        "--check",
        action="store_true",
        help="write nothing: render in memory and compare with DIR; exit 1 with a diff on "
        "standard output when they differ",
    )

    diagram = sub.add_parser("diagram", **COMMANDS["diagram"].options())
    diagram.add_argument(
        "spec",
        type=Path,
        metavar="SPEC",
        help="the spec file, or an ASL definition (FILE#PART: one of its branches)",
    )
    diagram.add_argument(
        "--format",
        choices=["svg", "dot", "mermaid", "png"],
        default=None,
        help="what to draw (default: the format -o FILE's ending names, else svg)",
    )
    diagram.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="write the diagram to FILE, replacing it (default: standard output; png: "
        "<machine>.png)",
    )
    diagram.add_argument(
        "--trace",
        default=None,
        metavar="NAME",
        help="highlight the counterexample of the property NAME (or of the first finding of "
        "the rule NAME that has one): its steps numbered on the edges they take",
    )
    _input_arguments(diagram)

    explain = sub.add_parser("explain", **COMMANDS["explain"].options())
    explain.add_argument("rule", metavar="RULE", help="a rule id, e.g. dead-end")

    new = sub.add_parser("new", **COMMANDS["new"].options())
    new.add_argument("name", metavar="NAME", help="the machine's snake_case name")
    new.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write it (default: specs/NAME.yaml); never overwritten",
    )

    sub.add_parser("schema", **COMMANDS["schema"].options())

    imports = sub.add_parser("import", **COMMANDS["import"].options())
    imports.add_argument(
        "source_format",
        choices=["asl"],
        metavar="FORMAT",
        help="the format of FILE: asl (Amazon States Language, JSON or YAML)",
    )
    imports.add_argument("source", type=Path, metavar="FILE", help="the definition to import")
    imports.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="SPEC",
        help="where to write the spec (default: standard output); branches and iterators "
        "go beside it; never overwritten",
    )
    _asl_arguments(imports)

    audit = sub.add_parser("audit", **COMMANDS["audit"].options())
    audit_sub = audit.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    verify = audit_sub.add_parser("verify", **COMMANDS["audit verify"].options())
    verify.add_argument(
        "target", metavar="PATH_OR_URL", help="a SQLite file or a postgresql:// URL"
    )
    verify.add_argument(
        "--against",
        type=Path,
        metavar="FILE",
        help="also check that every chain still extends the heads 'audit head' wrote to FILE",
    )
    verify.add_argument(
        "--specs",
        type=Path,
        action="append",
        default=[],
        metavar="PATH",
        help="specs whose timers recompute the deadlines (default: specs/ if it exists)",
    )
    head = audit_sub.add_parser("head", **COMMANDS["audit head"].options())
    head.add_argument("target", metavar="PATH_OR_URL", help="a SQLite file or a postgresql:// URL")

    runs = sub.add_parser("runs", **COMMANDS["runs"].options())
    runs_sub = runs.add_subparsers(dest="runs_command", required=True, metavar="ACTION")
    listing = runs_sub.add_parser("list", **COMMANDS["runs list"].options())
    show = runs_sub.add_parser("show", **COMMANDS["runs show"].options())
    for action in (listing, show):
        action.add_argument(
            "target", metavar="PATH_OR_URL", help="a SQLite file or a postgresql:// URL"
        )
    release = runs_sub.add_parser("release", **COMMANDS["runs release"].options())
    release.add_argument(
        "target", metavar="PATH_OR_URL", help="a SQLite file or a postgresql:// URL"
    )
    for action in (show, release):
        action.add_argument("instance", metavar="INSTANCE", help="the instance id")
        action.add_argument("--machine", default=None, help="the machine, if several share the id")
    show.add_argument(
        "--from",
        dest="first",
        type=_count,
        default=1,
        metavar="SEQ",
        help="the first record to print (default: 1)",
    )
    show.add_argument(
        "--limit",
        type=_count,
        default=1000,
        metavar="N",
        help="print at most N records (default: 1000); the last line says how to go on",
    )
    for action in (listing, show):
        action.add_argument(
            "--specs",
            type=Path,
            action="append",
            default=[],
            metavar="PATH",
            help="specs that give states their kinds, reviewers and recovery "
            "(default: specs/ if it exists)",
        )
        action.add_argument(
            "--format",
            choices=["text", "json"],
            default="text",
            help="text for people (default), or json: one object for scripts",
        )
    return parser


def _count(text: str) -> int:
    """A positive whole number (``10000000`` or ``10_000_000``)."""
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return value


_LIMITS = (
    (
        "--max-configurations",
        DEFAULT_BUDGET.configurations,
        "explore at most N configurations of a spec with variables",
    ),
    ("--max-edges", DEFAULT_BUDGET.edges, "record at most N steps between configurations"),
    ("--max-tour-steps", DEFAULT_BUDGET.tour_steps, "build a covering tour of at most N steps"),
    (
        "--max-property-work",
        DEFAULT_BUDGET.property_work,
        "visit at most N configurations and edges, all properties together",
    ),
)


def _limit_argument(parser: argparse.ArgumentParser) -> None:
    for option, default, what in _LIMITS:
        parser.add_argument(
            option,
            type=_count,
            default=default,
            metavar="N",
            help=f"{what}; past them the check fails with state-space-too-large "
            f"(default: {default:,})",
        )


def _budget(args: argparse.Namespace) -> Budget:
    return Budget(
        args.max_configurations, args.max_edges, args.max_tour_steps, args.max_property_work
    )


def _input_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        choices=[str(f) for f in InputFormat],
        default=str(InputFormat.AUTO),
        help="how to read the files: auto (*.asl.json, *.asl.yaml and *.asl.yml are ASL, "
        "the rest specs), spec, or asl (AWS Step Functions definitions); default: auto",
    )
    _asl_arguments(parser)


def _asl_arguments(parser: argparse.ArgumentParser) -> None:
    human = parser.add_mutually_exclusive_group()
    human.add_argument(
        "--human",
        action="append",
        default=None,
        metavar="STATE",
        help="an ASL callback state a person answers: an approval state (repeat for "
        "more); default: the callbacks whose names contain approv, review, human or manual",
    )
    human.add_argument(
        "--no-human", action="store_true", help="no ASL callback is human: all are waiting"
    )
    parser.add_argument(
        "--reviewers",
        default="reviewer",
        metavar="ROLE,...",
        help="the reviewer roles of ASL approval states (default: reviewer)",
    )


def _asl_options(args: argparse.Namespace) -> AslOptions:
    """The ASL options of ``args``; ``ValueError`` for a reviewer role that is no label."""
    roles = tuple(role.strip() for role in args.reviewers.split(","))
    for role in roles:
        problem = check_label("reviewer role", role)
        if problem:
            raise ValueError(f"--reviewers: {problem}")
    human = frozenset() if args.no_human else args.human and frozenset(args.human)
    return AslOptions(human=human, reviewers=roles)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``statewright``; the exit status. Output to a reader that goes away early
    (``| head -1``) is dropped quietly and the command still finishes its work. Long work
    shows progress on standard error when that is a terminal (:mod:`generator.progress`)."""
    shown = TerminalProgress(sys.stderr) if sys.stderr.isatty() else None
    clear = shown.clear if shown is not None else None
    out, err = ReaderSafe(sys.stdout, clear), ReaderSafe(sys.stderr, clear)
    try:
        with progress.reporting(shown) if shown is not None else nullcontext():
            status = _command(argv, cast(TextIO, out), cast(TextIO, err))
    finally:
        if shown is not None:
            shown.clear()
    out.flush()
    err.flush()
    return status


def _command(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        asl = _asl_options(args) if hasattr(args, "reviewers") else AslOptions()
    except ValueError as problem:
        parser.error(str(problem))
    try:
        if args.command == "check":
            from generator.commands.check import check_command

            source = InputFormat(args.input)
            return check_command(
                args.paths,
                args.format,
                args.strict,
                stdout=out,
                stderr=err,
                source=source,
                asl=asl,
                budget=_budget(args),
                regressions=args.regressions,
                runtime_package=args.runtime_package,
            )
        if args.command == "paths":
            from generator.commands.check import paths_command

            return paths_command(args.spec, stdout=out, stderr=err)
        if args.command == "generate":
            from generator.commands.generate import generate_command

            return generate_command(args.paths, args.out, args.check, stdout=out, stderr=err)
        if args.command == "diagram":
            from generator.commands.diagram import diagram_command

            return diagram_command(
                args.spec,
                args.format,
                args.output,
                stdout=out,
                stderr=err,
                source=InputFormat(args.input),
                asl=asl,
                trace=args.trace,
            )
        if args.command == "explain":
            from generator.commands.check import explain_command

            return explain_command(args.rule, stdout=out, stderr=err)
        if args.command == "new":
            from generator.commands.new import new_command

            return new_command(args.name, args.output, stdout=out, stderr=err)
        if args.command == "schema":
            from generator.commands.new import schema_command

            return schema_command(stdout=out)
        if args.command == "import":
            from generator.commands.import_asl import import_command

            return import_command(args.source, args.output, asl, stdout=out, stderr=err)
        if args.command == "audit":
            from generator.commands.audit import audit_command, head_command

            if args.audit_command == "head":
                return head_command(args.target, stdout=out, stderr=err)
            return audit_command(
                args.target, against=args.against, specs=args.specs, stdout=out, stderr=err
            )
        if args.command == "runs":
            from generator.commands.runs import list_command, release_command, show_command

            if args.runs_command == "list":
                return list_command(args.target, args.specs, args.format, stdout=out, stderr=err)
            if args.runs_command == "release":
                return release_command(
                    args.target, args.instance, args.machine, stdout=out, stderr=err
                )
            return show_command(
                args.target,
                args.instance,
                args.machine,
                args.specs,
                args.format,
                first=args.first,
                limit=args.limit,
                stdout=out,
                stderr=err,
            )
    except MissingPath as missing:
        err.write(f"statewright: error: {missing}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
