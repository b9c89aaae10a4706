r"""What a YAML syntax error means in a spec, said at the line to fix.

The YAML parser reports where it gave up, in its own words: a tab used for indentation is
``found character that cannot start any token``, a key indented by one space too many is
``mapping values are not allowed`` on the *next* line, and an unquoted glob
``from: *_RUNNING`` is an alias to an anchor that does not exist. Each function here
looks at the text around the parser's position and, when it recognises the mistake,
returns a :class:`Hint`: the line and column to fix and a message that says what is wrong
and what to write instead. None means no better explanation than the parser's.

>>> text = "states:\n  IDLE:\n   kind: idle\n    description: Waiting.\n"
>>> hint = indentation_hint(text, 4)
>>> hint.line, hint.column
(3, 4)
>>> hint.message.endswith("keys of one mapping line up, so indent this line by 4 spaces")
True
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

__all__ = ["Hint", "glob_hint", "indentation_hint", "tab_hint"]


@dataclass(frozen=True, slots=True)
class Hint:
    """A better message for a syntax error, at the line and column to fix (1-based)."""

    message: str
    line: int
    column: int


def tab_hint(text: str, line: int) -> Hint | None:
    r"""A tab in the indentation of ``line``: YAML indents with spaces only.

    >>> tab_hint("a:\n\tb: 1\n", 2).column
    1
    """
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    body = lines[line - 1]
    indentation = body[: len(body) - len(body.lstrip(" \t"))]
    if "\t" not in indentation:
        return None
    return Hint(
        "a tab in the indentation: YAML indents with spaces only; replace the tab with spaces",
        line,
        indentation.index("\t") + 1,
    )


# --- unquoted globs ------------------------------------------------------------------

_GLOB_CHARS = re.compile(r"[A-Za-z0-9_*?!\-]")
_UPPER_GLOB = re.compile(r"[A-Z0-9_*?\[\]!\-]+")


def glob_hint(text: str, line: int, column: int) -> Hint | None:
    r"""An unquoted glob (``from: *_RUNNING``) at the ``*`` the parser stopped at, which
    YAML reads as an alias: say to quote it.

    It is recognised when it stands in a ``from`` value or reads like a pattern over
    UPPER_SNAKE state names; another alias to a missing anchor gets no hint.

    >>> hint = glob_hint("  - {from: *_RUNNING, to: FAILED}\n", 1, 12)
    >>> hint.message.endswith('quote the glob: from: "*_RUNNING"'), hint.column
    (True, 12)
    """
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    body = lines[line - 1]
    star = column - 1
    if not 0 <= star < len(body) or body[star] != "*":
        return None
    start = star
    while start > 0 and (_GLOB_CHARS.match(body[start - 1]) or body[start - 1] == "]"):
        if body[start - 1] == "]":  # a closed [...] class is part of the glob
            opening = body.rfind("[", 0, start - 1)
            if opening < 0:
                break
            start = opening
        else:
            start -= 1
    end = star + 1
    while end < len(body) and (_GLOB_CHARS.match(body[end]) or body[end] in "[]"):
        end += 1
    glob = body[start:end]
    in_from = re.search(r"\bfrom\s*:\s*(\[?)[^:]*$", body[:start])
    if in_from is None and not _UPPER_GLOB.fullmatch(glob):
        return None
    fix = f'from: "{glob}"' if in_from and not in_from[1] else f'"{glob}"'
    brackets = " and [ for a list" if glob.startswith("[") else ""
    return Hint(
        f"'{glob}' is not read as a glob: unquoted, YAML takes * for an alias{brackets}; "
        f"quote the glob: {fix}",
        line,
        start + 1,
    )


# --- indentation -----------------------------------------------------------------------

_QUOTED = re.compile(r"'[^']*'|\"(?:[^\"\\]|\\.)*\"")
_KEY = re.compile(r"(?:[^\s#:\[{][^#]*?|)\s*:(?:\s+|$)")
_DASH = re.compile(r"-(?:\s+|$)")
_BLOCK_SCALAR = re.compile(r"[|>][-+0-9]*\s*$")
_TOP_KEY = re.compile(r"[^\s#\-\[{]")


@dataclass(frozen=True, slots=True)
class _Line:
    """A line that holds content, as indentation sees it."""

    number: int
    indent: int
    inner: tuple[int, ...]  # where keys start after each "- " on the line
    opens: bool  # ends with ':' or '-' alone: the lines below it are its value
    block_scalar: bool  # its value is a literal or folded block (| or >)


def _content(raw: str) -> str:
    """``raw`` without quoted strings and comments (their text never matters here)."""
    unquoted = _QUOTED.sub("''", raw)
    hash_at = re.search(r"(?:^|\s)#", unquoted)
    return (unquoted[: hash_at.start()] if hash_at else unquoted).rstrip()


WINDOW = 5_000
"""How many lines above the parser's position the indentation is read, at most: from the
last top-level key in them, so that a big spec's error costs no more than a small one's."""


def _lines(text: str, last: int) -> list[_Line]:
    """The content lines from the last top-level key within :data:`WINDOW` lines (or the
    window's first line) up to ``last``: no blank or comment lines, no lines inside a
    block scalar or a flow collection that spans lines."""
    raw_lines = text.splitlines()[:last]
    first = max(len(raw_lines) - WINDOW, 0)
    top = next(
        (i for i in range(len(raw_lines) - 1, first - 1, -1) if _TOP_KEY.match(raw_lines[i])),
        first,
    )
    found: list[_Line] = []
    scalar_above: int | None = None  # the indent of the key whose block scalar runs
    depth = 0
    for number, raw in enumerate(raw_lines[top:], start=top + 1):
        body = _content(raw)
        if not body.strip():
            continue
        indent = len(body) - len(body.lstrip(" "))
        if scalar_above is not None:
            if indent > scalar_above:
                continue
            scalar_above = None
        if depth > 0:
            depth += _balance(body)
            continue
        inner: list[int] = []
        rest = body[indent:]
        position = indent
        while (dash := _DASH.match(rest)) is not None:
            position += dash.end()
            rest = rest[dash.end() :]
            inner.append(position)
        key = _KEY.match(rest)
        value = rest[key.end() :].strip() if key else rest.strip()
        opens = (key is not None and not value) or not rest.strip()
        block = key is not None and bool(_BLOCK_SCALAR.fullmatch(value))
        depth = max(_balance(body), 0)
        if not key and inner:
            inner.pop()  # "- value": no key starts after the dash
        found.append(_Line(number, indent, tuple(inner), opens, block))
        if block:
            scalar_above = inner[-1] if inner else indent
    return found


def _balance(body: str) -> int:
    return body.count("[") + body.count("{") - body.count("]") - body.count("}")


def indentation_hint(text: str, line: int) -> Hint | None:
    """Inconsistent indentation that made the parser stop at ``line``: a key indented
    deeper than the complete ``key: value`` above it (YAML then reads it as part of that
    value), or a line that lines up with no line above it."""
    lines = _lines(text, line)
    if not lines or lines[-1].number != line:
        return None
    open_levels: list[tuple[int, _Line]] = []  # the indentation of each enclosing block
    steps: Counter[int] = Counter()
    previous: _Line | None = None
    for here in lines:
        popped: tuple[int, _Line] | None = None
        while open_levels and open_levels[-1][0] > here.indent:
            popped = open_levels.pop()
        top = open_levels[-1] if open_levels else None
        if top is not None and top[0] == here.indent:
            open_levels.pop()
        elif popped is not None:  # a dedent to no level above
            if here.number == line:
                return _between(here, popped, top)
        elif previous is not None and not previous.opens and here.indent > previous.indent:
            if here.number == line:
                parent = next((o for o in reversed(open_levels) if o[0] < previous.indent), None)
                return _deeper(here, previous, parent, steps)
            continue  # the continuation of a plain scalar: not a key of its own
        elif top is not None:
            steps[here.indent - top[0]] += 1
        open_levels.append((here.indent, here))
        open_levels.extend((level, here) for level in here.inner)
        previous = here
    return None


def _spaces(count: int) -> str:
    return f"{count} space" if count == 1 else f"{count} spaces"


def _by(count: int) -> str:
    """How to indent a line: ``by 4 spaces``, or ``not at all``."""
    return f"by {_spaces(count)}" if count else "not at all"


def _line_up(count: int) -> str:
    if count:
        return f"indent it by {_spaces(count)} to line it up"
    return "start it in the first column to line it up"


def _between(here: _Line, deeper: tuple[int, _Line], shallower: tuple[int, _Line] | None) -> Hint:
    options = f"{_by(deeper[0])} (as line {deeper[1].number})"
    if shallower is not None:
        options += f" or {_by(shallower[0])} (as line {shallower[1].number})"
    return Hint(
        f"inconsistent indentation: this line is indented {_spaces(here.indent)}, which "
        f"lines up with no line above it; indent it {options}",
        here.number,
        here.indent + 1,
    )


def _deeper(
    here: _Line, above: _Line, parent: tuple[int, _Line] | None, steps: Counter[int]
) -> Hint:
    """``here`` is deeper than the complete line ``above``: one of them is off."""
    step = steps.most_common(1)[0][0] if steps else 2
    expected = 0 if parent is None else parent[0] + step
    if above.indent != expected and here.indent == expected:
        return Hint(
            f"inconsistent indentation: this line is indented {_spaces(above.indent)} and "
            f"the next one (line {here.number}) {here.indent}; keys of one mapping line up, "
            f"so indent this line {_by(here.indent)}",
            above.number,
            above.indent + 1,
        )
    return Hint(
        f"inconsistent indentation: this line is indented {_spaces(here.indent)}, deeper "
        f"than line {above.number} above it ({above.indent}), so YAML reads it as part of "
        f"that line's value; {_line_up(above.indent)}",
        here.number,
        here.indent + 1,
    )
