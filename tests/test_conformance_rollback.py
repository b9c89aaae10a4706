"""The conformance harness drives rollback steps on a user's own implementation.

A hand-written review loop (``tests/conformance_example/review_loop.py``) offers
``rollback`` through its adapter; the harness rolls it back, by the editor in chief and
by everyone else, and holds each rollback to the definition in DESIGN.md ("Rollback
inside the proof"), the one the generated runtime's tests use. The correct loop passes;
one with a rollback bug of each kind (forgets ``keep``, ignores ``max``, lets a
non-reviewer roll back, returns to the wrong record) is caught. An adapter without
``rollback`` keeps the harness as it was, and the harness says once that rollback was not
exercised.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import pytest
from conformance_example.adapter import OrchestratorAdapter
from conformance_example.orchestrator import NotAllowed
from conformance_example.review_loop import (
    ReviewLoop,
    ReviewLoopAdapter,
    Snapshot,
)
from test_conformance import run
from test_mutants import REVIEW_LOOP

from statewright.verify.conformance import (
    Actor,
    RollbackAdapter,
    RollbackNotExercised,
    RollbackRecord,
    conformance_test,
)
from statewright.verify.conformance.adapters import Refused
from statewright.verify.conformance.harness import RollbackConformance, rollback_cast
from statewright.verify.load import load_file, load_text
from statewright.verify.model import Spec
from statewright.verify.semantics import Semantics

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def review_loop() -> Spec:
    spec = load_text(REVIEW_LOOP, "review_loop.yaml").spec
    assert spec is not None and spec.rollback_keep == ("rounds",) and spec.rollback_max == 2
    return spec


class Counting(ReviewLoopAdapter):
    """The adapter, counting each rollback's outcome: taken, or the refusal's kind."""

    def __init__(self, factory: type[ReviewLoop] = ReviewLoop) -> None:
        super().__init__(factory)
        self.outcomes: Counter[str] = Counter()
        self.kept_changed = 0

    def rollback(
        self, machine: ReviewLoop, to_seq: int, actor: Actor, decision: str
    ) -> RollbackRecord | None:
        rounds = machine.rounds
        try:
            record = super().rollback(machine, to_seq, actor, decision)
        except Refused as refusal:
            self.outcomes[type(refusal).__name__] += 1
            raise
        self.outcomes["taken"] += 1
        self.kept_changed += machine.snapshots[to_seq].rounds != rounds
        return record


# -- the correct implementation ---------------------------------------------------------


def test_the_correct_review_loop_passes_with_every_kind_of_rollback(review_loop: Spec) -> None:
    adapter = Counting()
    assert isinstance(adapter, RollbackAdapter)
    machine = conformance_test(review_loop, adapter)
    assert issubclass(machine, RollbackConformance)
    assert {"roll_back", "roll_back_past_a_change"} <= set(dir(machine))
    run(machine)
    # rollbacks went through, past a change of the kept round count among them, and the
    # spec's three refusals were each met
    assert adapter.outcomes["taken"] > 0, adapter.outcomes
    assert adapter.kept_changed > 0
    assert {"Unauthorized", "Locked", "RollbackLimit"} <= set(adapter.outcomes), adapter.outcomes


def test_who_tries_to_roll_back(review_loop: Spec) -> None:
    """A holder of the rollback role, a holder of every other role, an outsider."""
    cast = rollback_cast(Semantics.of(review_loop))
    assert cast == (
        Actor("rollback-editor_in_chief", ("editor_in_chief",)),
        Actor("editor-1", ("editor",)),
        Actor("outsider"),
    )


# -- teeth: a rollback bug of each kind -------------------------------------------------


class ForgetsKeep(ReviewLoop):
    """Restores the round count with the rest (the budget starts again)."""

    def kept_rounds(self, then: Snapshot, now: int) -> int:
        return then.rounds


class IgnoresMax(ReviewLoop):
    """Rolls back as often as asked."""

    def check_rollback(self, roles: Collection[str]) -> None:
        if not {"editor_in_chief"} & set(roles):
            raise NotAllowed("a rollback needs the editor in chief")
        if self.state == "REVIEW":
            super().check_rollback(roles)


class AnyEditorRollsBack(ReviewLoop):
    """Lets any editor roll back, not only the editor in chief."""

    def check_rollback(self, roles: Collection[str]) -> None:
        super().check_rollback({"editor_in_chief"} if "editor" in roles else roles)


class WrongRecord(ReviewLoop):
    """Counts log lines from 0: returns to the record before the one asked for."""

    def restore_point(self, to: int) -> Snapshot:
        return self.snapshots[to - 1] if to else self.snapshots[0]


@pytest.mark.parametrize(
    ("bug", "symptom"),
    [
        (ForgetsKeep, "the implementation recorded RollbackRecord("),
        (IgnoresMax, "the spec says to refuse the rollback with RollbackLimit"),
        (AnyEditorRollsBack, "the spec says to refuse the rollback with Unauthorized"),
        (WrongRecord, "the implementation is in"),
    ],
    ids=["forgets-keep", "ignores-max", "non-reviewer", "wrong-record"],
)
def test_a_rollback_bug_is_caught(review_loop: Spec, bug: type[ReviewLoop], symptom: str) -> None:
    with pytest.raises(AssertionError) as caught:
        run(conformance_test(review_loop, ReviewLoopAdapter(bug)))
    assert symptom in str(caught.value), caught.value


def test_a_forgotten_keep_is_caught_by_the_values_too(review_loop: Spec) -> None:
    """An adapter that returns no record of its own: the variables it reads catch it."""

    class Silent(ReviewLoopAdapter):
        def rollback(
            self, machine: ReviewLoop, to_seq: int, actor: Actor, decision: str
        ) -> RollbackRecord | None:
            super().rollback(machine, to_seq, actor, decision)
            return None

    run(conformance_test(review_loop, Silent()))
    with pytest.raises(AssertionError) as caught:
        run(conformance_test(review_loop, Silent(ForgetsKeep)))
    assert "the implementation's variables are" in str(caught.value)


# -- an adapter without rollback ----------------------------------------------------------


class NoRollback(ReviewLoopAdapter):
    """The review loop's adapter as it was before rollback: no ``rollback``."""

    rollback = None  # type: ignore[assignment]


