"""Diagrams of specs with data: guards and effects on the edges, and a counterexample
drawn with ``statewright diagram --trace``."""

from __future__ import annotations

import io
from pathlib import Path

from statewright.generator.commands.diagram import diagram_command
from statewright.generator.diagram.dot import TRACE_COLOUR, render_dot
from statewright.generator.diagram.mermaid import render_mermaid
from statewright.generator.diagram.model import build_diagram
from statewright.verify.check import check_text

LOOP = """\
statewright: 1
machine: review_loop
initial: DRAFTING
variables:
  rounds: {type: int, min: 0, max: 2, initial: 0}
states:
  DRAFTING: {}
  REVIEW: {kind: approval, reviewers: [editor]}
  REJECTED: {kind: failed, final: true}
  PUBLISHED: {kind: complete, final: true}
transitions:
  - {from: DRAFTING, to: REVIEW, trigger: submitted}
  - {from: REVIEW, to: DRAFTING, trigger: changes_requested, human: true, set: {rounds: 1}}
  - {from: REVIEW, to: PUBLISHED, trigger: approved, human: true, when: rounds < 2}
  - {from: REVIEW, to: REJECTED, trigger: rejected, human: true, reason: TOO_MANY}
  - {from: REVIEW, to: REJECTED, trigger: timed_out, after: 7d, reason: TOO_MANY}
reasons:
  TOO_MANY: {recovery: [Start over]}
properties:
  ends: {leads_to: {from: DRAFTING, to: [PUBLISHED, REJECTED]}}
"""


def write(tmp_path: Path) -> Path:
    path = tmp_path / "review_loop.yaml"
    path.write_text(LOOP)
    return path


def test_guards_and_effects_are_drawn_on_their_edges() -> None:
    result = check_text(LOOP)
    assert result.spec is not None
    diagram = build_diagram(result.spec, result.findings)
    dot, mermaid = render_dot(diagram), render_mermaid(diagram)
    assert "[rounds &lt; 2]" in dot and "/ rounds = 1" in dot
    assert "[guard]" in dot  # the legend explains them
    assert "#91;rounds #60; 2#93;" in mermaid and "/ rounds = 1" in mermaid


def test_a_counterexample_is_numbered_on_the_edges_it_takes(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    status = diagram_command(write(tmp_path), "dot", None, stdout=out, stderr=err, trace="ends")
    assert status == 0, err.getvalue()
    dot = out.getvalue()
    assert "counterexample: 2 steps, then 2 for ever." in dot
    assert "step 1, \u21bb3" in dot and "step 2, \u21bb4" in dot
    assert dot.count(f'color="{TRACE_COLOUR}", penwidth=3.5]') == 2  # the edges it takes
    assert dot.count(f'color="{TRACE_COLOUR}"') == 4  # and the states it passes
    assert "counterexample step" in dot


def test_trace_names_a_property_that_fails(tmp_path: Path) -> None:
    fixed = tmp_path / "fixed.yaml"
    fixed.write_text(LOOP.replace("set: {rounds: 1}", "when: rounds < 1, set: {rounds: 1}"))
    out, err = io.StringIO(), io.StringIO()
    assert diagram_command(fixed, "dot", None, stdout=out, stderr=err, trace="ends") == 1
    assert "property ends holds: there is no counterexample to draw" in err.getvalue()
    err = io.StringIO()
    assert diagram_command(fixed, "dot", None, stdout=out, stderr=err, trace="nope") == 1
    assert "no property of that name (properties: ends)" in err.getvalue()
    assert out.getvalue() == ""
