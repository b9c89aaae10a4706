"""``statewright generate``: write the generated tree, or diff it against the disk (``--check``).

The output folder holds, for the specs named: ``<out>/__init__.py``, the runtime support
``<out>/_statewright/`` and, per spec without error findings, the files
:func:`statewright.generator.render.render_spec` produces under ``<out>/<machine>/``. What may be
written, kept and removed is :mod:`statewright.generator.output`'s to say.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from statewright.generator.commands import PROGRESS, Command
from statewright.generator.diagram.dot import DotMissing
from statewright.generator.output import (
    PACKAGE_INIT,
    Output,
    Plan,
    Refused,
    collect,
    path_problems,
    plan,
    read_text,
    remove_empty,
    write_tree,
)
from statewright.generator.render import render_package_init, render_spec, render_support
from statewright.verify import progress
from statewright.verify.check import check_file, check_together
from statewright.verify.discover import MissingPath, discover
from statewright.verify.findings import has_errors
from statewright.verify.printable import printable_path
from statewright.verify.rules.project import DUPLICATE_MACHINE

__all__ = ["COMMAND", "generate_command", "render_tree"]

_NO_NEWLINE = "\\ No newline at end of file"


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
    :class:`statewright.verify.discover.MissingPath`, and
    :class:`statewright.generator.output.Refused` when two outputs would be one file
    (:func:`statewright.generator.output.collect`)."""
    support = {PACKAGE_INIT: render_package_init(), **render_support()}
    files = [Output(name, text, "the runtime support") for name, text in support.items()]
    failed = False
    found = discover(paths)
    # findings name the paths as given, for the user to open
    results = check_together([check_file(path) for path in found])
    collide = any(f.rule == DUPLICATE_MACHINE for r in results for f in r.findings)
    for path, result in zip(found, results, strict=True):
        if result.spec is None or has_errors(result.findings):
            failed = True
            for finding in result.findings:
                print("\n".join(finding.report_lines()), file=stderr)
            shown = printable_path(path.as_posix())
            print(f"statewright: {shown}: not generated; fix its errors first", file=stderr)
            continue
        if collide:
            continue
        # generated headers name the spec relative to the working folder, never absolutely,
        # so that the output is the same on every machine
        spec = dataclasses.replace(result.spec, file=display_path(path))
        source = path.read_bytes().decode("utf-8-sig")
        with progress.working_on(display_path(path)):
            progress.phase("generating the runtime, tests and diagrams")
            rendered = render_spec(spec, result.findings, source)
            files.extend(Output(name, text, spec.file) for name, text in rendered.items())
    return ({} if collide else dict(sorted(collect(files).items()))), failed


def _diff(old: str | None, new: str | None, name: str) -> str:
    lines = difflib.unified_diff(
        [] if old is None else old.splitlines(keepends=True),
        [] if new is None else new.splitlines(keepends=True),
        fromfile="/dev/null" if old is None else f"a/{name}",
        tofile="/dev/null" if new is None else f"b/{name}",
    )
    return "".join(line if line.endswith("\n") else f"{line}\n{_NO_NEWLINE}\n" for line in lines)


def _check(found: Plan, stdout: TextIO) -> bool:
    """Print a diff per differing, missing or stale file; True if there was none.

    An SVG that exists is not compared: Graphviz versions lay out the same DOT in
    different bytes, and the DOT beside it is compared.
    """
    clean = True
    for path, text in found.write.items():
        old = read_text(path)
        if path.suffix == ".svg" and old is not None:
            continue
        clean = False
        stdout.write(_diff(old, text, path.relative_to(found.out).as_posix()))
    for path in found.stale:
        clean = False
        stdout.write(_diff(read_text(path), None, path.relative_to(found.out).as_posix()))
    return clean


def _write(found: Plan, stdout: TextIO) -> None:
    """Write and remove what ``found`` says, all or nothing (:func:`write_tree`)."""
    files = {path.relative_to(found.out).as_posix(): text for path, text in found.write.items()}
    for path in write_tree(found.out, files, found.stale):
        print(f"wrote {printable_path(path.as_posix())}", file=stdout)
    if found.kept is not None:
        kept = printable_path(found.kept.as_posix())
        print(f"kept {kept}: not generated, left as it is", file=stdout)
    folders: set[Path] = set()
    for path in found.stale:
        shown = printable_path(path.as_posix())
        print(f"removed {shown}: no spec generates it any more", file=stdout)
        folders.add(path.relative_to(found.out).parents[-2])
    for folder in sorted(folders):
        if remove_empty(found.out / folder):
            print(f"removed {printable_path((found.out / folder).as_posix())}/", file=stdout)
    if not found.write and not found.stale:
        print(
            f"{printable_path(found.out.as_posix())}/ is up to date ({found.same} files)",
            file=stdout,
        )


