"""``statewright check``: prove specs complete and report their findings."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from statewright.generator.commands import EXIT_USAGE, PROGRESS, Command, count, format_argument
from statewright.generator.commands.inputs import (
    InputFormat,
    asl_options,
    check_paths,
    input_arguments,
)
from statewright.generator.commands.migrate import with_history, with_previous
from statewright.generator.output import Output
from statewright.generator.regressions import package_problem, regression_files, write_regressions
from statewright.verify.check import CheckResult
from statewright.verify.explore import DEFAULT_BUDGET, Budget
from statewright.verify.load.asl import AslOptions
from statewright.verify.printable import printable_path
from statewright.verify.report import RENDERERS, exit_status

__all__ = ["COMMAND", "check_command"]


def check_command(
    paths: Sequence[Path],
    fmt: str,
    strict: bool,
    *,
    stdout: TextIO,
    stderr: TextIO | None = None,
    source: InputFormat = InputFormat.AUTO,
    asl: AslOptions | None = None,
    budget: Budget | None = None,
    regressions: Path | None = None,
    runtime_package: str = "generated",
    previous: Path | None = None,
    git: bool = False,
) -> int:
    """``statewright check``: every spec (and ASL definition) named, one report in ``fmt``;
    the exit status. With ``regressions``, a test module per violated property is written
    there (each file's path reported on standard error). With ``previous``, the spec of
    the same machine also proves its migration from that earlier version
    (:mod:`statewright.generator.commands.migrate`); else, with ``git``, each spec that
    declares migrations proves them from the old versions its git history holds."""
    problem = package_problem(runtime_package) if regressions is not None else None
    if problem is not None:
        (stderr or stdout).write(f"statewright: error: {problem}\n")
        return EXIT_USAGE
    checked = check_paths(paths, source, asl or AslOptions(), budget)
    problem = checked.usage_problem()
    if problem is not None:
        (stderr or stdout).write(f"statewright: error: {problem}\n")
        return EXIT_USAGE
    results = checked.results
    if previous is not None:
        proved = with_previous(results, previous, budget or DEFAULT_BUDGET)
        if isinstance(proved, str):
            (stderr or stdout).write(f"statewright: error: {proved}\n")
            return EXIT_USAGE
        results = proved
    elif git:
        results = with_history(results, budget or DEFAULT_BUDGET)
    if regressions is not None:
        written = _regressions(results, regressions, runtime_package)
        if isinstance(written, str):
            (stderr or stdout).write(f"statewright: error: {written}\n")
            return EXIT_USAGE
        for path in written:
            (stderr or stdout).write(f"wrote {printable_path(path.as_posix())}\n")
    stdout.write(RENDERERS[fmt](results, strict))
    return exit_status(results, strict)


def _regressions(results: Sequence[CheckResult], folder: Path, package: str) -> list[Path] | str:
    files: list[Output] = []
    for result in results:
        if result.spec is not None and result.spec.properties:
            text = Path(result.spec.file).read_text(encoding="utf-8")
            files.extend(regression_files(result, text, package))
    return write_regressions(folder, files) if files else []


# --- the command ---------------------------------------------------------------------------

LIMITS = (
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
"""The bounds of a check's work (:class:`statewright.verify.explore.Budget`): option, default,
what."""


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="spec files, or folders whose specs (not subfolders) are checked (default: specs/)",
    )
    format_argument(parser)
    parser.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    parser.add_argument(
        "--regressions",
        type=Path,
        default=None,
        metavar="DIR",
        help="write into DIR a pytest module per violated property that replays its "
        "counterexample on the generated runtime: it fails until the spec is fixed",
    )
    parser.add_argument(
        "--runtime-package",
        default="generated",
        metavar="NAME",
        help="the package the runtimes were generated into, which the regression tests "
        "import (default: generated)",
    )
    parser.add_argument(
        "--previous",
        type=Path,
        default=None,
        metavar="FILE",
        help="an earlier version of a checked spec (the one with its machine name) that "
        "stored runs were started under: also prove the migration the spec declares from "
        "it, as statewright migrate FILE SPEC does",
    )
    parser.add_argument(
        "--no-git-history",
        action="store_true",
        help="without --previous, a spec that declares migrations proves each one from the "
        "old version of the file found in its git history; this skips that search",
    )
    for option, default, what in LIMITS:
        parser.add_argument(
            option,
            type=count,
            default=default,
            metavar="N",
            help=f"{what}; past them the check fails with state-space-too-large "
            f"(default: {default:,})",
        )
    input_arguments(parser)


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    asl = asl_options(args)
    return check_command(
        args.paths,
        args.format,
        args.strict,
        stdout=stdout,
        stderr=stderr,
        source=InputFormat(args.input),
        asl=asl,
        budget=Budget(
            args.max_configurations, args.max_edges, args.max_tour_steps, args.max_property_work
        ),
        regressions=args.regressions,
        runtime_package=args.runtime_package,
        previous=args.previous,
        git=not args.no_git_history,
    )


COMMAND = Command(
    name="check",
    summary="prove specs complete; report findings",
    description=(
        "Load every spec named (and every AWS Step Functions definition), run every "
        "rule on it and find trigger sequences that fire every transition.",
        "The report goes to standard output in --format; text gives one line per "
        "finding (file:line:col: severity[rule] message), the findings that only "
        "follow from another indented under it, each counterexample one step a line, "
        "a line per spec and a summary. Nothing is written to any file, except with "
        "--regressions DIR: a pytest module per violated property, each path said on "
        "standard error. " + PROGRESS,
    ),
    exits=(
        (0, "no finding is an error (with --strict: none is a warning either)"),
        (1, "a finding is an error (with --strict: or a warning)"),
        (
            2,
            "a usage error: a path that does not exist or is not a regular file, a "
            "folder with no spec in it, a --human name that is no callback state, a "
            "--regressions file statewright did not write, a symbolic link or a name "
            "too long in DIR (nothing is written then), a --runtime-package that is no "
            "dotted Python name, a --previous FILE that does not exist or is the machine of "
            "no checked spec",
        ),
    ),
    arguments=_arguments,
    run=_run,
)
