"""The generated tests have teeth: each mutant of a generated runtime makes them fail.

A mutant is the orchestrator's runtime with one fault planted, of every kind of behaviour
a spec fixes: its structure (a transition retargeted), its roles (a refusal removed, a
rollback let through for anyone), its timing (a timeout ignored, a timer that fires
early), its data (a rollback that leaves the context, a context change at a locked gate)
and its audit log (a record dropped). Faults go into the machine's table (the view model)
or into the runtime support's source, copied as ``generate`` copies it. The runtime, its
support and its generated test module are written to a temporary package and the test
module is run by pytest in a subprocess, under the generated tests' CI profile minus
shrinking (the same examples, found as fast, reported unshrunk): a conftest registers it
and ``HYPOTHESIS_PROFILE`` selects it. Slow: a pytest run in a subprocess per mutant.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from statewright.generator.env import environment
from statewright.generator.format import format_python
from statewright.generator.render import render_support, render_tests
from statewright.generator.view import SUPPORT_PACKAGE, RuntimeView, runtime_view
from statewright.verify.load import load_file
from statewright.verify.model import Spec

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

Files = dict[str, str]
"""A mutant: the runtime's files by path inside the package (``runtime.py``,
``_statewright/engine.py``, ...)."""
Mutation = Callable[[Spec], Files]

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
def discovery() -> Spec:
    spec = load_file(ROOT / "specs" / "discovery_pipeline.yaml").spec
    assert spec is not None and spec.has_data
    return spec


@pytest.fixture(scope="module")
def orchestrator() -> Spec:
    spec = load_file(ROOT / "specs" / "orchestrator.yaml").spec
    assert spec is not None
    return spec


def runtime_of(spec: Spec, edit: Callable[[RuntimeView], RuntimeView] = lambda view: view) -> Files:
    view = edit(runtime_view(spec))
    text = environment().get_template("runtime.py.jinja").render(view=view)
    return {"runtime.py": format_python({"runtime.py": text})["runtime.py"], **render_support()}


def engine_edited(spec: Spec, old: str, new: str) -> Files:
    """The runtime with the one occurrence of ``old`` in its support package (the engine,
    the instance, the step kernel, ...) replaced by ``new``."""
    files = runtime_of(spec)
    support = [name for name in files if name.startswith(f"{SUPPORT_PACKAGE}/")]
    found = [name for name in support if old in files[name]]
    assert len(found) == 1 and files[found[0]].count(old) == 1, (
        f"the mutation's anchor {old!r} is not in the runtime support exactly once: {found}"
    )
    files[found[0]] = files[found[0]].replace(old, new)
    return files


def retarget(spec: Spec) -> Files:
    """Structure: ``human_approved`` leads to COMPLETE instead of RUNNING."""

    def edit(view: RuntimeView) -> RuntimeView:
        rows = list(view.transitions)
        (index,) = [i for i, row in enumerate(rows) if row.trigger == "HUMAN_APPROVED"]
        assert rows[index].target == "RUNNING"
        rows[index] = dataclasses.replace(rows[index], target="COMPLETE")
        return dataclasses.replace(view, transitions=tuple(rows))

    return runtime_of(spec, edit)


def refusal_removed(spec: Spec) -> Files:
    """Roles: any actor (with roles, if none of them) may take a human exit."""
    return engine_edited(
        spec,
        "roles.isdisjoint(edge.source.reviewers) and roles.isdisjoint(widened)",
        "False",
    )


def rollback_for_anyone(spec: Spec) -> Files:
    """Roles: anyone may roll back."""
    return engine_edited(spec, "if who.roles.isdisjoint(roles):", "if False:")


def timeout_ignored(spec: Spec) -> Files:
    """Timing: ``expire()`` never fires anything."""
    return engine_edited(spec, "if not kernel.due(timed, self._entered, at):", "if True:")


def timer_early(spec: Spec) -> Files:
    """Timing: ``expire()`` fires an hour before the deadline."""
    return engine_edited(
        spec,
        "if not kernel.due(timed, self._entered, at):",
        "if not kernel.due(timed, self._entered - kernel.timedelta(hours=1), at):",
    )


def context_kept_on_rollback(spec: Spec) -> Files:
    """Data: a rollback returns to the state but keeps the present context."""
    return engine_edited(
        spec,
        "        self._contexts().restore(len(log), seq)\n",
        "",
    )


def gate_unlocked(spec: Spec) -> Files:
    """Data: context changes go through at an approval gate."""
    return engine_edited(
        spec,
        "        if node.approval:\n            raise Locked(",
        "        if False:\n            raise Locked(",
    )


def record_dropped(spec: Spec) -> Files:
    """Audit: a timed transition happens but leaves no audit record."""
    anchor = (
        "        self._entered = at\n        self._reason = reason if target.failed else None\n"
    )
    return engine_edited(
        spec, anchor, "        if edge.after is not None:\n            log.pop()\n" + anchor
    )


def guard_ignored(spec: Spec) -> Files:
    """Data: a trigger is taken though the guard of its transition fails."""
    return engine_edited(
        spec,
        "while edge is not None and edge.when is not None and not edge.when.test(values):",
        "while False:",
    )


def effect_dropped(spec: Spec) -> Files:
    """Data: a transition is taken but its effects (``set``) are not applied."""
    return engine_edited(
        spec,
        "return values if edge.effect is None else edge.effect.apply(values)",
        "return values",
    )


def variables_kept_on_rollback(spec: Spec) -> Files:
    """Data: a rollback returns to the state but keeps the present variables."""
    return engine_edited(
        spec,
        "        self._variables = values\n        self._values.append(",
        "        self._values.append(",
    )


def run_generated_tests(spec: Spec, files: Files, where: Path) -> subprocess.CompletedProcess[str]:
    package = where / "mutant"
    source = Path(spec.file).read_text(encoding="utf-8")
    written = {
        "__init__.py": "",
        f"{spec.machine}/__init__.py": "",
        f"{spec.machine}/test_{spec.machine}.py": render_tests(spec, source),
        **{
            (name if "/" in name else f"{spec.machine}/{name}"): text
            for name, text in files.items()
        },
    }
    for name, text in written.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (where / "conftest.py").write_text(CONFTEST)
    env = {**os.environ, "HYPOTHESIS_PROFILE": "statewright-ci-unshrunk"}
    command = [sys.executable, "-m", "pytest", str(package), "-q", "-rf", "-p", "no:cacheprovider"]
    return subprocess.run(
        [*command, "--rootdir", str(where), "-o", "addopts="],
        capture_output=True,
        text=True,
        cwd=where,
        env=env,
        timeout=1_800,  # a hang guard only: a run takes seconds, the more on a busy machine
        check=False,
    )


def test_the_unmutated_runtime_passes(orchestrator: Spec, tmp_path: Path) -> None:
    result = run_generated_tests(orchestrator, runtime_of(orchestrator), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("mutate", "symptom"),
    [
        (retarget, "the implementation is in COMPLETE, the spec says RUNNING"),
        (refusal_removed, "the spec says to refuse (unauthorised) 'human_resumed' by"),
        (rollback_for_anyone, "expected Unauthorized, it went through"),
        (timeout_ignored, "the implementation is in WAITING_FOR_APPROVAL, the spec says FAILED"),
        (timer_early, "after wait_until_just_before_"),
        (context_kept_on_rollback, "the spec's run says"),
        (gate_unlocked, "expected Locked, it went through"),
        (record_dropped, "the audit log differs from the spec's"),
    ],
    ids=[
        "transition-retargeted",
        "refusal-removed",
        "rollback-for-anyone",
        "timeout-ignored",
        "timer-early",
        "context-kept-on-rollback",
        "gate-unlocked",
        "record-dropped",
    ],
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


@pytest.fixture(scope="module")
def release() -> Spec:
    spec = load_file(ROOT / "specs" / "release_review.yaml").spec
    assert spec is not None
    return spec


def quorum_ignored(spec: Spec) -> Files:
    """Approval policy: the first approval takes the gate, whatever its quorum."""
    return engine_edited(
        spec,
        "return Verdict.TAKE if gate.count(edge.trigger) + 1 >= policy.quorum else Verdict.COUNT",
        "return Verdict.TAKE",
    )


def test_the_generated_tests_catch_a_quorum_ignored(release: Spec, tmp_path: Path) -> None:
    """The release gate's quorum of two, taken by one approval, is caught by the covering
    paths and by hypothesis; the unmutated runtime passes the same tests."""
    assert run_generated_tests(release, runtime_of(release), tmp_path / "ok").returncode == 0
    result = run_generated_tests(release, quorum_ignored(release), tmp_path / "mutant")
    assert result.returncode == 1, result.stdout[-3000:]
    assert "the implementation is in RELEASED, the spec says REVIEW" in result.stdout, (
        result.stdout[-3000:]
    )


def test_the_unmutated_runtime_with_data_passes(discovery: Spec, tmp_path: Path) -> None:
    result = run_generated_tests(discovery, runtime_of(discovery), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("mutate", "symptom", "by_hypothesis"),
    [
        (guard_ignored, "the implementation is in FAILED, the spec says SCOUT_FAILED", True),
        (effect_dropped, "the implementation's variables are", True),
        (variables_kept_on_rollback, "the implementation's variables are", True),
    ],
    ids=["guard-ignored", "effect-dropped", "variables-kept-on-rollback"],
)
def test_the_generated_tests_catch_data_faults(
    discovery: Spec, tmp_path: Path, mutate: Mutation, symptom: str, by_hypothesis: bool
) -> None:
    """Every guard ignored by the kernel's choice (so a retry-bounded agent error takes
    the exhausted exit to FAILED at once), effects dropped, and variables kept on
    rollback: each caught by hypothesis itself."""
    result = run_generated_tests(discovery, mutate(discovery), tmp_path)
    assert result.returncode == 1, result.stdout[-3000:]
    assert symptom in result.stdout, result.stdout[-3000:]
    random_search = f"test_{discovery.machine}.py::test_random_runs_follow_the_spec"
    assert f"FAILED mutant/{discovery.machine}/{random_search}" in result.stdout
    found = "state = DiscoveryPipelineAgainstSpec()" in result.stdout
    assert found == by_hypothesis, result.stdout[-3000:]


REVIEW_LOOP = """\
statewright: 1
machine: review_loop
description: Drafts revised under review; a rollback keeps the round count, not the drafts.
initial: DRAFTING
variables:
  rounds: {type: int, min: 0, max: 3, initial: 0, description: Review rounds so far.}
  drafts: {type: int, min: 0, max: 4, initial: 0, description: Drafts handed in.}
