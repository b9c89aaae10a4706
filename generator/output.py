"""What ``statewright generate`` may touch in its output folder, and nothing more.

``generate`` owns only what it wrote: files that carry its mark (:data:`GENERATED_MARK`,
in their first lines), in folders it made (a machine folder, or ``_statewright/``, whose
``__init__.py`` carries the mark). From that follow the rules, checked before anything is
written (:func:`plan`):

- a file that is to be written but already exists without the mark is *in the way*: an
  error naming it, and nothing at all is written;
- the output folder's own ``__init__.py`` is the one exception: when the folder is
  already a package of the user's (``--out src/app``), their ``__init__.py`` is kept
  as it is, since all ``generate`` needs of it is that it exists;
- a file of ours that no spec produces any more is *stale*; it is removed only when the
  run generated the whole spec folder (``prune``: no path, or folders only), so that
  generating one spec never removes another machine's output; each removal is reported;
- a file without the mark is never removed, wherever it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from generator import GENERATED_MARK

__all__ = ["PACKAGE_INIT", "Plan", "carries_mark", "plan", "read_text", "remove_empty"]

PACKAGE_INIT = "__init__.py"
"""The output folder's own package marker, relative to the output folder."""

_CACHES = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
_HEAD = 600
"""How far into a file the mark is looked for (an SVG has its XML prologue first)."""


@dataclass(slots=True)
class Plan:
    """What a run of ``generate`` would do to ``out``.

    ``write`` maps each file to write (new, or ours and different) to its text;
    ``same`` counts files already as they should be; ``stale`` lists files of ours no
    spec produces (removed only when pruning); ``in_the_way`` lists files that are not
    ours where a file of ours must go; ``kept`` the user's own ``__init__.py``.
    """

    out: Path
    write: dict[Path, str] = field(default_factory=dict)
    same: int = 0
    stale: list[Path] = field(default_factory=list)
    in_the_way: list[Path] = field(default_factory=list)
    kept: Path | None = None


def carries_mark(path: Path) -> bool:
    """Whether the file at ``path`` says, in its first lines, that ``generate`` wrote it."""
    try:
        with path.open("rb") as file:
            head = file.read(_HEAD)
    except OSError:
        return False
    return GENERATED_MARK.encode() in head


def read_text(path: Path) -> str | None:
    """The UTF-8 text at ``path``; None if there is no file there."""
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, IsADirectoryError):
        return "<not UTF-8 text>\n"


def plan(out: Path, files: Mapping[str, str], *, prune: bool) -> Plan:
    """What writing ``files`` (relative path -> text) into ``out`` would do."""
    result = Plan(out)
    for name, text in files.items():
        path = out / name
        old = read_text(path)
        if old is None and not path.is_dir():
            result.write[path] = text
        elif old == text:
            result.same += 1
        elif name == PACKAGE_INIT and not carries_mark(path):
            result.kept = path
        elif path.is_dir() or not carries_mark(path):
            result.in_the_way.append(path)
        else:
            result.write[path] = text
    if prune:
        wanted = {out / name for name in files}
        result.stale = [path for path in _ours_under(out) if path not in wanted]
    return result


def _ours_under(out: Path) -> Iterator[Path]:
    """Every file of ours in the folders of ours directly under ``out``."""
    if not out.is_dir():
        return
    for folder in sorted(out.iterdir()):
        if folder.is_dir() and carries_mark(folder / PACKAGE_INIT):
            for path in sorted(folder.rglob("*")):
                inside = path.relative_to(out).parts
                if path.is_file() and not _CACHES.intersection(inside) and carries_mark(path):
                    yield path


def remove_empty(folder: Path) -> bool:
    """Remove ``folder`` if nothing but caches is left in it; whether it was removed."""
    inside = sorted(folder.rglob("*"), reverse=True)
    if any(p.is_file() and not _CACHES.intersection(p.parts) for p in inside):
        return False
    for path in inside:
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
    folder.rmdir()
    return True
