"""``generate_command``: writing the tree, ``--check`` diffs, stale files, refused specs."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
from test_runtime_kit import ORCHESTRATOR

from generator.commands.generate import generate_command

BROKEN = """\
statewright: 1
machine: broken
initial: A
states:
  A: {kind: idle}
  B: {kind: running}
transitions:
  - {from: A, to: B, trigger: go}
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "specs" / "examples").mkdir(parents=True)
    (tmp_path / "specs" / "gatekeeper.yaml").write_text(ORCHESTRATOR)
    (tmp_path / "specs" / "examples" / "broken.yaml").write_text(BROKEN)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(*paths: str, check: bool = False, out: str = "gen") -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = generate_command(
        [Path(p) for p in paths or ("specs",)], Path(out), check, stdout=stdout, stderr=stderr
    )
    return status, stdout.getvalue(), stderr.getvalue()


def test_generate_then_check_is_clean(project: Path) -> None:
    status, out, err = run()
    assert (status, err) == (0, "")
    assert "wrote gen/gatekeeper/runtime.py" in out
    runtime = (project / "gen" / "gatekeeper" / "runtime.py").read_text()
    assert "from specs/gatekeeper.yaml" in runtime
    assert (project / "gen" / "__init__.py").is_file()
    assert not (project / "gen" / "broken").exists()  # specs/examples is not searched
    assert run(check=True) == (0, "", "")
    status, out, err = run()  # nothing rewritten when nothing changed
    assert (status, err) == (0, "")
    assert out.startswith("gen/ is up to date (") and "wrote" not in out


def test_generated_tree_is_an_importable_package(project: Path) -> None:
    run()
    script = "import gen.gatekeeper.runtime as rt; print(rt.Gatekeeper().task_received())"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=project, capture_output=True, text=True, check=False
    )
    assert done.stdout.strip() == "RUNNING", done.stderr


def test_hand_edit_fails_check_with_a_diff(project: Path) -> None:
    run()
    runtime = project / "gen" / "gatekeeper" / "runtime.py"
    runtime.write_text(runtime.read_text().replace("Do not edit", "Please edit"))
    status, out, _ = run(check=True)
    assert status == 1
    assert "--- a/gatekeeper/runtime.py\n+++ b/gatekeeper/runtime.py\n" in out
    assert "-Please edit" in out and "+Do not edit" in out
    runtime.unlink()
    status, out, _ = run(check=True)
    assert status == 1 and "--- /dev/null\n+++ b/gatekeeper/runtime.py\n" in out


def test_stale_files_fail_check_and_are_removed(project: Path) -> None:
    run()
    (project / "specs" / "old.yaml").write_text(ORCHESTRATOR.replace("gatekeeper", "old_gate"))
    run()
    (project / "specs" / "old.yaml").unlink()
    (project / "gen" / "gatekeeper" / "extra.txt").write_text("left over\n")
    status, out, _ = run(check=True)
    assert status == 1
    assert "--- a/gatekeeper/extra.txt\n+++ /dev/null\n" in out
    assert "--- a/old_gate/runtime.py\n+++ /dev/null\n" in out
    status, out, _ = run()
    assert status == 0 and "removed gen/old_gate/runtime.py" in out
    assert not (project / "gen" / "old_gate").exists()
    assert not (project / "gen" / "gatekeeper" / "extra.txt").exists()
    assert run(check=True)[0] == 0


def test_folders_not_generated_are_left_alone(project: Path) -> None:
    run()
    notes = project / "gen" / "notes" / "todo.txt"
    notes.parent.mkdir()
    notes.write_text("mine\n")
    status, _, err = run()
    assert status == 0 and "left gen/notes/todo.txt in place" in err
    assert notes.exists()
    assert run(check=True)[0] == 1


def test_spec_with_errors_is_refused_and_nothing_written_for_it(project: Path) -> None:
    status, out, err = run("specs", "specs/examples/broken.yaml")
    assert status == 1
    assert "specs/examples/broken.yaml:" in err and "error[dead-end]" in err
    assert "gen/gatekeeper/runtime.py" in out
    assert not (project / "gen" / "broken").exists()
    assert run("specs", "specs/examples/broken.yaml", check=True)[0] == 1


def test_missing_path_is_a_usage_error(project: Path) -> None:
    assert run("specs/nope.yaml") == (
        2,
        "",
        "statewright: error: no such file or directory: specs/nope.yaml\n",
    )
    assert not (project / "gen").exists()


def test_absolute_spec_path_is_named_relative(project: Path) -> None:
    run(str(project / "specs" / "gatekeeper.yaml"))
    header = (project / "gen" / "gatekeeper" / "runtime.py").read_text()[:400]
    assert "from specs/gatekeeper.yaml" in header and str(project) not in header


def test_missing_dot_is_one_line_naming_the_package(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "")  # no `dot` to be found: the system edge, not a mock
    status, out, err = run()
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1 and "apt-get install graphviz" in err
    assert not (project / "gen").exists()
