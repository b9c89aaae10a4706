"""``statewright generate``: write the generated tree, or diff it against the disk (``--check``).

The output folder is the golden record of the specs named: ``<out>/__init__.py`` and, per
spec without error findings, the files :func:`generator.render.render_spec` produces
under ``<out>/<machine>/``. A file under a machine folder that no current spec produces,
or a whole machine folder, is *stale*: ``--check`` reports it, and writing removes it
when its folder is one the generator made (its ``__init__.py`` carries the generated
mark); anything else is left alone with a note on stderr.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TextIO

from generator.diagram.dot import DotMissing
from generator.render import (
    GENERATED_MARK,
    PACKAGE_INIT,
    render_package_init,
    render_spec,
    render_support,
)
from verify.check import check_file, check_together
from verify.discover import MissingPath, discover
from verify.findings import has_errors
from verify.rules.project import DUPLICATE_MACHINE

__all__ = ["generate_command", "render_tree", "stale_files"]

_NO_NEWLINE = "\\ No newline at end of file"
_SKIPPED_DIRS = frozenset({"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"})


def display_path(path: Path) -> str:
    """``path`` as the header and findings name it: relative to the working folder, never
    absolute (a spec outside it is named by its file name)."""
    if not path.is_absolute():
        return path.as_posix()
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return path.name


def render_tree(paths: Sequence[Path], stderr: TextIO) -> tuple[dict[str, str], bool]:
    """Every generated file by path relative to the output folder, and whether any spec
    had errors (their findings are printed to ``stderr``; nothing is rendered for them).
    Specs that declare the same machine refuse the whole tree: no file at all (an empty
    mapping), since their output would share one folder. Raises
    :class:`verify.discover.MissingPath`."""
    files = {PACKAGE_INIT: render_package_init(), **render_support()}
    failed = False
    found = discover(paths)
    # findings name the paths as given, for the user to open
    results = check_together([check_file(path) for path in found])
    collide = any(f.rule == DUPLICATE_MACHINE for r in results for f in r.findings)
    for path, result in zip(found, results, strict=True):
        if result.spec is None or has_errors(result.findings):
            failed = True
            for finding in result.findings:
                print(finding.format(), file=stderr)
            continue
        if collide:
            continue
        # generated headers name the spec relative to the working folder, never absolutely,
        # so that the output is the same on every machine
        spec = dataclasses.replace(result.spec, file=display_path(path))
        source = path.read_bytes().decode("utf-8-sig")
        files.update(render_spec(spec, result.findings, source))
    return ({} if collide else dict(sorted(files.items()))), failed


def _on_disk(out: Path) -> Iterator[str]:
    """Files under the machine folders of ``out``, relative, caches skipped."""
    if not out.is_dir():
        return
    for folder in sorted(out.iterdir()):
        if not folder.is_dir() or folder.name in _SKIPPED_DIRS or folder.name.startswith("."):
            continue
        for path in sorted(folder.rglob("*")):
            relative = path.relative_to(out)
            skipped = _SKIPPED_DIRS.intersection(relative.parts) or path.suffix == ".pyc"
            if path.is_file() and not skipped:
                yield relative.as_posix()


def stale_files(out: Path, files: Mapping[str, str]) -> list[str]:
    """Files under ``out``'s machine folders that ``files`` does not contain."""
    return [name for name in _on_disk(out) if name not in files]


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return "<not UTF-8 text>\n"


def _diff(old: str | None, new: str | None, name: str) -> str:
    lines = difflib.unified_diff(
        [] if old is None else old.splitlines(keepends=True),
        [] if new is None else new.splitlines(keepends=True),
        fromfile="/dev/null" if old is None else f"a/{name}",
        tofile="/dev/null" if new is None else f"b/{name}",
    )
    return "".join(line if line.endswith("\n") else f"{line}\n{_NO_NEWLINE}\n" for line in lines)


def _check(out: Path, files: Mapping[str, str], stdout: TextIO) -> bool:
    """Print a diff per differing, missing or stale file; True if there was none."""
    clean = True
    for name, text in files.items():
        old = _read(out / name)
        if old != text:
            clean = False
            stdout.write(_diff(old, text, name))
    for name in stale_files(out, files):
        clean = False
        stdout.write(_diff(_read(out / name), None, name))
    return clean


def _ours(folder: Path) -> bool:
    init = _read(folder / "__init__.py")
    return init is not None and GENERATED_MARK in init[:400]


def _write(
    out: Path, files: Mapping[str, str], prune: bool, stdout: TextIO, stderr: TextIO
) -> None:
    written = 0
    for name, text in files.items():
        path = out / name
        if _read(path) != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text.encode("utf-8"))
            print(f"wrote {path.as_posix()}", file=stdout)
            written += 1
    if not written:
        print(f"{out.as_posix()}/ is up to date ({len(files)} files)", file=stdout)
    if not prune:
        return
    emptied: set[Path] = set()
    for name in stale_files(out, files):
        path = out / name
        folder = out / Path(name).parts[0]
        if folder not in emptied and not _ours(folder):
            print(f"statewright: left {path.as_posix()} in place: not generated", file=stderr)
            continue
        emptied.add(folder)
        path.unlink()
        print(f"removed {path.as_posix()}", file=stdout)
    for folder in emptied:
        _prune(folder)


def _prune(folder: Path) -> None:
    """Remove ``folder`` if nothing but caches is left in it."""
    inside = sorted(folder.rglob("*"), reverse=True)
    if any(p.is_file() and not _SKIPPED_DIRS.intersection(p.parts) for p in inside):
        return
    for path in inside:
        if path.is_dir():
            path.rmdir()
        else:
            path.unlink()
    folder.rmdir()


def generate_command(
    paths: Sequence[Path], out: Path, check: bool, *, stdout: TextIO, stderr: TextIO
) -> int:
    """Run ``statewright generate``; the exit status (0 done, 1 errors or a diff, 2 usage)."""
    try:
        files, failed = render_tree(paths, stderr)
    except MissingPath as error:
        print(f"statewright: error: {error}", file=stderr)
        return 2
    except DotMissing:
        print(
            "statewright: error: generate draws every spec as SVG and needs Graphviz's 'dot'; "
            "install it (Debian/Ubuntu: apt-get install graphviz)",
            file=stderr,
        )
        return 2
    if not files:  # refused as a whole (two specs of one machine): nothing to write
        return 1
    if check:
        clean = _check(out, files, stdout)
        return 0 if clean and not failed else 1
    # A spec with errors renders nothing: its folder cannot be told from a removed
    # spec's, so nothing is removed until every spec is clean.
    _write(out, files, not failed, stdout, stderr)
    return 1 if failed else 0
