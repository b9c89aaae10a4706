"""The conformance harness for runtimes ``statewright generate`` wrote.

Every generated ``test_<machine>.py`` is a few lines over this module: it loads the spec
it was generated from (embedded in it), and :func:`runtime_conformance` builds the
harness's state machine (:mod:`statewright.verify.conformance.harness`) for the generated class,
with what a generated runtime has beyond the spec's transitions:

- the whole audit log, record by record: its created record, every transition, every
  context change and every rollback, numbered without a gap;
- the context: merged by ``update_the_context``, refused (``Locked``) at an approval gate;
- ``roll_back``: a person holding a rollback role returns the instance to an earlier
  record (state, context and variables, the ``keep`` ones carried over); anyone else is
  refused, and so is everyone when the spec allows no rollback, at an approval gate, and
  once the run has taken ``max`` rollbacks (:mod:`~statewright.verify.conformance.rollback`
  is the definition); the rollback's record names the record it returns to, the
  actor's roles, every value and the kept ones;
- ``replay_the_audit_log``: the log round-trips through JSON lines and replays to the
  same state, context, failures and deadline.

The runtime is driven through its public API only (duck-typed: nothing here imports the
generated code or the generator).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, ClassVar, Final

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import precondition, rule, run_state_machine_as_test

from statewright.verify.conformance import rollback as rollbacks
from statewright.verify.conformance.adapters import (
    Actor,
    AuditEntry,
    Clock,
    InvalidTransition,
    Locked,
    Refused,
    RollbackLimit,
    Unauthorized,
)
from statewright.verify.conformance.harness import ConformanceMachine, conformance_test
from statewright.verify.coverage import transition_tour
from statewright.verify.explore import explore
from statewright.verify.explore.tour import configuration_tour
from statewright.verify.graph import build_graph, reachable
from statewright.verify.load import load_text
from statewright.verify.model import Spec
from statewright.verify.semantics import Values

__all__ = [
    "PROFILE",
    "RuntimeAdapter",
    "RuntimeConformance",
    "RuntimeRollbackConformance",
    "coverage_of_random_runs",
    "follow",
    "load_spec",
    "runtime_conformance",
    "spec_tests",
    "tour",
]

settings.register_profile(
    "statewright-ci",
    max_examples=100,
    stateful_step_count=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "statewright-explore",
    max_examples=1000,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

PROFILE: Final = os.environ.get("HYPOTHESIS_PROFILE", "statewright-ci")
"""The hypothesis profile of generated tests: ``statewright-ci`` (derandomized, the
default) or ``statewright-explore`` (random, ten times the examples), by the environment
variable ``HYPOTHESIS_PROFILE``."""

Event = tuple[str, str, str, str | None, str | None]
"""A record as the harness expects it: (event, from_state, to_state, trigger, actor)."""


class RuntimeAdapter:
    """Drives a generated machine class through its public API."""

    def __init__(self, machine_class: type[Any]) -> None:
        self.machine_class = machine_class
        self.module: ModuleType = importlib.import_module(machine_class.__module__)

    def actor(self, actor: Actor | None) -> Any:
        return None if actor is None else self.module.Actor(actor.id, frozenset(actor.roles))

    def create(self, clock: Clock) -> Any:
        return self.machine_class(clock=clock)

    def fire(self, machine: Any, trigger: str, actor: Actor | None, decision: str | None) -> None:
        with self.refusals():
            machine.fire(self.module.Trigger(trigger), actor=self.actor(actor), decision=decision)

    def state(self, machine: Any) -> str:
        return str(machine.state)

    def variables(self, machine: Any) -> dict[str, object]:
        """The values of the machine's ``Variables`` by name (none without variables)."""
        if not hasattr(type(machine), "variables"):
            return {}
        return dict(dataclasses.asdict(machine.variables))

    def audit(self, machine: Any) -> Sequence[AuditEntry]:
        return [
            AuditEntry(
                str(record.from_state),
                str(record.to_state),
                record.event.value if record.trigger is None else str(record.trigger),
                record.actor,
                record.seq,
                record.at,
            )
            for record in machine.audit
        ]

    def expire(self, machine: Any) -> None:
        machine.expire()

    @contextlib.contextmanager
    def refusals(self) -> Iterator[None]:
        """Translate the runtime's refusals into the harness's."""
        module = self.module
        try:
            yield
        except module.Locked as error:
            raise Locked(str(error)) from error
        except module.RollbackLimit as error:
            raise RollbackLimit(str(error)) from error
        except module.Unauthorized as error:
            raise Unauthorized(str(error)) from error
        except module.InvalidTransition as error:
            raise InvalidTransition(str(error)) from error


