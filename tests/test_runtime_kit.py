"""Shared helpers of the runtime tests: generate a module from inline YAML and import it,
and a clock the tests move by hand. (Collected by pytest, holds no tests of its own.)"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

from generator.render import render_runtime
from verify.check import check_text
from verify.model import Spec

__all__ = ["ORCHESTRATOR", "Clock", "generate", "load_spec", "runtime"]

ORCHESTRATOR = """\
statewright: 1
machine: gatekeeper
description: A small pipeline with every kind of state.
initial: IDLE
states:
  IDLE: {kind: idle}
  RUNNING: {kind: running}
  CHECKED: {kind: complete}
  REVIEW: {kind: approval, reviewers: [tech_lead, architect]}
  STAGE_FAILED: {kind: failed}
  FAILED: {kind: failed, reviewers: [on_call]}
  DONE: {kind: complete}
transitions:
  - {from: IDLE, to: RUNNING, trigger: task_received}
  - {from: RUNNING, to: CHECKED, trigger: checks_passed}
  - {from: CHECKED, to: REVIEW, trigger: always}
  - {from: RUNNING, to: STAGE_FAILED, trigger: agent_error, reason: AGENT_ERROR}
  - {from: STAGE_FAILED, to: FAILED, trigger: always}
  - {from: REVIEW, to: DONE, trigger: approved, human: true}
  - {from: REVIEW, to: FAILED, trigger: rejected, human: true, reason: REJECTED}
  - {from: REVIEW, to: FAILED, trigger: review_timeout, after: 72h, reason: TIMEOUT_APPROVAL}
  - {from: FAILED, to: RUNNING, trigger: resumed, human: true}
  - {from: DONE, to: IDLE, trigger: housekeeping_done}
reasons:
  AGENT_ERROR: {recovery: [Read the snapshot, Resume]}
  REJECTED: {recovery: [Read the decision record, Revise, Resubmit]}
  TIMEOUT_APPROVAL: {recovery: [Confirm the roster, Re-request approval]}
"""

START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now
        self.calls = 0

    def __call__(self) -> datetime:
        self.calls += 1
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def load_spec(text: str, file: str = "specs/inline.yaml") -> Spec:
    """Load and check inline YAML; fails the test on any error finding."""
    result = check_text(textwrap.dedent(text), file)
    assert result.spec is not None and result.ok(), [f.format() for f in result.findings]
    return result.spec


def generate(spec: Spec, folder: Path) -> ModuleType:
    """Render ``spec``'s runtime into ``folder`` and import it under a unique name."""
    source = render_runtime(spec)
    name = f"rt_{spec.machine}_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    if name in sys.modules:
        return sys.modules[name]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    module_spec = importlib.util.spec_from_file_location(name, path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    module_spec.loader.exec_module(module)
    return module


def runtime(text: str = ORCHESTRATOR, folder: Path | None = None) -> ModuleType:
    """The imported runtime of inline YAML (cached by its generated source)."""
    return generate(load_spec(text), folder or _scratch())


def _scratch() -> Path:
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix="statewright-runtime-"))
    return _SCRATCH


_SCRATCH: Path | None = None
