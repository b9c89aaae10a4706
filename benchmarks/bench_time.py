"""What does the time analysis add to ``statewright check``?

On the models of the two other benchmarks (``bench_check.py``'s 10,000-state graph and
``bench_explore.py``'s two million configurations), and on a bounded model (counters
that only count up in a state with a deadline, so that the worst case needs the whole
depth-first pass), this times in one process, in process CPU time (the machine may be
shared: wall time would measure the neighbours), best of ``--repeat``:

- ``check``: the whole check of the loaded spec (:func:`check_spec`);
- ``run time``: the worst case of a run (:mod:`statewright.verify.explore.timing`) on
  the spec's analysis, its exploration already done as the check does it;
- ``rule``: ``running-without-deadline`` alone;

and prints the ratio of the check to the check without those two. Run:

    .venv/bin/python benchmarks/bench_time.py                 # all three models
    .venv/bin/python benchmarks/bench_time.py --models graph bounded --top 49
"""

from __future__ import annotations

import argparse
import gc
import time
from collections.abc import Callable

from bench_check import machine_yaml
from bench_explore import counters_spec

from statewright.verify.analysis import Analysis
from statewright.verify.check import check_spec
from statewright.verify.explore.timing import describe
from statewright.verify.load import gc_paused, load_text
from statewright.verify.model import Spec
from statewright.verify.rules import RULES


def bounded_spec(top: int) -> str:
    """Counters x, y, z of 0..top counted up in S1, which a deadline ends at DONE."""
    lines = [
        "statewright: 1",
        "machine: bounded",
        "initial: S0",
        "variables:",
        *(f"  {v}: {{type: int, min: 0, max: {top}, initial: 0}}" for v in "xyz"),
        "states: {S0: {}, S1: {}, DONE: {final: true}}",
        "transitions:",
        "  - {from: S0, to: S1, trigger: go}",
        "  - {from: S1, to: DONE, trigger: timeout, after: 1h}",
        *(
            f"  - {{from: S1, to: S1, trigger: inc_{v}, when: {v} < {top}, set: {{{v}: {v} + 1}}}}"
            for v in "xyz"
        ),
    ]
    return "\n".join(lines) + "\n"


def best_cpu(repeat: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        with gc_paused():
            start = time.process_time()
            result = run()
            best = min(best, time.process_time() - start)
        del result
    return best


def measure(name: str, spec: Spec, repeat: int) -> None:
    check = best_cpu(repeat, lambda: check_spec(spec))
    analysis = Analysis.of(spec)
    found = analysis.exploration
    if found is not None:
        _ = found.state_numbers  # the check's other rules compute it anyway

    def run_time() -> str:
        fresh = Analysis(spec, analysis.graph, analysis.budget)
        fresh.__dict__["exploration"] = found
        timed, bound = fresh.timed, fresh.run_time
        return "" if timed is None or bound is None else describe(timed, bound)

    rule = RULES["running-without-deadline"].check
    assert rule is not None
    spent_rule = best_cpu(repeat, lambda: list(rule(analysis)))
    spent_time = best_cpu(repeat, run_time)
    ratio = check / (check - spent_rule - spent_time)
    print(
        f"{name}: check {check:.3f} s; run time {spent_time * 1000:.1f} ms "
        f"({run_time()}), rule {spent_rule * 1000:.1f} ms; ratio {ratio:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", default=["graph", "explore", "bounded"])
    parser.add_argument("--top", type=int, default=99, help="counters of 0..TOP (explore)")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    texts = {
        "graph": lambda: machine_yaml(10_000),
        "explore": lambda: counters_spec(2, args.top),
        "bounded": lambda: bounded_spec(min(args.top, 49)),
    }
    for name in args.models:
        spec = load_text(texts[name]()).spec
        assert spec is not None
        measure(name, spec, args.repeat)


if __name__ == "__main__":
    main()
