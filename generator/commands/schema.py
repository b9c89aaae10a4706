"""``statewright schema``: where the JSON Schema of the spec format is, for editors."""

from __future__ import annotations

import argparse
from typing import TextIO

from statewright.generator.commands import Command
from statewright.generator.commands.new import SCHEMA_PATH

__all__ = ["COMMAND", "schema_command"]


def schema_command(*, stdout: TextIO) -> int:
    """``statewright schema``: print where the installed JSON Schema of the format is."""
    stdout.write(f"{SCHEMA_PATH.as_posix()}\n")
    return 0


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return schema_command(stdout=stdout)


COMMAND = Command(
    name="schema",
    summary="print where the spec format's JSON Schema is, for editors",
    description=(
        "Print the absolute path of the JSON Schema of the spec format that ships with "
        "this statewright, on standard output: for a modeline (# yaml-language-server: "
        "$schema=PATH), an editor's settings, or a copy to keep in your repository "
        '(cp "$(statewright schema)" .).',
    ),
    exits=((0, "printed"), (2, "a usage error: it takes no argument")),
    run=_run,
)
