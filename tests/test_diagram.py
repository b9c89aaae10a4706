"""Diagrams: the model, DOT and Mermaid (golden), SVG (rendered), hostile text, no ``dot``.

The golden files live in ``tests/golden/diagram/``. After an intended change to the
diagrams, regenerate them with::

    STATEWRIGHT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_diagram.py

and review the diff before committing it.
"""

from __future__ import annotations

import os
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from statewright.generator.diagram import diagram_files, render_format
from statewright.generator.diagram.dot import DotMissing, quoted, render_dot, render_image
from statewright.generator.diagram.mermaid import mermaid_text, render_mermaid
from statewright.generator.diagram.model import Diagram, EdgeKind, build_diagram
from statewright.verify.check import check_file
from statewright.verify.findings import Finding, Severity, TransitionRef
from statewright.verify.model import Duration, Kind, Location, Reason, Spec, State, Transition

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden" / "diagram"
UPDATE = os.environ.get("STATEWRIGHT_UPDATE_GOLDEN") == "1"
SVG = "{http://www.w3.org/2000/svg}"
XLINK_TITLE = "{http://www.w3.org/1999/xlink}title"
needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None and os.environ.get("CI") != "true",
    reason="Graphviz 'dot' is not installed (CI installs it and never skips)",
)


def at(line: int) -> Location:
    return Location("tiny.yaml", line, 3)


def state(name: str, kind: Kind | None, **extra: Any) -> State:
    return State(name, at(1), kind, **extra)


def tiny_spec() -> Spec:
    """Every state kind, a final state, a stage, and every kind of edge."""
    states = (
        state("IDLE", Kind.IDLE, description="Waiting."),
        state("WORKING", Kind.RUNNING, stage="work"),
        state("CHECKING", Kind.RUNNING, stage="work"),
        state("GATE", Kind.APPROVAL, reviewers=("lead",)),
        state("FAILED", Kind.FAILED, reviewers=("on_call",)),
        state("DONE", Kind.COMPLETE),
        state("ARCHIVED", None, final=True),
        state("ORPHAN", Kind.RUNNING, stage="work"),
    )
    hours = Duration("72h", 72 * 3600)
    rows: list[tuple[str, str, str, dict[str, Any]]] = [
        ("IDLE", "WORKING", "task_received", {}),
        ("WORKING", "CHECKING", "always", {}),
        ("CHECKING", "GATE", "checked", {}),
        ("GATE", "DONE", "approved", {"human": True}),
        ("GATE", "FAILED", "rejected", {"human": True, "reason": "REJECTED"}),
        ("GATE", "FAILED", "gate_timeout", {"after": hours, "reason": "TIMEOUT"}),
        ("WORKING", "FAILED", "crashed", {}),
        ("FAILED", "WORKING", "resumed", {"human": True, "description": "After a look."}),
        ("DONE", "ARCHIVED", "archived", {}),
    ]
    transitions = tuple(
        Transition(src, dst, trig, at(10 + i), i, **extra)
        for i, (src, dst, trig, extra) in enumerate(rows)
    )
    reasons = (Reason("REJECTED", at(30), ("Resubmit",)), Reason("TIMEOUT", at(31), ("Ask",)))
    return Spec("tiny.yaml", "tiny", "IDLE", states, transitions, reasons, sha256="ab" * 32)


def tiny_findings() -> tuple[Finding, ...]:
    crashed = TransitionRef("WORKING", "FAILED", "crashed")
    return (
        Finding("unreachable-state", Severity.ERROR, "ORPHAN is unreachable", at(9), ("ORPHAN",)),
        Finding("dead-end", Severity.ERROR, "ORPHAN has no exits", at(9), ("ORPHAN",)),
        Finding(
            "failure-missing-reason",
            Severity.ERROR,
            "WORKING -> FAILED has no reason",
            at(16),
            ("WORKING",),
            (crashed,),
        ),
        Finding("unused-reason", Severity.WARNING, "TIMEOUT is unused", at(31), reasons=("X",)),
    )


