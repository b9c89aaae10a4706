"""``statewright runs list|show|release|cancel|archive``: the operators' view of a store.

``list`` shows, per machine, how many instances rest in each state, the approvals waiting
for a reviewer with their deadlines, and the instances whose effects are due or failing
(the worker's outbox). ``show`` prints one instance's audit timeline: every record with
its time, states, trigger, actor, decision and reason, and the failure snapshot (payload
and data) of every entry into a failed state, then where it stands, its recovery
procedure and its delivery cursor. Both print text or JSON (``--format json``).

Both verify before they show: ``list`` walks every chain and head row (as ``statewright
audit verify`` does) and lists the instances that fail as tampered, apart from the
counts; ``show`` walks the instance's chain a chunk at a time, keeping only the page it
prints (``--from``, ``--limit``), and refuses a tampered instance with one line. Text from
the store (ids, actors, states, decisions) is printed escaped, as ``check`` prints spec
text (:mod:`statewright.verify.printable`): no stored value can forge a line or drive the terminal.

Kinds, reviewers and recovery procedures come from the spec each instance runs under:
its records name that version's sha256, looked up among the specs ``--specs`` holds
(default ``specs/`` when it exists) and then in those files' git history
(:func:`~statewright.generator.commands.stores.spec_version`); an instance whose version
is not recorded, or found nowhere, takes its machine's spec in ``--specs`` by name. A
machine some instances of which have no spec at all is shown by its state names only,
with one line naming the versions looked for and what ``--specs`` would add. The
store is opened read-only, as ``statewright audit`` opens it; only ``release``, which lifts
an instance's quarantine so that workers deliver and sweep it again, ``cancel``
(:mod:`.runs_cancel`), which closes a run for good, and ``archive``
(:mod:`.runs_archive`), which moves finished runs into an archive store, write.
"""

from __future__ import annotations

import argparse
import bisect
import functools
import json
import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from statewright.generator.commands import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_USAGE,
    Command,
    Group,
    count,
    runs_due,
)
from statewright.generator.commands.runs_archive import archive_command, duration
from statewright.generator.commands.runs_cancel import cancel_command, cancelled_runs
from statewright.generator.commands.stores import Unusable as _Unusable
from statewright.generator.commands.stores import connect as _connect
from statewright.generator.commands.stores import display as _display
from statewright.generator.commands.stores import (
    machine_specs,
    spec_version,
    spec_versions,
    specs_argument,
    store_argument,
    timers_of,
)
from statewright.generator.commands.stores import with_store as _with_store
from statewright.generator.runtime.outbox import Outbox, Pending
from statewright.generator.runtime.store import (
    ChainBroken,
    ChainProblem,
    SqlStore,
    StoreHead,
    Timers,
    UnknownInstance,
    instant,
)
from statewright.generator.runtime.versions import Version
from statewright.verify.model import Spec
from statewright.verify.printable import inert_json, printable

__all__ = ["COMMAND", "list_command", "release_command", "show_command"]


class _Specs:
    """The spec each instance runs under: the version its records name (their sha256),
    among the files ``--specs`` holds (default ``specs/``) or in those files' git history;
    for an instance whose version is not recorded or not found there, the machine's spec
    in ``--specs`` by name, if any. Remembers the versions it looked for in vain."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self.paths = paths
        self.files = machine_specs(paths)
        self.missing: dict[str, set[str]] = {}
        self._found: dict[tuple[str, str | None], Spec | None] = {}

    def named(self, machine: str) -> Spec | None:
        """The machine's spec in ``--specs`` (the last file, if several)."""
        files = self.files.get(machine)
        return files[-1] if files else None

    def of(self, machine: str, version: Version | None) -> Spec | None:
        sha256 = None if version is None else version.spec
        key = (machine, sha256)
        if key not in self._found:
            found = None
            if sha256 is not None:
                found = spec_version(self.files.get(machine, []), sha256)
            if found is None and sha256 is not None:
                self.missing.setdefault(machine, set()).add(sha256)
            self._found[key] = found or self.named(machine)
        return self._found[key]

    def without(self, machine: str) -> str:
        """What ``runs`` says of a machine some instances of which have no spec: which
        versions it looked for, where, what is left out, and how to get it."""
        hashes = sorted(h[:12] for h in self.missing.get(machine, ()))
        wanted = f" with sha256 {', '.join(hashes)}" if hashes else ""
        if self.paths:
            read = ", ".join(str(p) for p in self.paths)
        else:
            read = "specs/" if Path("specs").is_dir() else "specs/ (there is none here)"
        history = " nor in its git history" if hashes and self.files.get(machine) else ""
        return (
            f"  (no spec of {_shown(machine)}{wanted} in {_shown(read)}{history}: state "
            "kinds, reviewers, deadlines of approvals and recovery procedures are left out; "
            "pass --specs PATH with the spec it runs under)"
        )


