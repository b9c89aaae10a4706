"""Counterexamples written out as regression tests: ``statewright check --regressions DIR``.

For every property a check finds violated, :func:`regression_files` renders a pytest
module (``regression_test.py.jinja``) that embeds the spec and the counterexample and
replays it on the generated runtime (:func:`statewright.verify.conformance.regression.
assert_unreachable`): it fails while the spec allows the violation and passes once the
spec is fixed and its runtime regenerated, so the fix stays proven. :func:`write_regressions`
writes them, all or nothing (:func:`statewright.generator.output.write_tree`), never over a file
that does not carry statewright's mark. A module is named ``test_<machine>__<property>.py``:
machine and property names are snake_case, which has no ``__``, so two properties never
share a file name.
"""

from __future__ import annotations

import keyword
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from statewright.generator import __version__
from statewright.generator.env import environment
from statewright.generator.format import format_python
from statewright.generator.naming import LINE_LENGTH, block_literal, class_name, string_literal
from statewright.generator.output import (
    Output,
    Refused,
    carries_mark,
    collect,
    path_problems,
    write_tree,
)
from statewright.generator.pyexpr import python_of_value
from statewright.verify.check import CheckResult
from statewright.verify.findings import TraceStep
from statewright.verify.printable import printable, printable_path

__all__ = [
    "RegressionView",
    "module_name",
    "package_problem",
    "regression_files",
    "write_regressions",
]


def package_problem(name: str) -> str | None:
    """Why ``name`` cannot be the runtime package the tests import (``--runtime-package``),
    if it cannot: it must be a dotted Python name, each part an identifier and no keyword.

    >>> package_problem("src.generated") is None
    True
    >>> print(package_problem("app;import os"))
    --runtime-package 'app;import os' is not a dotted Python name, such as app.generated
    """
    parts = name.split(".")
    if all(part.isidentifier() and not keyword.iskeyword(part) for part in parts):
        return None
    shown = printable(name)
    return f"--runtime-package '{shown}' is not a dotted Python name, such as app.generated"


def module_name(machine: str, prop: str) -> str:
    """The file of the regression test of ``prop`` of ``machine``: one file per pair.

    >>> module_name("a", "b_c"), module_name("a_b", "c")
    ('test_a__b_c.py', 'test_a_b__c.py')
    """
    return f"test_{machine}__{prop}.py"


@dataclass(frozen=True, slots=True)
class StepRow:
    """One step of the counterexample, each field a Python literal."""

    trigger: str
    target: str
    variables: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class RegressionView:
    """Everything ``regression_test.py.jinja`` prints, for one violated property."""

    machine: str
    version: str
    file: str
    sha256: str
    message: str
    runtime_module: str
    class_name: str
    spec_text: str
    property: str
    test_name: str
    trace: tuple[StepRow, ...]
    cycle: tuple[StepRow, ...]


def _row(step: TraceStep) -> StepRow:
    return StepRow(
        string_literal(step.trigger),
        string_literal(step.target),
        tuple((string_literal(name), python_of_value(value)) for name, value in step.variables),
    )


def regression_files(result: CheckResult, text: str, package: str = "generated") -> list[Output]:
    """One test module per property ``result`` found violated;
    ``text`` is the spec's source and ``package`` the package the runtimes were generated
    into (``statewright generate --out``)."""
    spec = result.spec
    if spec is None:
        return []
    by_location = {p.location: p for p in spec.properties}
    rendered: dict[str, str] = {}
    sources: dict[str, str] = {}
    for finding in result.findings:
        prop = by_location.get(finding.location)
        if finding.rule != "property-violated" or prop is None:
            continue
        view = RegressionView(
            machine=spec.machine,
            version=__version__,
            file=spec.file,
            sha256=spec.sha256,
            message=finding.message,
            runtime_module=f"{package}.{spec.machine}.runtime",
            class_name=class_name(spec.machine),
            spec_text=block_literal(text, LINE_LENGTH),
            property=prop.name,
            test_name=f"{prop.name}_cannot_be_violated",
            trace=tuple(map(_row, finding.trace)),
            cycle=tuple(map(_row, finding.cycle)),
        )
        template = environment().get_template("regression_test.py.jinja")
        name = module_name(spec.machine, prop.name)
        rendered[name] = template.render(view=view)
        sources[name] = f"property {prop.name} of {spec.file}"
    return [Output(name, text, sources[name]) for name, text in format_python(rendered).items()]


def write_regressions(folder: Path, outputs: Sequence[Output]) -> list[Path] | str:
    """Write ``outputs`` into ``folder`` (made if missing), all or nothing; the paths
    written, or why nothing was: two outputs of one file, a path that is not safe to
    write (:func:`statewright.generator.output.path_problems`), a file in the way that statewright
    did not write."""
    try:
        files = collect(outputs)
    except Refused as refused:
        return "; ".join(refused.problems) + "; nothing written"
    if folder.exists() and not folder.is_dir():
        return f"{printable_path(folder.as_posix())} is not a folder"
    problems = path_problems(folder, files)  # before anything is read through a link
    for name in files if not problems else ():
        path = folder / name
        if path.exists() and not carries_mark(path):
            problems.append(
                f"{printable_path(path.as_posix())} exists and was not written by "
                "statewright; move it or choose another folder"
            )
    try:
        if problems:
            raise Refused(problems)
        return write_tree(folder, files)
    except Refused as refused:
        return "; ".join(refused.problems) + "; nothing written"