states:
  DRAFTING: {kind: running}
  REVIEW: {kind: approval, reviewers: [editor]}
  REVISING: {kind: running}
  PUBLISHED: {kind: complete, final: true}
  STALLED: {kind: failed, final: true}
rollback:
  reviewers: [editor_in_chief]
  keep: [rounds]
  max: 2
transitions:
  - {from: DRAFTING, to: REVIEW, trigger: draft_done, set: {drafts: drafts + 1}}
  - {from: REVIEW, to: PUBLISHED, trigger: approved, human: true}
  - {from: REVIEW, to: REVISING, trigger: changes_requested, human: true, when: rounds < 3,
     set: {rounds: rounds + 1}}
  - {from: REVIEW, to: STALLED, trigger: changes_requested, human: true, when: rounds >= 3,
     reason: GAVE_UP}
  - {from: REVISING, to: REVIEW, trigger: revised, set: {drafts: drafts + 1}}
  - {from: REVIEW, to: STALLED, trigger: review_timeout, after: 1d, reason: GAVE_UP}
  - {from: DRAFTING, to: STALLED, trigger: agent_timeout, after: 2h, reason: AGENT_TIMEOUT}
  - {from: REVISING, to: STALLED, trigger: agent_timeout, after: 2h, reason: AGENT_TIMEOUT}
