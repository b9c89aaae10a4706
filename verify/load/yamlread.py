"""Read YAML text into a small tree of positioned nodes, safely and with bounded effort.

The libyaml C *parser* (or PyYAML's pure-Python one when libyaml is missing) turns the
text into events; this module composes those events into :class:`Scalar`,
:class:`Sequence` and :class:`Mapping` nodes itself, iteratively, with an explicit
stack. Nothing is ever constructed from a tag, so no YAML input can run code. On the
way it enforces what PyYAML's own composers do not:

- nesting deeper than :data:`MAX_DEPTH` is refused (PyYAML's C composer recurses in C and
  crashes the process on deep nesting; the Python one raises ``RecursionError``);
- aliases may not expand the document beyond a budget (:func:`alias_budget`), which
  stops "billion laughs" in microseconds;
- a duplicate mapping key is a finding at the second key, never a silent overwrite;
- plain scalars resolve by the YAML 1.2 core schema: ``true``/``false`` (in their three
  spellings) are the only booleans, so ``on``/``off``/``yes``/``no`` stay strings;
- only the standard tags ``!!str !!int !!bool !!null !!float !!seq !!map`` (and the
  non-specific ``!``) are accepted; any other tag is a finding.

Problems are returned as findings (``yaml-syntax``, ``duplicate-key``), never raised.

Over 600 lines because composing the events, positioning every node and bounding the
effort (depth, aliases, size, progress) are one pass over one event stream.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from statewright.verify import progress
from statewright.verify.findings import Finding, Severity
from statewright.verify.load.rules import DUPLICATE_KEY, YAML_SYNTAX
from statewright.verify.load.values import clip
from statewright.verify.load.yamlhints import glob_hint, indentation_hint, tab_hint
from statewright.verify.model import Location

__all__ = [
    "MAX_DEPTH",
    "Mapping",
    "Node",
    "ReadResult",
    "Scalar",
    "ScalarValue",
    "Sequence",
    "alias_budget",
    "position",
    "read_yaml",
    "resolve_plain",
]

MAX_DEPTH = 200
"""The deepest nesting of sequences and mappings accepted (a spec needs four levels)."""

_TOO_DEEP = f"nesting is deeper than {MAX_DEPTH} levels; a spec needs only a few"

ALIAS_FLOOR = 100_000
ALIAS_RATIO = 4

ScalarValue = str | int | float | bool | None


def alias_budget(composed: int) -> int:
    """How many nodes aliases may repeat in total, once ``composed`` nodes have been read.

    Each alias counts as the whole size of the node it repeats. The budget grows with
    the document, so a legitimate spec (even one of a million transitions, which uses
    few aliases or none) is never refused, while a document that would expand to many
    times its own size is.
    """
    return ALIAS_FLOOR + ALIAS_RATIO * composed


class Scalar:
    """A scalar node: its YAML 1.2 value, the text as written and its 1-based position."""

    __slots__ = ("column", "line", "text", "value")
    size: ClassVar[int] = 1

    def __init__(self, value: ScalarValue, text: str, line: int, column: int) -> None:
        self.value = value
        self.text = text
        self.line = line
        self.column = column

    def __repr__(self) -> str:
        return f"Scalar({self.value!r}, {self.line}:{self.column})"


class Sequence:
    """A sequence node; ``size`` counts its nodes, aliases expanded."""

    __slots__ = ("column", "items", "line", "size")

    def __init__(self, line: int, column: int) -> None:
        self.items: list[Node] = []
        self.line = line
        self.column = column
        self.size = 1

    def __repr__(self) -> str:
        return f"Sequence({len(self.items)} items, {self.line}:{self.column})"


class Mapping:
    """A mapping node: ``values`` maps a key's identity to its value node, ``key_nodes``
    to the key node itself (for its position).

    The identity of a string key is the string itself, so ``mapping.values.get("from")``
    finds a value directly; other scalar keys are identified by their type and value,
    and a collection key by the node itself. Both dicts keep the order of the text, and
    a duplicate key never replaces the first one.
    """

    __slots__ = ("column", "key_nodes", "line", "size", "values")

    def __init__(self, line: int, column: int) -> None:
        self.key_nodes: dict[object, Node] = {}
        self.values: dict[object, Node] = {}
        self.line = line
        self.column = column
        self.size = 1

    def get(self, key: str) -> Node | None:
        """The value under the string key ``key``, or None."""
        return self.values.get(key)

    def pairs(self) -> Iterator[tuple[Node, Node]]:
        """``(key, value)`` nodes in the order of the text."""
        return zip(self.key_nodes.values(), self.values.values(), strict=True)

    def __repr__(self) -> str:
        return f"Mapping({len(self.values)} entries, {self.line}:{self.column})"


Node = Scalar | Sequence | Mapping


@dataclass(frozen=True, slots=True)
class ReadResult:
    """The composed document (None if it could not be read), the problems found and the
    text that was read (decoded, without a byte order mark), to which positions refer."""

    root: Node | None
    findings: tuple[Finding, ...]
    text: str = ""


# --- scalar resolution (YAML 1.2 core schema) -------------------------------------------

_WORDS: dict[str, ScalarValue] = {
    "": None,
    "~": None,
    "null": None,
    "Null": None,
    "NULL": None,
    "true": True,
    "True": True,
    "TRUE": True,
    "false": False,
    "False": False,
    "FALSE": False,
    ".inf": math.inf,
    ".Inf": math.inf,
    ".INF": math.inf,
    "+.inf": math.inf,
    "+.Inf": math.inf,
    "+.INF": math.inf,
    "-.inf": -math.inf,
    "-.Inf": -math.inf,
    "-.INF": -math.inf,
    ".nan": math.nan,
    ".NaN": math.nan,
    ".NAN": math.nan,
}
_NUMERIC_START = frozenset("0123456789+-.")
_INT = re.compile(r"[-+]?[0-9]+")
_OCT = re.compile(r"0o[0-7]+")
_HEX = re.compile(r"0x[0-9a-fA-F]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_MISSING = object()


def resolve_plain(text: str) -> ScalarValue:
    """The value of an untagged plain scalar under the YAML 1.2 core schema.

    >>> [resolve_plain(t) for t in ("true", "on", "No", "~", "0x1F", "1e3", "72h")]
    [True, 'on', 'No', None, 31, 1000.0, '72h']
    """
    if text in _WORDS:
        return _WORDS[text]
    if text[0] not in _NUMERIC_START:
        return text
    try:
        if _INT.fullmatch(text):
            return int(text)
        if _OCT.fullmatch(text):
            return int(text[2:], 8)
        if _HEX.fullmatch(text):
            return int(text[2:], 16)
        if _FLOAT.fullmatch(text):
            return float(text)
    except ValueError:  # an integer longer than Python converts: keep it as text
        return text
    return text


_TAG_PREFIX = "tag:yaml.org,2002:"
_INTRINSIC_TAG = re.compile(r"![A-Z][A-Za-z]*")
"""A CloudFormation short-form tag (``!Ref``, ``!GetAtt``, ``!Sub``, ``!Join``, ...)."""
_SCALAR_TAGS: dict[str, Callable[[ScalarValue], bool]] = {
    "int": lambda v: type(v) is int,
    "float": lambda v: type(v) in (int, float),
    "bool": lambda v: type(v) is bool,
    "null": lambda v: v is None,
}


def _short_tag(tag: str) -> str:
    return "!!" + tag[len(_TAG_PREFIX) :] if tag.startswith(_TAG_PREFIX) else tag


def _tagged_scalar(tag: str, text: str) -> ScalarValue:
    """The value of an explicitly tagged scalar; ``ValueError`` saying why if it has none."""
    if tag in ("!", _TAG_PREFIX + "str"):
        return text
    name = tag[len(_TAG_PREFIX) :] if tag.startswith(_TAG_PREFIX) else None
    accepts = _SCALAR_TAGS.get(name) if name else None
    if accepts is None:
        raise ValueError(f"unsupported tag '{_short_tag(tag)}'; remove it (only plain data)")
    value = resolve_plain(text) if text else None
    if not accepts(value):
        raise ValueError(f"'{text}' is not a valid {_short_tag(tag)} value")
    return float(value) if name == "float" and value is not None else value


# --- composing -------------------------------------------------------------------------


class _Problem(Exception):
    """A problem that stops composing (the document cannot be read further); ``alias``
    says it is an alias to no anchor, which an unquoted glob also is."""

    def __init__(self, message: str, line: int, column: int, *, alias: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.alias = alias


class _Frame:
    """A collection being composed, and for a mapping the key waiting for its value."""

    __slots__ = ("anchor", "intrinsic", "key", "key_id", "node")

    def __init__(
        self, node: Sequence | Mapping, anchor: str | None, intrinsic: str | None = None
    ) -> None:
        self.node = node
        self.anchor = anchor
        self.intrinsic = intrinsic
        self.key: Node | None = None
        self.key_id: object = None


def _key_id(key: Node) -> object:
    if isinstance(key, Scalar):
        value = key.value
        return value if type(value) is str else (type(value).__name__, value)
    return key


def _key_text(key: Node) -> str:
    return key.text if isinstance(key, Scalar) else repr(key)


class _Composer:
    """Turns a parser's events into one document's node tree."""

    def __init__(self, file: str, intrinsic: bool = False) -> None:
        self.file = file
        self.intrinsic = intrinsic
        self.findings: list[Finding] = []
        self.anchors: dict[str, Node] = {}
        self.documents = 0
        self.composed = 0
        self.expanded = 0

    def finding(self, rule: str, message: str, line: int, column: int) -> None:
        location = Location(self.file, line, column)
        self.findings.append(Finding(rule, Severity.ERROR, clip(message), location))

    def tagged(self, event: Any) -> ScalarValue:
        """The value of a quoted or explicitly tagged scalar."""
        text: str = event.value
        if event.tag is None or self.function(event.tag) is not None:
            return text
        try:
            return _tagged_scalar(event.tag, text)
        except ValueError as error:
            mark = event.start_mark
            self.finding(YAML_SYNTAX, str(error), mark.line + 1, mark.column + 1)
            return text

    def function(self, tag: str | None) -> str | None:
        """With ``intrinsic``, the long name of a CloudFormation short-form tag (``!Ref``
        is ``Ref``, ``!GetAtt`` is ``Fn::GetAtt``); else None."""
        if not self.intrinsic or tag is None or not _INTRINSIC_TAG.fullmatch(tag):
            return None
        name = tag[1:]
        return name if name in ("Ref", "Condition") else f"Fn::{name}"

    def wrapped(self, node: Node, function: str) -> Mapping:
        """``node`` under the key ``function``: a short-form tag in its long form."""
        mapping = Mapping(node.line, node.column)
        mapping.key_nodes[function] = Scalar(function, function, node.line, node.column)
        mapping.values[function] = node
        mapping.size += node.size
        return mapping

    def alias(self, event: Any) -> Node:
        mark = event.start_mark
        node = self.anchors.get(event.anchor)
        if node is None:
            raise _Problem(
                f"alias '*{event.anchor}' refers to no anchor completed before it; define "
                f"'&{event.anchor}' first (an alias inside its own anchor is not allowed)",
                mark.line + 1,
                mark.column + 1,
                alias=True,
            )
        self.expanded += node.size
        if self.expanded > alias_budget(self.composed):
            raise _Problem(
                "aliases expand this document far beyond its size (an alias bomb?); "
                "write the repeated parts out or use fewer aliases",
                mark.line + 1,
                mark.column + 1,
            )
        return node

    def compose(self, get_event: Callable[[], Any]) -> Node | None:
        """Compose the single document of the stream; raises ``_Problem`` or YAMLError.

        The loop runs once per event of a possibly huge file, so the common cases (a
        plain scalar, attaching a node to its parent) are written inline.
        """
        stack: list[_Frame] = []
        root: Node | None = None
        anchors = self.anchors
        while True:
            event = get_event()
            kind = event.__class__
            node: Node
            if kind is ScalarEvent:
                mark = event.start_mark
                text = event.value
                if event.implicit[0]:
                    value = resolve_plain(text) if text else None
                else:
                    value = self.tagged(event)
                node = Scalar(value, text, mark.line + 1, mark.column + 1)
                function = self.function(event.tag)
                if function is not None:
                    node = self.wrapped(node, function)
                if event.anchor is not None:
                    anchors[event.anchor] = node
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                stack.append(self.open(event, len(stack)))
                continue
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                frame = stack.pop()
                node = frame.node
                if frame.intrinsic is not None:
                    node = self.wrapped(node, frame.intrinsic)
                if frame.anchor is not None:
                    anchors[frame.anchor] = node
            elif kind is AliasEvent:
                node = self.alias(event)
            elif kind is DocumentStartEvent:
                self.document(event)
                continue
            elif kind is StreamEndEvent:
                return root
            else:  # stream start, document end
                continue
            self.composed += 1
            if not stack:
                root = node
                continue
            frame = stack[-1]
            parent = frame.node
            parent.size += node.size
            if isinstance(parent, Sequence):
                parent.items.append(node)
            elif frame.key is None:
                frame.key = node
                frame.key_id = _key_id(node)
                if frame.key_id in parent.values:
                    self.duplicate(frame)
            else:
                if frame.key_id is not _MISSING:
                    parent.key_nodes[frame.key_id] = frame.key
                    parent.values[frame.key_id] = node
                frame.key = None

    def open(self, event: Any, depth: int) -> _Frame:
        """A frame for a collection that starts at ``depth``, if nesting allows it."""
        mark = event.start_mark
        if depth >= MAX_DEPTH:
            raise _Problem(_TOO_DEEP, mark.line + 1, mark.column + 1)
        mapping = event.__class__ is MappingStartEvent
        tag = event.tag
        function = self.function(tag)
        if function is not None:
            node_type = Mapping if mapping else Sequence
            return _Frame(node_type(mark.line + 1, mark.column + 1), event.anchor, function)
        if tag is not None and tag not in ("!", _TAG_PREFIX + ("map" if mapping else "seq")):
            raise _Problem(
                f"unsupported tag '{_short_tag(tag)}' on a {'mapping' if mapping else 'list'}"
                "; remove it (only plain data)",
                mark.line + 1,
                mark.column + 1,
            )
        node = Mapping if mapping else Sequence
        return _Frame(node(mark.line + 1, mark.column + 1), event.anchor)

    def document(self, event: Any) -> None:
        """Count a document, refusing a second one."""
        self.documents += 1
        if self.documents > 1:
            mark = event.start_mark
            raise _Problem(
                "a spec file holds exactly one YAML document; remove the second one "
                "(or split it into its own file)",
                mark.line + 1,
                mark.column + 1,
            )

    def duplicate(self, frame: _Frame) -> None:
        """Report the key just read as a duplicate and drop the value that follows it."""
        key, mapping = frame.key, frame.node
        assert key is not None and isinstance(mapping, Mapping)
        first = mapping.key_nodes[frame.key_id]
        self.finding(
            DUPLICATE_KEY,
            f"duplicate key '{_key_text(key)}' (first defined at line {first.line}, "
            f"column {first.column}); remove or rename one of them",
            key.line,
            key.column,
        )
        frame.key_id = _MISSING


# --- entry point -----------------------------------------------------------------------

_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_NOT_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def position(text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column of character ``index``, counting breaks as YAML does."""
    line, start = 1, 0
    for match in _LINE_BREAK.finditer(text, 0, index):
        line += 1
        start = match.end()
    return line, index - start + 1


