"""The rule registry: every rule id statewright knows, with its definition.

This module imports nothing heavy: the loader registers its rules here without pulling in
networkx. :mod:`statewright.verify.rules` imports every family, so
``statewright.verify.rules.RULES`` is complete.

A rule is one small function that takes the spec's :class:`~statewright.verify.analysis.Analysis`
(the spec, its transition graph and, searched once within the check's budget, the
exploration of its configurations) and yields findings, registered with :func:`rule`.
Its docstring is its documentation (the docs' rule reference and ``statewright explain``
are built from it) and has this shape::

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

A rule may have two forms: its check for every spec, and a data form
(``rule(..., data=...)``) that replaces it for a spec that declares variables, where
reachability and the rest are over configurations. :meth:`Rule.form` picks one by
``spec.has_data``, so no rule asks. A rule of data alone (:func:`data_rule`, such as
``stuck``) has only the data form: it checks only a spec with variables.

A project rule (:func:`project_rule`) is about the specs checked or generated together
rather than one spec (``duplicate-machine``): its check takes every loaded spec, and its
examples are several specs, separated by a line ``---``.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from statewright.verify.findings import Finding, Severity

if TYPE_CHECKING:
    from statewright.verify.analysis import Analysis
    from statewright.verify.model import Spec

__all__ = [
    "RULES",
    "Family",
    "ProjectCheck",
    "Rule",
    "RuleCheck",
    "data_rule",
    "project_rule",
    "register_load_rule",
    "rule",
    "with_examples",
]

RuleCheck = Callable[["Analysis"], Iterable[Finding]]
ProjectCheck = Callable[[Sequence["Spec"]], Iterable[Finding]]
_Check = TypeVar("_Check", RuleCheck, ProjectCheck)


class Family(StrEnum):
    LOAD = "load"
    GRAPH = "graph"
    ORCHESTRATION = "orchestration"
    DATA = "data"
    PROJECT = "project"
    ASL = "asl"
    STEP_FUNCTIONS = "step-functions"
    MIGRATION = "migration"


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule id, its severity, its family, its doc and its checks: ``check`` for every
    spec and ``check_data``, which replaces it for a spec with variables (a rule of data
    alone has only that one); ``check_project`` for a project rule; none for a rule a
    reader raises."""

    id: str
    severity: Severity
    family: Family
    doc: str
    check: RuleCheck | None = None
    check_data: RuleCheck | None = None
    check_project: ProjectCheck | None = None
    example_limit: int | None = None
    """The ``--max-configurations`` its examples are checked with (None: the default)."""

    @property
    def checked(self) -> bool:
        """Whether the checker runs it (False for a rule a reader raises)."""
        return any(c is not None for c in (self.check, self.check_data, self.check_project))

    def form(self, spec: Spec) -> RuleCheck | None:
        """The check that applies to ``spec``: the data form for a spec with variables,
        where the rule has one, else the check for every spec (None: the rule does not
        apply, or is not one of a single spec)."""
        if spec.has_data and self.check_data is not None:
            return self.check_data
        return self.check

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

    def example_specs(self, which: str) -> tuple[str, ...]:
        """The ``Fails`` or ``Passes`` example as one text per spec (several for a project
        rule, split at its ``---`` lines)."""
        text = self.example(which)
        return () if text is None else tuple(_SPEC_BREAK.split(text))


_EXAMPLE = re.compile(r"^(?:Fails|Passes):$", re.MULTILINE)
_SPEC_BREAK = re.compile(r"^---\n", re.MULTILINE)

RULES: dict[str, Rule] = {}
"""Every registered rule by id, in registration order."""


def _register(new: Rule) -> None:
    if new.id in RULES:
        raise ValueError(f"rule id {new.id!r} is registered twice")
    RULES[new.id] = new


def _doc(rule_id: str, check: Callable[..., object]) -> str:
    doc = inspect.getdoc(check)
    if not doc:
        raise ValueError(f"rule {rule_id!r} needs a docstring")
    return doc


def rule(
    rule_id: str,
    severity: Severity,
    family: Family,
    *,
    data: RuleCheck | None = None,
    example_limit: int | None = None,
) -> Callable[[RuleCheck], RuleCheck]:
    """Register a check of every spec under ``rule_id``; its docstring documents the
    rule. ``data`` is its data form, which replaces it for a spec with variables;
    ``example_limit`` is the ``--max-configurations`` its examples are checked with."""

    def decorate(check: RuleCheck) -> RuleCheck:
        doc = _doc(rule_id, check)
        _register(Rule(rule_id, severity, family, doc, check, data, example_limit=example_limit))
        return check

    return decorate


def data_rule(rule_id: str, severity: Severity) -> Callable[[RuleCheck], RuleCheck]:
    """Register a rule of data alone under ``rule_id``: its check is the data form, so
    it checks only a spec with variables; its docstring documents the rule."""

    def decorate(check: RuleCheck) -> RuleCheck:
        doc = _doc(rule_id, check)
        _register(Rule(rule_id, severity, Family.DATA, doc, check_data=check))
        return check

    return decorate


def project_rule(rule_id: str, severity: Severity) -> Callable[[ProjectCheck], ProjectCheck]:
    """Register a check of all the specs checked together under ``rule_id``; its
    docstring documents the rule."""

    def decorate(check: ProjectCheck) -> ProjectCheck:
        doc = _doc(rule_id, check)
        _register(Rule(rule_id, severity, Family.PROJECT, doc, check_project=check))
        return check

    return decorate


def with_examples(passes: str, *edits: tuple[str, str]) -> Callable[[_Check], _Check]:
    """Document a check with ``passes`` as its ``Passes`` example and, as its ``Fails``
    example, ``passes`` with each ``(old, new)`` of ``edits`` replaced (apply it below
    :func:`rule` or :func:`project_rule`, so that the docstring is complete when they
    read it)."""
    fails = passes
    for old, new in edits:
        if fails.count(old) != 1:
            raise ValueError(f"example edit {old!r} does not match exactly once")
        fails = fails.replace(old, new)

    def decorate(check: _Check) -> _Check:
        shown: list[str] = [
            f"{which}:\n\n{textwrap.indent(text.rstrip(), ' ' * 4)}"
            for which, text in (("Fails", fails), ("Passes", passes))
        ]
        check.__doc__ = "\n\n".join([inspect.getdoc(check) or "", *shown])
        return check

    return decorate


def register_load_rule(
    rule_id: str, doc: str, *, severity: Severity = Severity.ERROR, family: Family = Family.LOAD
) -> None:
    """Document a rule that a reader raises (by default a load error)."""
    _register(Rule(rule_id, severity, family, inspect.cleandoc(doc)))
