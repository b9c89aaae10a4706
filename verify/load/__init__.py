"""Reading specs: YAML text -> :class:`~statewright.verify.model.Spec` plus load findings.

:mod:`statewright.verify.load.yamlread` reads YAML safely into positioned nodes,
:mod:`statewright.verify.load.loader` builds the spec from them, taking each mapping's keys from
:mod:`statewright.verify.load.shape` (which :mod:`statewright.verify.load.schema` also renders
as the JSON Schema), :mod:`statewright.verify.load.values` holds the value checks (names,
durations, suggestions) and :mod:`statewright.verify.load.rules` names and documents the load
rules. Nothing here imports networkx or the analyses.
"""

from __future__ import annotations

from statewright.verify.load.loader import (
    MAX_SPEC_BYTES,
    LoadResult,
    gc_paused,
    load_file,
    load_text,
)

__all__ = ["MAX_SPEC_BYTES", "LoadResult", "gc_paused", "load_file", "load_text"]
