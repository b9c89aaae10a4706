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

Every command that writes files goes through :func:`write_tree`, all or nothing: it
checks every path first (:func:`path_problems`: inside the output folder, no symbolic
link on the way, within the file system's name limits), stages the files beside their
targets and renames them into place, undoing what it did on a failure. :func:`collect`
refuses two outputs of one file, naming both sources.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from statewright.generator import GENERATED_MARK
from statewright.verify.load.values import clip
from statewright.verify.printable import printable_path

__all__ = [
    "PACKAGE_INIT",
    "Output",
    "Plan",
    "Refused",
    "carries_mark",
    "collect",
    "path_problems",
    "plan",
    "read_text",
    "remove_empty",
    "write_tree",
]

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


# -- the one writer ----------------------------------------------------------------------

_NAME_MAX = 255
"""Bytes per path component when the file system does not say (Linux, macOS, Windows)."""
_PATH_MAX = 4096
"""Bytes per path when the file system does not say (Linux)."""
_STAGING = ".statewright-staging-"
_SLACK = 64
"""Room the staging folder's name takes in a path while a file waits there."""


class Refused(Exception):
    """Nothing was written: ``problems`` says why, one line each."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


@dataclass(frozen=True, slots=True)
class Output:
    """One file a command means to write: its ``name`` relative to the output folder,
    its ``text``, and the ``source`` it comes from (named when two outputs collide)."""

    name: str
    text: str
    source: str


def collect(outputs: Iterable[Output]) -> dict[str, str]:
    """``{name: text}`` of ``outputs``; :class:`Refused`, naming both sources, when two
    go to the same file (also where a file system that ignores case, or tells
    apart no Unicode normalisation forms, would take them for one)."""
    files: dict[str, str] = {}
    seen: dict[str, Output] = {}
    problems: list[str] = []
    for output in outputs:
        key = unicodedata.normalize("NFC", output.name).casefold()
        first = seen.setdefault(key, output)
        if first is not output:
            problems.append(
                f"{printable_path(output.source)} and {printable_path(first.source)} would "
                f"both write {printable_path(output.name)}; rename one of them"
            )
            continue
        files[output.name] = output.text
    if problems:
        raise Refused(problems)
    return files


def _limit(folder: Path, name: str, default: int) -> int:
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        return os.pathconf(folder, name)
    except (OSError, ValueError):
        return default


def path_problems(root: Path, names: Iterable[str]) -> list[str]:
    """Why writing (or removing) ``names`` under ``root`` would not stay inside it, or
    would fail half way: a name that leaves ``root``, a component longer than the file
    system allows, a symbolic link anywhere between ``root`` and the file, a file where
    a folder must go, a folder where a file must go, a file that is also a folder."""
    name_max = _limit(root, "PC_NAME_MAX", _NAME_MAX)
    path_max = _limit(root, "PC_PATH_MAX", _PATH_MAX)
    problems: dict[str, str] = {}  # one per path that is wrong, however many files share it
    wanted = set(names)
    folders = {str(folder) for name in wanted for folder in PurePosixPath(name).parents}
    for name in sorted(wanted):
        path = PurePosixPath(name)
        if not path.parts or path.is_absolute() or any(p in (".", "..") for p in path.parts):
            problems[name] = f"{_shown(root / name)}: not a path inside {_shown(root)}"
            continue
        long = next((p for p in path.parts if len(os.fsencode(p)) > name_max), None)
        if long is not None:
            at = name[: name.index(long) + len(long)]
            problems[at] = (
                f"{_shown(root / at)}: a name of {len(os.fsencode(long))} bytes, longer than "
                f"the {name_max} the file system allows; choose a shorter name"
            )
        elif len(os.fsencode(os.path.abspath(root / name))) + _SLACK > path_max:
            problems[name] = (
                f"{_shown(root / name)}: the path is longer than the file system allows"
            )
        elif name in folders:
            problems[name] = (
                f"{_shown(root / name)}: both a file and a folder would be written there"
            )
        else:
            found = _in_the_path(root, path.parts)
            if found is not None:
                problems[found[0]] = found[1]
    return list(problems.values())


def _shown(path: Path) -> str:
    """``path`` for a message: printable, and cut in the middle when it is very long."""
    return clip(printable_path(path.as_posix()), 160)


def _in_the_path(root: Path, parts: Sequence[str]) -> tuple[str, str] | None:
    """What stands between ``root`` and the file ``parts`` names, if anything: where, and
    the problem."""
    here = root
    for number, part in enumerate(parts, start=1):
        here = here / part
        where = here.as_posix()
        if here.is_symlink():
            return where, (
                f"{_shown(here)} is a symbolic link: statewright writes nothing through a "
                "link; remove it, or choose another folder"
            )
        if not here.exists():
            return None
        if number < len(parts) and not here.is_dir():
            return where, f"{_shown(here)} is a file where a folder must go; move it"
        if number == len(parts) and not here.is_file():
            return where, f"{_shown(here)} is not a regular file; move it"
    return None


def write_tree(
    root: Path, files: Mapping[str, str | bytes], remove: Sequence[Path] = ()
) -> list[Path]:
    """Write ``files`` (name relative to ``root`` -> text, or bytes as they are) and remove
    ``remove``, all or nothing; the paths written.

    Every path is checked first (:func:`path_problems`); the files are written into a
    staging folder inside ``root`` (made if missing), each then renamed into place (a
    rename within one file system, which never leaves a file half written), and a
    failure on the way puts back what was there: the files it replaced, and no new file
    or folder. :class:`Refused` says why nothing was written.
    """
    problems = path_problems(root, [*files, *(p.relative_to(root).as_posix() for p in remove)])
    if problems:
        raise Refused(problems)
    made: list[Path] = []
    try:
        _make_folders(root, made)
        staging = Path(tempfile.mkdtemp(prefix=_STAGING, dir=root))
    except OSError as error:
        _undo([], made)
        raise Refused([_failed(root, error)]) from error
    try:
        for name, text in files.items():
            staged = staging / "new" / name
            try:
                staged.parent.mkdir(parents=True, exist_ok=True)
                staged.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
            except OSError as error:
                raise Refused([_failed(root / name, error)]) from error
        return _commit(root, staging, files, remove, made)
    except Refused:
        _undo([], made)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _make_folders(folder: Path, made: list[Path]) -> None:
    """Make ``folder`` and its missing parents, each one made recorded in ``made``."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir()
        made.append(path)


def _commit(
    root: Path,
    staging: Path,
    files: Mapping[str, str | bytes],
    remove: Sequence[Path],
    made: list[Path],
) -> list[Path]:
    """Rename the staged files into place, remove ``remove``; undone on a failure."""
    kept = staging / "old"
    kept.mkdir()
    done: list[tuple[Path, Path | None]] = []  # each path changed, and its old content
    current = root
    try:
        for number, name in enumerate(files):
            current = root / name
            _make_folders(current.parent, made)
            done.append((current, _keep(current, kept / str(number))))
            os.replace(staging / "new" / name, current)
        for number, current in enumerate(remove):
            done.append((current, _keep(current, kept / f"removed-{number}")))
            current.unlink()
    except OSError as error:
        _undo(done, made)
        raise Refused([_failed(current, error)]) from error
    return [root / name for name in files]


def _keep(path: Path, copy: Path) -> Path | None:
    """A copy of the file at ``path`` (a hard link where possible), None if none is there."""
    if not path.exists():
        return None
    try:
        os.link(path, copy)
    except OSError:
        shutil.copy2(path, copy)
    return copy


def _undo(done: Sequence[tuple[Path, Path | None]], made: Sequence[Path]) -> None:
    for path, old in reversed(done):
        with contextlib.suppress(OSError):
            if old is None:
                path.unlink(missing_ok=True)
            else:
                os.replace(old, path)
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            shutil.rmtree(folder) if _only_staging(folder) else folder.rmdir()


def _only_staging(folder: Path) -> bool:
    return all(p.name.startswith(_STAGING) for p in folder.iterdir())


def _failed(path: Path, error: OSError) -> str:
    return f"cannot write {_shown(path)}: {error.strerror or error}"
