"""The sketched discovery pipeline: exactly what the checker must find in it.

The sketch (specs/examples/discovery_pipeline_sketch.yaml) is the pipeline as first drawn:
HUNTER_COMPLETE and FORGE_COMPLETE lead nowhere, the architecture gate has no reject and
no timeout, and nothing leads back from FAILED or COMPLETE. Everything downstream of
HUNTER_COMPLETE is therefore unreachable, and every transition out of it uncoverable.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from statewright.verify.check import check_file
from statewright.verify.findings import Severity

ROOT = Path(__file__).resolve().parents[1]
SKETCH = ROOT / "specs" / "examples" / "discovery_pipeline_sketch.yaml"

DOWNSTREAM = {
    "ATLAS_RUNNING",
    "ATLAS_COMPLETE",
    "ATLAS_FAILED",
    "WAITING_ARCHITECTURE_APPROVAL",
    "FORGE_RUNNING",
    "FORGE_COMPLETE",
    "FORGE_FAILED",
    "SENTINEL_RUNNING",
    "SENTINEL_COMPLETE",
    "SENTINEL_FAILED",
    "COMPLETE",
}


def test_sketch_findings_are_exactly_the_known_gaps() -> None:
    result = check_file(SKETCH)
    assert result.spec is not None
    by_rule: dict[str, list[tuple[str, ...]]] = defaultdict(list)
    for finding in result.findings:
        by_rule[finding.rule].append(finding.states)

    assert set(by_rule) == {
        "dead-end",
        "unreachable-state",
        "uncoverable-transition",
        "approval-missing-reject",
        "approval-missing-timeout",
        "failed-without-recovery",
        "running-without-deadline",
    }
    assert sorted(s for (s,) in by_rule["dead-end"]) == sorted(
        ["HUNTER_COMPLETE", "FORGE_COMPLETE", "FAILED", "COMPLETE"]
    )
    assert by_rule["approval-missing-reject"] == [("WAITING_ARCHITECTURE_APPROVAL",)]
    assert by_rule["approval-missing-timeout"] == [("WAITING_ARCHITECTURE_APPROVAL",)]
    assert by_rule["failed-without-recovery"] == [("FAILED",)]
    assert sorted(s for (s,) in by_rule["running-without-deadline"]) == sorted(
        f"{stage}_RUNNING" for stage in ("SCOUT", "HUNTER", "ATLAS", "FORGE", "SENTINEL")
    )
    assert {s for (s,) in by_rule["unreachable-state"]} == DOWNSTREAM
    assert len(by_rule["unreachable-state"]) == len(DOWNSTREAM)

    spec = result.spec
    downstream_exits = {t.key for t in spec.transitions if t.source in DOWNSTREAM}
    uncoverable = {
        f.transitions[0].source + " " + f.transitions[0].trigger + " " + f.transitions[0].target
        for f in result.findings
        if f.rule == "uncoverable-transition"
    }
    assert uncoverable == {f"{s} {tr} {t}" for (s, t, tr) in downstream_exits}
    assert len(downstream_exits) == 17

    severities = {f.rule: f.severity for f in result.findings}
    warnings = {"failed-without-recovery", "running-without-deadline"}
    assert all(severities[r] is Severity.WARNING for r in warnings)
    assert all(s is Severity.ERROR for r, s in severities.items() if r not in warnings)
    assert result.coverage is not None
    assert result.coverage.covered == result.coverage.total == 13


def test_completed_pipeline_passes_every_rule() -> None:
    result = check_file(ROOT / "specs" / "discovery_pipeline.yaml")
    assert result.findings == ()
    assert result.stats is not None
    assert (result.stats.states, result.stats.reachable) == (20, 20)
    assert result.coverage is not None
    assert result.coverage.covered == result.coverage.total == result.stats.transitions
