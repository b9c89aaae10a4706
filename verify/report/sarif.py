"""The SARIF 2.1.0 report: findings for code-scanning dashboards (GitHub, GitLab, IDEs).

One run, one ``reportingDescriptor`` per registered rule id (whether or not it fired, so a
dashboard can explain every id, and link it to the rule reference with ``helpUri``:
:mod:`~statewright.verify.report.links`), one result per finding. Locations are relative URIs
resolved against ``%SRCROOT%`` (the folder the check ran in) with 1-based lines and
columns, as SARIF requires.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from statewright.verify import __version__
from statewright.verify.check import CheckResult
from statewright.verify.explain import explain_text, flowed, rule_markdown
from statewright.verify.findings import Finding, Severity, TraceStep
from statewright.verify.model import Location, Value
from statewright.verify.printable import inert_json
from statewright.verify.report.links import rule_url
from statewright.verify.rules import RULES, Rule

__all__ = ["SARIF_SCHEMA", "SARIF_VERSION", "artifact_location", "render_sarif"]


def show(value: Value) -> str:
    """A variable's value as the spec writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SRCROOT = "%SRCROOT%"

_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def artifact_location(file: str) -> dict[str, str]:
    """``file`` as a SARIF ``artifactLocation``: a percent-encoded URI reference relative
    to ``%SRCROOT%``.

    A path outside the current folder (or on another drive) stays absolute, as a
    ``file://`` URI without a base, since a relative reference could not reach it.
    """
    path = Path(file)
    if path.is_absolute() or path.parts[:1] == ("..",):
        try:
            relative = Path(os.path.relpath(path.resolve()))
        except ValueError:
            return {"uri": path.resolve().as_uri()}
        if relative.parts[:1] == ("..",):
            return {"uri": path.resolve().as_uri()}
        path = relative
    return {"uri": quote(PurePosixPath(*path.parts).as_posix()), "uriBaseId": SRCROOT}


def _descriptor(rule: Rule) -> dict[str, object]:
    descriptor: dict[str, object] = {
        "id": rule.id,
        "name": "".join(part.capitalize() for part in rule.id.split("-")),
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": flowed(rule.description)},
        "help": {"text": explain_text(rule), "markdown": rule_markdown(rule)},
        "defaultConfiguration": {"level": _LEVELS[rule.severity]},
        "properties": {"tags": ["statewright", str(rule.family)]},
    }
    if (url := rule_url(rule.id)) is not None:
        descriptor["helpUri"] = url
    return descriptor


def _region(location: Location) -> dict[str, object]:
    return {
        "artifactLocation": artifact_location(location.file),
        "region": {"startLine": max(location.line, 1), "startColumn": max(location.column, 1)},
    }


def _step(number: int, step: TraceStep, repeats: bool) -> dict[str, object]:
    """One step of a counterexample as a ``threadFlowLocation``: where its transition is
    declared, what it did, and the variables after it."""
    flow: dict[str, object] = {
        "location": {
            "physicalLocation": _region(step.location),
            "message": {"text": f"{number}. {step}"},
        },
        "executionOrder": number,
        "state": {name: {"text": show(value)} for name, value in step.variables},
    }
    if repeats:
        flow["kinds"] = ["cycle"]
    return flow


def _code_flows(finding: Finding) -> list[dict[str, object]]:
    """The counterexample as one code flow (the steps of a cycle marked ``cycle``)."""
    steps = [(step, False) for step in finding.trace] + [(step, True) for step in finding.cycle]
    text = "counterexample" + (": a trace, then a cycle repeated for ever" if finding.cycle else "")
    return [
        {
            "message": {"text": text},
            "threadFlows": [
                {
                    "locations": [
                        _step(n, step, repeats) for n, (step, repeats) in enumerate(steps, 1)
                    ]
                }
            ],
        }
    ]


def _result(finding: Finding, index: dict[str, int]) -> dict[str, object]:
    loc = finding.location
    result: dict[str, object] = {
        "ruleId": finding.rule,
        "level": _LEVELS[finding.severity],
        "message": {"text": finding.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": artifact_location(loc.file),
                    "region": {"startLine": max(loc.line, 1), "startColumn": max(loc.column, 1)},
                }
            }
        ],
        "properties": {
            "states": list(finding.states),
            "transitions": [t.as_json() for t in finding.transitions],
            "reasons": list(finding.reasons),
        },
    }
    if finding.rule in index:
        result["ruleIndex"] = index[finding.rule]
    if finding.trace or finding.cycle:
        result["codeFlows"] = _code_flows(finding)
    return result


def render_sarif(results: Sequence[CheckResult], strict: bool = False) -> str:
    """One SARIF log with one run over every checked spec.

    ``strict`` changes nothing in the log itself (levels are the rules' own); it only
    changes the exit status, which the command line computes.
    """
    rules = list(RULES.values())
    index = {r.id: i for i, r in enumerate(rules)}
    findings = [f for r in results for f in r.findings]
    files = list(dict.fromkeys(r.file for r in results))
    run: dict[str, object] = {
        "tool": {
            "driver": {
                "name": "statewright",
                "version": __version__,
                "semanticVersion": __version__,
                "rules": [_descriptor(r) for r in rules],
            }
        },
        "originalUriBaseIds": {SRCROOT: {"description": {"text": "the folder the check ran in"}}},
        "artifacts": [{"location": artifact_location(file)} for file in files],
        "columnKind": "unicodeCodePoints",
        "results": [_result(f, index) for f in findings],
    }
    log = {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}
    return inert_json(log) + "\n"