def _shown(value: object) -> str:
    """A value from the store as a line of text shows it: escaped (:func:`printable`)."""
    return printable(value if isinstance(value, str) else json.dumps(value))


def _moment(value: object) -> str:
    """A stored deadline (fixed-width UTC, ``...000000Z``) in the form the records' times
    are shown in (``2026-01-01T01:00:00+00:00``), so a timeline reads one format; text
    that is not such a moment is shown escaped as it is."""
    if isinstance(value, str) and value.endswith("Z"):
        try:
            return _shown(datetime.fromisoformat(value[:-1] + "+00:00").isoformat())
        except ValueError:
            pass
    return _shown(value)


def _lead(value: str) -> str:
    """:func:`_shown`, for the text a line starts with: never ``::`` (a CI command)."""
    shown = _shown(value)
    return "\\x3a" + shown[1:] if shown.lstrip().startswith("::") else shown


def _pending(store: SqlStore, *, due_only: bool = True) -> list[Pending]:
    try:
        return Outbox(store, create=False).pending(due_only=due_only)
    except Exception:  # no worker ever ran on this store: it has no outbox table
        store._connection.rollback()
        return []


@dataclass(frozen=True, slots=True)
class _Row:
    machine: str
    instance_id: str
    head: StoreHead


def list_command(
    target: str, specs: Sequence[Path], fmt: str, *, stdout: TextIO, stderr: TextIO
) -> int:
    """Print the instances of the store at ``target``: by state, approvals, effects due."""
    known = _Specs(specs)
    closed: dict[tuple[str, str], dict[str, Any]] = {}
    at = runs_due.now()
    due: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def read(store: SqlStore) -> tuple[list[_Row], list[Pending], list[ChainProblem], Versions]:
        closed.update(cancelled_runs(store))
        rows = [_Row(*r) for r in store.instances()]
        versions = spec_versions(store)
        timers: dict[str, Timers] = {}
        for row in rows:
            spec = known.of(row.machine, versions.get((row.machine, row.instance_id)))
            if spec is not None:
                timers.setdefault(row.machine, timers_of(spec))
        tampered = store.verify(timers=timers)
        due.update(_waiting_due(store, rows, known, versions, closed, tampered, at))
        return rows, _pending(store), tampered, versions

    try:
        rows, pending, problems, versions = _with_store(target, read)
    except _Unusable as error:
        print(f"statewright: error: {error}", file=stderr)
        return EXIT_USAGE
    tampered = {(p.machine, p.instance_id): p for p in problems}
    now = instant(at)
    report: list[dict[str, Any]] = []
    for machine in sorted({row.machine for row in rows} | {key[0] for key in tampered}):
        mine = [
            r for r in rows if r.machine == machine and (machine, r.instance_id) not in tampered
        ]
        spec_of = {
            r.instance_id: known.of(machine, versions.get((machine, r.instance_id))) for r in mine
        }
        kinds: dict[str, str | None] = {}
        for row in mine:
            if kinds.get(row.head.state) is None:
                kinds[row.head.state] = _kind(spec_of[row.instance_id], row.head.state)
        approvals = [
            {
                "instance_id": row.instance_id,
                "state": row.head.state,
                "reviewers": list(spec.state(row.head.state).reviewers),
                "deadline": row.head.deadline,
                "overdue": row.head.deadline is not None and row.head.deadline <= now,
                "spec": _version(versions, machine, row.instance_id).short,
                "due": due.get((machine, row.instance_id), []),
            }
            for row in mine
            if (spec := spec_of[row.instance_id]) is not None
            and _kind(spec, row.head.state) == "approval"
            and (machine, row.instance_id) not in closed
        ]
        effects = [
            {
                "instance_id": p.instance_id,
                "delivered": p.delivered,
                "records": p.seq,
                "attempts": p.attempts,
                "retry_at": p.available_at or None,
                "error": p.error,
                "quarantined": p.quarantined,
            }
            for p in pending
            if p.machine == machine
        ]
        counts = Counter(row.head.state for row in mine)
        report.append(
            {
                "machine": machine,
                "without_spec": None in spec_of.values()
                or (not mine and known.named(machine) is None),
                "states": [
                    {"state": state, "kind": kinds.get(state), "instances": count}
                    for state, count in sorted(counts.items())
                ],
                "approvals": approvals,
                "effects": effects,
                "cancelled": [
                    closed[machine, r.instance_id]
                    for r in mine
                    if (machine, r.instance_id) in closed
                ],
                "versions": _versions(
                    known.named(machine), [versions.get((machine, r.instance_id)) for r in mine]
                ),
                "tampered": [
                    {"instance_id": p.instance_id, "seq": p.seq, "problem": f"{p.kind}: {p.detail}"}
                    for key, p in sorted(tampered.items())
                    if key[0] == machine
                ],
            }
        )
    if fmt == "json":
        print(inert_json({"store": _display(target), "machines": report}), file=stdout)
        return EXIT_OK
    if not report:
        print(f"{_display(target)}: no instances", file=stdout)
    for entry in report:
        total = sum(s["instances"] for s in entry["states"]) + len(entry["tampered"])
        print(f"{_lead(entry['machine'])}: {total} instance(s)", file=stdout)
        if entry["without_spec"]:
            print(known.without(entry["machine"]), file=stdout)
        for s in entry["states"]:
            kind = f" ({s['kind']})" if s["kind"] else ""
            print(f"  {_shown(s['state'])}{kind}: {s['instances']}", file=stdout)
        _print_versions(entry["versions"], stdout)
        if entry["approvals"]:
            print("  waiting for approval:", file=stdout)
        for a in entry["approvals"]:
            roles = ", ".join(a["reviewers"])
            coming = ", ".join(" ".join(_due_text(d, at)) for d in a["due"]) or "no deadline"
            print(
                f"    {_lead(a['instance_id'])}: {_shown(a['state'])}, reviewers {roles}, "
                f"{coming}, spec {a['spec']}",
                file=stdout,
            )
        _print_effects(entry["effects"], stdout)
        if entry["cancelled"]:
            print("  cancelled (closed: never claimed, swept or stepped again):", file=stdout)
        for c in entry["cancelled"]:
            print(
                f"    {_lead(c['instance_id'])}: in {_shown(c['state'])} by {_shown(c['actor'])}"
                f" at {_moment(c['at'])}: {_shown(json.dumps(c['reason']))}",
                file=stdout,
            )
        if entry["tampered"]:
            print("  TAMPERED (never acted on; see 'statewright audit verify'):", file=stdout)
        for t in entry["tampered"]:
            print(
                f"    {_lead(t['instance_id'])}: record {t['seq']}: {_shown(t['problem'])}",
                file=stdout,
            )
    return EXIT_OK