class RuntimeConformance(ConformanceMachine):
    """The harness's machine with a generated runtime's log, context, rollback and replay."""

    adapter: ClassVar[RuntimeAdapter]
    rolls_back: ClassVar[bool] = True

    def __init__(self) -> None:
        initial = self.semantics.initial
        data = self.semantics.data
        self.expected: list[Event] = [("created", initial, initial, None, None)]
        self.values_after: list[Values] = [data.initial]
        """The variables after each expected record."""
        self.recorded: list[dict[str, Any] | None] = [
            data.scope(data.initial) if data.variables else None
        ]
        """The ``variables`` each expected record keeps (see the runtime's AuditRecord)."""
        self.synced = 0
        self.contexts: list[tuple[int, dict[str, Any]]] = [(1, {})]
        super().__init__()

    # -- the log as the runtime keeps it --------------------------------------------

    def sync(self) -> None:
        """Add the transitions the spec's run took since the last look to the expected log."""
        data = self.semantics.data
        for entry in self.model.log[self.synced :]:
            self.expected.append(("transition", entry.source, entry.target, entry.trigger, None))
            if entry.actor is not None:
                self.expected[-1] = (*self.expected[-1][:4], entry.actor)
            self.recorded.append(data.changed(self.values_after[-1], entry.values) or None)
            self.values_after.append(entry.values)
        self.synced = len(self.model.log)

    def expected_records(self) -> int:
        self.sync()
        return len(self.expected)

    def audit_is_chained_and_matches_spec(self, records: Sequence[AuditEntry]) -> None:
        self.sync()
        got = [
            (_event(r), r.from_state, r.to_state, _trigger(r), r.actor if _person(r) else None)
            for r in records
        ]
        want = [(e, s, t, trig, actor) for e, s, t, trig, actor in self.expected]
        where = f"after {self.last_step}"
        assert [r.seq for r in records] == list(range(1, len(records) + 1)), (
            f"{where}: audit records are not numbered 1, 2, 3, ...: {[r.seq for r in records]}"
        )
        assert got == want, (
            f"{where}: the audit log differs from the spec's:\n  runtime: {got}\n  spec:    {want}"
        )
        context = self.machine.context
        assert context == self.contexts[-1][1], (
            f"{where}: the context is {context}, the spec's run says {self.contexts[-1][1]}"
        )
        kept = [record.variables for record in self.machine.audit]
        assert kept == self.recorded, (
            f"{where}: the records keep the variables {kept}, the spec's run says {self.recorded}"
        )

    # -- rules ----------------------------------------------------------------------

    @rule()
    def update_the_context(self) -> None:
        """Context updates go through, except at an approval gate, which is locked."""
        self.last_step = "update_the_context()"
        values = {"updates": len(self.contexts)}
        self.sync()
        if self.semantics.spec.state(self.model.state).is_approval:
            self._refused(Locked, lambda: self.machine.update_context(values))
        else:
            self.machine.update_context(values)
            state = self.model.state
            self.expected.append(("context", state, state, None, None))
            self.values_after.append(self.values_after[-1])
            self.recorded.append(None)
            self.contexts.append((len(self.expected), {**self.contexts[-1][1], **values}))
        self.check()

    @precondition(lambda self: len(self.machine.audit) > 1)
    @rule(steps_back=st.integers(min_value=0, max_value=3), authorised=st.booleans())
    def roll_back(self, steps_back: int, authorised: bool) -> None:
        """Back to an earlier record, by a person holding a rollback role (refused to
        anyone else, to everyone when the spec allows none, at an approval gate, and past
        ``max``)."""
        points = self._rollback_points()
        seq = points[-1 - steps_back % len(points)]
        roles = self.semantics.spec.rollback
        actor = Actor("rollback-1", (roles[0],)) if roles and authorised else Actor("nobody")
        self._roll_back_to(seq, actor, f"roll_back(steps_back={steps_back}, actor={actor.id!r})")

    def _rollback_points(self) -> list[int]:
        """The records a rollback may return to: those that left the machine at rest."""
        self.sync()
        return [
            seq
            for seq, ((_, _, target, _, _), values) in enumerate(
                zip(self.expected, self.values_after, strict=True), start=1
            )
            if self.semantics.automatic_in(target, values) is None
        ]

    def _rollback_past_a_change(self, kept: bool) -> int | None:
        """The latest record a rollback may return to now whose variables differ from the
        present ones: in a ``keep`` variable (with ``kept``) or in one a rollback restores
        (without), if any record does, else in any; None
        when the spec allows no rollback, the run is at an approval gate or has taken
        its ``max``, or no record differs."""
        self.sync()
        semantics = self.semantics
        taken = sum(1 for entry in self.expected if entry[0] == "rollback")
        roles = semantics.spec.rollback or ()
        if not roles or rollbacks.refusal(semantics, roles[:1], self.model.state, taken):
            return None
        points = [(seq, self.values_after[seq - 1]) for seq in self._rollback_points()]
        return rollbacks.past_a_change(semantics, points, self.values_after[-1], kept)

    def _roll_back_to(self, seq: int, actor: Actor, step: str) -> None:
        """Roll back to record ``seq`` by ``actor`` on both sides, or insist on the refusal
        the spec gives; then the rollback's record and the run against the spec's."""
        self.last_step = f"{step} to record {seq}"
        rollback = self.adapter.module.Actor(actor.id, frozenset(actor.roles))

        def action() -> object:
            return self.machine.rollback(seq, actor=rollback, decision="roll back")

        taken = sum(1 for entry in self.expected if entry[0] == "rollback")
        refused = rollbacks.refusal(self.semantics, actor.roles, self.model.state, taken)
        if refused is not None:
            self._refused(refused, action)
            self.check()
            return
        action()
        current, target = self.values_after[-1], self.values_after[seq - 1]
        self.rollback_record_matches_spec(
            rollbacks.rollback_record(self.semantics, seq, actor.roles, target, current)
        )
        values = rollbacks.restored(self.semantics, target, current)
        source, state = self.model.state, self.expected[seq - 1][2]
        self.model.restore(state, self.clock(), values)
        self.expected.append(("rollback", source, state, None, actor.id))
        self.values_after.append(values)
        data = self.semantics.data
        self.recorded.append(data.scope(values) if data.variables else None)
        context = [found for number, found in self.contexts if number <= seq][-1]
        self.contexts.append((len(self.expected), context))
        self.check()

    def rollback_record_matches_spec(self, want: rollbacks.RollbackRecord) -> None:
        """The rollback's own record: the record it returns to, the actor's roles, every
        variable's value after it and, in its data, the ``keep`` values carried over."""
        record = self.machine.audit[-1]
        data = record.data if isinstance(record.data, dict) else {}
        got = rollbacks.RollbackRecord(
            record.rollback_to,
            tuple(record.roles or ()),
            record.variables,
            data.get("kept"),
        )
        assert got == want, (
            f"after {self.last_step}: the rollback record holds {got}, the spec says {want}"
        )

    @precondition(lambda self: len(self.machine.audit) > 1)
    @rule()
    def replay_the_audit_log(self) -> None:
        """The log round-trips through JSON lines and replays to the same machine."""
        self.last_step = "replay_the_audit_log()"
        cls = self.adapter.machine_class
        audit = self.machine.audit
        records = cls.load_audit(cls.dump_audit(audit))
        assert records == audit, "the audit log does not round-trip through JSON lines"
        again = cls.replay(records, clock=self.clock)
        kept = ("state", "audit", "context", "failures", "deadline", "reason")
        for what in (*kept, "variables") if hasattr(cls, "variables") else kept:
            assert getattr(again, what) == getattr(self.machine, what), (
                f"replaying the log gives another {what}: {getattr(again, what)!r}, "
                f"not {getattr(self.machine, what)!r}"
            )

    def _refused(self, refusal: type[Refused], action: Callable[[], object]) -> None:
        before = (
            self.machine.state,
            len(self.machine.audit),
            self.machine.context,
            self.adapter.variables(self.machine),
        )
        try:
            with self.adapter.refusals():
                action()
        except refusal:
            pass
        else:
            raise AssertionError(f"{self.last_step}: expected {refusal.__name__}, it went through")
        after = (
            self.machine.state,
            len(self.machine.audit),
            self.machine.context,
            self.adapter.variables(self.machine),
        )
        assert after == before, f"{self.last_step}: refused, but changed: {before} -> {after}"


