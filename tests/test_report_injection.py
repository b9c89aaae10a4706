"""Reports cannot be forged: a hostile file name or YAML key prints as one inert line.

Each case writes a spec under a hostile name holding a hostile state key, runs the real
``statewright check`` in every format and reads the output as a CI log would: no line
may be a workflow command other than the annotations statewright writes itself, no line
may start inside a finding, and no control character may reach the terminal.
"""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from statewright.generator.cli import main

HOSTILE = {
    "newline": "x\n::add-mask::secret\n::error file=a.yaml::forged",
    "carriage return": "x\r::error::forged",
    "workflow command": "::warning::forged",
    "legacy command": "x ##[error]forged",
    "line separator": "x\u2028::error::forged",
    "ansi escape": "x\x1b[2K\x1b[1Gforged",
    "next line": "x\x85::error::forged",
}

SPEC = """\
statewright: 1
machine: hostile
initial: A
states:
  A: {{final: true}}
  "{key}": {{final: true}}
"""

# What a terminal or CI log reads as a line break, and what a terminal acts on.
BREAKS = re.compile("\r\n|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")
CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def yaml_escaped(text: str) -> str:
    """``text`` inside a double-quoted YAML scalar."""
    return json.dumps(text)[1:-1]


@pytest.fixture(params=list(HOSTILE), ids=list(HOSTILE))
def hostile(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A folder holding one spec whose file name and state key are both hostile; the
    folder is the working directory, so reports name the file as it is."""
    text = HOSTILE[request.param]
    name = f"{text}.yaml"
    try:
        (tmp_path / name).write_text(SPEC.format(key=yaml_escaped(text)), encoding="utf-8")
    except (OSError, ValueError):
        pytest.skip("the file system refuses this name")
    monkeypatch.chdir(tmp_path)
    return name


def check(fmt: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["check", "--format", fmt, "."]) == 1
    return capsys.readouterr().out


def lines(out: str) -> list[str]:
    return BREAKS.split(out.rstrip("\n"))


def assert_inert(line: str) -> None:
    assert not CONTROL.search(line), repr(line)
    assert "##[" not in line, repr(line)


def test_text_is_one_line_per_finding(hostile: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = check("text", capsys)
    finding, spec, blank, summary = lines(out)
    assert "error[invalid-name] state '" in finding
    assert spec.endswith(": not loaded: failed; 1 error, 0 warnings")
    assert blank == "" and summary.startswith("Checked 1 spec: 1 failed")
    for line in lines(out):
        assert_inert(line)
        assert not line.lstrip().startswith("::"), repr(line)


def test_github_writes_no_command_but_its_annotation(
    hostile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = check("github", capsys)
    found = lines(out)
    commands = [line for line in found if line.lstrip().startswith("::")]
    assert len(commands) == 1 and commands[0].startswith("::error file=")
    assert commands[0].count("::") >= 2
    properties, message = commands[0][2:].split("::", 1)
    assert "title=statewright invalid-name" in properties
    assert message.startswith("state '")
    assert len(found) == 3  # the annotation, the spec's line, the summary
    for line in found:
        assert_inert(line)


def test_junit_failure_text_is_one_line_per_finding(
    hostile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = ET.fromstring(check("junit", capsys))
    (failure,) = root.iter("failure")
    assert failure.text is not None
    (line,) = lines(failure.text)
    assert_inert(line)
    assert not line.startswith("::")
    for suite in root.iter("testsuite"):
        assert_inert(suite.get("name", ""))


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_json_formats_escape_and_keep_the_real_name(
    fmt: str, hostile: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = check(fmt, capsys)
    for line in out.splitlines():
        assert_inert(line)
    document = json.loads(out)
    if fmt == "json":
        (spec,) = document["specs"]
        assert spec["file"] == hostile  # the real name, escaped by the encoding
        (finding,) = spec["findings"]
        message = finding["message"]
    else:
        (result,) = document["runs"][0]["results"]
        message = result["message"]["text"]
        uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        assert "%" in uri or uri.isprintable()
    assert message.startswith("state '") and not CONTROL.search(message)


def test_the_hostile_names_really_are_hostile(tmp_path: Path) -> None:
    """The cases would forge lines if printed raw: the tests above test something."""
    for text in HOSTILE.values():
        raw = f"{text}.yaml:6:3: error[invalid-name] state '{text}'"
        assert (
            len(BREAKS.split(raw)) > 1
            or CONTROL.search(raw)
            or raw.startswith("::")
            or ("##[" in raw)
        )
    assert os.sep not in "".join(HOSTILE.values())
