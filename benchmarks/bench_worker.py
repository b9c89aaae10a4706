"""Durable workers on PostgreSQL against a bare ``FOR UPDATE SKIP LOCKED`` loop doing the
same state changes, and what a claim costs as finished instances pile up.

The machine is a chain of three agents (``A_RUNNING -> B_RUNNING -> C_RUNNING -> DONE``);
each agent is a handler that works for ``--work-ms`` milliseconds (a sleep: an agent waits
on its model or an API) and returns the next trigger. An instance is *driven* when it
reaches DONE: three handler calls, each outcome committed with the delivery cursor, the
records hash-chained. Measured, in worker processes (1, 2 and 4), each on its own
connection, every run on a fresh database, ``--repeat`` times (the median is reported):

- *statewright*: ``Worker.run`` processes sharing the instances through the outbox;
- *bare loop*: processes that each, per transition, lock the oldest unfinished job with
  ``SELECT ... FOR UPDATE SKIP LOCKED`` (from a partial index of the jobs not done, as a
  hand-written queue would keep), call the same handler, update the job's state and
  append one history row, and commit: the least a hand-written queue does for the same
  state changes (no hash chain, no leases, no outbox).

The ratio is statewright's transitions per second over the bare loop's at the same number
of processes. A run ends when the processes have counted every transition (a counter they
share with this process, looked at every millisecond: no query polls the server), and is
checked afterwards (every instance DONE, every chain intact). Beside the rates it reports
the CPU milliseconds per transition, median of the runs, of the worker processes and of
the PostgreSQL server (every process of its cluster, from ``/proc``; ``?`` for a server on
another machine), on each side: on 2 cores, with 2 or 4 processes both sides are bound
by CPU, so this says where the time goes.

``--idle`` measures instead an idle worker's claim round (``Worker.run_once``
with nothing due) at 0, 100k and 500k finished instances (written straight into the
tables: a finished instance's head row and outbox row, all delivered), and ``--round-trips``
counts the statements and commits one worker sends per transition. With ``--pg URL`` it
uses that server; otherwise it starts a throwaway cluster (Debian's ``postgresql``).

Run:

    .venv/bin/python benchmarks/bench_worker.py                      # no-op and 50 ms
    .venv/bin/python benchmarks/bench_worker.py --work-ms 0 --repeat 5
    .venv/bin/python benchmarks/bench_worker.py --idle
    .venv/bin/python benchmarks/bench_worker.py --round-trips
    /tmp/peers/bin/python benchmarks/bench_worker.py --peers      # and procrastinate, DBOS

``--peers`` runs procrastinate and DBOS on the same chain beside them (their ratio to the
bare loop too); they are not statewright's dependencies: ``benchmarks/worker_peers.py``
says how to install them into a throwaway environment (without them it says so and exits
with status 2).
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

sys.path.insert(0, str(ROOT / "benchmarks"))

import worker_peers  # noqa: E402
from chainkit import CHAIN_SPEC, Counting  # noqa: E402
from pgcluster import find_bindir, throwaway_cluster  # noqa: E402
from storekit import generate_runtime  # noqa: E402

STAGES = (("A_RUNNING", "A_DONE"), ("B_RUNNING", "B_DONE"), ("C_RUNNING", "C_DONE"))


def agent(outcome: Any, work: float) -> Any:
    def handler(job: Any) -> Any:
        if work:
            time.sleep(work)
        return outcome

    return handler


def chain_handlers(rt: Any, work: float) -> Any:
    handlers = rt.Handlers()
    for state, trigger in STAGES:
        handlers.on_enter(rt.State[state], error=rt.Trigger.AGENT_ERROR)(
            agent(rt.Trigger[trigger], work)
        )
    return handlers


# -- databases ------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_database(url: str) -> Iterator[str]:
    """A new, empty database on the server of ``url``; dropped afterwards."""
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@dataclass(frozen=True, slots=True)
class Run:
    """One timed run: seconds from the start until done, and the CPU seconds spent
    meanwhile by the worker processes and by the PostgreSQL server (every process of its
    cluster; None when the server is not on this machine)."""

    elapsed: float
    worker_cpu: float
    server_cpu: float | None


def cpu_seconds(pid: int) -> tuple[float, float]:
    """The CPU seconds (user + system) process ``pid`` has used, and those of its children
    it has waited for (from ``/proc/<pid>/stat``)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2 :].split()  # after the command, which may hold spaces
    tick = os.sysconf("SC_CLK_TCK")
    own = (int(fields[11]) + int(fields[12])) / tick
    return own, (int(fields[13]) + int(fields[14])) / tick


