"""Where a character of a scalar's value sits in the YAML text: line and column.

A finding about an expression points *inside* it, so the loader needs the position of
the n-th character of a scalar's value. The value is not the text: a quoted scalar drops
its quotes and resolves its escapes (``''`` in single quotes; ``\\"``, ``\\n``, ``\\x41``
... in double quotes), and every scalar folds its line breaks and indentation. So
:func:`value_positions` walks the text from the scalar's first character alongside the
value, character by character: equal characters pair up, an escape pairs with the one
character it stands for, and whitespace the value folded away is skipped.

>>> text = 'when: "a ==\\\\x20b"'
>>> position_in(text, 1, 7, "a == b", 5)
(1, 16)
"""

from __future__ import annotations

import re

from statewright.verify.load.yamlread import position

__all__ = ["index_of", "position_in"]

_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
_BREAKS = "\r\n\x85\u2028\u2029"
_ESCAPE_LENGTH = {"x": 4, "u": 6, "U": 10}


def index_of(text: str, line: int, column: int) -> int:
    """The index in ``text`` of the 1-based ``line`` and ``column`` (as YAML counts them)."""
    start = 0
    for number, match in enumerate(_BREAK.finditer(text), start=2):
        if number > line:
            break
        start = match.end()
    return start + column - 1


def position_in(text: str, line: int, column: int, value: str, offset: int) -> tuple[int, int]:
    """The ``(line, column)`` of character ``offset`` of ``value`` (``len(value)``: just
    past its end), the value of the scalar that starts at ``line`` and ``column`` of
    ``text``.

    A character that cannot be paired (an unusual escape) takes the position of the last
    one that could, so the position stays inside the scalar.
    """
    indices = _indices(text, index_of(text, line, column), value)
    return position(text, indices[min(max(offset, 0), len(value))])


def _indices(text: str, start: int, value: str) -> list[int]:
    """The index in ``text`` of each character of ``value``, and one past its end."""
    style = text[start : start + 1]
    at = start
    if style in ("'", '"'):
        at += 1
    elif style in ("|", ">"):  # a block scalar: its value starts on the next line
        found = _BREAK.search(text, start)
        at = found.end() if found else len(text)
    else:
        style = ""
    indices: list[int] = []
    k = 0
    while k < len(value) and at < len(text):
        char = text[at]
        if style == '"' and char == "\\":
            following = text[at + 1 : at + 2]
            if following and following in _BREAKS:  # an escaped line break: folded away
                at += 2
                continue
            indices.append(at)
            at += _ESCAPE_LENGTH.get(following, 2)
            k += 1
        elif style == "'" and text.startswith("''", at):
            indices.append(at)
            at += 2
            k += 1
        elif char == value[k]:
            indices.append(at)
            at += 1
            k += 1
        elif char in " \t" or char in _BREAKS:  # indentation or a folded line break
            at += 1
        else:
            break
    indices.append(indices[-1] + 1 if indices else at)
    while len(indices) < len(value) + 1:
        indices.append(indices[-1])
    return indices
