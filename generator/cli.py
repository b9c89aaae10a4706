"""The ``statewright`` command: the parser built from :data:`COMMANDS`, and the dispatch
to the one named. Each command (its arguments, help and run) is a module of
:mod:`statewright.generator.commands`.

Exit status: 0 when no finding is an error (``--strict``: no warning either), 1 when one
is (or ``generate --check`` found a difference), 2 for a usage error or a path that does
not exist.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import nullcontext
from typing import TextIO, cast

from statewright.generator import __version__
from statewright.generator.commands import (
    EXIT_USAGE,
    Command,
    Group,
    Help,
    UsageError,
    audit,
    check,
    diagram,
    explain,
    generate,
    import_asl,
    migrate,
    new,
    paths,
    runs,
    schema,
    serve,
)
from statewright.generator.progress import TerminalProgress
from statewright.generator.streams import ReaderSafe
from statewright.verify import progress
from statewright.verify.discover import MissingPath

__all__ = ["COMMANDS", "TOP", "helps", "main", "parser", "parsers"]

COMMANDS: tuple[Command | Group, ...] = (
    check.COMMAND,
    paths.COMMAND,
    generate.COMMAND,
    diagram.COMMAND,
    explain.COMMAND,
    migrate.COMMAND,
    new.COMMAND,
    schema.COMMAND,
    import_asl.COMMAND,
    audit.COMMAND,
    runs.COMMAND,
    serve.COMMAND,
)
"""Every command, in the order ``statewright --help`` lists them."""

TOP = Help(
    name="statewright",
    summary="",
    description=(
        "Model-checked state-machine specifications with code generation.",
        "Run 'statewright COMMAND --help' for what a command does, each of its "
        "arguments, what it writes where and its exit status.",
    ),
    exits=(
        (0, "success: no finding is an error"),
        (1, "a finding is an error (generate --check: a difference; audit: a broken chain)"),
        (2, "a usage error"),
    ),
)
"""The help of ``statewright`` itself."""


def parser() -> argparse.ArgumentParser:
    """The parser of ``statewright``: a subparser per command of :data:`COMMANDS`, whose
    parse sets ``command_run`` to the command's run."""
    return parsers()[0]


def parsers() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser of ``statewright``, and each command's (``"audit verify"``, ...) by name,
    in the order ``--help`` lists them."""
    top = TOP.options()
    del top["help"]
    built = argparse.ArgumentParser(prog="statewright", **top)
    built.add_argument("--version", action="version", version=f"statewright {__version__}")
    commands = built.add_subparsers(dest="command", required=True, metavar="COMMAND")
    found: dict[str, argparse.ArgumentParser] = {}
    for command in COMMANDS:
        found.update(command.register(commands))
    return built, found


def helps() -> dict[str, Help]:
    """The help of every command (groups and their actions) by name, in ``--help`` order."""
    found: dict[str, Help] = {}
    for command in COMMANDS:
        found[command.name] = command
        if isinstance(command, Group):
            found.update((action.name, action) for action in command.actions)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``statewright``; the exit status. Output to a reader that goes away early
    (``| head -1``) is dropped quietly and the command still finishes its work. Long work
    shows progress on standard error when that is a terminal
    (:mod:`statewright.generator.progress`)."""
    shown = TerminalProgress(sys.stderr) if sys.stderr.isatty() else None
    clear = shown.clear if shown is not None else None
    out, err = ReaderSafe(sys.stdout, clear), ReaderSafe(sys.stderr, clear)
    try:
        with progress.reporting(shown) if shown is not None else nullcontext():
            status = _command(argv, cast(TextIO, out), cast(TextIO, err))
    finally:
        if shown is not None:
            shown.clear()
    out.flush()
    err.flush()
    return status


def _command(argv: Sequence[str] | None, out: TextIO, err: TextIO) -> int:
    built = parser()
    args = built.parse_args(argv)
    try:
        status: int = args.command_run(args, out, err)
    except UsageError as problem:
        built.error(str(problem))
    except MissingPath as missing:
        err.write(f"statewright: error: {missing}\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    return status


if __name__ == "__main__":
    sys.exit(main())
