"""The adapter that lets the conformance harness drive the hand-written orchestrator."""

from __future__ import annotations

from collections.abc import Sequence

from conformance_example.orchestrator import NotAllowed, Orchestrator, WrongState
from statewright.verify.conformance import Actor, AuditEntry, Clock, InvalidTransition, Unauthorized


class OrchestratorAdapter:
    """Creates, fires, reads the state and the log of, and ticks an :class:`Orchestrator`."""

    def __init__(self, factory: type[Orchestrator] = Orchestrator) -> None:
        self.factory = factory

    def create(self, clock: Clock) -> Orchestrator:
        return self.factory(now=clock)

    def fire(
        self, machine: Orchestrator, trigger: str, actor: Actor | None, decision: str | None
    ) -> None:
        who, roles = (None, ()) if actor is None else (actor.id, actor.roles)
        try:
            machine.handle(trigger, who=who, roles=roles, note=decision or "")
        except WrongState as refusal:
            raise InvalidTransition(str(refusal)) from refusal
        except NotAllowed as refusal:
            raise Unauthorized(str(refusal)) from refusal

    def state(self, machine: Orchestrator) -> str:
        return machine.status

    def audit(self, machine: Orchestrator) -> Sequence[AuditEntry]:
        return [
            AuditEntry(line.source, line.target, line.event, line.who, line.seq, line.at)
            for line in machine.log
        ]

    def expire(self, machine: Orchestrator) -> None:
        machine.tick()