Versions = dict[tuple[str, str], Version]


def _waiting_due(
    store: SqlStore,
    rows: Sequence[_Row],
    known: _Specs,
    versions: Versions,
    closed: Mapping[tuple[str, str], object],
    tampered: Sequence[ChainProblem],
    at: datetime,
) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """What each run waiting at an approval gate waits for next (:func:`runs_due.due_of`)."""
    bad = {(p.machine, p.instance_id) for p in tampered}
    classes = runs_due.Classes()
    found: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in rows:
        key = (row.machine, row.instance_id)
        spec = known.of(row.machine, versions.get(key))
        if key in bad or key in closed or _kind(spec, row.head.state) != "approval":
            continue
        load = functools.partial(classes.load, store=store, instance_id=row.instance_id)
        found[key] = runs_due.due_of(spec, row.head.state, row.head.deadline, load, at)
    return found


def _due_text(due: Mapping[str, Any], at: datetime) -> tuple[str, str]:
    """What comes and when: ``escalates``, ``2026-... (in 3 h) to director``; ``times
    out``, ``2026-... OVERDUE (2 h ago)``."""
    when = f"{_moment(due['at'])}{' OVERDUE' if due['overdue'] else ''}"
    when += f" ({runs_due.relative(due['at'], at)})"
    if due["event"] == "escalation":
        return "escalates", f"{when} to {', '.join(_shown(r) for r in due['to'])}"
    return ("times out" if due["event"] == "timeout" else "due"), when


def _version(versions: Versions, machine: str, instance_id: str) -> Version:
    return versions.get((machine, instance_id)) or Version(None)


