"""Findings: problems as values, each with a rule id, a severity and a location."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from statewright.verify.model import Location, Transition, Value, format_duration
from statewright.verify.printable import printable, printable_path

__all__ = ["Finding", "Severity", "TraceStep", "TransitionRef", "has_errors", "sort_findings"]


class Severity(StrEnum):
    """How much a finding matters: an error fails the check, a warning fails it with
    ``--strict``, and an info finding never does (it says what was not proved, such as an
    ASL construct the mapping cannot express)."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True, order=True)
class TransitionRef:
    """A transition as reports name it: ``{"from": ..., "to": ..., "trigger": ...}``."""

    source: str
    target: str
    trigger: str

    @classmethod
    def of(cls, transition: Transition) -> TransitionRef:
        return cls(transition.source, transition.target, transition.trigger)

    def as_json(self) -> dict[str, str]:
        return {"from": self.source, "to": self.target, "trigger": self.trigger}

    def __str__(self) -> str:
        return f"{self.source} --{self.trigger}--> {self.target}"


def _shown(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass(frozen=True, slots=True)
class TraceStep:
    """One step of a counterexample: the trigger fired (``always`` for an automatic step),
    the state it led to, the value of every variable after it (``variables``, in
    declaration order), the names of those it changed, and where the transition taken is
    declared. ``elapsed``, in a timed counterexample, is when the step is taken at the
    latest, in seconds since the bound's clock started. ``rollback_to``, on a rollback
    step, is the earlier step of the trace it returns to (0: the start)."""

    trigger: str
    target: str
    variables: tuple[tuple[str, Value], ...]
    changed: tuple[str, ...]
    location: Location
    elapsed: int | None = None
    rollback_to: int | None = None
    approval: tuple[int, int] | None = None
    """On an approval counted toward a quorum (the gate stays): which one, of how many."""
    widened: tuple[str, ...] | None = None
    """On an escalation (trigger ``escalate``): the roles it added to the reviewers."""

    def as_json(self) -> dict[str, object]:
        found: dict[str, object] = {
            "trigger": self.trigger,
            "to": self.target,
            "variables": dict(self.variables),
        }
        if self.elapsed is not None:
            found["elapsed_seconds"] = self.elapsed
        if self.rollback_to is not None:
            found["rollback_to_step"] = self.rollback_to
        if self.approval is not None:
            found["approval"] = {"count": self.approval[0], "quorum": self.approval[1]}
        if self.widened is not None:
            found["widened_to"] = list(self.widened)
        return found

    def __str__(self) -> str:
        """``retry -> SCOUT_RUNNING (attempts=1)``: the changed variables only (``at 2h``
        after, when the step is timed); ``approved (approval 1 of 2) -> REVIEW`` for an
        approval a quorum counts, ``escalate -> REVIEW (reviewers widened to director)``."""
        values = dict(self.variables)
        changed = ", ".join(f"{name}={_shown(values[name])}" for name in self.changed)
        trigger = self.trigger
        if self.approval is not None:
            trigger += f" (approval {self.approval[0]} of {self.approval[1]})"
        if self.widened is not None:
            changed = "reviewers widened to " + ", ".join(self.widened)
        text = f"{trigger} -> {self.target}" + (f" ({changed})" if changed else "")
        if self.rollback_to is not None:
            text += f" back to step {self.rollback_to}"
        return text if self.elapsed is None else f"{text} at {format_duration(self.elapsed)}"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in one spec.

    ``states`` names the states the finding is about (for a rule about transitions, their
    source states), ``transitions`` the transitions and ``reasons`` the reason codes. The
    message is one printable line whatever it quotes from the spec: control characters in
    it are written as escapes (:func:`statewright.verify.printable.printable`). A finding about data
    carries its counterexample: ``trace``, the steps from the initial configuration, and
    for a run that goes on for ever, ``cycle``, the steps it then repeats.

    ``cause`` is the finding this one follows from, when fixing that one is the way to
    fix this one too (a transition out of an unreachable state follows from that state's
    finding): the text report shows it under its cause; every format still reports it
    as a finding of its own.
    """

    rule: str
    severity: Severity
    message: str
    location: Location
    states: tuple[str, ...] = ()
    transitions: tuple[TransitionRef, ...] = ()
    reasons: tuple[str, ...] = ()
    trace: tuple[TraceStep, ...] = ()
    cycle: tuple[TraceStep, ...] = ()
    cause: Finding | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "message", printable(self.message))

    @property
    def sort_key(self) -> tuple[str, int, int, str, str]:
        loc = self.location
        return (loc.file, loc.line, loc.column, self.rule, self.message)

    def format(self) -> str:
        """``file:line:col: severity[rule] message``, on one line whatever the file's name."""
        loc = self.location
        where = f"{printable_path(loc.file)}:{loc.line}:{loc.column}"
        return f"{where}: {self.severity}[{self.rule}] {self.message}"

    def as_json(self) -> dict[str, object]:
        found: dict[str, object] = {
            "rule": self.rule,
            "severity": str(self.severity),
            "message": self.message,
            "file": self.location.file,
            "line": self.location.line,
            "column": self.location.column,
            "states": list(self.states),
            "transitions": [t.as_json() for t in self.transitions],
            "reasons": list(self.reasons),
        }
        if self.trace or self.cycle:
            found["trace"] = [step.as_json() for step in self.trace]
        if self.cycle:
            found["cycle"] = [step.as_json() for step in self.cycle]
        return found

    def report_lines(self) -> list[str]:
        """The finding's line, then its counterexample indented, one step a line."""
        return [self.format(), *(f"    {line}" for line in self.trace_lines())]

    def trace_lines(self) -> list[str]:
        """The counterexample, one step a line: ``1. retry -> RUNNING (attempts=1)``; the
        steps of a cycle marked as repeating for ever."""
        lines = [f"{n}. {step}" for n, step in enumerate(self.trace, start=1)]
        if self.cycle:
            lines.append("then for ever:" if self.trace else "from the start, for ever:")
            start = len(self.trace) + 1
            lines.extend(f"{n}. {step}" for n, step in enumerate(self.cycle, start=start))
        return lines


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Findings in file, line, column, rule order, duplicates removed."""
    return tuple(sorted(set(findings), key=lambda f: f.sort_key))


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
