"""The conformance harness: it passes a correct hand-written orchestrator and catches bugs.

The implementation and adapter are the worked example of docs/conformance.md, under
tests/conformance_example/ (whose test module runs the harness on the correct version);
the counterexample printed in the docs is replayed here on both versions.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import timedelta
from pathlib import Path

import pytest
from conformance_example.adapter import OrchestratorAdapter
from conformance_example.buggy import BuggyOrchestrator
from conformance_example.orchestrator import NotAllowed, Orchestrator
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test

from statewright.verify.conformance import (
    Actor,
    AuditedAdapter,
    Clock,
    ConformanceMachine,
    InvalidTransition,
    TimedAdapter,
    conformance_test,
    intruders,
    reviewers,
)
from statewright.verify.load import load_file
from statewright.verify.model import Spec
from statewright.verify.semantics import Semantics

ROOT = Path(__file__).resolve().parents[1]

# The worked example's orchestrator has no rollback (tests/test_conformance_rollback.py
# drives one that has): the harness's one warning per test built says so.
pytestmark = pytest.mark.filterwarnings(
    "ignore::statewright.verify.conformance.RollbackNotExercised"
)

SEARCH = settings(
    max_examples=150,
    stateful_step_count=30,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def spec_of(name: str) -> Spec:
    result = load_file(ROOT / "specs" / f"{name}.yaml")
    assert result.spec is not None, result.findings
    return result.spec


@pytest.fixture(scope="module")
def orchestrator() -> Spec:
    return spec_of("orchestrator")


def run(machine: type[RuleBasedStateMachine]) -> None:
    run_state_machine_as_test(machine, settings=SEARCH)


def failure_of(machine: type[RuleBasedStateMachine]) -> str:
    with pytest.raises(AssertionError) as caught:
        run(machine)
    return str(caught.value)


# -- the worked example ---------------------------------------------------------------


def test_the_planted_bug_is_caught(orchestrator: Spec) -> None:
    message = failure_of(conformance_test(orchestrator, OrchestratorAdapter(BuggyOrchestrator)))
    assert "WAITING_FOR_APPROVAL is an approval gate and must hold still" in message


def docs_counterexample() -> tuple[list[str], str]:
    """The shrunk steps and the error line pasted into docs/conformance.md."""
    text = (ROOT / "docs" / "conformance.md").read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```text\n")[1:]]
    block = next(b for b in blocks if "state = OrchestratorConformance()" in b)
    steps = re.findall(r"^(?:E +)?(state\.\w+\(.*\))$", block, flags=re.MULTILINE)
    error = re.search(r"^(?:E +)?AssertionError: (.*)$", block, flags=re.MULTILINE)
    assert steps and error, "docs/conformance.md lost its counterexample"
    return [s for s in steps if s != "state.teardown()"], error.group(1)


def replay(machine: type[RuleBasedStateMachine], steps: list[str]) -> None:
    state = machine()
    for step in steps:
        eval(step, {"state": state, "Actor": Actor})  # steps as hypothesis printed them


def test_the_counterexample_in_the_docs_is_real(orchestrator: Spec) -> None:
    steps, error = docs_counterexample()
    with pytest.raises(AssertionError) as caught:
        replay(conformance_test(orchestrator, OrchestratorAdapter(BuggyOrchestrator)), steps)
    assert str(caught.value) == error
    replay(conformance_test(orchestrator, OrchestratorAdapter(Orchestrator)), steps)


# -- teeth: other bugs a hand-written orchestrator could have -------------------------


class AnyReviewer(Orchestrator):
    """Lets any reviewer act at any gate."""

    def handle(
        self, event: str, who: str | None = None, roles: Collection[str] = (), note: str = ""
    ) -> None:
        super().handle(event, who, {"tech_lead", "on_call"} if set(roles) else roles, note)


class ShortcutHome(Orchestrator):
    """Accepts ``housekeeping_done`` while RUNNING, which the spec does not declare."""

    def handle(
        self, event: str, who: str | None = None, roles: Collection[str] = (), note: str = ""
    ) -> None:
        if (self.status, event) == ("RUNNING", "housekeeping_done"):
            self.status = "IDLE"
            return
        super().handle(event, who, roles, note)


class QuietTimeout(Orchestrator):
    """Times the gate out without writing it to the log."""

    def tick(self) -> None:
        before = len(self.log)
        super().tick()
        del self.log[before:]


class EagerTimeout(Orchestrator):
    """Times the gate out a minute early."""

    def tick(self) -> None:
        if self.gate_opened is not None:
            self.gate_opened -= timedelta(minutes=1)
            super().tick()
            self.gate_opened += timedelta(minutes=1)


class Anonymous(Orchestrator):
    """Checks the reviewer's role but logs nobody."""

    def _move(self, target: str, event: str, who: str | None, note: str | None) -> None:
        super()._move(target, event, None, note)


