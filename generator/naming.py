"""Spec names and texts -> Python tokens, computed once for the view model.

Names in a spec are identifiers already (the loader's name rules); this module decides
what they become in generated code: the machine's class name, enum member names and one
method name per trigger. It also turns free text (descriptions, recovery steps) into
string literals and docstring lines that are safe (nothing can escape the literal), ASCII
only, and already in the form ``ruff format`` keeps.

Which names are taken is computed, never listed by hand: a trigger method may not take a
Python keyword or soft keyword, a builtin, or any attribute of the runtime's
:class:`~statewright.generator.runtime.engine.Machine` (public or private), and gets a trailing
underscore instead (``fire`` -> ``fire_``); ``fire(Trigger.FIRE)`` works for every trigger
whatever its method is called. The class name may not be a keyword, a builtin or a name
the generated module defines or imports (:data:`MODULE_NAMES`); it gets the suffix
``Machine`` instead (``machine: none`` -> ``NoneMachine``).
"""

from __future__ import annotations

import builtins
import keyword
import textwrap
from collections.abc import Iterable, Sequence

import statewright.generator.runtime
from statewright.generator.runtime.engine import Machine

__all__ = [
    "ENUM_NAMES",
    "HANDLERS_CLASS",
    "MODULE_NAMES",
    "RESERVED_METHODS",
    "class_name",
    "docstring_lines",
    "enum_member",
    "method_names",
    "string_lines",
    "string_literal",
]

ENUM_NAMES = ("State", "Trigger", "Reason")
"""The enums every generated module declares, in this order (the view model names them)."""

HANDLERS_CLASS = "Handlers"
"""The class every generated module declares for the machine's handlers."""

MODULE_NAMES = frozenset(
    {
        *ENUM_NAMES,
        HANDLERS_CLASS,
        *statewright.generator.runtime.__all__,
        "SOURCE",
        "SOURCE_SHA256",
        "GENERATOR_VERSION",
    }
)
"""Every name a generated runtime module binds at module level but its machine class:
the enums, its handlers' class, the runtime support it re-exports and its three constants."""

_PYTHON = frozenset(keyword.kwlist) | frozenset(keyword.softkwlist) | frozenset(dir(builtins))

RESERVED_METHODS = (
    _PYTHON
    | frozenset(name for cls in Machine.__mro__ for name in vars(cls).get("__annotations__", {}))
    | frozenset(dir(Machine))
)
"""Names no trigger method may take: Python's, and every attribute of the engine's class,
declared or defined (``spec``, ``fire``, ``_take``, ...)."""


def class_name(machine: str) -> str:
    """``discovery_pipeline`` -> ``DiscoveryPipeline``; ``StateMachine`` on a clash.

    A class name that is a keyword or builtin or that would shadow a module-level name of
    the generated module (a machine called ``state``, ``actor`` or ``none``) gets the
    suffix ``Machine``.
    """
    name = "".join(part[:1].upper() + part[1:] for part in machine.split("_") if part)
    if not name or not name[0].isalpha():
        name = "Machine" + name
    while name in MODULE_NAMES or name in _PYTHON:
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
        while name in RESERVED_METHODS or name in taken or name.startswith("_"):
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
