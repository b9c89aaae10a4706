"""``statewright runs list|show|release PATH_OR_URL``: the operators' view of a store's instances.

``list`` shows, per machine, how many instances rest in each state, the approvals waiting
for a reviewer with their deadlines, and the instances whose effects are due or failing
(the worker's outbox). ``show`` prints one instance's audit timeline: every record with
its time, states, trigger, actor, decision and reason, and the failure snapshot (payload
and data) of every entry into a failed state, then where it stands, its recovery
procedure and its delivery cursor. Both print text or JSON (``--format json``).

Kinds, reviewers and recovery procedures come from the specs (``--specs``, default
``specs/`` when it exists); a machine without a spec is shown by its state names only. The
store is opened read-only, as ``statewright audit`` opens it; only ``release``, which lifts
an instance's quarantine so that workers deliver and sweep it again, writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from generator.commands import EXIT_OK, EXIT_USAGE
from generator.commands.audit import _connect, _display, _Unusable, _with_store
from generator.runtime.outbox import Outbox, Pending
from generator.runtime.store import SqlStore, StoreHead, UnknownInstance, instant
from verify.check import check_file
from verify.discover import discover
from verify.model import Spec

__all__ = ["list_command", "release_command", "show_command"]


def _specs(paths: Sequence[Path]) -> dict[str, Spec]:
    if not paths:
        paths = [Path("specs")] if Path("specs").is_dir() else []
    found: dict[str, Spec] = {}
    for path in discover(paths) if paths else []:
        spec = check_file(path).spec
        if spec is not None:
            found[spec.machine] = spec
    return found


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
    known = _specs(specs)
    try:
        rows, pending = _with_store(
            target, lambda store: ([_Row(*r) for r in store.instances()], _pending(store))
        )
    except _Unusable as error:
        print(f"statewright: error: {error}", file=stderr)
        return EXIT_USAGE
    now = instant(datetime.now(UTC))
    report: list[dict[str, Any]] = []
    for machine in sorted({row.machine for row in rows}):
        spec = known.get(machine)
        mine = [row for row in rows if row.machine == machine]
        approvals = [
            {
                "instance_id": row.instance_id,
                "state": row.head.state,
                "reviewers": list(spec.state(row.head.state).reviewers),
                "deadline": row.head.deadline,
                "overdue": row.head.deadline is not None and row.head.deadline <= now,
            }
            for row in mine
            if spec is not None and _kind(spec, row.head.state) == "approval"
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
                "states": [
                    {"state": state, "kind": _kind(spec, state), "instances": count}
                    for state, count in sorted(counts.items())
                ],
                "approvals": approvals,
                "effects": effects,
            }
        )
    if fmt == "json":
        print(json.dumps({"store": _display(target), "machines": report}, indent=2), file=stdout)
        return EXIT_OK
    if not report:
        print(f"{_display(target)}: no instances", file=stdout)
    for entry in report:
        total = sum(s["instances"] for s in entry["states"])
        print(f"{entry['machine']}: {total} instance(s)", file=stdout)
        for s in entry["states"]:
            kind = f" ({s['kind']})" if s["kind"] else ""
            print(f"  {s['state']}{kind}: {s['instances']}", file=stdout)
        if entry["approvals"]:
            print("  waiting for approval:", file=stdout)
        for a in entry["approvals"]:
            late = " OVERDUE" if a["overdue"] else ""
            roles = ", ".join(a["reviewers"])
            print(
                f"    {a['instance_id']}: {a['state']}, reviewers {roles}, "
                f"deadline {a['deadline']}{late}",
                file=stdout,
            )
        _print_effects(entry["effects"], stdout)
    return EXIT_OK


def _print_effects(effects: list[dict[str, Any]], stdout: TextIO) -> None:
    """The effects due or failing, then the quarantined instances with why."""
    due = [e for e in effects if not e["quarantined"]]
    held = [e for e in effects if e["quarantined"]]
    if due:
        print("  effects due:", file=stdout)
    for e in due:
        failing = f", {e['attempts']} failed, retry at {e['retry_at']}: {e['error']}"
        print(
            f"    {e['instance_id']}: delivered {e['delivered']} of {e['records']} records"
            + (failing if e["attempts"] else ""),
            file=stdout,
        )
    if held:
        print("  quarantined (workers skip them; 'statewright runs release'):", file=stdout)
    for e in held:
        print(
            f"    {e['instance_id']}: since {e['quarantined']}, after {e['attempts']} "
            f"failed attempt(s): {e['error']}",
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
) -> int:
    """Print one instance's audit timeline, where it stands and its effects."""
    known = _specs(specs)

    def read(store: SqlStore) -> Any:
        owners = [r for r in store.instances(machine) if r[1] == instance_id]
        if len(owners) != 1:
            return len(owners)
        owner = owners[0][0]
        stored = store.load(owner, instance_id)
        cursor = [p for p in _pending(store, due_only=False) if p.instance_id == instance_id]
        return owner, stored, cursor

    try:
        found = _with_store(target, read)
    except (_Unusable, UnknownInstance) as error:
        print(f"statewright: error: {error}", file=stderr)
        return EXIT_USAGE
    if isinstance(found, int):
        why = "no instance" if not found else "instances of several machines: pass --machine"
        print(f"statewright: error: {_display(target)}: {why} {instance_id!r}", file=stderr)
        return EXIT_USAGE
    owner, stored, cursor = found
    spec = known.get(owner)
    records = [json.loads(entry.body) for entry in stored.entries]
    timeline = _timeline(records, spec)
    last = records[-1] if records else {}
    reason = last.get("reason")
    recovery = []
    if spec is not None and reason:
        recovery = list(next((r.recovery for r in spec.reasons if r.name == reason), ()))
    shown = {
        "machine": owner,
        "instance_id": instance_id,
        "state": stored.head.state,
        "kind": _kind(spec, stored.head.state),
        "reason": reason,
        "recovery": recovery,
        "deadline": stored.head.deadline,
        "records": len(records),
        "delivered": cursor[0].delivered if cursor else None,
        "delivery_error": cursor[0].error if cursor else None,
        "timeline": timeline,
    }
    if fmt == "json":
        print(json.dumps(shown, indent=2), file=stdout)
        return EXIT_OK
    _print_show(shown, stdout)
    return EXIT_OK


