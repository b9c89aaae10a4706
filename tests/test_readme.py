"""The README, as a newcomer follows it: its Python example runs against the committed
generated/ tree, its console example prints what it shows, every command of "Using it"
runs with the exit status it says, the set-up it describes is what ``.ci/setup`` does, and
its docs command is as quiet as CI's."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_docs import Workspace, blocks

from statewright.generator.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_python_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocks = re.findall(r"^```python\n(.*?)^```", README, re.MULTILINE | re.DOTALL)
    assert blocks, "the README has no Python example"
    monkeypatch.syspath_prepend(str(ROOT))
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    monkeypatch.chdir(tmp_path)  # the durable example writes audit.sqlite where it runs
    for name in [m for m in sys.modules if m == "generated" or m.startswith("generated.")]:
        monkeypatch.delitem(sys.modules, name)
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {"__name__": "readme"})
    assert "AuditRecord(seq=4" in capsys.readouterr().out
    assert (tmp_path / "audit.sqlite").is_file()


def test_every_subcommand_it_names_exists(capsys: pytest.CaptureFixture[str]) -> None:
    named = set(re.findall(r"(?:bin/|`)statewright ([a-z]\w*)", README))
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


def readme_workspace(tmp_path: Path) -> Path:
    """A folder where the README's commands run as in a fresh clone after ``.ci/main``:
    ``specs/`` and ``.venv`` (the one running these tests)."""
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    (tmp_path / ".venv").symlink_to(Path(sys.executable).parents[1], target_is_directory=True)
    return tmp_path


def test_console_examples_print_what_they_show(tmp_path: Path) -> None:
    """The example finding once named line 37 and an old wording; it is now run."""
    consoles = [b for b in blocks("README.md", ROOT) if b.language == "console"]
    assert consoles, "the README has no console example"
    workspace = Workspace(readme_workspace(tmp_path), {})
    for block in consoles:
        workspace.console(block)


def test_it_runs_in_order(tmp_path: Path) -> None:
    """A newcomer follows the README from top to bottom in a fresh clone after
    ``.ci/main``: each ``.venv/bin/statewright`` line exits 0, or 1 where its comment says
    so, and each Python example runs from the clone's root, in the order they come. Nothing
    is provided beforehand: the audit commands once named a store nothing had made, and
    ``migrate`` and ``import asl`` files of the user's own."""
    workspace = readme_workspace(tmp_path)
    ran: list[str] = []
    for block in blocks("README.md", ROOT):
        if block.language == "python":
            ran.append(run_in(workspace, [".venv/bin/python", "-"], block.text, block.where))
            continue
        if block.language != "sh":
            continue
        for line in block.text.splitlines():
            if not line.startswith(".venv/bin/") or "COMMAND" in line:
                continue  # the set-up and docs commands are tested below; COMMAND in test_cli
            expected = 1 if re.search(r"#.*\bexit 1:", line) else 0
            ran.append(run_in(workspace, ["bash", "-c", line], "", block.where, expected))
    assert len(ran) >= 22
    assert ran.index("audit verify") > ran.index("python")  # the store is made first
    assert (workspace / "pipeline.png").read_bytes().startswith(b"\x89PNG")
    assert (workspace / "heads.jsonl").read_text().count("\n") == 1
    assert (workspace / "generated" / "billing" / "runtime.py").is_file()


def run_in(workspace: Path, argv: list[str], stdin: str, where: str, expected: int = 0) -> str:
    """Run one README command (or Python example on standard input) in ``workspace``:
    what it was, as ``statewright audit verify`` is ``audit verify``."""
    done = subprocess.run(
        argv, cwd=workspace, input=stdin, capture_output=True, text=True, timeout=300
    )
    shown = argv[-1] if argv[0] == "bash" else "python"
    assert done.returncode == expected, (where, shown, done.stdout[-2000:], done.stderr[-2000:])
    words = shown.split()
    return " ".join(words[1:3]) if words[0].endswith("/statewright") else shown


def test_the_setup_it_describes_is_what_ci_setup_installs() -> None:
    setup = (ROOT / ".ci" / "setup").read_text()
    packages = re.findall(r"need_apt\+=\((\w+)\)", setup)
    assert set(packages) == {"graphviz", "postgresql", "chromium", "spin", "gcc"}
    header = "".join(line for line in setup.splitlines(keepends=True) if line.startswith("#"))
    for package in packages:
        assert f"`{package}`" in README, f"the README does not say .ci/setup installs {package}"
        assert package in header, f".ci/setup's header does not name {package}"


def test_its_docs_command_is_quiet(tmp_path: Path) -> None:
    """``mkdocs build`` as the README gave it printed Material's end-of-life banner."""
    (command,) = [line for line in README.splitlines() if "mkdocs build" in line]
    command = command.split("#")[0].strip()
    done = subprocess.run(
        ["bash", "-c", f"{command} --site-dir {tmp_path / 'site'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "NO_MKDOCS_2_WARNING"},
        timeout=300,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert (tmp_path / "site" / "index.html").is_file()
