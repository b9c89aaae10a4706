"""statewright's verifier: read a spec into a typed model, analyse it as a graph, report.

Never imports :mod:`generator` or Jinja.
"""

from __future__ import annotations

__version__ = "0.1.0"
