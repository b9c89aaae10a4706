"""Root causes first: findings that follow from another are grouped under it in text, and
stay findings of their own in every other format.

The sketch of the discovery pipeline is the case the issue met: 34 errors from a few
mistakes, and a summary ``coverage 13/13 transitions`` that read as full coverage of a
machine of 30 transitions.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from test_graph_properties import random_specs

from statewright.generator.cli import main
from statewright.verify.causes import link_causes, root_states
from statewright.verify.check import check_file, check_text
from statewright.verify.graph import build_graph, reachable
from statewright.verify.model import Spec

ROOT = Path(__file__).resolve().parents[1]
SKETCH = "specs/examples/discovery_pipeline_sketch.yaml"


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def report(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["check", *argv]) == 1
    return capsys.readouterr().out


def test_the_sketch_leads_with_its_root_causes(capsys: pytest.CaptureFixture[str]) -> None:
    lines = report(capsys, SKETCH).splitlines()
    leading = [line.split(" ", 2)[1] for line in lines if line.startswith(SKETCH + ":")]
    assert leading == [
        "warning[running-without-deadline]",
        "warning[running-without-deadline]",
        "error[dead-end]",
        "warning[running-without-deadline]",
        "error[approval-missing-reject]",
        "error[approval-missing-timeout]",
        "warning[running-without-deadline]",
        "error[dead-end]",
        "warning[running-without-deadline]",
        "error[unreachable-state]",
        "error[dead-end]",
        "warning[failed-without-recovery]",
        "error[dead-end]",
        "discovery_pipeline:",  # the spec's line
    ]
    head = next(i for i, line in enumerate(lines) if "[unreachable-state]" in line)
    assert "SENTINEL_RUNNING is unreachable" in lines[head]
    assert lines[head + 1] == "  27 findings follow from it:"
    following = lines[head + 2 : head + 2 + 27]
    assert all(line.startswith(f"    {SKETCH}:") for line in following)
    assert sum("[unreachable-state]" in line for line in following) == 10
    assert sum("[uncoverable-transition]" in line for line in following) == 17


def test_the_summary_cannot_read_as_full_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    lines = report(capsys, SKETCH).splitlines()
    assert lines[-3].endswith(
        "failed; 34 errors (27 follow from others), 6 warnings; 20 states (9 reachable), "
        "30 transitions; coverage 13/30 transitions in 7 paths (17 can never fire); "
        "a run can wait in SCOUT_RUNNING for ever (it has no after exit)"
    )
    assert lines[-1] == "Checked 1 spec: 1 failed, 34 errors (27 follow from others), 6 warnings."
    assert main(["paths", SKETCH]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "# 13/30 transitions covered by 7 paths of 22 triggers; 17 can never fire "
        "(their source is unreachable)"
    )


def test_a_complete_machine_reads_as_before(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "specs/orchestrator.yaml"]) == 0
    out = capsys.readouterr().out
    assert "coverage 12/12 transitions in 1 path;" in out and "follow" not in out


def test_json_and_sarif_keep_one_finding_each(capsys: pytest.CaptureFixture[str]) -> None:
    document = json.loads(report(capsys, "--format", "json", SKETCH))
    findings = document["specs"][0]["findings"]
    assert len(findings) == 40
    assert all("cause" not in f for f in findings)
    sarif = json.loads(report(capsys, "--format", "sarif", SKETCH))
    assert len(sarif["runs"][0]["results"]) == 40
    github = report(capsys, "--format", "github", SKETCH)
    assert github.count("::error ") == 34


def test_a_cause_is_at_the_head_of_its_region() -> None:
    result = check_file(ROOT / SKETCH)
    causes = {f.cause for f in result.findings if f.cause is not None}
    assert [c.states for c in causes] == [("SENTINEL_RUNNING",)]
    assert all(c in result.findings for c in causes)


def test_an_unreachable_state_with_nothing_after_it_stands_alone() -> None:
    text = """\
statewright: 1
machine: lone
initial: IDLE
states:
  IDLE: {kind: idle}
  DONE: {kind: complete, final: true}
  ORPHAN: {kind: complete, final: true}
transitions:
  - {from: IDLE, to: DONE, trigger: finish}
"""
    (finding,) = check_text(text).findings
    assert finding.rule == "unreachable-state" and finding.cause is None


def test_one_consequence_reads_in_the_singular(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The report once said "1 finding follow from it" and "(1 follow from others)"."""
    spec = tmp_path / "one.yaml"
    spec.write_text(
        "statewright: 1\nmachine: one\ninitial: A\nstates:\n  A: {}\n"
        "  B: {kind: complete, final: true}\n  C: {}\ntransitions:\n"
        "  - {from: A, to: B, trigger: go}\n  - {from: C, to: B, trigger: go}\n"
    )
    out = report(capsys, str(spec))
    assert "\n  1 finding follows from it:\n    " in out
    assert out.count("2 errors (1 follows from another)") == 2
    assert "follow from it" not in out and "follow from others" not in out


@settings(max_examples=300, deadline=None)
@given(random_specs())
def test_every_consequence_is_reached_from_its_cause(spec: Spec) -> None:
    """A head reaches each state it owns through unreachable states alone, and no
    unreachable state outside its own component leads into a head that no reachable
    state leads to."""
    graph = build_graph(spec)
    unreachable = set(graph) - reachable(graph, spec.initial)
    heads = root_states(graph, unreachable)
    assert set(heads) == unreachable
    inside = nx.DiGraph(graph.subgraph(unreachable))
    for state, head in heads.items():
        assert heads[head] == head
        assert state == head or nx.has_path(inside, head, state)
    for head in set(heads.values()):
        entered = any(p not in unreachable for p in graph.predecessors(head))
        upstream = nx.ancestors(inside, head) - nx.descendants(inside, head)
        assert entered or not upstream, (head, upstream)


def test_findings_keep_their_order_and_number() -> None:
    result = check_file(ROOT / SKETCH)
    assert result.spec is not None
    graph = build_graph(result.spec)
    unlinked = [dataclasses.replace(f, cause=None) for f in result.findings]
    linked = link_causes(graph, unlinked)
    assert [f.message for f in linked] == [f.message for f in unlinked]
