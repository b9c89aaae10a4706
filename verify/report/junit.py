"""The JUnit XML report: one test case per spec and rule id, for CI test dashboards.

Every registered rule is a test case of every spec, passing ones included, so that a
dashboard shows what was proven and not only what failed. A rule with error findings (with
``strict``, warning findings too) is a ``<failure>`` whose text lists the findings;
warnings that do not fail, and info findings, are kept in the case's ``<system-out>``.
When a spec does not load, its graph and orchestration rules could not run: they are
``<skipped>``. Each spec also gets a ``coverage`` case that fails when the tour does not
fire every transition.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from statewright.verify.check import CheckResult
from statewright.verify.findings import Finding, Severity
from statewright.verify.printable import printable_path
from statewright.verify.rules import RULES, Family

__all__ = ["render_junit", "spec_suite", "xml_safe"]


_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(text: str) -> str:
    """``text`` with every character XML 1.0 cannot hold replaced by U+FFFD."""
    return _NOT_XML.sub("\ufffd", text)


def _lines(findings: Sequence[Finding]) -> str:
    return xml_safe("\n".join(line for f in findings for line in f.report_lines()))


def _fails(finding: Finding, strict: bool) -> bool:
    """An error fails; a warning fails with ``strict``; an info finding never does."""
    return finding.severity is Severity.ERROR or (strict and finding.severity is Severity.WARNING)


def _case(suite: ET.Element, classname: str, name: str) -> ET.Element:
    return ET.SubElement(suite, "testcase", classname=classname, name=name, time="0")


def spec_suite(result: CheckResult, strict: bool = False) -> ET.Element:
    """The ``<testsuite>`` of one spec: a case per rule id, then ``coverage``."""
    file = printable_path(result.file)
    classname = xml_safe(result.machine or file)
    suite = ET.Element("testsuite", name=xml_safe(file))
    by_rule: dict[str, list[Finding]] = {}
    for finding in result.findings:
        by_rule.setdefault(finding.rule, []).append(finding)
    counts = {"tests": 0, "failures": 0, "skipped": 0}
    for rule in RULES.values():
        case = _case(suite, classname, rule.id)
        counts["tests"] += 1
        findings = by_rule.pop(rule.id, [])
        failing = [f for f in findings if _fails(f, strict)]
        if failing:
            counts["failures"] += 1
            failure = ET.SubElement(
                case, "failure", type=rule.id, message=f"{len(failing)} x {rule.id}"
            )
            failure.text = _lines(failing)
        elif result.spec is None and rule.family is not Family.LOAD:
            counts["skipped"] += 1
            ET.SubElement(case, "skipped", message="the spec did not load")
        passing = [f for f in findings if not _fails(f, strict)]
        if passing:
            ET.SubElement(case, "system-out").text = _lines(passing)
    for rule_id, findings in by_rule.items():  # an id no rule registers: still reported
        counts["tests"] += 1
        case = _case(suite, classname, rule_id)
        if any(_fails(f, strict) for f in findings):
            counts["failures"] += 1
            ET.SubElement(case, "failure", type=rule_id).text = _lines(findings)
        else:
            ET.SubElement(case, "system-out").text = _lines(findings)
    coverage = _case(suite, classname, "coverage")
    counts["tests"] += 1
    if result.coverage is None:
        counts["skipped"] += 1
        ET.SubElement(coverage, "skipped", message="the spec did not load")
    elif result.coverage.covered != result.coverage.total:
        counts["failures"] += 1
        cov = result.coverage
        ET.SubElement(
            coverage, "failure", type="coverage", message=f"{cov.covered}/{cov.total} covered"
        )
    for key, value in counts.items():
        suite.set(key, str(value))
    suite.set("errors", "0")
    return suite


def render_junit(results: Sequence[CheckResult], strict: bool = False) -> str:
    """A ``<testsuites>`` document with one suite per spec."""
    root = ET.Element("testsuites", name="statewright")
    suites = [spec_suite(r, strict) for r in results]
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    root.extend(suites)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, "unicode") + "\n"
