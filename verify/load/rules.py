"""The load rules: problems that stop a spec from being read into the model.

The loader (:mod:`verify.load`, with :mod:`verify.load.yamlread` for the YAML itself)
raises these; this module names them, documents them in the registry's format and holds
the small value checks they share: name patterns, durations and "did you mean"
suggestions.

Decisions the design left open, fixed here:

- **Names.** States and reasons are UPPER_SNAKE_CASE, the machine and triggers
  snake_case; neither may be a Python keyword. Reviewer roles and stage names are
  free text for people, but must be non-empty, hold no control character (Unicode
  category Cc, which includes tabs and line breaks, nor U+2028/U+2029) and have no
  leading or trailing whitespace.
- **Durations.** ``after`` is one or more ``<integer><unit>`` parts with units ``d``,
  ``h``, ``m``, ``s`` from largest to smallest, each at most once: ``90s``, ``30m``,
  ``72h``, ``7d`` and also ``1h30m``. Every part is positive and the total is at most
  3650 days; ``0s``, ``1h0m``, ``30m1h`` and ``1.5h`` are bad.
- **Shapes.** A transition is ``human`` or timed (``after``), never both; an ``always``
  transition is neither. A ``from`` list is not empty. These are ``schema`` findings.
- **Tags.** An unsupported YAML tag, or a value its standard tag cannot read
  (``!!int abc``), is ``yaml-syntax``: it is a problem with the YAML, not the format.
- **Data.** A problem in a variable's declaration is ``bad-variable`` (its name
  included: variable names and enum values are snake_case, not a word of the expression
  language, and no variable is also an enum value); a problem in an expression, in a
  ``set`` key or in a property's ``requires`` trigger is ``bad-expression``, at the
  character it is about. A ``when`` on a timed transition, or an expression written as
  a list or a mapping, is ``schema``.
"""

from __future__ import annotations

import difflib
import keyword
import re
from collections.abc import Collection, Iterable

from verify.registry import register_load_rule

__all__ = [
    "BAD_DURATION",
    "BAD_EXPRESSION",
    "BAD_VARIABLE",
    "DUPLICATE_KEY",
    "INVALID_NAME",
    "LOAD_RULES",
    "MAX_DURATION_SECONDS",
    "SCHEMA",
    "SUGGESTION_WORK",
    "UNKNOWN_REASON",
    "UNKNOWN_STATE",
    "YAML_SYNTAX",
    "Suggestions",
    "check_label",
    "check_snake_name",
    "check_upper_name",
    "clip",
    "closest",
    "parse_duration",
    "suggest",
]

YAML_SYNTAX = "yaml-syntax"
DUPLICATE_KEY = "duplicate-key"
SCHEMA = "schema"
INVALID_NAME = "invalid-name"
UNKNOWN_STATE = "unknown-state"
BAD_DURATION = "bad-duration"
UNKNOWN_REASON = "unknown-reason"
BAD_VARIABLE = "bad-variable"
BAD_EXPRESSION = "bad-expression"

LOAD_RULES = (
    YAML_SYNTAX,
    DUPLICATE_KEY,
    SCHEMA,
    INVALID_NAME,
    UNKNOWN_STATE,
    BAD_DURATION,
    UNKNOWN_REASON,
    BAD_VARIABLE,
    BAD_EXPRESSION,
)

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


register_load_rule(
    YAML_SYNTAX,
    """
    The file must be readable as one YAML document whose top level is a mapping.

    This covers text that is not UTF-8 or holds control characters (binary files),
    unparseable YAML, nesting deeper than 200 levels, aliases that expand the document
    far beyond its size (alias bombs), unsupported tags such as ``!!python/object``,
    a file that cannot be read, and a top level that is not a mapping.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states: {CLOSED: {final: true}
        transitions: []

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states: {CLOSED: {final: true}}
        transitions: []
    """,
)

register_load_rule(
    DUPLICATE_KEY,
    """
    No mapping may repeat a key: a second state, reason or transition key of the same name.

    YAML parsers usually keep the last value silently; statewright reports the second
    key instead, at any level.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {kind: running}
          CLOSED: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: push}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: push}
    """,
)

