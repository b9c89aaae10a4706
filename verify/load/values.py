"""The small value checks the loader applies: name patterns, labels, durations, "did you
mean" suggestions, and the clipping of long messages.

Each returns a message (or a value) instead of reporting, so the loader, the command line
and the scaffolder share them; the findings they become are the load rules of
:mod:`statewright.verify.load.rules`. The name patterns are also the patterns of the JSON Schema
(:mod:`statewright.verify.load.shape`).
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Collection, Iterable

__all__ = [
    "MAX_DURATION_SECONDS",
    "SNAKE",
    "SUGGESTION_WORK",
    "UPPER_SNAKE",
    "Suggestions",
    "check_label",
    "check_snake_name",
    "check_upper_name",
    "clip",
    "closest",
    "parse_duration",
    "suggest",
]

UPPER_SNAKE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
SNAKE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_DURATION = re.compile(r"(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?")
_UNIT_SECONDS = (86_400, 3_600, 60, 1)
MAX_DURATION_SECONDS = 3650 * 86_400


def clip(message: str, limit: int = 400) -> str:
    """``message`` cut in the middle if a huge name in it made it longer than ``limit``.

    >>> clip("unknown key '" + "x" * 1000 + "' in the spec", 40)
    "unknown key 'xxx … xxxxxxxx' in the spec"
    """
    if len(message) <= limit:
        return message
    head = limit * 2 // 5
    return f"{message[:head]} … {message[head - limit + 3 :]}"


def suggest(word: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices``, or an empty string.

    Case is ignored when comparing, so ``idle`` finds ``IDLE``.
    """
    return _did_you_mean(closest(word, choices))


def _did_you_mean(name: str | None) -> str:
    return f"; did you mean '{name}'?" if name is not None else ""


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The one of ``choices`` closest to ``word`` (case ignored), if any is close."""
    by_folded = {choice.casefold(): choice for choice in choices}
    close = difflib.get_close_matches(word.casefold(), list(by_folded), n=1, cutoff=0.6)
    return by_folded[close[0]] if close else None


SUGGESTION_WORK = 10_000_000
"""How much comparing "did you mean" may cost in one spec, in pairs of characters compared
(comparing two names costs about the product of their lengths)."""


class Suggestions:
    """:func:`suggest` for one spec's unknown names, remembered per name and bounded in
    total: past :data:`SUGGESTION_WORK` (thousands of unknown names among thousands of
    states), names get no suggestion rather than minutes of comparing."""

    def __init__(self, work: int = SUGGESTION_WORK) -> None:
        self.left = work
        self._closest: dict[str, str | None] = {}

    def hint(self, word: str, choices: Collection[str]) -> str:
        return _did_you_mean(self.closest(word, choices))

    def closest(self, word: str, choices: Collection[str]) -> str | None:
        """:func:`closest`, within the budget (None past it), remembered per word."""
        if word not in self._closest:
            found = None
            if len(word) * len(choices) <= self.left:  # each choice has a character at least
                cost = len(word) * sum(map(len, choices))
                if cost <= self.left:
                    self.left -= cost
                    found = closest(word, choices)
            self._closest[word] = found
        return self._closest[word]


def _words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced) if w]


def check_upper_name(what: str, name: str) -> str | None:
    """A message if ``name`` is not UPPER_SNAKE_CASE (``what`` is "state" or "reason").

    >>> check_upper_name("state", "Idle")
    "state 'Idle' is not UPPER_SNAKE_CASE; rename it to 'IDLE'"
    >>> check_upper_name("state", "IDLE") is None
    True
    """
    if UPPER_SNAKE.fullmatch(name):
        return None
    fixed = "_".join(_words(name)).upper()
    hint = f"rename it to '{fixed}'" if UPPER_SNAKE.fullmatch(fixed) else "use A-Z, 0-9 and _"
    return f"{what} '{name}' is not UPPER_SNAKE_CASE; {hint}"


def check_snake_name(what: str, name: str) -> str | None:
    """A message if ``name`` is not snake_case or is a Python keyword.

    >>> check_snake_name("trigger", "taskReceived")
    "trigger 'taskReceived' is not snake_case; rename it to 'task_received'"
    >>> check_snake_name("machine", "class")
    "machine 'class' is a Python keyword; choose another name, such as 'class_machine'"
    """
    if SNAKE.fullmatch(name):
        if keyword.iskeyword(name):
            return (
                f"{what} '{name}' is a Python keyword; choose another name, such as '{name}_{what}'"
            )
        return None
    fixed = "_".join(_words(name)).lower()
    hint = (
        f"rename it to '{fixed}'"
        if SNAKE.fullmatch(fixed) and not keyword.iskeyword(fixed)
        else "use a-z, 0-9 and _, starting with a letter"
    )
    return f"{what} '{name}' is not snake_case; {hint}"


def check_label(what: str, label: str) -> str | None:
    """A message if a reviewer role or stage name is empty, padded or holds a control
    character (Unicode category Cc, or a line or paragraph separator).

    >>> check_label("reviewer role", "tech lead") is None
    True
    >>> check_label("stage", " scout")
    "stage ' scout' has leading or trailing spaces; remove them"
    """
    if not label:
        return f"{what} is empty; name it"
    control = _CONTROL.search(label)
    if control:
        code = ord(control.group())
        return f"{what} {label!r} contains the control character U+{code:04X}; remove it"
    if label != label.strip():
        return f"{what} '{label}' has leading or trailing spaces; remove them"
    return None


def parse_duration(text: str) -> int | str:
    """The length of an ``after`` duration in seconds, or a message saying what is wrong.

    >>> [parse_duration(t) for t in ("90s", "72h", "1h30m")]
    [90, 259200, 5400]
    >>> parse_duration("0s")
    "duration '0s' is zero; a timed transition needs a positive delay such as '30m'"
    """
    match = _DURATION.fullmatch(text) if len(text) <= 32 else None
    if not text or match is None:
        return (
            f"'{text}' is not a duration; write a positive whole number and a unit "
            "d, h, m or s, such as '90s', '30m', '72h', '7d' or '1h30m'"
        )
    parts = [
        (int(part), unit) for part, unit in zip(match.groups(), _UNIT_SECONDS, strict=True) if part
    ]
    if sum(value for value, _ in parts) == 0:
        return f"duration '{text}' is zero; a timed transition needs a positive delay such as '30m'"
    if any(value == 0 for value, _ in parts):
        return f"duration '{text}' has a zero part; drop it"
    seconds = sum(value * unit for value, unit in parts)
    if seconds > MAX_DURATION_SECONDS:
        return f"duration '{text}' is longer than 3650d; statewright times at most ten years"
    return seconds
