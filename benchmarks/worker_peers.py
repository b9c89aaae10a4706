"""The peers ``bench_worker.py --peers`` measures beside statewright: procrastinate and DBOS
running the same chain of three agents (three steps per instance, each a handler that works
``work`` seconds), in worker processes on a fresh PostgreSQL database each run.

Neither is a dependency of statewright: install them into a throwaway virtual environment
together with statewright, and run the benchmark with that environment's Python::

    python3 -m venv /tmp/peers
    /tmp/peers/bin/pip install -c constraints.txt -e . pytest hypothesis \\
        'psycopg[binary]' procrastinate==3.10.0 dbos==3.4.0
    /tmp/peers/bin/python benchmarks/bench_worker.py --peers

How each is driven, as its documentation says a team would:

- *procrastinate*: three ``async`` tasks; each works, then defers the next step's job; a
  worker process runs ``App.run_worker(concurrency=1)`` (one job at a time, as one
  statewright worker runs one handler at a time), woken by its ``LISTEN``/``NOTIFY``. A
  transition is a job done.
- *DBOS*: one workflow of three ``@DBOS.step`` calls per instance, enqueued on a queue with
  ``worker_concurrency=1`` that each process (its own executor id) polls every 10 ms. A
  transition is a step done (each checkpointed by DBOS).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import os
import time
from typing import Any

PEERS = ("procrastinate", "dbos")

INSTALL = """\
--peers runs procrastinate and DBOS, which are not installed here ({missing}). Install them
into a throwaway virtual environment beside statewright and run the benchmark with it:

    python3 -m venv /tmp/peers
    /tmp/peers/bin/pip install -c constraints.txt -e . pytest hypothesis \\
        'psycopg[binary]' procrastinate==3.10.0 dbos==3.4.0
    /tmp/peers/bin/python benchmarks/bench_worker.py --peers
"""


def missing() -> list[str]:
    """The peers that cannot be imported here."""
    return [name for name in PEERS if importlib.util.find_spec(name) is None]


def _count(url: str, sql: str) -> Any:
    import psycopg

    check = psycopg.connect(url, autocommit=True)

    def count() -> int:
        row = check.execute(sql).fetchone()
        return 0 if row is None else int(row[0])

    return check, count


# -- procrastinate ----------------------------------------------------------------------


def _procrastinate_app(url: str, work: float) -> Any:
    procrastinate: Any = importlib.import_module("procrastinate")
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    tasks: dict[str, Any] = {}

    def step(name: str, then: str | None) -> None:
        async def agent(instance: int) -> None:
            if work:
                await asyncio.sleep(work)
            if then is not None:
                await tasks[then].defer_async(instance=instance)

        agent.__name__ = name
        tasks[name] = app.task(name=name)(agent)

    step("c", None)
    step("b", "c")
    step("a", "b")
    return app, tasks["a"]


def procrastinate_serve(url: str, work: float, go: Any, stop: Any) -> None:
    app, _ = _procrastinate_app(url, work)
    go.wait()

    async def serve() -> None:
        async with app.open_async():
            worker = asyncio.ensure_future(
                app.run_worker_async(concurrency=1, install_signal_handlers=False)
            )
            while not stop.is_set():
                await asyncio.sleep(0.05)
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    asyncio.run(serve())


def procrastinate_run(
    race: Any, fresh_database: Any, url: str, count: int, instances: int, work: float
) -> float:
    """Transitions per second of ``count`` procrastinate worker processes."""
    with fresh_database(url) as db:
        app, first = _procrastinate_app(db, work)
        with app.open():
            app.schema_manager.apply_schema()
            for n in range(instances):
                first.defer(instance=n)
        check, done = _count(
            db,
            "SELECT count(*) FROM procrastinate_jobs WHERE task_name = 'c'"
            " AND status = 'succeeded'",
        )
        elapsed = race(count, procrastinate_serve, (db, work), lambda: done() == instances).elapsed
        check.close()
    return float(3 * instances / elapsed)


# -- DBOS ---------------------------------------------------------------------------------

_DBOS_WORK = {"seconds": 0.0}


def _dbos_register() -> Any:
    dbos: Any = importlib.import_module("dbos")

    def agent() -> None:
        if _DBOS_WORK["seconds"]:
            time.sleep(_DBOS_WORK["seconds"])

    step = dbos.DBOS.step()(agent)

    def chain() -> None:
        step()
        step()
        step()

    return dbos.DBOS.workflow()(chain)


def _dbos_launch(url: str, executor: str, *, listen: bool = True) -> Any:
    DBOS: Any = importlib.import_module("dbos").DBOS

    os.environ["DBOS__VMID"] = executor
    DBOS(
        config={
            "name": "bench-chain",
            "system_database_url": url,
            "run_admin_server": False,
            "log_level": "WARNING",
        }
    )
    chain = _dbos_register()
    if not listen:
        DBOS.listen_queues([])
    DBOS.launch()
    queue = DBOS.register_queue("chain", worker_concurrency=1, polling_interval_sec=0.01)
    return chain, queue


def dbos_serve(url: str, work: float, go: Any, stop: Any) -> None:
    DBOS: Any = importlib.import_module("dbos").DBOS

    _DBOS_WORK["seconds"] = work
    go.wait()
    _dbos_launch(url, f"bench-{os.getpid()}")
    while not stop.is_set():
        time.sleep(0.05)
    DBOS.destroy(destroy_registry=True)


def dbos_run(
    race: Any, fresh_database: Any, url: str, count: int, instances: int, work: float
) -> float:
    """Transitions per second of ``count`` DBOS processes."""
    import multiprocessing

    with fresh_database(url) as db:
        # enqueue from a process of its own that listens to no queue (DBOS keeps global state)
        context = multiprocessing.get_context("spawn")
        filler = context.Process(target=_dbos_fill, args=(db, instances))
        filler.start()
        filler.join()
        if filler.exitcode != 0:
            raise RuntimeError("could not enqueue the DBOS workflows")
        check, done = _count(
            db,
            "SELECT count(*) FROM dbos.operation_outputs o JOIN dbos.workflow_status w"
            " ON w.workflow_uuid = o.workflow_uuid WHERE w.queue_name = 'chain'",
        )
        elapsed = race(count, dbos_serve, (db, work), lambda: done() == 3 * instances).elapsed
        check.close()
    return float(3 * instances / elapsed)


def _dbos_fill(url: str, instances: int) -> None:
    DBOS: Any = importlib.import_module("dbos").DBOS

    chain, queue = _dbos_launch(url, "bench-filler", listen=False)
    for _ in range(instances):
        queue.enqueue(chain)
    DBOS.destroy(destroy_registry=True)
