"""Reading specs: YAML text -> :class:`~verify.model.Spec` plus load findings.

:mod:`verify.load.yamlread` reads YAML safely into positioned nodes,
:mod:`verify.load.loader` builds the spec from them and :mod:`verify.load.rules` holds the
load rules and the value checks they share. Nothing here imports networkx or the analyses.
"""

from __future__ import annotations

from verify.load.loader import MAX_SPEC_BYTES, LoadResult, gc_paused, load_file, load_text

__all__ = ["MAX_SPEC_BYTES", "LoadResult", "gc_paused", "load_file", "load_text"]
