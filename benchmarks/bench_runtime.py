"""Events per second and construction cost of a generated runtime, side by side.

The same five-state cycle (``A -> B -> C -> D -> E -> A`` on the trigger ``step``), each
implementation keeping an audit log of ``(from, to, trigger, timestamp)`` per event:

- the statewright runtime generated from the spec below (its own audit log);
- python-statemachine and transitions, with an after-transition callback appending to a log;
- a bare loop: one dict lookup and one tuple appended per event (the practical limit).

Also the time and memory to construct 10,000 instances. Run from the repository root::

    .venv/bin/python benchmarks/bench_runtime.py [--events N] [--repeat R]

``--against TREE`` also runs the same generated module on another tree's runtime support
(``TREE/generator/runtime``), in the same process, and prints each figure's ratio: the
way to hold a change of the engine to the figures before it, e.g.::

    git archive main generator/runtime | tar -x -C /tmp/main
    .venv/bin/python benchmarks/bench_runtime.py --against /tmp/main
"""

from __future__ import annotations

import argparse
import gc
import importlib
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from statewright.generator.render import render_runtime, render_support
from statewright.generator.view import SUPPORT_PACKAGE
from statewright.verify.load import load_text

SPEC = """\
statewright: 1
machine: bench_cycle
initial: A
states:
  A: {kind: idle}
  B: {kind: running}
  C: {kind: running}
  D: {kind: running}
  E: {kind: complete}
transitions:
  - {from: A, to: B, trigger: step}
  - {from: B, to: C, trigger: step}
  - {from: C, to: D, trigger: step}
  - {from: D, to: E, trigger: step}
  - {from: E, to: A, trigger: step}
"""

STATES = ("A", "B", "C", "D", "E")
INSTANCES = 10_000


def generated_module(
    folder: Path, support: dict[str, str] | None = None, name: str = "bench_generated"
) -> ModuleType:
    """Generate the cycle's runtime into a package ``name`` under ``folder``, beside its
    runtime support (``support``, by default this tree's) as ``generate`` lays it out, and
    import it."""
    loaded = load_text(SPEC, "bench_cycle.yaml")
    if loaded.spec is None:
        raise SystemExit("\n".join(f.format() for f in loaded.findings))
    package = folder / name
    files = {
        "__init__.py": "",
        "bench_cycle/__init__.py": "",
        "bench_cycle/runtime.py": render_runtime(loaded.spec),
        **(render_support() if support is None else support),
    }
    for file, text in files.items():
        path = package / file
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    return importlib.import_module(f"{name}.bench_cycle.runtime")


def support_of(tree: Path) -> dict[str, str]:
    """The runtime support package of another tree, laid out as :func:`render_support`
    lays out this one's."""
    runtime = tree / "generator" / "runtime"
    found = {
        f"{SUPPORT_PACKAGE}/{path.name}": path.read_text(encoding="utf-8")
        for path in sorted(runtime.glob("*.py"))
    }
    if not found:
        raise SystemExit(f"{runtime}: no runtime support modules there")
    return found


def statemachine_class() -> type[Any]:
    from statemachine import State, StateMachine

    class Cycle(StateMachine):
        a = State(initial=True)
        b = State()
        c = State()
        d = State()
        e = State()
        step = a.to(b) | b.to(c) | c.to(d) | d.to(e) | e.to(a)

        def __init__(self) -> None:
            self.log: list[tuple[str, str, str, datetime]] = []
            super().__init__()

        def after_transition(self, event: str, source: Any, target: Any) -> None:
            self.log.append((source.id, target.id, event, datetime.now(UTC)))

    return Cycle


def transitions_factory() -> Callable[[], Any]:
    from transitions import Machine

    table = [
        {"trigger": "step", "source": s, "dest": STATES[(i + 1) % 5]} for i, s in enumerate(STATES)
    ]

    class Model:
        def __init__(self) -> None:
            self.log: list[tuple[str, str, str, datetime]] = []
            Machine(
                model=self,
                states=list(STATES),
                transitions=table,
                initial="A",
                after_state_change="record",
                send_event=True,
            )

        def record(self, event: Any) -> None:
            edge = event.transition
            self.log.append((edge.source, edge.dest, event.event.name, datetime.now(UTC)))

    return Model


def bare_loop(events: int) -> list[tuple[str, str, str, datetime]]:
    table = {(s, "step"): STATES[(i + 1) % 5] for i, s in enumerate(STATES)}
    log: list[tuple[str, str, str, datetime]] = []
    state = "A"
    for _ in range(events):
        target = table[(state, "step")]
        log.append((state, target, "step", datetime.now(UTC)))
        state = target
    return log


def stepper(make: Callable[[], Any], log: str) -> Callable[[int], object]:
    """A run of ``n`` events on a new instance through its ``step`` method; its log."""

    def run(n: int) -> object:
        instance = make()
        step = instance.step
        for _ in range(n):
            step()
        return getattr(instance, log)

    return run


