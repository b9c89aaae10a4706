"""``statewright migrate``: prove that a new version of a spec strands no stored run of
the old one (:mod:`statewright.verify.migration`)."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from statewright.generator.commands import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    PROGRESS,
    Command,
    count,
    format_argument,
)
from statewright.generator.commands.migrate_store import BATCH, migrate_store, moved_lines
from statewright.generator.commands.stores import (
    Unusable,
    display,
    git_versions,
    opened,
    timers_of,
)
from statewright.verify import progress
from statewright.verify.check import CheckResult
from statewright.verify.explore import DEFAULT_BUDGET, Budget
from statewright.verify.findings import Finding, sort_findings
from statewright.verify.load import load_file, load_text
from statewright.verify.migration import Migrated, MigrationResult, migrate_loaded, prove
from statewright.verify.printable import printable_path
from statewright.verify.report import RENDERERS, exit_status, plural
from statewright.verify.report.text import finding_lines

__all__ = [
    "COMMAND",
    "migrate_command",
    "migration_results",
    "path_problem",
    "verdict_line",
    "with_history",
    "with_previous",
]


def path_problem(path: Path, what: str) -> str | None:
    """Why ``path`` cannot be read as a spec file (a usage error), or None."""
    shown = printable_path(str(path))
    if not path.exists():
        return f"{what} {shown} does not exist"
    if not path.is_file():
        return f"{what} {shown} is not a regular file; name a spec file"
    return None


def migration_results(migrated: Migrated) -> list[CheckResult]:
    """The proof as check results, for the report formats: the old file with its load
    findings, the new one with its own and the proof's (every proof finding is located
    in the new file, at its ``migrations``)."""
    old, new = migrated.old, migrated.new

    def of(file: str, spec: object, findings: Sequence[Finding]) -> CheckResult:
        mine = tuple(f for f in findings if f.location.file == file)
        return CheckResult(file, old.spec if spec is old else new.spec, mine, None, None)

    findings = migrated.findings
    results = [of(new.file, new, findings)]
    if old.file != new.file:
        results.insert(0, of(old.file, old, findings))
    return results


def with_previous(
    results: Sequence[CheckResult], previous: Path, budget: Budget = DEFAULT_BUDGET
) -> list[CheckResult] | str:
    """``results`` with the migration proof from ``previous`` added to the result of the
    spec of the same machine (``check --previous``); a usage problem as a string when
    ``previous`` cannot be read or no checked spec is its machine."""
    problem = path_problem(previous, "the previous spec")
    if problem is not None:
        return problem
    old = load_file(previous)
    if old.spec is None:
        return [CheckResult(old.file, None, old.findings, None, None), *results]
    machine = old.spec.machine
    found = [n for n, r in enumerate(results) if r.spec is not None and r.spec.machine == machine]
    if not found:
        return (
            f"--previous {printable_path(str(previous))} is the machine {machine}, which no "
            "checked spec is; name its new version too"
        )
    updated = list(results)
    for n in found:
        result = results[n]
        assert result.spec is not None
        proof = prove(old.spec, result.spec, budget)
        findings = sort_findings((*result.findings, *proof.findings))
        updated[n] = dataclasses.replace(result, findings=findings)
    return updated


def with_history(
    results: Sequence[CheckResult], budget: Budget = DEFAULT_BUDGET
) -> list[CheckResult]:
    """``results`` with, for each spec that declares migrations, the proof from each old
    version its git history holds (``check`` without ``--previous``); a migration whose
    old version is not found there is left unproved (``statewright migrate`` proves it
    from a file)."""
    updated = list(results)
    for n, result in enumerate(results):
        spec = result.spec
        if spec is None or not spec.migrations or not Path(result.file).is_file():
            continue
        versions = git_versions(Path(result.file), [m.source for m in spec.migrations])
        findings = list(result.findings)
        for commit, data in versions.values():
            old = load_text(data, f"{result.file}@{commit[:12]}")
            findings.extend(old.findings)
            if old.spec is not None:
                findings.extend(prove(old.spec, spec, budget).findings)
        updated[n] = dataclasses.replace(result, findings=sort_findings(findings))
    return updated


def verdict_line(migrated: Migrated) -> str:
    """The text report's last line: what was proved, or why it was not."""
    old, new, result = migrated.old, migrated.new, migrated.result
    errors = sum(1 for f in migrated.findings if f.severity == "error")
    if result is None:
        return f"Not proved: a spec did not load ({plural(errors, 'error')})."
    names = f"{printable_path(old.file)} -> {printable_path(new.file)}"
    if result.same:
        return f"{names}: the same spec version (sha256 {result.old.sha256[:12]}); nothing moves."
    at_rest = len(result.verdicts)
    source = result.migration.source if result.migration is not None else None
    head = f"{names} (migration from {source}): " if source else f"{names}: "
    if migrated.proved:
        return (
            f"{head}proved: the {plural(at_rest, 'configuration')} a stored run can be in all "
            f"land where {result.new.machine} goes on ({plural(result.explored, 'configuration')} "
            "of it explored)."
        )
    stranded = len(result.stranded)
    counted = f"{stranded} of {plural(at_rest, 'configuration')} stranded, " if at_rest else ""
    return f"{head}failed: {counted}{plural(errors, 'error')}."