def _versions(spec: Spec | None, found: Sequence[Version | None]) -> list[dict[str, Any]]:
    """How many instances run under each spec version (a 12-digit prefix, or None when
    unrecorded), how many of them were migrated there, and whether it is the version of
    the spec in ``--specs`` (None: no spec given)."""
    counts: Counter[str | None] = Counter()
    migrated: Counter[str | None] = Counter()
    for version in found:
        key = None if version is None or version.spec is None else version.spec[:12]
        counts[key] += 1
        migrated[key] += 1 if version is not None and version.migrations else 0
    return [
        {
            "spec": key,
            "instances": counts[key],
            "migrated": migrated[key],
            "current": None if spec is None or key is None else spec.sha256.startswith(key),
        }
        for key in sorted(counts, key=lambda k: (k is None, k or ""))
    ]


def _print_versions(versions: list[dict[str, Any]], stdout: TextIO) -> None:
    """``  spec 3b76db81aa01: 12 (4 migrated), the version in --specs``, a line each."""
    for v in versions:
        name = "no recorded spec version" if v["spec"] is None else f"spec {v['spec']}"
        moved = f" ({v['migrated']} migrated)" if v["migrated"] else ""
        where = {
            True: ", the version in --specs",
            False: ", not the version in --specs (its workers leave these alone)",
        }
        note = where.get(v["current"], "")
        print(f"  {name}: {v['instances']}{moved}{note}", file=stdout)


def _print_effects(effects: list[dict[str, Any]], stdout: TextIO) -> None:
    """The effects due or failing, then the quarantined instances with why."""
    due = [e for e in effects if not e["quarantined"]]
    held = [e for e in effects if e["quarantined"]]
    if due:
        print("  effects due:", file=stdout)
    for e in due:
        failing = (
            f", {e['attempts']} failed, retry at {_shown(e['retry_at'])}: {_shown(e['error'])}"
        )
        print(
            f"    {_lead(e['instance_id'])}: delivered {e['delivered']} of {e['records']} records"
            + (failing if e["attempts"] else ""),
            file=stdout,
        )
    if held:
        print("  quarantined (workers skip them; 'statewright runs release'):", file=stdout)
    for e in held:
        print(
            f"    {_lead(e['instance_id'])}: since {_shown(e['quarantined'])}, "
            f"after {e['attempts']} failed attempt(s): {_shown(e['error'])}",
            file=stdout,
        )


def show_command(
    target: str,
    instance_id: str,
    machine: str | None,
    specs: Sequence[Path],
    fmt: str,
    *,
    stdout: TextIO,
    stderr: TextIO,
    first: int = 1,
    limit: int = 1000,
) -> int:
    """Print one instance's audit timeline (records ``first`` on, at most ``limit`` of
    them), where it stands and its effects; exit 1, printing one line, if it is tampered."""
    known = _Specs(specs)
    at = runs_due.now()

    def read(store: SqlStore) -> Any:
        owners = [r for r in store.instances(machine) if r[1] == instance_id]
        if len(owners) != 1:
            return len(owners)
        owner = owners[0][0]
        version = spec_versions(store, (owner, instance_id)).get((owner, instance_id))
        spec = known.of(owner, version)
        timeline = _Timeline(spec, first, limit)
        try:
            stored = store.walk(
                owner, instance_id, timeline.visit, None if spec is None else timers_of(spec)
            )
        except ChainBroken as broken:
            return broken
        cursor = [p for p in _pending(store, due_only=False) if p.instance_id == instance_id]
        load = functools.partial(runs_due.Classes().load, store=store, instance_id=instance_id)
        state, deadline = stored.head.state, stored.head.deadline
        due = runs_due.due_of(spec, state, deadline, load, at)
        return owner, stored, timeline, cursor, spec, due

    try:
        found = _with_store(target, read)
    except (_Unusable, UnknownInstance) as error:
        print(f"statewright: error: {error}", file=stderr)
        return EXIT_USAGE
    if isinstance(found, int):
        why = "no instance" if not found else "instances of several machines: pass --machine"
        print(
            f"statewright: error: {_display(target)}: {why} {_shown(repr(instance_id))}",
            file=stderr,
        )
        return EXIT_USAGE
    if isinstance(found, ChainBroken):
        print(
            f"statewright: error: {_display(target)}: tampered: {_shown(str(found.problem))}; "
            "its records are not shown (see 'statewright audit verify')",
            file=stderr,
        )
        return EXIT_FINDINGS
    owner, stored, timeline, cursor, spec, due = found
    last = timeline.last
    reason = last.get("reason")
    recovery = _recovery(spec, reason)
    shown = {
        "machine": owner,
        "instance_id": instance_id,
        "state": stored.head.state,
        "kind": _kind(spec, stored.head.state),
        "reason": reason,
        "recovery": recovery,
        "deadline": stored.head.deadline,
        "due": [] if _closing(last) is not None else due,
        "cancelled": _closing(last),
        "records": stored.seq,
        "from": first,
        "next": timeline.next,
        "delivered": cursor[0].delivered if cursor else None,
        "delivery_error": cursor[0].error if cursor else None,
        "timeline": timeline.page,
    }
    if fmt == "json":
        print(inert_json(shown), file=stdout)
        return EXIT_OK
    _print_show(shown, stdout, None if spec is not None else known.without(owner), at)
    return EXIT_OK