def generate_command(
    paths: Sequence[Path], out: Path, check: bool, *, stdout: TextIO, stderr: TextIO
) -> int:
    """Run ``statewright generate``; the exit status (0 done, 1 errors or a diff, 2 usage)."""
    if out.exists() and not out.is_dir():
        print(f"statewright: error: --out {out} is a file; name a folder", file=stderr)
        return 2
    try:
        files, failed = render_tree(paths, stderr)
    except Refused as refused:
        return _refused(refused.problems, stderr)
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
    if failed and not check:  # all or nothing: a refused spec refuses the run
        print("statewright: nothing written; fix the errors above first", file=stderr)
        return 1
    problems = path_problems(out, files)  # before anything is read through a link
    if problems:
        return _refused(problems, stderr)
    # Pruning needs the whole spec folder (no path, or folders only): generating some
    # specs never removes another machine's output. A spec with errors renders nothing,
    # and its folder cannot be told from a removed spec's: nothing is pruned then either.
    whole = all(path.is_dir() for path in paths)
    found = plan(out, files, prune=whole and not failed)
    if found.in_the_way:
        return _refused(
            [
                f"{printable_path(path.as_posix())} is in the way: generate would write "
                "there, but the file was not written by statewright; move it, or choose "
                "another --out"
                for path in found.in_the_way
            ],
            stderr,
        )
    if check:
        clean = _check(found, stdout)
        if clean:
            print(
                f"{printable_path(out.as_posix())}/ is up to date ({len(files)} files)", file=stdout
            )
        return 0 if clean and not failed else 1
    try:
        _write(found, stdout)
    except Refused as refused:
        return _refused(refused.problems, stderr)
    return 0


def _refused(problems: Sequence[str], stderr: TextIO) -> int:
    for problem in problems:
        print(f"statewright: error: {problem}", file=stderr)
    print("statewright: nothing written", file=stderr)
    return 1


# --- the command ---------------------------------------------------------------------------


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="spec files, or folders whose specs (not subfolders) are generated; only "
        "folders (or none) prune output of specs that are gone (default: specs/)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("generated"),
        metavar="DIR",
        help="the folder to write into, made if missing; a package of yours is fine "
        "(default: generated/)",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing: render in memory and compare with DIR; exit 1 with a diff on "
        "standard output when they differ",
    )


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return generate_command(args.paths, args.out, args.check, stdout=stdout, stderr=stderr)


COMMAND = Command(
    name="generate",
    summary="generate runtimes, tests and diagrams",
    description=(
        "For each spec without error findings, write DIR/<machine>/: runtime.py (the "
        "typed runtime, standard library only), test_<machine>.py (hypothesis tests "
        "of it) and the diagram as <machine>.svg, .dot and .mmd; and once, "
        "DIR/__init__.py and the runtime support DIR/_statewright/. Every file "
        "written or removed is named on standard output; the findings of a refused "
        "spec go to standard error.",
        "Only files statewright wrote are replaced or removed; a file of yours where "
        "one must go stops the run with nothing written. The run is all or nothing: "
        "every path is checked first (no symbolic link inside DIR, no name longer than "
        "the file system allows), the files are staged in DIR and renamed into place, "
        "and a spec with errors means nothing is written at all. With --check nothing is "
        "written: each difference from the disk is printed as a unified diff on "
        "standard output. " + PROGRESS,
    ),
    exits=(
        (0, "written, or with --check: DIR is up to date"),
        (
            1,
            "a spec has error findings, a file not written by statewright is in the "
            "way, a path in DIR is a symbolic link or too long (in each case nothing "
            "is written), or --check found a difference",
        ),
        (2, "a usage error: a path that does not exist, --out naming a file, no 'dot'"),
    ),
    arguments=_arguments,
    run=_run,
)
