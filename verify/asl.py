"""Check ASL definitions: every machine of a file checked, with advice written for ASL.

Each machine of an ASL file (the state machine, then each Parallel branch and Map
iterator) is checked like a spec and gives its own :class:`~statewright.verify.check.CheckResult`,
named ``<file>`` or ``<file>#<part>`` (``order.asl.json#Fan out/branch0``); the first one's
stats carry the worst case of an execution (:mod:`statewright.verify.load.asl.elapsed`),
the others' none (a branch's time is part of its execution's). Findings point
at the ASL file itself: the key of the state they are about. The file's
``asl-not-modelled`` info findings go with its first result. A finding whose rule has
advice for ASL says what to change in the ASL instead of in a spec.

>>> results = check_asl_text('''{"StartAt": "Wait for partner", "States": {
...   "Wait for partner": {"Type": "Task", "End": true,
...     "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken"}}}''', "p.asl.json")
>>> [f.format() for f in results[0].findings]  # doctest: +NORMALIZE_WHITESPACE
['p.asl.json:2:3: error[waiting-missing-timeout] waiting state WAIT_FOR_PARTNER can wait
  for ever; in the ASL: give "Wait for partner" a "TimeoutSeconds" (or a "HeartbeatSeconds")']
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping

from statewright.verify.check import CheckResult, check_spec
from statewright.verify.findings import Finding, sort_findings
from statewright.verify.load.asl import AslLoad, AslOptions, Machine, load_asl_file, load_asl_text

__all__ = ["ASL_ADVICE", "check_asl", "check_asl_file", "check_asl_text", "result_name"]

ASL_ADVICE: Mapping[str, str] = {
    "waiting-missing-timeout": 'give "{name}" a "TimeoutSeconds" (or a "HeartbeatSeconds")',
    "approval-missing-timeout": 'give "{name}" a "TimeoutSeconds", and let States.Timeout '
    "fail the execution (no Catch for it, or a Catch that leads to a Fail state)",
    "approval-missing-reject": 'let a rejection of "{name}" (SendTaskFailure) fail the '
    "execution: no Catch for it, or a Catch that leads to a Fail state",
    "approval-missing-approve": '"{name}" approves by SendTaskSuccess: its "Next" must not '
    "be a Fail state",
    "unreachable-state": 'no "StartAt", "Next", "Default", Choice rule or Catch leads to "{name}"',
    "trap": 'from "{name}" no path leads to "End", a Succeed or a Fail state: give the loop '
    "a way out",
    "always-cycle": 'the Pass states from "{name}" loop for ever: give the loop a way out',
}
"""Per rule id, what to change in the ASL; ``{name}`` is the ASL name of the finding's
first state."""


def result_name(file: str, machine: Machine) -> str:
    """How reports name the result of one machine of an ASL file."""
    return f"{file}#{machine.part}" if machine.part else file


def check_asl(load: AslLoad) -> list[CheckResult]:
    """Check every machine an ASL file was mapped to (its load findings alone if none)."""
    if not load.machines:
        return [CheckResult(load.file, None, load.findings, None, None)]
    results = []
    for number, machine in enumerate(load.machines):
        checked = check_spec(machine.spec)
        findings = [_advised(f, machine.asl_names) for f in checked.findings]
        stats = checked.stats
        if number == 0:
            findings.extend(load.findings)
            if stats is not None and load.time is not None:
                seconds, words = load.time.seconds, load.time.describe()
                stats = dataclasses.replace(stats, worst_case_seconds=seconds, run_time=words)
        results.append(
            CheckResult(
                result_name(load.file, machine),
                machine.spec,
                sort_findings(findings),
                checked.coverage,
                stats,
            )
        )
    return results


def check_asl_text(
    text: str | bytes, file: str = "<string>", options: AslOptions | None = None
) -> list[CheckResult]:
    """Read and check an ASL definition from its text; ``file`` names it in findings."""
    return check_asl(load_asl_text(text, file, options))


def check_asl_file(
    path: str | os.PathLike[str], options: AslOptions | None = None, display: str | None = None
) -> list[CheckResult]:
    """Read and check the ASL definition at ``path``."""
    return check_asl(load_asl_file(path, options, display))


def _advised(finding: Finding, asl_names: Mapping[str, str]) -> Finding:
    """``finding`` with its advice (after the first ``; ``) rewritten for ASL."""
    advice = ASL_ADVICE.get(finding.rule)
    name = asl_names.get(finding.states[0], "") if finding.states else ""
    if advice is None or not name:
        return finding
    problem = finding.message.split("; ", 1)[0]
    message = f"{problem}; in the ASL: {advice.format(name=name)}"
    return Finding(
        finding.rule,
        finding.severity,
        message,
        finding.location,
        finding.states,
        finding.transitions,
        finding.reasons,
    )
