"""Progress of long work, for a person who is watching: what is being worked on, and which
phase it is in.

Checking a spec of 100,000 states takes half a minute. ``verify`` does no I/O of its own,
so it only *reports* progress here: :func:`working_on` names the file at hand and
:func:`phase` says what is happening to it ("reading YAML, line 400,000 of 1,100,001",
"rule trap", "finding covering paths"). Whoever wants to show it installs a listener with
:func:`reporting` (the command line does, when standard error is a terminal); with none
installed, every call here returns at once.

>>> seen = []
>>> with reporting(lambda subject, text: seen.append(f"{subject}: {text}")):
...     with working_on("specs/big.yaml"):
...         phase("reading YAML")
>>> phase("nobody listens now")
>>> seen
['specs/big.yaml: reading YAML']
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import TypeVar

__all__ = ["Listener", "listening", "phase", "reporting", "working_on"]

Listener = Callable[[str, str], None]
"""Called with the subject (a file) and the phase, each time the phase changes."""

_T = TypeVar("_T")
_LISTENER: ContextVar[Listener | None] = ContextVar("statewright_progress", default=None)
_SUBJECT: ContextVar[str] = ContextVar("statewright_progress_subject", default="")


def reporting(listener: Listener) -> AbstractContextManager[None]:
    """Send the progress reported inside the block to ``listener``."""
    return _holding(_LISTENER, listener)


def working_on(subject: str) -> AbstractContextManager[None]:
    """Name what the phases reported inside the block are about."""
    return _holding(_SUBJECT, subject)


@contextmanager
def _holding(variable: ContextVar[_T], value: _T) -> Iterator[None]:
    token = variable.set(value)
    try:
        yield
    finally:
        variable.reset(token)


def listening() -> bool:
    """Whether anyone listens: work that costs something to report (counting as it goes)
    checks this first."""
    return _LISTENER.get() is not None


def phase(text: str) -> None:
    """Report that the work at hand has reached ``text``."""
    listener = _LISTENER.get()
    if listener is not None:
        listener(_SUBJECT.get(), text)
