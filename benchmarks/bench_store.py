"""Durable transitions per second of a generated runtime on its SQL store, beside a bare
INSERT loop on the same connection (the practical limit).

A *durable transition* is one ``fire`` of a stored instance of the tests' ``ticket`` machine
(a self-loop ``step``): its record and the new state committed in one transaction before
``fire`` returns. The *bare* loop inserts one row per event into a plain table and commits
it, on the same kind of connection with the same durability settings. Measured:

- SQLite (WAL, ``synchronous=FULL``), one writer: one commit per event, and batches of
  ``--batch`` events per commit (``with store.batch():`` against ``--batch`` INSERTs per
  commit);
- PostgreSQL, 1, 4 and 16 concurrent worker processes over distinct instances, each on
  its own connection, against as many bare INSERT workers. With ``--pg URL`` it uses that
  server; otherwise it starts a throwaway cluster (Debian's ``postgresql``), or skips
  PostgreSQL when there is none.

Then the cost of reading what was written, per record of one instance of ``--count``
records: the store's *unverified* read (the rows, as loading was before it verified),
its *verified* ``load`` (one sha256 and one JSON parse per record, and the head row
against the last record), ``Machine.load`` (the verified load, then the replay against
the spec), and ``walk`` (verified a chunk at a time, what ``runs show`` reads).

Run:

    .venv/bin/python benchmarks/bench_store.py
    .venv/bin/python benchmarks/bench_store.py --count 2000 --pg postgresql://...
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pgcluster import find_bindir, throwaway_cluster  # noqa: E402
from storekit import generate_runtime  # noqa: E402

BARE_TABLE = {
    "sqlite": "CREATE TABLE IF NOT EXISTS bench_bare (id INTEGER PRIMARY KEY, body TEXT NOT NULL)",
    "postgresql": "CREATE TABLE IF NOT EXISTS bench_bare"
    " (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, body TEXT NOT NULL)",
}
BODY = '{"seq":1,"at":"2026-01-01T00:00:00+00:00","from_state":"WORKING","to_state":"WORKING"}'


def timed(run: Callable[[], int]) -> float:
    """Events per second of ``run``, which returns how many events it made."""
    start = time.perf_counter()
    events = run()
    return events / (time.perf_counter() - start)


def durable(rt: Any, store: Any, instance_id: str, count: int, batch: int) -> Callable[[], int]:
    """``count`` durable ``step`` transitions, ``batch`` per commit (1: each its own)."""
    machine = rt.Ticket.create(store, instance_id)
    machine.start()

    def run() -> int:
        for _ in range(0, count, batch):
            with store.batch() if batch > 1 else contextlib.nullcontext():
                for _ in range(batch):
                    machine.step()
        return count

    return run


def bare(connection: Any, dialect: str, count: int, batch: int) -> Callable[[], int]:
    """``count`` INSERTs into a plain table, ``batch`` per commit, on ``connection``."""
    insert = "INSERT INTO bench_bare (body) VALUES (%s)".replace(
        "%s", "%s" if dialect == "postgresql" else "?"
    )
    begin = "BEGIN IMMEDIATE" if dialect == "sqlite" else None

    def run() -> int:
        cursor = connection.cursor()
        for _ in range(0, count, batch):
            if begin:
                cursor.execute(begin)
            for _ in range(batch):
                cursor.execute(insert, (BODY,))
            connection.commit()
        return count

    return run


def sqlite_rows(
    rt: Any, folder: Path, count: int, batch: int, repeat: int
) -> list[tuple[str, ...]]:
    """Best of ``repeat`` alternating runs, so that neither side gets the warmer file."""
    store = rt.SqlStore.sqlite(str(folder / "bench.sqlite"))
    connection = store._connection
    connection.execute(BARE_TABLE["sqlite"])
    rows = []
    for label, size in (("one writer", 1), (f"batches of {batch}", batch)):
        stored_run = durable(rt, store, f"sqlite-{size}", count, size)
        bare_run = bare(connection, "sqlite", count, size)
        stored = plain = 0.0
        for _ in range(repeat):
            stored = max(stored, timed(stored_run))
            plain = max(plain, timed(bare_run))
        rows.append(row("sqlite", label, stored, plain))
    store.close()
    return rows


def loading_rows(rt: Any, store: Any, backend: str, count: int, repeat: int) -> list[Any]:
    """Microseconds per record to read one instance of ``count`` records, four ways."""
    machine = rt.Ticket.create(store, f"{backend}-load")
    machine.start()
    with store.batch():
        for _ in range(count - 2):
            machine.step()
    instance_id = machine.instance_id
    ways: dict[str, Callable[[], Any]] = {
        "unverified read": lambda: store._fetch("ticket", instance_id),
        "verified load": lambda: store.load("ticket", instance_id),
        "Machine.load": lambda: rt.Ticket.load(store, instance_id),
        "walk (runs show)": lambda: store.walk("ticket", instance_id, lambda record: None),
    }
    best: dict[str, float] = {}
    for _ in range(repeat):
        for label, read in ways.items():
            start = time.perf_counter()
            read()
            elapsed = (time.perf_counter() - start) / count * 1e6
            best[label] = min(best.get(label, elapsed), elapsed)
    base = best["unverified read"]
    return [
        (backend, label, f"{micros:.1f}", f"{micros / base:.2f}") for label, micros in best.items()
    ]


def row(backend: str, label: str, stored: float, plain: float) -> tuple[str, ...]:
    """One line of the table: rates and their ratio."""
    return backend, label, f"{stored:,.0f}", f"{plain:,.0f}", f"{stored / plain:.2f}"


def _worker(kind: str, path: str, url: str, index: int, count: int, gate: Any, done: Any) -> None:
    """One PostgreSQL worker: connect, wait at the gate, run, report."""
    import psycopg

    connection = psycopg.connect(url)
    if kind == "durable":
        rt = _import(Path(path))
        run = durable(rt, rt.SqlStore(connection), f"pg-{index}-{time.time_ns()}", count, 1)
    else:
        run = bare(connection, "postgresql", count, 1)
    gate.wait()
    done.put(run())
    connection.close()


def _import(path: Path) -> Any:
    from store_worker import import_runtime

    return import_runtime(path)


def concurrent(kind: str, path: Path, url: str, workers: int, count: int) -> float:
    """Events per second of ``workers`` processes, each making ``count`` events."""
    context = multiprocessing.get_context("spawn")
    gate, done = context.Barrier(workers + 1), context.Queue()
    processes = [
        context.Process(target=_worker, args=(kind, str(path), url, n, count, gate, done))
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    gate.wait()
    start = time.perf_counter()
    total: int = sum(done.get() for _ in processes)
    elapsed = time.perf_counter() - start
    for process in processes:
        process.join()
    return total / elapsed


def postgres_rows(path: Path, url: str, count: int, repeat: int) -> list[tuple[str, ...]]:
    import psycopg

    rt = _import(path)
    with psycopg.connect(url) as connection:
        connection.execute(BARE_TABLE["postgresql"])
        rt.SqlStore(connection)  # the schema, before the workers race to make it
    rows = []
    for workers in (1, 4, 16):
        stored = plain = 0.0
        for _ in range(repeat):
            stored = max(stored, concurrent("durable", path, url, workers, count))
            plain = max(plain, concurrent("bare", path, url, workers, count))
        rows.append(row("postgresql", f"{workers} workers", stored, plain))
    return rows


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str | None]:
    if url:
        yield url
        return
    bindir = find_bindir()
    try:
        import psycopg  # noqa: F401
    except ImportError:
        bindir = None
    if bindir is None:
        yield None
        return
    with throwaway_cluster(bindir) as started:
        yield started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="events per run (per worker)")
    parser.add_argument("--batch", type=int, default=100, help="events per batch (SQLite)")
    parser.add_argument("--pg", metavar="URL", help="a PostgreSQL URL (default: throwaway)")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        rt, path = generate_runtime(Path(folder))
        rows = sqlite_rows(rt, Path(folder), args.count, args.batch, args.repeat)
        store = rt.SqlStore.sqlite(str(Path(folder) / "load.sqlite"))
        loads = loading_rows(rt, store, "sqlite", args.count, args.repeat)
        store.close()
        with postgres(args.pg) as url:
            if url is None:
                print("PostgreSQL skipped: no server binaries or no psycopg")
            else:
                rows += postgres_rows(path, url, max(args.count // 4, 50), args.repeat)
                import psycopg

                store = rt.SqlStore(psycopg.connect(url))
                loads += loading_rows(rt, store, "postgresql", args.count, args.repeat)
                store.close()
    table(("backend", "run", "durable tx/s", "bare INSERT/s", "ratio"), rows)
    print()
    print(f"reading one instance of {args.count} records:")
    table(("backend", "read", "µs/record", "vs unverified"), loads)


def table(header: tuple[str, ...], rows: list[Any]) -> None:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
