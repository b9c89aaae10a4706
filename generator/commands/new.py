"""``statewright new NAME``: scaffold a spec that passes the checker and that editors can
validate as it is typed.

The new spec's first line is the ``# yaml-language-server: $schema=`` modeline, pointing
at the JSON Schema that ships inside the installed ``verify`` package. Inside the tree that
holds the package (a clone of this repository) the path is relative, so it moves with the
clone: ``specs/NAME.yaml`` gets ``../verify/spec.schema.json``. Anywhere else it is the
installed schema's absolute path, which stays right wherever the spec is moved or copied
(``statewright schema`` prints it).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TextIO

import statewright.verify
from statewright.generator.commands import Command
from statewright.generator.env import environment
from statewright.verify.load.values import check_snake_name

__all__ = [
    "COMMAND",
    "SCHEMA_PATH",
    "ScaffoldError",
    "new_command",
    "scaffold",
    "schema_reference",
]

SCHEMA_PATH = Path(statewright.verify.__file__).resolve().parent / "spec.schema.json"
"""The spec format's JSON Schema, as installed with the ``verify`` package."""

SCHEMA_TREE = SCHEMA_PATH.parents[1]
"""The folder that holds the ``verify`` package: a clone of statewright, or site-packages."""

VALID_NAME = (
    "a valid name is snake_case like release_pipeline: lowercase letters and digits, words "
    "joined by single underscores, starting with a letter, not a Python keyword"
)


class ScaffoldError(Exception):
    """The spec cannot be written; the message is one line saying why."""


def schema_reference(target: Path) -> str:
    """The modeline's ``$schema`` value for a spec written at ``target``: relative inside
    :data:`SCHEMA_TREE`, the installed schema's absolute path anywhere else."""
    folder = target.resolve().parent
    if not folder.is_relative_to(SCHEMA_TREE):
        return SCHEMA_PATH.as_posix()
    return Path(os.path.relpath(SCHEMA_PATH, folder)).as_posix()


def scaffold(name: str, target: Path) -> str:
    """The text of a new spec for machine ``name`` to be written at ``target``."""
    problem = check_snake_name("machine", name)
    if problem is not None:
        raise ScaffoldError(f"{problem}; {VALID_NAME}")
    template = environment().get_template("new_spec.yaml.jinja")
    return template.render(machine=name, schema=schema_reference(target), path=target.as_posix())


def new_command(name: str, output: Path | None, *, stdout: TextIO, stderr: TextIO) -> int:
    """Write the new spec (default ``specs/NAME.yaml``); never overwrite. Exit 0 or 2."""
    target = output if output is not None else Path("specs") / f"{name}.yaml"
    try:
        text = scaffold(name, target)
        if target.exists():
            raise ScaffoldError(f"{target} already exists; choose another name or -o FILE")
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as file:
            file.write(text)
    except ScaffoldError as error:
        stderr.write(f"statewright: error: {error}\n")
        return 2
    except OSError as error:
        stderr.write(f"statewright: error: cannot write {target}: {error.strerror}\n")
        return 2
    stdout.write(f"wrote {target}; check it with: statewright check {target}\n")
    return 0


# --- the command ---------------------------------------------------------------------------


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the machine's snake_case name")
    parser.add_argument(
        "-o",
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="where to write it (default: specs/NAME.yaml); never overwritten",
    )


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return new_command(args.name, args.output, stdout=stdout, stderr=stderr)


COMMAND = Command(
    name="new",
    summary="scaffold a spec that passes the checker",
    description=(
        "Write a new spec for machine NAME that passes every rule: idle, running, an "
        "approval gate with approve, reject and timeout exits, a failed state with "
        "reason codes and recovery steps, complete. Its first line points editors at "
        "the installed JSON Schema: by a relative path inside a clone of statewright, "
        "by its absolute path anywhere else (see statewright schema).",
        "It goes to specs/NAME.yaml, or the file -o names; an existing file is never "
        "overwritten. The path written is printed on standard output.",
    ),
    exits=(
        (0, "written"),
        (2, "NAME is not snake_case, the file exists, or it cannot be written"),
    ),
    arguments=_arguments,
    run=_run,
)
