"""Conformance of recorded runs: what really ran, held against the spec it ran under.

:mod:`~statewright.verify.audit.trace` reads runs as plain data (the JSON-lines trace format
any system can export, and the records the generated runtime stores);
:mod:`~statewright.verify.audit.replay` checks one run, record by record, through the spec's
one semantics (:mod:`statewright.verify.semantics`). Reading stores is the command layer's
(``statewright audit check``): nothing here does I/O.
"""

from __future__ import annotations

from statewright.verify.audit.replay import RULES, Moves, RunChecker, check_run
from statewright.verify.audit.trace import (
    Recorded,
    StoredRun,
    TraceError,
    read_trace,
    stored_run,
    trace_line,
    trace_lines,
)

__all__ = [
    "RULES",
    "Moves",
    "Recorded",
    "RunChecker",
    "StoredRun",
    "TraceError",
    "check_run",
    "read_trace",
    "stored_run",
    "trace_line",
    "trace_lines",
]
