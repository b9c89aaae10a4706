"""How fast the reviewers' console answers over a large store: its inbox, runs and a run.

A SQLite store of ``--runs`` orchestrator runs (default 100,000), ``--pending`` of them
(default 1,000) waiting at the approval gate and the rest running, every one written by
the runtime the console serves (valid chains), is served by the console (uvicorn on
loopback, a signed-in client). Measured, per page as a reviewer's browser asks for it
(the full HTTP round trip): every page of the inbox (``PAGE_SIZE`` runs each, every one
loaded and verified through the runtime), the first, middle and last page of the runs
list, and one run's page with its diagram. The target is every page in under 200 ms on
this machine. The store is kept at ``--store`` and reused when it is there.

With ``--screenshots DIR``, Chromium (``tests/browser.py``) saves the inbox and a run's
timeline at 1400 and 400 px wide there.

Run:

    .venv/bin/python benchmarks/bench_console.py
    .venv/bin/python benchmarks/bench_console.py --runs 10000 --pending 100 --screenshots /tmp/shots
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from consolekit import Client, orchestrator, running  # noqa: E402

from statewright.generator.console.app import PAGE_SIZE, Console, create_app  # noqa: E402
from statewright.generator.console.identity import TokenIdentity  # noqa: E402
from statewright.generator.console.reading import Stores  # noqa: E402
from statewright.generator.runtime import Actor, SqlStore  # noqa: E402

SERVED = orchestrator()
BATCH = 2000
"""Runs written per transaction while the store is built."""


def build(path: Path, runs: int, pending: int) -> None:
    """The store: ``pending`` runs at the gate, the rest running, one failed and rolled
    back (a run with a longer timeline to show)."""
    machine = SERVED["orchestrator"].machine
    store = SqlStore.sqlite(str(path))
    spread = max(1, runs // max(1, pending))
    waiting = 0
    for start in range(0, runs, BATCH):
        with store.batch():
            for i in range(start, min(runs, start + BATCH)):
                run = machine.create(
                    store, f"run-{i:06}", context={"task": f"task {i}", "pr": i, "files": i % 40}
                )
                run.fire("task_received")
                if i % spread == 0 and waiting < pending:
                    run.fire("gate_reached")
                    waiting += 1
        print(f"  {min(runs, start + BATCH):,} runs written", file=sys.stderr, end="\r")
    story = machine.create(store, "story", context={"task": "release 2.4", "pr": 1412})
    story.fire("task_received")
    story.fire("gate_reached")
    lead, on_call = Actor("dana", frozenset({"tech_lead"})), Actor("omar", frozenset({"on_call"}))
    story.fire("human_rejected", actor=lead, decision="the migration has no rollback plan")
    story.rollback(3, actor=on_call, decision="plan added; back to the gate for review")
    story.fire("human_approved", actor=lead, decision="rollback plan reviewed; ship it")
    story.fire("agent_error", payload={"status": 503, "provider": "artifacts"})
    store.close()
    print(file=sys.stderr)


def timed(client: Client, path: str) -> float:
    """Milliseconds of one GET of ``path``, checked to succeed."""
    start = time.perf_counter()
    reply = client.get(path)
    elapsed = (time.perf_counter() - start) * 1000
    assert reply.status == 200, (path, reply.status, reply.text[:300])
    return elapsed


def line(name: str, times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"{name:<28} {len(times):>4} pages  median {statistics.median(times):7.1f} ms"
        f"  p95 {p95:7.1f} ms  max {max(times):7.1f} ms"
    )


def screenshots(base: str, token: str, out: Path) -> list[Path]:
    from browser import Browser

    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with Browser() as browser:
        for width in (1400, 400):
            page = browser.page(width)
            page.goto(f"{base}/login?token={token}")
            for name, path in (("inbox", "/"), ("run", "/runs/orchestrator/story")):
                page.goto(base + path)
                target = out / f"console-{name}-{width}.png"
                page.screenshot(target)
                saved.append(target)
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--pending", type=int, default=1_000)
    parser.add_argument("--store", type=Path, default=Path("/tmp/bench-console.db"))
    parser.add_argument("--screenshots", type=Path)
    args = parser.parse_args()
    if not args.store.exists():
        print(
            f"building {args.store}: {args.runs:,} runs, {args.pending:,} pending", file=sys.stderr
        )
        build(args.store, args.runs, args.pending)
    identity = TokenIdentity(Actor("dana", frozenset({"tech_lead", "on_call"})))
    stores = Stores(str(args.store))
    with running(create_app(Console(SERVED, stores, identity))) as base:
        client = Client(base)
        assert client.get(f"/login?token={identity.token}").status == 303
        timed(client, "/")  # warm: the first diagram, the first connection
        timed(client, "/runs/orchestrator/story")
        inbox_pages = -(-args.pending // PAGE_SIZE)
        inbox = [timed(client, f"/?page={n}") for n in range(1, inbox_pages + 1)]
        last = -(-(args.runs + 1) // PAGE_SIZE)
        runs = [timed(client, f"/runs?page={n}") for n in (1, last // 2, last) for _ in range(3)]
        run = [timed(client, "/runs/orchestrator/story") for _ in range(10)]
        print(f"console over {args.store} ({args.runs:,} runs, {args.pending:,} pending)")
        print(line("inbox (every page)", inbox))
        print(line("runs list (first/mid/last)", runs))
        print(line("one run with its diagram", run))
        worst = max(inbox + runs + run)
        print(
            f"slowest page {worst:.1f} ms: {'within' if worst < 200 else 'OVER'} the 200 ms target"
        )
        if args.screenshots is not None:
            for saved in screenshots(base, identity.token, args.screenshots):
                print(f"screenshot {saved}")
    stores.close()


if __name__ == "__main__":
    main()
