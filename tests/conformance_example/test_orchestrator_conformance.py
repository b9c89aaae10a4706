"""Property-test the hand-written orchestrator against specs/orchestrator.yaml."""

from __future__ import annotations

from pathlib import Path

from hypothesis import settings

from conformance_example.adapter import OrchestratorAdapter
from conformance_example.orchestrator import Orchestrator
from statewright.verify.conformance import conformance_test
from statewright.verify.load import load_file

SPEC = load_file(Path(__file__).resolve().parents[2] / "specs" / "orchestrator.yaml").spec
assert SPEC is not None, "specs/orchestrator.yaml does not load"

TestOrchestratorConformance = conformance_test(
    SPEC,
    OrchestratorAdapter(Orchestrator),
    settings=settings(max_examples=100, derandomize=True, deadline=None),
).TestCase
