"""The same orchestrator with a planted bug: the approval window is never restarted."""

from __future__ import annotations

from conformance_example.orchestrator import Orchestrator


class BuggyOrchestrator(Orchestrator):
    """Starts the approval window the first time the gate opens, and never again.

    After an approval sends the run back to RUNNING, the next gate inherits the old
    window, so it can time out long before its own 72 hours are up.
    """

    def open_gate(self) -> None:
        if self.gate_opened is None:
            super().open_gate()