def tiny() -> Diagram:
    return build_diagram(tiny_spec(), tiny_findings())


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"{path} is missing; run with STATEWRIGHT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8"), f"{name} differs from its golden file"


# The model


def test_nodes_have_safe_ids_in_declaration_order() -> None:
    diagram = tiny()
    assert [n.id for n in diagram.nodes] == [f"s{i}" for i in range(8)]
    assert [n.name for n in diagram.nodes][:2] == ["IDLE", "WORKING"]
    assert diagram.initial == "s0"


def test_every_edge_kind_is_recognised() -> None:
    kinds = {e.trigger: e.kind for e in tiny().edges}
    assert kinds["task_received"] is EdgeKind.TRIGGER
    assert kinds["always"] is EdgeKind.AUTOMATIC
    assert kinds["approved"] is EdgeKind.HUMAN
    assert kinds["gate_timeout"] is EdgeKind.TIMED


def test_stages_group_their_states_and_the_rest_are_loose() -> None:
    diagram = tiny()
    assert [(s.name, [n.name for n in s.nodes]) for s in diagram.stages] == [
        ("work", ["WORKING", "CHECKING", "ORPHAN"])
    ]
    assert "WORKING" not in [n.name for n in diagram.loose]


def test_findings_mark_states_or_transitions_never_both() -> None:
    diagram = tiny()
    marks = {n.name: [m.rule for m in n.marks] for n in diagram.nodes}
    assert marks["ORPHAN"] == ["dead-end", "unreachable-state"]
    assert marks["WORKING"] == []  # its finding is about a transition, drawn on the edge
    edge_marks = {e.trigger: [m.rule for m in e.marks] for e in diagram.edges}
    assert edge_marks["crashed"] == ["failure-missing-reason"]
    assert edge_marks["resumed"] == []
    assert len(diagram.findings) == 4  # a reason finding is listed, if not placed


# DOT and Mermaid, golden


def test_dot_matches_golden() -> None:
    check_golden("tiny.dot", render_dot(tiny()))


def test_mermaid_matches_golden() -> None:
    check_golden("tiny.mmd", render_mermaid(tiny()))


def test_dot_draws_kinds_edges_legend_and_findings() -> None:
    dot = render_dot(tiny())
    assert "shape=hexagon" in dot and "shape=octagon" in dot  # approval, failed
    assert "peripheries=2" in dot  # ARCHIVED is final
    assert "start -> s0" in dot  # the entry point
    for style in ("style=bold", "style=dashed", "style=dotted", "style=solid"):
        assert style in dot
    assert "after 72h" in dot and "\u21d2 REJECTED" in dot
    assert "<B>States</B>" in dot and "<B>Transitions</B>" in dot and "<B>Findings</B>" in dot
    assert "subgraph cluster_0" in dot and "stage <B>work</B>" in dot
    orphan = next(line for line in dot.splitlines() if line.strip().startswith("s7 "))
    assert "dashed" in orphan and 'color="#dc2626"' in orphan and "penwidth=4" in orphan


def test_a_waiting_state_has_its_shape_colour_and_legend_entry_only_when_used() -> None:
    spec = tiny_spec()
    hook = state("HOOK", Kind.WAITING)
    waiting = Spec(spec.file, spec.machine, spec.initial, (*spec.states, hook), spec.transitions)
    dot = render_dot(build_diagram(waiting, ()))
    node = next(line for line in dot.splitlines() if line.strip().startswith("s8 "))
    assert "shape=parallelogram" in node and 'fillcolor="#cffafe"' in node
    assert "waiting on the outside world" in dot
    mermaid = render_mermaid(build_diagram(waiting, ()))
    assert "classDef waiting " in mermaid and "class s8,legend_waiting waiting" in mermaid
    for text in (render_dot(tiny()), render_mermaid(tiny())):  # no waiting state: no entry
        assert "waiting on the outside world" not in text and "legend_waiting" not in text


