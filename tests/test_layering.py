"""Imports go one way, and the folders say which.

- ``verify`` never imports ``generator`` or Jinja;
- ``statewright.verify.model`` and ``statewright.verify.findings`` import nothing of
  statewright's but each other;
- the loader (``statewright.verify.load``) stands below the analyses: it imports neither
  networkx nor the graph, the rules or the reports (it reports its progress to
  ``statewright.verify.progress``, which imports nothing);
- the reports and the conformance harness sit on top of ``verify`` and below nothing in it
  (but ``statewright.verify.explain`` runs the examples of the Step Functions history
  rules with their checker, ``statewright.verify.conformance.stepfunctions``);
- ``statewright.generator.runtime`` (copied verbatim into generated output) imports the standard
  library alone;
- the command layer (``generator/cli.py`` and ``generator/commands/``) sits above the rest:
  nothing else in ``verify`` or ``generator`` imports it;
- no module imports another that imports it back, directly or round a longer loop.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("verify", "generator")
HISTORY_CHECKER = "statewright.verify.conformance.stepfunctions"


def module_name(path: Path) -> str:
    """The import name of a file of the layout: ``verify/x.py`` is ``statewright.verify.x``."""
    parts = ["statewright", *path.relative_to(ROOT).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {
    module_name(path): path
    for package in PACKAGES
    for path in sorted((ROOT / package).rglob("*.py"))
}


def imports_of(name: str) -> Iterator[str]:
    """Every module ``name`` imports, anywhere in its body but under ``if TYPE_CHECKING``,
    resolved to a full name."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), filename=str(path))
    typing_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for statement in node.body
        for inner in ast.walk(statement)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            for alias in node.names:  # ``from package import module``
                if f"{base}.{alias.name}" in MODULES:
                    yield f"{base}.{alias.name}"


def internal(name: str) -> set[str]:
    return {found for found in imports_of(name) if found in MODULES and found != name}


def outside(name: str, *allowed: str) -> set[str]:
    """What ``name`` imports of statewright's own modules beyond the ``allowed`` prefixes."""
    return {
        found
        for found in internal(name)
        if found != "statewright.verify"  # the package itself: its version
        and not any(found == prefix or found.startswith(prefix + ".") for prefix in allowed)
    }


def _params(prefix: str) -> list[str]:
    return [name for name in MODULES if name == prefix or name.startswith(prefix + ".")]


@pytest.mark.parametrize("name", _params("statewright.verify"))
def test_verify_never_imports_generator_or_jinja(name: str) -> None:
    bad = {
        found
        for found in imports_of(name)
        if found.startswith("statewright.generator") or found.split(".")[0] == "jinja2"
    }
    assert not bad, f"{name} imports {sorted(bad)}"


@pytest.mark.parametrize(
    "name",
    [
        "statewright.verify.model",
        "statewright.verify.findings",
        "statewright.verify.printable",
        "statewright.verify.progress",
    ],
)
def test_the_model_stands_alone(name: str) -> None:
    """The model, findings, the printable text of findings and progress reports need
    nothing else."""
    allowed = ("statewright.verify.model", "statewright.verify.printable")
    assert not outside(name, *allowed), f"{name} imports {sorted(outside(name))}"


@pytest.mark.parametrize(
    "name", [*_params("statewright.verify.load"), "statewright.verify.registry"]
)
def test_the_loader_stands_below_the_analyses(name: str) -> None:
    allowed = (
        "statewright.verify.model",
        "statewright.verify.findings",
        "statewright.verify.printable",
        "statewright.verify.registry",
        "statewright.verify.progress",
        "statewright.verify.digraph",
        "statewright.verify.load",
    )
    assert not outside(name, *allowed), f"{name} imports {sorted(outside(name, *allowed))}"
    assert "networkx" not in {found.split(".")[0] for found in imports_of(name)}


def test_the_plain_graph_searches_need_no_networkx() -> None:
    """The loader's analyses of Step Functions definitions search with them."""
    assert outside("statewright.verify.digraph") == set()
    assert "networkx" not in {f.split(".")[0] for f in imports_of("statewright.verify.digraph")}


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in _params("statewright.verify")
        if not n.startswith(
            (
                "statewright.verify.report",
                "statewright.verify.conformance",
                "statewright.verify.explore",
            )
        )
    ],
)
def test_reports_and_conformance_sit_on_top(name: str) -> None:
    above = {
        found
        for found in internal(name)
        if found.startswith(("statewright.verify.report", "statewright.verify.conformance"))
        and not (name == "statewright.verify.explain" and found.startswith(HISTORY_CHECKER))
    }
    assert not above, f"{name} imports {sorted(above)}"


