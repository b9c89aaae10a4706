"""The one executable meaning of a spec (see :mod:`statewright.verify.semantics.machine`): which
transition fires, how ``always`` chains, timers, guards and effects behave, and what
expressions mean (:mod:`statewright.verify.semantics.data`). The step rules themselves are
the step kernel, :mod:`statewright.verify.semantics.kernel`, which the generated runtime
runs too.
"""

from __future__ import annotations

from statewright.verify.semantics.data import Data, OutOfRange, Values, evaluate, show_value
from statewright.verify.semantics.machine import AlwaysCycle, Entry, Outcome, Run, Semantics

__all__ = [
    "AlwaysCycle",
    "Data",
    "Entry",
    "OutOfRange",
    "Outcome",
    "Run",
    "Semantics",
    "Values",
    "evaluate",
    "show_value",
]
