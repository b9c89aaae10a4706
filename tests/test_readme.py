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
from statewright.verify.rules import RULES

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


def test_every_command_of_using_it_runs(tmp_path: Path) -> None:
    """Each ``.venv/bin/statewright`` line exits 0, or 1 where its comment says so. The
    user's own files it names (an ASL definition, an audit store, two versions of a spec)
    are provided."""
    from storekit import generate_runtime

    workspace = readme_workspace(tmp_path)
    shutil.copy(ROOT / "specs/examples/order_approval.asl.json", workspace / "my.asl.json")
    old, new = RULES["migration-stranded"].example_specs("Passes")  # two versions of a spec
    (workspace / "old.yaml").write_text(old, encoding="utf-8")
    (workspace / "new.yaml").write_text(new, encoding="utf-8")
    rt, _ = generate_runtime(tmp_path / "store_kit")
    rt.Ticket.create(rt.SqlStore.sqlite(str(workspace / "audit.sqlite")), "t1").start()
    (using,) = [b for b in blocks("README.md", ROOT) if "statewright new billing" in b.text]
    lines = [line for line in using.text.splitlines() if line.startswith(".venv/bin/")]
    assert len(lines) >= 14
    for line in lines:
        if "COMMAND" in line:  # the placeholder: every command's help, tested in test_cli
            continue
        done = subprocess.run(
            ["bash", "-c", line], cwd=workspace, capture_output=True, text=True, timeout=300
        )
        expected = 1 if re.search(r"#.*\bexit 1:", line) else 0
        assert done.returncode == expected, (line, done.stdout[-2000:], done.stderr[-2000:])
    assert (workspace / "pipeline.png").read_bytes().startswith(b"\x89PNG")
    assert (workspace / "heads.jsonl").read_text().count("\n") == 1


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
