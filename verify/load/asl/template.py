"""State machines inside AWS SAM and CloudFormation templates.

A template is a mapping with ``Resources``; each resource of type
``AWS::StepFunctions::StateMachine`` or ``AWS::Serverless::StateMachine`` holds one
definition, as

- ``Definition``: the definition itself, a mapping in the template (every finding at its
  own line and column in the template);
- ``DefinitionString``: its JSON text, plain or under ``Fn::Sub`` (``!Sub``) or
  ``Fn::Join`` (``!Join``); a literal block (``|``) keeps every position in the template,
  any other string is located at the ``DefinitionString`` key;
- ``DefinitionUri`` (SAM): a file beside the template, read with its own positions; an S3
  location (and ``DefinitionS3Location``) cannot be read and says so.

An Express workflow (SAM ``Type: EXPRESS``, CloudFormation ``StateMachineType: EXPRESS``)
runs for at most five minutes: that is its execution timeout.

The template is read with CloudFormation's short-form tags as their long form
(``!GetAtt Fn.Arn`` is ``{"Fn::GetAtt": "Fn.Arn"}``). An intrinsic function where a
string is expected (a ``Resource``) stands for the substitution it is replaced with
(``${Fn.Arn}``); a ``Ref`` to an ``AWS::StepFunctions::Activity`` of the template is an
activity, and a ``DefinitionSubstitutions`` entry that names one makes its ``${...}`` an
activity too.

>>> from statewright.verify.load.yamlread import read_yaml
>>> root = read_yaml('''Resources:
...   Flow:
...     Type: AWS::Serverless::StateMachine
...     Properties:
...       Definition: {StartAt: A, States: {A: {Type: Succeed}}}
... ''', "template.yaml", intrinsic=True).root
>>> [(m.name, m.line, m.column) for m in template_machines(root, "template.yaml")]
[('Flow', 2, 3)]
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from statewright.verify.findings import Finding, Severity
from statewright.verify.load.yamlread import Mapping, Node, Scalar, Sequence, read_yaml
from statewright.verify.model import Location

__all__ = [
    "MACHINE_TYPES",
    "TEMPLATE_SOURCE",
    "TemplateMachine",
    "intrinsic_text",
    "is_template",
    "substitute",
    "template_machines",
]

MACHINE_TYPES = frozenset({"AWS::StepFunctions::StateMachine", "AWS::Serverless::StateMachine"})
"""The resource types that hold a state machine definition."""

TEMPLATE_SOURCE = "asl-template-source"
"""The rule id of a state machine of a template whose definition cannot be read here."""

_ACTIVITY_TYPE = "AWS::StepFunctions::Activity"


def intrinsic_text(node: Node) -> str | None:
    """The text an intrinsic function stands for, with what is only known when it is
    deployed as a ``${...}`` substitution; None for a node that is no intrinsic function.

    >>> intrinsic_text(read_yaml("!GetAtt Fn.Arn", "t", intrinsic=True).root)
    '${Fn.Arn}'
    >>> joined = '!Join [":", [arn, !Ref AWS::Region, x]]'
    >>> intrinsic_text(read_yaml(joined, "t", intrinsic=True).root)
    'arn:${AWS::Region}:x'
    """
    if isinstance(node, Scalar):
        return node.value if type(node.value) is str else None
    if not isinstance(node, Mapping) or len(node.values) != 1:
        return None
    ((name, value),) = node.values.items()
    if name == "Ref":
        return f"${{{_text(value)}}}"
    if name == "Fn::GetAtt":
        if isinstance(value, Sequence):
            return "${" + ".".join(_text(v) for v in value.items) + "}"
        return f"${{{_text(value)}}}"
    if name == "Fn::Sub":
        return _text(value.items[0] if isinstance(value, Sequence) and value.items else value)
    if name == "Fn::Join" and isinstance(value, Sequence) and len(value.items) == 2:
        separator, parts = value.items
        if isinstance(parts, Sequence):
            return _text(separator).join(intrinsic_text(p) or "${?}" for p in parts.items)
    if isinstance(name, str) and (name.startswith("Fn::") or name == "Condition"):
        return f"${{{name}}}"
    return None


def _text(node: Node) -> str:
    return str(node.value) if isinstance(node, Scalar) else intrinsic_text(node) or "?"


def is_template(root: Node | None) -> bool:
    """True for a SAM or CloudFormation template: a mapping with ``Resources`` and
    no ``States``."""
    return (
        isinstance(root, Mapping)
        and isinstance(root.get("Resources"), Mapping)
        and root.get("States") is None
    )


@dataclass(frozen=True, slots=True)
class TemplateMachine:
    """One state machine of a template: its logical id and place, and its definition's
    root node (None when it cannot be read: a finding says why). ``file`` is where the
    definition is (the template, or the ``DefinitionUri`` file beside it);
    ``substitutions`` holds what each ``${Name}`` of ``DefinitionSubstitutions`` stands
    for, as far as the template says."""

    name: str
    line: int
    column: int
    file: str
    definition: Node | None
    substitutions: dict[str, str] = field(default_factory=dict)
    problem: Finding | None = None
    express: Location | None = None
    """Where the template makes it an Express workflow (SAM ``Type: EXPRESS``,
    ``StateMachineType: EXPRESS``), whose executions last at most five minutes."""


def template_machines(root: Node, file: str, text: str = "") -> list[TemplateMachine]:
    """The state machines of the template ``root`` (read from ``file``, whose ``text``
    places a ``DefinitionString`` block), in its order.

    What cannot be read (an S3 location, a missing ``DefinitionUri`` file, a definition
    of no known shape) is the machine's ``problem``: an ``asl-template-source`` warning at
    its key.
    """
    if not isinstance(root, Mapping):
        return []
    resources = root.get("Resources")
    if not isinstance(resources, Mapping):
        return []
    activities = {
        str(key.value)
        for key, value in resources.pairs()
        if isinstance(key, Scalar) and _type(value) == _ACTIVITY_TYPE
    }
    found = []
    for key, value in resources.pairs():
        if not isinstance(key, Scalar) or _type(value) not in MACHINE_TYPES:
            continue
        assert isinstance(value, Mapping)
        properties = value.get("Properties")
        lines = text.splitlines()
        reader = _MachineReader(file, str(key.value), key, activities, lines)
        found.append(reader.machine(properties if isinstance(properties, Mapping) else None))
    return found


def _type(resource: Node) -> str | None:
    kind = resource.get("Type") if isinstance(resource, Mapping) else None
    return str(kind.value) if isinstance(kind, Scalar) else None


_SUBSTITUTED = re.compile(r"\$\{([^}]*)\}")
_LITERAL = re.compile(r"(?:![A-Za-z]+\s+)?\|[-+0-9]*\s*(?:#.*)?$")
"""A literal block's indicator (after a short-form tag), to the end of its line."""