class HalfRefusal(Orchestrator):
    """Moves to the new state before checking the reviewer's role."""

    def handle(
        self, event: str, who: str | None = None, roles: Collection[str] = (), note: str = ""
    ) -> None:
        source = self.status
        try:
            super().handle(event, who, roles, note)
        except NotAllowed:
            self.status = "RUNNING" if source == "WAITING_FOR_APPROVAL" else source
            raise


@pytest.mark.parametrize(
    ("bug", "symptom"),
    [
        (AnyReviewer, "the spec says to refuse (unauthorised)"),
        (ShortcutHome, "the spec says to refuse (undeclared) 'housekeeping_done'"),
        (QuietTimeout, "audit log:"),
        (EagerTimeout, "approval gate and must hold still"),
        (Anonymous, "names actor None"),
        (HalfRefusal, "refused 'human_"),
    ],
    ids=[
        "any-reviewer",
        "undeclared-shortcut",
        "unlogged-timeout",
        "early-timeout",
        "anonymous-log",
        "refusal-with-side-effect",
    ],
)
def test_the_harness_catches(orchestrator: Spec, bug: type[Orchestrator], symptom: str) -> None:
    assert symptom in failure_of(conformance_test(orchestrator, OrchestratorAdapter(bug)))


class WrongRefusal(OrchestratorAdapter):
    """Reports every refusal as an undeclared trigger, even a missing sign-off."""

    def fire(
        self, machine: Orchestrator, trigger: str, actor: Actor | None, decision: str | None
    ) -> None:
        try:
            super().fire(machine, trigger, actor, decision)
        except Exception as refusal:
            raise InvalidTransition(str(refusal)) from refusal


def test_a_refusal_of_the_wrong_kind_is_caught(orchestrator: Spec) -> None:
    message = failure_of(conformance_test(orchestrator, WrongRefusal(Orchestrator)))
    assert "the spec says to refuse (unauthorised)" in message
    assert "refused it with InvalidTransition" in message


# -- adapters with fewer capabilities -------------------------------------------------


class StateOnly:
    """The smallest adapter: no audit log, no timeouts."""

    def create(self, clock: Clock) -> Orchestrator:
        return Orchestrator(now=clock)

    def fire(
        self, machine: Orchestrator, trigger: str, actor: Actor | None, decision: str | None
    ) -> None:
        OrchestratorAdapter().fire(machine, trigger, actor, decision)

    def state(self, machine: Orchestrator) -> str:
        return machine.status


def test_an_adapter_without_audit_or_expire_gets_no_timed_rules(orchestrator: Spec) -> None:
    adapter = StateOnly()
    assert not isinstance(adapter, AuditedAdapter)
    assert not isinstance(adapter, TimedAdapter)
    assert isinstance(OrchestratorAdapter(), AuditedAdapter)
    assert isinstance(OrchestratorAdapter(), TimedAdapter)
    machine = conformance_test(orchestrator, adapter)
    assert not [name for name in vars(machine) if "wait" in name or name == "time_passes"]
    run(machine)
    assert "the spec says to refuse (unauthorised)" in failure_of(
        conformance_test(orchestrator, _state_only(AnyReviewer))
    )


def _state_only(factory: type[Orchestrator]) -> StateOnly:
    class Adapter(StateOnly):
        def create(self, clock: Clock) -> Orchestrator:
            return factory(now=clock)

    return Adapter()


def test_steps_are_named_after_the_spec(orchestrator: Spec) -> None:
    machine = conformance_test(orchestrator, OrchestratorAdapter())
    assert machine.__name__ == "OrchestratorConformance"
    assert issubclass(machine, ConformanceMachine)
    rules = {name for name in vars(machine) if not name.startswith("_")}
    timed = {"approval_timeout", "agent_timeout"}
    expected_fires = {f"fire_{t}" for t in orchestrator.triggers if t not in timed}
    assert (
        expected_fires
        | {
            "refuse_undeclared_triggers",
            "wait_for_approval_timeout",
            "wait_until_just_before_approval_timeout",
            "wait_for_agent_timeout",
            "time_passes",
        }
        <= rules
    )


def test_settings_apply_to_the_test_case(orchestrator: Spec) -> None:
    chosen = settings(max_examples=7)
    machine = conformance_test(orchestrator, OrchestratorAdapter(), settings=chosen)
    assert machine.TestCase.settings.max_examples == 7


def test_reviewers_and_intruders_of_a_human_trigger(orchestrator: Spec) -> None:
    semantics = Semantics.of(orchestrator)
    assert reviewers(semantics, "human_approved") == (Actor("tech_lead-1", ("tech_lead",)),)
    assert intruders(semantics, "human_approved") == (
        Actor("on_call-1", ("on_call",)),
        Actor("outsider", ()),
        None,
    )
    assert reviewers(semantics, "task_received") == ()