reasons:
  GAVE_UP: {recovery: [Start a new draft]}
  AGENT_TIMEOUT: {recovery: [Restart the agent]}
"""
"""A spec whose rollback keeps one variable (``rounds``) and restores another
(``drafts``), with a ``max``: what the four rollback mutants below get wrong."""


@pytest.fixture(scope="module")
def review_loop(tmp_path_factory: pytest.TempPathFactory) -> Spec:
    path = tmp_path_factory.mktemp("spec") / "review_loop.yaml"
    path.write_text(REVIEW_LOOP, encoding="utf-8")
    spec = load_file(path).spec
    assert spec is not None and spec.rollback_keep == ("rounds",) and spec.rollback_max == 2
    return spec


def keep_forgotten(spec: Spec) -> Files:
    """Rollback: the ``keep`` variable is restored with the rest (its record still says
    it was kept)."""
    return engine_edited(
        spec,
        "carried = {name: getattr(self._variables, name) for name in keep}",
        "carried = {name: getattr(self._variables, name) for name in keep[1:]}",
    )


def kept_beyond_keep(spec: Spec) -> Files:
    """Rollback: a variable outside ``keep`` (``drafts``) is carried over too."""
    return engine_edited(
        spec,
        "carried = {name: getattr(self._variables, name) for name in keep}",
        'carried = {name: getattr(self._variables, name) for name in (*keep, "drafts")}',
    )


def one_rollback_too_many(spec: Spec) -> Files:
    """Rollback: the run may take ``max`` + 1 rollbacks."""
    return engine_edited(
        spec,
        "if most is not None and self._rollbacks() >= most:",
        "if most is not None and self._rollbacks() > most:",
    )


def kept_unrecorded(spec: Spec) -> Files:
    """Rollback: the kept values are carried but the record's data does not say so."""
    return engine_edited(
        spec,
        'return dataclasses.replace(values, **carried), {"kept": {n: current[n] for n in keep}}',
        "return dataclasses.replace(values, **carried), None",
    )


