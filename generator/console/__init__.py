"""The reviewers' console, ``statewright serve``: a small web application over a store.

It shows what waits for a reviewer (the inbox of pending approvals), every run with its
timeline and diagram, failures with their recovery procedure, and lets a reviewer decide
or roll back, always through the machine's generated runtime (:mod:`.actions`), never by
writing the store itself. Who asks comes from the deployment (:mod:`.identity`). The parts:

- :mod:`.machines`: each spec's runtime class, rendered in memory, and its diagram;
- :mod:`.reading`: the lists and the runs as the pages show them;
- :mod:`.actions`: decisions and rollback;
- :mod:`.identity`: who is asking, and CSRF tokens;
- :mod:`.app`: the Starlette application and its routes, with Jinja templates and htmx
  (vendored under ``static/``, no CDN).

It needs the optional extra ``statewright[console]`` (Starlette and uvicorn):
:func:`missing_extra` says so before anything of it is imported.
"""

from __future__ import annotations

import importlib.util

__all__ = ["EXTRA", "missing_extra"]

EXTRA = "statewright[console]"
"""What to install for the console."""


def missing_extra() -> str | None:
    """One line naming the extra to install when Starlette or uvicorn is missing, else None."""
    missing = [n for n in ("starlette", "uvicorn") if importlib.util.find_spec(n) is None]
    if not missing:
        return None
    return f"the console needs {', '.join(missing)}: pip install '{EXTRA}'"