class _Timeline:
    """The page of records ``runs show`` prints, built as the store walks the chain.

    It keeps the page and the context after each record that changed it (a rollback may
    return to any of them), never every record: memory follows the page and the number of
    context changes, not the length of the log. Records are taken as the chain holds
    them; a value of an unexpected type is shown, never trusted to have a shape.
    """

    def __init__(self, spec: Spec | None, first: int, limit: int) -> None:
        self.spec, self.first, self.limit = spec, first, limit
        self.page: list[dict[str, Any]] = []
        self.last: dict[str, Any] = {}
        self.next: int | None = None
        self._context: dict[str, Any] = {}
        self._seqs: list[int] = []
        self._contexts: list[dict[str, Any]] = []
        self._values: dict[str, Any] = {}

    def visit(self, record: dict[str, Any]) -> None:
        event, seq, data = record.get("event"), record["seq"], record.get("data")
        changes = self._variables(event, record.get("variables"))
        if event == "created":
            self._changed(seq, dict(data) if isinstance(data, dict) else {})
        elif event == "context" and isinstance(data, dict):
            self._changed(seq, {**self._context, **data})
        elif event == "rollback" and isinstance(record.get("rollback_to"), int):
            index = bisect.bisect_right(self._seqs, record["rollback_to"])
            self._changed(seq, dict(self._contexts[index - 1]) if index else {})
        self.last = record
        if seq < self.first:
            return
        if len(self.page) == self.limit:
            self.next = self.next or seq
            return
        entry = dict(record)
        if changes:
            entry["changes"] = changes
        failed = event == "transition" and _kind(self.spec, str(record.get("to_state"))) == "failed"
        if failed or (self.spec is None and event == "transition" and record.get("reason")):
            entry["snapshot"] = {"payload": data, "context": self._context}
            entry["recovery"] = _recovery(self.spec, record.get("reason"))
        self.page.append(entry)

    def _variables(self, event: object, values: object) -> dict[str, list[Any]]:
        """The variables a record changed, each ``[before, after]``: a transition records
        the ones its effects changed, a rollback sets them all (a created record sets the
        initial values, which change nothing)."""
        if not isinstance(values, dict):
            return {}
        before = self._values
        self._values = {**before, **values} if event == "transition" else dict(values)
        if event == "created":
            return {}
        return {k: [before.get(k), v] for k, v in values.items() if before.get(k) != v}

    def _changed(self, seq: int, context: dict[str, Any]) -> None:
        self._context = context
        self._seqs.append(seq)
        self._contexts.append(context)


