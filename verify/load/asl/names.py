"""Names and delays for the ASL mapping: ASL's free-text names made into statewright's.

ASL state names are free text ("Notify Approver", "Approved?"), error names are dotted
CamelCase ("Lambda.ServiceException"); statewright wants UPPER_SNAKE_CASE states and
reasons and snake_case machines and triggers. The words of a name are kept (CamelCase is
split, accents are dropped, anything else separates words), and a :class:`Namer` makes
distinct ASL names distinct statewright names.

>>> upper_name("Notify Approver"), upper_name("Approved?"), upper_name("3 retries")
('NOTIFY_APPROVER', 'APPROVED', 'S_3_RETRIES')
>>> snake_name("Lambda.ServiceException"), snake_name("HTTPError"), snake_name("class", "machine")
('lambda_service_exception', 'http_error', 'class_machine')
>>> duration_text(90), duration_text(86_400), duration_text(3_700)
('1m30s', '1d', '1h1m40s')
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Hashable

__all__ = ["Namer", "duration_text", "snake_name", "upper_name", "words"]

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_SEPARATORS = re.compile(r"[^A-Za-z0-9]+")
_UNITS = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))


def words(text: str) -> list[str]:
    """The words of a free-text name: CamelCase split, accents dropped, ASCII only."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return [w for w in _SEPARATORS.split(_CAMEL.sub(" ", plain)) if w]


def upper_name(text: str, fallback: str = "STATE") -> str:
    """``text`` as an UPPER_SNAKE_CASE name (a state or a reason)."""
    name = "_".join(words(text)).upper() or fallback
    return f"S_{name}" if name[0].isdigit() else name


def snake_name(text: str, what: str = "name") -> str:
    """``text`` as a snake_case name that is not a Python keyword (a trigger, a machine);
    ``what`` it is names it when ``text`` has no words, and follows a keyword."""
    name = "_".join(words(text)).lower() or what
    if name[0].isdigit():
        name = f"n_{name}"
    return f"{name}_{what}" if keyword.iskeyword(name) else name


def duration_text(seconds: int) -> str:
    """A positive number of seconds as a spec duration, largest units first."""
    parts = []
    for unit, size in _UNITS:
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


class Namer:
    """Gives each key one name, and different keys different names.

    The name is the wanted one if it is free, else the wanted one with ``_2``, ``_3``, ...
    Names given in ``reserved`` are never handed out to a key.

    >>> namer = Namer(reserved={"always"})
    >>> namer.name("a", "x"), namer.name("b", "x"), namer.name("a", "y"), namer.name("c", "always")
    ('x', 'x_2', 'x', 'always_2')
    """

    def __init__(self, reserved: set[str] | frozenset[str] = frozenset()) -> None:
        self._names: dict[Hashable, str] = {}
        self._taken: set[str] = set(reserved)

    def name(self, key: Hashable, wanted: str) -> str:
        known = self._names.get(key)
        if known is not None:
            return known
        name, number = wanted, 1
        while name in self._taken:
            number += 1
            name = f"{wanted}_{number}"
        self._taken.add(name)
        self._names[key] = name
        return name