@pytest.mark.parametrize("name", _params("statewright.generator.runtime"))
def test_the_runtime_support_imports_only_the_standard_library(name: str) -> None:
    foreign = {
        found
        for found in imports_of(name)
        if found.split(".")[0] not in sys.stdlib_module_names
        and not found.startswith("statewright.generator.runtime")
        and found not in ("", "__future__")
    }
    assert not foreign, f"{name} imports {sorted(foreign)}"


def _in_the_command_layer(name: str) -> bool:
    return name in (
        "statewright.generator.cli",
        "statewright.generator.commands",
    ) or name.startswith("statewright.generator.commands.")


@pytest.mark.parametrize("name", [n for n in MODULES if not _in_the_command_layer(n)])
def test_the_command_layer_sits_above_the_rest(name: str) -> None:
    """A command's arguments, help and exit statuses are the command layer's; what it runs
    on (the checker, the generator, the stores) never reaches back up into it."""
    above = {found for found in imports_of(name) if _in_the_command_layer(found)}
    assert not above, f"{name} imports {sorted(above)}"


def test_the_command_layer_check_sees_every_way_to_import_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``from generator import cli``, ``from statewright.generator.commands.inputs import ...`` and
    ``import statewright.generator.commands`` in a module below the layer are each caught."""
    module = tmp_path / "below.py"
    for line in (
        "from statewright.generator import cli",
        "from statewright.generator.commands.inputs import InputFormat",
        "import statewright.generator.commands",
        "from .commands import check",
    ):
        module.write_text(line + "\n")
        monkeypatch.setitem(MODULES, "statewright.generator.below", module)
        with pytest.raises(AssertionError, match=r"generator\.below imports"):
            test_the_command_layer_sits_above_the_rest("statewright.generator.below")


def test_no_import_cycles() -> None:
    graph = nx.DiGraph()
    for name in MODULES:
        graph.add_node(name)
        for found in internal(name):
            # a package's __init__ is imported by its own modules' imports: not a cycle
            if not name.startswith(found + "."):
                graph.add_edge(name, found)
    cycles = [sorted(cycle) for cycle in nx.simple_cycles(graph)]
    assert not cycles, f"import cycles: {cycles}"


def test_reading_a_spec_loads_no_analysis() -> None:
    code = (
        "import sys, statewright.verify.load; "
        "bad = [m for m in ('networkx', 'statewright.verify.graph', 'statewright.verify.rules', "
        "'statewright.verify.check', 'jinja2', 'hypothesis') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr


def test_generated_runtimes_import_only_the_standard_library() -> None:
    runtimes = sorted((ROOT / "generated").rglob("*.py"))
    runtimes = [path for path in runtimes if not path.name.startswith("test_")]
    assert runtimes, "generated/ holds no runtime modules; run `statewright generate`"
    for runtime in runtimes:
        tree = ast.parse(runtime.read_text(), filename=str(runtime))
        third_party = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.level == 0
        }
        third_party -= set(sys.stdlib_module_names) | {"__future__"}
        assert not third_party, f"{runtime.relative_to(ROOT)} imports {sorted(third_party)}"


def test_no_test_reads_files_outside_the_repository() -> None:
    """A first-time contributor's clone has nothing beside it, so no test may reach above
    the repository root (one compared a schema with a shared folder beside the clone and
    skipped itself in a fresh clone); fixtures and reference copies live in tests/data/."""
    above = re.compile(r"\bROOT\.parent\b|(?:\.parent){3}|\.\./shared")
    parents = re.compile(r"\.parents\[(\d+)\]")
    sources = [*(ROOT / "tests").rglob("*.py"), *(ROOT / "docs").glob("*.py")]
    for path in sorted(sources):
        depth = len(path.relative_to(ROOT).parts)  # parents[depth - 1] is the root
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            where = f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
            assert not above.search(line), where
            assert all(int(n) < depth for n in parents.findall(line)), where


def test_checking_and_generating_need_no_hypothesis(tmp_path: Path) -> None:
    """hypothesis is the optional extra ``statewright[testing]``: only the conformance
    harness and the generated tests import it."""
    code = (
        "import sys; sys.modules['hypothesis'] = None; sys.modules['pytest'] = None; "
        "from statewright.generator.cli import main; "
        f"a = main(['check', '--strict', {str(ROOT / 'specs')!r}]); "
        f"b = main(['generate', {str(ROOT / 'specs')!r}, '--out', {str(tmp_path / 'out')!r}]); "
        "sys.exit(a or b)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (tmp_path / "out" / "orchestrator" / "runtime.py").is_file()
