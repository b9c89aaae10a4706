"""Shared helpers of the runtime tests: generate a module from inline YAML and import it,
and a clock the tests move by hand. (Collected by pytest, holds no tests of its own.)"""

from __future__ import annotations

import hashlib
import importlib
import sys
import tempfile
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

from statewright.generator.render import render_runtime, render_support
from statewright.verify.check import check_text
from statewright.verify.model import Spec

__all__ = [
    "ORCHESTRATOR",
    "Clock",
    "generate",
    "load_spec",
    "on_call",
    "runtime",
    "write_package",
]

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
rollback: {reviewers: [on_call]}
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


def on_call(rt: ModuleType) -> object:
    """An actor who may roll a gatekeeper back."""
    return rt.Actor("olu", frozenset({"on_call"}))


def load_spec(text: str, file: str = "specs/inline.yaml") -> Spec:
    """Load and check inline YAML; fails the test on any error finding."""
    result = check_text(textwrap.dedent(text), file)
    assert result.spec is not None and result.ok(), [f.format() for f in result.findings]
    return result.spec


def generate(spec: Spec, folder: Path) -> ModuleType:
    """Render ``spec``'s runtime into a fresh package under ``folder``, beside the runtime
    support as ``generate`` writes it, and import it under a unique name."""
    source = render_runtime(spec)
    name = f"rt_{spec.machine}_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    module_name = f"{name}.{spec.machine}.runtime"
    if module_name in sys.modules:
        return sys.modules[module_name]
    write_package(folder / name, {f"{spec.machine}/runtime.py": source})
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    importlib.invalidate_caches()
    return importlib.import_module(module_name)


def write_package(package: Path, files: dict[str, str]) -> Path:
    """A package at ``package`` holding ``files`` (machine folders get an ``__init__.py``)
    beside the runtime support, as ``statewright generate`` lays it out."""
    folders = {name.split("/")[0] for name in files if "/" in name}
    laid_out = {
        "__init__.py": "",
        **{f"{folder}/__init__.py": "" for folder in folders},
        **render_support(),
        **files,
    }
    for relative, text in laid_out.items():
        path = package / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return package


def runtime(text: str = ORCHESTRATOR, folder: Path | None = None) -> ModuleType:
    """The imported runtime of inline YAML (cached by its generated source)."""
    return generate(load_spec(text), folder or _scratch())


def _scratch() -> Path:
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix="statewright-runtime-"))
    return _SCRATCH


_SCRATCH: Path | None = None
