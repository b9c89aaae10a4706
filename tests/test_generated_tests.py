"""The generated hypothesis test modules: their bar as code, their results, their coverage.

A small inline spec (two review gates, automatic hops, a timeout of seven days, a
trigger named ``fire`` and one with a very long name) is generated into a temporary
package, checked with ruff and ``mypy --strict`` as emitted, and its tests are run by
pytest in a subprocess. The shipped specs' generated runtimes are also put through the
conformance harness of :mod:`verify.conformance`, whose reference interpreter is written
independently of the model tables the generated tests embed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from generator.render import render_runtime, render_tests
from verify.check import check_spec
from verify.conformance import (
    Actor,
    AuditEntry,
    Clock,
    InvalidTrigger,
    Unauthorised,
    conformance_test,
)
from verify.load import load_file, load_text
from verify.model import Spec

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "specs").glob("*.yaml"))

GATEKEEPER = """\
statewright: 1
machine: gatekeeper
initial: IDLE
states:
  IDLE: {kind: idle}
  RUNNING: {kind: running}
  REVIEW: {kind: approval, reviewers: [lead, qa]}
  SECOND_LOOK: {kind: approval, reviewers: [director]}
  STAGE_FAILED: {kind: failed}
  FAILED: {kind: failed, reviewers: [on_call]}
  DONE: {kind: complete}
transitions:
  - {from: IDLE, to: RUNNING, trigger: start}
  - {from: RUNNING, to: REVIEW, trigger: submit}
  - {from: RUNNING, to: STAGE_FAILED, trigger: crash, reason: CRASH}
  - {from: STAGE_FAILED, to: FAILED, trigger: always}
  - {from: REVIEW, to: SECOND_LOOK, trigger: approve, human: true}
  - {from: REVIEW, to: FAILED, trigger: reject, human: true, reason: REJECTED}
  - {from: REVIEW, to: FAILED, trigger: review_timeout, after: 90s, reason: TIMEOUT}
  - {from: SECOND_LOOK, to: DONE, trigger: approve, human: true}
  - {from: SECOND_LOOK, to: FAILED, trigger: reject, human: true, reason: REJECTED}
  - from: SECOND_LOOK
    to: FAILED
    trigger: the_director_never_answered_within_the_very_long_window_that_the_policy_allows
    after: 7d
    reason: TIMEOUT
  - {from: FAILED, to: IDLE, trigger: fire, human: true}
  - {from: DONE, to: IDLE, trigger: always}
reasons:
  CRASH: {recovery: [Read the snapshot]}
  REJECTED: {recovery: [Read the decision]}
  TIMEOUT: {recovery: [Find a reviewer]}
"""


@pytest.fixture(scope="module")
def gatekeeper() -> Spec:
    spec = load_text(GATEKEEPER, "gatekeeper.yaml").spec
    assert spec is not None
    assert check_spec(spec).ok(strict=True)
    return spec


@pytest.fixture(scope="module")
def package(gatekeeper: Spec, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package holding the gatekeeper's runtime and generated tests."""
    where = tmp_path_factory.mktemp("generated")
    machine = where / "pkg" / "gatekeeper"
    machine.mkdir(parents=True)
    (where / "pkg" / "__init__.py").write_text("")
    (machine / "__init__.py").write_text("")
    (machine / "runtime.py").write_text(render_runtime(gatekeeper))
    (machine / "test_gatekeeper.py").write_text(render_tests(gatekeeper))
    return where


def _run(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=300,
        check=False,
    )


