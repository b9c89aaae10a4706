"""The generated tests have teeth: each mutant of a generated runtime makes them fail.

A mutant is the orchestrator's runtime with one fault planted, by editing the view
model (a transition retargeted) or the generated source text (a refusal removed, a
timeout ignored, an audit record dropped). The runtime and its generated test module are
written to a temporary package and the test module is run by pytest in a subprocess,
under the generated tests' CI profile minus shrinking (the same examples, found as fast,
reported unshrunk): a conftest registers it and ``HYPOTHESIS_PROFILE`` selects it.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from generator.env import environment
from generator.render import render_tests
from generator.view import RuntimeView, runtime_view
from verify.load import load_file
from verify.model import Spec

ROOT = Path(__file__).resolve().parents[1]

Mutation = Callable[[Spec], str]

CONFTEST = """
from hypothesis import HealthCheck, Phase, settings

settings.register_profile(
    "statewright-ci-unshrunk",
    max_examples=100,
    stateful_step_count=30,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.generate],
)
"""


@pytest.fixture(scope="module")
def orchestrator() -> Spec:
    spec = load_file(ROOT / "specs" / "orchestrator.yaml").spec
    assert spec is not None
    return spec


def runtime_of(spec: Spec, edit: Callable[[RuntimeView], RuntimeView] = lambda view: view) -> str:
    view = edit(runtime_view(spec))
    return environment().get_template("runtime.py.jinja").render(view=view)


def edited(spec: Spec, old: str, new: str) -> str:
    """The generated runtime with the one occurrence of ``old`` replaced by ``new``."""
    source = runtime_of(spec)
    assert source.count(old) == 1, f"the mutation's anchor {old!r} is gone from the runtime"
    return source.replace(old, new)


def retarget(spec: Spec) -> str:
    """``human_approved`` leads to COMPLETE instead of RUNNING."""

    def edit(view: RuntimeView) -> RuntimeView:
        transitions = view.transitions
        approved = [i for i, args in enumerate(transitions) if "Trigger.HUMAN_APPROVED" in args]
        assert len(approved) == 1
        args = list(transitions[approved[0]])
        assert args[2] == "State.RUNNING"
        args[2] = "State.COMPLETE"
        changed = (*transitions[: approved[0]], tuple(args), *transitions[approved[0] + 1 :])
        return dataclasses.replace(view, transitions=changed)

    return runtime_of(spec, edit)


def refusal_removed(spec: Spec) -> str:
    """Any actor may take a human exit, whatever their roles."""
    return edited(spec, "if actor.roles.isdisjoint(edge.source.reviewers):", "if False:")


def timeout_ignored(spec: Spec) -> str:
    """``expire()`` never fires anything."""
    return edited(spec, "if at < self._since() + _delay(timed[0]):", "if True:")


def record_dropped(spec: Spec) -> str:
    """A timed transition happens but leaves no audit record."""
    anchor = "        self._reason = reason if target.failed else None\n"
    return edited(
        spec, anchor, "        if edge.spec.after is not None:\n            log.pop()\n" + anchor
    )


def run_generated_tests(spec: Spec, runtime: str, where: Path) -> subprocess.CompletedProcess[str]:
    package = where / "mutant"
    machine = package / spec.machine
    machine.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (where / "conftest.py").write_text(CONFTEST)
    (machine / "__init__.py").write_text("")
    (machine / "runtime.py").write_text(runtime)
    (machine / f"test_{spec.machine}.py").write_text(render_tests(spec))
    env = {**os.environ, "HYPOTHESIS_PROFILE": "statewright-ci-unshrunk"}
    command = [sys.executable, "-m", "pytest", str(package), "-q", "-rf", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, "--rootdir", str(where), "-o", "addopts="],
        capture_output=True,
        text=True,
        cwd=where,
        env=env,
        timeout=120,
        check=False,
    )


def test_the_unmutated_runtime_passes(orchestrator: Spec, tmp_path: Path) -> None:
    result = run_generated_tests(orchestrator, runtime_of(orchestrator), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("mutate", "symptom"),
    [
        (retarget, "the runtime is in COMPLETE, the spec says RUNNING"),
        (refusal_removed, "is unauthorised, the runtime says accepted"),
        (timeout_ignored, "the runtime is in WAITING_FOR_APPROVAL, the spec says FAILED"),
        (record_dropped, "the audit log differs from the spec's"),
    ],
    ids=["transition-retargeted", "refusal-removed", "timeout-ignored", "record-dropped"],
)
def test_the_generated_tests_catch(
    orchestrator: Spec, tmp_path: Path, mutate: Mutation, symptom: str
) -> None:
    result = run_generated_tests(orchestrator, mutate(orchestrator), tmp_path)
    assert result.returncode == 1, result.stdout[-3000:]
    assert symptom in result.stdout, result.stdout[-3000:]
    random_search = f"test_{orchestrator.machine}.py::test_random_runs_follow_the_spec"
    assert f"FAILED mutant/{orchestrator.machine}/{random_search}" in result.stdout
    assert "state = OrchestratorAgainstSpec()" in result.stdout, "hypothesis itself missed it"
