"""A spec with load errors still gets the other rules' findings, as a compiler goes on
after an error: a newcomer who wrote ``kind: idel`` also learns, in the same round, that
another state is a dead end. The spec stays "not loaded" (never generated), and what a
load error touched is left to that error.

The oracle: a valid random spec, written out, gets one harmless load error (an unknown key
on one transition's line); its findings must be the load finding plus exactly the valid
spec's findings that are not about that line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_graph_properties import random_specs

from statewright.generator.cli import main
from statewright.generator.spec_yaml import spec_yaml
from statewright.verify.check import check_text
from statewright.verify.model import Spec

KIND_TYPO = """\
statewright: 1
machine: m
initial: A
states:
  A: {kind: idel}
  B: {}
  C: {kind: complete, final: true}
transitions:
  - {from: A, to: B, trigger: go}
  - {from: A, to: C, trigger: finish, colour: red}
"""


def rules(text: str) -> list[tuple[int, str]]:
    return [(f.location.line, f.rule) for f in check_text(text, "m.yaml").findings]


def test_the_other_findings_come_with_the_load_errors() -> None:
    result = check_text(KIND_TYPO, "m.yaml")
    assert result.spec is None and not result.ok()
    assert rules(KIND_TYPO) == [(5, "schema"), (6, "dead-end"), (10, "schema")]


def test_what_a_load_error_touched_is_left_to_it() -> None:
    """``final: yes`` is not read, so C would be a dead end; a reason not declared is
    left out, so the transition would enter a failed state without one."""
    text = KIND_TYPO.replace("idel", "idle").replace(", colour: red", "")
    assert rules(text) == [(6, "dead-end")]
    assert rules(text.replace("final: true", "final: yes")) == [(6, "dead-end"), (7, "schema")]
    failing = text.replace(
        "C: {kind: complete, final: true}", "C: {kind: failed, reviewers: [ops], final: true}"
    ).replace("trigger: finish}", "trigger: finish, reason: CRASH}")
    assert [r for _, r in rules(failing)] == ["dead-end", "unknown-reason"]


def test_a_file_that_is_not_a_spec_gives_its_load_finding_alone() -> None:
    assert [r for _, r in rules("- just\n- a list\n")] == ["yaml-syntax"]
    assert [r for _, r in rules("statewright: 1\nmachine: m\ninitial: A\n")] == ["schema"]


def test_the_command_line_reports_both_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = tmp_path / "m.yaml"
    spec.write_text(KIND_TYPO)
    assert main(["check", str(spec)]) == 1
    out = capsys.readouterr().out
    assert "error[dead-end] B has no exits" in out and "unknown kind 'idel'" in out
    assert "m.yaml: not loaded: failed; 3 errors" in out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_specs(), st.data())
def test_one_unknown_key_changes_nothing_else(spec: Spec, data: st.DataObject) -> None:
    text = spec_yaml(spec)
    lines = text.splitlines(keepends=True)
    rows = [i for i, line in enumerate(lines) if line.startswith("  - {from: ")]
    if not rows:
        return
    row = data.draw(st.sampled_from(rows))
    assert lines[row].rstrip().endswith("}")
    lines[row] = lines[row].rstrip()[:-1] + ", colour: red}\n"
    broken = check_text("".join(lines), "m.yaml")
    valid = check_text(text, "m.yaml")
    assert valid.spec is not None and broken.spec is None
    line = row + 1
    [load] = [f for f in broken.findings if f.rule == "schema"]
    assert load.location.line == line
    expected = [f.format() for f in valid.findings if f.location.line != line]
    assert [f.format() for f in broken.findings if f is not load] == expected
