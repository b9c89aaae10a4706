"""Hostile specs: each gets a finding quickly, and nothing crashes or hangs the process.

The 5-second limits only catch hangs; the real cost of each case is milliseconds.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from verify.load import LoadResult, load_file, load_text, yamlread

ROOT = Path(__file__).resolve().parent.parent
HANG = 5.0


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, 9):
        this, last = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{this}: &{this} [{', '.join([f'*{last}'] * 9)}]")
    return "\n".join(lines) + "\n"


def wide_laughs() -> str:
    """One big list repeated by thousands of aliases: quadratic rather than exponential."""
    return "a: &a [" + ", ".join(["x"] * 10_000) + "]\nb: [" + ", ".join(["*a"] * 5_000) + "]\n"


HOSTILE: dict[str, str | bytes] = {
    "billion laughs": billion_laughs(),
    "wide laughs": wide_laughs(),
    "50,000 brackets": "[" * 50_000 + "]" * 50_000,
    "50,000 unclosed braces": "{" * 50_000,
    "50,000 flow mappings": "{a: " * 50_000 + "}" * 50_000,
    "100,000 block sequences": "- " * 100_000 + "x\n",
    "100,000 complex keys": "? " * 100_000 + "x\n",
    "deep indentation": "".join(" " * i + f"k{i}:\n" for i in range(0, 2_000)),
    "binary": bytes(range(256)) * 64,
    "png header": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200),
    "NUL byte": "statewright: 1\nmachine: a\0b\n",
    "invalid UTF-8": b"statewright: 1\nmachine: \xff\xfe\n",
    "UTF-16": "statewright: 1\n".encode("utf-16"),
    "lone surrogate": "statewright: 1\nmachine: \ud800\n",
    "escape character": "statewright: 1\nmachine: a\x1bb\n",
    "python tag": "!!python/object/apply:os.system ['true']\n",
    "undefined alias": "a: *nowhere\n",
    "self alias": "a: &a [*a]\n",
    "two documents": "a: 1\n---\na: 2\n",
    "huge key": "x" * 2_000_000 + ": 1\n",
    "huge integer": "statewright: " + "9" * 100_000 + "\n",
}


@pytest.fixture(params=["libyaml", "pure python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run a test with libyaml's parser, then with PyYAML's pure-Python fallback."""
    if request.param == "pure python":
        monkeypatch.setattr(yamlread, "_Loader", yaml.SafeLoader)
    elif not hasattr(yaml, "CSafeLoader"):
        pytest.skip("libyaml is not installed")
    yield request.param


def timed_load(text: str | bytes) -> tuple[LoadResult, float]:
    start = time.perf_counter()
    result = load_text(text, "hostile.yaml")
    return result, time.perf_counter() - start


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_gets_a_finding_not_a_crash(parser: str, text: str | bytes) -> None:
    result, seconds = timed_load(text)
    assert seconds < HANG
    assert result.spec is None
    assert result.findings
    assert all(f.location.line >= 1 and f.location.column >= 1 for f in result.findings)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("billion laughs", "alias bomb"),
        ("wide laughs", "alias bomb"),
        ("50,000 brackets", "nesting is deeper than 200 levels"),
        ("50,000 flow mappings", "nesting is deeper than 200 levels"),
        ("100,000 block sequences", "nesting is deeper than 200 levels"),
        ("binary", "binary file"),
        ("NUL byte", "binary file"),
        ("invalid UTF-8", "not UTF-8"),
        ("python tag", "unsupported tag '!!python/object/apply:os.system'"),
        ("two documents", "exactly one YAML document"),
    ],
)
def test_hostile_input_is_named_for_what_it_is(name: str, message: str) -> None:
    result, _ = timed_load(HOSTILE[name])
    assert [f.rule for f in result.findings][:1] == ["yaml-syntax"]
    assert message in result.findings[0].message


def test_deep_nesting_is_refused_at_the_limit() -> None:
    limit = yamlread.MAX_DEPTH
    assert load_text("[" * limit + "]" * limit).findings[0].rule == "yaml-syntax"
    inside = load_text("[" * (limit - 1) + "]" * (limit - 1))
    assert "nesting" not in inside.findings[0].message  # only "the top level is a list"


def test_a_huge_name_does_not_make_a_huge_message() -> None:
    result = load_text("? " + "x" * 1_000_000 + "\n: 1\nstatewright: 1\n")
    unknown = [f.message for f in result.findings if f.message.startswith("unknown key 'xxx")]
    assert len(unknown) == 1 and unknown[0].endswith("x' in the spec")
    assert all(len(f.message) <= 400 for f in result.findings)


def test_no_tag_ever_constructs_an_object(tmp_path: Path) -> None:
    target = tmp_path / "pwned"
    for tag in ("!!python/object/apply:os.mkdir", "!!python/object/new:os.mkdir"):
        result = load_text(f"machine: {tag} ['{target}']\n")
        assert result.findings and result.findings[0].rule == "yaml-syntax"
    assert not target.exists()


def test_binary_file_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "spec.yaml"
    path.write_bytes(bytes(range(256)))
    result = load_file(path)
    assert [(f.rule, f.location.line) for f in result.findings] == [("yaml-syntax", 1)]


def test_legitimate_repetition_is_within_the_alias_budget() -> None:
    transitions = ["  - &t {from: A, to: B, trigger: go}"] + ["  - *t"] * 20_000
    text = "\n".join(
        [
            "statewright: 1",
            "machine: m",
            "initial: A",
            "states: {A: {reviewers: &r [x, y, z]}, B: {final: true, reviewers: *r}}",
            "transitions:",
            *transitions,
        ]
    )
    result, seconds = timed_load(text)
    assert result.findings == ()
    assert result.spec is not None and len(result.spec.transitions) == 20_001
    assert seconds < HANG


@pytest.mark.parametrize("depth", [100_000])
def test_100000_brackets_in_a_subprocess(depth: int) -> None:
    """A crash in C (PyYAML's C composer segfaults here) must fail this test, not pytest."""
    code = (
        "from verify.load import load_text\n"
        f"result = load_text('[' * {depth} + ']' * {depth})\n"
        "print(result.findings[0].rule, result.findings[0].message)\n"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("yaml-syntax nesting is deeper than")
    assert time.perf_counter() - start < 30  # includes interpreter start-up
