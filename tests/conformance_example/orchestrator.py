"""A hand-written orchestrator: the kind of code a team writes without statewright.

It implements ``specs/orchestrator.yaml`` its own way (a routing table, string states, a
``tick()`` that times out the agents and the approval gate) and knows nothing of statewright; the
adapter in :mod:`conformance_example.adapter` is what lets the harness drive it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

ROUTES = {
    ("IDLE", "task_received"): "RUNNING",
    ("RUNNING", "gate_reached"): "WAITING_FOR_APPROVAL",
    ("RUNNING", "agent_error"): "FAILED",
    ("RUNNING", "validation_failed"): "FAILED",
    ("RUNNING", "exception_raised"): "FAILED",
    ("RUNNING", "all_stages_passed"): "COMPLETE",
    ("WAITING_FOR_APPROVAL", "human_approved"): "RUNNING",
    ("WAITING_FOR_APPROVAL", "human_rejected"): "FAILED",
    ("FAILED", "human_resumed"): "RUNNING",
    ("COMPLETE", "housekeeping_done"): "IDLE",
}
SIGN_OFF = {"WAITING_FOR_APPROVAL": {"tech_lead"}, "FAILED": {"on_call"}}
APPROVAL_WINDOW = timedelta(hours=72)
AGENT_DEADLINE = timedelta(hours=2)


class Refusal(Exception):
    """The orchestrator will not do that."""


class WrongState(Refusal):
    pass


class NotAllowed(Refusal):
    pass


@dataclass(frozen=True)
class LogLine:
    seq: int
    at: datetime
    source: str
    target: str
    event: str
    who: str | None
    note: str | None


class Orchestrator:
    """Routes events through ``ROUTES``; a person signs off where ``SIGN_OFF`` says."""

    def __init__(self, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.now = now
        self.status = "IDLE"
        self.log: list[LogLine] = []
        self.gate_opened: datetime | None = None
        self.agents_started: datetime | None = None

    def handle(
        self, event: str, who: str | None = None, roles: Collection[str] = (), note: str = ""
    ) -> None:
        target = ROUTES.get((self.status, event))
        if target is None:
            raise WrongState(f"{event} is not possible in {self.status}")
        needed = SIGN_OFF.get(self.status)
        if needed is not None and (who is None or not needed & set(roles)):
            raise NotAllowed(f"{event} in {self.status} needs one of {sorted(needed)}")
        self._move(target, event, who if needed else None, note if needed else None)

    def tick(self) -> None:
        """Time the agents out after their deadline, the approval gate once its window
        has passed."""
        if self.status == "RUNNING" and self.agents_started is not None:
            if self.now() - self.agents_started >= AGENT_DEADLINE:
                self._move("FAILED", "agent_timeout", None, None)
            return
        if self.status != "WAITING_FOR_APPROVAL" or self.gate_opened is None:
            return
        if self.now() - self.gate_opened >= APPROVAL_WINDOW:
            self._move("FAILED", "approval_timeout", None, None)

    def open_gate(self) -> None:
        """Start the approval window."""
        self.gate_opened = self.now()

    def _move(self, target: str, event: str, who: str | None, note: str | None) -> None:
        line = LogLine(len(self.log) + 1, self.now(), self.status, target, event, who, note)
        self.log.append(line)
        self.status = target
        if target == "WAITING_FOR_APPROVAL":
            self.open_gate()
        if target == "RUNNING":
            self.agents_started = self.now()
