"""The JSON report: the design brief's contract, one object for every spec checked."""

from __future__ import annotations

from collections.abc import Sequence

from statewright.verify import __version__
from statewright.verify.check import CheckResult
from statewright.verify.printable import inert_json
from statewright.verify.report.text import cut_short, not_taken, transition_counts

__all__ = ["render_json"]


def render_json(results: Sequence[CheckResult], strict: bool = False) -> str:
    """The JSON contract of the design brief, one object."""
    specs: list[dict[str, object]] = []
    for result in results:
        entry: dict[str, object] = {
            "file": result.file,
            "machine": result.machine,
            "ok": result.ok(strict),
            "stats": None,
            "findings": [f.as_json() for f in result.findings],
            "coverage": None,
        }
        if result.stats is not None:
            stats: dict[str, int | dict[str, int] | None] = {
                "states": result.stats.states,
                "transitions": result.stats.transitions,
                "reachable": result.stats.reachable,
            }
            if result.stats.configurations is not None:
                stats["configurations"] = result.stats.configurations
            stats["worst_case_seconds"] = result.stats.worst_case_seconds
            if result.stats.within:
                stats["within_seconds"] = dict(result.stats.within)
            entry["stats"] = stats
        if result.coverage is not None:
            transitions, never = transition_counts(result)
            entry["coverage"] = {
                "paths": [list(p) for p in result.coverage.paths],
                "covered": result.coverage.covered,
                "total": result.coverage.total,
                # The text report's counts: every transition, and why the rest is not fired.
                "transitions": transitions,
                "never_fire": never,
                "not_taken": not_taken(result),
                "not_known": result.coverage.total - result.coverage.covered
                if cut_short(result)
                else 0,
            }
        specs.append(entry)
    document = {"tool": "statewright", "version": __version__, "specs": specs}
    return inert_json(document) + "\n"
