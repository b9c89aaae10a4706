"""Counterexamples become tests: ``statewright check --regressions DIR``.

The whole cycle, for real, in a temporary project: the runtime of a spec is generated,
a property is added and fails, ``check --regressions`` writes its test, the test fails
on the runtime, the spec is fixed and the runtime regenerated, and the test passes. Once
for each kind of property: ``always``, ``precedence``, and ``leads_to`` (a lasso, and a
run that ends).
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from statewright.generator.cli import main

BASE = """\
statewright: 1
machine: review_loop
initial: DRAFTING
variables:
  rounds: {type: int, min: 0, max: 2, initial: 0}
  approved: {type: bool, initial: false}
states:
  DRAFTING: {kind: running}
  REVIEW: {kind: approval, reviewers: [editor]}
  REJECTED: {kind: failed, final: true}
  PUBLISHED: {kind: complete, final: true}
transitions:
  - {from: DRAFTING, to: REVIEW, trigger: submitted}
  - {from: DRAFTING, to: PUBLISHED, trigger: published_directly, when: rounds == 1}
  - {from: REVIEW, to: DRAFTING, trigger: changes_requested, human: true, set: {rounds: 1}}
  - {from: REVIEW, to: PUBLISHED, trigger: approved, human: true, set: {approved: true}}
  - {from: REVIEW, to: REJECTED, trigger: rejected, human: true, reason: TOO_MANY}
  - {from: REVIEW, to: REJECTED, trigger: timed_out, after: 7d, reason: TOO_MANY}
reasons:
  TOO_MANY: {recovery: [Start over]}
"""

DIRECT = "to: PUBLISHED, trigger: published_directly"
"""Published without a review: what the properties below catch."""

CASES = {
    "always": (
        "  reviewed: {always: state != PUBLISHED or approved}\n",
        ("when: rounds == 1}", "when: rounds == 1, set: {approved: true}}"),
    ),
    "precedence": (
        "  reviewed_first: {precedence: {state: PUBLISHED, requires: approved}}\n",
        (DIRECT, "to: REVIEW, trigger: published_directly"),
    ),
    "leads_to_lasso": (
        "  ends: {leads_to: {from: DRAFTING, to: [PUBLISHED, REJECTED]}}\n",
        ("set: {rounds: 1}", "when: rounds < 1, set: {rounds: 1}"),
    ),
    "leads_to_end": (
        "  drafts_get_reviewed: {leads_to: {from: DRAFTING, to: REVIEW}}\n",
        (DIRECT, "to: REVIEW, trigger: published_directly"),
    ),
}
"""Each case: a property that fails, and the edit of the spec that fixes it."""


def statewright(*args: str, cwd: Path) -> tuple[int, str]:
    out = io.StringIO()
    old = Path.cwd()
    os.chdir(cwd)
    try:
        stdout, stderr = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = out
        try:
            status = main(list(args))
        finally:
            sys.stdout, sys.stderr = stdout, stderr
    finally:
        os.chdir(old)
    return status, out.getvalue()


def pytest_in(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "regressions", "-p", "no:cacheprovider"],
        cwd=where,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_regression_test_fails_until_the_spec_is_fixed(case: str, tmp_path: Path) -> None:
    prop, (old, new) = CASES[case]
    spec = tmp_path / "review_loop.yaml"
    spec.write_text(BASE)
    assert statewright("generate", "review_loop.yaml", cwd=tmp_path)[0] == 0
    spec.write_text(BASE + "properties:\n" + prop)
    status, said = statewright(
        "check", "review_loop.yaml", "--regressions", "regressions", cwd=tmp_path
    )
    assert status == 1 and "error[property-violated]" in said, said
    (written,) = (tmp_path / "regressions").iterdir()
    assert f"wrote regressions/{written.name}" in said
    failing = pytest_in(tmp_path)
    assert failing.returncode == 1, failing.stdout[-2000:]
    assert "fails on the runtime, as the checker found" in failing.stdout
    spec.write_text(BASE.replace(old, new) + "properties:\n" + prop)
    status, said = statewright("check", "review_loop.yaml", cwd=tmp_path)
    assert status == 0, said
    assert statewright("generate", "review_loop.yaml", cwd=tmp_path)[0] == 0
    passing = pytest_in(tmp_path)
    assert passing.returncode == 0, passing.stdout[-2000:]


def test_a_file_statewright_did_not_write_is_never_overwritten(tmp_path: Path) -> None:
    spec = tmp_path / "review_loop.yaml"
    spec.write_text(BASE + "properties:\n" + CASES["always"][0])
    folder = tmp_path / "regressions"
    folder.mkdir()
    mine = folder / "test_review_loop__reviewed.py"
    mine.write_text("# my own test\n")
    status, said = statewright(
        "check", "review_loop.yaml", "--regressions", "regressions", cwd=tmp_path
    )
    assert status == 2 and "was not written by statewright" in said
    assert mine.read_text() == "# my own test\n"