def _event(record: AuditEntry) -> str:
    return record.trigger if record.trigger in _EVENTS else "transition"


def _trigger(record: AuditEntry) -> str | None:
    return None if record.trigger in _EVENTS else record.trigger


def _person(record: AuditEntry) -> bool:
    """Whether the record's actor is part of what the spec fixes (humans and rollbacks)."""
    return record.trigger not in ("created", "context")


_EVENTS = frozenset({"created", "context", "rollback"})


class RuntimeRollbackConformance(RuntimeConformance):
    """:class:`RuntimeConformance` with the rule that rolls back past a change of a
    variable: the harness of a spec with variables and a rollback, the only specs where
    it can apply (a rule that can never run still shifts which runs hypothesis draws)."""

    @precondition(lambda self: self._rollback_past_a_change(kept=False) is not None)
    @rule(kept=st.booleans())
    def roll_back_past_a_change(self, kept: bool) -> None:
        """Back, by a person holding a rollback role, to the latest record whose variables
        differ from the present ones: with ``kept``, in a variable the spec's ``keep``
        carries over if there is one (so a rollback that restores it is caught), else in
        one it restores (so a rollback that carries that over is caught)."""
        seq = self._rollback_past_a_change(kept)
        assert seq is not None
        roles = self.semantics.spec.rollback
        assert roles is not None
        step = f"roll_back_past_a_change(kept={kept})"
        self._roll_back_to(seq, Actor("rollback-1", (roles[0],)), step)


