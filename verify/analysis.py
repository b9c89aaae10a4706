"""The analysis of one spec: everything a rule reads, passed to it as its one argument.

:func:`statewright.verify.check.check_spec` makes one :class:`Analysis` per spec and hands it to
every rule (as yamllint hands each rule its context): the spec, its transition graph, the
budget of the check and, searched at first use and then shared, the exploration of its
configurations and the check of its properties. Nothing is remembered anywhere else, so
a rule called on its own gets exactly what a whole check gives it.

>>> from statewright.verify.load import load_text
>>> spec = load_text(
...     "{statewright: 1, machine: lamp, initial: DARK, states: {DARK: {}, LIT: {}},"
...     " variables: {presses: {type: int, min: 0, max: 3, initial: 0}},"
...     " transitions: [{from: DARK, to: LIT, trigger: press, when: presses < 3,"
...     " set: {presses: presses + 1}}, {from: LIT, to: DARK, trigger: press}]}"
... ).spec
>>> analysis = Analysis.of(spec)
>>> analysis.exploration is analysis.exploration, len(analysis.exploration)
(True, 7)
>>> analysis.proof is analysis.exploration, analysis.properties
(True, None)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import networkx as nx

from statewright.verify.explore import DEFAULT_BUDGET, Budget, Exploration, explore
from statewright.verify.explore.properties import Checked, checked
from statewright.verify.explore.timing import Bound, Configurations, States, Timed, run_time
from statewright.verify.graph import build_graph
from statewright.verify.model import Spec

__all__ = ["Analysis"]


@dataclass(frozen=True)
class Analysis:
    """One spec, its graph and the budget of its check; the exploration and the
    properties are computed at first use, once, within ``budget``.

    Not slotted: :func:`functools.cached_property` keeps each computed value in the
    instance's ``__dict__``, which is how a frozen value computes something lazily.
    """

    spec: Spec
    graph: nx.DiGraph
    budget: Budget = DEFAULT_BUDGET

    @classmethod
    def of(cls, spec: Spec, budget: Budget = DEFAULT_BUDGET) -> Analysis:
        """The analysis of ``spec`` with its graph built."""
        return cls(spec, build_graph(spec), budget)

    @cached_property
    def exploration(self) -> Exploration | None:
        """The spec's reachable configurations, as far as the budget allows; None for a
        spec with neither variables nor properties (there is nothing to search)."""
        if not (self.spec.has_data or self.spec.properties):
            return None
        return explore(self.spec, self.budget)

    @cached_property
    def proof(self) -> Exploration | None:
        """The exploration if it is complete, the ground every data rule stands on; None
        when it was cut short (then ``state-space-too-large`` alone speaks) or there is
        none."""
        found = self.exploration
        return found if found is not None and found.complete else None

    @cached_property
    def properties(self) -> Checked | None:
        """The spec's properties checked over the complete exploration, as far as the
        budget's property work allows; None for a spec without properties or without a
        complete exploration."""
        if not self.spec.properties or self.proof is None:
            return None
        return checked(self.proof)

    @cached_property
    def timed(self) -> Timed | None:
        """The graph a run's time is measured on: the complete exploration's
        configurations, or the states of a spec without variables and properties; None
        when the exploration was cut short (the time is not known)."""
        if self.exploration is None:
            return States(self.spec, self.graph)
        return Configurations(self.proof) if self.proof is not None else None

    @cached_property
    def run_time(self) -> Bound | None:
        """The worst case of a run (:func:`~statewright.verify.explore.timing.run_time`),
        None when it is not known."""
        return None if self.timed is None else run_time(self.spec, self.timed)
