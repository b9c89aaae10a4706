"""``statewright runs cancel``: an operator cancels a run, closing it for good.

It appends a ``cancelled`` record (the operator's id, the roles given, the reason) to the
instance's chain, stamped now, in the state the run rests in, and in the same
transaction settles its outbox entry: the cursor past every record, any lease revoked,
retries and quarantine cleared. Workers never claim, sweep or step it again, and a
worker running a handler for it abandons the call at its next heartbeat, committing
nothing (:mod:`statewright.generator.runtime.cancel` says what the runtime does). Who may
cancel: whoever may write the store, as for ``runs release`` and ``runs archive``.

The chain is verified before anything is written (a tampered instance is refused). A run
already cancelled, or resting in a final state of its spec (``--specs``), is refused; so
is one whose timed exit is due and not yet fired (its deadline passed): a worker's next
round fires it, or cancel from Python (``Machine.cancel``), which takes it first, so that
the log never shows a deadline passed unfired.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from statewright.generator.commands import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from statewright.generator.commands.stores import (
    Unusable,
    display,
    machine_specs,
    opened,
    spec_version,
    spec_versions,
)
from statewright.generator.runtime.outbox import Outbox, forget_results
from statewright.generator.runtime.records import blank
from statewright.generator.runtime.sqlstore import SqlStore
from statewright.generator.runtime.store import (
    ChainBroken,
    ConcurrencyConflict,
    StoreHead,
    UnknownInstance,
    instant,
)
from statewright.verify.printable import printable

__all__ = ["cancel_command"]


class _Refused(Exception):
    """Why the run cannot be cancelled: one line, exit 2."""


def cancel_command(
    target: str,
    instance_id: str,
    machine: str | None,
    *,
    actor: str,
    reason: str,
    roles: Sequence[str] = (),
    specs: Sequence[Path] = (),
    clock: Callable[[], datetime] | None = None,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Cancel the run ``instance_id`` in ``target`` as ``actor`` (holding ``roles``) for
    ``reason``; say what was cancelled on standard output. Exit status: 0 cancelled,
    1 the instance is tampered, 2 a usage error or a refusal (no such instance, already
    cancelled, finished, its timed exit due, or another write came first)."""
    for what, text in (("--actor", actor), ("--reason", reason), *(("--role", r) for r in roles)):
        if blank(text):
            print(f"statewright: error: {what} needs a non-blank text", file=stderr)
            return EXIT_USAGE
    now = (clock or (lambda: datetime.now(UTC)))()
    try:
        with opened(target, write=True) as (store, _):
            record = _cancel(store, instance_id, machine, actor, reason, roles, specs, now)
    except (Unusable, UnknownInstance, _Refused) as error:
        print(f"statewright: error: {printable(str(error))}", file=stderr)
        return EXIT_USAGE
    except ChainBroken as broken:
        print(
            f"statewright: error: {display(target)}: tampered: {printable(str(broken.problem))};"
            " nothing was written (see 'statewright audit verify')",
            file=stderr,
        )
        return EXIT_FINDINGS
    owner, seq, state = record
    print(
        f"{printable(owner)} {printable(instance_id)}: cancelled in {printable(state)} by "
        f"{printable(actor)} (record {seq}); workers will not run it again",
        file=stdout,
    )
    return EXIT_OK


def _cancel(
    store: SqlStore,
    instance_id: str,
    machine: str | None,
    actor: str,
    reason: str,
    roles: Sequence[str],
    specs: Sequence[Path],
    now: datetime,
) -> tuple[str, int, str]:
    owners = [r for r in store.instances(machine) if r[1] == instance_id]
    if len(owners) != 1:
        why = "no instance" if not owners else "instances of several machines: pass --machine"
        raise _Refused(f"{why} {instance_id!r}")
    owner, _, head = owners[0]
    stored = store.load(owner, instance_id)  # verifies the chain and the head row
    last: dict[str, Any] = json.loads(stored.entries[-1].body)
    where = f"{owner} {instance_id!r}"
    if last.get("event") == "cancelled":
        raise _Refused(f"{where} was cancelled already, by {last.get('actor')} at {last.get('at')}")
    _refuse_finished(store, owner, instance_id, head.state, specs, where)
    if head.deadline is not None and head.deadline <= instant(now):
        raise _Refused(
            f"{where}: the timed exit of {head.state} is due since {head.deadline} and not "
            "fired yet; let a worker round fire it, then cancel (or cancel from Python with "
            "Machine.cancel(), which takes it first)"
        )
    at = max(now, datetime.fromisoformat(str(last["at"])))
    body = {
        "seq": stored.seq + 1,
        "at": at.isoformat(),
        "event": "cancelled",
        "from_state": head.state,
        "to_state": head.state,
        "trigger": None,
        "actor": actor,
        "decision": reason,
        "reason": last.get("reason"),
        "rollback_to": None,
        "data": None,
        "roles": sorted(set(roles)),
    }
    outbox = Outbox(store)
    try:
        with store.batch():
            store.append(owner, instance_id, stored.version, StoreHead(head.state, None), [body])
            outbox.settle(owner, instance_id, stored.seq + 1)
            forget_results(store, owner, instance_id)
    except ConcurrencyConflict as error:
        raise _Refused(f"{error}; run the command again") from error
    return owner, stored.seq + 1, head.state


def _refuse_finished(
    store: SqlStore,
    owner: str,
    instance_id: str,
    state: str,
    paths: Sequence[Path],
    where: str,
) -> None:
    """Refuse a run that rests in a final state of the spec it runs under (when a spec
    of it is found in ``paths``, or specs/)."""
    files = machine_specs(paths).get(owner, [])
    version = spec_versions(store, (owner, instance_id)).get((owner, instance_id))
    spec = None
    if version is not None and version.spec is not None:
        spec = spec_version(files, version.spec)
    spec = spec or (files[-1] if files else None)
    if spec is None:
        return
    try:
        final = spec.state(state).final
    except KeyError:
        return
    if final:
        raise _Refused(f"{where} has finished: {state} is a final state; nothing to cancel")


CANCELLED_TEXT = '"event":"cancelled"'
"""What the canonical JSON body of every cancelled record holds."""


def cancelled_runs(store: SqlStore) -> dict[tuple[str, str], dict[str, Any]]:
    """The runs of ``store`` whose last record cancelled them, by machine and id: who
    cancelled each, when, and why (``runs list`` shows them)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    with store._transaction(write=False, single=True) as cursor:
        store._run(
            cursor,
            "SELECT i.machine, i.instance_id, r.body FROM statewright_instances i"
            " JOIN statewright_records r ON r.machine = i.machine"
            " AND r.instance_id = i.instance_id AND r.seq = i.seq WHERE r.body LIKE ?",
            (f"%{CANCELLED_TEXT}%",),
        )
        rows = cursor.fetchall()
    for machine, instance_id, body in rows:
        try:
            record = json.loads(body)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("event") == "cancelled":
            found[str(machine), str(instance_id)] = {
                "instance_id": str(instance_id),
                "state": record.get("to_state"),
                "actor": record.get("actor"),
                "at": record.get("at"),
                "reason": record.get("decision"),
            }
    return found