def migrate_command(
    old: Path,
    new: Path,
    fmt: str,
    *,
    stdout: TextIO,
    stderr: TextIO,
    strict: bool = False,
    budget: Budget = DEFAULT_BUDGET,
    store: str | None = None,
    batch: int = BATCH,
) -> int:
    """``statewright migrate OLD NEW``: the report in ``fmt``; the exit status. With
    ``store`` (a SQLite file or a PostgreSQL URL), once proved, every stored run of OLD
    is moved to NEW (:mod:`.migrate_store`)."""
    for path, what in ((old, "the old spec"), (new, "the new spec")):
        problem = path_problem(path, what)
        if problem is not None:
            stderr.write(f"statewright: error: {problem}\n")
            return EXIT_USAGE
    with progress.working_on(str(new)):
        migrated = migrate_loaded(load_file(old), load_file(new), budget)
    results = migration_results(migrated)
    if fmt == "text":
        lines = list(finding_lines(migrated.findings))
        stdout.write("\n".join([*lines, verdict_line(migrated)]) + "\n")
    else:
        stdout.write(RENDERERS[fmt](results, strict))
    if migrated.result is None:
        return EXIT_FINDINGS
    status = EXIT_OK if exit_status(results, strict) == 0 else EXIT_FINDINGS
    if store is None:
        return status
    if status != EXIT_OK or migrated.result.migration is None:
        stderr.write(f"statewright: {display(store)}: not proved, so no stored run was moved\n")
        return EXIT_FINDINGS
    return _move(store, migrated.result, batch, stdout, stderr)


def _move(target: str, result: MigrationResult, batch: int, stdout: TextIO, stderr: TextIO) -> int:
    """Move the stored runs of ``result``'s old spec in ``target``; the exit status."""
    assert result.migration is not None
    try:
        with opened(target, write=True) as (store, _):
            moved = migrate_store(
                store, result.new, result.migration, timers_of(result.new), batch=batch
            )
    except Unusable as error:
        stderr.write(f"statewright: error: {error}\n")
        return EXIT_USAGE
    lines = moved_lines(display(target), result.new, result.old.sha256, moved, batch)
    stdout.write("\n".join(lines) + "\n")
    return EXIT_FINDINGS if moved.failed else EXIT_OK


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "old", type=Path, metavar="OLD", help="the spec file stored runs were started under"
    )
    parser.add_argument(
        "new", type=Path, metavar="NEW", help="the new version of it, which declares migrations"
    )
    format_argument(parser)
    parser.add_argument("--strict", action="store_true", help="warnings fail too (exit 1)")
    parser.add_argument(
        "--max-configurations",
        type=count,
        default=DEFAULT_BUDGET.configurations,
        metavar="N",
        help="explore at most N configurations of each spec; past them the proof fails "
        f"with state-space-too-large (default: {DEFAULT_BUDGET.configurations:,})",
    )
    parser.add_argument(
        "--store",
        metavar="PATH_OR_URL",
        help="once proved, migrate every run of OLD stored in this SQLite file or "
        "postgresql:// URL to NEW, in batches, one transaction each; safe to run again "
        "after a crash (each run is migrated once)",
    )
    parser.add_argument(
        "--batch",
        type=count,
        default=BATCH,
        metavar="N",
        help=f"with --store: instances migrated per transaction (default: {BATCH:,})",
    )


def _run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    budget = Budget(configurations=args.max_configurations)
    return migrate_command(
        args.old,
        args.new,
        args.format,
        stdout=stdout,
        stderr=stderr,
        strict=args.strict,
        budget=budget,
        store=args.store,
        batch=args.batch,
    )


COMMAND = Command(
    name="migrate",
    summary="prove a new spec version strands no stored run of the old one",
    description=(
        "Find the migration NEW declares for OLD (the entry of its migrations whose from "
        "is a prefix of OLD's sha256, the version every stored run records), map every "
        "configuration a stored run of OLD can be in (every reachable one at rest) and "
        "prove that each lands in a configuration of NEW from which NEW goes on: its state "
        "declared, its values in range, no dead end or trap, and NEW's properties holding "
        "where NEW's own runs never go.",
        "The report goes to standard output in --format; text gives one line per finding "
        "(file:line:col: severity[rule] message) with the trace that strands a run (the "
        "steps in OLD, the migrated step, the steps in NEW), then one line with the "
        "verdict. Nothing is written to any file. " + PROGRESS,
        "With --store, once proved, every run of OLD kept in that store is migrated to "
        "NEW: each gets the migrated record the runtime would append on loading it, "
        "--batch instances a transaction. Killed midway, run it again: the runs already "
        "migrated are passed by, so each is migrated exactly once. Runs under other "
        "versions, or whose chain is broken, are left as they are and counted.",
    ),
    exits=(
        (
            EXIT_OK,
            "proved: no finding is an error (with --strict: none is a warning either); with "
            "--store, every stored run of OLD was migrated too",
        ),
        (
            EXIT_FINDINGS,
            "a finding is an error: a spec does not load, NEW declares no migration from "
            "OLD, or a run would be stranded (with --strict: or a warning), and with --store "
            "nothing was moved; or with --store, a run could not be moved (a broken chain)",
        ),
        (
            EXIT_USAGE,
            "a usage error: OLD or NEW does not exist or is not a regular file, or the "
            "--store cannot be opened",
        ),
    ),
    arguments=_arguments,
    run=_run,
)
