"""A hand-written review loop with rollback, and the adapter that lets the harness drive it.

It implements the ``review_loop`` spec of ``tests/test_mutants.py`` (a draft goes to
review, an editor approves it or asks for changes, at most three rounds; an editor in
chief may roll the run back to an earlier record, at most twice, keeping the round count)
its own way, knowing nothing of statewright. :class:`ReviewLoopAdapter` maps it onto the
conformance harness, ``rollback`` included.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from conformance_example.orchestrator import LogLine, NotAllowed, Refusal, WrongState
from statewright.verify.conformance import (
    Actor,
    AuditEntry,
    Clock,
    InvalidTransition,
    Locked,
    RollbackLimit,
    RollbackRecord,
    Unauthorized,
)

EDITORS = {"editor"}
CHIEFS = {"editor_in_chief"}
MOST_ROUNDS = 3
MOST_ROLLBACKS = 2
AGENT_DEADLINE = timedelta(hours=2)
REVIEW_WINDOW = timedelta(days=1)


class OnHold(Refusal):
    """A rollback while a review is open."""


class TooMany(Refusal):
    """A rollback past the run's allowance."""


@dataclass(frozen=True)
class Snapshot:
    state: str
    rounds: int
    drafts: int


class ReviewLoop:
    """Drafts, reviews and revisions; ``snapshots[n]`` is the loop after log line ``n``
    (0: as created), what a rollback returns to."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self.state = "DRAFTING"
        self.rounds = 0
        self.drafts = 0
        self.entered = now()
        self.log: list[LogLine] = []
        self.snapshots = [Snapshot("DRAFTING", 0, 0)]
        self.rollbacks = 0

    def handle(self, event: str, who: str | None = None, roles: Collection[str] = ()) -> None:
        if self.state == "REVIEW" and event in ("approved", "changes_requested"):
            if who is None or not EDITORS & set(roles):
                raise NotAllowed(f"{event} needs an editor")
            if event == "approved":
                self._move("PUBLISHED", event, who)
            elif self.rounds < MOST_ROUNDS:
                self.rounds += 1
                self._move("REVISING", event, who)
            else:
                self._move("STALLED", event, who)
        elif (self.state, event) in (("DRAFTING", "draft_done"), ("REVISING", "revised")):
            self.drafts += 1
            self._move("REVIEW", event, None)
        else:
            raise WrongState(f"{event} is not possible in {self.state}")

    def tick(self) -> None:
        waited = self.now() - self.entered
        if self.state == "REVIEW" and waited >= REVIEW_WINDOW:
            self._move("STALLED", "review_timeout", None)
        elif self.state in ("DRAFTING", "REVISING") and waited >= AGENT_DEADLINE:
            self._move("STALLED", "agent_timeout", None)

    def roll_back(self, to: int, who: str, roles: Collection[str]) -> dict[str, int]:
        """Back to where the loop was after log line ``to``; the round count stays.
        Returns the values it kept."""
        self.check_rollback(roles)
        then = self.restore_point(to)
        kept = {"rounds": self.rounds}
        self.rollbacks += 1
        self.drafts = then.drafts
        self.rounds = self.kept_rounds(then, self.rounds)
        self._move(then.state, "rollback", who)
        return kept

    def check_rollback(self, roles: Collection[str]) -> None:
        if not CHIEFS & set(roles):
            raise NotAllowed("a rollback needs the editor in chief")
        if self.state == "REVIEW":
            raise OnHold("no rollback while a review is open")
        if self.rollbacks >= MOST_ROLLBACKS:
            raise TooMany(f"this run has taken its {MOST_ROLLBACKS} rollbacks")

    def restore_point(self, to: int) -> Snapshot:
        return self.snapshots[to]

    def kept_rounds(self, then: Snapshot, now: int) -> int:
        return now

    def _move(self, target: str, event: str, who: str | None) -> None:
        at = self.now()
        self.log.append(LogLine(len(self.log) + 1, at, self.state, target, event, who, None))
        self.state = target
        self.entered = at
        self.snapshots.append(Snapshot(target, self.rounds, self.drafts))


class ReviewLoopAdapter:
    """Creates, fires, ticks, reads and rolls back a :class:`ReviewLoop`."""

    def __init__(self, factory: type[ReviewLoop] = ReviewLoop) -> None:
        self.factory = factory

    def create(self, clock: Clock) -> ReviewLoop:
        return self.factory(now=clock)

    def fire(
        self, machine: ReviewLoop, trigger: str, actor: Actor | None, decision: str | None
    ) -> None:
        who, roles = (None, ()) if actor is None else (actor.id, actor.roles)
        try:
            machine.handle(trigger, who=who, roles=roles)
        except WrongState as refusal:
            raise InvalidTransition(str(refusal)) from refusal
        except NotAllowed as refusal:
            raise Unauthorized(str(refusal)) from refusal

    def state(self, machine: ReviewLoop) -> str:
        return machine.state

    def variables(self, machine: ReviewLoop) -> dict[str, int]:
        return {"rounds": machine.rounds, "drafts": machine.drafts}

    def audit(self, machine: ReviewLoop) -> Sequence[AuditEntry]:
        return [
            AuditEntry(line.source, line.target, line.event, line.who, line.seq, line.at)
            for line in machine.log
        ]

    def expire(self, machine: ReviewLoop) -> None:
        machine.tick()

    def rollback(
        self, machine: ReviewLoop, to_seq: int, actor: Actor, decision: str
    ) -> RollbackRecord | None:
        try:
            done = machine.roll_back(to_seq, actor.id, actor.roles)
        except NotAllowed as refusal:
            raise Unauthorized(str(refusal)) from refusal
        except OnHold as refusal:
            raise Locked(str(refusal)) from refusal
        except TooMany as refusal:
            raise RollbackLimit(str(refusal)) from refusal
        return RollbackRecord(
            to_seq, tuple(sorted(actor.roles)), dict(self.variables(machine)), dict(done)
        )
