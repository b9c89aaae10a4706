"""The text report: one line per finding, one line per spec (and one under it per
``within`` property that holds, with its worst case), one summary line.

A finding that follows from another (its ``cause``, :mod:`statewright.verify.causes`) is shown
indented under that one, after a line saying how many follow from it, so that the report
leads with what to fix first; each is still a line ``file:line:col: severity[rule]
message`` of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from statewright.verify.check import CheckResult
from statewright.verify.findings import Finding, Severity
from statewright.verify.model import format_duration
from statewright.verify.printable import printable_path

__all__ = [
    "coverage_text",
    "exit_status",
    "finding_lines",
    "plural",
    "render_text",
    "spec_line",
    "summary",
    "transition_counts",
    "within_lines",
]


def exit_status(results: Sequence[CheckResult], strict: bool = False) -> int:
    """0 when every spec is ok (``strict``: no warnings either), else 1."""
    return 0 if all(r.ok(strict) for r in results) else 1


def _count(results: Sequence[CheckResult], severity: Severity) -> int:
    return sum(1 for r in results for f in r.findings if f.severity is severity)


def _errors(count: int, following: int) -> str:
    """``34 errors (26 follow from others)``: how many there are and how many go away
    with the others."""
    text = plural(count, "error")
    if following == 1:
        return f"{text} (1 follows from another)"
    return f"{text} ({following} follow from others)" if following else text


def _following(results: Sequence[CheckResult]) -> int:
    """The error findings shown under their cause."""
    return sum(
        1
        for r in results
        for f in r.findings
        if f.severity is Severity.ERROR and f.cause is not None and f.cause in r.findings
    )


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def spec_line(result: CheckResult, strict: bool = False) -> str:
    """One line that sums up one spec: its verdict, counts, coverage and how long a run
    can take."""
    errors = sum(1 for f in result.findings if f.severity is Severity.ERROR)
    warnings = sum(1 for f in result.findings if f.severity is Severity.WARNING)
    infos = len(result.findings) - errors - warnings
    name = result.machine or "not loaded"
    verdict = "ok" if result.ok(strict) else "failed"
    parts = [f"{printable_path(result.file)}: {name}: {verdict}"]
    if errors or warnings:
        following = _following([result])
        parts.append(f"{_errors(errors, following)}, {plural(warnings, 'warning')}{_info(infos)}")
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
        parts.append(coverage_text(result))
    if result.stats is not None and result.stats.run_time:
        parts.append(result.stats.run_time)
    return "; ".join(parts)


def within_lines(result: CheckResult) -> Iterator[str]:
    """Under a spec's line, each ``leads_to ... within`` property that holds, with its
    worst case: ``  review_ends_in_time: holds, worst case 7d 2h``."""
    if result.stats is not None:
        for name, seconds in result.stats.within:
            yield f"  {name}: holds, worst case {format_duration(seconds)}"


def coverage_text(result: CheckResult) -> str:
    """``coverage 13/30 transitions in 7 paths (17 can never fire)``: what the covering
    paths fire out of every transition of the spec, never out of the reachable ones alone
    (``13/13`` read as full coverage of a 30-transition machine)."""
    cov = result.coverage
    assert cov is not None
    total, never = transition_counts(result)
    text = f"coverage {cov.covered}/{total} transitions in {plural(len(cov.paths), 'path')}"
    notes = [f"{never} can never fire"] if never else []
    if missed := not_taken(result):
        notes.append(f"{missed} taken in no reachable configuration")
    elif cut_short(result) and cov.total > cov.covered:
        notes.append(f"{cov.total - cov.covered} not known: the exploration was cut short")
    return f"{text} ({', '.join(notes)})" if notes else text


def cut_short(result: CheckResult) -> bool:
    """The exploration or the tour ran out of its bound (``state-space-too-large``): what
    the paths do not fire is not known to be unfireable."""
    cov = result.coverage
    too_large = any(f.rule == "state-space-too-large" for f in result.findings)
    return cov is not None and (cov.exceeded is not None or too_large)


def not_taken(result: CheckResult) -> int:
    """How many transitions from reachable states the covering paths do not fire: in no
    reachable configuration is each the step its trigger takes (a guard that never holds
    there, an ``always`` exit or an earlier transition that goes first); the findings
    ``never-enabled``, ``shadowed-transition`` and ``nondeterministic`` name them. None
    when the exploration or the tour ran out of its bound (:func:`cut_short`)."""
    cov = result.coverage
    if cov is None or cut_short(result):
        return 0
    return max(cov.total - cov.covered, 0)


def transition_counts(result: CheckResult) -> tuple[int, int]:
    """Every transition of a checked spec, and how many of them can never fire (their
    source is unreachable, so no covering path can reach them)."""
    coverable = result.coverage.total if result.coverage is not None else 0
    total = result.stats.transitions if result.stats is not None else coverable
    return total, max(total - coverable, 0)


def _info(count: int) -> str:
    """``, N info`` when there are info findings; nothing otherwise."""
    return f", {count} info" if count else ""


def summary(results: Sequence[CheckResult], strict: bool = False) -> str:
    failed = sum(1 for r in results if not r.ok(strict))
    return (
        f"Checked {plural(len(results), 'spec')}: {failed} failed, "
        f"{_errors(_count(results, Severity.ERROR), _following(results))}, "
        f"{plural(_count(results, Severity.WARNING), 'warning')}"
        f"{_info(_count(results, Severity.INFO))}."
    )


def render_text(results: Sequence[CheckResult], strict: bool = False) -> str:
    """Per spec: its findings as ``file:line:col: severity[rule] message`` (a finding about
    data followed by its counterexample, one indented step a line), then its line; at the
    end, one summary line."""
    lines: list[str] = []
    for result in results:
        lines.extend(finding_lines(result.findings))
        lines.append(spec_line(result, strict))
        lines.extend(within_lines(result))
    lines.append("")
    lines.append(summary(results, strict))
    return "\n".join(lines) + "\n"


def finding_lines(findings: Sequence[Finding]) -> Iterator[str]:
    """Each finding's lines (with its counterexample), those that follow from another
    indented under it."""
    present = set(findings)
    following: dict[Finding, list[Finding]] = {}
    for finding in findings:
        if finding.cause is not None and finding.cause in present:
            following.setdefault(finding.cause, []).append(finding)
    for finding in findings:
        if finding.cause is not None and finding.cause in present:
            continue
        yield from finding.report_lines()
        after = following.get(finding)
        if after:
            verb = "follows" if len(after) == 1 else "follow"
            yield f"  {plural(len(after), 'finding')} {verb} from it:"
            yield from (f"    {line}" for f in after for line in f.report_lines())
