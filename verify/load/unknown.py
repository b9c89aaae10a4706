"""Names of undeclared states, reported once the whole spec has been read.

A misspelt name is usually misspelt once: when six transitions name ``RUNNING`` and the
state is declared as ``RUNING``, the declaration is the typo. So the loader collects every
use of an undeclared state (:class:`StateUse`) and :func:`unknown_state_findings` reports
them together: a declared state that nothing names and that is close to a well-formed
undeclared name used in two places or more gets a finding at its declaration, and the
uses of that name follow from it (their ``cause``); any other undeclared name gets the
usual "did you mean" at each use.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from statewright.verify.findings import Finding, Severity
from statewright.verify.load.rules import UNKNOWN_STATE
from statewright.verify.load.values import Suggestions, check_upper_name, clip
from statewright.verify.model import Location

__all__ = ["StateUse", "unknown_state_findings"]


@dataclass(frozen=True, slots=True)
class StateUse:
    """A place that names a state that is not declared: ``what`` says which role the name
    has there ("target state", "source state", "initial state")."""

    name: str
    what: str
    location: Location


def unknown_state_findings(
    uses: Sequence[StateUse],
    declared: Mapping[str, Location],
    named: Collection[str],
    suggestions: Suggestions,
) -> list[Finding]:
    """The ``unknown-state`` findings of ``uses``; ``declared`` maps each declared state to
    its declaration and ``named`` holds the declared states something names (the initial
    state and every source and target)."""
    by_name: dict[str, list[StateUse]] = {}
    for use in uses:
        by_name.setdefault(use.name, []).append(use)
    misspelt: dict[str, Finding] = {}  # an undeclared name -> the declaration's finding
    taken: set[str] = set()
    for name, found in sorted(by_name.items(), key=lambda item: -len(item[1])):
        if len(found) < 2 or check_upper_name("state", name) is not None:
            continue  # one use could be the typo as well; a bad name is one for sure
        close = suggestions.closest(name, declared.keys())
        if close is None or close in named or close in taken:
            continue
        taken.add(close)
        places = "1 place names" if len(found) == 1 else f"{len(found)} places name"
        misspelt[name] = Finding(
            UNKNOWN_STATE,
            Severity.ERROR,
            clip(
                f"state '{close}' is declared but nothing names it, while {places} "
                f"'{name}', which is not declared; rename '{close}' to '{name}'"
            ),
            declared[close],
            states=(close,),
        )
    findings = list(misspelt.values())
    for use in uses:
        cause = misspelt.get(use.name)
        if cause is None:
            hint = suggestions.hint(use.name, declared.keys())
            message = f"{use.what} '{use.name}' is not declared under states{hint}"
        else:
            message = (
                f"{use.what} '{use.name}' is not declared under states; the state declared "
                f"as '{cause.states[0]}' (line {cause.location.line}) looks like a "
                "misspelling of it"
            )
        findings.append(
            Finding(UNKNOWN_STATE, Severity.ERROR, clip(message), use.location, cause=cause)
        )
    return findings
