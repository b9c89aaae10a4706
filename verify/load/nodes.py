"""Reading positioned YAML nodes as the spec format expects them, with a finding for each
value of the wrong shape.

:class:`NodeReader` holds what every part of the loader asks of a node (text, a flag, a
mapping with known keys, a list, a name of the right case) and reports what is wrong at
the node's line and column; :class:`~statewright.verify.load.loader.SpecReader` reads the
spec's structure on top of it, and the data reader
(:mod:`statewright.verify.load.data`) reports through the same reader.
"""

from __future__ import annotations

from statewright.verify.findings import Finding, Severity
from statewright.verify.load.rules import INVALID_NAME, SCHEMA
from statewright.verify.load.shape import Shape
from statewright.verify.load.values import (
    check_label,
    check_snake_name,
    check_upper_name,
    clip,
    suggest,
)
from statewright.verify.load.yamlread import Mapping, Node, Scalar, Sequence
from statewright.verify.model import Location

__all__ = ["NodeReader", "describe"]


def describe(node: Node) -> str:
    """A node as a message names it: ``'IDLE'``, ``the number 5``, ``a list``."""
    if isinstance(node, Sequence):
        return "a list"
    if isinstance(node, Mapping):
        return "a mapping"
    value = node.value
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"the boolean {node.text}"
    if isinstance(value, int | float):
        return f"the number {node.text}"
    return f"'{node.text}'"


class NodeReader:
    """Reads nodes of one file, appending a finding to ``findings`` for each value of the
    wrong shape and returning what could be read (None or empty when nothing could)."""

    def __init__(self, file: str, findings: list[Finding]) -> None:
        self.file = file
        self.findings = findings
        self._snake: dict[tuple[str, str], str | None] = {}

    # -- reporting ------------------------------------------------------------------

    def at(self, node: Node) -> Location:
        return Location(self.file, node.line, node.column)

    def report(self, rule: str, message: str, node: Node) -> None:
        self.report_at(rule, message, self.at(node))

    def report_at(self, rule: str, message: str, location: Location) -> None:
        self.findings.append(Finding(rule, Severity.ERROR, clip(message), location))

    # -- generic shapes -------------------------------------------------------------

    def keys(self, mapping: Mapping, allowed: tuple[str, ...], what: str) -> None:
        """Report every key of ``mapping`` that is not text or not in ``allowed``."""
        for key in mapping.key_nodes.values():
            if isinstance(key, Scalar) and type(key.value) is str:
                if key.value not in allowed:
                    hint = suggest(key.value, allowed)
                    if key.value == "<<":
                        hint = "; merge keys are not part of YAML 1.2, write the keys out"
                    self.report(SCHEMA, f"unknown key '{key.value}' in {what}{hint}", key)
            else:
                self.report(SCHEMA, f"a key in {what} is {describe(key)}; keys are names", key)

    def required(self, mapping: Mapping, key: str, what: str) -> Node | None:
        node = mapping.values.get(key)
        if node is None:
            self.report(SCHEMA, f"{what} is missing the required key '{key}'", mapping)
        return node

    def missing(self, mapping: Mapping, shape: Shape, what: str) -> None:
        """Report every key ``shape`` requires that ``mapping`` lacks."""
        for key in shape.required:
            if key not in mapping.values:
                self.report(SCHEMA, f"{what} is missing the required key '{key}'", mapping)

    def text(self, node: Node | None, what: str, *, optional: bool = False) -> str | None:
        """The string value of ``node``; a schema finding if it is anything else."""
        if node is None:
            return None
        if isinstance(node, Scalar):
            if type(node.value) is str:
                return node.value
            if node.value is None and optional:
                return None
            if node.value is not None:
                hint = f"; quote it ('{node.text}') if you mean the text"
                self.report(SCHEMA, f"{what} must be text, not {describe(node)}{hint}", node)
                return None
        self.report(SCHEMA, f"{what} must be text, not {describe(node)}", node)
        return None

    def flag(self, node: Node | None, what: str) -> bool:
        if node is None:
            return False
        if isinstance(node, Scalar) and type(node.value) is bool:
            return node.value
        self.report(SCHEMA, f"{what} must be true or false, not {describe(node)}", node)
        return False

    def mapping(self, node: Node | None, what: str) -> Mapping | None:
        """``node`` if it is a mapping; None (quietly) for an empty value."""
        if node is None or isinstance(node, Mapping):
            return node
        if isinstance(node, Scalar) and node.value is None:
            return None
        self.report(SCHEMA, f"{what} must be a mapping, not {describe(node)}", node)
        return None

    def sequence(self, node: Node | None, what: str) -> list[Node]:
        if node is None:
            return []
        if isinstance(node, Sequence):
            return node.items
        if isinstance(node, Scalar) and node.value is None:
            return []
        self.report(SCHEMA, f"{what} must be a list, not {describe(node)}", node)
        return []

    def texts(self, node: Node | None, what: str) -> tuple[str, ...]:
        found = (self.text(item, what) for item in self.sequence(node, f"{what}s"))
        return tuple(text for text in found if text is not None)

    def label(self, node: Node | None, what: str) -> str | None:
        label = self.text(node, what, optional=True)
        if label is not None and node is not None:
            problem = check_label(what, label)
            if problem:
                self.report(INVALID_NAME, problem, node)
        return label

    def upper_name(self, key: Node, what: str) -> str | None:
        name = self.text(key, f"a {what} name")
        if name is not None:
            problem = check_upper_name(what, name)
            if problem:
                self.report(INVALID_NAME, problem, key)
        return name

    def snake_name(self, node: Node | None, what: str) -> str | None:
        name = self.text(node, what)
        if name is not None and node is not None:
            problem = self._snake.get((what, name), "")
            if problem == "":
                problem = self._snake[what, name] = check_snake_name(what, name)
            if problem:
                self.report(INVALID_NAME, problem, node)
        return name
