"""Imports go one way: generator -> verify, never back; verify never touches Jinja."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN_IN_VERIFY = ("generator", "jinja2")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize(
    "path", sorted((ROOT / "verify").rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT))
)
def test_verify_never_imports_generator_or_jinja(path: Path) -> None:
    bad = {name for name in imported_modules(path) if name.split(".")[0] in FORBIDDEN_IN_VERIFY}
    assert not bad, f"{path.relative_to(ROOT)} imports {sorted(bad)}"


def test_generated_runtimes_import_only_the_standard_library() -> None:
    import sys

    runtimes = sorted((ROOT / "generated").glob("*/runtime.py"))
    assert runtimes, "generated/ holds no runtime modules; run `statewright generate`"
    for runtime in runtimes:
        third_party = {
            name.split(".")[0]
            for name in imported_modules(runtime)
            if name.split(".")[0] not in sys.stdlib_module_names
            and name.split(".")[0] != "__future__"
        }
        assert not third_party, f"{runtime.relative_to(ROOT)} imports {sorted(third_party)}"