def test_an_adapter_without_rollback_is_told_once(review_loop: Spec) -> None:
    adapter = NoRollback()
    assert not isinstance(adapter, RollbackAdapter)
    with pytest.warns(RollbackNotExercised) as told:
        machine = conformance_test(review_loop, adapter)
    assert len(told) == 1
    assert "rollback steps are not exercised" in str(told[0].message)
    assert "NoRollback has no rollback(machine, to_seq, actor, decision)" in str(told[0].message)
    assert not issubclass(machine, RollbackConformance)
    assert not [name for name in dir(machine) if name.startswith("roll_back")]
    run(machine)  # and the rest of the test runs as before, even on a rollback bug
    with pytest.warns(RollbackNotExercised):
        run(conformance_test(review_loop, NoRollback(ForgetsKeep)))


def test_a_spec_without_rollback_says_nothing() -> None:
    release = load_file(ROOT / "specs" / "release_review.yaml").spec
    assert release is not None and not release.rollback
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        conformance_test(release, OrchestratorAdapter())  # built, never run


# -- what docs/conformance.md quotes ------------------------------------------------------


def quoted(start: str) -> str:
    """The line of docs/conformance.md's ``text`` blocks that starts with ``start``."""
    text = (ROOT / "docs" / "conformance.md").read_text(encoding="utf-8")
    blocks = [block.split("```", 1)[0] for block in text.split("```text\n")[1:]]
    found = [line for b in blocks for line in b.splitlines() if line.startswith(start)]
    assert len(found) == 1, f"docs/conformance.md lost its {start!r} line"
    return found[0]


def test_the_outputs_in_the_docs_are_real(review_loop: Spec) -> None:
    with pytest.raises(AssertionError) as caught:
        run(conformance_test(review_loop, ReviewLoopAdapter(AnyEditorRollsBack)))
    assert quoted("AssertionError: roll_back(") == f"AssertionError: {caught.value}"
    orchestrator = load_file(ROOT / "specs" / "orchestrator.yaml", "specs/orchestrator.yaml")
    assert orchestrator.spec is not None
    with pytest.warns(RollbackNotExercised) as told:
        conformance_test(orchestrator.spec, OrchestratorAdapter())
    assert quoted("RollbackNotExercised: ") == f"RollbackNotExercised: {told[0].message}"
