"""Generated Python, formatted by the project's pinned ``ruff format`` before it is written.

Templates show the shape of the code and leave line wrapping and import order to the
formatter, as openapi-python-client does: one rule, applied the same way to every
generated file. The formatter runs with the settings in ``generator/generated-code.toml``
(:data:`CONFIG`) and none of the configuration around the output folder, so the output
depends on the pinned ruff alone; CI lints ``generated/`` with the same settings.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ruff.__main__ import find_ruff_bin

__all__ = ["CONFIG", "FormatError", "format_python"]

CONFIG = Path(__file__).with_name("generated-code.toml")
"""The ruff settings of generated code."""


class FormatError(RuntimeError):
    """The formatter refused a rendered file: a bug in a template, never in a spec."""


def format_python(files: Mapping[str, str]) -> dict[str, str]:
    """``files`` (relative path -> Python source) formatted, in one run of ruff."""
    if not files:
        return {}
    with tempfile.TemporaryDirectory(prefix="statewright-format-") as folder:
        root = Path(folder)
        for index, text in enumerate(files.values()):
            (root / f"f{index}.py").write_text(text, encoding="utf-8")
        ruff = find_ruff_bin()
        for command in (
            ("check", "--select", "I,F401", "--fix", "--no-cache"),  # imports sorted, pruned
            ("format", "--no-cache"),
        ):
            done = subprocess.run(
                [ruff, *command, "--config", str(CONFIG), "--quiet", "."],
                cwd=root,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise FormatError(f"ruff {command[0]} failed on generated code:\n{done.stdout}")
        return {
            name: (root / f"f{index}.py").read_text(encoding="utf-8")
            for index, name in enumerate(files)
        }