def test_the_test_module_passes_ruff_and_mypy_strict_as_emitted(package: Path) -> None:
    module = str(package / "pkg" / "gatekeeper" / "test_gatekeeper.py")
    config = str(ROOT / "pyproject.toml")
    lint = _run("ruff", "check", "--no-cache", "--config", config, module)
    assert lint.returncode == 0, lint.stdout
    formatted = _run("ruff", "format", "--check", "--diff", "--config", config, module)
    assert formatted.returncode == 0, formatted.stdout
    typed = _run("mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull, module)
    assert typed.returncode == 0, typed.stdout
    assert "type: ignore" not in Path(module).read_text()


def test_the_generated_tests_pass_and_cover_every_transition(package: Path) -> None:
    result = _run(
        "pytest", "pkg", "-q", "-s", "-p", "no:cacheprovider", "--rootdir", str(package),
        "-o", "addopts=", cwd=package,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    covered = re.search(r"gatekeeper: hypothesis fired (\d+) of (\d+) transitions; "
                        r"with the tour, (\d+) of (\d+)", result.stdout)  # fmt: skip
    assert covered is not None, result.stdout[-3000:]
    assert covered[3] == covered[4] == "12"
    assert re.search(r"\b5 passed\b", result.stdout), "4 tour paths and the random runs"


def test_rendering_is_deterministic(gatekeeper: Spec) -> None:
    assert render_tests(gatekeeper) == render_tests(gatekeeper)


def test_the_module_names_its_source_and_says_not_to_edit(gatekeeper: Spec) -> None:
    text = render_tests(gatekeeper)
    assert "from gatekeeper.yaml" in text and gatekeeper.sha256 in text
    assert "Do not edit this file" in text
    assert "def fire_the_director_never_answered" not in text  # timed only: waited for
    assert "def wait_for_the_director_never_answered_within_the_very_long" in text
    assert "def wait_until_just_before_the_director_never_answered_within_the_very_" in text
    assert "def fire_fire(self, actor: runtime.Actor | None) -> None:" in text


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_spec_has_its_generated_test_module(path: Path) -> None:
    spec = load_file(path, f"specs/{path.name}").spec
    assert spec is not None
    module = ROOT / "generated" / spec.machine / f"test_{spec.machine}.py"
    assert module.read_text() == render_tests(spec), "run `statewright generate`"


# -- the conformance harness, on the generated runtimes ---------------------------------


class GeneratedAdapter:
    """Drives a generated runtime module through the conformance harness."""

    def __init__(self, runtime: ModuleType, class_name: str) -> None:
        self.runtime = runtime
        self.machine = getattr(runtime, class_name)

    def create(self, clock: Clock) -> Any:
        return self.machine(clock=clock)

    def fire(self, machine: Any, trigger: str, actor: Actor | None, decision: str | None) -> None:
        who = None if actor is None else self.runtime.Actor(actor.id, frozenset(actor.roles))
        try:
            machine.fire(self.runtime.Trigger(trigger), actor=who, decision=decision)
        except self.runtime.InvalidTransition as refusal:
            raise InvalidTrigger(str(refusal)) from refusal
        except self.runtime.Unauthorized as refusal:
            raise Unauthorised(str(refusal)) from refusal

    def state(self, machine: Any) -> str:
        return str(machine.state)

    def audit(self, machine: Any) -> Sequence[AuditEntry]:
        return [
            AuditEntry(r.from_state, r.to_state, str(r.trigger), r.actor, r.seq, r.at)
            for r in machine.audit
        ]

    def expire(self, machine: Any) -> None:
        machine.expire()


def load_module(path: Path) -> ModuleType:
    """A generated runtime, imported from its file (it imports only the standard library)."""
    found = importlib.util.spec_from_file_location(f"conforming_{path.parent.name}", path)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    sys.modules[found.name] = module  # dataclasses look their module up while being made
    found.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_the_generated_runtime_conforms(path: Path) -> None:
    spec = load_file(path, f"specs/{path.name}").spec
    assert spec is not None
    runtime = load_module(ROOT / "generated" / spec.machine / "runtime.py")
    class_name = "".join(part.capitalize() for part in spec.machine.split("_"))
    harness = conformance_test(spec, GeneratedAdapter(runtime, class_name))
    run_state_machine_as_test(
        harness,
        settings=settings(
            max_examples=100,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
