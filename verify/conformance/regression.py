"""Counterexamples as regression tests: replay a violated property's trace on a runtime.

``statewright check --regressions DIR`` writes, for every property the checker finds
violated, a pytest module that calls :func:`assert_unreachable` with the spec (embedded),
the property's name and its counterexample. The test drives the generated runtime along
the counterexample, step by step, with the semantics of the spec deciding who acts (a
human step is taken by an actor holding one of its source state's reviewer roles, a timed
one waits for its deadline):

- when the runtime refuses a step, or goes elsewhere (another state, other values), the
  counterexample no longer happens: the test passes;
- when it follows the whole trace and the property fails at its end (an ``always`` is
  false, a ``precedence`` state is entered without its trigger, a ``leads_to`` run goes
  round its cycle back to where the cycle began, or ends, without reaching its target),
  the test fails, naming the step.

So the test fails while the spec (and the runtime generated from it) allows the
violation, and passes once the spec is fixed and the runtime regenerated.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from statewright.verify.conformance.adapters import START, ManualClock
from statewright.verify.model import AUTOMATIC_TRIGGER, Property, PropertyKind, Spec, Value
from statewright.verify.semantics import Semantics, evaluate

__all__ = ["Step", "assert_unreachable"]


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a counterexample: the trigger, the state it leads to and the values of
    the variables after it."""

    trigger: str
    target: str
    variables: Mapping[str, Value] = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        values = ", ".join(f"{k}={v}" for k, v in self.variables.items())
        return f"{self.trigger} -> {self.target}" + (f" ({values})" if values else "")


class _Diverged(Exception):
    """The runtime did not take the step: the counterexample no longer happens."""


def assert_unreachable(
    machine_class: type[Any],
    spec: Spec,
    name: str,
    trace: Sequence[Step],
    cycle: Sequence[Step] = (),
) -> None:
    """Replay ``trace`` then ``cycle`` on a fresh ``machine_class`` instance; fail with an
    ``AssertionError`` if the runtime follows them and the property ``name`` of ``spec``
    fails along them, as the checker found (see the module documentation)."""
    (prop,) = [p for p in spec.properties if p.name == name]
    replay = _Replay(machine_class, spec, prop)
    try:
        for number, step in enumerate((*trace, *cycle), start=1):
            replay.step(number, step)
    except _Diverged:
        return
    replay.ended(len(trace), bool(cycle))


class _Replay:
    """The runtime driven along a counterexample, its audit log read record by record (an
    ``always`` step of the trace is a record the runtime wrote at once, on its own)."""

    def __init__(self, machine_class: type[Any], spec: Spec, prop: Property) -> None:
        self.semantics = Semantics.of(spec)
        self.module = importlib.import_module(machine_class.__module__)
        self.clock = ManualClock(START)
        self.machine = machine_class(clock=self.clock)
        self.prop = prop
        created = self.machine.audit[0]
        self.values: dict[str, Value] = dict(created.variables or {})
        self.state = str(created.to_state)
        self.read = 1  # audit records read so far
        self.armed = False  # precedence: the required trigger fired since leaving initial
        self.visited = [(self.state, dict(self.values))]
        # leads_to: the run has been in a source and has not reached a target since
        self.pending = self.state in prop.states and self.state not in prop.targets
        self.problem: str | None = None

    def step(self, number: int, step: Step) -> None:
        if step.trigger != AUTOMATIC_TRIGGER and self.read == len(self.machine.audit):
            self.fire(step.trigger)
        records = self.machine.audit[self.read :]
        if not records:
            raise _Diverged
        record = records[0]
        self.read += 1
        if (str(record.trigger), str(record.to_state)) != (step.trigger, step.target):
            raise _Diverged
        source = str(record.from_state)
        self.state = str(record.to_state)
        self.values.update(record.variables or {})
        known = {name: self.values.get(name) for name in step.variables}
        if known != dict(step.variables):  # variables added since are not compared
            raise _Diverged
        self.visited.append((self.state, dict(self.values)))
        self.observe(number, source, step)

    def fire(self, trigger: str) -> None:
        module, machine, semantics = self.module, self.machine, self.semantics
        values = tuple(self.values[name] for name in semantics.data.names)
        taken = semantics.candidates(self.state, trigger, values)
        if taken is not None and taken.after is not None and machine.deadline is not None:
            self.clock.now = machine.deadline
            machine.expire()
            return
        roles = sorted(semantics.reviewers.get(self.state, ()))
        actor = module.Actor("regression", frozenset(roles[:1])) if roles else None
        try:
            machine.fire(module.Trigger(trigger), actor=actor, decision="regression replay")
        except (module.Refused, ValueError):
            raise _Diverged from None

    def observe(self, number: int, source: str, step: Step) -> None:
        prop, initial = self.prop, self.semantics.initial
        if prop.kind is PropertyKind.ALWAYS:
            assert prop.invariant is not None
            holds = evaluate(prop.invariant.tree, dict(step.variables), step.target)
            if holds is not True and self.problem is None:
                self.problem = (
                    f"step {number} ({step}) reaches {step.target} where "
                    f"'{prop.invariant.text}' is false"
                )
        elif prop.kind is PropertyKind.PRECEDENCE:
            if source == initial:
                self.armed = False
            if step.trigger in prop.triggers:
                self.armed = True
            if step.target in prop.states and not self.armed and self.problem is None:
                required = " or ".join(prop.triggers)
                self.problem = (
                    f"step {number} ({step}) enters {step.target} without {required} since "
                    f"the run last left {initial}"
                )
        elif step.target in prop.targets:
            self.pending = False
        elif step.target in prop.states:
            self.pending = True

    def ended(self, length: int, cycles: bool) -> None:
        prop = self.prop
        if prop.kind is not PropertyKind.LEADS_TO:
            assert self.problem is None, (
                f"property {prop.name} fails on the runtime, as the checker found: "
                f"{self.problem}. Fix the spec, regenerate the runtime, and this test passes"
            )
            return
        goal = " or ".join(prop.targets)
        if not self.pending:
            return
        if cycles:
            back = self.visited[length] == self.visited[-1]
            assert not back, (
                f"property {prop.name} fails on the runtime, as the checker found: the run "
                f"goes round {self.visited[-1][0]} and back for ever without reaching {goal}. "
                "Fix the spec, regenerate the runtime, and this test passes"
            )
            return
        raise AssertionError(
            f"property {prop.name} fails on the runtime, as the checker found: the run ends "
            f"in {self.visited[-1][0]} without reaching {goal}. Fix the spec, regenerate the "
            "runtime, and this test passes"
        )
