"""The text report: one line per finding, one line per spec, one summary line."""

from __future__ import annotations

from collections.abc import Sequence

from verify.check import CheckResult
from verify.findings import Severity
from verify.printable import printable_path

__all__ = ["exit_status", "plural", "render_text", "spec_line", "summary"]


def exit_status(results: Sequence[CheckResult], strict: bool = False) -> int:
    """0 when every spec is ok (``strict``: no warnings either), else 1."""
    return 0 if all(r.ok(strict) for r in results) else 1


def _count(results: Sequence[CheckResult], severity: Severity) -> int:
    return sum(1 for r in results for f in r.findings if f.severity is severity)


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def spec_line(result: CheckResult, strict: bool = False) -> str:
    """One line that sums up one spec: its verdict, counts and coverage."""
    errors = sum(1 for f in result.findings if f.severity is Severity.ERROR)
    warnings = sum(1 for f in result.findings if f.severity is Severity.WARNING)
    infos = len(result.findings) - errors - warnings
    name = result.machine or "not loaded"
    verdict = "ok" if result.ok(strict) else "failed"
    parts = [f"{printable_path(result.file)}: {name}: {verdict}"]
    if errors or warnings:
        parts.append(f"{plural(errors, 'error')}, {plural(warnings, 'warning')}{_info(infos)}")
    elif infos:
        parts.append(f"{infos} info")
    if result.stats is not None:
        stats = result.stats
        configurations = (
            ""
            if stats.configurations is None
            else f", {plural(stats.configurations, 'configuration')}"
        )
        parts.append(
            f"{plural(stats.states, 'state')} ({stats.reachable} reachable), "
            f"{plural(stats.transitions, 'transition')}{configurations}"
        )
    if result.coverage is not None:
        cov = result.coverage
        parts.append(
            f"coverage {cov.covered}/{cov.total} transitions in {plural(len(cov.paths), 'path')}"
        )
    return "; ".join(parts)


def _info(count: int) -> str:
    """``, N info`` when there are info findings; nothing otherwise."""
    return f", {count} info" if count else ""


def summary(results: Sequence[CheckResult], strict: bool = False) -> str:
    failed = sum(1 for r in results if not r.ok(strict))
    return (
        f"Checked {plural(len(results), 'spec')}: {failed} failed, "
        f"{plural(_count(results, Severity.ERROR), 'error')}, "
        f"{plural(_count(results, Severity.WARNING), 'warning')}"
        f"{_info(_count(results, Severity.INFO))}."
    )


def render_text(results: Sequence[CheckResult], strict: bool = False) -> str:
    """Per spec: its findings as ``file:line:col: severity[rule] message`` (a finding about
    data followed by its counterexample, one indented step a line), then its line; at the
    end, one summary line."""
    lines: list[str] = []
    for result in results:
        lines.extend(line for f in result.findings for line in f.report_lines())
        lines.append(spec_line(result, strict))
    lines.append("")
    lines.append(summary(results, strict))
    return "\n".join(lines) + "\n"
