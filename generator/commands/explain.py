"""``statewright explain``: a rule's definition and examples."""

from __future__ import annotations

import argparse
from typing import TextIO

from statewright.generator.commands import EXIT_OK, EXIT_USAGE, Command
from statewright.verify.explain import close_matches, explain_text
from statewright.verify.rules import RULES

__all__ = ["COMMAND", "explain_command"]


def explain_command(rule: str, *, stdout: TextIO, stderr: TextIO) -> int:
    """``statewright explain``: a rule's definition and examples."""
    if rule in RULES:
        stdout.write(explain_text(RULES[rule]))
        return EXIT_OK
    near = close_matches(rule)
    hint = f"did you mean {', '.join(near)}?" if near else f"rule ids: {', '.join(RULES)}"
    stderr.write(f"statewright: error: unknown rule {rule!r}; {hint}\n")
    return EXIT_USAGE


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("rule", metavar="RULE", help="a rule id, e.g. dead-end")


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return explain_command(args.rule, stdout=stdout, stderr=stderr)


COMMAND = Command(
    name="explain",
    summary="print a rule's definition and examples",
    description=(
        "Print RULE's definition, severity and family, with a spec that fails it and "
        "one that passes, on standard output.",
    ),
    exits=(
        (0, "printed"),
        (2, "no rule has that id (the closest ids are suggested)"),
    ),
    arguments=_arguments,
    run=_run,
)
