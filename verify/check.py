"""Check orchestration: load a spec, run every rule and the transition tour, collect results.

>>> result = check_text('''
... statewright: 1
... machine: demo
... initial: IDLE
... states:
...   IDLE: {kind: idle}
...   DONE: {kind: complete}
... transitions:
...   - {from: IDLE, to: DONE, trigger: finish}
... ''')
>>> [f.format() for f in result.findings]
['<string>:7:3: error[dead-end] DONE has no exits; add a transition or mark it final: true']
>>> result.coverage.paths, result.ok()
((('finish',),), False)
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass

import statewright.verify.rules
from statewright.verify import progress
from statewright.verify.analysis import Analysis
from statewright.verify.causes import link_causes
from statewright.verify.coverage import Coverage, transition_tour
from statewright.verify.explore import Budget, budget_of
from statewright.verify.explore.timing import describe
from statewright.verify.explore.tour import configuration_tour
from statewright.verify.findings import Finding, Severity, has_errors, sort_findings
from statewright.verify.graph import build_graph, reachable
from statewright.verify.load import LoadResult, gc_paused, load_file, load_text
from statewright.verify.model import Location, Spec
from statewright.verify.rules.data import too_large

__all__ = [
    "CheckResult",
    "Stats",
    "check_file",
    "check_result",
    "check_spec",
    "check_text",
    "check_together",
]


@dataclass(frozen=True, slots=True)
class Stats:
    """The size of a machine: declared states, expanded transitions, reachable states and,
    for a spec with variables or properties, reachable configurations; and how long a run
    can take: ``worst_case_seconds`` (None when unbounded or unknown) and ``run_time``,
    the text report's words for it (:func:`statewright.verify.explore.timing.describe`);
    ``within``: each ``leads_to ... within`` property that holds, by name, with its worst
    case in seconds."""

    states: int
    transitions: int
    reachable: int
    configurations: int | None = None
    worst_case_seconds: int | None = None
    run_time: str = ""
    within: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class CheckResult:
    """Everything known about one spec file after checking it.

    A spec that failed to load has ``spec``, ``coverage`` and ``stats`` None and its load
    findings; otherwise ``findings`` holds the load warnings (if any) and every rule's
    findings, sorted.
    """

    file: str
    spec: Spec | None
    findings: tuple[Finding, ...]
    coverage: Coverage | None
    stats: Stats | None

    @property
    def machine(self) -> str | None:
        return None if self.spec is None else self.spec.machine

    def ok(self, strict: bool = False) -> bool:
        """No error finding (``strict``: no warning either)."""
        if strict:
            return not any(f.severity in _STRICT for f in self.findings)
        return not has_errors(self.findings)


_UNKNOWN_TIME = "a run's time is not known (the exploration was cut short)"

_STRICT = frozenset({Severity.ERROR, Severity.WARNING})


def check_spec(
    spec: Spec, *, max_configurations: int | None = None, budget: Budget | None = None
) -> CheckResult:
    """Run every registered rule and the transition tour on a loaded spec.

    Every rule gets the spec's one :class:`~statewright.verify.analysis.Analysis`: a spec with
    variables or properties is explored there once, within ``budget`` (default
    :data:`~statewright.verify.explore.budget.DEFAULT_BUDGET`; ``max_configurations`` replaces its
    bound on configurations), and the data rules read that exploration; a tour longer
    than the budget allows gives ``state-space-too-large`` too.
    """
    budget = _budget(budget, max_configurations)
    with gc_paused():  # the analysis allocates millions of objects and no cycles
        progress.phase("building the graph")
        graph = build_graph(spec)
        analysis = Analysis(spec, graph, budget)
        found = analysis.exploration
        findings: list[Finding] = []
        for registered in statewright.verify.rules.RULES.values():
            check = registered.form(spec)
            if check is not None:
                progress.phase(f"rule {registered.id}")
                findings.extend(check(analysis))
        findings = link_causes(graph, findings)
        seconds, run_time = _run_time(analysis)
        progress.phase("finding covering paths")
        if spec.has_data and found is not None:
            coverage, reached = configuration_tour(found), len(found.reached)
        else:
            coverage = transition_tour(spec, graph, budget.tour_steps)
            reached = len(reachable(graph, spec.initial))
        if coverage.exceeded is not None:
            findings.append(too_large(spec, coverage.exceeded))
        stats = Stats(
            len(spec.states),
            len(spec.transitions),
            reached,
            None if found is None else len(found),
            seconds,
            run_time,
            _worst_cases(analysis),
        )
    return CheckResult(spec.file, spec, sort_findings(findings), coverage, stats)


def _run_time(analysis: Analysis) -> tuple[int | None, str]:
    """A run's worst case in seconds (None: unbounded or not known) and the text report's
    words for it. A machine read from ASL is left to the ASL analysis: its Choice states
    are instantaneous there, not rests."""
    if analysis.spec.from_asl:
        return None, ""
    progress.phase("bounding a run's time")
    bound, timed = analysis.run_time, analysis.timed
    if bound is None or timed is None:
        return None, _UNKNOWN_TIME
    return bound.seconds, describe(timed, bound)


def _worst_cases(analysis: Analysis) -> tuple[tuple[str, int], ...]:
    """The worst case of each ``within`` property that holds, when properties were
    checked (a rule asked for them)."""
    if not any(p.within is not None for p in analysis.spec.properties):
        return ()
    checked = analysis.properties
    return () if checked is None else checked.worst_cases


def _budget(budget: Budget | None, max_configurations: int | None) -> Budget:
    budget = budget_of(budget)
    if max_configurations is None:
        return budget
    return dataclasses.replace(budget, configurations=max_configurations)


def check_result(
    load: LoadResult, *, max_configurations: int | None = None, budget: Budget | None = None
) -> CheckResult:
    """Check what a loader returned. A spec that did not load keeps ``spec`` None (it is
    not generated, and reads as not loaded), but its findings are the load findings and
    those of the rules on what could be read around them (:func:`_around_load_errors`)."""
    if load.spec is None:
        around = _around_load_errors(load, max_configurations, budget)
        return CheckResult(load.file, None, sort_findings((*load.findings, *around)), None, None)
    checked = check_spec(load.spec, max_configurations=max_configurations, budget=budget)
    findings = sort_findings((*load.findings, *checked.findings))
    return CheckResult(load.file, load.spec, findings, checked.coverage, checked.stats)


def _around_load_errors(
    load: LoadResult, max_configurations: int | None, budget: Budget | None
) -> tuple[Finding, ...]:
    """The rules' findings on the spec as read around its load errors (``load.partial``).

    What a load error touched reads wrongly there (a ``final: yes`` left out makes a
    dead end; a reason left out, a failure without one), so a finding on a line that
    holds a load finding, or about a state declared on one, is left out: it is that
    error's consequence, and goes with its fix. A partial spec the rules cannot take
    gives no findings beyond the load's own.
    """
    partial = load.partial
    if partial is None:
        return ()
    try:
        checked = check_spec(partial, max_configurations=max_configurations, budget=budget)
    except Exception:  # a spec read around errors may break a rule's assumptions: no more
        return ()
    touched = {(f.location.file, f.location.line) for f in load.findings}
    declared = {s.name: (s.location.file, s.location.line) for s in partial.states}
    return tuple(
        f
        for f in checked.findings
        if (f.location.file, f.location.line) not in touched
        and not any(declared.get(state) in touched for state in f.states)
    )


def check_file(
    path: str | os.PathLike[str],
    display: str | None = None,
    *,
    max_configurations: int | None = None,
    budget: Budget | None = None,
) -> CheckResult:
    """Load and check one spec file; ``display`` names it in findings (default: ``path``)."""
    with progress.working_on(display if display is not None else os.fspath(path)):
        load = load_file(path, display)
        return check_result(load, max_configurations=max_configurations, budget=budget)


def check_text(
    text: str | bytes,
    file: str = "<string>",
    *,
    max_configurations: int | None = None,
    budget: Budget | None = None,
) -> CheckResult:
    """Load and check spec text; ``file`` names it in findings."""
    load = load_text(text, file)
    return check_result(load, max_configurations=max_configurations, budget=budget)


def check_together(results: Sequence[CheckResult]) -> list[CheckResult]:
    """``results`` with the findings of the project rules (``duplicate-machine``), which
    look at every loaded spec at once, added to the results they are about: the result
    whose spec is located where the finding is (one ASL file holds several machines),
    else the first result of the finding's file."""
    specs = [r.spec for r in results if r.spec is not None]
    at: dict[Location | None, int] = {}
    in_file: dict[str, int] = {}
    for number, result in enumerate(results):
        if result.spec is not None:
            at.setdefault(result.spec.location, number)
            at.setdefault(result.spec.machine_location, number)
        in_file.setdefault(result.file, number)
    found: dict[int, list[Finding]] = {}
    for registered in statewright.verify.rules.RULES.values():
        if registered.check_project is not None:
            for finding in registered.check_project(specs):
                owner = at.get(finding.location, in_file.get(finding.location.file))
                if owner is not None:
                    found.setdefault(owner, []).append(finding)
    return [
        dataclasses.replace(r, findings=sort_findings((*r.findings, *found[i])))
        if i in found
        else r
        for i, r in enumerate(results)
    ]
