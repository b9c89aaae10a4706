"""The generated hypothesis test modules: their bar as code, their results, their coverage.

A small inline spec (two review gates, automatic hops, a timeout of seven days, a
trigger named ``fire`` and one with a very long name) is generated into a temporary
package, checked with ruff and ``mypy --strict`` as emitted, and its tests are run by
pytest in a subprocess. The harness they run (:mod:`statewright.verify.conformance.runtime`) names a
rule after each trigger, so failing examples read as a story.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_generate_shape import embedded_spec
from test_runtime_kit import generate

from statewright.generator.format import CONFIG
from statewright.generator.render import render_runtime, render_support, render_tests
from statewright.verify.check import check_spec
from statewright.verify.conformance.runtime import runtime_conformance
from statewright.verify.load import load_file, load_text
from statewright.verify.model import Spec

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "specs").glob("*.yaml"))

GATEKEEPER = """\
statewright: 1
machine: gatekeeper
initial: IDLE
states:
  IDLE: {kind: idle}
  RUNNING: {}
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
    """A package holding the gatekeeper's runtime, its support and its generated tests."""
    where = tmp_path_factory.mktemp("generated")
    files = {
        "__init__.py": "",
        "gatekeeper/__init__.py": "",
        "gatekeeper/runtime.py": render_runtime(gatekeeper),
        "gatekeeper/test_gatekeeper.py": render_tests(gatekeeper, GATEKEEPER),
        **render_support(),
    }
    for name, text in files.items():
        path = where / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
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
    config = str(CONFIG)
    lint = _run("ruff", "check", "--no-cache", "--config", config, module)
    assert lint.returncode == 0, lint.stdout
    formatted = _run("ruff", "format", "--check", "--diff", "--config", config, module)
    assert formatted.returncode == 0, formatted.stdout
    typed = _run(
        "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull, str(package / "pkg")
    )
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
    assert render_tests(gatekeeper, GATEKEEPER) == render_tests(gatekeeper, GATEKEEPER)


def test_the_module_names_its_source_embeds_the_spec_and_says_not_to_edit(
    gatekeeper: Spec,
) -> None:
    text = render_tests(gatekeeper, GATEKEEPER)
    assert "from gatekeeper.yaml" in text and gatekeeper.sha256 in text
    assert "Do not edit this file" in " ".join(text.split())
    assert "\n  - {from: FAILED, to: IDLE, trigger: fire, human: true}\n" in text  # as written
    assert embedded_spec(text) == GATEKEEPER
    assert "harness.runtime_conformance(SPEC, runtime.Gatekeeper)" in text
    assert "= harness.spec_tests(" in text


def test_the_harness_names_a_rule_after_each_trigger(
    gatekeeper: Spec, tmp_path_factory: pytest.TempPathFactory
) -> None:
    rt = generate(gatekeeper, tmp_path_factory.mktemp("rules"))
    harness = runtime_conformance(gatekeeper, rt.Gatekeeper)
    rules = set(vars(harness))
    long = "the_director_never_answered_within_the_very_long_window_that_the_policy_allows"
    assert f"fire_{long}" not in rules  # timed only: waited for
    assert {f"wait_for_{long}", f"wait_until_just_before_{long}", "fire_fire"} <= rules
    assert {"try_fire_unauthorised", "fire_approve", "try_approve_unauthorised"} <= rules
    assert harness.__name__ == "GatekeeperAgainstSpec"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_spec_has_its_generated_test_module(path: Path) -> None:
    spec = load_file(path, f"specs/{path.name}").spec
    assert spec is not None
    module = ROOT / "generated" / spec.machine / f"test_{spec.machine}.py"
    expected = render_tests(spec, path.read_text(encoding="utf-8"))
    assert module.read_text() == expected, "run `statewright generate`"
