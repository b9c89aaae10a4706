"""``statewright audit check`` and ``audit export``: hold what really ran against its spec.

``check STORE`` reads every instance of a store (a SQLite file or a ``postgresql://``
URL), one at a time and a chunk of records at a time, so memory stays flat in the number
of runs: each instance's hash chain and head row are verified as its records are read
(a run that fails them is reported as tampered, and not checked), and its records are
held against the spec it ran under by :mod:`statewright.verify.audit` (the spec whose
sha256 the run records, else the one spec of its machine that ``--specs`` holds).
``check --trace RUN.jsonl SPEC`` checks one run exported from any system in the trace
format; with an ASL definition for SPEC, the file is an AWS Step Functions execution
history, checked by :mod:`statewright.verify.conformance.stepfunctions`.

``export STORE INSTANCE`` writes one stored run in the trace format, once its chain
verifies.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

from statewright.generator.commands import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    format_argument,
)
from statewright.generator.commands.migrate_store import landing, runtime_migration
from statewright.generator.commands.stores import (
    Unusable,
    display,
    instance_keys,
    machine_specs,
    opened,
    spec_version,
    specs_argument,
    store_argument,
    timers_of,
)
from statewright.generator.runtime.store import (
    ChainBroken,
    ChainProblem,
    Store,
    Timers,
    UnknownInstance,
)
from statewright.generator.runtime.versions import BadMigration, migrated_body
from statewright.verify.audit import Moves, Recorded, RunChecker, StoredRun, read_trace, trace_line
from statewright.verify.check import CheckResult
from statewright.verify.conformance.stepfunctions import check_history
from statewright.verify.discover import MissingPath, is_asl_name
from statewright.verify.findings import Finding, Severity
from statewright.verify.load.loader import load_file
from statewright.verify.model import Location, Spec
from statewright.verify.printable import printable, printable_path
from statewright.verify.report import RENDERERS, exit_status, plural
from statewright.verify.report.text import finding_lines
from statewright.verify.semantics import Semantics

__all__ = [
    "CHECK",
    "EXPORT",
    "AuditReport",
    "check_command",
    "check_runs",
    "check_trace",
    "export_command",
    "spec_versions",
    "timers_for",
    "walked",
]


@dataclass
class AuditReport:
    """What ``audit check`` found: findings by the spec they are about (the store's own,
    for runs with no spec), and counts."""

    source: str
    runs: int = 0
    records: int = 0
    tampered: int = 0
    failed: int = 0
    findings: dict[str, list[Finding]] = field(default_factory=dict)
    specs: dict[str, Spec | None] = field(default_factory=dict)
    notes: dict[str, set[str]] = field(default_factory=dict)
    unit: str = "records"
    """What ``records`` counts: a Step Functions history has events."""

    def add(self, spec: Spec | None, findings: Iterable[Finding]) -> None:
        key = self.source if spec is None else spec.file
        self.specs.setdefault(key, spec)
        self.findings.setdefault(key, []).extend(findings)

    def results(self) -> list[CheckResult]:
        """One result per spec a run was checked against (and the store's, if it has
        findings), the notes of what was not checked as info findings."""
        for key, notes in self.notes.items():
            spec = self.specs.get(key)
            where = Location(key, 1, 1) if spec is None else spec.location
            self.findings.setdefault(key, []).extend(
                Finding("run-unchecked", Severity.INFO, note, where) for note in sorted(notes)
            )
        return [
            CheckResult(key, self.specs.get(key), tuple(found), None, None)
            for key, found in self.findings.items()
        ]

    def summary(self) -> str:
        runs = plural(self.runs, "run")
        counted = f"{self.records:,} {self.unit}"
        text = f"audit check: {printable_path(self.source)}: {runs} ({counted})"
        return f"{text}: {self.failed} with findings, {self.tampered} tampered"


def _check_run(
    report: AuditReport,
    versions: Sequence[Spec],
    name: str,
    records: Sequence[Mapping[str, Any]],
    now: datetime,
    version_of: Callable[[Sequence[Spec], str], Spec | None] = spec_version,
) -> None:
    """Check one stored run's ``records`` against the version of the spec it names (or
    its machine's one spec; ``version_of`` finds it), into ``report``: each record read
    and checked in one pass."""
    report.runs += 1
    report.records += len(records)
    reader = StoredRun()
    read = reader.read
    data: Mapping[str, Any] = records[0] if records else {}
    try:
        first = read(data) if records else None
        named = None if first is None else first.spec
        candidates = versions
        if named is not None:  # among the specs given, or in their git history
            chosen = version_of(versions, named)
            candidates = () if chosen is None else (chosen,)
        migrated = first is not None and first.event == "migrated"
        if not candidates and not migrated:
            migrated = any(data.get("event") == "migrated" for data in records)
            if not migrated:
                _no_spec(report, name, named, len(versions))
                return
        if not migrated and len(candidates) == 1:  # what the runtime records: one pass, no list
            checker = RunChecker(_moves(candidates[0]), name)
            feed = checker.feed
            if first is not None:
                feed(first)
            for data in islice(records, 1, None):
                record = read(data)
                if record.event == "migrated":  # checked part by part, from the start
                    migrated = True
                    break
                feed(record)
            found = (candidates[0], checker)
        recorded: list[Recorded] = []
        if migrated or len(candidates) > 1:
            read = StoredRun().read
            for data in records:
                recorded.append(read(data))
        if migrated or (recorded and any(record.event == "migrated" for record in recorded)):
            _check_migrated_run(report, versions, name, records, recorded, now)
            return
        if len(candidates) > 1:
            found = _conforming(candidates, name, recorded)
    except (ValueError, TypeError) as error:
        spec = versions[0] if versions else None
        where = spec.location if spec else Location(report.source, 1, 1)
        report.failed += 1
        message = f"{name} record {data.get('seq')}: {error}"
        report.add(spec, [_finding("run-malformed", message, where)])
        return
    spec, checker = found
    findings = checker.finish(now)
    notes = checker.notes if named is not None else {*checker.notes, _NO_HASH}
    if notes:
        report.notes.setdefault(spec.file, set()).update(notes)
    report.specs.setdefault(spec.file, spec)
    if findings:
        report.failed += 1
        report.add(spec, findings)


def _no_spec(report: AuditReport, name: str, named: str | None, versions: int) -> None:
    """The finding of a run whose spec ``--specs`` does not hold."""
    wanted = "its machine"
    if named is not None and versions:
        wanted = f"sha256 {named} ({plural(versions, 'other version')} of its machine given)"
    report.failed += 1
    message = (
        f"{name}: no spec of {wanted} among the specs given: not checked "
        "(pass --specs with the spec it ran under)"
    )
    report.add(None, [_finding("run-spec-version", message, Location(report.source, 1, 1))])


def _conforming(
    versions: Sequence[Spec], name: str, recorded: Sequence[Recorded]
) -> tuple[Spec, RunChecker]:
    """A run recorded before records carried the spec's hash, held to each version of
    its machine's spec in turn: the first it conforms to, else the first."""
    found: tuple[Spec, RunChecker] | None = None
    for spec in versions:
        checker = RunChecker(_moves(spec), name)
        for record in recorded:
            checker.feed(record)
        if found is None:
            found = (spec, checker)
        if not checker.findings:
            return spec, checker
    assert found is not None
    return found


