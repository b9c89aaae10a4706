"""Hostile specs: each gets a finding with bounded work, and nothing crashes or hangs the
process.

Work is counted, never timed, so a loaded machine passes as an idle one does: a load
runs under a budget of function calls (:func:`steps`) proportional to the input, and a
blow-up or an endless loop fails at the budget instead of hanging; a checker subprocess
runs under a limit of memory and of CPU seconds (its own work, not the machine's load).
How fast these cases are is measured in ``benchmarks/bench_hostile.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import yaml

from statewright.verify.load import MAX_SPEC_BYTES, LoadResult, load_file, load_text, yamlread
from statewright.verify.load.values import Suggestions

ROOT = Path(__file__).resolve().parent.parent
STEPS_PER_BYTE = 100
"""Function calls a load may make per byte of input: about ten times what the costliest
case makes now (the pure-Python parser on the wide alias bomb: 53; a legitimate spec of
20,000 aliased transitions: 11); anything quadratic in the input is far beyond it."""
STEPS_FLOOR = 100_000
"""Function calls any load may make, however small the input (a tiny one makes ~1,000)."""


class OverBudget(Exception):
    """The work inside :func:`steps` went past its budget."""


@contextmanager
def steps(budget: int) -> Iterator[list[int]]:
    """Count the function calls (Python and C) made in the block, in ``[count]``; the call
    past ``budget`` raises :class:`OverBudget` inside the work, ending it."""
    count = [0]
    previous = sys.getprofile()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            count[0] += 1
            if count[0] > budget:
                raise OverBudget(f"more than {budget:,} calls")

    sys.setprofile(profile)
    try:
        yield count
    finally:
        sys.setprofile(previous)


def budget(text: str | bytes) -> int:
    """The calls loading ``text`` may make: linear in its size."""
    return STEPS_FLOOR + STEPS_PER_BYTE * len(text)


def test_the_step_budget_stops_an_endless_loop() -> None:
    """The budget is what stands in for a time limit here: it must end a hang."""
    with pytest.raises(OverBudget), steps(1_000) as count:
        while True:
            len("a hang")
    assert count[0] == 1_001


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


def counted_load(text: str | bytes) -> LoadResult:
    """``load_text(text)`` within its step :func:`budget`."""
    with steps(budget(text)):
        return load_text(text, "hostile.yaml")


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_input_gets_a_finding_not_a_crash(parser: str, text: str | bytes) -> None:
    result = counted_load(text)
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
    result = counted_load(HOSTILE[name])
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
    result = counted_load(text)
    assert result.findings == ()
    assert result.spec is not None and len(result.spec.transitions) == 20_001


@pytest.mark.parametrize("depth", [100_000])
def test_100000_brackets_in_a_subprocess(depth: int) -> None:
    """A crash in C (PyYAML's C composer segfaults here) must fail this test, not pytest."""
    code = (
        "from statewright.verify.load import load_text\n"
        f"result = load_text('[' * {depth} + ']' * {depth})\n"
        "print(result.findings[0].rule, result.findings[0].message)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", BOUNDED_PREFIX.format(limit=2**30, cpu=CPU_SECONDS) + code],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("yaml-syntax nesting is deeper than")


# --- amplification: a small spec that would cost a lot ------------------------------------

BOUNDED_PREFIX = """\
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit}))
resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu}))
"""

BOUNDED = (
    BOUNDED_PREFIX
    + """\
from statewright.verify.check import check_text
for finding in check_text(sys.stdin.read(), "hostile.yaml").findings:
    print(finding.format())
"""
)

CPU_SECONDS = 60
"""CPU seconds a bounded check may use, interpreter start-up included: its own work, which
other processes on the machine do not change. Far above what these cases cost now (a
second or two), far below what they cost before (minutes, or a MemoryError after a
minute); past it the kernel kills the process (SIGXCPU)."""

HANG_GUARD = 600
"""Seconds of wall-clock time after which a subprocess that is not working at all (blocked,
so the CPU limit never comes) is given up on; only a hang ever reaches it."""


def check_bounded(text: str, memory: int = 2**30) -> list[str]:
    """Check ``text`` in a subprocess limited to ``memory`` bytes of address space and
    :data:`CPU_SECONDS` of CPU time; its findings, one line each."""
    done = subprocess.run(
        [sys.executable, "-c", BOUNDED.format(limit=memory, cpu=CPU_SECONDS)],
        input=text,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.splitlines()


def many_states(count: int, transitions: list[str]) -> str:
    states = [f"  S{i}: {{kind: running}}" for i in range(count)]
    lines = ["statewright: 1", "machine: m", "initial: S0", "states:", *states, "transitions:"]
    return "\n".join([*lines, *transitions]) + "\n"


def test_a_glob_in_every_transition_stops_at_the_expansion_limit() -> None:
    """2,500 states each entered from ``S*`` would be six million transitions."""
    text = many_states(
        2_500, [f'  - {{from: "S*", to: S{i}, trigger: t{i}}}' for i in range(2_500)]
    )
    assert len(text) < 200_000
    (finding,) = check_bounded(text)
    assert "error[schema] 'from' lists and globs expand to more than 100,000 transitions" in finding
    assert finding.startswith(f"hostile.yaml:{2_500 + 5 + 41}:12:")  # the glob that crossed it


def test_lists_count_against_the_expansion_limit_too() -> None:
    names = ", ".join(f"S{i}" for i in range(1_000))
    rows = [f"  - {{from: [{names}], to: S{i}, trigger: t{i}}}" for i in range(120)]
    result = load_text(many_states(1_000, rows))
    assert [(f.rule, f.location.line) for f in result.findings] == [("schema", 1_000 + 5 + 101)]


def test_expansion_below_the_limit_is_untouched() -> None:
    rows = [f'  - {{from: "S*", to: S{i}, trigger: t{i}}}' for i in range(300)]
    result = load_text(many_states(300, rows))
    assert result.findings == ()
    assert result.spec is not None and len(result.spec.transitions) == 300 * 299


def test_many_different_globs_stop_at_the_comparison_limit() -> None:
    rows = [f'  - {{from: "X{i}*", to: S0, trigger: t{i}}}' for i in range(5_000)]
    findings = check_bounded(many_states(2_500, rows))
    limit = [f for f in findings if "comparisons" in f]
    assert len(limit) == 1 and "error[schema]" in limit[0]
    # the 4,001st glob crosses the limit, at 10,002,500 comparisons
    assert limit[0].startswith(f"hostile.yaml:{2_500 + 6 + 4_000}:12: ")
    unmatched = [f for f in findings if "error[unknown-state]" in f]
    assert len(unmatched) == 4_000  # the globs compared before the limit; none after it


def test_thousands_of_unknown_targets_stay_quick() -> None:
    """Each unknown name was compared with every state for a "did you mean": minutes."""
    rows = [f"  - {{from: S{i}, to: STATE_NUMBR_{i}, trigger: t{i}}}" for i in range(2_000)]
    text = many_states(0, []).replace("initial: S0", "initial: STATE_NUMBER_0")
    states = "".join(f"  STATE_NUMBER_{i}: {{kind: running}}\n" for i in range(2_000))
    text = text.replace("states:\n", "states:\n" + states) + "\n".join(rows).replace(
        "from: S", "from: STATE_NUMBER_"
    )
    findings = check_bounded(text + "\n")
    assert len(findings) == 2_000 and all("error[unknown-state]" in f for f in findings)
    assert "did you mean 'STATE_NUMBER_0'?" in findings[0]  # the first ones still get a hint
    assert "did you mean" not in findings[-1]


def test_the_suggestion_budget_is_spent_per_comparison() -> None:
    suggestions = Suggestions(work=60)
    assert suggestions.hint("IDEL", ["IDLE", "DONE"]) == "; did you mean 'IDLE'?"  # 4 x 8
    assert suggestions.hint("IDEL", ["IDLE", "DONE"]) == "; did you mean 'IDLE'?"  # remembered
    assert suggestions.left == 60 - 32
    assert suggestions.hint("DOEN", ["IDLE", "DONE"]) == ""  # 32 more would overspend
    assert suggestions.left == 28


# --- files that are not specs ---------------------------------------------------------------


def statewright(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "statewright.generator.cli", *argv],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD,  # a FIFO used to wait for a writer for ever
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
@pytest.mark.parametrize("command", [["check"], ["generate", "--check"], ["paths"], ["diagram"]])
def test_dev_zero_is_a_usage_error(command: list[str], tmp_path: Path) -> None:
    done = statewright(*command, "/dev/zero", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert "/dev/zero is not a regular file" in line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_a_usage_error_and_never_waits(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "spec.yaml")
    done = statewright("check", "spec.yaml", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == (
        "statewright: error: spec.yaml is not a regular file (a device, FIFO or socket); "
        "name a spec file or a folder of them\n"
    )
    (tmp_path / "good.yaml").write_text(
        "statewright: 1\nmachine: m\ninitial: A\nstates: {A: {final: true}}\n"
    )
    folder = statewright("check", ".", cwd=tmp_path)  # in a folder, it is not a spec file
    assert folder.returncode == 0 and "spec.yaml" not in folder.stdout
    result = load_file(tmp_path / "spec.yaml")  # the API reads nothing and waits for nothing
    assert [f.rule for f in result.findings] == ["yaml-syntax"]
    assert "not a regular file" in result.findings[0].message


def test_a_spec_over_the_size_limit_is_a_finding(tmp_path: Path) -> None:
    """Read no further than the limit, and parse nothing: memory and calls show it."""
    path = tmp_path / "huge.yaml"
    with path.open("wb") as sparse:
        sparse.truncate(4 * MAX_SPEC_BYTES)  # a hole: no disk used, nor time to write it
    tracemalloc.start()
    try:
        with steps(1_000):  # a few dozen calls, none per byte
            result = load_file(path, "huge.yaml")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_SPEC_BYTES + 2**20  # at most the limit and a byte read, not the file
    assert [f.format() for f in result.findings] == [
        "huge.yaml:1:1: error[yaml-syntax] the spec is larger than 64 MiB, the most "
        "statewright reads; split it into smaller machines"
    ]
    assert (
        load_text(b"#" * (MAX_SPEC_BYTES + 1))
        .findings[0]
        .message.startswith("the spec is larger than 64 MiB")
    )
