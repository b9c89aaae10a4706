"""Progress while checking a big spec: on standard error when it is a terminal, and nothing
when it is not.

Checking a spec of 100,000 states took half a minute with no output at all. The real
command runs here with its standard error on a pseudo-terminal, as in a shell, and on a
pipe, as in CI. Its clock is injected, so that what is drawn does not depend on how fast
the machine is: a clock that stands still (all the work within the half-second delay) or
one that moves a second at every reading (every phase past the delay and the interval).
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from statewright.generator.progress import TerminalProgress
from statewright.verify import progress
from statewright.verify.check import check_text

ROOT = Path(__file__).resolve().parents[1]

STILL = "lambda: 0.0"
"""A clock that never moves: all the work is within the delay, however long it takes."""

STEADY = "itertools.count().__next__"
"""A clock one second later at every reading: every phase is past the delay, and every
update past the interval, however quick the work."""

WITH_CLOCK = """\
import functools, itertools, sys
from statewright.generator import cli, progress
cli.TerminalProgress = functools.partial(progress.TerminalProgress, clock={clock})
sys.exit(cli.main())
"""


def statewright(clock: str, *argv: str) -> list[str]:
    """The command line of ``statewright ARGV``, its progress drawn against ``clock``."""
    return [sys.executable, "-c", WITH_CLOCK.format(clock=clock), *argv]


def machine_yaml(states: int) -> str:
    """A machine of ``states`` states in a ring, with ten exits each."""
    lines = ["statewright: 1", "machine: bench", "initial: S0", "states:"]
    lines.extend(f"  S{i}: {{kind: running}}" for i in range(states))
    lines.append("transitions:")
    lines.extend(
        f"  - {{from: S{i}, to: S{(i + k * k + 1) % states}, trigger: t{k}}}"
        for i in range(states)
        for k in range(10)
    )
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spec long enough to report the line its reading reached: 2,000 states, 20,000
    transitions, more than twice ``PROGRESS_EVENTS`` parser events
    (``statewright.verify.load.yamlread``)."""
    path = tmp_path_factory.mktemp("big") / "big.yaml"
    path.write_text(machine_yaml(2_000))
    return path


def run_on_a_terminal(command: list[str], cwd: Path) -> tuple[int, str, str]:
    """Run ``command`` with standard error on a pseudo-terminal; its status, its
    standard output and what the terminal received."""
    master, slave = pty.openpty()
    received: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the other side closed
                return
            if not chunk:
                return
            received.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        done = subprocess.run(
            command, cwd=cwd, stdout=subprocess.PIPE, stderr=slave, text=True, env=ENV
        )
    finally:
        os.close(slave)
        reader.join()  # the child is gone and the slave closed: the read ends at once
        os.close(master)
    return done.returncode, done.stdout, b"".join(received).decode()


ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def test_a_big_check_shows_its_phases_on_a_terminal(big: Path) -> None:
    status, out, terminal = run_on_a_terminal(statewright(STEADY, "check", big.name), big.parent)
    assert status == 0
    for phase in ("reading YAML", "building the model", "rule trap", "finding covering paths"):
        assert f"statewright: big.yaml: {phase} (" in terminal, terminal[-500:]
    lines = re.findall(r"reading YAML, line ([\d,]+) of 22,006 \(", terminal)
    assert len(lines) >= 2, terminal[:500]  # one every PROGRESS_EVENTS parser events
    assert terminal.endswith("\r\x1b[K")  # erased before the report is read
    assert "\x1b" not in out and "\nbig.yaml: bench: ok;" in out


def test_nothing_when_standard_error_is_not_a_terminal(big: Path) -> None:
    done = subprocess.run(
        statewright(STEADY, "check", big.name),
        cwd=big.parent,
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert "\x1b" not in done.stdout


def test_a_quick_check_shows_nothing_even_on_a_terminal(tmp_path: Path) -> None:
    spec = ROOT / "specs" / "orchestrator.yaml"
    status, _, terminal = run_on_a_terminal(statewright(STILL, "check", str(spec)), tmp_path)
    assert (status, terminal) == (0, "")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_line_waits_then_updates_in_place_and_is_erased() -> None:
    screen, clock = Terminal(), Clock()
    shown = TerminalProgress(screen, clock=clock, columns=lambda: 60)
    shown("a.yaml", "reading YAML")
    assert screen.getvalue() == ""  # quick work shows nothing
    clock.now += 1
    shown("a.yaml", "reading YAML, line 10 of 99")
    shown("a.yaml", "reading YAML, line 20 of 99")  # the same phase, too soon: skipped
    shown("a.yaml", "building the model")  # a new phase: shown at once
    assert screen.getvalue() == (
        "\r\x1b[Kstatewright: a.yaml: reading YAML, line 10 of 99 (1s)"
        "\r\x1b[Kstatewright: a.yaml: building the model (1s)"
    )
    shown("a.yaml", "a phase with a very long name that does not fit the terminal at all")
    last = screen.getvalue().rsplit("\r\x1b[K", 1)[1]
    assert len(last) == 59 and last.endswith("\u2026")
    shown.clear()
    shown.clear()  # nothing shown: nothing to erase
    assert screen.getvalue().endswith("\r\x1b[K") and not screen.getvalue().endswith("\x1b[K" * 2)


def test_verify_reports_the_phases_of_a_check() -> None:
    seen: list[tuple[str, str]] = []
    listener = lambda subject, text: seen.append((subject, text))  # noqa: E731
    with progress.reporting(listener), progress.working_on("demo.yaml"):
        check_text(machine_yaml(3))
    phases = [text for _, text in seen]
    assert phases[0] == "reading YAML" and "building the model" in phases
    assert "rule unreachable-state" in phases and phases[-1] == "finding covering paths"
    assert {subject for subject, _ in seen} == {"demo.yaml"}


def test_the_progress_examples_run() -> None:
    import doctest

    failed, tried = doctest.testmod(progress)
    assert tried > 0 and failed == 0


def test_exploration_reports_the_configurations_it_has_found() -> None:
    counters = "".join(f"  {v}: {{type: int, min: 0, max: 299, initial: 0}}\n" for v in "xy")
    spec = (
        "statewright: 1\nmachine: counters\ninitial: S\nvariables:\n" + counters + "states:\n"
        "  S: {}\ntransitions:\n"
        "  - {from: S, to: S, trigger: inc_x, when: x < 299, set: {x: x + 1}}\n"
        "  - {from: S, to: S, trigger: inc_y, when: y < 299, set: {y: y + 1}}\n"
    )
    seen: list[str] = []
    with progress.reporting(lambda _, text: seen.append(text)):
        result = check_text(spec)
    assert result.stats is not None and result.stats.configurations == 300 * 300
    counts = [text for text in seen if text.startswith("exploring configurations: ")]
    assert "exploring configurations: 1 found, 0 expanded" in counts
    assert len(counts) == 2  # every 65,536 expanded: at 0 and at 65,536