LEGEND_ENTRIES = {
    "waiting for input": Kind.IDLE,
    "agents working": Kind.RUNNING,
    "human review gate": Kind.APPROVAL,
    "stopped with a reason code": Kind.FAILED,
    "finished": Kind.COMPLETE,
    "no kind given": None,
}
EVERY_OTHER_ENTRY = (
    "final state",
    "unreachable state",
    "human decision",
    "timed: fires after a delay",
    "automatic, on entry",
    "reason code",
    "error found by check",
    "warning found by check",
    "transition a finding names",
)


def legend(dot: str) -> set[str]:
    """The meanings the DOT legend lists."""
    return set(re.findall(r'<TD ALIGN="LEFT">([^<]+)</TD></TR>', dot))


def test_the_legend_shows_only_what_is_drawn() -> None:
    """Two kinds, one plain trigger, a final state: a legend of five lines, not twenty."""
    states = (state("IDLE", Kind.IDLE), state("DONE", Kind.COMPLETE, final=True))
    spec = Spec("door.yaml", "door", "IDLE", states, (Transition("IDLE", "DONE", "go", at(5), 0),))
    dot = render_dot(build_diagram(spec, ()))
    expected = {"waiting for input", "finished", "final state", "initial state", "trigger"}
    assert legend(dot) == expected
    mermaid = render_mermaid(build_diagram(spec, ()))
    assert "note right of legend_complete : thick border final\n" in mermaid
    for absent in ("legend_running", "legend_approval", "legend_failed", "legend_plain"):
        assert absent not in mermaid


def test_the_orchestrators_legend_lists_what_it_uses() -> None:
    result = check_file(ROOT / "specs" / "orchestrator.yaml")
    assert result.spec is not None
    dot = render_dot(build_diagram(result.spec, result.findings))
    kinds = {s.kind for s in result.spec.states}
    assert legend(dot) & set(LEGEND_ENTRIES) == {m for m, k in LEGEND_ENTRIES.items() if k in kinds}
    assert legend(dot) & set(EVERY_OTHER_ENTRY) == {
        "human decision",
        "timed: fires after a delay",
        "reason code",
    }
    assert "no kind given" not in (ROOT / "generated/orchestrator/orchestrator.mmd").read_text()


def test_a_diagram_with_findings_explains_their_marks() -> None:
    assert legend(render_dot(tiny())) >= {
        "unreachable state",
        "error found by check",
        "transition a finding names",
    }
    assert "warning found by check" not in legend(render_dot(tiny()))  # none is drawn


def test_info_findings_are_not_drawn() -> None:
    note = Finding("asl-not-modelled", Severity.INFO, "Retry", at(2), ("IDLE",))
    with_note = build_diagram(tiny_spec(), (*tiny_findings(), note))
    assert render_dot(with_note) == render_dot(tiny())
    assert render_mermaid(with_note) == render_mermaid(tiny())


def test_without_findings_there_is_no_findings_table_and_no_marks() -> None:
    dot = render_dot(build_diagram(tiny_spec(), ()))
    assert "Findings" not in dot and "\u26a0 dead-end" not in dot


def test_mermaid_has_entry_stages_classes_and_notes() -> None:
    text = render_mermaid(tiny())
    assert text.splitlines()[1] == "stateDiagram-v2"
    assert "    [*] --> s0" in text and "    s6 --> [*]" in text
    assert 'state "stage work" as stage0 {' in text
    assert "classDef approval " in text and "class s3,legend_approval approval" in text
    assert "note right of s7 : \u26a0 unreachable-state" not in text  # sorted: dead-end first
    assert "note right of s7 : \u26a0 dead-end<br/>\u26a0 unreachable-state" in text
    assert "s1 --> s4 : crashed \u26a0 failure-missing-reason" in text
    assert "s3 --> s4 : gate_timeout after 72h \u21d2 TIMEOUT" in text


def test_outputs_are_deterministic() -> None:
    assert render_dot(tiny()) == render_dot(tiny())
    assert render_mermaid(tiny()) == render_mermaid(tiny())


# Hostile names and descriptions

HOSTILE = 'A"B\\C{D}<script>alert(1)</script>&amp; %% #x; [y] |z| \\N'


