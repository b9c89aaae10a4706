"""Reports: the results of checking a set of specs, rendered for people and machines.

Each renderer is a function of ``(results, strict)`` returning the whole text; the
command line picks one by its ``--format`` name from :data:`RENDERERS`. One module per
format: :mod:`~statewright.verify.report.text`, :mod:`~statewright.verify.report.jsondoc`,
:mod:`~statewright.verify.report.sarif`, :mod:`~statewright.verify.report.github` and
:mod:`~statewright.verify.report.junit`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from statewright.verify.check import CheckResult
from statewright.verify.report.github import render_github
from statewright.verify.report.jsondoc import render_json
from statewright.verify.report.junit import render_junit
from statewright.verify.report.sarif import render_sarif
from statewright.verify.report.text import exit_status, plural, render_text, spec_line, summary

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
