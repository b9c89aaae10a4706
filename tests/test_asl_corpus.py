"""Real ASL definitions (tests/data/asl, see its NOTICE.md) and the findings each must give.

Each ``NAME.findings`` beside a definition (or a template under ``templates/``) lists,
per machine the file maps to (each state machine, then each Parallel branch and Map
iterator), the findings ``statewright check`` reports, as it prints them, the state
machine's line with the worst case of an execution (``every execution ends within
1m 8s``, or what makes it unbounded). Rewrite them after a deliberate change with
``STATEWRIGHT_UPDATE_GOLDEN=1`` and review the difference.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from statewright.verify.asl import check_asl
from statewright.verify.discover import is_asl_name
from statewright.verify.load.asl import load_asl_files

CORPUS = Path(__file__).resolve().parent / "data" / "asl"
DEFINITIONS = sorted(p for p in CORPUS.iterdir() if is_asl_name(p))
TEMPLATES = sorted((CORPUS / "templates").glob("*.template.yaml"))
"""SAM and CloudFormation templates, each with a ``.findings`` file of the same kind."""
UPDATE = os.environ.get("STATEWRIGHT_UPDATE_GOLDEN") == "1"


def report(path: Path) -> str:
    lines = []
    results = [r for load in load_asl_files(path, display=path.name) for r in check_asl(load)]
    for result in results:
        time = f"; {result.stats.run_time}" if result.stats and result.stats.run_time else ""
        lines.append(f"# {result.file}: {result.machine or 'not loaded'}{time}")
        lines.extend(f.format() for f in result.findings)
    return "\n".join(lines) + "\n"


def test_the_corpus_is_a_dozen_definitions_with_their_licence() -> None:
    assert len(DEFINITIONS) >= 12
    notice = (CORPUS / "NOTICE.md").read_text(encoding="utf-8")
    assert "MIT No Attribution" in notice
    for path in DEFINITIONS + TEMPLATES:
        assert f"`{path.relative_to(CORPUS).as_posix()}`" in notice, path.name


@pytest.mark.parametrize("path", DEFINITIONS + TEMPLATES, ids=lambda p: p.name)
def test_each_definition_gives_its_findings(path: Path) -> None:
    stem = path.name.split(".asl.")[0].removesuffix(".template.yaml")
    expected = path.with_name(stem + ".findings")
    text = report(path)
    if UPDATE:
        expected.write_text(text, encoding="utf-8")
    assert expected.exists(), f"{expected.name} is missing; run with STATEWRIGHT_UPDATE_GOLDEN=1"
    assert text == expected.read_text(encoding="utf-8")
