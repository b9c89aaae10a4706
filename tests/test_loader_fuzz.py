"""Fuzzing the loader: whatever the input, findings and never an exception.

Every finding must carry a registered rule id and a 1-based line and column that lie
within the text (counting line breaks as YAML does).
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statewright.verify.load import load_text
from statewright.verify.rules import RULES

ROOT = Path(__file__).resolve().parent.parent
SEEDS = [
    (ROOT / "tests" / "data" / "loader" / "design_example.yaml").read_text(),
    *(path.read_text() for path in sorted(ROOT.glob("specs/**/*.yaml"))),
]
FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")
# Characters that mean something to YAML or to the format, for character flips.
_SIGNIFICANT = st.sampled_from(list(":-[]{},&*!|>'\"#%@`?~ \t\n0123456789aZ_\x00\x85\ufeff"))


def assert_well_formed(text: str | bytes) -> None:
    result = load_text(text, "fuzz.yaml")
    assert (result.spec is None) == bool(result.findings)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    lines = _BREAK.split(text)
    for finding in result.findings:
        assert finding.rule in RULES, finding
        line, column = finding.location.line, finding.location.column
        assert 1 <= line <= len(lines) + 1, finding
        assert 1 <= column <= (len(lines[line - 1]) if line <= len(lines) else 0) + 1, finding
        assert finding.location.file == "fuzz.yaml"


@FUZZ
@given(st.text())
def test_arbitrary_text(text: str) -> None:
    assert_well_formed(text)


@FUZZ
@given(st.binary())
def test_arbitrary_bytes(data: bytes) -> None:
    assert_well_formed(data)


@st.composite
def mutated_specs(draw: st.DrawFn) -> str:
    """A shipped spec with a few lines deleted, duplicated or swapped, and characters flipped."""
    lines = draw(st.sampled_from(SEEDS)).splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        j = draw(st.integers(0, len(lines) - 1))
        operation = draw(st.sampled_from(["delete", "duplicate", "swap", "flip", "insert"]))
        if operation == "delete":
            del lines[i]
        elif operation == "duplicate":
            lines.insert(j, lines[i])
        elif operation == "swap":
            lines[i], lines[j] = lines[j], lines[i]
        elif operation == "flip" and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            char = draw(_SIGNIFICANT | st.characters())
            lines[i] = lines[i][:k] + char + lines[i][k + 1 :]
        elif operation == "insert":
            lines.insert(i, draw(st.text(max_size=40)) + "\n")
        if not lines:
            lines = [""]
    return "".join(lines)


@FUZZ
@given(mutated_specs())
def test_mutated_specs(text: str) -> None:
    assert_well_formed(text)


@FUZZ
@given(mutated_specs())
def test_mutated_specs_as_bytes(text: str) -> None:
    assert_well_formed(text.encode("utf-8", "surrogatepass"))
