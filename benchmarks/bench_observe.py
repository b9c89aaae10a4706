"""What watching a worker costs: one worker driving instances with tracing off, on, and on
the runtime from before tracing existed.

The machine is ``bench_worker.py``'s chain of three no-op agents (an instance driven to
DONE is three handler calls and three committed outcomes), so what is measured is the
worker's own work, where a hook's cost shows most. One worker in this process runs
``Worker.run_once`` until the store is idle, on a fresh store each run (a SQLite file,
in ``/dev/shm`` where there is one, so the disk does not hide the worker's own time; or
with ``--postgresql`` a fresh database on a throwaway cluster or ``--pg URL``), in
three variants, interleaved in a shuffled order each repetition; reported are the median
time per transition (wall clock, and the process's CPU time) and the median of each
repetition's ratio to *before*:

- *before*: the runtime as it was before tracing (``generator/runtime`` at ``--base``,
  default the parent of the commit that added :mod:`observe`), generated beside;
- *off*: this runtime, no ``tracer=`` (the default: nothing traced, nothing logged
  below WARNING by default);
- *on*: this runtime with ``tracer=OtelTracer(...)`` on an OpenTelemetry SDK tracer
  provider exporting through a ``BatchSpanProcessor`` to an exporter that counts the
  spans and drops them (what a deployment pays before the network).

Run:

    .venv/bin/python benchmarks/bench_observe.py --instances 300 --repeat 9
    .venv/bin/python benchmarks/bench_observe.py --postgresql --instances 200 --repeat 5
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import posixpath
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_worker import chain_handlers, fresh_database, postgres  # noqa: E402
from chainkit import CHAIN_SPEC  # noqa: E402
from storekit import generate_runtime  # noqa: E402


def base_commit() -> str:
    """The parent of the commit that added the runtime's ``observe`` module."""
    added = subprocess.run(
        ["git", "log", "--diff-filter=A", "--format=%H", "--", "generator/runtime/observe.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    if not added:
        sys.exit("no commit adds generator/runtime/observe.py: pass --base REV")
    return added[-1] + "^"


def runtime_at(rt: Any, rev: str) -> Any:
    """``rt``'s generated package again, beside it, with the runtime support of ``rev``."""
    package = Path(rt.__file__).parents[1]
    copy = package.parent / f"rt_chain_base_{int(time.time() * 1000)}"
    shutil.copytree(package, copy)
    support = copy / "_statewright"
    for old in support.glob("*.py"):
        old.unlink()
    git = ["git", "-C", str(ROOT)]
    listing = subprocess.run(
        [*git, "ls-tree", f"{rev}:generator/runtime"], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for line in listing:
        mode, _, rest = line.split(" ", 2)
        name = rest.split("\t", 1)[1]
        if not name.endswith(".py"):
            continue
        path = f"generator/runtime/{name}"
        if mode == "120000":  # a link (kernel.py): the file it points to at ``rev``
            target = subprocess.run(
                [*git, "show", f"{rev}:{path}"], capture_output=True, text=True, check=True
            ).stdout
            path = posixpath.normpath(posixpath.join("generator/runtime", target.strip()))
        text = subprocess.run(
            [*git, "show", f"{rev}:{path}"], capture_output=True, text=True, check=True
        ).stdout
        (support / name).write_text(text)
    importlib.invalidate_caches()
    return importlib.import_module(f"{copy.name}.chain.runtime")


class Counting:
    """A span exporter that counts what it is given and drops it."""

    def __init__(self) -> None:
        self.spans = 0

    def export(self, spans: Sequence[Any]) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.spans += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def tracing() -> tuple[Any, Any, Counting]:
    """An OtelTracer on an SDK provider batching into a :class:`Counting` exporter."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from statewright.generator.integrations.otel import OtelTracer

    counting = Counting()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(counting))  # type: ignore[arg-type]
    return OtelTracer(tracer_provider=provider), provider, counting


def drive(rt: Any, store: Any, instances: int, tracer: Any) -> tuple[float, float]:
    """Seconds one worker takes to drive ``instances`` to DONE in ``store``: wall-clock
    time, and this process's CPU time (all its threads: the SDK's export thread too)."""
    rt.Outbox(store)
    with store.batch():
        for n in range(instances):
            rt.Chain.create(store, f"i{n}").start()
    options = {} if tracer is None else {"tracer": tracer}
    worker = rt.Worker(store, chain_handlers(rt, 0.0), batch=16, **options)
    started, cpu = time.perf_counter(), time.process_time()
    while not worker.run_once().idle:
        pass
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    done = sum(1 for n in range(instances) if rt.Chain.load(store, f"i{n}").state == "DONE")
    assert done == instances, f"{done} of {instances} driven"
    return elapsed, cpu


def _paired(times: list[float], before: list[float]) -> float:
    """The median over repetitions of ``times`` over ``before`` in the same repetition
    (the variants of one repetition run back to back, so the machine's load, which drifts,
    is much the same for both)."""
    return statistics.median(t / b for t, b in zip(times, before, strict=True))


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--base", default=None, metavar="REV")
    parser.add_argument("--postgresql", action="store_true")
    parser.add_argument("--pg", default=None, metavar="URL")
    args = parser.parse_args()
    shm = Path("/dev/shm")
    folder = Path(tempfile.mkdtemp(prefix="bench-observe-", dir=shm if shm.is_dir() else None))
    now, _ = generate_runtime(folder, CHAIN_SPEC)
    before = runtime_at(now, args.base or base_commit())
    assert (
        not hasattr(before, "observe")
        and "tracer" not in before.Worker.__init__.__code__.co_varnames
    )

    with contextlib.ExitStack() as stack:
        if args.postgresql:
            import psycopg

            url = stack.enter_context(postgres(args.pg))

            def fresh(rt: Any) -> Iterator[Any]:
                with fresh_database(url) as db:
                    store = rt.SqlStore(psycopg.connect(db))
                    yield store
                    store.close()
        else:

            def fresh(rt: Any) -> Iterator[Any]:
                path = folder / f"s{random.getrandbits(48):x}.sqlite"
                store = rt.SqlStore.sqlite(str(path))
                yield store
                store.close()
                path.unlink()

        opened: Callable[[Any], contextlib.AbstractContextManager[Any]] = contextlib.contextmanager(
            fresh
        )
        seconds: dict[str, list[float]] = {"before": [], "off": [], "on": []}
        cpu: dict[str, list[float]] = {k: [] for k in seconds}
        spans: list[int] = []
        for _ in range(args.repeat):
            order = list(seconds)
            random.shuffle(order)
            for variant in order:
                rt = before if variant == "before" else now
                tracer = provider = counting = None
                if variant == "on":
                    tracer, provider, counting = tracing()
                with opened(rt) as store:
                    wall, used = drive(rt, store, args.instances, tracer)
                seconds[variant].append(wall)
                cpu[variant].append(used)
                if provider is not None and counting is not None:
                    provider.shutdown()  # flushes the batch
                    spans.append(counting.spans)

    transitions = 3 * args.instances
    backend = "PostgreSQL" if args.postgresql else "SQLite"
    print(
        f"{backend}, one worker, {args.instances} instances ({transitions} transitions, "
        f"no-op handlers), median of {args.repeat}, interleaved:"
    )
    print("  variant   wall us/transition       CPU us/transition   (xN: the median of each")
    print(
        "                                                            repetition's ratio to before)"
    )
    for variant in seconds:
        walls, cpus = seconds[variant], cpu[variant]
        print(
            f"  {variant:>7}   {statistics.median(walls) / transitions * 1e6:8.1f}"
            f" x{_paired(walls, seconds['before']):.3f}"
            f"   {statistics.median(cpus) / transitions * 1e6:8.1f}"
            f" x{_paired(cpus, cpu['before']):.3f}"
        )
    print(
        f"  spans exported with tracing on: {statistics.median(spans):.0f} a run "
        f"({statistics.median(spans) / args.instances:.1f} an instance)"
    )


if __name__ == "__main__":
    main()
