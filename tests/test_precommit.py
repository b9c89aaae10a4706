"""The ``statewright-check`` pre-commit hook passes a good spec and fails a bad one.

Run for real with ``pre-commit try-repo``: the project is copied into a temporary git
repository and committed (try-repo installs a hook from a commit), and pre-commit builds
the hook's own virtual environment from it, installing the dependencies from the package
index, so this test needs the index and takes a minute or so.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOOK_FILES = (
    "pyproject.toml",
    "README.md",
    ".pre-commit-hooks.yaml",
    "statewright",
    "verify",
    "generator",
)
GIT_ENV = {
    "GIT_AUTHOR_NAME": "statewright tests",
    "GIT_AUTHOR_EMAIL": "tests@statewright.invalid",
    "GIT_COMMITTER_NAME": "statewright tests",
    "GIT_COMMITTER_EMAIL": "tests@statewright.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}


def hook() -> dict[str, object]:
    (entry,) = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(entry, dict)
    return entry


def test_the_hook_is_declared_as_documented() -> None:
    entry = hook()
    assert entry["id"] == "statewright-check"
    assert entry["language"] == "python"
    assert entry["entry"] == "statewright check"
    files = re.compile(str(entry["files"]))
    for path in ("specs/a.yaml", "specs/b.yml", "service/specs/c.yaml"):
        assert files.search(path), path
    for path in ("specs/examples/sketch.yaml", "config.yaml", "specs/a.json", "myspecs/a.yaml"):
        assert not files.search(path), path


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True, capture_output=True
    )


def commit_all(repo: Path) -> None:
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "snapshot")


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A committed copy of the project (the hook repo) and a user repo with two specs."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    hook_repo = tmp_path_factory.mktemp("hook_repo")
    for name in HOOK_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(
                source,
                hook_repo / name,
                symlinks=True,
                ignore=shutil.ignore_patterns("__pycache__"),
            )
        else:
            shutil.copy2(source, hook_repo / name)
    commit_all(hook_repo)
    user = tmp_path_factory.mktemp("user_repo")
    (user / "specs").mkdir()
    shutil.copy2(ROOT / "specs" / "orchestrator.yaml", user / "specs" / "good.yaml")
    shutil.copy2(
        ROOT / "specs" / "examples" / "discovery_pipeline_sketch.yaml",
        user / "specs" / "bad.yaml",
    )
    commit_all(user)
    return hook_repo, user


def try_repo(hook_repo: Path, user: Path, *files: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        **GIT_ENV,
        "PRE_COMMIT_HOME": str(user.parent / "pre-commit-home"),
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
    }
    return subprocess.run(
        [
            str(BIN / "pre-commit"),
            "try-repo",
            str(hook_repo),
            "statewright-check",
            "--files",
            *files,
        ],
        cwd=user,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.mark.network
@pytest.mark.slow
def test_try_repo_passes_a_good_spec_and_fails_a_bad_one(repos: tuple[Path, Path]) -> None:
    hook_repo, user = repos
    good = try_repo(hook_repo, user, "specs/good.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"statewright check\.+Passed", good.stdout), good.stdout

    bad = try_repo(hook_repo, user, "specs/bad.yaml")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert re.search(r"statewright check\.+Failed", bad.stdout), bad.stdout
    assert "specs/bad.yaml:" in bad.stdout
    assert "error[dead-end] HUNTER_COMPLETE" in bad.stdout
