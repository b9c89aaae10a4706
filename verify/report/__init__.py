"""Reports: the results of checking a set of specs, rendered for people and machines.

Each renderer is a function of ``(results, strict)`` returning the whole text; the
command line picks one by its ``--format`` name from :data:`RENDERERS`. One module per
format: :mod:`~verify.report.text`, :mod:`~verify.report.jsondoc`,
:mod:`~verify.report.sarif`, :mod:`~verify.report.github` and :mod:`~verify.report.junit`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from verify.check import CheckResult
from verify.report.github import render_github
from verify.report.jsondoc import render_json
from verify.report.junit import render_junit
from verify.report.sarif import render_sarif
from verify.report.text import exit_status, plural, render_text, spec_line, summary

__all__ = [
    "RENDERERS",
    "Renderer",
    "exit_status",
    "plural",
    "render_github",
    "render_json",
    "render_junit",
    "render_sarif",
    "render_text",
    "spec_line",
    "summary",
]

Renderer = Callable[[Sequence[CheckResult], bool], str]

RENDERERS: dict[str, Renderer] = {
    "text": render_text,
    "json": render_json,
    "sarif": render_sarif,
    "github": render_github,
    "junit": render_junit,
}
