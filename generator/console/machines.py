"""The machines the console serves: each spec's generated runtime class, and its diagram.

The console acts on a run only through the runtime ``statewright generate`` writes for its
spec (the same validation, authorisation and audit records as an application's): the
runtime module is rendered in memory from the spec (:func:`~statewright.generator.render.
render_runtime`) and executed as a module of a package whose ``_statewright`` is
:mod:`statewright.generator.runtime` itself, the source ``generate`` copies verbatim. The
diagram is the project's SVG (:mod:`statewright.generator.diagram`), drawn once per
machine; :meth:`Served.diagram` marks the state a run is in.
"""

from __future__ import annotations

import html
import re
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from statewright.generator import runtime
from statewright.generator.diagram.dot import render_dot, render_image
from statewright.generator.diagram.model import build_diagram
from statewright.generator.render import render_runtime
from statewright.generator.runtime import Machine
from statewright.verify.model import Spec

__all__ = ["PACKAGE", "Served", "serve_specs"]

PACKAGE = "statewright_console_machines"
"""The in-memory package the runtimes are executed in: ``PACKAGE.m<i>.runtime``."""


@dataclass(frozen=True, slots=True)
class Served:
    """One machine the console serves: its spec and its generated runtime class."""

    spec: Spec
    machine: type[Machine[Any, Any, Any]]
    _svg: list[str] = field(default_factory=list, compare=False, repr=False)

    @property
    def name(self) -> str:
        return self.spec.machine

    def kind(self, state: str) -> str | None:
        """The kind of ``state`` (``approval``, ``failed``, ...), None for a state the spec
        does not have (a store written under another version of it)."""
        found = next((s for s in self.spec.states if s.name == state), None)
        return None if found is None else str(found.kind)

    def approval_states(self) -> tuple[str, ...]:
        """The spec's approval states, in spec order."""
        return tuple(s.name for s in self.spec.states if str(s.kind) == "approval")

    def diagram(self, current: str | None) -> str:
        """The machine's SVG diagram, inline, with ``current`` (a state) marked."""
        if not self._svg:
            dot = render_dot(build_diagram(self.spec, ()))
            svg = render_image(dot, "svg").decode()
            self._svg.append(svg[svg.index("<svg") :])
        svg = self._svg[0]
        names = [s.name for s in self.spec.states]
        if current not in names:
            return svg
        # the diagram names state i's node "s<i>" (diagram.model.build_diagram)
        title = f"<title>s{names.index(current)}</title>"
        marked = re.sub(
            r'<g id="(node\d+)" class="node">(\s*)' + re.escape(title),
            lambda m: (
                f'<g id="{m[1]}" class="node current">{m[2]}{title}'
                f"<desc>current state: {html.escape(current)}</desc>"
            ),
            svg,
            count=1,
        )
        return marked


def serve_specs(specs: Iterable[Spec]) -> dict[str, Served]:
    """The machines of ``specs`` with their runtime classes, by machine name."""
    package = _package(PACKAGE)
    sys.modules[f"{PACKAGE}._statewright"] = runtime
    package._statewright = runtime  # type: ignore[attr-defined]
    served: dict[str, Served] = {}
    for number, spec in enumerate(sorted(specs, key=lambda s: s.machine)):
        served[spec.machine] = Served(spec, _runtime_class(spec, f"{PACKAGE}.m{number}"))
    return served


def _package(name: str) -> types.ModuleType:
    package = types.ModuleType(name)
    package.__path__ = []
    sys.modules[name] = package
    return package


def _runtime_class(spec: Spec, package: str) -> type[Machine[Any, Any, Any]]:
    """The machine class of ``spec``'s generated runtime, executed as ``package.runtime``."""
    _package(package)
    module = types.ModuleType(f"{package}.runtime")
    module.__package__ = package
    sys.modules[module.__name__] = module
    code = compile(render_runtime(spec), f"<runtime of {spec.machine}>", "exec")
    exec(code, module.__dict__)
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, Machine)
            and value.__module__ == module.__name__
        ):
            return value
    raise LookupError(f"the generated runtime of {spec.machine} defines no machine class")