register_load_rule(
    SCHEMA,
    """
    The spec must have the format's shape: known keys, the right types, every required key.

    Required are ``statewright`` (the format version, 1), ``machine``, ``initial`` and a
    non-empty ``states``; a transition needs ``from``, ``to`` and ``trigger``. A
    transition is ``human`` or timed (``after``), not both, and an ``always`` transition
    is neither.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {form: CLOSED, to: OPEN, trigger: push}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: push}
    """,
)

register_load_rule(
    INVALID_NAME,
    """
    Names must follow the format's conventions, so that generated code can use them.

    States and reasons are UPPER_SNAKE_CASE, the machine and triggers snake_case, and
    neither is a Python keyword; reviewer roles and stage names are non-empty printable
    text without leading or trailing spaces.

    Fails:

        statewright: 1
        machine: door
        initial: Closed
        states:
          Closed: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: Closed, to: OPEN, trigger: push}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: push}
    """,
)

register_load_rule(
    UNKNOWN_STATE,
    """
    Every state named by ``initial``, ``from`` or ``to`` must be declared under ``states``.

    A glob in ``from`` must match at least one declared state other than the
    transition's target. When several places name a state that is not declared and a
    declared state that nothing names is close to it, the declaration is the likely typo:
    it gets a finding of its own, and the uses follow from it.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPENED, trigger: push}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: push}
    """,
)

register_load_rule(
    BAD_DURATION,
    """
    An ``after`` delay must be a positive duration such as ``90s``, ``30m``, ``72h``, ``7d``.

    Parts may be combined from the largest unit to the smallest (``1h30m``); zero, a
    number without a unit, fractions and delays over 3650 days are refused.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: timer, after: 0s}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: timer, after: 30s}
    """,
)

register_load_rule(
    UNKNOWN_REASON,
    """
    Every ``reason`` on a transition must be declared under ``reasons``.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          JAMMED: {kind: failed, final: true}
        transitions:
          - {from: CLOSED, to: JAMMED, trigger: push, reason: STUCK}
        reasons:
          JAMMED_HINGE: {recovery: [Oil the hinge]}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          JAMMED: {kind: failed, final: true}
        transitions:
          - {from: CLOSED, to: JAMMED, trigger: push, reason: STUCK}
        reasons:
          STUCK: {recovery: [Oil the hinge]}
    """,
)

register_load_rule(
    BAD_VARIABLE,
    """
    A variable must be declared with its type, bounds and an initial value within them.

    ``type`` is ``int`` (with whole-number ``min`` and ``max``, at most 64 bits), ``bool``
    or ``enum`` (with ``values``, distinct snake_case names); ``initial`` is required and
    within bounds. Names are snake_case and not words of the expression language (``and``,
    ``or``, ``not``, ``in``, ``true``, ``false``, ``state``), and no variable is also a
    value of an enum.

    Fails:

        statewright: 1
        machine: retry
        initial: RUNNING
        variables:
          attempts: {type: int, min: 0, max: 3, initial: 5}
        states:
          RUNNING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: RUNNING, to: DONE, trigger: finish}

    Passes:

        statewright: 1
        machine: retry
        initial: RUNNING
        variables:
          attempts: {type: int, min: 0, max: 3, initial: 0}
        states:
          RUNNING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: RUNNING, to: DONE, trigger: finish}
    """,
)

register_load_rule(
    BAD_EXPRESSION,
    """
    An expression must parse and type-check: known names, and operators on their types.

    Expressions are ``when`` guards, the values of ``set`` and ``always`` properties:
    whole numbers, ``true``/``false``, enum values, variables, ``+ -`` on ints,
    comparisons, ``and or not``, parentheses and ``x in [a, b]``. A guard and an ``always``
    are true or false; a ``set`` value has its variable's type. The finding points at the
    character at fault inside the expression.

    Fails:

        statewright: 1
        machine: retry
        initial: RUNNING
        variables:
          attempts: {type: int, min: 0, max: 3, initial: 0}
        states:
          RUNNING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - from: RUNNING
            to: RUNNING
            trigger: retry
            when: attempts < 3
            set: {attempts: attemps + 1}
          - {from: RUNNING, to: DONE, trigger: finish}

    Passes:

        statewright: 1
        machine: retry
        initial: RUNNING
        variables:
          attempts: {type: int, min: 0, max: 3, initial: 0}
        states:
          RUNNING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - from: RUNNING
            to: RUNNING
            trigger: retry
            when: attempts < 3
            set: {attempts: attempts + 1}
          - {from: RUNNING, to: DONE, trigger: finish}
    """,
)