def _decode(data: bytes, composer: _Composer) -> str | None:
    """The text of ``data``, or None after reporting a binary or non-UTF-8 file."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        nul = data.find(b"\0", 0, error.start)
        where = nul if nul >= 0 else error.start
        prefix = data[:where].decode("utf-8", errors="replace")
        line, column = position(prefix, len(prefix))
        message = (
            "the file contains a NUL byte; this looks like a binary file"
            if nul >= 0
            else f"the file is not UTF-8 text (byte 0x{data[where]:02x}); save it as UTF-8"
        )
        composer.finding(YAML_SYNTAX, message, line, column)
        return None


def _unprintable(text: str, composer: _Composer) -> bool:
    """Report the first character YAML does not allow; True if there is one."""
    match = _NOT_PRINTABLE.search(text)
    if match is None:
        return False
    char = match.group()
    line, column = position(text, match.start())
    message = (
        "the text contains a NUL byte; this looks like a binary file"
        if char == "\0"
        else f"the text contains the character U+{ord(char):04X}, which YAML does not allow; "
        "remove it"
    )
    composer.finding(YAML_SYNTAX, message, line, column)
    return True


def _syntax_problem(error: yaml.YAMLError, composer: _Composer, text: str) -> None:
    if isinstance(error, yaml.reader.ReaderError) and _unprintable(text, composer):
        return
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or str(error)
    context = getattr(error, "context", None)
    context_mark = getattr(error, "context_mark", None)
    if problem == "exceeded maximum nesting depth":  # libyaml's own limit on flow nesting
        message = _TOO_DEEP
    else:
        message = f"invalid YAML: {problem}"
        if context and context_mark is not None:
            line, column = context_mark.line + 1, context_mark.column + 1
            message += f" ({context} at line {line}, column {column})"
        elif context:
            message += f" ({context})"
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    hint = tab_hint(text, line)
    if hint is None and context == "while scanning an alias" and context_mark is not None:
        hint = glob_hint(text, context_mark.line + 1, context_mark.column + 1)
    if hint is None and problem.startswith(_INDENTATION_PROBLEMS):
        hint = indentation_hint(text, line)
    if hint is not None:
        message, line, column = hint.message, hint.line, hint.column
    composer.finding(YAML_SYNTAX, message, line, column)


_INDENTATION_PROBLEMS = (
    "mapping values are not allowed",
    "did not find expected key",
    "did not find expected '-' indicator",
    "expected <block end>",
    "could not find expected ':'",
)
"""How the parser words the errors that a badly indented line causes."""


_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _compose(composer: _Composer, text: str) -> Node | None:
    parser = _Loader(text)
    get_event = parser.get_event
    if progress.listening():
        get_event = _counting(get_event, text.count("\n") + 1)
    try:
        return composer.compose(get_event)
    finally:
        parser.dispose()


PROGRESS_EVENTS = 1 << 16
"""How many parser events pass between two progress reports while reading."""


def _counting(get_event: Callable[[], Any], lines: int) -> Callable[[], Any]:
    """``get_event`` that reports the line it has reached every :data:`PROGRESS_EVENTS`
    events (installed only when someone listens: it costs a call per event)."""
    count = 0
    progress.phase("reading YAML")

    def counted() -> Any:
        nonlocal count
        event = get_event()
        count += 1
        if count % PROGRESS_EVENTS == 0:
            progress.phase(f"reading YAML, line {event.start_mark.line + 1:,} of {lines:,}")
        return event

    return counted


def read_yaml(text: str | bytes, file: str, *, intrinsic: bool = False) -> ReadResult:
    """Compose ``text`` (str, or bytes that must be UTF-8) into nodes, with findings.

    ``root`` is None when the text is no readable YAML document; duplicate keys and bad
    tags are reported but do not stop the reading. With ``intrinsic``, CloudFormation's
    short-form tags (``!Ref X``, ``!GetAtt A.B``, ``!Sub ...``) are read as their long
    form (``{"Ref": "X"}``, ``{"Fn::GetAtt": "A.B"}``), as a template means them.
    """
    composer = _Composer(file, intrinsic)
    if isinstance(text, bytes):
        decoded = _decode(text, composer)
        if decoded is None:
            return ReadResult(None, tuple(composer.findings))
        text = decoded
    text = text.removeprefix("\ufeff")
    root: Node | None = None
    try:
        root = _compose(composer, text)
    except UnicodeEncodeError as error:  # lone surrogates in a str
        line, column = position(text, error.start)
        composer.finding(
            YAML_SYNTAX, "the text is not valid Unicode; save it as UTF-8", line, column
        )
    except _Problem as problem:
        hint = glob_hint(text, problem.line, problem.column) if problem.alias else None
        if hint is not None:
            composer.finding(YAML_SYNTAX, hint.message, hint.line, hint.column)
        else:
            composer.finding(YAML_SYNTAX, problem.message, problem.line, problem.column)
    except yaml.YAMLError as error:
        _syntax_problem(error, composer, text)
    if root is None and not composer.findings:
        composer.finding(YAML_SYNTAX, "the file is empty; a spec is a YAML mapping", 1, 1)
    return ReadResult(root, tuple(composer.findings), text)
