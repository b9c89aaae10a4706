"""Spec names and texts -> Python tokens, computed once for the view model.

Names in a spec are identifiers already (the loader's name rules); this module decides
what they become in generated code: the machine's class name, enum member names and one
method name per trigger. It also turns free text (descriptions, recovery steps) into
string literals and docstring lines that are safe (nothing can escape the literal), ASCII
only, and already in the form ``ruff format`` keeps.

A trigger whose name is one of the runtime class's own members (``fire``, ``state``,
``audit``, ``expire``, ...), a Python keyword or builtin, or a module-level name of the
generated module gets a trailing underscore as its method name (``fire`` -> ``fire_``);
``fire(Trigger.FIRE)`` works for every trigger whatever its method is called.
"""

from __future__ import annotations

import builtins
import keyword
import textwrap
from collections.abc import Iterable, Sequence

__all__ = [
    "MODULE_NAMES",
    "RUNTIME_MEMBERS",
    "class_name",
    "docstring_lines",
    "enum_member",
    "method_names",
    "string_lines",
    "string_literal",
]

RUNTIME_MEMBERS = frozenset(
    {
        "audit",
        "context",
        "create",
        "deadline",
        "expire",
        "failures",
        "fire",
        "initial",
        "instance_id",
        "load",
        "reason",
        "recovery",
        "replay",
        "rollback",
        "state",
        "sweep",
        "update_context",
    }
)
"""The public members of a generated machine class; no trigger method may take these."""

MODULE_NAMES = frozenset(
    {
        "AUTOMATIC",
        "Actor",
        "AuditRecord",
        "Any",
        "Callable",
        "Clock",
        "FailureSnapshot",
        "Final",
        "GENERATOR_VERSION",
        "InvalidTransition",
        "Iterable",
        "JSONValue",
        "Locked",
        "Mapping",
        "NamedTuple",
        "Reason",
        "Refused",
        "SOURCE",
        "SOURCE_SHA256",
        "Self",
        "State",
        "StrEnum",
        "Trigger",
        "TypeAlias",
        "UTC",
        "Unauthorized",
        # the durable store (templates/_store.py.jinja) and its imports
        "ChainProblem",
        "ConcurrencyConflict",
        "DBConnection",
        "InstanceExists",
        "Iterator",
        "MemoryStore",
        "ParamSpec",
        "Protocol",
        "Sequence",
        "SqlStore",
        "Store",
        "StoreError",
        "StoreHead",
        "StoredInstance",
        "StoredRecord",
        "TypeVar",
        "UnknownInstance",
        "contextlib",
        "dataclasses",
        "hashlib",
        "sqlite3",
        "sys",
        "threading",
        "bisect_right",
        "copy",
        "dataclass",
        "datetime",
        "dump_audit",
        "field",
        "json",
        "load_audit",
        "partial",
        "timedelta",
    }
)
"""Every name the generated module defines or imports at module level."""

_RESERVED_METHODS = (
    RUNTIME_MEMBERS
    | MODULE_NAMES
    | frozenset(keyword.kwlist)
    | frozenset(keyword.softkwlist)
    | frozenset(dir(builtins))
)


def class_name(machine: str) -> str:
    """``discovery_pipeline`` -> ``DiscoveryPipeline``; ``StateMachine`` on a clash.

    A class name that would shadow a module-level name of the generated module (a machine
    called ``state`` or ``actor``) gets the suffix ``Machine``.
    """
    name = "".join(part[:1].upper() + part[1:] for part in machine.split("_") if part)
    if not name or not name[0].isalpha():
        name = "Machine" + name
    while name in MODULE_NAMES:
        name += "Machine"
    return name


def enum_member(name: str) -> str:
    """The enum member for a spec name: upper case (state names already are)."""
    return name.upper()


def method_names(triggers: Iterable[str]) -> dict[str, str]:
    """One safe, distinct method name per trigger, in the order given.

    >>> method_names(["task_received", "fire", "import"])
    {'task_received': 'task_received', 'fire': 'fire_', 'import': 'import_'}
    """
    taken: set[str] = set()
    names: dict[str, str] = {}
    for trigger in triggers:
        name = trigger
        while name in _RESERVED_METHODS or name in taken or name.startswith("_"):
            name = name + "_" if not name.startswith("_") else "t" + name
        taken.add(name)
        names[trigger] = name
    return names


def _escape_char(char: str, quote: str) -> str:
    if char == "\\":
        return "\\\\"
    if char == quote:
        return "\\" + quote
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if char == "\r":
        return "\\r"
    if " " <= char <= "~":
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _escape(text: str, quote: str) -> str:
    return "".join(_escape_char(char, quote) for char in text)


def _quote_for(text: str) -> str:
    """The quote ``ruff format`` keeps: double, unless that needs more escapes."""
    return "'" if text.count('"') > text.count("'") else '"'


def string_literal(text: str) -> str:
    """A one-line, ASCII-only Python string literal whose value is ``text``.

    >>> string_literal('say "hi"')
    '\\'say "hi"\\''
    >>> string_literal("it's")
    '"it\\'s"'
    """
    quote = _quote_for(text)
    return quote + _escape(text, quote) + quote


def string_lines(text: str, width: int) -> list[str]:
    """``text`` as one literal, or an implicit concatenation of literals each at most
    ``width`` characters long (split between words where possible).
    """
    whole = string_literal(text)
    if len(whole) <= width or not text:
        return [whole]
    quote = _quote_for(text)
    pieces: list[str] = []
    current = ""
    for token in _tokens(text):
        if current and len(_escape(current + token, quote)) + 2 > width:
            pieces.append(current)
            current = ""
        while len(_escape(token, quote)) + 2 > width:
            cut = _fit(token, quote, width - 2)
            pieces.append(token[:cut])
            token = token[cut:]
        current += token
    if current:
        pieces.append(current)
    return [quote + _escape(piece, quote) + quote for piece in pieces]


def _tokens(text: str) -> list[str]:
    """Words, each keeping the spaces that follow it."""
    tokens: list[str] = []
    for char in text:
        if tokens and (char == " " or tokens[-1][-1:] != " "):
            tokens[-1] += char
        else:
            tokens.append(char)
    return tokens


def _fit(token: str, quote: str, width: int) -> int:
    cut = 1
    while cut < len(token) and len(_escape(token[: cut + 1], quote)) <= width:
        cut += 1
    return cut


def docstring_lines(texts: Sequence[str | None], width: int) -> list[str]:
    """Paragraphs of free text as docstring body lines: whitespace folded, wrapped to
    ``width``, ASCII only, backslashes and quotes escaped so that the docstring cannot
    end early. Empty paragraphs are dropped; paragraphs are separated by a blank line.
    """
    lines: list[str] = []
    for text in texts:
        words = " ".join((text or "").split())
        if not words:
            continue
        if lines:
            lines.append("")
        escaped = _escape(words, '"')
        lines.extend(textwrap.wrap(escaped, width, break_long_words=False, break_on_hyphens=False))
    if lines and lines[-1].endswith('\\"'):
        # ruff pads a docstring that ends with a quote: end with an escape it leaves alone.
        lines[-1] = lines[-1][:-2] + "\\x22"
    return lines
