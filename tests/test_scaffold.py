"""``statewright new NAME``: a spec that passes the checker, with the editor modeline."""

from __future__ import annotations

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

from statewright.generator.cli import main
from statewright.generator.commands.new import SCHEMA_PATH, scaffold, schema_reference
from statewright.verify.check import check_file

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_new_writes_a_spec_with_no_findings(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["new", "release_pipeline"], capsys)
    assert (status, err) == (0, "")
    target = Path("specs/release_pipeline.yaml")
    assert out == f"wrote {target}; check it with: statewright check {target}\n"
    result = check_file(target)
    assert result.findings == ()
    assert result.machine == "release_pipeline"
    assert result.coverage is not None and result.coverage.covered == result.coverage.total
    assert run(["check", "--strict", str(target)], capsys)[0] == 0


def modeline(path: Path) -> str:
    first = path.read_text().splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    return first.removeprefix(prefix)


def test_outside_the_repository_the_modeline_survives_a_move(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``statewright new`` outside the clone once wrote ``../../<clone>/verify/...``, a
    path that broke as soon as the spec moved; now it is the installed schema's path."""
    assert run(["new", "door", "-o", "machines/deep/door.yaml"], capsys)[0] == 0
    written = Path("machines/deep/door.yaml")
    reference = modeline(written)
    assert os.path.isabs(reference) and Path(reference) == SCHEMA_PATH
    moved = tmp_path / "elsewhere" / "door.yaml"
    moved.parent.mkdir()
    written.rename(moved)
    resolved = Path(reference) if os.path.isabs(reference) else moved.parent / reference
    assert resolved.is_file() and json.loads(resolved.read_text())["title"]
    assert run(["schema"], capsys) == (0, f"{SCHEMA_PATH.as_posix()}\n", "")


def test_inside_the_repository_the_modeline_is_relative(tmp_path: Path) -> None:
    target = ROOT / "specs" / "examples" / "not_written.yaml"
    assert schema_reference(target) == "../../verify/spec.schema.json"
    assert (target.parent / schema_reference(target)).resolve() == SCHEMA_PATH


def test_in_this_repository_the_modeline_matches_the_shipped_specs() -> None:
    shipped = (ROOT / "specs" / "orchestrator.yaml").read_text().splitlines()[0]
    assert shipped == f"# yaml-language-server: $schema={schema_reference(ROOT / 'specs/x.yaml')}"


def test_the_scaffold_validates_against_the_schema() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    document = yaml.safe_load(scaffold("release_pipeline", Path("specs/release_pipeline.yaml")))
    jsonschema.Draft7Validator(schema).validate(document)


def test_new_never_overwrites(capsys: pytest.CaptureFixture[str]) -> None:
    target = Path("specs/door.yaml")
    target.parent.mkdir()
    target.write_text("mine\n")
    status, out, err = run(["new", "door"], capsys)
    assert (status, out) == (2, "")
    assert err == (
        "statewright: error: specs/door.yaml already exists; choose another name or -o FILE\n"
    )
    assert target.read_text() == "mine\n"


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("Release-Pipeline", "rename it to 'release_pipeline'"),
        ("class", "is a Python keyword"),
        ("2fast", "is not snake_case"),
        ("a__b", "rename it to 'a_b'"),
        ("", "is not snake_case"),
    ],
)
def test_new_refuses_invalid_names(
    name: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(["new", name], capsys)
    assert (status, out) == (2, "")
    assert err.startswith("statewright: error: machine ")
    assert says in err
    assert "a valid name is snake_case like release_pipeline" in err
    assert err.count("\n") == 1
    assert not Path("specs").exists()


def test_an_unwritable_target_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    Path("blocker").write_text("a file, not a folder\n")
    status, out, err = run(["new", "door", "-o", "blocker/door.yaml"], capsys)
    assert (status, out) == (2, "")
    assert err.startswith("statewright: error: cannot write blocker/door.yaml: ")
    assert err.count("\n") == 1
