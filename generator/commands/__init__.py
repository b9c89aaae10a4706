"""``statewright``'s commands, one module each. A module holds its command's
:class:`Command`: its name, its help (a summary, paragraphs of description, its exit
statuses), a function that adds its arguments to its parser, and a function that runs it
on the parsed arguments. A command with actions (``audit verify|head``, ``runs
list|show|release``, ``import asl``) is a :class:`Group` of such commands.
:mod:`statewright.generator.cli` builds the parser from the list of them and calls the ``run`` of
the one named; the docs' command-line reference is generated from the same parser.

The command layer sits above everything else: no module of ``verify`` or ``generator``
outside ``generator/cli.py`` and this package imports it (``tests/test_layering.py``).
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TextIO, TypeAlias

from statewright.verify.report import RENDERERS

__all__ = [
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROGRESS",
    "Command",
    "Group",
    "Help",
    "UsageError",
    "count",
    "format_argument",
]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2
"""0: nothing failed; 1: a finding is an error (or output is stale); 2: a usage error."""

WIDTH = 79
"""The column the descriptions and exit statuses are wrapped at, once, here: argparse
prints a description and an epilog with line breaks only as given
(``RawDescriptionHelpFormatter``) or with none at all."""

PROGRESS = (
    "Long work shows its progress on standard error when that is a terminal, and "
    "nothing when it is not."
)
"""The sentence of every command that shows progress (:mod:`statewright.generator.progress`)."""

Run = Callable[[argparse.Namespace, TextIO, TextIO], int]
"""A command's body: the parsed arguments, standard output and standard error in; the
exit status out."""


Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
"""What ``add_subparsers`` returns: where a command adds its parser."""


class UsageError(Exception):
    """A usage error found in the arguments after parsing (a ``--reviewers`` role that is
    no label): ``statewright`` prints it as argparse does its own, and exits 2."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Help:
    """What ``--help`` says about a command: ``name`` (its words after ``statewright``), a
    summary line for its parent's list, paragraphs of description, and the exit statuses
    with what each means."""

    name: str
    summary: str
    description: tuple[str, ...]
    exits: tuple[tuple[int, str], ...]

    @property
    def word(self) -> str:
        """The last word of the name: what its parent's parser knows it by."""
        return self.name.rpartition(" ")[2]

    def options(self) -> dict[str, Any]:
        """The keyword arguments of ``add_parser`` (or ``ArgumentParser``) for this help."""
        return {
            "help": self.summary,
            "description": "\n\n".join(textwrap.fill(p, WIDTH) for p in self.description),
            "epilog": self.epilog(),
            "formatter_class": argparse.RawDescriptionHelpFormatter,
        }

    def epilog(self) -> str:
        lines = ["exit status:"]
        for status, meaning in self.exits:
            lines.extend(
                textwrap.wrap(
                    meaning, WIDTH, initial_indent=f"  {status}  ", subsequent_indent="     "
                )
            )
        return "\n".join(lines)


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of a command that takes none."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Command(Help):
    """A command that runs: ``arguments`` adds its arguments to its parser, ``run`` runs it
    on what was parsed."""

    arguments: Callable[[argparse.ArgumentParser], None] = no_arguments
    run: Run

    def register(self, parent: Subparsers) -> dict[str, argparse.ArgumentParser]:
        """Add this command's parser to ``parent`` (its parent's subparsers); the parser,
        by the command's name."""
        parser = parent.add_parser(self.word, **self.options())
        self.arguments(parser)
        parser.set_defaults(command_run=self.run)
        return {self.name: parser}


@dataclass(frozen=True, slots=True, kw_only=True)
class Group(Help):
    """A command with actions (``audit verify``): each action is a :class:`Command` whose
    name starts with the group's."""

    metavar: str = "ACTION"
    actions: tuple[Command, ...]

    def register(self, parent: Subparsers) -> dict[str, argparse.ArgumentParser]:
        """Add this group's parser, and under it each action's, to ``parent``; the
        parsers, by the commands' names."""
        parser = parent.add_parser(self.word, **self.options())
        actions = parser.add_subparsers(
            dest=f"{self.word}_command", required=True, metavar=self.metavar
        )
        found = {self.name: parser}
        for action in self.actions:
            found.update(action.register(actions))
        return found


def count(text: str) -> int:
    """A positive whole number (``10000000``, ``10_000_000`` or ``10,000,000``): the type
    of the arguments that bound work or output."""
    try:
        value = int(text.replace("_", "").replace(",", ""))
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, not {text!r}")
    return value


def format_argument(parser: argparse.ArgumentParser, dest: str = "format") -> None:
    """``--format``: which of the report formats of ``check`` a command prints (text,
    json, sarif, github, junit)."""
    parser.add_argument(
        "--format",
        dest=dest,
        choices=sorted(RENDERERS),
        default="text",
        help="the report's format on standard output (default: text)",
    )