def per_event(
    run: Callable[[int], object],
    events: int,
    repeat: int,
    clock: Callable[[], float] = time.perf_counter,
) -> float:
    """Best seconds per event over ``repeat`` runs of ``events`` events, by ``clock``."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = clock()
        run(events)
        best = min(best, (clock() - start) / events)
    return best


def construction(make: Callable[[], object], repeat: int) -> tuple[float, int]:
    """Best seconds to build 10,000 instances, and the bytes they hold."""
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        kept = [make() for _ in range(INSTANCES)]
        best = min(best, time.perf_counter() - start)
        del kept
    gc.collect()
    tracemalloc.start()
    kept = [make() for _ in range(INSTANCES)]
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del kept
    return best, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--against", type=Path, metavar="TREE", help="compare with TREE/generator/runtime"
    )
    args = parser.parse_args(argv)
    events, repeat = args.events, args.repeat

    with tempfile.TemporaryDirectory() as folder:
        runtime = generated_module(Path(folder))
        if args.against is not None:
            other = generated_module(Path(folder), support_of(args.against), "bench_against")
            return compare(runtime, other, args.against, events, repeat)
    machine_class = runtime.BenchCycle
    statemachine = statemachine_class()
    transitions_model = transitions_factory()
    figures = runs_of(runtime)
    run_method, run_fire = figures[".step()"], figures[".fire(STEP)"]
    run_statemachine = stepper(statemachine, "log")
    run_transitions = stepper(transitions_model, "log")

    slow = max(events // 20, 1_000)
    rows = [
        ("bare loop (dict + tuple)", per_event(bare_loop, events, repeat)),
        ("statewright .step()", per_event(run_method, events, repeat)),
        ("statewright .fire(STEP)", per_event(run_fire, events, repeat)),
        ("transitions", per_event(run_transitions, slow, repeat)),
        ("python-statemachine", per_event(run_statemachine, slow, repeat)),
    ]
    ours = rows[1][1]
    print(f"per event ({events:,} events; libraries {slow:,}; best of {repeat})")
    print(f"{'implementation':28} {'ns/event':>10} {'events/s':>12} {'vs statewright':>15}")
    for name, seconds in rows:
        ratio = seconds / ours
        print(f"{name:28} {seconds * 1e9:10.0f} {1 / seconds:12,.0f} {ratio:14.2f}x")

    built = [
        ("statewright", construction(machine_class, repeat)),
        ("transitions", construction(transitions_model, max(repeat // 2, 1))),
        ("python-statemachine", construction(statemachine, max(repeat // 2, 1))),
    ]
    ours_time = built[0][1][0]
    print(f"\nconstruction of {INSTANCES:,} instances")
    print(f"{'implementation':28} {'ms':>10} {'KiB held':>12} {'vs statewright':>15}")
    for name, (seconds, size) in built:
        print(f"{name:28} {seconds * 1e3:10.1f} {size / 1024:12,.0f} {seconds / ours_time:14.2f}x")
    return 0


def runs_of(module: ModuleType) -> dict[str, Callable[[int], object]]:
    """The generated cycle's figures: ``n`` events through ``.step()`` and through
    ``.fire(STEP)`` on a new instance, and ``n`` instances built."""
    machine_class, step = module.BenchCycle, module.Trigger.STEP

    def run_fire(n: int) -> object:
        machine = machine_class()
        fire = machine.fire
        for _ in range(n):
            fire(step)
        return machine.audit

    def run_build(n: int) -> object:
        return [machine_class() for _ in range(n)]

    return {
        ".step()": stepper(machine_class, "audit"),
        ".fire(STEP)": run_fire,
        "construction": run_build,
    }


def compare(ours: ModuleType, theirs: ModuleType, tree: Path, events: int, repeat: int) -> int:
    """This tree's runtime and ``tree``'s on the same generated module, measured in turn
    (best of ``repeat`` each) in CPU time of this process, so that other work on the
    machine weighs less, with each figure's ratio."""
    mine, other = runs_of(ours), runs_of(theirs)
    print(f"CPU ns per event or instance ({events:,} each; best of {repeat}); this / {tree}")
    print(f"{'figure':16} {'this tree':>10} {'other':>10} {'ratio':>8}")
    for name in mine:
        count = events if name != "construction" else INSTANCES
        best_mine = best_other = float("inf")
        for turn in range(repeat):  # in turn, so a slower moment of the machine hits both
            first, second = (mine, other) if turn % 2 == 0 else (other, mine)
            a = per_event(first[name], count, 1, time.process_time)
            b = per_event(second[name], count, 1, time.process_time)
            best_mine = min(best_mine, a if first is mine else b)
            best_other = min(best_other, b if first is mine else a)
        ratio = best_mine / best_other
        print(f"{name:16} {best_mine * 1e9:10.0f} {best_other * 1e9:10.0f} {ratio:8.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
