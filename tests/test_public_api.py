"""One import name and a small public API (DESIGN.md, "Package and public API").

The distribution's only top-level package is ``statewright``; the layout's folders are its
subpackages. Nothing in the repository imports them as ``verify`` or ``generator`` (in an
installed wheel those names do not exist: ``.ci/wheel`` shows it), the public names load on
first use, and the Python API reference (``docs/api.md``) is generated from the docstrings
of exactly the public modules, every public class and function documented.
"""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import apidoc
import pytest

import statewright

ROOT = Path(__file__).resolve().parents[1]


def _python_files() -> list[Path]:
    folders = ("verify", "generator", "statewright", "tests", "benchmarks", "docs")
    found = [path for folder in folders for path in (ROOT / folder).rglob("*.py")]
    links = (ROOT / "statewright" / "verify", ROOT / "statewright" / "generator")
    return [path for path in found if not any(path.is_relative_to(link) for link in links)]


def test_nothing_imports_the_layout_folders_by_their_own_names() -> None:
    bad = []
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            bad += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                for name in names
                if name.split(".")[0] in ("verify", "generator")
            ]
    assert not bad, "import statewright.verify / statewright.generator instead:\n" + "\n".join(bad)


def test_the_package_folders_are_the_layouts() -> None:
    for name in ("verify", "generator"):
        assert (ROOT / "statewright" / name).resolve() == (ROOT / name).resolve()
        module = importlib.import_module(f"statewright.{name}")
        assert Path(module.__file__ or "").resolve().parent == (ROOT / name).resolve()


def test_importing_statewright_loads_nothing_heavy() -> None:
    """A worker imports the package too: the checking API loads on first use."""
    code = (
        "import sys, statewright; "
        "heavy = [m for m in ('networkx', 'yaml', 'jinja2', 'statewright.verify.check') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_public_name_resolves_to_its_module_object() -> None:
    from statewright.verify import check

    for name in statewright.__all__:
        assert getattr(statewright, name) is not None, name
    assert statewright.check_file is check.check_file
    assert set(statewright.__all__) <= set(dir(statewright))
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = statewright.nothing


def test_checking_from_python(tmp_path: Path) -> None:
    result = statewright.check_file(ROOT / "specs" / "orchestrator.yaml")
    assert result.ok(strict=True) and result.machine == "orchestrator"
    broken = statewright.check_text("machine: m\nstates: {}\n", "m.yaml")
    assert not broken.ok() and broken.findings[0].location.file == "m.yaml"


def test_python_dash_m_runs_the_command_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "statewright", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("statewright "), done.stderr


@pytest.mark.parametrize("module_name", apidoc.PUBLIC)
def test_every_public_class_and_function_is_documented(module_name: str) -> None:
    module = importlib.import_module(module_name)
    assert inspect.getdoc(module), module_name
    undocumented = [
        name
        for name in apidoc.public_names(module)
        if (inspect.isclass(obj := getattr(module, name)) or inspect.isroutine(obj))
        and not inspect.getdoc(obj)
    ]
    assert not undocumented, f"{module_name}: {undocumented}"


@pytest.mark.parametrize("module_name", apidoc.PUBLIC)
def test_the_reference_has_an_entry_per_public_name(module_name: str) -> None:
    reference = apidoc.api_reference(module_name)
    module = importlib.import_module(module_name)
    for name in apidoc.public_names(module):
        assert f"{{#{module_name}.{name}}}" in reference, name


def test_the_api_page_shows_exactly_the_public_modules() -> None:
    page = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    shown = [
        line.split()[2] for line in page.splitlines() if line.startswith("<!-- statewright:api ")
    ]
    assert shown == list(apidoc.PUBLIC)


def test_apidoc_examples_run() -> None:
    failed, tried = doctest.testmod(apidoc)
    assert tried > 0 and failed == 0
