"""Progress on a terminal: one line on standard error, rewritten in place, then erased.

The command line listens to :mod:`statewright.verify.progress` through a :class:`TerminalProgress`
when standard error is a terminal, and not at all when it is not (a pipe, a file, CI), so
logs never hold progress lines. Work that ends within :data:`DELAY` seconds shows nothing;
after that the line says which file is at which phase and for how long::

    statewright: specs/big.yaml: reading YAML, line 400,000 of 1,100,001 (12s)

Anything written to standard output meanwhile erases the line first
(:meth:`TerminalProgress.clear`), so a report never starts in the middle of it.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["DELAY", "TerminalProgress"]

DELAY = 0.5
"""Seconds of work before progress is shown at all."""

INTERVAL = 0.1
"""The least time between two updates of the same phase (counts update fast)."""

_ERASE = "\r\x1b[K"


class TerminalProgress:
    """A :data:`statewright.verify.progress.Listener` that draws on ``stream``, a terminal."""

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        delay: float = DELAY,
        columns: Callable[[], int] = lambda: shutil.get_terminal_size().columns,
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.delay = delay
        self.columns = columns
        self.started = clock()
        self.shown = False
        self._last = (-INTERVAL, "")  # when the last line was drawn, and its phase

    def __call__(self, subject: str, text: str) -> None:
        now = self.clock()
        elapsed = now - self.started
        if elapsed < self.delay:
            return
        kind = text.split(",", 1)[0]  # "reading YAML, line 3 of 9": one phase, new counts
        if kind == self._last[1] and now - self._last[0] < INTERVAL:
            return
        self._last = (now, kind)
        where = f"{subject}: " if subject else ""
        line = f"statewright: {where}{text} ({elapsed:.0f}s)"
        width = max(self.columns() - 1, 20)
        if len(line) > width:
            line = line[: width - 1] + "\u2026"
        self.stream.write(_ERASE + line)
        self.stream.flush()
        self.shown = True

    def clear(self) -> None:
        """Erase the line, if one is shown (before other output, and at the end)."""
        if self.shown:
            self.stream.write(_ERASE)
            self.stream.flush()
            self.shown = False
