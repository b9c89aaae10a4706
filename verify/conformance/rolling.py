"""Rollback steps on an implementation driven through a plain adapter.

:func:`~statewright.verify.conformance.harness.conformance_test` builds its machine on
:class:`RollbackConformance` when the adapter offers ``rollback``
(:class:`~statewright.verify.conformance.adapters.RollbackAdapter`). Its rules:

- ``roll_back(steps_back, actor)``: back to one of the last records a rollback may
  return to (those that left the machine at rest, the run as created among them), by a
  holder of a rollback role or by anyone else (the spec's other roles, an outsider);
- ``roll_back_past_a_change(kept)``: by a holder of a rollback role, back to the latest
  record whose variables differ from the present ones, in a ``keep`` variable (so a
  rollback that restores it is caught) or in one a rollback restores (so one that carries
  it over is caught).

Each is held to :mod:`~statewright.verify.conformance.rollback`, the definition the
generated runtime's tests use too: refused exactly when the spec refuses it (a person
without a rollback role, any rollback when the spec allows none: ``Unauthorized``; at an
approval gate: ``Locked``; past ``max``: ``RollbackLimit``) and then nothing changes;
otherwise the state and variables are those of the record returned to, the ``keep`` ones
carried over, the record the adapter returns names the record, the actor's roles, every
value and the kept ones, and the audit log holds a ``rollback`` record by the actor.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule

from statewright.verify.conformance import rollback as rollbacks
from statewright.verify.conformance.adapters import Actor, Refused, RollbackAdapter
from statewright.verify.conformance.harness import ConformanceMachine, Rule
from statewright.verify.semantics import Entry, Semantics, Values

__all__ = ["RollbackConformance", "rollback_cast"]


def rollback_cast(semantics: Semantics) -> tuple[Actor, ...]:
    """Who tries to roll back: a holder of each rollback role, a holder of each other
    role the spec names, and an outsider with none."""
    allowed = semantics.spec.rollback or ()
    others = sorted(set(semantics.roles) - set(allowed))
    return (
        *(Actor(f"rollback-{role}", (role,)) for role in allowed),
        *(Actor(f"{role}-1", (role,)) for role in others),
        Actor("outsider"),
    )


class RollbackConformance(ConformanceMachine):
    """The harness's machine with the rollback rules, for adapters with ``rollback``."""

    adapter: ClassVar[RollbackAdapter[Any]]
    rolls_back: ClassVar[bool] = True

    def __init__(self) -> None:
        self.rollbacks: list[tuple[int, Entry]] = []
        """Each rollback's record, with the length of the spec's log when it was taken."""
        super().__init__()

    def expected_log(self) -> Sequence[Entry]:
        """The spec's log with each rollback's record where it was taken."""
        log = self.model.log
        merged: list[Entry] = []
        start = 0
        for at, record in self.rollbacks:
            merged.extend(log[start:at])
            merged.append(record)
            start = at
        merged.extend(log[start:])
        return merged

    def points(self) -> list[tuple[int, str, Values]]:
        """The records a rollback may return to (0: the run as created), each with the
        state and the variables after it: those that left the machine at rest."""
        semantics = self.semantics
        after = [
            (0, semantics.initial, semantics.data.initial),
            *(
                (seq, entry.target, entry.values)
                for seq, entry in enumerate(self.expected_log(), start=1)
            ),
        ]
        return [found for found in after if semantics.automatic_in(found[1], found[2]) is None]

    def taken(self) -> int:
        return len(self.rollbacks)

    def past_a_change(self, kept: bool) -> int | None:
        """The record :func:`~.rollback.past_a_change` picks now; None when a holder of a
        rollback role would be refused here, or no record differs."""
        semantics = self.semantics
        roles = semantics.spec.rollback or ()
        if not roles or rollbacks.refusal(semantics, roles[:1], self.model.state, self.taken()):
            return None
        points = [(seq, values) for seq, _, values in self.points()]
        return rollbacks.past_a_change(semantics, points, self.model.values, kept)

    # -- rules ----------------------------------------------------------------------

    @classmethod
    def rules_for(cls, semantics: Semantics) -> dict[str, Rule]:
        """``roll_back(steps_back, actor)``: back to one of the last records a rollback
        may return to, by anyone of :func:`rollback_cast`."""

        def roll_back(self: RollbackConformance, steps_back: int, actor: Actor) -> None:
            points = self.points()
            seq = points[-1 - steps_back % len(points)][0]
            self.roll_back_to(seq, actor, f"roll_back(steps_back={steps_back}, actor={actor!r})")

        drawn = rule(
            steps_back=st.integers(min_value=0, max_value=3),
            actor=st.sampled_from(rollback_cast(semantics)),
        )(roll_back)
        return {"roll_back": precondition(lambda self: bool(self.points()))(drawn)}

    @precondition(lambda self: self.past_a_change(kept=False) is not None)
    @rule(kept=st.booleans())
    def roll_back_past_a_change(self, kept: bool) -> None:
        """Back, by a holder of a rollback role, to the latest record whose variables
        differ from the present ones: with ``kept`` in a ``keep`` variable if one does,
        else in one a rollback restores."""
        seq = self.past_a_change(kept)
        assert seq is not None
        roles = self.semantics.spec.rollback or ()
        actor = Actor(f"rollback-{roles[0]}", (roles[0],))
        self.roll_back_to(seq, actor, f"roll_back_past_a_change(kept={kept})")

    # -- what the rules do ----------------------------------------------------------

    def roll_back_to(self, seq: int, actor: Actor, step: str) -> None:
        """Roll back to record ``seq`` by ``actor`` on both sides, or insist on the
        refusal the spec gives; then the record the adapter returns against the spec's."""
        self.last_step = f"{step} to record {seq}"
        semantics = self.semantics
        source = self.model.state
        expected = rollbacks.refusal(semantics, actor.roles, source, self.taken())
        try:
            record = self.adapter.rollback(self.machine, seq, actor, "roll back")
        except Refused as refusal:
            if expected is None or not _same(refusal, expected):
                said = "to roll back" if expected is None else f"{expected.__name__}"
                raise AssertionError(
                    f"{self.last_step}: in {source} the spec says {said} (by {actor.id}, "
                    f"roles: {', '.join(actor.roles) or 'none'}; {self._rollback_rule()}), "
                    f"but the implementation refused it with {type(refusal).__name__}: "
                    f"{refusal}"
                ) from refusal
            self._unchanged_after_refusal(self.last_step, "rollback")
            self.check()
            return
        if expected is not None:
            raise AssertionError(
                f"{self.last_step}: in {source} the spec says to refuse the rollback with "
                f"{expected.__name__} (by {actor.id}, roles: {', '.join(actor.roles) or 'none'}"
                f"; {self._rollback_rule()}), but the implementation rolled back"
            )
        _, state, target = next(found for found in self.points() if found[0] == seq)
        current = self.model.values
        want = rollbacks.rollback_record(semantics, seq, actor.roles, target, current)
        if record is not None and record != want:
            raise AssertionError(
                f"after {self.last_step}: the implementation recorded {record}, "
                f"the spec says {want}"
            )
        values = rollbacks.restored(semantics, target, current)
        now = self.clock()
        self.rollbacks.append(
            (len(self.model.log), Entry(source, state, "rollback", now, actor.id, values))
        )
        self.model.restore(state, now, values)
        self.check()

    def _rollback_rule(self) -> str:
        spec = self.semantics.spec
        if not spec.rollback:
            return "the spec allows no rollback"
        most = "" if spec.rollback_max is None else f", max {spec.rollback_max}"
        return (
            f"rollback: reviewers {', '.join(spec.rollback)}{most}, "
            f"{self.taken()} taken, none from an approval state"
        )


def _same(refusal: Refused, expected: type[Refused]) -> bool:
    """Whether ``refusal`` is the one expected (a plain :class:`Refused` is taken for any)."""
    return isinstance(refusal, expected) or type(refusal) is Refused
