"""What ``check`` and ``diagram`` read: specs, or Amazon States Language definitions.

A file named ``*.asl.json``, ``*.asl.yaml`` or ``*.asl.yml`` is read as ASL, and so is a
SAM or CloudFormation template named ``template.yaml`` (``.yml``, ``.json``) or
``*.template.yaml`` (each of its state machines); anything else is a spec, unless
``--input`` says which (``--input asl`` for ASL, or a template, under another name). An
ASL file gives one result per machine (the state machine, each Parallel branch and Map
iterator). Options that name ASL callback states as human must name real ones: a name
that matches no callback of any file read is a usage error, not a silent no-op.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from statewright.generator.commands import UsageError
from statewright.verify import progress
from statewright.verify.asl import check_asl
from statewright.verify.check import CheckResult, check_file, check_together
from statewright.verify.discover import discover, is_asl_name, is_template_name
from statewright.verify.explore import Budget
from statewright.verify.load.asl import AslOptions, load_asl_files
from statewright.verify.load.values import check_label

__all__ = [
    "Checked",
    "InputFormat",
    "asl_arguments",
    "asl_options",
    "check_paths",
    "input_arguments",
    "reads_asl",
]


class InputFormat(StrEnum):
    """The ``--input`` choices."""

    AUTO = "auto"
    SPEC = "spec"
    ASL = "asl"


@dataclass(frozen=True, slots=True)
class Checked:
    """The results of every file read, and the ``--human`` names that matched nothing."""

    results: list[CheckResult]
    unmatched_human: tuple[str, ...] = ()

    def usage_problem(self) -> str | None:
        """The usage error the options make, if any."""
        if not self.unmatched_human:
            return None
        names = ", ".join(repr(n) for n in self.unmatched_human)
        return (
            f"--human names {names}, which is no callback state (a Task whose Resource ends "
            "with .waitForTaskToken, or an activity) of the ASL read; check the spelling"
        )


def reads_asl(path: Path, fmt: InputFormat) -> bool:
    """True when ``path`` is read as an ASL definition (or a template holding some)."""
    return fmt is InputFormat.ASL or (
        fmt is InputFormat.AUTO and (is_asl_name(path) or is_template_name(path))
    )


def check_paths(
    paths: Sequence[Path],
    fmt: InputFormat,
    options: AslOptions,
    budget: Budget | None = None,
) -> Checked:
    """Check every file ``paths`` names (folders: their specs and, unless ``--input spec``,
    their ASL definitions). The specs and the ASL definitions' machines are checked
    together (``duplicate-machine``: an ASL machine takes its name from its file, and a
    spec of that name beside it would share its generated code and records). A spec with
    variables is explored within ``budget`` (default: the default budget)."""
    results: list[CheckResult] = []
    callbacks: set[str] = set()
    every_asl_loaded = True
    for path in discover(paths, asl=fmt is not InputFormat.SPEC):
        if not reads_asl(path, fmt):
            results.append(check_file(path, budget=budget))
            continue
        with progress.working_on(str(path)):
            for load in load_asl_files(path, options):
                callbacks |= load.callbacks
                every_asl_loaded = every_asl_loaded and bool(load.machines)
                results.extend(check_asl(load))
    results = check_together(results)  # specs and ASL machines: no two of one name
    unmatched: tuple[str, ...] = ()
    if options.human and every_asl_loaded:
        unmatched = tuple(sorted(options.human - callbacks))
    return Checked(results, unmatched)


# --- the arguments -------------------------------------------------------------------------


def input_arguments(parser: argparse.ArgumentParser) -> None:
    """``--input`` and the ASL options: the arguments of a command that reads either."""
    parser.add_argument(
        "--input",
        choices=[str(f) for f in InputFormat],
        default=str(InputFormat.AUTO),
        help="how to read the files: auto (*.asl.json, *.asl.yaml and *.asl.yml are ASL, "
        "template.yaml and *.template.yaml SAM/CloudFormation templates, the rest specs), "
        "spec, or asl (AWS Step Functions definitions or templates); default: auto",
    )
    asl_arguments(parser)


def asl_arguments(parser: argparse.ArgumentParser) -> None:
    """``--human``, ``--no-human`` and ``--reviewers``: how ASL callbacks are read."""
    human = parser.add_mutually_exclusive_group()
    human.add_argument(
        "--human",
        action="append",
        default=None,
        metavar="STATE",
        help="an ASL callback state a person answers: an approval state (repeat for "
        "more); default: the callbacks whose names contain approv, review, human or manual",
    )
    human.add_argument(
        "--no-human", action="store_true", help="no ASL callback is human: all are waiting"
    )
    parser.add_argument(
        "--reviewers",
        default="reviewer",
        metavar="ROLE,...",
        help="the reviewer roles of ASL approval states (default: reviewer)",
    )


def asl_options(args: argparse.Namespace) -> AslOptions:
    """The ASL options of ``args``; :class:`~statewright.generator.commands.UsageError` for a
    reviewer role that is no label."""
    roles = tuple(role.strip() for role in args.reviewers.split(","))
    for role in roles:
        problem = check_label("reviewer role", role)
        if problem:
            raise UsageError(f"--reviewers: {problem}")
    human = frozenset() if args.no_human else args.human and frozenset(args.human)
    return AslOptions(human=human, reviewers=roles)
