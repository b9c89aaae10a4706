"""The README's Python example runs against the committed generated/ tree, and the
commands it names exist."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from generator.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_python_examples_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
    assert blocks, "the README has no Python example"
    monkeypatch.syspath_prepend(str(ROOT))
    for name in [m for m in sys.modules if m == "generated" or m.startswith("generated.")]:
        monkeypatch.delitem(sys.modules, name)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert "AuditRecord(seq=4" in capsys.readouterr().out


def test_every_subcommand_it_names_exists(capsys: pytest.CaptureFixture[str]) -> None:
    named = set(re.findall(r"(?:bin/|`)statewright (\w+)", README))
    assert named >= {"check", "generate", "diagram", "paths", "explain", "new", "audit"}
    for command in sorted(named):
        with pytest.raises(SystemExit) as done:
            main([command, "--help"])
        assert done.value.code == 0, command
    capsys.readouterr()


def test_the_two_setup_commands_exist() -> None:
    for script in ("bash .ci/main", "bash .ci/run"):
        assert script in README
        assert (ROOT / script.split()[1]).is_file()
