"""View model -> generated files: ``{relative path: text}``, deterministic.

Each spec renders to files under ``<machine>/``: its typed runtime ``runtime.py``, its
hypothesis tests ``test_<machine>.py``, an ``__init__.py`` that makes the folder a
package, and the diagrams ``<machine>.dot``, ``.svg`` and ``.mmd``
(:func:`statewright.generator.diagram.diagram_files`, which needs Graphviz's ``dot``). Once per
output folder come the runtime support package ``_statewright/`` (:func:`render_support`: the
source of :mod:`statewright.generator.runtime`, copied verbatim under a one-line header) and the
folder's own ``__init__.py`` (:data:`PACKAGE_INIT`), which makes it a package tree, so
``from generated.orchestrator.runtime import Orchestrator`` works and each runtime finds
its support beside it.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from statewright.generator import GENERATED_MARK, __version__
from statewright.generator.diagram import diagram_files
from statewright.generator.env import environment
from statewright.generator.format import format_python
from statewright.generator.output import PACKAGE_INIT
from statewright.generator.view import SUPPORT_PACKAGE, runtime_view, tests_view
from statewright.verify.findings import Finding
from statewright.verify.model import Spec

__all__ = [
    "GENERATED_MARK",
    "PACKAGE_INIT",
    "render_package_init",
    "render_runtime",
    "render_spec",
    "render_support",
    "render_tests",
]


def render_runtime(spec: Spec) -> str:
    """The typed runtime module of ``spec``."""
    return format_python({"runtime.py": _runtime(spec)})["runtime.py"]


def render_tests(spec: Spec, source: str) -> str:
    """The hypothesis test module of ``spec``'s runtime; ``source`` is the spec's text."""
    return format_python({"test.py": _tests(spec, source)})["test.py"]


def _runtime(spec: Spec) -> str:
    return environment().get_template("runtime.py.jinja").render(view=runtime_view(spec))


def _tests(spec: Spec, source: str) -> str:
    view = tests_view(spec, source)
    return environment().get_template("test_machine.py.jinja").render(view=view)


def render_package_init() -> str:
    """The ``__init__.py`` of the output folder."""
    return (
        f'"""{GENERATED_MARK} {__version__}: one package per machine, do not edit.\n\n'
        f"Change the specs and run ``statewright generate``. ``{SUPPORT_PACKAGE}/`` holds the\n"
        'runtime support every machine imports.\n"""\n'
    )


@cache
def render_support() -> dict[str, str]:
    """The runtime support package, ``_statewright/<module>.py``: each module of
    :mod:`statewright.generator.runtime` verbatim under a one-line header."""
    files: dict[str, str] = {}
    package = resources.files("statewright.generator.runtime")
    for entry in sorted(package.iterdir(), key=lambda found: found.name):
        if not entry.name.endswith(".py"):
            continue
        header = (
            f"# {GENERATED_MARK} {__version__}: a verbatim copy of generator/runtime/"
            f"{entry.name}; do not edit.\n"
        )
        files[f"{SUPPORT_PACKAGE}/{entry.name}"] = header + entry.read_text(encoding="utf-8")
    return files


def _machine_init(spec: Spec) -> str:
    return (
        f'"""The ``{spec.machine}`` machine. {GENERATED_MARK} {__version__}; do not edit.\n\n'
        f'Its runtime is ``runtime.py`` beside this file.\n"""\n'
    )


def render_spec(spec: Spec, findings: tuple[Finding, ...], source: str) -> dict[str, str]:
    """Every file generated from ``spec`` (whose text is ``source``), by path relative to
    the output folder."""
    python = format_python(
        {
            f"{spec.machine}/runtime.py": _runtime(spec),
            f"{spec.machine}/test_{spec.machine}.py": _tests(spec, source),
        }
    )
    files = {f"{spec.machine}/__init__.py": _machine_init(spec), **python}
    for name, text in diagram_files(spec, findings).items():
        files[f"{spec.machine}/{name}"] = text
    return dict(sorted(files.items()))
