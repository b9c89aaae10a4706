"""Mistakes a newcomer makes in a scaffolded spec, and what ``check`` tells them.

Each test starts from ``statewright new``'s spec, makes one edit a person makes, runs
``statewright check`` and reads the findings: they name the mistake (a tab, the
indentation, an unquoted glob, a misspelt state), sit on the line to fix, and say what to
write.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from statewright.generator.cli import main
from statewright.verify.load.yamlhints import glob_hint, indentation_hint, tab_hint

TAB = "\t"


@pytest.fixture
def spec(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Path:
    monkeypatch.chdir(tmp_path)
    assert main(["new", "demo", "-o", "demo.yaml"]) == 0
    capsys.readouterr()
    return tmp_path / "demo.yaml"


def check_after(spec: Path, old: str, new: str, capsys: pytest.CaptureFixture[str]) -> str:
    """The one finding ``check`` reports once ``old`` is replaced by ``new`` in the spec."""
    (finding,) = findings_after(spec, old, new, capsys)
    assert "[yaml-syntax]" in finding
    return finding


def findings_after(spec: Path, old: str, new: str, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """The error lines of ``check`` once ``old`` is replaced by ``new`` in the spec."""
    text = spec.read_text()
    assert text.count(old) == 1, old
    spec.write_text(text.replace(old, new))
    assert main(["check", spec.name]) == 1
    return [line for line in capsys.readouterr().out.splitlines() if "error[" in line]


def line_of(spec: Path, fragment: str) -> int:
    return next(n for n, line in enumerate(spec.read_text().splitlines(), 1) if fragment in line)


def test_a_tab_for_indentation(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # before: "invalid YAML: found character that cannot start any token (while scanning...)"
    finding = check_after(spec, "  IDLE:\n    kind: idle", "  IDLE:\n\tkind: idle", capsys)
    assert finding == (
        f"demo.yaml:{line_of(spec, TAB + 'kind: idle')}:1: error[yaml-syntax] a tab in the "
        "indentation: YAML indents with spaces only; replace the tab with spaces"
    )


def test_a_tab_after_spaces(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    finding = check_after(spec, "    kind: running\n", "  \tkind: running\n", capsys)
    assert f":{line_of(spec, TAB + 'kind: running')}:3: error[yaml-syntax] a tab in" in finding


def test_a_first_key_indented_one_space_short(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: "invalid YAML: mapping values are not allowed in this context", on the next line
    finding = check_after(spec, "  RUNNING:\n    kind", "  RUNNING:\n   kind", capsys)
    assert finding == (
        f"demo.yaml:{line_of(spec, '   kind: running')}:4: error[yaml-syntax] inconsistent "
        "indentation: this line is indented 3 spaces and the next one "
        f"(line {line_of(spec, 'Agents are working')}) 4; keys of one mapping line up, so "
        "indent this line by 4 spaces"
    )


def test_a_key_indented_one_space_too_deep(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    finding = check_after(spec, "    description: Agents", "     description: Agents", capsys)
    line = line_of(spec, "Agents are working")
    assert finding == (
        f"demo.yaml:{line}:6: error[yaml-syntax] inconsistent indentation: this line is "
        f"indented 5 spaces, deeper than line {line - 1} above it (4), so YAML reads it as "
        "part of that line's value; indent it by 4 spaces to line it up"
    )


def test_a_key_that_lines_up_with_nothing(spec: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # before: "invalid YAML: did not find expected key (while parsing a block mapping at ...)"
    finding = check_after(spec, "    description: Agents", "   description: Agents", capsys)
    line = line_of(spec, "Agents are working")
    assert finding == (
        f"demo.yaml:{line}:4: error[yaml-syntax] inconsistent indentation: this line is "
        "indented 3 spaces, which lines up with no line above it; indent it by 4 spaces "
        f"(as line {line - 1}) or by 2 spaces (as line {line - 2})"
    )


def test_a_transition_indented_one_space_too_deep(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = "  - {from: RUNNING, to: COMPLETE"
    finding = check_after(spec, old, " " + old, capsys)
    line = line_of(spec, old)
    assert finding.startswith(f"demo.yaml:{line}:4: error[yaml-syntax] inconsistent indentation")
    assert finding.endswith("indent it by 2 spaces to line it up")


@pytest.mark.parametrize(
    ("old", "new", "glob", "fix"),
    [
        (
            "{from: RUNNING, to: FAILED",
            "{from: *_RUNNING, to: FAILED",
            "*_RUNNING",
            'from: "*_RUNNING"',
        ),
        (
            "  - from: WAITING_FOR_APPROVAL\n",
            "  - from: *APPROVAL\n",
            "*APPROVAL",
            'from: "*APPROVAL"',
        ),
        ("{from: RUNNING, to: FAILED", "{from: [*ING, IDLE], to: FAILED", "*ING", '"*ING"'),
        ("  - from: WAITING_FOR_APPROVAL\n", "  - from: *\n", "*", 'from: "*"'),
        ("  - from: WAITING_FOR_APPROVAL\n", "  - from: [W]*\n", "[W]*", 'from: "[W]*"'),
    ],
)
def test_an_unquoted_glob(
    spec: Path, old: str, new: str, glob: str, fix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # before: "alias '*_RUNNING' refers to no anchor completed before it; define '&_RUNNING'..."
    finding = check_after(spec, old, new, capsys)
    line = line_of(spec, new.strip().splitlines()[0])
    column = spec.read_text().splitlines()[line - 1].index(glob) + 1
    assert finding.startswith(f"demo.yaml:{line}:{column}: error[yaml-syntax] '{glob}' is not")
    assert "YAML takes * for an alias" in finding and finding.endswith(f"quote the glob: {fix}")


def test_an_alias_to_a_missing_anchor_elsewhere_keeps_the_alias_message(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    finding = check_after(spec, "reviewers: [reviewer]", "reviewers: *roles", capsys)
    assert "alias '*roles' refers to no anchor completed before it" in finding


def test_a_misspelt_state_key_is_blamed_at_its_declaration(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, each of the seven transitions that name RUNNING was an error suggesting
    'RUNING', and the declaration itself was never named."""
    found = findings_after(spec, "  RUNNING:\n", "  RUNING:\n", capsys)
    declared = line_of(spec, "  RUNING:")
    assert found[0] == (
        f"demo.yaml:{declared}:3: error[unknown-state] state 'RUNING' is declared but nothing "
        "names it, while 7 places name 'RUNNING', which is not declared; rename 'RUNING' to "
        "'RUNNING'"
    )
    uses = found[1:]
    assert len(uses) == 7
    for use in uses:
        assert use.endswith(
            f"state 'RUNNING' is not declared under states; the state declared as 'RUNING' "
            f"(line {declared}) looks like a misspelling of it"
        )
        assert "did you mean" not in use


def test_a_misspelt_use_still_gets_did_you_mean(
    spec: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old = "{from: RUNNING, to: COMPLETE"
    (finding,) = findings_after(spec, old, "{from: RUNING, to: COMPLETE", capsys)
    assert finding.endswith(
        "source state 'RUNING' is not declared under states; did you mean 'RUNNING'?"
    )


def test_hints_leave_correct_text_alone() -> None:
    good = "states:\n  IDLE:\n    kind: idle\n    description: >-\n      Waiting\n        long.\n"
    for line in range(1, 7):
        assert tab_hint(good, line) is None
        assert indentation_hint(good, line) is None
    assert glob_hint("a: *b\n", 1, 4) is None  # a lower-case alias is not a glob
    assert glob_hint("a: b\n", 1, 4) is None  # no star there


def test_the_hints_examples_run() -> None:
    import doctest

    import statewright.verify.load.yamlhints

    failed, tried = doctest.testmod(statewright.verify.load.yamlhints)
    assert tried > 0 and failed == 0
