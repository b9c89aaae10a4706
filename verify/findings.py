"""Findings: problems as values, each with a rule id, a severity and a location."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from verify.model import Location, Transition
from verify.printable import printable, printable_path

__all__ = ["Finding", "Severity", "TransitionRef", "has_errors", "sort_findings"]


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


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem in one spec.

    ``states`` names the states the finding is about (for a rule about transitions, their
    source states), ``transitions`` the transitions and ``reasons`` the reason codes. The
    message is one printable line whatever it quotes from the spec: control characters in
    it are written as escapes (:func:`verify.printable.printable`).

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
        return {
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


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Findings in file, line, column, rule order, duplicates removed."""
    return tuple(sorted(set(findings), key=lambda f: f.sort_key))


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity is Severity.ERROR for f in findings)