_NO_HASH = (
    "a run records no spec hash (it was written before records carried one): it was "
    "matched to its spec by machine name, and checked against the version it conforms to "
    "if --specs holds several"
)


def _check_migrated_run(
    report: AuditReport,
    versions: Sequence[Spec],
    name: str,
    records: Sequence[Mapping[str, Any]],
    read: Sequence[Recorded],
    now: datetime,
) -> None:
    """Check a run that migrated: the records before each ``migrated`` one against the
    version they ran under, those after against the version it moved to, and each
    ``migrated`` record against the migration that version declares."""
    cuts = [i for i, record in enumerate(read) if record.event == "migrated"]
    starts, ends = [0, *cuts], [*cuts, len(read)]
    hashes: list[str | None] = [read[0].spec]
    for cut in cuts:
        data = records[cut].get("data")
        to = data.get("to_spec") if isinstance(data, dict) else None
        hashes.append(to if isinstance(to, str) else None)
    found: list[Finding] = []
    checked: Spec | None = None
    for part, (start, end, sha256) in enumerate(zip(starts, ends, hashes, strict=True)):
        spec = spec_version(versions, sha256)
        if spec is None:
            found.append(
                _finding(
                    "run-spec-version",
                    f"{name}: records {read[start].seq} to {read[end - 1].seq} ran under spec "
                    f"{(sha256 or 'unrecorded')[:12]}, which is neither among the specs given "
                    "nor in their git history: not checked (pass --specs with that version)",
                    Location(report.source, 1, 1),
                )
            )
            continue
        checked = spec
        checker = RunChecker(_moves(spec), name)
        if part:
            found.extend(_migration_findings(name, spec, records[: start + 1]))
            checker.resume(read[start])
            start += 1
        for record in read[start:end]:
            checker.feed(record)
        found.extend(checker.finish(now if end == len(read) else None))
        if checker.notes:
            report.notes.setdefault(spec.file, set()).update(checker.notes)
        report.specs.setdefault(spec.file, spec)
    if found:
        report.failed += 1
        report.add(checked, found)


