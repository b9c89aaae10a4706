"""``statewright paths``: the covering trigger sequences of one spec."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from statewright.generator.commands import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, PROGRESS, Command
from statewright.verify.check import CheckResult, check_file
from statewright.verify.discover import discover
from statewright.verify.report import plural
from statewright.verify.report.text import cut_short, not_taken, transition_counts

__all__ = ["COMMAND", "paths_command"]


def paths_command(spec: Path, *, stdout: TextIO, stderr: TextIO) -> int:
    """``statewright paths``: the covering trigger sequences of one spec."""
    if spec.is_dir():
        stderr.write(f"statewright: error: {spec} is a folder; name one spec file\n")
        return EXIT_USAGE
    (path,) = discover([spec])
    result: CheckResult = check_file(path)
    if result.spec is None or result.coverage is None:
        for finding in result.findings:
            stderr.write(finding.format() + "\n")
        return EXIT_FINDINGS
    coverage = result.coverage
    for number, sequence in enumerate(coverage.paths, start=1):
        stdout.write(f"{number}: {' '.join(sequence) if sequence else '(initial state only)'}\n")
    total, never = transition_counts(result)
    missed = not_taken(result)
    unknown = coverage.total - coverage.covered if cut_short(result) else 0
    stdout.write(
        f"# {coverage.covered}/{total} transitions covered by "
        f"{plural(len(coverage.paths), 'path')} of "
        f"{plural(sum(map(len, coverage.paths)), 'trigger')}"
        + (f"; {never} can never fire (their source is unreachable)" if never else "")
        + (f"; {missed} taken in no reachable configuration" if missed else "")
        + (f"; {unknown} not known: the exploration was cut short" if unknown else "")
        + "\n"
    )
    return EXIT_OK if coverage.covered == coverage.total else EXIT_FINDINGS


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", type=Path, metavar="SPEC", help="the spec file")


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return paths_command(args.spec, stdout=stdout, stderr=stderr)


COMMAND = Command(
    name="paths",
    summary="print the covering trigger sequences of a spec",
    description=(
        "Print trigger sequences that, each sent to a fresh machine in its initial "
        "state, together fire every transition of SPEC whose source is reachable: "
        "one numbered line per sequence on standard output, then a '#' line saying "
        "how many of the spec's transitions they fire. The findings of a spec that "
        "does not load go to standard error. " + PROGRESS,
    ),
    exits=(
        (0, "the sequences fire every transition whose source is reachable"),
        (1, "the spec does not load, or a reachable transition is never fired"),
        (2, "a usage error: SPEC does not exist or is a folder"),
    ),
    arguments=_arguments,
    run=_run,
)
