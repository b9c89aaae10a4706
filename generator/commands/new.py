"""``statewright new NAME``: scaffold a spec that passes the checker and that editors can
validate as it is typed.

The new spec's first line is the ``# yaml-language-server: $schema=`` modeline, pointing
at the JSON Schema that ships inside the installed ``verify`` package, by a path relative to
the new file (so in a clone of this repository ``specs/NAME.yaml`` gets
``../verify/spec.schema.json``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TextIO

import verify
from generator.env import environment
from verify.load.rules import check_snake_name

__all__ = ["SCHEMA_PATH", "ScaffoldError", "new_command", "scaffold", "schema_reference"]

SCHEMA_PATH = Path(verify.__file__).resolve().parent / "spec.schema.json"
"""The spec format's JSON Schema, as installed with the ``verify`` package."""

VALID_NAME = (
    "a valid name is snake_case like release_pipeline: lowercase letters and digits, words "
    "joined by single underscores, starting with a letter, not a Python keyword"
)


class ScaffoldError(Exception):
    """The spec cannot be written; the message is one line saying why."""


def schema_reference(target: Path) -> str:
    """The modeline's ``$schema`` value for a spec written at ``target``."""
    try:
        relative = os.path.relpath(SCHEMA_PATH, target.resolve().parent)
    except ValueError:  # another drive: only an absolute URI can reach it
        return SCHEMA_PATH.as_uri()
    return Path(relative).as_posix()


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
