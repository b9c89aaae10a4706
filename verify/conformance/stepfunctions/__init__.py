"""Holding an AWS Step Functions execution history against its ASL definition.

:func:`check_history` reads the definition with the ASL reader and the history (the JSON
of ``GetExecutionHistory``) and walks the history through the definition, thread by
thread (the execution, each Parallel branch, each Map iteration): every state entered
where the definition leads, Choice branches as their rules select on the recorded input,
retries within their retrier, tasks and callbacks answered within their timeout, Wait
states honoured, the execution's own ``TimeoutSeconds``, and an end event that fits the
last state. Findings are the :class:`~statewright.verify.findings.Finding` values
``check`` reports, located at the definition's state and naming the history event; the
rules are documented in the registry (family ``step-functions``), their ids in
:mod:`statewright.verify.rules.stepfunctions` (re-exported here as ``rules``).

Needs nothing beyond statewright itself (not hypothesis, unlike the harness beside it).

>>> definition = '''{"StartAt": "Pay", "States": {
...   "Pay": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}}'''
>>> history = '''{"events": [
...   {"id": 1, "type": "ExecutionStarted", "timestamp": "2026-12-03T10:00:00Z"},
...   {"id": 2, "type": "ExecutionSucceeded", "timestamp": "2026-12-03T10:00:01Z",
...    "previousEventId": 1}]}'''
>>> for finding in check_history_text(definition, history, "pay.asl.json", "run.json"):
...     print(finding.format())  # doctest: +NORMALIZE_WHITESPACE
pay.asl.json:1:1: error[sfn-end-event] event 2 (ExecutionSucceeded): the execution
  succeeded before it entered a state; it succeeds only at a state with "End": true or
  a Succeed state
"""

from __future__ import annotations

import os
from datetime import timedelta

from statewright.verify.conformance.stepfunctions.history import (
    Event,
    History,
    read_history,
    read_history_text,
)
from statewright.verify.conformance.stepfunctions.machine import Loaded, load_scope, load_scope_text
from statewright.verify.conformance.stepfunctions.walk import Walk
from statewright.verify.findings import Finding, sort_findings
from statewright.verify.rules import stepfunctions as rules

__all__ = [
    "DEFAULT_TOLERANCE",
    "Event",
    "History",
    "check_history",
    "check_history_text",
    "read_history",
    "rules",
]

DEFAULT_TOLERANCE = timedelta(seconds=1)
"""How far apart two clocks may be before a timing is judged wrong: event timestamps are
the service's, to the millisecond, but a deadline is kept by its own timer."""


def check_history(
    definition_path: str | os.PathLike[str],
    history_path: str | os.PathLike[str],
    *,
    definition_display: str | None = None,
    history_display: str | None = None,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> list[Finding]:
    """Check the execution history at ``history_path`` against the ASL definition at
    ``definition_path``; the ``..._display`` names name the files in findings.

    A definition the ASL reader refuses gives its load findings; a file that is not a
    history gives one ``sfn-history-invalid`` finding. Never raises for bad input.
    """
    loaded = load_scope(definition_path, definition_display)
    return _check(loaded, read_history(history_path, history_display), tolerance)


def check_history_text(
    definition: str | bytes,
    history: str | bytes,
    definition_file: str = "<definition>",
    history_file: str = "<history>",
    *,
    tolerance: timedelta = DEFAULT_TOLERANCE,
) -> list[Finding]:
    """:func:`check_history` of texts; the ``..._file`` names name them in findings."""
    loaded = load_scope_text(definition, definition_file)
    return _check(loaded, read_history_text(history, history_file), tolerance)


def _check(loaded: Loaded, history: History, tolerance: timedelta) -> list[Finding]:
    if loaded.scope is None:
        return list(loaded.findings)
    if not history.events:
        return list(history.findings)
    walk = Walk(loaded.scope, history.file, tolerance)
    return list(sort_findings(walk.run(history.events)))