def hostile_spec() -> Spec:
    states = (
        state(HOSTILE, Kind.IDLE, description=HOSTILE + "\nline two"),
        state("B:C;D", Kind.COMPLETE, final=True, stage='st"age{}'),
    )
    transitions = (Transition(HOSTILE, "B:C;D", 'go"\\{}', at(5), 0, reason="R<1>"),)
    return Spec("h.yaml", 'ma"ch', HOSTILE, states, transitions)


def decode_mermaid(text: str) -> str:
    return re.sub(r"#(\d+);", lambda m: chr(int(m[1])), text)


def test_quoted_and_mermaid_escapes() -> None:
    assert quoted('a"b') == 'a\\"b'
    assert "\n" not in quoted("a\nb")
    assert decode_mermaid(mermaid_text(HOSTILE)) == HOSTILE
    bare = re.sub(r"#\d+;", "", mermaid_text(HOSTILE))
    assert not set(bare) & set('#"%&:;<>{}[]|`\\')


def test_mermaid_writes_hostile_names_as_entity_codes() -> None:
    text = render_mermaid(build_diagram(hostile_spec(), ()))
    assert "<script>" not in text
    labels = re.findall(r'^\s*state "([^"]*)" as s\d+$', text, re.MULTILINE)
    assert [decode_mermaid(label) for label in labels] == ["B:C;D", HOSTILE]
    edge = next(line for line in text.splitlines() if "-->" in line and "[*]" not in line)
    assert decode_mermaid(edge.split(" : ", 1)[1]) == 'go"\\{} \u21d2 R<1>'


def svg_texts(svg: str) -> tuple[list[str], list[str]]:
    """The text elements and the tooltips of an SVG."""
    root = ET.fromstring(svg)
    texts = ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]
    titles = [a.get(XLINK_TITLE, "") for a in root.iter(f"{SVG}a")]
    return texts, titles


@needs_dot
def test_hostile_names_render_literally_in_svg() -> None:
    svg = render_image(render_dot(build_diagram(hostile_spec(), ())), "svg").decode()
    texts, titles = svg_texts(svg)
    assert HOSTILE in texts and "B:C;D" in texts
    assert 'go"\\{}' in texts and "\u21d2 R<1>" in texts
    assert f"{HOSTILE}\n{HOSTILE} line two" not in titles  # newlines kept, not folded
    assert f"{HOSTILE}\n{HOSTILE}\nline two" in titles
    assert "<script>" not in svg


# SVG and PNG, rendered by the real dot


@needs_dot
def test_svg_shows_every_state_the_legend_and_the_findings() -> None:
    files = diagram_files(tiny_spec(), tiny_findings())
    assert sorted(files) == ["tiny.dot", "tiny.mmd", "tiny.svg"]
    texts, titles = svg_texts(files["tiny.svg"])
    for name in tiny_spec().state_names:
        assert name in texts
    assert {"States", "Transitions", "Findings"} <= set(texts)
    assert "\u26a0 dead-end" in texts and "\u26a0 failure-missing-reason" in texts
    orphan = "ORPHAN\nerror[dead-end] ORPHAN has no exits\nerror[unreachable-state] ORPHAN is"
    assert f"{orphan} unreachable" in titles


@needs_dot
def test_svg_is_deterministic_and_png_is_a_png() -> None:
    dot = render_dot(tiny())
    assert render_image(dot, "svg") == render_image(dot, "svg")
    assert b"Generated by graphviz" not in render_image(dot, "svg")
    assert render_format(tiny(), "png").startswith(b"\x89PNG\r\n\x1a\n")


# Without Graphviz


def test_without_dot_images_raise_dot_missing_naming_the_package(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(DotMissing, match="apt-get install graphviz"):
        render_image(render_dot(tiny()), "svg")
    with pytest.raises(DotMissing):
        diagram_files(tiny_spec(), ())
    assert render_format(tiny(), "mermaid").startswith(b"%% Generated")
    assert render_format(tiny(), "dot").startswith(b"// Generated")
