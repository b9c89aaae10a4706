"""``statewright check``, ``paths`` and ``explain``: the checker's commands."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from generator.commands import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from generator.commands.inputs import InputFormat, check_paths
from generator.output import Output
from generator.regressions import package_problem, regression_files, write_regressions
from verify.check import CheckResult, check_file
from verify.discover import discover
from verify.explain import close_matches, explain_text
from verify.explore import Budget
from verify.load.asl import AslOptions
from verify.printable import printable_path
from verify.report import RENDERERS, exit_status, plural
from verify.report.text import transition_counts
from verify.rules import RULES

__all__ = ["check_command", "explain_command", "paths_command"]


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
) -> int:
    """``statewright check``: every spec (and ASL definition) named, one report in ``fmt``;
    the exit status. With ``regressions``, a test module per violated property is written
    there (each file's path reported on standard error)."""
    problem = package_problem(runtime_package) if regressions is not None else None
    if problem is not None:
        (stderr or stdout).write(f"statewright: error: {problem}\n")
        return EXIT_USAGE
    checked = check_paths(paths, source, asl or AslOptions(), budget)
    problem = checked.usage_problem()
    if problem is not None:
        (stderr or stdout).write(f"statewright: error: {problem}\n")
        return EXIT_USAGE
    if regressions is not None:
        written = _regressions(checked.results, regressions, runtime_package)
        if isinstance(written, str):
            (stderr or stdout).write(f"statewright: error: {written}\n")
            return EXIT_USAGE
        for path in written:
            (stderr or stdout).write(f"wrote {printable_path(path.as_posix())}\n")
    stdout.write(RENDERERS[fmt](checked.results, strict))
    return exit_status(checked.results, strict)


def _regressions(results: Sequence[CheckResult], folder: Path, package: str) -> list[Path] | str:
    files: list[Output] = []
    for result in results:
        if result.spec is not None and result.spec.properties:
            text = Path(result.spec.file).read_text(encoding="utf-8")
            files.extend(regression_files(result, text, package))
    return write_regressions(folder, files) if files else []


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
    stdout.write(
        f"# {coverage.covered}/{total} transitions covered by "
        f"{plural(len(coverage.paths), 'path')} of "
        f"{plural(sum(map(len, coverage.paths)), 'trigger')}"
        + (f"; {never} can never fire (their source is unreachable)" if never else "")
        + "\n"
    )
    return EXIT_OK if coverage.covered == coverage.total else EXIT_FINDINGS


def explain_command(rule: str, *, stdout: TextIO, stderr: TextIO) -> int:
    """``statewright explain``: a rule's definition and examples."""
    if rule in RULES:
        stdout.write(explain_text(RULES[rule]))
        return EXIT_OK
    near = close_matches(rule)
    hint = f"did you mean {', '.join(near)}?" if near else f"rule ids: {', '.join(RULES)}"
    stderr.write(f"statewright: error: unknown rule {rule!r}; {hint}\n")
    return EXIT_USAGE
