"""``duplicate-machine``: two specs of one machine are reported on each, and ``generate``
refuses them whole instead of letting the last one silently win."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from statewright.generator.cli import main
from statewright.generator.commands.generate import generate_command

DOOR = """\
statewright: 1
machine: {machine}
initial: CLOSED
states:
  CLOSED: {{kind: idle}}
  OPEN: {{kind: complete}}
transitions:
  - {{from: CLOSED, to: OPEN, trigger: {trigger}}}
  - {{from: OPEN, to: CLOSED, trigger: close}}
"""


def door(machine: str, trigger: str = "push") -> str:
    return DOOR.format(machine=machine, trigger=trigger)


@pytest.fixture
def specs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``specs/`` with two specs of machine ``door`` and one of ``gate``."""
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "a_door.yaml").write_text(door("door"))
    (folder / "b_door.yaml").write_text(door("door", "pull"))
    (folder / "gate.yaml").write_text(door("gate"))
    monkeypatch.chdir(tmp_path)
    return folder


def run(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_check_reports_each_spec_at_its_machine_key(
    specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run("check", "specs", capsys=capsys)
    assert status == 1
    found = [line for line in out.splitlines() if "[duplicate-machine]" in line]
    assert found == [
        "specs/a_door.yaml:2:1: error[duplicate-machine] machine 'door' is also declared by "
        "specs/b_door.yaml; each spec needs its own machine name: rename one of them",
        "specs/b_door.yaml:2:1: error[duplicate-machine] machine 'door' is also declared by "
        "specs/a_door.yaml; each spec needs its own machine name: rename one of them",
    ]
    assert "specs/gate.yaml: gate: ok" in out


def test_json_carries_the_finding_on_both_specs(
    specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run("check", "--format", "json", "specs", capsys=capsys)
    assert status == 1
    verdicts = {
        spec["file"]: (spec["ok"], [f["rule"] for f in spec["findings"]])
        for spec in json.loads(out)["specs"]
    }
    assert verdicts == {
        "specs/a_door.yaml": (False, ["duplicate-machine"]),
        "specs/b_door.yaml": (False, ["duplicate-machine"]),
        "specs/gate.yaml": (True, []),
    }


def test_one_spec_alone_is_no_duplicate(specs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run("check", "specs/a_door.yaml", capsys=capsys)[0] == 0


def test_one_file_under_several_names_is_checked_once(
    specs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (specs / "link.yaml").symlink_to(specs / "gate.yaml")
    names = ["specs/gate.yaml", "./specs/gate.yaml", str(specs / "gate.yaml"), "specs/link.yaml"]
    status, out, _ = run("check", *names, capsys=capsys)
    assert status == 0, out
    assert out.rstrip().endswith("Checked 1 spec: 0 failed, 0 errors, 0 warnings.")


def test_many_duplicates_name_a_few_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    for n in range(6):
        (tmp_path / f"d{n}.yaml").write_text(door("door"))
    status, out, _ = run("check", ".", capsys=capsys)
    assert status == 1
    assert (
        "d0.yaml:2:1: error[duplicate-machine] machine 'door' is also declared by "
        "d1.yaml, d2.yaml, d3.yaml, 2 more;" in out
    )
    assert out.count("[duplicate-machine]") == 6


def generate(*paths: str, check: bool = False) -> tuple[int, str, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    status = generate_command(
        [Path(p) for p in paths], Path("gen"), check, stdout=stdout, stderr=stderr
    )
    return status, stdout.getvalue(), stderr.getvalue()


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*.*")}


def test_generate_refuses_and_writes_nothing(specs: Path) -> None:
    status, out, err = generate("specs")
    assert (status, out) == (1, "")
    assert err.count("error[duplicate-machine]") == 2
    assert "specs/a_door.yaml:2:1:" in err and "specs/b_door.yaml:2:1:" in err
    assert not Path("gen").exists()  # not even the clean gate spec, nor gen/__init__.py


def test_generate_leaves_an_existing_tree_as_it_was(specs: Path) -> None:
    (specs / "b_door.yaml").rename(specs.parent / "b_door.yaml")
    assert generate("specs")[0] == 0
    before = tree(Path("gen"))
    assert "door/runtime.py" in before and "gate/runtime.py" in before
    (specs.parent / "b_door.yaml").rename(specs / "b_door.yaml")
    (specs / "gate.yaml").write_text(door("gate", "open_up"))  # a change that would be written
    assert generate("specs")[0] == 1
    assert tree(Path("gen")) == before
    status, out, err = generate("specs", check=True)
    assert (status, out) == (1, "") and "[duplicate-machine]" in err
