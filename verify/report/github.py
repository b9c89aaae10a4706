"""The GitHub Actions report: one workflow-command annotation per finding, then a summary.

GitHub shows each ``::error`` / ``::warning`` / ``::notice`` (an info finding) line as an
annotation on the spec's line in the pull request; the summary lines that follow are plain
text for the job log. Values are escaped as the workflow-command format documents it: in
the message ``%``, ``\\r`` and ``\\n``; in the properties also ``:`` and ``,``. Before that,
file names and messages are made printable (:mod:`statewright.verify.printable`: control characters
become escapes), so no spec can forge a line of its own; a path that needs no escape is
kept exactly, for GitHub to find the file.
"""

from __future__ import annotations

from collections.abc import Sequence

from statewright.verify.check import CheckResult
from statewright.verify.findings import Finding, Severity
from statewright.verify.printable import printable
from statewright.verify.report.links import rule_url
from statewright.verify.report.text import spec_line, summary

__all__ = ["annotation", "escape_data", "escape_property", "render_github"]

_COMMANDS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    """Escape a workflow-command message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """Escape a workflow-command property value (``file=``, ``title=``, ...)."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(finding: Finding) -> str:
    """``::error file=F,line=L,col=C,title=statewright RULE::MESSAGE``, the message's
    last line a link to the rule (:mod:`~statewright.verify.report.links`)."""
    loc = finding.location
    properties = {
        "file": printable(loc.file),
        "line": str(loc.line),
        "col": str(loc.column),
        "title": f"statewright {finding.rule}",
    }
    rendered = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    lines = [finding.message, *(f"    {line}" for line in finding.trace_lines())]
    if (url := rule_url(finding.rule)) is not None:
        lines.append(f"Rule: {url}")
    message = "\n".join(lines)
    return f"::{_COMMANDS[finding.severity]} {rendered}::{escape_data(message)}"


def render_github(results: Sequence[CheckResult], strict: bool = False) -> str:
    """Every finding as an annotation, then one plain line per spec and the summary."""
    lines = [annotation(f) for r in results for f in r.findings]
    lines.extend(spec_line(r, strict) for r in results)
    lines.append(summary(results, strict))
    return "\n".join(lines) + "\n"
