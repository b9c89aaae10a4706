"""The rule registry: every rule id statewright knows, with its definition.

This module imports nothing heavy: the loader registers its rules here without pulling in
networkx. :mod:`verify.rules` imports every family, so ``verify.rules.RULES`` is complete.

A rule is one small function of the spec and its transition graph that yields
findings, registered with :func:`rule`. Its docstring is its documentation (the docs'
rule reference and ``statewright explain`` are built from it) and has this shape::

    One sentence that states the rule.

    Optional further paragraphs.

    Fails:

        <a whole spec, indented, that produces the rule's finding>

    Passes:

        <a whole spec, indented, that does not>

The test suite loads and checks both examples of every rule, so the documentation
cannot drift from the behaviour. Load rules (``yaml-syntax``, ``schema``, ...) are
raised by the loader, and the ASL rules by the ASL reader (their examples are ASL
definitions, in JSON); they are registered here with ``check=None`` so that they are
documented the same way.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from verify.findings import Finding, Severity

if TYPE_CHECKING:
    import networkx as nx

    from verify.model import Spec

__all__ = ["RULES", "Family", "Rule", "RuleCheck", "register_load_rule", "rule"]

RuleCheck = Callable[["Spec", "nx.MultiDiGraph"], Iterable[Finding]]


class Family(StrEnum):
    LOAD = "load"
    GRAPH = "graph"
    ORCHESTRATION = "orchestration"
    ASL = "asl"


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule id, its severity, its family, its check (None for load rules) and its doc."""

    id: str
    severity: Severity
    family: Family
    doc: str
    check: RuleCheck | None = None

    @property
    def summary(self) -> str:
        """The first paragraph of the docstring, on one line."""
        return " ".join(self.doc.split("\n\n", 1)[0].split())

    @property
    def description(self) -> str:
        """The docstring without its examples."""
        return _EXAMPLE.split(self.doc, maxsplit=1)[0].strip()

    def example(self, which: str) -> str | None:
        """The ``Fails`` or ``Passes`` example spec, dedented, or None."""
        match = re.search(
            rf"^{which}:\n\n(?P<body>(?:(?: {{4}}.*)?\n)+)", self.doc + "\n", re.MULTILINE
        )
        if match is None:
            return None
        return textwrap.dedent(match["body"]).strip("\n") + "\n"


_EXAMPLE = re.compile(r"^(?:Fails|Passes):$", re.MULTILINE)

RULES: dict[str, Rule] = {}
"""Every registered rule by id, in registration order."""


def _register(new: Rule) -> None:
    if new.id in RULES:
        raise ValueError(f"rule id {new.id!r} is registered twice")
    RULES[new.id] = new


def rule(rule_id: str, severity: Severity, family: Family) -> Callable[[RuleCheck], RuleCheck]:
    """Register a check function under ``rule_id``; its docstring documents the rule."""

    def decorate(check: RuleCheck) -> RuleCheck:
        doc = inspect.getdoc(check)
        if not doc:
            raise ValueError(f"rule {rule_id!r} needs a docstring")
        _register(Rule(rule_id, severity, family, doc, check))
        return check

    return decorate


def register_load_rule(
    rule_id: str, doc: str, *, severity: Severity = Severity.ERROR, family: Family = Family.LOAD
) -> None:
    """Document a rule that a reader raises (by default a load error)."""
    _register(Rule(rule_id, severity, family, inspect.cleandoc(doc)))