def server_cpu(postmaster: int | None) -> float | None:
    """The CPU seconds the cluster of ``postmaster`` has used: its own, its live processes'
    and those of the processes it has reaped (backends that ended)."""
    if postmaster is None:
        return None
    with contextlib.suppress(OSError):
        own, reaped = cpu_seconds(postmaster)
        total = own + reaped
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == postmaster:
                    total += cpu_seconds(int(entry.name))[0]
        return total
    return None


def postmaster_of(connection: Any) -> int | None:
    """The pid of the PostgreSQL server ``connection`` talks to, if it runs on this machine
    (the parent of its backend process); None otherwise."""
    row = connection.execute("SELECT pg_backend_pid()").fetchone()
    with contextlib.suppress(OSError, ValueError, IndexError, TypeError):
        stat = Path(f"/proc/{int(row[0])}/stat").read_text()
        if stat[stat.index("(") + 1 : stat.rindex(")")] == "postgres":
            return int(stat[stat.rindex(")") + 2 :].split()[1])
    return None


def race(
    count: int,
    target: Callable[..., None],
    args: tuple[Any, ...],
    done: Callable[[], bool],
    postmaster: int | None = None,
    poll: float = 0.005,
) -> Run:
    """Start ``count`` processes running ``target(*args, go, stop)``, let them go at once,
    and time them until ``done()`` (looked at every ``poll`` seconds), with the CPU they
    and the server of ``postmaster`` spent meanwhile."""
    context = multiprocessing.get_context("fork")
    go, stop = context.Event(), context.Event()
    processes = [context.Process(target=target, args=(*args, go, stop)) for _ in range(count)]
    for process in processes:
        process.start()
    time.sleep(0.5)  # let every process connect before the clock starts
    pids = [process.pid for process in processes if process.pid is not None]
    workers = sum(cpu_seconds(pid)[0] for pid in pids)
    server = server_cpu(postmaster)
    start = time.perf_counter()
    go.set()
    while not done():
        time.sleep(poll)
    elapsed = time.perf_counter() - start
    workers = sum(cpu_seconds(pid)[0] for pid in pids) - workers
    after = server_cpu(postmaster)
    server = None if server is None or after is None else after - server
    stop.set()
    for process in processes:
        process.join()
    return Run(elapsed, workers, server)


def counter() -> Any:
    """A count of transitions that the worker processes add to and :func:`race` reads."""
    return multiprocessing.get_context("fork").Value("q", 0)


def add(progress: Any, transitions: int) -> None:
    if transitions:
        with progress.get_lock():
            progress.value += transitions


# -- statewright -----------------------------------------------------------------------


def serve(rt: Any, url: str, work: float, progress: Any, go: Any, stop: Any) -> None:
    import psycopg

    worker = rt.Worker(rt.SqlStore(psycopg.connect(url)), chain_handlers(rt, work), batch=8)
    counted = 0

    def stopping() -> bool:  # looked at between rounds: count the round's transitions
        nonlocal counted
        add(progress, worker.metrics.fired - counted)
        counted = worker.metrics.fired
        return bool(stop.is_set())

    go.wait()
    worker.run(stop=stopping, idle=0.005)


def statewright_run(rt: Any, url: str, count: int, instances: int, work: float) -> Run:
    """What ``count`` worker processes take to drive ``instances`` to DONE on a fresh
    database."""
    import psycopg

    with fresh_database(url) as db:
        store = rt.SqlStore(psycopg.connect(db))
        rt.Outbox(store)
        with store.batch():
            for n in range(instances):
                rt.Chain.create(store, f"i{n}").start()
        progress = counter()
        with psycopg.connect(db, autocommit=True) as check:
            run = race(
                count,
                serve,
                (rt, db, work, progress),
                lambda: progress.value >= 3 * instances,
                postmaster_of(check),
                poll=0.001,  # a shared counter, not a query: cheap to look at
            )
            row = check.execute(
                "SELECT count(*) FROM statewright_instances WHERE state = 'DONE'"
            ).fetchone()
        assert row == (instances,), row
        assert store.verify() == []
        store.close()
    return run


# -- the bare loop ---------------------------------------------------------------------

BARE_NEXT = {"A_RUNNING": "B_RUNNING", "B_RUNNING": "C_RUNNING", "C_RUNNING": "DONE"}


def bare_serve(url: str, work: float, progress: Any, go: Any, stop: Any) -> None:
    import psycopg

    connection = psycopg.connect(url)
    handler = agent("next", work)
    go.wait()
    while not stop.is_set():
        with connection.transaction():
            row = connection.execute(
                "SELECT id, state, seq FROM bare_jobs WHERE state <> 'DONE'"
                " ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
            ).fetchone()
            if row is not None:
                handler(None)
                job, state, seq = row
                connection.execute(
                    "UPDATE bare_jobs SET state = %s, seq = %s WHERE id = %s",
                    (BARE_NEXT[state], seq + 1, job),
                )
                connection.execute(
                    "INSERT INTO bare_history (job, seq, state) VALUES (%s, %s, %s)",
                    (job, seq + 1, BARE_NEXT[state]),
                )
        if row is None:
            time.sleep(0.005)
        else:
            add(progress, 1)
    connection.close()