def _migration_findings(
    name: str, spec: Spec, records: Sequence[Mapping[str, Any]]
) -> list[Finding]:
    """What is wrong with the ``migrated`` record that ends ``records``, held against the
    migration ``spec`` declares from the version it names (the runtime's own function
    makes the record it should be)."""
    *before, record = records
    data = record.get("data")
    old = data.get("from_spec") if isinstance(data, dict) else None
    seq = record.get("seq")
    migration = None if not isinstance(old, str) else spec.migration_from(old)
    if not isinstance(old, str) or migration is None:
        message = (
            f"{name} record {seq}: migrated from spec {str(old)[:12]}, but {spec.file} "
            "declares no migration from it"
        )
        return [_finding("run-migration", message, spec.location)]
    try:
        made = migrated_body("", before, old, runtime_migration(migration), landing(spec), "")
    except (BadMigration, ValueError) as error:
        return [_finding("run-migration", f"{name} record {seq}: {error}", migration.location)]
    wrong = [
        key
        for key in ("from_state", "to_state", "reason", "data", "variables", "trigger", "actor")
        if record.get(key) != made.get(key)
    ]
    if not wrong:
        return []
    shown = "; ".join(
        f"{k} {json.dumps(record.get(k))}, not {json.dumps(made.get(k))}" for k in wrong
    )
    message = f"{name} record {seq}: not what the migration from {migration.source} gives: {shown}"
    return [_finding("run-migration", message, migration.location)]


_MOVES: dict[int, Moves] = {}


def _moves(spec: Spec) -> Moves:
    """The spec's semantics, built once per spec and shared by every run of it."""
    found = _MOVES.get(id(spec))
    if found is None or found.semantics.spec is not spec:
        found = _MOVES[id(spec)] = Moves(Semantics.of(spec))
    return found


def _finding(rule: str, message: str, where: Location) -> Finding:
    return Finding(rule, Severity.ERROR, message, where)


Run = tuple[str, str, "list[dict[str, Any]] | ChainProblem"]
"""One stored run as a store's ``scan`` gives it: machine, instance id, and its verified
records or what is wrong with its chain."""


def walked(store: Store, keys: Iterable[tuple[str, str]]) -> Iterator[Run]:
    """The runs ``keys`` names in ``store``, each walked (and verified) on its own: for a
    store without ``scan`` (a ``MemoryStore``)."""
    for machine, instance_id in keys:
        records: list[dict[str, Any]] = []
        try:
            store.walk(machine, instance_id, records.append)
        except UnknownInstance:
            continue  # removed since it was listed
        except ChainBroken as error:
            yield machine, instance_id, error.problem
            continue
        yield machine, instance_id, records


def check_runs(
    runs: Iterable[Run],
    specs: Mapping[str, Sequence[Spec]],
    *,
    source: str,
    now: datetime | None = None,
) -> AuditReport:
    """Check ``runs`` (``SqlStore.scan``, or :func:`walked`) against ``specs`` (by
    machine, every version), one run at a time."""
    report = AuditReport(source)
    now = now or datetime.now(UTC)
    version_of = _VersionOf()
    for machine, instance_id, records in runs:
        name = f"{machine} {instance_id!r}"
        versions = specs.get(machine, ())
        if isinstance(records, ChainProblem):
            report.runs += 1
            report.tampered += 1
            spec = versions[0] if versions else None
            where = spec.location if spec else Location(source, 1, 1)
            message = f"{name} is tampered, so not checked: {records}"
            report.add(spec, [_finding("run-tampered", message, where)])
            continue
        _check_run(report, versions, name, records, now, version_of)
    return report


class _VersionOf:
    """:func:`spec_version`, remembered for the versions and hashes asked before (most
    runs of a store name the same few: the lookup, and any search of git history, is
    done once for each)."""

    __slots__ = ("found",)

    def __init__(self) -> None:
        self.found: dict[tuple[int, str], Spec | None] = {}

    def __call__(self, versions: Sequence[Spec], sha256: str) -> Spec | None:
        key = (id(versions), sha256)
        try:
            return self.found[key]
        except KeyError:
            if len(self.found) >= 1000:  # runs naming hashes by the thousand: stay bounded
                self.found.clear()
            found = self.found[key] = spec_version(versions, sha256)
            return found


