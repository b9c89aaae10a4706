"""Migrating a whole store: ``statewright migrate OLD NEW --store`` over ``--count`` stored
runs (100,000 by default), in batches of ``--batch``, on SQLite and PostgreSQL.

The store is filled with runs of the migration tests' ``review`` machine
(``tests/test_migrate_runtime.py``: OLD), a third resting in DRAFTING and two thirds in
REVIEWING, which NEW renames WAITING (with a variable dropped and one added). Measured:

- *fill*: creating the runs (one ``batch()`` transaction per ``--batch`` of them), for scale;
- *migrate*: the command, run in this process as a user runs it (the proof first, then the
  store), in runs per second;
- *again*: the command run a second time, which finds every run migrated and writes nothing
  (what a run after a crash pays for the part already done);
- *read*: a baseline, loading each run once through the store (``SqlStore.load``, verified),
  which the migration does too before it appends one record and rewrites one head row.

Then it counts what the store holds: every run has exactly one ``migrated`` record, and
``verify`` finds every chain intact. With ``--pg URL`` it uses that server; otherwise it
starts a throwaway cluster, or skips PostgreSQL when there is none (``--sqlite-only``
skips it always).

Run:

    .venv/bin/python benchmarks/bench_migrate.py
    .venv/bin/python benchmarks/bench_migrate.py --count 10000 --batch 500 --sqlite-only
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pgcluster import find_bindir, throwaway_cluster  # noqa: E402
from storekit import connect  # noqa: E402
from test_migrate_runtime import NEW, OLD  # noqa: E402
from test_runtime_kit import generate, load_spec  # noqa: E402

from statewright.generator.cli import main  # noqa: E402


def seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def fill(rt: Any, target: str, count: int, batch: int) -> None:
    """``count`` runs of OLD in the store at ``target``."""
    store = rt.SqlStore(connect(target)) if "://" in target else rt.SqlStore.sqlite(target)
    for start in range(0, count, batch):
        with store.batch():
            for n in range(start, min(start + batch, count)):
                machine = rt.Review.create(store, f"r{n:07}", context={"n": n})
                if n % 3:
                    machine.submit()
    store.close()


def command(*args: str) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(args))
    if status != 0:
        raise SystemExit(
            f"statewright {' '.join(args)}: exit {status}\n{out.getvalue()}{err.getvalue()}"
        )
    return out.getvalue().splitlines()[-1]


def counted(rt: Any, target: str, count: int) -> tuple[int, int]:
    """(runs with exactly one migrated record, chain problems)."""
    store = rt.SqlStore(connect(target)) if "://" in target else rt.SqlStore.sqlite(target)
    ones = 0
    for _, _, records in store.scan("review"):
        assert isinstance(records, list)
        ones += [r["event"] for r in records].count("migrated") == 1
    problems = len(store.verify())
    store.close()
    return ones, problems


def read_all(rt: Any, target: str, count: int) -> None:
    store = rt.SqlStore(connect(target)) if "://" in target else rt.SqlStore.sqlite(target)
    for n in range(count):
        store.load("review", f"r{n:07}")
    store.close()


def measure(name: str, target: str, folder: Path, count: int, batch: int) -> None:
    old = generate(load_spec(OLD, "specs/review.yaml"), folder / "rt")
    (folder / "old.yaml").write_text(OLD)
    (folder / "new.yaml").write_text(NEW)
    print(f"{name}: {count:,} runs, batches of {batch:,}", flush=True)
    filled = seconds(lambda: fill(old, target, count, batch))
    print(f"  fill     {filled:8.1f} s  ({count / filled:,.0f} runs/s)", flush=True)
    read = seconds(lambda: read_all(old, target, count))
    print(f"  read     {read:8.1f} s  ({count / read:,.0f} runs/s, SqlStore.load each)", flush=True)
    args = ("migrate", str(folder / "old.yaml"), str(folder / "new.yaml"), "--store", target)
    lines: list[str] = []
    migrate = seconds(lambda: lines.append(command(*args, "--batch", str(batch))))
    print(f"  migrate  {migrate:8.1f} s  ({count / migrate:,.0f} runs/s)  {lines[0]}", flush=True)
    again = seconds(lambda: lines.append(command(*args, "--batch", str(batch))))
    print(f"  again    {again:8.1f} s  ({count / again:,.0f} runs/s)  {lines[1]}", flush=True)
    ones, problems = counted(old, target, count)
    print(f"  exactly one migrated record: {ones:,} of {count:,} runs; chain problems: {problems}")


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str | None]:
    if url is not None:
        yield url
        return
    bindir = find_bindir()
    if bindir is None:
        yield None
        return
    with throwaway_cluster(bindir) as server:
        yield server


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--pg", metavar="URL")
    parser.add_argument("--sqlite-only", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        measure("SQLite", str(folder / "store.sqlite"), folder, args.count, args.batch)
        if args.sqlite_only:
            return
        with postgres(args.pg) as url:
            if url is None:
                print("PostgreSQL: skipped (no server: pass --pg URL)")
                return
            (folder / "pg").mkdir()
            measure("PostgreSQL", url, folder / "pg", args.count, args.batch)


if __name__ == "__main__":
    main_bench()