class _MachineReader:
    def __init__(
        self,
        file: str,
        name: str,
        key: Node,
        activities: set[str],
        lines: list[str],
    ) -> None:
        self.lines = lines
        self.express: Location | None = None
        self.file = file
        self.name = name
        self.key = key
        self.activities = activities

    def machine(self, properties: Mapping | None) -> TemplateMachine:
        if properties is None:
            return self.unread(self.key, "has no Properties with its definition")
        for key in ("Type", "StateMachineType"):
            kind = properties.get(key)
            if isinstance(kind, Scalar) and str(kind.value).upper() == "EXPRESS":
                at = properties.key_nodes[key]
                self.express = Location(self.file, at.line, at.column)
        substitutions = self.substitutions(properties.get("DefinitionSubstitutions"))
        definition = properties.get("Definition")
        if isinstance(definition, Mapping):
            return self.read(definition, self.file, substitutions)
        string = properties.get("DefinitionString")
        if string is not None:
            return self.string(string, properties, substitutions)
        uri = properties.get("DefinitionUri")
        if isinstance(uri, Scalar) and type(uri.value) is str:
            return self.uri(uri, substitutions)
        where = uri or properties.get("DefinitionS3Location")
        if where is not None:
            return self.unread(where, "has its definition in S3, which is not read here")
        return self.unread(self.key, "has no Definition, DefinitionString or DefinitionUri")

    def read(self, node: Node, file: str, substitutions: dict[str, str]) -> TemplateMachine:
        line, column = self.key.line, self.key.column
        express = self.express
        return TemplateMachine(self.name, line, column, file, node, substitutions, None, express)

    def unread(self, node: Node, problem: str) -> TemplateMachine:
        message = (
            f"state machine '{self.name}' {problem}; check its definition file itself "
            "(statewright check FILE.asl.json)"
        )
        at = Location(self.file, node.line, node.column)
        finding = Finding(TEMPLATE_SOURCE, Severity.WARNING, message, at)
        return TemplateMachine(
            self.name, self.key.line, self.key.column, self.file, None, problem=finding
        )

    def substitutions(self, node: Node | None) -> dict[str, str]:
        """``DefinitionSubstitutions``: a ``Ref`` to an activity of the template is an
        activity ARN, a string is itself, anything else stays unknown."""
        found: dict[str, str] = {}
        if not isinstance(node, Mapping):
            return found
        for key, value in node.pairs():
            if not isinstance(key, Scalar):
                continue
            ref = value.get("Ref") if isinstance(value, Mapping) else None
            if isinstance(ref, Scalar) and str(ref.value) in self.activities:
                found[str(key.value)] = f"arn:aws:states:::activity:{ref.value}"
            elif isinstance(value, Scalar) and type(value.value) is str:
                found[str(key.value)] = value.value
        return found

    def string(
        self, node: Node, properties: Mapping, substitutions: dict[str, str]
    ) -> TemplateMachine:
        """A ``DefinitionString``: plain, ``Fn::Sub`` or ``Fn::Join``."""
        key = properties.key_nodes["DefinitionString"]
        scalar = node
        if isinstance(node, Mapping) and "Fn::Sub" in node.values:
            sub = node.values["Fn::Sub"]
            scalar = sub.items[0] if isinstance(sub, Sequence) and sub.items else sub
            if isinstance(sub, Sequence) and len(sub.items) == 2:
                substitutions = {**substitutions, **self.substitutions(sub.items[1])}
        text = intrinsic_text(scalar) if isinstance(scalar, Mapping) else None
        if isinstance(scalar, Scalar) and type(scalar.value) is str:
            text = scalar.value
        if text is None:
            return self.unread(key, "has a DefinitionString of no known shape")
        root = read_yaml(text, self.file).root
        if root is None:
            return self.unread(key, "has a DefinitionString that is no JSON definition")
        indent = _block_indent(scalar, self.lines) if isinstance(scalar, Scalar) else None
        if indent is not None and isinstance(scalar, Scalar):
            _shift(root, scalar.line, indent)
        else:
            _pin(root, key.line, key.column)
        return self.read(root, self.file, substitutions)

    def uri(self, node: Scalar, substitutions: dict[str, str]) -> TemplateMachine:
        """A ``DefinitionUri`` file beside the template."""
        path = Path(self.file).parent / str(node.value)
        try:
            text = path.read_bytes()
        except OSError:
            return self.unread(node, f"names DefinitionUri {node.value}, which cannot be read")
        root = read_yaml(text, str(path), intrinsic=True).root
        if root is None:
            return self.unread(node, f"names DefinitionUri {node.value}, which is no definition")
        return TemplateMachine(
            self.name,
            self.key.line,
            self.key.column,
            str(path),
            root,
            substitutions,
            None,
            self.express,
        )


