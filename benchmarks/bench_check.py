"""How fast is `statewright check` next to the bare cost of reading the YAML?

Generates machines of 1k, 10k and 100k states (about ten transitions per state, every
state reachable, deterministic triggers), writes each as a spec file, then in one process
times, per size:

- ``C load``: ``yaml.load(text, Loader=yaml.CSafeLoader)``, the bare floor for reading
  the same file with PyYAML's C loader, as it is normally called;
- ``gc off``: the same with Python's cyclic garbage collector paused, as statewright's own
  loader runs (the fairer floor: the collector's passes dominate a big load);
- ``check``: the whole ``statewright check`` of that file (safe positioned load, every rule,
  the transition tour) through :func:`statewright.verify.check.check_file`;
- ``analysis``: rules and tour alone on the already-loaded spec (:func:`check_spec`).

Each timing is the best of ``--repeat`` runs. Run:

    .venv/bin/python benchmarks/bench_check.py            # 1k, 10k, 100k
    .venv/bin/python benchmarks/bench_check.py --sizes 1000 10000 --repeat 3
"""

from __future__ import annotations

import argparse
import gc
import random
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import yaml

from statewright.verify.check import check_file, check_spec
from statewright.verify.load import gc_paused, load_file

TRANSITIONS_PER_STATE = 10


def machine_yaml(states: int, seed: int = 7) -> str:
    """A spec text of ``states`` states with about ten exits each."""
    rng = random.Random(seed)
    lines = ["statewright: 1", "machine: bench", "initial: S0", "states:"]
    lines.extend(f"  S{i}: {{kind: running}}" for i in range(states))
    lines.append("transitions:")
    for i in range(states):
        # t0 chains every state to the next, so every state is reachable and, with the
        # wrap-around, the machine is strongly connected; the rest are random.
        lines.append(f"  - {{from: S{i}, to: S{(i + 1) % states}, trigger: t0}}")
        for k in range(1, TRANSITIONS_PER_STATE):
            lines.append(f"  - {{from: S{i}, to: S{rng.randrange(states)}, trigger: t{k}}}")
    return "\n".join(lines) + "\n"


def c_load(path: Path) -> object:
    return yaml.load(path.read_text(), Loader=yaml.CSafeLoader)


def c_load_gc_off(path: Path) -> object:
    """The same load with the cyclic collector paused, as statewright's loader runs."""
    with gc_paused():
        return c_load(path)


def best_of(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
        del result  # freeing the result is not part of producing it
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    print(
        f"{'states':>8} {'transitions':>12} {'C load':>9} {'gc off':>9} {'check':>9} "
        f"{'analysis':>9} {'check/load':>11} {'check/gc off':>13}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            path = Path(tmp) / f"bench_{size}.yaml"
            text = machine_yaml(size)
            path.write_text(text)
            bare = best_of(args.repeat, partial(c_load, path))
            bare_gc_off = best_of(args.repeat, partial(c_load_gc_off, path))
            whole = best_of(args.repeat, partial(check_file, path))
            loaded = load_file(path)
            assert loaded.spec is not None, loaded.findings[:3]
            spec = loaded.spec
            analysis = best_of(args.repeat, partial(check_spec, spec))
            result = check_spec(spec)
            assert result.coverage is not None
            assert result.coverage.covered == result.coverage.total
            print(
                f"{size:>8} {len(spec.transitions):>12} {bare:>8.2f}s {bare_gc_off:>8.2f}s "
                f"{whole:>8.2f}s {analysis:>8.2f}s {whole / bare:>10.2f}x "
                f"{whole / bare_gc_off:>12.2f}x"
            )


if __name__ == "__main__":
    main()
