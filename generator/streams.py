"""Output streams for the command line that outlive their reader.

``statewright generate --check | head -1`` closes the pipe after one line; Python then
raises :class:`BrokenPipeError` at the next write, and again when it flushes standard
output on exit. :class:`ReaderSafe` turns that into silence: once the reader has gone,
writes are dropped, the command finishes its work (``generate`` still writes every file)
and exits with its own status, with no traceback and no "Exception ignored" line.

>>> import io
>>> class Gone(io.StringIO):
...     def write(self, text: str) -> int:
...         raise BrokenPipeError(32, "Broken pipe")
>>> out = ReaderSafe(Gone())
>>> out.write("lost\\n"), out.gone
(5, True)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TextIO

__all__ = ["ReaderSafe"]


class ReaderSafe:
    """A text stream that drops what it is given once its reader has gone away.

    Only ``write`` and ``flush`` are used by the commands (``print`` and ``.write``).
    When the wrapped stream is a real file descriptor, it is pointed at ``/dev/null``
    when the reader goes, so that the interpreter's own flush at exit is quiet too.
    ``before_write`` runs before each write (to erase a progress line from the terminal).
    """

    def __init__(self, stream: TextIO, before_write: Callable[[], None] | None = None) -> None:
        self.stream = stream
        self.gone = False
        self.before_write = before_write

    def write(self, text: str) -> int:
        if self.before_write is not None:
            self.before_write()
        if not self.gone:
            try:
                self.stream.write(text)
            except BrokenPipeError:
                self._reader_gone()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self._reader_gone()

    def isatty(self) -> bool:
        return not self.gone and self.stream.isatty()

    def _reader_gone(self) -> None:
        self.gone = True
        try:
            descriptor = self.stream.fileno()
        except (AttributeError, OSError, ValueError):  # not a file (a test's StringIO)
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, descriptor)
        finally:
            os.close(devnull)
