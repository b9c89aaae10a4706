"""``generate_command``: writing the tree, ``--check`` diffs, what it may touch, refused specs.

The attacks on what ``generate`` owns (issue: "generate destroys files") each have a test:
one spec generated beside others, ``--out`` into a package of the user's, a hand-written
file beside generated output, a file in the way, and ``--out`` naming a file.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_runtime_kit import ORCHESTRATOR

from statewright.generator.commands.generate import generate_command

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
    status, out, err = run(check=True)
    assert (status, err) == (0, "") and out.startswith("gen/ is up to date (")
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


def test_stale_files_fail_check_and_are_removed_per_file(project: Path) -> None:
    run()
    (project / "specs" / "old.yaml").write_text(ORCHESTRATOR.replace("gatekeeper", "old_gate"))
    run()
    (project / "specs" / "old.yaml").unlink()
    status, out, _ = run(check=True)
    assert status == 1
    assert "--- a/old_gate/runtime.py\n+++ /dev/null\n" in out
    status, out, _ = run()
    assert status == 0
    for name in ("__init__.py", "runtime.py", "test_old_gate.py", "old_gate.svg", "old_gate.dot"):
        assert f"removed gen/old_gate/{name}: no spec generates it any more" in out
    assert "removed gen/old_gate/\n" in out
    assert not (project / "gen" / "old_gate").exists()
    assert run(check=True)[0] == 0


def test_generating_one_spec_never_removes_another_machines_output(project: Path) -> None:
    (project / "specs" / "other.yaml").write_text(ORCHESTRATOR.replace("gatekeeper", "other"))
    run()
    status, out, err = run("specs/gatekeeper.yaml")
    assert (status, err) == (0, "")
    assert "removed" not in out
    assert (project / "gen" / "other" / "runtime.py").is_file()
    assert run("specs/gatekeeper.yaml", check=True)[0] == 0  # nor does --check report it


def test_a_hand_written_file_beside_generated_output_stays(project: Path) -> None:
    run()
    mine = project / "gen" / "gatekeeper" / "notes.md"
    mine.write_text("# my notes\n")
    helper = project / "gen" / "gatekeeper" / "helpers.py"
    helper.write_text("def mine() -> int:\n    return 1\n")
    (project / "specs" / "gatekeeper.yaml").unlink()
    (project / "specs" / "renamed.yaml").write_text(ORCHESTRATOR.replace("gatekeeper", "renamed"))
    status, out, _ = run()
    assert status == 0
    assert "removed gen/gatekeeper/runtime.py" in out
    assert mine.read_text() == "# my notes\n" and helper.exists()
    assert (project / "gen" / "gatekeeper").is_dir()  # not empty: the user's files remain


def test_folders_not_generated_are_left_alone(project: Path) -> None:
    run()
    notes = project / "gen" / "notes" / "todo.txt"
    notes.parent.mkdir()
    notes.write_text("mine\n")
    status, out, err = run()
    assert (status, err) == (0, "") and "notes" not in out
    assert notes.exists()
    assert run(check=True)[0] == 0  # not ours: neither stale nor reported


def test_out_into_the_users_own_package_touches_nothing_of_theirs(project: Path) -> None:
    app = project / "src" / "app"
    app.mkdir(parents=True)
    (app / "__init__.py").write_text('"""My application."""\nVERSION = 3\n')
    (app / "models.py").write_text("class Order: ...\n")
    status, out, err = run(out="src/app")
    assert (status, err) == (0, "")
    assert "kept src/app/__init__.py: not generated, left as it is" in out
    assert (app / "__init__.py").read_text() == '"""My application."""\nVERSION = 3\n'
    assert (app / "models.py").read_text() == "class Order: ...\n"
    assert (app / "gatekeeper" / "runtime.py").is_file()
    assert (app / "_statewright" / "engine.py").is_file()
    script = "from app.gatekeeper.runtime import Gatekeeper; print(Gatekeeper().task_received())"
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=project / "src",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.strip() == "RUNNING", done.stderr
    assert run(out="src/app")[0] == 0  # again: still nothing of theirs touched
    assert (app / "models.py").exists()


def test_a_file_in_the_way_is_an_error_and_nothing_is_written(project: Path) -> None:
    target = project / "gen" / "gatekeeper" / "runtime.py"
    target.parent.mkdir(parents=True)
    target.write_text("# my own runtime\n")
    status, out, err = run()
    assert status == 1 and out == ""
    assert "gen/gatekeeper/runtime.py is in the way" in err and "nothing written" in err
    assert target.read_text() == "# my own runtime\n"
    assert sorted(p.name for p in (project / "gen").rglob("*")) == ["gatekeeper", "runtime.py"]
    assert run(check=True)[0] == 1


def test_out_naming_a_file_is_a_usage_error(project: Path) -> None:
    (project / "out.txt").write_text("x\n")
    usage = "statewright: error: --out out.txt is a file; name a folder\n"
    assert run(out="out.txt") == (2, "", usage)
    assert (project / "out.txt").read_text() == "x\n"


def test_an_svg_is_checked_for_existence_not_bytes(project: Path) -> None:
    run()
    svg = project / "gen" / "gatekeeper" / "gatekeeper.svg"
    svg.write_text(svg.read_text().replace("<svg ", "<svg data-other-graphviz='1' ", 1))
    assert run(check=True)[0] == 0  # another Graphviz lays it out in other bytes
    svg.unlink()
    status, out, _ = run(check=True)
    assert status == 1 and "+++ b/gatekeeper/gatekeeper.svg" in out


def test_spec_with_errors_refuses_the_run_and_nothing_is_written(project: Path) -> None:
    status, out, err = run("specs", "specs/examples/broken.yaml")
    assert (status, out) == (1, "")
    assert "specs/examples/broken.yaml:" in err and "error[dead-end]" in err
    assert "statewright: specs/examples/broken.yaml: not generated; fix its errors first" in err
    assert "statewright: nothing written; fix the errors above first" in err
    assert not (project / "gen").exists()  # all or nothing: not the others, nor the support
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


# --- a script outside the repository ------------------------------------------------------

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = """\
import sys
from {package}.orchestrator.runtime import Actor, Orchestrator

