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
import hashlib
import keyword
import re
import textwrap
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import assert_never

import statewright.generator.runtime
from statewright.generator.runtime.engine import Machine
from statewright.verify.expr import fold
from statewright.verify.model import BinaryOp, Expr, UnaryOp

__all__ = [
    "ENUM_NAMES",
    "HANDLERS_CLASS",
    "LINE_LENGTH",
    "MAX_FUNCTION_NAME",
    "MODULE_NAMES",
    "RESERVED_METHODS",
    "block_literal",
    "class_name",
    "docstring",
    "docstring_lines",
    "enum_member",
    "function_names",
    "method_names",
    "string_lines",
    "string_literal",
    "words_of",
]

LINE_LENGTH = 100
"""The line length of generated Python (``generator/generated-code.toml``)."""

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
the enums, its handlers' class, its three constants and every name of the runtime support
(those it imports and re-exports and the rest, so that a class name never depends on which
of them one spec's module happens to import)."""

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


def docstring_lines(texts: Sequence[str | tuple[str, ...] | None], width: int) -> list[str]:
    """Paragraphs of free text as docstring body lines: whitespace folded, wrapped to
    ``width``, ASCII only, backslashes and quotes escaped so that the docstring cannot
    end early. Empty paragraphs are dropped; paragraphs are separated by a blank line.
    A tuple is a bulleted list, one ``- `` item per entry, its lines continued under the
    item's text.

    >>> docstring_lines(["Two exits:", ("A -> B", "C -> D [x < 3]")], 40)
    ['Two exits:', '', '- A -> B', '- C -> D [x < 3]']
    """
    lines: list[str] = []
    for text in texts:
        items = text if isinstance(text, tuple) else (text,)
        escaped = [_escape(" ".join((item or "").split()), '"') for item in items]
        if not any(escaped):
            continue
        if lines:
            lines.append("")
        bullet = isinstance(text, tuple)
        for item in filter(None, escaped):
            lines.extend(
                textwrap.wrap(
                    item,
                    width,
                    initial_indent="- " if bullet else "",
                    subsequent_indent="  " if bullet else "",
                    break_long_words=False,
                    break_on_hyphens=False,
                )
            )
    if lines and lines[-1].endswith('\\"'):
        # ruff pads a docstring that ends with a quote: end with an escape it leaves alone.
        lines[-1] = lines[-1][:-2] + "\\x22"
    return lines


def docstring(text: str, indent: str) -> str:
    r"""Prose as a docstring at ``indent`` (with a newline), or ``""`` if it says nothing.

    The template filter ``docstring``: templates write a docstring's prose, spec texts
    included, and this makes it safe (:func:`docstring_lines`). Paragraphs are separated
    by a blank line; one whose every line starts with ``- `` is a bulleted list. A text of
    one line keeps its quotes on that line.

    >>> docstring("A summary.\n\n- one\n- two", "  ").splitlines()[1:-1]
    ['', '  - one', '  - two']
    """
    paragraphs: list[str | tuple[str, ...]] = []
    for block in re.split(r"\n[ \t]*\n", text):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines and all(line.startswith("- ") for line in lines):
            paragraphs.append(tuple(line[2:] for line in lines))
        else:
            paragraphs.append(" ".join(lines))
    body = docstring_lines(paragraphs, LINE_LENGTH - len(indent) - 6)
    if not body:
        return ""
    if len(body) == 1:
        return f'{indent}"""{body[0]}"""\n'
    rest = "".join(f"{indent}{line}\n" if line else "\n" for line in body[1:])
    return f'{indent}"""{body[0]}\n{rest}{indent}"""\n'


def block_literal(text: str, width: int) -> str:
    r"""``text`` as one triple-quoted, ASCII-only literal that reads as the text itself.

    The literal opens with three quotes and a backslash (no leading newline); each line of
    ``text`` is a line of the literal, at column 0. Backslashes, quotes that could close
    the literal, tabs, control and non-ASCII characters are escaped; a trailing space is
    written ``\x20``, so that no line ends in whitespace; a line longer than ``width`` is
    continued with a backslash at its end, after a space where one is near. Nothing in
    ``text`` can end the literal or change its value, and ``ruff format`` keeps it as is.

    >>> block_literal('name: "x"\n  - a \n', 20).splitlines()[1:-1]
    ['name: "x"', '  - a\\x20']
    >>> import ast; ast.literal_eval(block_literal('say ""hi""', 80)) == 'say ""hi""'
    True
    """
    lines = text.split("\n")
    out = ['"""\\']
    for number, line in enumerate(lines):
        last = number == len(lines) - 1
        tokens = [_block_char(line, i, last) for i in range(len(line))]
        if tokens and line[-1] == " ":
            tokens[-1] = "\\x20"
        out.extend(_continued(tokens, width - (3 if last else 0)))
    out[-1] += '"""'
    return "\n".join(out)


def _block_char(line: str, index: int, last: bool) -> str:
    """One character of a block literal's line, escaped where it must be."""
    char = line[index]
    if char == '"':
        quotes = line[max(0, index - 1) : index + 2]
        closing = last and index == len(line) - 1
        return '\\"' if quotes.count('"') > 1 or closing else char
    return char if " " <= char <= "~" and char != "\\" else _escape_char(char, '"')


def _continued(tokens: list[str], width: int) -> list[str]:
    """Escaped characters as lines of at most ``width`` (plus their continuation
    backslash), cut after a space where one is near enough."""
    lines: list[str] = []
    while sum(map(len, tokens)) > width:
        size, cut, space = 0, 0, 0
        while size + len(tokens[cut]) <= width - 1:
            size += len(tokens[cut])
            cut += 1
            if tokens[cut - 1] == " ":
                space = cut
        cut = space if space > cut // 2 else max(cut, 1)
        lines.append("".join(tokens[:cut]) + "\\")
        tokens = tokens[cut:]
    lines.append("".join(tokens))
    return lines


MAX_FUNCTION_NAME = 56
"""The longest name :func:`function_names` spells out in words before it abbreviates."""


def _op_word(op: BinaryOp) -> str:
    match op:
        case "<":
            return "lt"
        case "<=":
            return "le"
        case ">":
            return "gt"
        case ">=":
            return "ge"
        case "==":
            return "eq"
        case "!=":
            return "ne"
        case "+":
            return "plus"
        case "-":
            return "minus"
        case "and" | "or":
            return op
        case _:
            assert_never(op)


class _Words:
    """An expression read aloud in identifier words (:class:`statewright.verify.expr.Algebra`):
    ``attempts < 3`` is ``attempts lt 3``. Names, enum values and state names are snake
    or upper-case identifiers already (the loader's name rules)."""

    def literal(self, value: int | bool) -> tuple[str, ...]:
        if isinstance(value, bool):
            return ("true" if value else "false",)
        return (str(value),) if value >= 0 else ("minus", str(-value))

    def enum_value(self, enum: str, member: str) -> tuple[str, ...]:
        return (member.lower(),)

    def state_name(self, name: str) -> tuple[str, ...]:
        return (name.lower(),)

    def ref(self, name: str) -> tuple[str, ...]:
        return (name,)

    def current_state(self) -> tuple[str, ...]:
        return ("state",)

    def unary(self, op: UnaryOp, operand: tuple[str, ...]) -> tuple[str, ...]:
        return ("not" if op == "not" else "minus", *operand)

    def binary(
        self, op: BinaryOp, left: tuple[str, ...], right: tuple[str, ...]
    ) -> tuple[str, ...]:
        return (*left, _op_word(op), *right)

    def member(
        self, operand: tuple[str, ...], items: tuple[tuple[str, ...], ...], negated: bool
    ) -> tuple[str, ...]:
        return (*operand, "not_in" if negated else "in", *(word for item in items for word in item))


def words_of(tree: Expr) -> tuple[str, ...]:
    """``tree`` read aloud, in words an identifier may hold.

    >>> from statewright.verify.model import Binary, Literal, Ref
    >>> words_of(Binary("<", Ref("attempts"), Literal(3)))
    ('attempts', 'lt', '3')
    """
    return fold(tree, _Words())


def function_names(prefix: str, meanings: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """One distinct name per function body: ``prefix`` and the words of the body's meaning.

    ``meanings`` maps each body (its Python source) to words that say what it does
    (:func:`words_of`). A name depends on its own body alone, so adding, removing or
    reordering other functions renames none. A name longer than :data:`MAX_FUNCTION_NAME`,
    or one that two bodies would share, keeps its first words and ends in the first hex
    digits of its body's sha256.

    >>> function_names("_when", {"v.attempts < 3": ("attempts", "lt", "3")})
    {'v.attempts < 3': '_when_attempts_lt_3'}
    >>> function_names("_set", {"v.a": ("a",) * 30})["v.a"]
    '_set_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_a_15b59f'
    """
    spelled = {body: "_".join((prefix, *words)) for body, words in meanings.items()}
    shared = Counter(spelled.values())
    names: dict[str, str] = {}
    for body, name in spelled.items():
        if len(name) > MAX_FUNCTION_NAME or shared[name] > 1:
            digest = hashlib.sha256(body.encode()).hexdigest()
            name = _words_within(prefix, meanings[body], MAX_FUNCTION_NAME - 7) + "_" + digest[:6]
        names[body] = name
    clashes = Counter(names.values())  # a name spelled out that met an abbreviated one
    for body, name in names.items():
        if clashes[name] > 1:
            names[body] = f"{prefix}_{hashlib.sha256(body.encode()).hexdigest()[:16]}"
    return names


def _words_within(prefix: str, words: Sequence[str], width: int) -> str:
    """The first of ``words`` that fit in ``width``, without a dangling ``and`` or ``or``."""
    kept: list[str] = []
    for word in words:
        if len(prefix) + sum(1 + len(w) for w in kept) + 1 + len(word) > width:
            break
        kept.append(word)
    while kept and kept[-1] in ("and", "or"):
        kept.pop()
    return "_".join((prefix, *kept))