def _print_show(
    shown: dict[str, Any], stdout: TextIO, note: str | None = None, at: datetime | None = None
) -> None:
    kind = f" ({shown['kind']})" if shown["kind"] else ""
    reason = f", reason {_shown(shown['reason'])}" if shown["reason"] else ""
    print(
        f"{_lead(shown['machine'])} {_shown(shown['instance_id'])}: "
        f"{_shown(shown['state'])}{kind}{reason}",
        file=stdout,
    )
    if note is not None:
        print(note, file=stdout)
    for due in shown["due"]:
        what, when = _due_text(due, at or runs_due.now())
        print(f"  {what}: {when}", file=stdout)
    if shown["deadline"] and not shown["due"]:
        print(f"  deadline: {_moment(shown['deadline'])}", file=stdout)
    if (closing := shown["cancelled"]) is not None:
        print(
            f"  CANCELLED by {_shown(closing['actor'])} at {_moment(closing['at'])} (record "
            f"{closing['seq']}): closed, never run again",
            file=stdout,
        )
    for number, step in enumerate(shown["recovery"], start=1):
        print(f"  recovery {number}. {_shown(step)}", file=stdout)
    if shown["delivered"] is not None:
        error = f"; failing: {_shown(shown['delivery_error'])}" if shown["delivery_error"] else ""
        print(
            f"  effects: delivered {shown['delivered']} of {shown['records']} records{error}",
            file=stdout,
        )
    for r in shown["timeline"]:
        get = r.get
        stays = get("event") in ("created", "context", "cancelled")
        move = (
            _shown(get("to_state"))
            if stays
            else f"{_shown(get('from_state'))} -> {_shown(get('to_state'))}"
        )
        words = [f"{r['seq']:>4}", _shown(get("at")), f"{_shown(get('event')):<10}", move]
        if get("trigger"):
            words.append(f"on {_shown(get('trigger'))}")
        if get("rollback_to") is not None:
            words.append(f"to record {_shown(get('rollback_to'))}")
        if get("actor"):
            words.append(f"by {_shown(get('actor'))}")
        if get("reason"):
            words.append(f"reason {_shown(get('reason'))}")
        moved = get("data") if get("event") == "migrated" else None
        if isinstance(moved, dict):
            old, new = (str(moved.get(k))[:12] for k in ("from_spec", "to_spec"))
            words.append(f"spec {_shown(old)} -> {_shown(new)}")
        print("  " + "  ".join(words), file=stdout)
        if get("decision"):
            print(f"        decision: {_shown(json.dumps(get('decision')))}", file=stdout)
        if get("event") == "context":
            print(f"        data: {_json(get('data'))}", file=stdout)
        if changes := get("changes"):
            moved = ", ".join(
                f"{_shown(k)} {_json(old)} -> {_json(new)}" for k, (old, new) in changes.items()
            )
            print(f"        variables: {moved}", file=stdout)
        snapshot = get("snapshot")
        if snapshot is not None:
            print(f"        snapshot payload: {_json(snapshot['payload'])}", file=stdout)
            print(f"        snapshot context: {_json(snapshot['context'])}", file=stdout)
            for number, step in enumerate(get("recovery") or (), start=1):
                print(f"        recovery {number}. {_shown(step)}", file=stdout)
    _print_page(shown, stdout)


def _print_page(shown: dict[str, Any], stdout: TextIO) -> None:
    """The line that says which records were shown, and how to see the next ones."""
    page, total = shown["timeline"], shown["records"]
    if not page and shown["from"] > 1:
        print(f"  no records from {shown['from']}: the instance has {total}", file=stdout)
    elif shown["next"] is not None:
        print(
            f"  records {page[0]['seq']} to {page[-1]['seq']} of {total}; "
            f"more with --from {shown['next']}",
            file=stdout,
        )


def _closing(last: dict[str, Any]) -> dict[str, Any] | None:
    """Who cancelled the run, when, why and in which record; None for an open run."""
    if last.get("event") != "cancelled":
        return None
    return {k: last.get(k) for k in ("seq", "actor", "at")} | {"reason": last.get("decision")}


def _recovery(spec: Spec | None, reason: object) -> list[str]:
    """The recovery procedure the spec gives the failure ``reason`` (none without a spec)."""
    if spec is None or not reason:
        return []
    return list(next((r.recovery for r in spec.reasons if r.name == reason), ()))


def _json(value: object) -> str:
    return _shown(json.dumps(value, sort_keys=True))


def _kind(spec: Spec | None, state: str) -> str | None:
    if spec is None:
        return None
    try:
        kind = spec.state(state).kind
    except KeyError:
        return None
    return None if kind is None else str(kind)


def release_command(
    target: str, instance_id: str, machine: str | None, *, stdout: TextIO, stderr: TextIO
) -> int:
    """Lift the quarantine of one instance: workers deliver and sweep it again."""
    try:
        connection = _connect(target)
        if isinstance(connection, sqlite3.Connection):  # opened read-only: reopen to write
            connection.close()
            connection = sqlite3.connect(target, timeout=60, isolation_level=None)
    except (OSError, ImportError, ValueError) as error:
        print(f"statewright: error: {error}", file=stderr)
        return EXIT_USAGE
    try:
        store = SqlStore(connection, create=False)
        held = [
            p.machine
            for p in _pending(store)
            if p.instance_id == instance_id and p.quarantined and machine in (None, p.machine)
        ]
        if len(held) == 1:
            Outbox(store, create=False).lift(held[0], instance_id)
    except Exception as error:  # the driver's errors: not a store, unreachable, no access
        print(f"statewright: error: {_display(target)}: {error}".rstrip(), file=stderr)
        return EXIT_USAGE
    finally:
        connection.close()
    if len(held) != 1:
        why = "no quarantined instance" if not held else "several machines hold: pass --machine"
        print(f"statewright: error: {_display(target)}: {why} {instance_id!r}", file=stderr)
        return EXIT_USAGE
    print(
        f"{held[0]} {instance_id}: released from quarantine; workers deliver it again", file=stdout
    )
    return EXIT_OK


