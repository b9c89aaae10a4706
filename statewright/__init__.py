"""statewright: model-checked state-machine specifications for agent pipelines.

The one import name of the distribution. The layout's two folders are its subpackages:
:mod:`statewright.verify` reads a spec and proves it, :mod:`statewright.generator` writes
runtimes, tests and diagrams and holds the runtime support they run on. The public API:

- **checking a spec from Python**: :func:`check_file`, :func:`check_text` and
  :func:`check_spec` return a :class:`CheckResult` (the spec, its :class:`Finding` list,
  the covering paths and the machine's size); :func:`load_file` and :func:`load_text` read
  a spec without checking it; :class:`Budget` bounds the exploration;
- **the conformance harness**: :mod:`statewright.verify.conformance` property-tests any
  implementation of a machine against its spec (needs ``statewright[testing]``);
- **stores and workers**: :mod:`statewright.generator.runtime`, the support every generated
  runtime is copied from (``MemoryStore``, ``SqlStore``, ``Worker``, ``Runner``);
- **LangGraph**: :mod:`statewright.generator.integrations.langgraph` builds a graph from a
  machine and its handlers (needs ``statewright[langgraph]``).

The names below load on first use, so ``import statewright`` costs nothing a worker does
not need (checking pulls in networkx; a worker never does).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from statewright.verify.check import CheckResult, Stats, check_file, check_spec, check_text
    from statewright.verify.explore.budget import Budget
    from statewright.verify.findings import Finding, Severity
    from statewright.verify.load import LoadResult, load_file, load_text
    from statewright.verify.model import Spec

_PUBLIC = {
    "CheckResult": "statewright.verify.check",
    "Stats": "statewright.verify.check",
    "check_file": "statewright.verify.check",
    "check_spec": "statewright.verify.check",
    "check_text": "statewright.verify.check",
    "Budget": "statewright.verify.explore.budget",
    "Finding": "statewright.verify.findings",
    "Severity": "statewright.verify.findings",
    "LoadResult": "statewright.verify.load",
    "load_file": "statewright.verify.load",
    "load_text": "statewright.verify.load",
    "Spec": "statewright.verify.model",
}

__all__ = [
    "Budget",
    "CheckResult",
    "Finding",
    "LoadResult",
    "Severity",
    "Spec",
    "Stats",
    "__version__",
    "check_file",
    "check_spec",
    "check_text",
    "load_file",
    "load_text",
]


def __getattr__(name: str) -> Any:
    """A public name, imported from its module the first time it is asked for."""
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'statewright' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_PUBLIC})