def _timeline(records: list[dict[str, Any]], spec: Spec | None) -> list[dict[str, Any]]:
    """The records, each with the failure snapshot of an entry into a failed state."""
    contexts: list[tuple[int, dict[str, Any]]] = []
    context: dict[str, Any] = {}
    out = []
    for record in records:
        event, seq = record["event"], record["seq"]
        if event == "created":
            context = dict(record["data"] or {})
        elif event == "context":
            context = {**context, **record["data"]}
        elif event == "rollback":
            kept = [c for n, c in contexts if n <= record["rollback_to"]]
            context = dict(kept[-1]) if kept else {}
        contexts.append((seq, context))
        entry = dict(record)
        failed = event == "transition" and _kind(spec, record["to_state"]) == "failed"
        if failed or (spec is None and event == "transition" and record["reason"]):
            entry["snapshot"] = {"payload": record["data"], "context": context}
        out.append(entry)
    return out


def _print_show(shown: dict[str, Any], stdout: TextIO) -> None:
    kind = f" ({shown['kind']})" if shown["kind"] else ""
    reason = f", reason {shown['reason']}" if shown["reason"] else ""
    print(f"{shown['machine']} {shown['instance_id']}: {shown['state']}{kind}{reason}", file=stdout)
    if shown["deadline"]:
        print(f"  deadline: {shown['deadline']}", file=stdout)
    for number, step in enumerate(shown["recovery"], start=1):
        print(f"  recovery {number}. {step}", file=stdout)
    if shown["delivered"] is not None:
        error = f"; failing: {shown['delivery_error']}" if shown["delivery_error"] else ""
        print(
            f"  effects: delivered {shown['delivered']} of {shown['records']} records{error}",
            file=stdout,
        )
    for r in shown["timeline"]:
        stays = r["event"] in ("created", "context")
        move = r["to_state"] if stays else f"{r['from_state']} -> {r['to_state']}"
        words = [f"{r['seq']:>4}", r["at"], f"{r['event']:<10}", move]
        if r["trigger"]:
            words.append(f"on {r['trigger']}")
        if r["rollback_to"] is not None:
            words.append(f"to record {r['rollback_to']}")
        if r["actor"]:
            words.append(f"by {r['actor']}")
        if r["reason"]:
            words.append(f"reason {r['reason']}")
        print("  " + "  ".join(words), file=stdout)
        if r["decision"]:
            print(f"        decision: {json.dumps(r['decision'])}", file=stdout)
        if r["event"] == "context":
            print(f"        data: {json.dumps(r['data'], sort_keys=True)}", file=stdout)
        snapshot = r.get("snapshot")
        if snapshot is not None:
            payload = json.dumps(snapshot["payload"], sort_keys=True)
            print(f"        snapshot payload: {payload}", file=stdout)
            print(
                f"        snapshot context: {json.dumps(snapshot['context'], sort_keys=True)}",
                file=stdout,
            )


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
