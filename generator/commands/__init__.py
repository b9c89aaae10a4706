"""The handlers of ``statewright``'s commands, one module each; :mod:`generator.cli` parses
the arguments and calls them. A handler takes plain values and the output streams and
returns the exit status.
"""

from __future__ import annotations

__all__ = ["EXIT_FINDINGS", "EXIT_OK", "EXIT_USAGE"]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
"""0: nothing failed; 1: a finding is an error (or output is stale); 2: a usage error."""
