"""``statewright audit verify|head PATH_OR_URL``: check a store's audit log, and witness it.

(``audit check`` and ``audit export``, which hold runs against their spec, are in
:mod:`statewright.generator.commands.audit_check`.)

``verify`` checks every instance's hash chain and recomputes its head row (state, and
deadline for the machines whose spec it has) from the records; with ``--against FILE``
it also checks that the chains still extend the heads ``head`` wrote to FILE earlier.
``head`` prints where every chain ends (machine, instance, last record, its hash) as
JSON lines: keep that output outside the database (a separate log, a ticket, a signed
file) and a later ``verify --against`` finds a truncated or rewritten chain that the
chain alone cannot.

The store is :mod:`statewright.generator.runtime.store`, the same code every generated runtime runs
on; this command opens it over a SQLite file or a PostgreSQL URL (psycopg 3, imported only
for ``postgresql://`` URLs) and runs its verification. It reads; it never creates tables
or writes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from statewright.generator import signing
from statewright.generator.commands import Command, Group
from statewright.generator.commands.audit_check import CHECK, EXPORT
from statewright.generator.commands.stores import (
    Unusable,
    display,
    load_specs,
    specs_argument,
    store_argument,
    timers_of,
    with_store,
)
from statewright.generator.runtime.store import ChainProblem, InstanceHead, SqlStore, check_witness
from statewright.verify.printable import printable

__all__ = ["COMMAND", "audit_command", "head_command", "load_specs", "store_argument", "timers_of"]


def audit_command(
    target: str,
    *,
    stdout: TextIO,
    stderr: TextIO,
    against: Path | None = None,
    specs: Sequence[Path] = (),
    keyring: Path | None = None,
) -> int:
    """Verify every chain in the store at ``target`` and recompute every head row from its
    records; print the first broken record (or the wrong row) of each instance.

    The deadlines are recomputed for the machines ``specs`` (default: ``specs/`` when it
    exists) hold; for any other machine a line says they were not.

    Exit status: 0 when every chain is intact, 1 when a record was altered, removed or
    reordered or a head row is not what its records give, 2 when the target cannot be
    opened as a statewright store.
    """
    try:
        witnessed = [] if against is None else _read_heads(against)
        keys = None if keyring is None else signing.read_keyring(keyring)
    except (OSError, ValueError) as error:
        print(f"statewright: error: {error}", file=stderr)
        return 2
    except signing.SigningUnavailable as error:
        print(f"statewright: error: {error}", file=stderr)
        return 2
    known = load_specs(specs)

    def read(store: SqlStore) -> tuple[list[Any], set[str]]:
        machines = {head.machine for head in store.heads()}
        timers = {machine: timers_of(known[machine]) for machine in machines & known.keys()}
        problems: list[Any] = [*store.verify(timers=timers), *check_witness(store, witnessed)]
        if keys is not None:
            broken = {(p.machine, p.instance_id) for p in problems if isinstance(p, ChainProblem)}
            every = [(h.machine, h.instance_id) for h in store.heads()]
            intact = [found for found in every if found not in broken]
            problems.extend(p.message() for p in signing.check_signatures(store, keys, intact))
        return problems, machines - known.keys()

    try:
        problems, unknown = with_store(target, read)
    except Unusable as error:
        print(f"statewright: error: {error}", file=stderr)
        return 2
    for problem in problems:
        print(f"{display(target)}: {printable(str(problem))}", file=stdout)
    for machine in sorted(unknown):
        print(
            f"{display(target)}: {printable(machine)}: deadlines not recomputed: no spec "
            "of this machine (pass --specs)",
            file=stdout,
        )
    if problems:
        signatures = sum(isinstance(problem, str) for problem in problems)
        summary = f"{len(problems) - signatures} broken chain(s)"
        if signatures:
            summary += f", {signatures} signature problem(s)"
        print(f"audit verify: {summary}", file=stdout)
        return 1
    signed = "" if keys is None else ", every human decision signed by its reviewer's key"
    print(f"audit verify: {display(target)}: every chain intact{signed}", file=stdout)
    return 0


def head_command(target: str, *, stdout: TextIO, stderr: TextIO) -> int:
    """Print where every instance's chain ends, one JSON object a line, for a witness.

    Exit status: 0, or 2 when the target cannot be opened as a statewright store.
    """
    try:
        heads = with_store(target, lambda store: store.heads())
    except Unusable as error:
        print(f"statewright: error: {error}", file=stderr)
        return 2
    for found in heads:
        record = {"machine": found.machine, "instance_id": found.instance_id}
        print(json.dumps({**record, "seq": found.seq, "hash": found.hash}), file=stdout)
    return 0


def _read_heads(path: Path) -> list[InstanceHead]:
    """The heads ``statewright audit head`` wrote to ``path``."""
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    heads = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            heads.append(
                InstanceHead(
                    str(data["machine"]),
                    str(data["instance_id"]),
                    int(data["seq"]),
                    str(data["hash"]),
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{path}:{number}: not a head line of 'statewright audit head' ({error})"
            ) from error
    return heads


# --- the command ---------------------------------------------------------------------------


def _verify_arguments(parser: argparse.ArgumentParser) -> None:
    store_argument(parser)
    parser.add_argument(
        "--against",
        type=Path,
        metavar="FILE",
        help="also check that every chain still extends the heads 'audit head' wrote to FILE",
    )
    specs_argument(
        parser, "specs whose timers recompute the deadlines (default: specs/ if it exists)"
    )
    parser.add_argument(
        "--keyring",
        type=Path,
        metavar="FILE",
        help="reviewers' Ed25519 public keys (a line 'ACTOR ed25519:BASE64' each): check "
        "every signed decision, and report each human decision that is not signed "
        "(needs statewright[signing])",
    )


def _verify(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return audit_command(
        args.target,
        against=args.against,
        specs=args.specs,
        keyring=args.keyring,
        stdout=stdout,
        stderr=stderr,
    )


def _head(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    return head_command(args.target, stdout=stdout, stderr=stderr)


VERIFY = Command(
    name="audit verify",
    summary="check every instance's hash chain and head row; report the first broken record",
    description=(
        "Check every instance's hash chain in the store, and recompute its head row "
        "from its records: the state, and the deadline for every machine whose spec "
        "--specs holds (the specs' timers say how long each state may rest; a line "
        "names each machine whose deadlines could not be recomputed). The first broken "
        "record (or the wrong row) of each instance is printed on standard output, "
        "then a summary line.",
        "With --against FILE, also check that every chain still extends the heads "
        "'statewright audit head' wrote to FILE earlier: that finds a truncated or "
        "rewritten chain, which the chain alone cannot.",
        "With --keyring FILE (the reviewers' Ed25519 public keys, one 'ACTOR "
        "ed25519:BASE64' a line), also check the signature of every signed decision and "
        "report every human decision without one: a writer who rebuilt a whole chain "
        "with valid hashes cannot sign as a reviewer.",
    ),
    exits=(
        (0, "every chain is intact (and, with --keyring, every human decision signed)"),
        (
            1,
            "a record was altered, removed or reordered, a head row is not what its "
            "records give, or (with --keyring) a decision is unsigned or its signature "
            "does not verify",
        ),
        (
            2,
            "the store cannot be opened, FILE is no output of 'audit head', or the keyring "
            "cannot be read",
        ),
    ),
    arguments=_verify_arguments,
    run=_verify,
)

HEAD = Command(
    name="audit head",
    summary="print where every instance's chain ends (JSON lines), to keep as a witness",
    description=(
        "Print where every instance's chain ends on standard output, one JSON object "
        "a line (machine, instance_id, seq, hash). Keep it outside the database (a "
        "separate log, a ticket, a signed file); a later 'statewright audit verify "
        "--against FILE' then finds a truncated or rewritten chain.",
    ),
    exits=(
        (0, "printed"),
        (2, "the store cannot be opened"),
    ),
    arguments=store_argument,
    run=_head,
)

COMMAND = Group(
    name="audit",
    summary="work with a durable audit store",
    description=(
        "Read the audit store that generated runtimes write with SqlStore (a SQLite "
        "file or a postgresql:// URL): 'verify' checks every instance's hash chain and "
        "head row, 'head' prints where each chain ends, 'check' holds every run against "
        "the spec it ran under (or, with --trace, one run exported from any system), "
        "'export' writes one run in the trace format. None creates nor writes anything "
        "in the store.",
    ),
    exits=(
        (0, "as the action says"),
        (
            1,
            "audit verify: a chain or a head row is broken; audit check: a run breaks its "
            "spec or is tampered; audit export: the run is tampered",
        ),
        (2, "a usage error, or the store cannot be opened"),
    ),
    actions=(VERIFY, HEAD, CHECK, EXPORT),
)
