"""Instances driven per second by durable workers on PostgreSQL, against a bare loop of the
same handler calls.

The machine is a chain of three agents (``A_RUNNING -> B_RUNNING -> C_RUNNING -> DONE``);
each agent is a handler that works for ``--work-ms`` milliseconds (a sleep: an agent waits
on its model or an API) and returns the next trigger. An instance is *driven* when it
reaches DONE: three handler calls, each outcome committed with the delivery cursor, the
records hash-chained, on PostgreSQL. Measured:

- the *bare loop*: the same three handler calls per instance, in one process, with no
  machine, no store and no coordination (the work alone);
- 1 and 4 worker processes (``Worker.run``), each on its own connection, sharing the
  instances through the outbox (``FOR UPDATE SKIP LOCKED`` and leases).

The ratio is workers' instances per second over the bare loop's: below 1 for one worker
(the coordination's cost), above 1 for four (the work runs in parallel). ``--work-ms 0``
measures the coordination alone. With ``--pg URL`` it uses that server; otherwise it starts
a throwaway cluster (Debian's ``postgresql``).

Run:

    .venv/bin/python benchmarks/bench_worker.py
    .venv/bin/python benchmarks/bench_worker.py --instances 400 --work-ms 0
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from pgcluster import find_bindir, throwaway_cluster  # noqa: E402
from storekit import generate_runtime  # noqa: E402

CHAIN_SPEC = """\
statewright: 1
machine: chain
initial: IDLE
states:
  IDLE: {kind: idle}
  A_RUNNING: {kind: running}
  B_RUNNING: {kind: running}
  C_RUNNING: {kind: running}
  FAILED: {kind: failed, reviewers: [on_call]}
  DONE: {kind: complete, final: true}
transitions:
  - {from: IDLE, to: A_RUNNING, trigger: start}
  - {from: A_RUNNING, to: B_RUNNING, trigger: a_done}
  - {from: B_RUNNING, to: C_RUNNING, trigger: b_done}
  - {from: C_RUNNING, to: DONE, trigger: c_done}
  - {from: [A_RUNNING, B_RUNNING, C_RUNNING], to: FAILED, trigger: agent_error, reason: AGENT}
  - {from: FAILED, to: IDLE, trigger: reset, human: true}
reasons:
  AGENT: {recovery: [Read the snapshot, Reset]}
"""

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


def bare_loop(rt: Any, instances: int, work: float) -> float:
    """Instances per second of the same three handler calls per instance, nothing else."""
    calls = [agent(rt.Trigger[trigger], work) for _, trigger in STAGES]
    start = time.perf_counter()
    for _ in range(instances):
        for call in calls:
            call(None)
    return instances / (time.perf_counter() - start)


def serve(rt: Any, url: str, work: float, go: Any, stop: Any) -> None:
    import psycopg

    worker = rt.Worker(rt.SqlStore(psycopg.connect(url)), chain_handlers(rt, work), batch=8)
    go.wait()
    worker.run(stop=stop.is_set, idle=0.005)


def workers(rt: Any, url: str, count: int, instances: int, work: float, run: int) -> float:
    """Instances per second that ``count`` worker processes drive to DONE."""
    import psycopg

    store = rt.SqlStore(psycopg.connect(url))
    rt.Outbox(store)
    ids = [f"run{run}-{n}" for n in range(instances)]
    with store.batch():
        for instance_id in ids:
            rt.Chain.create(store, instance_id).start()
    context = multiprocessing.get_context("fork")
    go, stop = context.Event(), context.Event()
    processes = [
        context.Process(target=serve, args=(rt, url, work, go, stop)) for _ in range(count)
    ]
    for process in processes:
        process.start()
    time.sleep(0.5)  # let every worker connect before the clock starts
    start = time.perf_counter()
    go.set()
    prefix = f"run{run}-"
    while True:
        done = sum(
            1
            for _, instance_id, head in store.instances("chain")
            if instance_id.startswith(prefix) and head.state == "DONE"
        )
        if done == instances:
            break
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    stop.set()
    for process in processes:
        process.join()
    assert store.verify() == []
    store.close()
    return instances / elapsed


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
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=200)
    parser.add_argument("--work-ms", type=float, default=5.0)
    parser.add_argument("--pg", default=None, metavar="URL")
    args = parser.parse_args()
    work = args.work_ms / 1000
    rt, _ = generate_runtime(Path(tempfile.mkdtemp(prefix="bench-worker-")), CHAIN_SPEC)
    bare = bare_loop(rt, args.instances, work)
    print(f"{args.instances} instances, 3 handler calls each, {args.work_ms:g} ms of work per call")
    print(f"bare loop of the handler calls: {bare:10.1f} instances/s")
    with postgres(args.pg) as url:
        for run, count in enumerate((1, 4)):
            rate = workers(rt, url, count, args.instances, work, run)
            print(
                f"PostgreSQL, {count} worker(s):       {rate:10.1f} instances/s"
                f"   ratio to the bare loop {rate / bare:.2f}"
            )


if __name__ == "__main__":
    main()