def bare_run(url: str, count: int, instances: int, work: float) -> Run:
    """What ``count`` bare loop processes take over ``instances`` jobs."""
    import psycopg

    with fresh_database(url) as db:
        with psycopg.connect(db, autocommit=True) as setup:
            setup.execute(
                "CREATE TABLE bare_jobs (id BIGINT PRIMARY KEY, state TEXT NOT NULL,"
                " seq BIGINT NOT NULL)"
            )
            setup.execute(
                "CREATE TABLE bare_history (job BIGINT NOT NULL, seq BIGINT NOT NULL,"
                " state TEXT NOT NULL, PRIMARY KEY (job, seq))"
            )
            setup.execute(  # what a hand-written queue indexes: the jobs not done yet
                "CREATE INDEX bare_pending ON bare_jobs (id) WHERE state <> 'DONE'"
            )
            setup.execute(
                "INSERT INTO bare_jobs SELECT n, 'A_RUNNING', 1 FROM generate_series(1, %s) n",
                (instances,),
            )
            progress = counter()
            run = race(
                count,
                bare_serve,
                (db, work, progress),
                lambda: progress.value >= 3 * instances,
                postmaster_of(setup),
                poll=0.001,
            )
            row = setup.execute("SELECT count(*) FROM bare_jobs WHERE state = 'DONE'").fetchone()
        assert row == (instances,), row
    return run


def load() -> str:
    """The machine's load averages (1, 5, 15 minutes): the figures are as noisy as it is busy."""
    return "load average " + ", ".join(f"{n:.2f}" for n in os.getloadavg())


def cpu(runs: list[Run], transitions: int) -> str:
    """The median CPU milliseconds per transition of ``runs``: workers + server."""
    workers = statistics.median(run.worker_cpu for run in runs) / transitions * 1000
    if any(run.server_cpu is None for run in runs):
        return f"{workers:.2f} + ?"
    server = statistics.median(run.server_cpu or 0.0 for run in runs) / transitions * 1000
    return f"{workers:.2f} + {server:.2f}"


def base_rate(runs: list[Run], transitions: int) -> float:
    return statistics.median(transitions / run.elapsed for run in runs)


def compare(rt: Any, url: str, args: argparse.Namespace) -> None:
    base = None
    if args.base:  # the runtime as it was at that revision, generated beside
        from bench_observe import runtime_at

        base = runtime_at(rt, args.base)
        print(f"base: generator/runtime at {args.base}")
    print(f"{os.cpu_count()} cores, {load()}")
    for work_ms, instances in zip(args.work_ms, args.instances, strict=True):
        work = work_ms / 1000
        transitions = 3 * instances
        print(
            f"\n{instances} instances, 3 transitions each, {work_ms:g} ms handlers,"
            f" median of {args.repeat}; CPU: ms per transition, worker processes + server"
        )
        peers = ("procrastinate", "dbos") if args.peers else ()
        print(
            "processes  statewright tr/s   bare loop tr/s   ratio"
            "   statewright CPU    bare loop CPU"
            + ("   base tr/s  ratio         base CPU" if base is not None else "")
            + "".join(f"   {name} tr/s  ratio" for name in peers)
        )
        for count in args.workers:
            ours, bare, before = [], [], []
            theirs: dict[str, list[float]] = {name: [] for name in peers}
            for _ in range(args.repeat):  # interleaved, so drift hits all alike
                ours.append(statewright_run(rt, url, count, instances, work))
                bare.append(bare_run(url, count, instances, work))
                if base is not None:
                    before.append(statewright_run(base, url, count, instances, work))
                for name in peers:
                    run = getattr(worker_peers, f"{name}_run")
                    theirs[name].append(run(race, fresh_database, url, count, instances, work))
            mine = statistics.median(transitions / run.elapsed for run in ours)
            rate = base_rate(bare, transitions)
            line = (
                f"{count:9d}  {mine:16.1f}  {rate:15.1f}   {mine / rate:5.2f}"
                f"   {cpu(ours, transitions):>15}  {cpu(bare, transitions):>15}"
            )
            if before:
                then = statistics.median(transitions / run.elapsed for run in before)
                line += f"   {then:9.1f}  {then / base_rate(bare, transitions):5.2f}"
                line += f"  {cpu(before, transitions):>15}"
            for name in peers:
                peer = statistics.median(theirs[name])
                line += f"   {peer:{len(name) + 5}.1f}  {peer / rate:5.2f}"
            print(line, flush=True)
    print(load())


