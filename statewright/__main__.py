"""``python -m statewright``: the command line, as the ``statewright`` script runs it."""

from __future__ import annotations

import sys

from statewright.generator.cli import main

if __name__ == "__main__":
    sys.exit(main())
