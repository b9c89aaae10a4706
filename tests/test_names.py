"""Every machine and trigger name the checker accepts gives a module that imports, passes
``mypy --strict`` and behaves.

The names tried are the ones that could break generated code: Python's keywords and soft
keywords, its builtins (and the snake_case of its exceptions: ``value_error``), the names
the generated module binds (``state``, ``trigger``, ``actor``, ``machine``, ...) and every
attribute of the runtime engine's class (``fire``, ``spec``, ``rollback``, ...). A name
the loader refuses (a keyword such as ``import``) gets a finding instead, and that is
checked too.
"""

from __future__ import annotations

import builtins
import keyword
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_runtime_kit import Clock, generate, write_package

from statewright.generator.naming import MODULE_NAMES, class_name, method_names
from statewright.generator.render import render_runtime
from statewright.generator.runtime.engine import Machine
from statewright.verify.check import check_text
from statewright.verify.load.values import SNAKE
from statewright.verify.rules import RULES, Family

ROOT = Path(__file__).resolve().parents[1]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


CANDIDATES = sorted(
    {
        *keyword.kwlist,
        *keyword.softkwlist,
        *dir(builtins),
        *(_snake(name) for name in dir(builtins) if name[:1].isupper()),
        *(name.lower() for name in MODULE_NAMES),
        *(_snake(name) for name in MODULE_NAMES),
        *dir(Machine),
        *Machine.__annotations__,
        "machine",
        "spec",
        "self",
        "cls",
    }
)
"""Every name worth trying, valid or not."""

VALID = [name for name in CANDIDATES if SNAKE.fullmatch(name) and not keyword.iskeyword(name)]
"""The ones the loader accepts as a machine or trigger name."""

MYPY = (sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir", os.devnull)
TRIGGERS = [name for name in VALID if name != "always"]

MACHINES = ["none", "true", "false", "state", "trigger", "reason", "actor", "machine"]
MACHINES += ["exception", "value_error", "type_error", "object", "type", "source"]


def spec_text(machine: str, triggers: list[str]) -> str:
    """A ring A -> B -> A ... driven by ``triggers`` in turn, each a plain transition."""
    lines = [
        "statewright: 1",
        f'machine: "{machine}"',  # quoted: true, false and null are YAML
        "initial: A",
        "states: {A: {kind: idle}, B: {kind: running}}",
        "transitions:",
    ]
    for number, trigger in enumerate(triggers):
        source, target = ("A", "B") if number % 2 == 0 else ("B", "A")
        lines.append(f'  - {{from: {source}, to: {target}, trigger: "{trigger}"}}')
    return "\n".join(lines) + "\n"


def drive(rt: Any, machine: str, triggers: list[str]) -> None:
    """Fire every trigger by its method, then again by ``fire``: the ring goes round twice."""
    cls = getattr(rt, class_name(machine))
    run = cls(clock=Clock())
    methods = method_names(triggers)
    for trigger in triggers:
        expected = run.spec.transitions[triggers.index(trigger)].target
        assert getattr(run, methods[trigger])() is expected, trigger
    for trigger in triggers:
        run.fire(rt.Trigger(trigger))
    assert len(run.audit) == 1 + 2 * len(triggers)
    assert type(run).__name__ == class_name(machine)


def test_the_pools_hold_the_names_that_bit_before() -> None:
    for name in ("none", "value_error", "type_error", "exception", "fire", "spec", "state"):
        assert name in VALID
    assert "import" in CANDIDATES and "import" not in VALID


def test_a_keyword_name_is_a_finding_not_a_module() -> None:
    result = check_text(spec_text("import", ["go", "back"]))
    assert result.spec is None
    # The rest of the spec is checked around the bad name (its running state has no
    # deadline): only the name is a load error.
    load = [f.rule for f in result.findings if RULES[f.rule].family is Family.LOAD]
    assert load == ["invalid-name"]


def test_every_tricky_name_imports_type_checks_and_behaves(tmp_path: Path) -> None:
    """Each machine name, with every valid tricky name as a trigger, in one package that
    ``mypy --strict`` checks as a whole."""
    files: dict[str, str] = {}
    ring = list(TRIGGERS)
    ring += [] if len(ring) % 2 == 0 else ["one_more"]
    for machine in MACHINES:
        result = check_text(spec_text(machine, ring), f"specs/{machine}.yaml")
        assert result.spec is not None, [f.format() for f in result.findings]
        files[f"{machine}/runtime.py"] = render_runtime(result.spec)
    package = write_package(tmp_path / "names", files)
    typed = subprocess.run(
        [*MYPY, str(package)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert typed.returncode == 0, typed.stdout[-3000:]
    sys.path.insert(0, str(tmp_path))
    try:
        for machine in MACHINES:
            rt = __import__(f"names.{machine}.runtime", fromlist=["runtime"])
            drive(rt, machine, ring)
    finally:
        sys.path.remove(str(tmp_path))


@settings(max_examples=25, deadline=None)
@given(
    machine=st.sampled_from(VALID),
    triggers=st.lists(
        st.sampled_from([n for n in VALID if n != "always"]), min_size=2, max_size=6, unique=True
    ).filter(lambda found: len(found) % 2 == 0),
)
def test_any_accepted_names_give_a_machine_that_behaves(
    machine: str, triggers: list[str], tmp_path_factory: pytest.TempPathFactory
) -> None:
    result = check_text(spec_text(machine, triggers))
    assert result.spec is not None, [f.format() for f in result.findings]
    rt = generate(result.spec, tmp_path_factory.getbasetemp() / "names")
    drive(rt, machine, triggers)
