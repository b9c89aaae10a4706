"""The `statewright` command: exit codes, formats and paths, run for real."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from statewright.generator.cli import main

ROOT = Path(__file__).resolve().parents[1]
SKETCH = "specs/examples/discovery_pipeline_sketch.yaml"


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)


def run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_shipped_specs_pass(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run("check", capsys=capsys)
    assert status == 0, out
    assert "specs/orchestrator.yaml: orchestrator: ok" in out
    assert "specs/discovery_pipeline.yaml: discovery_pipeline: ok" in out
    assert SKETCH not in out  # subfolders stay out of the default run
    assert out.rstrip().endswith("Checked 3 specs: 0 failed, 0 errors, 0 warnings.")


def test_shipped_specs_pass_strict(capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check", "--strict", capsys=capsys)[0] == 0


def test_sketch_fails_with_located_findings(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run("check", SKETCH, capsys=capsys)
    assert status == 1
    lines = [line.strip() for line in out.splitlines() if "[" in line]
    assert lines, out
    for line in lines:
        file, line_no, column, rest = line.split(":", 3)
        assert file == SKETCH
        assert int(line_no) >= 1 and int(column) >= 1
        assert rest.startswith((" error[", " warning["))


def test_missing_path_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run("check", "specs/nope.yaml", capsys=capsys)
    assert status == 2
    assert out == ""
    assert err == "statewright: error: no such file or directory: specs/nope.yaml\n"


def test_usage_error_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["check", "--format", "xml"])
    assert exit_info.value.code == 2


def test_json_follows_the_contract(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run(
        "check", "specs/orchestrator.yaml", SKETCH, "--format", "json", capsys=capsys
    )
    assert status == 1
    document = json.loads(out)
    assert document["tool"] == "statewright"
    assert document["version"] == "0.1.0"
    good, sketch = document["specs"]
    assert good["file"] == "specs/orchestrator.yaml"
    assert good["machine"] == "orchestrator"
    assert good["ok"] is True
    assert good["stats"] == {
        "states": 5,
        "transitions": 12,
        "reachable": 5,
        "worst_case_seconds": None,  # FAILED waits for the on-call engineer
    }
    assert good["findings"] == []
    assert good["coverage"]["covered"] == good["coverage"]["total"] == 12
    assert all(isinstance(t, str) for path in good["coverage"]["paths"] for t in path)
    assert sketch["ok"] is False
    finding = sketch["findings"][0]
    assert set(finding) == {
        "rule",
        "severity",
        "message",
        "file",
        "line",
        "column",
        "states",
        "transitions",
        "reasons",
    }
    for finding in sketch["findings"]:
        for transition in finding["transitions"]:
            assert set(transition) == {"from", "to", "trigger"}


def test_load_failure_is_a_finding_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("statewright: 1\nmachine: [unclosed\n")
    status, out, err = run("check", str(bad), capsys=capsys)
    assert status == 1
    assert f"{bad}:" in out and "error[yaml-syntax]" in out
    assert "Traceback" not in out + err


def test_paths_prints_covering_sequences(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run("paths", "specs/orchestrator.yaml", capsys=capsys)
    assert status == 0
    assert out.splitlines()[0].startswith("1: task_received")
    assert "# 12/12 transitions covered" in out


def test_console_script_runs() -> None:
    script = Path(sys.executable).with_name("statewright")
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [str(script), "check", SKETCH, "--format", "json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert json.loads(done.stdout)["specs"][0]["ok"] is False


def test_empty_folder_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run("check", str(tmp_path), capsys=capsys)
    assert status == 2
    assert out == ""
    assert err.startswith("statewright: error: no spec files (*.yaml, *.yml, *.asl.json, ")


def test_paths_of_a_folder_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    status, _, err = run("paths", "specs", capsys=capsys)
    assert status == 2
    assert "is a folder" in err


# --- a reader that goes away (| head -1) ---------------------------------------------------

STATEWRIGHT = str(Path(sys.executable).with_name("statewright"))


def run_into_a_closed_pipe(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run the console script with its standard output a pipe nobody reads any more, as
    ``statewright ... | head -1`` leaves it once head has its line."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run(
            [STATEWRIGHT, *argv], cwd=cwd, stdout=write, stderr=subprocess.PIPE, text=True
        )
    finally:
        os.close(write)


def test_generate_check_into_head_prints_one_line_and_no_traceback(tmp_path: Path) -> None:
    """The pipeline as the issue ran it: a stale tree's diff, cut short by head."""
    script = f"set -o pipefail; {STATEWRIGHT} generate --check --out {tmp_path}/gen specs | head -1"
    done = subprocess.run(["bash", "-c", script], cwd=ROOT, capture_output=True, text=True)
    assert (done.stdout, done.stderr) == ("--- /dev/null\n", "")
    assert done.returncode == 1  # stale: its own status, not a crash


