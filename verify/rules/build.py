"""Finding builders the rule families share: a finding at a state, at transitions or at a
reason, with the rule's registered severity and, for data rules, a counterexample."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from statewright.verify.findings import Finding, TraceStep, TransitionRef
from statewright.verify.model import Reason, State, Transition
from statewright.verify.registry import RULES

__all__ = ["count", "listed", "reason_finding", "state_finding", "transition_finding"]


def state_finding(
    rule_id: str,
    about: State,
    message: str,
    transitions: Iterable[Transition] = (),
    states: Sequence[str] = (),
    trace: tuple[TraceStep, ...] = (),
    cycle: tuple[TraceStep, ...] = (),
) -> Finding:
    """A finding located at a state, naming it (or ``states``) and some transitions."""
    names = tuple(states) or (about.name,)
    refs = tuple(TransitionRef.of(t) for t in transitions)
    severity = RULES[rule_id].severity
    return Finding(rule_id, severity, message, about.location, names, refs, (), trace, cycle)


def transition_finding(
    rule_id: str,
    about: Sequence[Transition],
    message: str,
    at: Transition | None = None,
    trace: tuple[TraceStep, ...] = (),
    cycle: tuple[TraceStep, ...] = (),
) -> Finding:
    """A finding at ``at`` (default: the first of ``about``), naming transitions and sources."""
    sources = tuple(dict.fromkeys(t.source for t in about))
    refs = tuple(TransitionRef.of(t) for t in about)
    where = (at or about[0]).location
    severity = RULES[rule_id].severity
    return Finding(rule_id, severity, message, where, sources, refs, (), trace, cycle)


def reason_finding(rule_id: str, about: Reason, message: str) -> Finding:
    """A finding located at a reason code's declaration."""
    return Finding(rule_id, RULES[rule_id].severity, message, about.location, reasons=(about.name,))


def count(number: int, noun: str) -> str:
    """``1 exit``, ``2 exits``."""
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def listed(states: Sequence[str], limit: int = 5) -> str:
    """``A, B, C and 2 more``."""
    shown = ", ".join(states[:limit])
    return shown if len(states) <= limit else f"{shown} and {len(states) - limit} more"
