"""How fast is statewright's exploration next to Spin's, on the same model?

The model: three counters of 0..99 in two states, every combination reachable, so about
two million configurations (``--states 2 --top 99``). In one process, this times:

- ``explore``: statewright's search of every reachable configuration (the code it
  generates and compiles for the spec, :func:`statewright.verify.explore.explore`);
- ``check``: the whole ``statewright check`` of the loaded spec (the search, every data
  rule with its backward searches, the graph and orchestration rules, the tour);
- ``spin``: Spin end to end on the same model written as Promela
  (:mod:`statewright.verify.explore.promela`): ``spin -a``, ``gcc -O2``, then ``./pan`` (a full
  safety search, as statewright's: invalid end states and assertions), each step timed.

It prints configurations per second, the ratios to Spin's end-to-end time, statewright's
peak memory (the process's peak resident set, less what it held before) and pan's. Each
timing is the best of ``--repeat`` runs. Run:

    .venv/bin/python benchmarks/bench_explore.py              # 2 million configurations
    .venv/bin/python benchmarks/bench_explore.py --top 49      # about 250,000
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench_check import best_of

from statewright.verify.check import check_spec
from statewright.verify.explore import explore
from statewright.verify.explore.promela import promela
from statewright.verify.load import load_text
from statewright.verify.model import Spec


def counters_spec(states: int, top: int) -> str:
    """Counters x, y, z of 0..top, counted up in the first state and x down in the others;
    a ``switch`` goes round the states. Every combination is reachable."""
    names = [f"S{i}" for i in range(states)]
    lines = [
        "statewright: 1",
        "machine: counters",
        f"initial: {names[0]}",
        "variables:",
        *(f"  {v}: {{type: int, min: 0, max: {top}, initial: 0}}" for v in "xyz"),
        "states:",
        *(f"  {name}: {{}}" for name in names),
        "transitions:",
    ]
    for v in "xyz":
        lines.append(
            f"  - {{from: {names[0]}, to: {names[0]}, trigger: inc_{v}, when: {v} < {top}, "
            f"set: {{{v}: {v} + 1}}}}"
        )
    for i, name in enumerate(names):
        lines.append(f"  - {{from: {name}, to: {names[(i + 1) % states]}, trigger: switch}}")
        if i:
            lines.append(
                f"  - {{from: {name}, to: {name}, trigger: dec_x, when: x > 0, set: {{x: x - 1}}}}"
            )
    return "\n".join(lines) + "\n"


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spin_end_to_end(spec: Spec, where: Path) -> tuple[dict[str, float], int, float]:
    """Spin's timings by step, the states it stored and pan's memory (MiB)."""
    (where / "model.pml").write_text(promela(spec, questions=False).text)
    steps = {
        "spin -a": ["spin", "-a", "model.pml"],
        "gcc -O2": ["gcc", "-O2", "-DSAFETY", "-DNOREDUCE", "-o", "pan", "pan.c"],
        "pan": ["./pan", "-m1000000"],
    }
    times: dict[str, float] = {}
    output = ""
    for name, command in steps.items():
        start = time.perf_counter()
        done = subprocess.run(command, cwd=where, capture_output=True, text=True, check=True)
        times[name] = time.perf_counter() - start
        output = done.stdout
    stored = re.search(r"(\d+) states, stored", output)
    memory = re.search(r"([0-9.]+)\s+total actual memory usage", output)
    assert stored is not None and memory is not None, output
    return times, int(stored[1]), float(memory[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--states", type=int, default=2)
    parser.add_argument("--top", type=int, default=99)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()

    spec = load_text(counters_spec(args.states, args.top), "counters.yaml").spec
    assert spec is not None
    before = peak_mib()
    found = explore(spec)
    configurations = len(found)
    assert found.complete
    del found
    explore_time = best_of(args.repeat, lambda: explore(spec))
    explore_peak = peak_mib() - before
    result = check_spec(spec)
    assert result.ok(strict=True), [f.format() for f in result.findings]
    check_time = best_of(args.repeat, lambda: check_spec(spec))
    check_peak = peak_mib() - before

    spin = shutil.which("spin") and shutil.which("gcc")
    print(f"model: {args.states} states, counters 0..{args.top}: {configurations:,} configurations")
    print(
        f"statewright explore {explore_time:7.2f}s  {configurations / explore_time:>12,.0f} "
        f"configurations/s  peak {explore_peak:7.0f} MiB"
    )
    print(
        f"statewright check   {check_time:7.2f}s  {configurations / check_time:>12,.0f} "
        f"configurations/s  peak {check_peak:7.0f} MiB"
    )
    if not spin:
        print("spin or gcc not found: install them (Debian: apt-get install spin gcc)")
        return
    best: tuple[dict[str, float], int, float] | None = None
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="statewright-spin-") as folder:
            run = spin_end_to_end(spec, Path(folder))
        if best is None or sum(run[0].values()) < sum(best[0].values()):
            best = run
    assert best is not None
    times, stored, memory = best
    total = sum(times.values())
    assert stored == configurations, f"Spin stored {stored:,} states"
    steps = ", ".join(f"{name} {seconds:.2f}s" for name, seconds in times.items())
    print(
        f"spin end to end     {total:7.2f}s  {configurations / total:>12,.0f} "
        f"configurations/s  pan {memory:7.0f} MiB  ({steps})"
    )
    print(
        f"ratios to Spin end to end: explore {explore_time / total:.2f}x, "
        f"check {check_time / total:.2f}x; to pan alone: explore "
        f"{explore_time / times['pan']:.2f}x"
    )


if __name__ == "__main__":
    main()