SKETCHES = ["specs/examples/discovery_pipeline_sketch.yaml", "specs/examples/review_rounds.yaml"]
"""Examples with many findings, traces among them (not the whole folder: its
``rate_limiter`` explores ten million configurations before it says it cannot)."""


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["check", "specs", *SKETCHES], 1),
        (["check", "--format", "json", "specs", *SKETCHES], 1),
        (["check", "--format", "sarif", *SKETCHES], 1),
        (["paths", "specs/discovery_pipeline.yaml"], 0),
        (["explain", "trap"], 0),
        (["diagram", "specs/discovery_pipeline.yaml", "--format", "dot"], 0),
        (["diagram", "specs/discovery_pipeline.yaml", "--format", "mermaid"], 0),
        (["import", "asl", "specs/examples/order_approval.asl.json"], 0),
        (["generate", "--check", "--out", "{tmp}/stale", "specs"], 1),
        (["--help"], 0),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else str(v),
)
def test_every_command_is_quiet_when_its_reader_goes(
    argv: list[str], status: int, tmp_path: Path
) -> None:
    done = run_into_a_closed_pipe(*(a.replace("{tmp}", str(tmp_path)) for a in argv))
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr


def test_generate_into_a_closed_pipe_still_writes_every_file(tmp_path: Path) -> None:
    done = run_into_a_closed_pipe("generate", "--out", str(tmp_path / "gen"), "specs")
    assert (done.returncode, done.stderr) == (0, "")
    again = subprocess.run(
        [STATEWRIGHT, "generate", "--check", "--out", str(tmp_path / "gen"), "specs"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 0 and "is up to date" in again.stdout, again.stdout


def test_audit_commands_into_a_closed_pipe(tmp_path: Path) -> None:
    from storekit import generate_runtime

    rt, _ = generate_runtime(tmp_path / "pkg")
    path = str(tmp_path / "audit.sqlite")
    for number in range(200):
        rt.Ticket.create(rt.SqlStore.sqlite(path), f"t{number}").start()
    for action in ("head", "verify"):
        done = run_into_a_closed_pipe("audit", action, path)
        assert (done.returncode, done.stderr) == (0, ""), action


def test_the_reader_safe_stream_examples_run() -> None:
    import doctest

    import statewright.generator.streams

    failed, tried = doctest.testmod(statewright.generator.streams)
    assert tried > 0 and failed == 0


# --- help ---------------------------------------------------------------------------------


def every_parser() -> Iterator[tuple[str, argparse.ArgumentParser]]:
    """``("check", parser)``, ..., ``("audit verify", parser)``: every command's parser."""
    from statewright.generator.cli import parser as statewright

    pending = [("", statewright())]
    while pending:
        name, parser = pending.pop(0)
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                pending.extend((f"{name} {sub}".strip(), p) for sub, p in action.choices.items())
        if name:
            yield name, parser


@pytest.mark.parametrize("command", [name for name, _ in every_parser()])
def test_every_commands_help_describes_each_argument_and_the_exit_status(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """``paths --help`` and ``diagram --help`` once described none of their arguments."""
    with pytest.raises(SystemExit) as done:
        main([*command.split(), "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    parser = dict(every_parser())[command]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = [a.help for a in action._choices_actions]
            assert all(helps) and len(helps) == len(action.choices), command
        else:
            assert action.help and action.help != argparse.SUPPRESS, (command, action.dest)
    assert parser.description and len(parser.description) > 60, command
    assert "\nexit status:\n  0  " in shown and "\n  2  " in shown, shown
    if command != "audit":  # the group: its actions say
        assert "standard output" in shown, f"{command} --help does not say where output goes"


# --- the command layer: one module per command --------------------------------------------

SHARED = {
    "__init__",
    "inputs",
    "stores",
    "audit_check",
    "migrate_store",
    "runs_archive",
    "runs_cancel",
    "runs_due",
}
"""The modules of generator/commands/ that are no command: the shared pieces (``stores``
opens the stores ``audit`` and ``runs`` read; ``audit_check`` holds the ``audit`` group's
``check`` and ``export`` actions, which ``audit.py`` registers; ``migrate_store`` moves
the stored runs for ``migrate --store``; ``runs_archive`` holds the ``runs`` group's
``archive`` action and ``runs_cancel`` its ``cancel`` action, which ``runs.py``
registers)."""


def test_every_command_module_is_registered_and_every_command_has_a_module() -> None:
    """A module added under generator/commands/ without its COMMAND in cli.COMMANDS (or a
    command whose help and arguments live elsewhere) fails here."""
    import importlib

    from statewright.generator.cli import COMMANDS
    from statewright.generator.commands import Command, Group

    folder = ROOT / "generator" / "commands"
    modules = sorted(p.stem for p in folder.glob("*.py") if p.stem not in SHARED)
    owners = {}
    for stem in modules:
        module = importlib.import_module(f"statewright.generator.commands.{stem}")
        command = getattr(module, "COMMAND", None)
        assert isinstance(command, Command | Group), f"generator/commands/{stem}.py: no COMMAND"
        owners[command.name] = stem
    assert sorted(c.name for c in COMMANDS) == sorted(owners)
    for command in COMMANDS:
        if isinstance(command, Group):
            assert command.actions, command.name
            for action in command.actions:
                assert action.name == f"{command.name} {action.word}", action.name


def test_the_dispatch_reaches_every_command() -> None:
    """Every command that runs gets its own run: no command falls through to another's."""
    from statewright.generator.cli import helps, parser
    from statewright.generator.commands import Command

    built = parser()
    runnable = {name: h for name, h in helps().items() if isinstance(h, Command)}
    assert len(runnable) == 19
    examples = {
        "runs archive": ["T", "--finished-before", "1d", "--to", "A"],
        "runs cancel": ["T", "I", "--actor", "A", "--reason", "R"],
        "serve": ["--store", "T"],
        "migrate": ["O", "N"],
        "paths": ["S"],
        "diagram": ["S"],
        "explain": ["R"],
        "new": ["n"],
        "import asl": ["F"],
    }
    for name, command in runnable.items():
        needed = examples.get(name) or (
            ["T", "I"]
            if name in ("runs show", "runs release", "audit export")
            else ["T"] * name.count(" ")
        )
        args = built.parse_args([*name.split(), *needed])
        assert args.command_run is command.run, name


def test_each_default_the_help_states_is_the_parsers() -> None:
    """``(default: 1,000)`` in an argument's help is what the parser gives when it is left
    out, so neither the help nor the generated reference can state a stale default."""
    import re

    checked = 0
    for command, parser in every_parser():
        for action in parser._actions:
            stated = re.search(r"default: ([\w,./]+)", action.help or "")
            value = action.default
            if stated is None or value in (None, False, [], argparse.SUPPRESS):
                continue
            if isinstance(value, Path):
                value = value.as_posix()
            said = stated[1].replace(",", "").rstrip("/")
            assert said == str(value).replace(",", ""), (command, action.dest, said, value)
            checked += 1
    assert checked >= 12
