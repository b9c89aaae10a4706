"""statewright's generators: Jinja templates from a checked spec to runtime modules,
tests and diagrams. Imports :mod:`verify`; never imported by it."""

from __future__ import annotations

__version__ = "0.1.0"