# -- idle claims -----------------------------------------------------------------------


def fill_finished(url: str, rt: Any, finished: int) -> None:
    """``finished`` instances of the chain in DONE, all delivered (head and outbox rows)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(
            "INSERT INTO statewright_instances (machine, instance_id, seq, head, version,"
            " state, deadline, arrival) SELECT 'chain', 'done-' || n, 5, 'h', 5, 'DONE',"
            " NULL, NULL FROM generate_series(1, %s) n",
            (finished,),
        )
        connection.execute(
            "INSERT INTO statewright_outbox (machine, instance_id, delivered)"
            " SELECT 'chain', 'done-' || n, 5 FROM generate_series(1, %s) n",
            (finished,),
        )
        connection.execute("ANALYZE")


def idle(rt: Any, url: str, args: argparse.Namespace) -> None:
    import psycopg

    print(f"\nidle claim round (Worker.run_once, nothing due), median of {args.rounds}")
    print("finished instances   ms per idle round")
    for finished in (0, 100_000, 500_000):
        with fresh_database(url) as db:
            store = rt.SqlStore(psycopg.connect(db))
            worker = rt.Worker(store, chain_handlers(rt, 0.0))
            fill_finished(db, rt, finished)
            times = []
            for _ in range(args.rounds):
                start = time.perf_counter()
                assert worker.run_once().idle
                times.append(time.perf_counter() - start)
            store.close()
        print(f"{finished:18,d}   {statistics.median(times) * 1000:8.2f}")


# -- round trips -----------------------------------------------------------------------


def round_trips(rt: Any, url: str, args: argparse.Namespace) -> None:
    import psycopg

    instances = 100
    with fresh_database(url) as db:
        setup = rt.SqlStore(psycopg.connect(db))
        rt.Outbox(setup)
        with setup.batch():
            for n in range(instances):
                rt.Chain.create(setup, f"i{n}").start()
        counting = Counting(psycopg.connect(db))
        store = rt.SqlStore(counting, dialect="postgresql")
        worker = rt.Worker(store, chain_handlers(rt, 0.0), batch=8, lease=timedelta(minutes=5))
        counting.sent = 0
        transitions = 0
        while not (done := worker.run_once()).idle:
            transitions += done.fired
        sent = counting.sent
        store.close()
        setup.close()
    print(
        f"\n{transitions} transitions by one worker (batch 8): {sent} statements, BEGINs and"
        f" COMMITs, {sent / transitions:.2f} per transition (the bare loop sends 5: BEGIN,"
        " SELECT ... FOR UPDATE SKIP LOCKED, UPDATE, INSERT, COMMIT)"
    )


# -- main --------------------------------------------------------------------------------


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    bindir = find_bindir()
    if bindir is None:
        sys.exit("no PostgreSQL: pass --pg URL or install Debian's postgresql")
    with throwaway_cluster(bindir) as started:
        yield started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--work-ms", type=float, nargs="+", default=[0.0, 50.0])
    parser.add_argument(
        "--instances",
        type=int,
        nargs="+",
        default=None,
        help="instances per setting of --work-ms (default 1000 for no-op, 40 else)",
    )
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--idle", action="store_true", help="measure idle claim rounds only")
    parser.add_argument("--rounds", type=int, default=50, help="idle rounds per size")
    parser.add_argument("--round-trips", action="store_true", help="count round trips only")
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also run procrastinate and DBOS (installed apart: see benchmarks/worker_peers.py)",
    )
    parser.add_argument(
        "--base",
        default=None,
        metavar="REV",
        help="also run the runtime of git revision REV, interleaved (before and after)",
    )
    parser.add_argument("--pg", default=None, metavar="URL")
    args = parser.parse_args()
    if args.peers and (absent := worker_peers.missing()):
        print(worker_peers.INSTALL.format(missing=", ".join(absent)), file=sys.stderr, end="")
        sys.exit(2)
    if args.instances is None:
        args.instances = [1000 if ms == 0 else 40 for ms in args.work_ms]
    if len(args.instances) != len(args.work_ms):
        parser.error("give one --instances per --work-ms")
    rt, _ = generate_runtime(Path(tempfile.mkdtemp(prefix="bench-worker-")), CHAIN_SPEC)
    with postgres(args.pg) as url:
        if args.idle:
            idle(rt, url, args)
        elif args.round_trips:
            round_trips(rt, url, args)
        else:
            compare(rt, url, args)


if __name__ == "__main__":
    main()