spec_versions = machine_specs
"""Every spec the paths hold, by machine (:func:`machine_specs`)."""


def timers_for(specs: Mapping[str, Sequence[Spec]]) -> dict[str, Timers]:
    """The timers of every machine ``specs`` holds one version of: with them a scan checks
    the deadline in each head row too (with several versions, the run says which)."""
    return {machine: timers_of(found[0]) for machine, found in specs.items() if len(found) == 1}


def check_trace(
    trace: Path, spec: Spec, *, now: datetime | None = None, label: str | None = None
) -> AuditReport:
    """Check the one run in the trace file ``trace`` against ``spec``; ``OSError`` if it
    cannot be read."""
    name = label or printable_path(trace.as_posix())
    report = AuditReport(name)
    report.specs[spec.file] = spec
    checker = RunChecker(Semantics.of(spec), name)
    findings: list[Finding] = []
    with trace.open(encoding="utf-8") as lines:
        for read in read_trace(lines):
            if isinstance(read, Recorded):
                report.records += 1
                checker.feed(read)
            else:
                where = Location(trace.as_posix(), read.line, 1)
                findings.append(_finding("run-malformed", f"{name}: {read.reason}", where))
    if not report.records:
        findings.append(_finding("run-malformed", f"{name}: no records", spec.location))
    findings.extend(checker.finish(now or datetime.now(UTC)))
    report.runs = 1
    report.failed = 1 if findings else 0
    report.add(spec, findings)
    if checker.notes:
        report.notes[spec.file] = set(checker.notes)
    return report


def _step_functions(definition: Path, history: Path) -> AuditReport:
    """An execution history checked against its ASL definition, by the Step Functions
    checker."""
    findings = check_history(definition, history)
    report = AuditReport(printable_path(history.as_posix()), runs=1, unit="events")
    report.records = _events(history)
    report.failed = 1 if any(f.severity is Severity.ERROR for f in findings) else 0
    report.specs[definition.as_posix()] = None
    report.findings[definition.as_posix()] = findings
    return report


def _events(history: Path) -> int:
    """How many events the execution history ``history`` holds (0 if it holds none: the
    Step Functions checker says what is wrong with it)."""
    try:
        events = json.loads(history.read_text(encoding="utf-8")).get("events")
    except (OSError, ValueError, AttributeError, RecursionError):
        return 0
    return len(events) if isinstance(events, list) else 0