def test_the_unmutated_runtime_with_rollback_passes(review_loop: Spec, tmp_path: Path) -> None:
    result = run_generated_tests(review_loop, runtime_of(review_loop), tmp_path)
    assert result.returncode == 0, result.stdout[-3000:]


@pytest.mark.parametrize(
    ("mutate", "symptom"),
    [
        (keep_forgotten, "the rollback record holds"),
        (kept_beyond_keep, "the rollback record holds"),
        (one_rollback_too_many, "expected RollbackLimit, it went through"),
        (rollback_for_anyone, "expected Unauthorized, it went through"),
        (kept_unrecorded, "the rollback record holds"),
    ],
    ids=[
        "keep-forgotten",
        "kept-beyond-keep",
        "max-plus-one",
        "rollback-by-a-non-reviewer",
        "kept-unrecorded",
    ],
)
def test_the_generated_tests_catch_rollback_faults(
    review_loop: Spec, tmp_path: Path, mutate: Mutation, symptom: str
) -> None:
    """A rollback that forgets a ``keep`` variable, keeps one outside ``keep``, goes past
    ``max``, is taken by someone without a rollback role, or does not record what it
    kept: each caught by hypothesis on random runs."""
    result = run_generated_tests(review_loop, mutate(review_loop), tmp_path)
    assert result.returncode == 1, result.stdout[-3000:]
    assert symptom in result.stdout, result.stdout[-3000:]
    random_search = f"test_{review_loop.machine}.py::test_random_runs_follow_the_spec"
    assert f"FAILED mutant/{review_loop.machine}/{random_search}" in result.stdout
    assert "state = ReviewLoopAgainstSpec()" in result.stdout, "hypothesis itself missed it"