def substitute(root: Node, substitutions: dict[str, str]) -> None:
    """Replace, in every ``Resource`` of the definition ``root``, each ``${Name}`` whose
    value the template gives (an activity's ARN, a literal)."""
    if not substitutions:
        return
    for node in _nodes(root):
        resource = node.get("Resource") if isinstance(node, Mapping) else None
        if isinstance(resource, Scalar) and type(resource.value) is str:
            resource.value = _SUBSTITUTED.sub(
                lambda m: substitutions.get(m[1], m[0]), resource.value
            )


def _block_indent(scalar: Scalar, lines: list[str]) -> int | None:
    """The indentation of a scalar written as a literal block (``|``), whose lines are
    the template's lines one for one; None for any other scalar."""
    line = lines[scalar.line - 1] if 0 < scalar.line <= len(lines) else ""
    if not _LITERAL.match(line, scalar.column - 1):
        return None
    for text in lines[scalar.line :]:
        if text.strip():
            return len(text) - len(text.lstrip(" "))
    return None


def _shift(node: Node, line: int, column: int) -> None:
    """Move every position of ``node`` (read from a block's text) into the template."""
    for each in _nodes(node):
        each.line += line
        each.column += column


def _pin(node: Node, line: int, column: int) -> None:
    """Place every node of ``node`` at ``line:column`` (text whose positions are lost)."""
    for each in _nodes(node):
        each.line, each.column = line, column


def _nodes(node: Node) -> list[Node]:
    found: list[Node] = []
    stack = [node]
    seen: set[int] = set()
    while stack:
        each = stack.pop()
        if id(each) in seen:
            continue
        seen.add(id(each))
        found.append(each)
        if isinstance(each, Mapping):
            stack.extend(each.key_nodes.values())
            stack.extend(each.values.values())
        elif isinstance(each, Sequence):
            stack.extend(each.items)
    return found
