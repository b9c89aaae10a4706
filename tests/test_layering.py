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
- the step kernel is one file, ``verify/semantics/kernel.py``, which the runtime support
  carries as a link (``generator/runtime/kernel.py``): it imports the standard library alone,
  and no other module of the checker's semantics or the runtime writes a step rule of its own;
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


KERNEL = ROOT / "verify" / "semantics" / "kernel.py"


def test_the_step_kernel_is_one_file_both_sides_import() -> None:
    """The runtime support's kernel is a link to the checker's, and a generated
    ``_statewright/kernel.py`` is that file under its header."""
    link = ROOT / "generator" / "runtime" / "kernel.py"
    assert link.is_symlink(), "generator/runtime/kernel.py must link to the checker's kernel"
    assert link.resolve() == KERNEL.resolve()
    copied = (ROOT / "generated" / "_statewright" / "kernel.py").read_text(encoding="utf-8")
    assert copied.split("\n", 1)[1] == KERNEL.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    "name", ["statewright.verify.semantics.kernel", "statewright.generator.runtime.kernel"]
)
def test_the_step_kernel_imports_only_the_standard_library(name: str) -> None:
    found = {f for f in imports_of(name) if f not in ("", "__future__")}
    assert all(f.split(".")[0] in sys.stdlib_module_names for f in found), sorted(found)


def step_rules(tree: ast.AST) -> list[str]:
    """What in ``tree`` writes a step rule: walking a trigger's alternatives (``x =
    x.orelse``), testing a guard (``.test(...)``, ``.holds(...)``), telling an ``always``
    exit by its trigger, or adding an ``after`` to a time; each as its line and text."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        rule = (
            (isinstance(node, ast.Assign) and _attribute(node.value, "orelse"))
            or (isinstance(node, ast.Call) and _attribute(node.func, "test", "holds"))
            or (
                isinstance(node, ast.Compare)
                and any(
                    (isinstance(side, ast.Constant) and side.value == "always")
                    or (isinstance(side, ast.Name) and side.id.startswith("AUTOMATIC"))
                    for side in (node.left, *node.comparators)
                )
            )
            or (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Add)
                and (_attribute(node.left, "after") or _attribute(node.right, "after"))
            )
        )
        if rule:
            found.append((getattr(node, "lineno", 0), ast.unparse(node)))
    return [f"{line}: {text}" for line, text in sorted(found)]


def _attribute(node: ast.AST, *names: str) -> bool:
    return isinstance(node, ast.Attribute) and node.attr in names


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in (
            *_params("statewright.verify.semantics"),
            *_params("statewright.generator.runtime"),
        )
        if not n.endswith(".kernel")
    ],
)
def test_no_second_copy_of_the_step_rules(name: str) -> None:
    """Only the kernel chooses a transition, tests a guard, classifies an ``always`` exit or
    computes a deadline: the engine and the checker's semantics ask it."""
    path = MODULES[name]
    found = step_rules(ast.parse(path.read_text(), filename=str(path)))
    assert not found, f"{name} writes step rules of its own (use the kernel): {found}"


def test_the_step_rule_check_finds_the_engine_of_old() -> None:
    """The check above catches each way the engine once wrote the rules itself."""
    engine_of_old = """
def _holding(edge, values):
    while edge is not None and edge.when is not None and not edge.when.test(values):
        edge = edge.orelse
    return edge
def _compile(edge, source):
    if edge.trigger == AUTOMATIC:
        source.automatic = source.automatic or edge
def deadline(self, timed):
    return self._entered + timed.after
"""
    found = step_rules(ast.parse(engine_of_old))
    assert [line.split(":")[0] for line in found] == ["3", "4", "7", "10"], found
    asking = "deadline = node.deadline(entered)\nedge = kernel.choose(first, values)\n"
    assert not step_rules(ast.parse(asking)), "the check flags code that asks the kernel"


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
