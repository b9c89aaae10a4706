"""The data a history's checks read: reference paths and Choice rules, in JSONPath mode.

A Choice state's rules are evaluated on its input as Step Functions does (``InputPath``
first), so that a history that took another branch than its input selects is reported.
Only what can be judged exactly is: reference paths of names and indexes (``$.order.
lines[0].sku``, ``$['a b']``), every comparison operator with its ``...Path`` form, the
``Is...`` tests, ``And``, ``Or`` and ``Not``. Anything else (a JSONata ``Condition``, a
``$$`` context path, filters and wildcards) raises :class:`NotJudged`, and the caller
accepts any of the state's targets.

>>> rules = [{"Variable": "$.total", "NumericGreaterThan": 100, "Next": "Review"}]
>>> choose(rules, "Ship", {"total": 250}), choose(rules, "Ship", {"total": 20})
('Review', 'Ship')
>>> choose(rules, None, {"total": "lots"})
Traceback (most recent call last):
...
statewright.verify.conformance.stepfunctions.choice.NoChoice: States.NoChoiceMatched
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

__all__ = ["MISSING", "NoChoice", "NotJudged", "choose", "resolve"]


class NotJudged(Exception):
    """What the checker cannot evaluate exactly; the message says what."""


class NoChoice(Exception):
    """The Choice state fails: the error Step Functions raises (``States.NoChoiceMatched``,
    or ``States.Runtime`` for a path that is not in the input)."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()
"""What a reference path gives where the input has nothing."""

_STEP = re.compile(r"""\.([^.\[\]'"]+)|\[(\d+)\]|\['([^']*)'\]|\["([^"]*)"\]""")


def resolve(path: str, data: object) -> object:
    """The value ``path`` (a reference path such as ``$.a.b[0]``) selects in ``data``, or
    :data:`MISSING`."""
    if path.startswith("$$"):
        raise NotJudged(f"a context path ({path!r}), which the history does not record")
    if not path.startswith("$"):
        raise NotJudged(f"{path!r}, which is not a reference path")
    position, value = 1, data
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise NotJudged(f"a path with more than names and indexes ({path!r})")
        key, index = match[1] or match[3] or match[4], match[2]
        if index is not None:
            ok = isinstance(value, list) and int(index) < len(value)
            value = value[int(index)] if ok and isinstance(value, list) else MISSING
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            value = MISSING
        position = match.end()
    return value


def choose(rules: Sequence[object], default: str | None, data: object) -> str:
    """The ``Next`` of the first rule of ``rules`` that matches ``data``, else
    ``default``; :class:`NoChoice` when the state fails."""
    for rule in rules:
        if not isinstance(rule, Mapping):
            raise NotJudged("a Choice rule that is not an object")
        if _holds(rule, data):
            target = rule.get("Next")
            if not isinstance(target, str):
                raise NotJudged("a Choice rule with no Next")
            return target
    if default is None:
        raise NoChoice("States.NoChoiceMatched")
    return default


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _time(value: object) -> datetime | None:
    """A timestamp as Step Functions reads one (RFC 3339 with a zone), else None."""
    if not isinstance(value, str) or "T" not in value.upper():
        return None
    try:
        stamp = datetime.fromisoformat(re.sub(r"[zZ]$", "+00:00", value))
    except ValueError:
        return None
    return stamp if stamp.tzinfo is not None else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _numeric(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


_Compare = Callable[[object, object], bool]


def _ordered(key: Callable[[object], Any], test: Callable[[int], bool]) -> _Compare:
    """A comparison of two values of one kind (``key`` gives None for any other kind):
    false across kinds, as Step Functions compares."""

    def compare(left: object, right: object) -> bool:
        a, b = key(left), key(right)
        return a is not None and b is not None and test((a > b) - (a < b))

    return compare


def _matches(left: object, right: object) -> bool:
    """``StringMatches``: ``*`` matches any text, ``\\*`` a star, ``\\\\`` a backslash."""
    if not (isinstance(left, str) and isinstance(right, str)):
        return False
    parts = re.split(r"(\\\\|\\\*|\*)", right)
    pattern = "".join(
        ".*" if p == "*" else re.escape(p[1:] if p in ("\\*", "\\\\") else p) for p in parts
    )
    return re.fullmatch(pattern, left, re.DOTALL) is not None


_TESTS: dict[str, Callable[[int], bool]] = {
    "Equals": lambda c: c == 0,
    "LessThan": lambda c: c < 0,
    "GreaterThan": lambda c: c > 0,
    "LessThanEquals": lambda c: c <= 0,
    "GreaterThanEquals": lambda c: c >= 0,
}
_COMPARISONS: dict[str, _Compare] = {
    "BooleanEquals": lambda a, b: isinstance(a, bool) and isinstance(b, bool) and a == b,
    "StringMatches": _matches,
    **{f"String{name}": _ordered(_text, test) for name, test in _TESTS.items()},
    **{f"Numeric{name}": _ordered(_numeric, test) for name, test in _TESTS.items()},
    **{f"Timestamp{name}": _ordered(_time, test) for name, test in _TESTS.items()},
}
_TYPE_TESTS: dict[str, Callable[[object], bool]] = {
    "IsNull": lambda v: v is None,
    "IsNumeric": _number,
    "IsString": lambda v: isinstance(v, str),
    "IsBoolean": lambda v: isinstance(v, bool),
    "IsTimestamp": lambda v: _time(v) is not None,
}


def _holds(rule: Mapping[str, object], data: object) -> bool:
    """Whether ``rule`` (a Choice rule or one of its nested conditions) holds on ``data``."""
    if "Condition" in rule:
        raise NotJudged("a JSONata Condition")
    for key, combine in (("And", all), ("Or", any)):
        if key in rule:
            parts = rule[key]
            if not isinstance(parts, list) or not all(isinstance(p, Mapping) for p in parts):
                raise NotJudged(f"an {key} that is not a list of conditions")
            return combine(_holds(p, data) for p in parts)
    if "Not" in rule:
        inner = rule["Not"]
        if not isinstance(inner, Mapping):
            raise NotJudged("a Not that is not a condition")
        return not _holds(inner, data)
    variable = rule.get("Variable")
    if not isinstance(variable, str):
        raise NotJudged("a Choice condition without Variable")
    value = resolve(variable, data)
    if "IsPresent" in rule:
        return (value is not MISSING) == (rule["IsPresent"] is True)
    for name, test in _TYPE_TESTS.items():
        if name in rule:
            return value is not MISSING and test(value) == (rule[name] is True)
    if value is MISSING:
        raise NoChoice("States.Runtime")
    for name, compare in _COMPARISONS.items():
        if name in rule:
            return compare(value, rule[name])
        if f"{name}Path" in rule:
            path = rule[f"{name}Path"]
            other = resolve(path, data) if isinstance(path, str) else MISSING
            if other is MISSING:
                raise NoChoice("States.Runtime")
            return compare(value, other)
    raise NotJudged("a Choice condition with no operator the checker knows")
