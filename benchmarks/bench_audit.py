"""``audit check`` of many stored orchestrator runs in SQLite, beside a plain ``SELECT``
loop with ``json.loads`` over the same records (the least any reader of them does).

The store is written by the generated orchestrator runtime (``generated/orchestrator``),
``--runs`` instances of about 15 records each: a task arrives, the run goes through the
approval gate a few times (approved, rejected and resumed, or timed out and resumed),
and ends in ``COMPLETE`` and back to ``IDLE``. Then, side by side in this process:

- *plain*: ``SELECT machine, instance_id, seq, body FROM statewright_records ORDER BY
  machine, instance_id, seq`` and one ``json.loads`` per record;
- *audit check*: what ``statewright audit check STORE`` does (every instance's chain and
  head row verified as it is read, a chunk at a time, and every record held against the
  spec), through :func:`statewright.generator.commands.audit_check.check_runs`.

The ratio of the two is the cost of checking, in wall-clock and in CPU time of this
process (``time.process_time``: on a machine others share, the wall clock counts their
work too, so the CPU ratio is the steadier figure). Memory: the peak Python allocation
(``tracemalloc``) of ``audit check`` over a quarter of the runs and over all of them: flat
when runs are streamed. Each time is the best of ``--repeat``.

Run:

    .venv/bin/python benchmarks/bench_audit.py --runs 20000
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generated._statewright.store import SqlStore as GeneratedStore  # noqa: E402
from generated.orchestrator.runtime import Actor, Orchestrator  # noqa: E402
from statewright.generator.commands.audit_check import (  # noqa: E402
    check_runs,
    spec_versions,
    timers_for,
)
from statewright.generator.runtime.store import SqlStore  # noqa: E402

LEAD = Actor("lee", frozenset({"tech_lead"}))
ON_CALL = Actor("ola", frozenset({"on_call"}))


def write_runs(path: Path, runs: int, seed: int = 7) -> int:
    """``runs`` orchestrator runs in a SQLite store at ``path``; the records written."""
    rng = random.Random(seed)
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    store = GeneratedStore.sqlite(str(path))
    records = 0
    for start in range(0, runs, 500):
        with store.batch():
            for n in range(start, min(start + 500, runs)):
                machine = Orchestrator.create(store, f"run-{n:07d}", clock=lambda: now[0])
                machine.task_received()
                for _ in range(rng.randint(1, 4)):
                    machine.gate_reached()
                    now[0] += timedelta(hours=rng.choice([1, 5, 80]))
                    if machine.expire() is None:
                        if rng.random() < 0.7:
                            machine.human_approved(actor=LEAD, decision="looks right")
                            continue
                        machine.human_rejected(actor=LEAD, decision="needs another pass")
                    machine.human_resumed(actor=ON_CALL, decision="fixed the input")
                machine.all_stages_passed()
                machine.housekeeping_done()
                records += len(machine.audit)
    store.close()
    return records


def plain(path: Path) -> int:
    """Every record read with a plain SELECT loop and ``json.loads``; how many."""
    connection = sqlite3.connect(path)
    count = 0
    for (body,) in connection.execute(
        "SELECT body FROM statewright_records ORDER BY machine, instance_id, seq"
    ):
        json.loads(body)
        count += 1
    connection.close()
    return count


SPECS = spec_versions([ROOT / "specs" / "orchestrator.yaml"])


def audit(path: Path, runs: int | None = None) -> int:
    """``audit check`` of the store (of its first ``runs`` instances); the records read."""
    specs = SPECS
    connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    store = SqlStore(connection, create=False)
    scanned = store.scan(timers=timers_for(specs))
    report = check_runs(islice(scanned, runs), specs, source=str(path))
    scanned.close()
    connection.close()
    if report.failed or report.tampered:
        raise SystemExit(f"the benchmark's runs should check clean: {report.summary()}")
    return report.records


def best(runs: list[Callable[[], int]], repeat: int) -> list[tuple[float, float, int]]:
    """The shortest of ``repeat`` runs of each of ``runs``, taken in turn (so that a
    machine busy for a while slows them alike): wall-clock and CPU seconds, and what each
    returned."""
    times: list[list[float]] = [[] for _ in runs]
    cpu: list[list[float]] = [[] for _ in runs]
    made = [0] * len(runs)
    for _ in range(repeat):
        for index, run in enumerate(runs):
            start, used = time.perf_counter(), time.process_time()
            made[index] = run()
            times[index].append(time.perf_counter() - start)
            cpu[index].append(time.process_time() - used)
    return [
        (min(found), min(spent), count)
        for found, spent, count in zip(times, cpu, made, strict=True)
    ]


def peak(run: Callable[[], int]) -> int:
    """The peak Python allocation of ``run``, in bytes."""
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20_000, help="stored runs")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "orchestrator.sqlite"
        started = time.perf_counter()
        records = write_runs(path, args.runs)
        took = time.perf_counter() - started
        print(f"wrote {args.runs:,} runs, {records:,} records in {took:.0f} s")
        (bare, bare_cpu, read), (checked, checked_cpu, seen) = best(
            [lambda: plain(path), lambda: audit(path)], args.repeat
        )
        assert read == seen == records, (read, seen, records)
        print(f"{'':14}{'seconds':>10}{'cpu s':>10}{'records/s':>12}")
        print(f"{'plain SELECT':14}{bare:>10.2f}{bare_cpu:>10.2f}{records / bare:>12,.0f}")
        print(f"{'audit check':14}{checked:>10.2f}{checked_cpu:>10.2f}{records / checked:>12,.0f}")
        print(
            f"ratio audit check / plain: {checked / bare:.2f}x wall-clock, "
            f"{checked_cpu / bare_cpu:.2f}x CPU"
        )
        quarter = peak(lambda: audit(path, args.runs // 4))
        whole = peak(lambda: audit(path))
        print(
            f"peak memory of audit check: {quarter / 1e6:.1f} MB for {args.runs // 4:,} runs, "
            f"{whole / 1e6:.1f} MB for {args.runs:,}"
        )


if __name__ == "__main__":
    main()