# --- the command ---------------------------------------------------------------------------


def _instance_arguments(parser: argparse.ArgumentParser) -> None:
    store_argument(parser)
    parser.add_argument("instance", metavar="INSTANCE", help="the instance id")
    parser.add_argument("--machine", default=None, help="the machine, if several share the id")


def _view_arguments(parser: argparse.ArgumentParser) -> None:
    specs_argument(
        parser,
        "specs that give states their kinds, reviewers and recovery "
        "(default: specs/ if it exists); each instance takes the version its records "
        "name, found there or in the git history of those files",
    )
    parser.add_argument(
        "--format",
        choices=["text", "json"],
        default="text",
        help="text for people (default), or json: one object for scripts",
    )


def _list_arguments(parser: argparse.ArgumentParser) -> None:
    store_argument(parser)
    _view_arguments(parser)


def _show_arguments(parser: argparse.ArgumentParser) -> None:
    _instance_arguments(parser)
    parser.add_argument(
        "--from",
        dest="first",
        type=count,
        default=1,
        metavar="SEQ",
        help="the first record to print (default: 1)",
    )
    parser.add_argument(
        "--limit",
        type=count,
        default=1000,
        metavar="N",
        help="print at most N records (default: 1000); the last line says how to go on",
    )
    _view_arguments(parser)