def runtime_conformance(spec: Spec, machine_class: type[Any]) -> type[RuntimeConformance]:
    """The harness's state machine for a generated ``machine_class`` of ``spec``, named
    ``<Class>AgainstSpec``."""
    built = conformance_test(
        spec,
        RuntimeAdapter(machine_class),
        settings=settings.get_profile(PROFILE),
        base=RuntimeRollbackConformance if spec.variables and spec.rollback else RuntimeConformance,
        name=f"{machine_class.__name__}AgainstSpec",
    )
    assert issubclass(built, RuntimeConformance)
    return built


def spec_tests(
    spec: Spec, machine: type[RuntimeConformance]
) -> tuple[Callable[[tuple[str, ...]], None], Callable[[Callable[[str, object], None]], None]]:
    """The two tests of a generated ``test_<machine>.py``, which binds them to its names:

    - ``test_covering_path``: each sequence of the checker's tour (:func:`tour`) replayed
      on a fresh run, one test per sequence, so every transition fires on every run;
    - ``test_random_runs_follow_the_spec``: hypothesis drives the runtime and the spec's
      one semantics side by side (:func:`coverage_of_random_runs`), and records the
      transitions it fired as the JUnit property ``transition_coverage``.

    ``HYPOTHESIS_PROFILE`` picks the profile: ``statewright-ci`` (the default;
    derandomized) or ``statewright-explore`` (random, ten times the examples).
    """
    import pytest  # the generated tests run under pytest; checking never imports this

    paths = tour(spec)

    @pytest.mark.parametrize("path", paths, ids=[f"tour-{n}" for n in range(1, len(paths) + 1)])
    def test_covering_path(path: tuple[str, ...]) -> None:
        """One sequence of the checker's transition tour, replayed on the runtime."""
        follow(machine, path)

    def test_random_runs_follow_the_spec(record_property: Callable[[str, object], None]) -> None:
        """Hypothesis drives the runtime against the spec; then every transition has fired."""
        report = coverage_of_random_runs(machine, spec)
        record_property("transition_coverage", report)
        print(report)

    return test_covering_path, test_random_runs_follow_the_spec


def load_spec(text: str, file: str) -> Spec:
    """The spec a generated test module embeds; ``ValueError`` if it no longer loads."""
    loaded = load_text(text, file)
    if loaded.spec is None:
        problems = "; ".join(finding.format() for finding in loaded.findings)
        raise ValueError(f"the embedded spec does not load: {problems}")
    return loaded.spec


def tour(spec: Spec) -> tuple[tuple[str, ...], ...]:
    """The checker's covering trigger sequences of ``spec`` (over its configurations, for
    a spec with variables)."""
    if spec.has_data:
        return configuration_tour(explore(spec)).paths
    return transition_tour(spec, build_graph(spec)).paths


def follow(machine: type[RuntimeConformance], path: tuple[str, ...]) -> None:
    """Fire ``path`` on a fresh run, checking every step against the spec."""
    machine().follow(path, "tour step")


def coverage_of_random_runs(machine: type[RuntimeConformance], spec: Spec) -> str:
    """Run hypothesis on ``machine``, then the checker's tour; fail if a transition the
    spec can fire never fired. Returns a line that says how many each covered."""
    fired = machine.fired
    fired.clear()
    run_state_machine_as_test(machine, settings=settings.get_profile(PROFILE))
    by_hypothesis = {key for key, count in fired.items() if count}
    for path in tour(spec):
        follow(machine, path)
    semantics = machine.semantics
    if spec.has_data:
        transitions = spec.transitions
        coverable = list(
            dict.fromkeys(
                (transitions[n].source, transitions[n].trigger, transitions[n].target)
                for n in sorted(set(explore(spec, rollback=False).found.via))
                if n < len(transitions)  # an approval gate's steps are no transition
            )
        )
    else:
        live = reachable(build_graph(spec), spec.initial)
        coverable = [
            (t.source, t.trigger, t.target)
            for state in semantics.steps
            if state in live
            for t in (*semantics.steps[state], *filter(None, [semantics.automatic.get(state)]))
        ]
    missed = [key for key in coverable if not fired[key]]
    total = len(coverable)
    report = (
        f"{spec.machine}: hypothesis fired {len(by_hypothesis & set(coverable))} of {total} "
        f"transitions; with the tour, {total - len(missed)} of {total}"
    )
    assert not missed, f"never fired: {missed}"
    return report