run = Orchestrator()
run.task_received()
run.gate_reached()
run.human_approved(actor=Actor("dana", frozenset({{"tech_lead"}})), decision="ok")
names = ("yaml", "verify", "generator", "statewright")
print(run.state, sorted(m for m in names if m in sys.modules))
"""


def run_script(script: Path, cwd: Path, python_path: Path | None = None) -> str:
    """Run ``script`` as a user would, from ``cwd``, with the standard library alone
    (``-S``: no site-packages, so no statewright either) and ``python_path`` on the
    import path; what it printed."""
    env = {"PATH": os.environ["PATH"]}
    if python_path is not None:
        env["PYTHONPATH"] = str(python_path)
    done = subprocess.run(
        [sys.executable, "-S", str(script)], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def write_script(path: Path, package: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SCRIPT.format(package=package))
    return path


def test_a_script_elsewhere_imports_the_committed_tree_with_the_clone_on_its_path(
    tmp_path: Path,
) -> None:
    """What the issue met: ``ModuleNotFoundError: generated`` from a script outside the
    repository root. The clone on the import path is what it needs."""
    script = write_script(tmp_path / "elsewhere" / "use.py", "generated")
    away = tmp_path / "cwd"
    away.mkdir()
    done = subprocess.run([sys.executable, "-S", str(script)], cwd=away, capture_output=True)
    assert b"No module named 'generated'" in done.stderr  # as documented
    assert run_script(script, away, python_path=ROOT) == "RUNNING []\n"


def test_a_script_elsewhere_imports_a_runtime_generated_into_its_own_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = tmp_path / "project"
    (project / "src" / "myapp").mkdir(parents=True)
    (project / "src" / "myapp" / "__init__.py").write_text("")
    monkeypatch.chdir(project)
    spec = ROOT / "specs" / "orchestrator.yaml"
    status, _, err = run(str(spec), out="src/myapp/machines")
    assert (status, err) == (0, "")
    script = write_script(project / "scripts" / "start.py", "myapp.machines")
    assert run_script(script, tmp_path, python_path=project / "src") == "RUNNING []\n"


def test_a_script_imports_a_vendored_copy_beside_it(tmp_path: Path) -> None:
    """The machine's folder and ``_statewright/`` copied into the application, with no
    ``__init__.py`` of the application's own: the script's folder is all it needs."""
    machines = tmp_path / "app" / "vendor" / "machines"
    for folder in ("orchestrator", "_statewright"):
        shutil.copytree(ROOT / "generated" / folder, machines / folder)
    script = write_script(tmp_path / "app" / "main.py", "vendor.machines")
    assert run_script(script, tmp_path) == "RUNNING []\n"