def _list(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return list_command(args.target, args.specs, args.format, stdout=stdout, stderr=stderr)


def _show(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return show_command(
        args.target,
        args.instance,
        args.machine,
        args.specs,
        args.format,
        first=args.first,
        limit=args.limit,
        stdout=stdout,
        stderr=stderr,
    )


def _release(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return release_command(args.target, args.instance, args.machine, stdout=stdout, stderr=stderr)


LIST = Command(
    name="runs list",
    summary="instances by state, approvals waiting with deadlines, effects due",
    description=(
        "Print on standard output every instance of the store by machine and state, "
        "the approvals waiting with what comes next and when (an approval gate "
        "that escalates: 'escalates <time> (in 3 h) to <roles>' until the escalation "
        "is recorded, then its 'times out <time>'; OVERDUE once past), the "
        "effects due or failing in the outbox and the instances quarantined (with "
        "when and why); --format json prints one object "
        "instead (each approval's 'due' lists what comes, earliest first, each with "
        "its 'event' (escalation or timeout; just due where the runtime of the spec "
        "at hand cannot load the run, which the text says as 'due <time>') and 'at'; "
        "'deadline' is the earliest). "
        "The specs (--specs) give states their kinds, reviewers and "
        "recovery procedures.",
        "Every chain and head row is verified first (one hash per record, as 'audit "
        "verify' does): an instance that fails is listed as TAMPERED, apart from the "
        "counts. Ids, states and messages from the store are printed escaped.",
    ),
    exits=((0, "listed"), (2, "a usage error, or the store cannot be opened")),
    arguments=_list_arguments,
    run=_list,
)

SHOW = Command(
    name="runs show",
    summary="one instance's audit timeline: actors, decisions, reasons, snapshots",
    description=(
        "Print on standard output one instance's audit timeline, record by record: "
        "when, what moved it where, who acted and their decision, the failure reasons "
        "with their recovery procedures and the failure snapshots, after what comes "
        "next ('escalates:' and 'times out:' with their times); --format json "
        "prints one object instead (with 'due', as 'runs list' gives it).",
        "It prints at most --limit records (1000) from record --from (1); the last "
        "line says how to go on. The whole chain is verified as it is read, a chunk "
        "at a time, keeping only the page: a tampered instance is refused with one "
        "line on standard error and none of its records. Ids, actors and decisions "
        "are printed escaped.",
    ),
    exits=(
        (0, "shown"),
        (1, "the instance is tampered: its records or its head row fail verification"),
        (2, "a usage error, or the store or the instance cannot be found"),
    ),
    arguments=_show_arguments,
    run=_show,
)

RELEASE = Command(
    name="runs release",
    summary="lift an instance's quarantine: workers deliver and sweep it again",
    description=(
        "A worker quarantines an instance that failed max_attempts times (or at once, "
        "when it cannot be trusted): it skips it in claims and timeout sweeps, and "
        "'runs list' shows it with its last error. Once the cause is mended (the "
        "handler, the deployed spec, the data), release it: its failed attempts are "
        "forgotten and the next worker round delivers it and fires its due timeouts. "
        "Says what it released on standard output.",
    ),
    exits=(
        (0, "released"),
        (2, "a usage error, the store cannot be opened, or no such quarantine"),
    ),
    arguments=_instance_arguments,
    run=_release,
)


def _archive_arguments(parser: argparse.ArgumentParser) -> None:
    store_argument(parser)
    parser.add_argument(
        "--finished-before",
        dest="finished_before",
        type=duration,
        required=True,
        metavar="DURATION",
        help="archive the runs that finished at least this long ago (30d, 12h, 90m)",
    )
    parser.add_argument(
        "--to",
        type=Path,
        required=True,
        metavar="ARCHIVE",
        help="the archive: a SQLite file (made if missing), a statewright store itself",
    )
    _final_specs_argument(parser)


def _archive(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return archive_command(
        args.target,
        finished_before=args.finished_before,
        to=args.to,
        specs=args.specs,
        stdout=stdout,
        stderr=stderr,
    )


def _final_specs_argument(parser: argparse.ArgumentParser) -> None:
    specs_argument(parser, "specs that say which states are final (default: specs/ if it exists)")


def _cancel_arguments(parser: argparse.ArgumentParser) -> None:
    _instance_arguments(parser)
    parser.add_argument(
        "--actor", required=True, metavar="ID", help="who cancels: kept in the record"
    )
    parser.add_argument(
        "--reason", required=True, metavar="TEXT", help="why: kept in the record's decision"
    )
    parser.add_argument(
        "--role",
        dest="roles",
        action="append",
        default=[],
        metavar="ROLE",
        help="a role the actor holds, kept in the record (repeat for several)",
    )
    _final_specs_argument(parser)


def _cancel(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return cancel_command(
        args.target,
        args.instance,
        args.machine,
        actor=args.actor,
        reason=args.reason,
        roles=args.roles,
        specs=args.specs,
        stdout=stdout,
        stderr=stderr,
    )


CANCEL = Command(
    name="runs cancel",
    summary="cancel a run: closed for good, its in-flight handler call abandoned",
    description=(
        "Append a 'cancelled' record to the instance's chain (who, --actor; why, "
        "--reason; the roles given) in the state it rests in, and settle its outbox "
        "entry in the same transaction: workers never claim, sweep or step it again, "
        "and a worker running a handler for it abandons the call at its next heartbeat "
        "and commits nothing. The chain is verified first. Whoever may write the store "
        "may cancel. Says what it cancelled on standard output.",
        "Refused: a run cancelled already, one resting in a final state of its spec "
        "(--specs), and one whose timed exit is due and not yet fired (a worker round "
        "fires it first).",
    ),
    exits=(
        (0, "cancelled"),
        (1, "the instance is tampered: nothing was written"),
        (
            2,
            "a usage error, the store or the instance cannot be found, or it cannot be "
            "cancelled (cancelled already, finished, its timed exit due, another write "
            "came first)",
        ),
    ),
    arguments=_cancel_arguments,
    run=_cancel,
)

ARCHIVE = Command(
    name="runs archive",
    summary="move finished runs out of the store into an archive store (retention)",
    description=(
        "Move the runs that rest in a final state of their spec, with every effect "
        "delivered, and whose last record is older than --finished-before, out of the "
        "store's tables into the archive --to: a SQLite file with the same tables, so "
        "'audit verify', 'runs list' and 'runs show' read it like any store and its "
        "chains stay verifiable. Each run is copied, its copy verified, and only then "
        "deleted from the store (if it did not move meanwhile); a crash leaves it in "
        "both, never in neither. Says on standard output how many runs it archived per "
        "machine.",
    ),
    exits=(
        (0, "archived, or nothing to archive"),
        (1, "a run's archived copy failed verification: it stays in the store"),
        (2, "a usage error, or the store, the archive or the specs cannot be read"),
    ),
    arguments=_archive_arguments,
    run=_archive,
)

COMMAND = Group(
    name="runs",
    summary="the operators' view of a store's instances",
    description=(
        "Read a durable store (a SQLite file or a postgresql:// URL) and show what its "
        "instances are doing: 'runs list' for all of them, 'runs show' for one "
        "instance's timeline. Both only read, and print on standard output; 'runs "
        "release' lifts an instance's quarantine, 'runs cancel' cancels a run, and "
        "'runs archive' moves finished runs into an archive store.",
    ),
    exits=((0, "shown"), (2, "a usage error, or the store or the instance cannot be found")),
    actions=(LIST, SHOW, RELEASE, CANCEL, ARCHIVE),
)
