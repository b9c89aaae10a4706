"""How much work a check may do on one spec: counted, never timed.

A :class:`Budget` bounds each kind of work the checker of a spec with variables (or
properties) does: the configurations it explores, the edges (steps between them) it
records, the steps of the covering tour it builds and replays, and the work of checking
its properties. Every bound is a count, so the same spec gives the same result on any
machine; when one is used up the check stops that work and reports
``state-space-too-large`` with an :class:`Exceeded`, which names the bound, its limit and
the command-line option that raises it.

>>> print(Exceeded("edges", 1_000).message())
the spec has more than 1,000 edges (steps between configurations), the most this check \
records (--max-edges 1,000); nothing about its data is proven: narrow the variables' \
bounds, split the machine, or raise the limit
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_BUDGET",
    "DEFAULT_MAX_CONFIGURATIONS",
    "DEFAULT_MAX_EDGES",
    "DEFAULT_MAX_PROPERTY_WORK",
    "DEFAULT_MAX_TOUR_STEPS",
    "Budget",
    "Exceeded",
    "Meter",
    "OverBudget",
]

DEFAULT_MAX_CONFIGURATIONS = 10_000_000
"""How many configurations a check explores at most (``--max-configurations``)."""

DEFAULT_MAX_EDGES = 50_000_000
"""How many edges (steps between configurations) it records at most (``--max-edges``):
about 14 bytes each, so some 700 MB at the limit."""

DEFAULT_MAX_TOUR_STEPS = 1_000_000
"""How many steps the covering tour takes at most, searching and replaying
(``--max-tour-steps``): each replayed trigger runs the semantics, some 50 µs."""

DEFAULT_MAX_PROPERTY_WORK = 200_000_000
"""How many configurations and edges the properties visit at most, together
(``--max-property-work``): an ``always`` visits every configuration once, a
``precedence`` or a ``leads_to`` every configuration and edge at most twice (some 300 ns
a visit: about a minute at the limit)."""


@dataclass(frozen=True, slots=True)
class Budget:
    """The bounds of one check; each is a positive count."""

    configurations: int = DEFAULT_MAX_CONFIGURATIONS
    edges: int = DEFAULT_MAX_EDGES
    tour_steps: int = DEFAULT_MAX_TOUR_STEPS
    property_work: int = DEFAULT_MAX_PROPERTY_WORK


DEFAULT_BUDGET = Budget()

_PROVEN = "nothing about its data is proven"
_WHAT = {
    "configurations": ("reachable configurations", "explores", "--max-configurations", _PROVEN),
    "edges": ("edges (steps between configurations)", "records", "--max-edges", _PROVEN),
    "tour steps": (
        "steps in its covering tour",
        "takes",
        "--max-tour-steps",
        "no covering paths are given",
    ),
    "property work": (
        "configurations and edges to visit for its properties",
        "visits",
        "--max-property-work",
        "this property and the ones after it are not proven",
    ),
}


@dataclass(frozen=True, slots=True)
class Exceeded:
    """The bound a check ran out of: ``what`` is ``configurations``, ``edges``, ``tour
    steps`` or ``property work``."""

    what: str
    limit: int

    @property
    def option(self) -> str:
        """The command-line option that raises the bound."""
        return _WHAT[self.what][2]

    def message(self) -> str:
        """The ``state-space-too-large`` message: what, the limit, how to raise it."""
        noun, verb, option, unproven = _WHAT[self.what]
        return (
            f"the spec has more than {self.limit:,} {noun}, the most this check {verb} "
            f"({option} {self.limit:,}); {unproven}: narrow the variables' bounds, split "
            "the machine, or raise the limit"
        )


class OverBudget(Exception):
    """Raised by a :class:`Meter` whose bound is used up; caught where the work began."""

    def __init__(self, exceeded: Exceeded) -> None:
        super().__init__(exceeded.message())
        self.exceeded = exceeded


class Meter:
    """A running count of one kind of work against its limit.

    >>> meter = Meter("tour steps", 10)
    >>> meter.spend(8); meter.spend(3)
    Traceback (most recent call last):
    ...
    statewright.verify.explore.budget.OverBudget: the spec has more than 10 steps in its ...
    """

    __slots__ = ("limit", "spent", "what")

    def __init__(self, what: str, limit: int) -> None:
        self.what = what
        self.limit = limit
        self.spent = 0

    def spend(self, units: int) -> None:
        """Count ``units`` more; :class:`OverBudget` once past the limit."""
        self.spent += units
        if self.spent > self.limit:
            raise OverBudget(Exceeded(self.what, self.limit))