def check_command(
    target: str,
    *,
    trace: Path | None = None,
    specs: Sequence[Path] = (),
    fmt: str = "text",
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """``statewright audit check``: every run of the store ``target``, or (with
    ``trace``) the run in that file against the spec ``target``; the exit status."""
    try:
        report = _checked(target, trace, specs)
    except (Unusable, OSError, MissingPath) as error:
        print(f"statewright: error: {printable(str(error))}", file=stderr)
        return EXIT_USAGE
    results = report.results()
    if fmt == "text":
        for result in results:
            for line in finding_lines(result.findings):
                print(line, file=stdout)
        print(report.summary(), file=stdout)
    else:
        stdout.write(RENDERERS[fmt](results, False))
    return EXIT_OK if exit_status(results) == 0 else EXIT_FINDINGS


def _checked(target: str, trace: Path | None, specs: Sequence[Path]) -> AuditReport:
    if trace is not None:
        if specs:
            raise Unusable(
                "--specs goes with a store; with --trace, name the spec: --trace FILE SPEC"
            )
        spec_path = Path(target)
        if not spec_path.is_file():
            raise Unusable(f"no such spec file: {target}")
        if not trace.is_file():
            raise Unusable(f"no such trace file: {trace}")
        if is_asl_name(spec_path):
            return _step_functions(spec_path, trace)
        loaded = load_file(spec_path)
        if loaded.spec is None:
            first = next(iter(loaded.findings), None)
            raise Unusable(
                f"{target} does not load as a spec"
                + (f": {first.format()}" if first is not None else "")
                + " ('statewright check' says why)"
            )
        return check_trace(trace, loaded.spec)
    versions = spec_versions(specs)
    with opened(target) as (store, _):
        runs = store.scan(timers=timers_for(versions))
        return check_runs(runs, versions, source=display(target))


def export_command(
    target: str,
    instance_id: str,
    *,
    machine: str | None,
    specs: Sequence[Path] = (),
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """``statewright audit export``: the run ``instance_id`` in the trace format; with
    the machine's spec among ``specs`` (default: ``specs/``), its head row's deadline is
    checked too, as ``audit check`` checks it."""
    try:
        timers = timers_for(spec_versions(specs))
        with opened(target) as (store, connection):
            keys = list(instance_keys(connection, machine, instance_id))
            if len(keys) != 1:
                raise Unusable(
                    f"{display(target)}: no instance {instance_id!r}"
                    + (f" of {machine}" if machine else "")
                    if not keys
                    else f"{display(target)}: {instance_id!r} is an instance of "
                    f"{', '.join(k[0] for k in keys)}: name one with --machine"
                )
            lines: list[str] = []
            reader = StoredRun()
            owner, key = keys[0]

            def visit(data: dict[str, Any]) -> None:
                lines.append(trace_line(reader.read(data)))

            store.walk(owner, key, visit, timers.get(owner))
    except ChainBroken as error:
        print(
            f"statewright: error: {printable(str(error.problem))}: the run is tampered; "
            "not exported (see 'statewright audit verify')",
            file=stderr,
        )
        return EXIT_FINDINGS
    except (Unusable, MissingPath, OSError, ValueError, TypeError) as error:
        print(f"statewright: error: {printable(str(error))}", file=stderr)
        return EXIT_USAGE
    for line in lines:
        stdout.write(line + "\n")
    return EXIT_OK


# --- the commands ----------------------------------------------------------------------------


def _check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target",
        metavar="STORE_OR_SPEC",
        help="a SQLite file or a postgresql:// URL; with --trace, the spec (or ASL definition)",
    )
    parser.add_argument(
        "--trace",
        type=Path,
        metavar="FILE",
        help="check the one run in FILE (the JSON-lines trace format, or a Step Functions "
        "execution history for an ASL definition) against the spec STORE_OR_SPEC",
    )
    specs_argument(
        parser, "the specs the runs ran under, every version (default: specs/ if it exists)"
    )
    format_argument(parser, dest="fmt")


def _check(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return check_command(
        args.target, trace=args.trace, specs=args.specs, fmt=args.fmt, stdout=stdout, stderr=stderr
    )


def _export_arguments(parser: argparse.ArgumentParser) -> None:
    store_argument(parser)
    parser.add_argument("instance_id", metavar="INSTANCE", help="the instance's id")
    parser.add_argument(
        "--machine", metavar="NAME", help="the instance's machine, where several share its id"
    )
    specs_argument(
        parser,
        "specs whose timers check the run's deadline in its head row, as 'audit check' "
        "does (default: specs/ if it exists)",
    )


def _export(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return export_command(
        args.target,
        args.instance_id,
        machine=args.machine,
        specs=args.specs,
        stdout=stdout,
        stderr=stderr,
    )


CHECK = Command(
    name="audit check",
    summary="hold every stored run (or one exported run) against the spec it ran under",
    description=(
        "Check every run in the store against the spec it ran under (the spec whose "
        "sha256 the run records, else the one spec of its machine --specs holds), record "
        "by record: each step is a transition of the spec from the state before it, its "
        "guard held and the recorded variables are what its effects give, a human step "
        "names an actor holding a reviewer role and a decision, a timed step comes at or "
        "after its deadline and no deadline passed unfired, a rollback is authorised; and "
        "every 'always' and 'precedence' property holds over the run. Each run's hash "
        "chain and head row are verified first: a run that fails them is reported as "
        "tampered, not checked. Runs are read one at a time.",
        "With --trace FILE, check the one run in FILE, in the JSON-lines trace format "
        "that 'audit export' writes and any system can produce, against the spec "
        "STORE_OR_SPEC; with an ASL definition (*.asl.json, *.asl.yaml) FILE is an AWS "
        "Step Functions execution history (the JSON of GetExecutionHistory).",
        "The report goes to standard output: each finding names the spec's line, the run "
        "and the record's seq (--format as for 'statewright check'), then a summary line; "
        "usage errors go to standard error.",
    ),
    exits=(
        (0, "every run conforms to its spec"),
        (1, "a run breaks its spec, is tampered, or has no spec to check it against"),
        (2, "a usage error: the store, the trace or the spec cannot be read"),
    ),
    arguments=_check_arguments,
    run=_check,
)

EXPORT = Command(
    name="audit export",
    summary="write one stored run in the trace format (JSON lines)",
    description=(
        "Print to standard output the run INSTANCE of the store in the JSON-lines trace "
        "format, oldest record first: the format 'audit check --trace' reads. The run's "
        "hash chain is verified first; a tampered run is not exported (errors go to "
        "standard error).",
    ),
    exits=(
        (0, "written"),
        (1, "the run is tampered"),
        (2, "the store cannot be opened, or holds no such instance"),
    ),
    arguments=_export_arguments,
    run=_export,
)
