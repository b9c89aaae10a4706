"""An independent check: statewright's verdicts against Spin's, on random specs with data.

Each random spec (variables of every type, guards, effects, ``always`` properties; the
generator of :mod:`datagen`) is explored by statewright and translated to Promela
(:mod:`statewright.verify.explore.promela`) for Spin (``spin -a``, ``gcc``, ``pan``). Both must
agree on the number of reachable configurations (Spin stores one state per configuration;
half the specs have an approval gate whose quorum counts and escalation are part of it),
on which states are reachable, on which states have a stuck configuration, and on which
``always`` properties fail; and every counterexample statewright reports must replay
through the semantics (:func:`test_explore.replay`). Slow: one C compile per spec.

A run checks :data:`EXAMPLES` random specs, 8 by default (a C compile each, so that the
suite stays short on a busy machine; the known model below pins every kind of verdict
each run); ``STATEWRIGHT_SPIN_EXAMPLES=200 pytest tests/test_spin.py`` runs a deeper
cross-check. Hypothesis remembers the specs that failed and tries them first.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_explore import replay
from test_rollback import relation, rollback_specs

from statewright.verify.check import check_text
from statewright.verify.explore import explore
from statewright.verify.explore.promela import Rollbacks, answers, promela
from statewright.verify.model import PropertyKind

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("spin") is None or shutil.which("gcc") is None,
        reason="Spin and gcc are needed (Debian: apt-get install spin gcc; .ci/setup does)",
    ),
]


EXAMPLES = int(os.environ.get("STATEWRIGHT_SPIN_EXAMPLES", "8"))
"""Random specs per run: ``STATEWRIGHT_SPIN_EXAMPLES``, default 8."""

HANG_GUARD = 600
"""Seconds after which a Spin, gcc or pan process is given up on: a hang guard only (each
takes a second or two, the more on a busy machine)."""


def spin(model: str, where: Path) -> str:
    """Spin's full safety search of ``model``, errors counted and not stopping the run."""
    (where / "model.pml").write_text(model)
    for command in (
        ["spin", "-o2", "-a", "model.pml"],  # -o2: keep variables no guard reads
        ["gcc", "-O1", "-DSAFETY", "-DNOREDUCE", "-o", "pan", "pan.c"],
    ):
        subprocess.run(command, cwd=where, check=True, capture_output=True, timeout=HANG_GUARD)
    done = subprocess.run(
        ["./pan", "-m1000000", "-c0", "-n"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        check=False,
    )
    return done.stdout


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.one_of(rollback_specs(properties=True), rollback_specs(properties=True, gates=True)))
def test_statewright_and_spin_agree(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    result = check_text(text, max_configurations=100_000)
    spec = result.spec
    assert spec is not None
    assume("out-of-range" not in {f.rule for f in result.findings})  # not modelled in Promela
    found = explore(spec, 100_000)
    assert found.complete
    model = promela(spec, rollbacks=relation(spec))  # rollbacks as a second implementation has them
    output = spin(model.text, tmp_path_factory.mktemp("spin"))
    stored = re.search(r"(\d+) states, stored", output)
    assert stored is not None, output
    assert int(stored[1]) == len(found), "configurations"
    said = answers(output, model)
    assert said["reached"] == set(found.reached), "reachable states"
    stuck = {found.unpack(i)[0] for i in found.found.stuck}
    assert said["stuck"] == stuck, "states with a stuck configuration"
    invariants = {p.location: p.name for p in spec.properties if p.kind is PropertyKind.ALWAYS}
    violated = {
        invariants[f.location]
        for f in result.findings
        if f.rule == "property-violated" and f.location in invariants
    }
    assert said["violated"] == violated, "always properties that fail"
    for finding in result.findings:
        if finding.trace or finding.cycle:
            replay(spec, finding)  # raises unless each step is the semantics' own


SPEC_TEXT = (
    "statewright: 1\nmachine: counter\ninitial: COUNTING\n"
    "variables: {n: {type: int, min: 0, max: 3, initial: 0}}\n"
    "states: {COUNTING: {}, STUCK: {}, DONE: {final: true}}\n"
    "transitions:\n"
    "  - {from: COUNTING, to: COUNTING, trigger: tick, when: n < 3, set: {n: n + 1}}\n"
    "  - {from: COUNTING, to: STUCK, trigger: stop, when: n == 2}\n"
    "  - {from: STUCK, to: DONE, trigger: go, when: n > 2}\n"
    "properties:\n  small: {always: n < 3}\n"
)


def test_a_known_model_answers_as_expected(tmp_path: Path) -> None:
    spec = check_text(SPEC_TEXT).spec
    assert spec is not None
    model = promela(spec)
    output = spin(model.text, tmp_path)
    assert "5 states, stored" in output
    assert answers(output, model) == {
        "reached": {"COUNTING", "STUCK"},
        "stuck": {"COUNTING", "STUCK"},  # COUNTING at n=3: neither tick nor stop
        "violated": {"small"},
    }
    stuck = [f.states for f in check_text(SPEC_TEXT).findings if f.rule == "stuck"]
    assert sorted(stuck) == [("COUNTING",), ("STUCK",)]


def test_spin_counts_the_configurations_of_a_quorum_gate(tmp_path: Path) -> None:
    """The release review's gate: 2 approvals and an escalation give its REVIEW four
    configurations (0 or 1 approval counted, escalated or not), for Spin as for the
    explorer: 8 in all, where the states alone are 5."""
    spec = check_text(Path("specs/release_review.yaml").read_text()).spec
    assert spec is not None
    model = promela(spec)
    assert "gv0 = gv0 + 1" in model.text and "ge0 = true" in model.text
    output = spin(model.text, tmp_path)
    assert "8 states, stored" in output
    assert len(explore(spec)) == 8


def bench_rollback_pipeline(stages: int) -> str:
    """The pipeline of ``benchmarks/bench_rollback.py``: ``stages`` agent stages with
    review gates, retry and revision budgets, ``rollback: {keep: [attempts, revisions],
    max: 3}``."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_rollback.py"
    found = importlib.util.spec_from_file_location("bench_rollback", path)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    found.loader.exec_module(module)
    text: str = module.pipeline_spec(stages, 3, 3, 3, True)
    return text


def test_a_50_stage_pipeline_with_rollback_translates_and_checks(tmp_path: Path) -> None:
    """Rollback in one ``atomic`` step: 2,481 configurations leave by a rollback, to
    212,038 targets in all, which one inlined ``d_step`` each made more than Spin's
    parser could hold from about 25 stages. Now Spin stores exactly the explorer's
    configurations, and answers every question as it does."""
    result = check_text(bench_rollback_pipeline(50), max_configurations=100_000)
    spec = result.spec
    assert spec is not None
    found = explore(spec, 100_000)
    assert found.complete
    model = promela(spec)
    assert model.text.count("atomic") == 1 and len(model.text) < 1_000_000
    output = spin(model.text, tmp_path)
    stored = re.search(r"(\d+) states, stored", output)
    assert stored is not None, output
    assert int(stored[1]) == len(found) > 5000
    said = answers(output, model)
    assert said["reached"] == set(found.reached)
    assert said["stuck"] == {found.unpack(i)[0] for i in found.found.stuck}


def test_a_rollback_that_does_not_keep_is_refused(tmp_path: Path) -> None:
    """The translation writes what a rollback restores; a relation whose rollback
    changes a ``keep`` variable, or counts other than one, cannot be written so."""
    text = bench_rollback_pipeline(1)
    spec = check_text(text).spec
    assert spec is not None
    relation: Rollbacks = {
        ("S0_REVIEW", (0, 1), 0): [("S0_RUNNING", (0, 0), 1)],  # revisions restored
    }
    with pytest.raises(ValueError, match="does not carry keep over"):
        promela(spec, rollbacks=relation)
    recounted: Rollbacks = {("S0_REVIEW", (0, 1), 0): [("S0_RUNNING", (0, 1), 2)]}
    with pytest.raises(ValueError, match="count one rollback"):
        promela(spec, rollbacks=recounted)
