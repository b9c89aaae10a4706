"""How much do rollback steps cost the explorer, on specs far larger than the shipped ones?

The model (:func:`pipeline_spec`): a pipeline of ``--stages`` stages, each an agent
(retried up to ``--attempts`` times, a timeout) and a review gate (changes requested up
to ``--revisions`` times a run, then rejected), with ``rollback: {reviewers: [on_call],
keep: [attempts, revisions], max: --max}`` (``--keep none`` restores every variable). In
one process, each timed as the median of ``--repeat`` runs, interleaved:

- ``plain``: the explorer on the spec's own steps (``explore(spec, rollback=False)``);
- ``rollback``: the explorer with the rollback steps
  (:func:`statewright.verify.explore.rollback.search_with_rollback`);
- with ``--oracle``, ``fixpoint``: the explorer's first implementation of the rollback
  search, a fresh search per fixpoint round, kept by the tests as their oracle
  (``tests/rollback_rounds.py``);
- ``spin`` (when Spin and gcc are installed, ``--spin``): Spin end to end on the Promela
  translation, its rollbacks included: ``spin -a``, ``gcc -O2``, ``./pan``, each step's
  seconds and peak memory (its maximum resident set), and the states pan stored beside
  the explorer's configurations. ``--promela FILE`` takes the translation from another
  copy of ``verify/explore/promela.py`` (``git show REV:verify/explore/promela.py``), to
  measure a change before and after on the same machine.

It prints the configurations, edges and rounds of each, the ratio of the rollback
search's time to the plain one's, and Spin's time. The machine it runs on may be busy:
read ratios (measured side by side, interleaved), not seconds. Run:

    .venv/bin/python benchmarks/bench_rollback.py                        # 100 stages
    .venv/bin/python benchmarks/bench_rollback.py --stages 400 --oracle  # old beside new
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from statewright.verify.explore import explore
from statewright.verify.explore.promela import promela
from statewright.verify.explore.rollback import rollback_transition
from statewright.verify.load import load_text
from statewright.verify.model import Spec


def pipeline_spec(stages: int, attempts: int, revisions: int, most: int, keep: bool) -> str:
    """A pipeline of ``stages`` agent stages with review gates, retry and revision
    budgets and rollbacks (``keep``: the budgets are carried across a rollback)."""
    lines = [
        "statewright: 1",
        "machine: long_pipeline",
        "initial: S0_RUNNING",
        "variables:",
        f"  attempts: {{type: int, min: 0, max: {attempts}, initial: 0}}",
        f"  revisions: {{type: int, min: 0, max: {revisions}, initial: 0}}",
        "states:",
    ]
    for k in range(stages):
        lines.append(f"  S{k}_RUNNING: {{kind: running}}")
        lines.append(f"  S{k}_REVIEW: {{kind: approval, reviewers: [reviewer]}}")
    lines += [
        "  FAILED: {kind: failed, final: true}",
        "  DONE: {kind: complete, final: true}",
        "rollback:",
        "  reviewers: [on_call]",
        f"  keep: {'[attempts, revisions]' if keep else '[]'}",
        f"  max: {most}",
        "transitions:",
    ]
    for k in range(stages):
        run, review = f"S{k}_RUNNING", f"S{k}_REVIEW"
        after = f"S{k + 1}_RUNNING" if k + 1 < stages else "DONE"
        lines += [
            f"  - {{from: {run}, to: {run}, trigger: agent_error, when: attempts < {attempts},"
            " set: {attempts: attempts + 1}}",
            f"  - {{from: {run}, to: FAILED, trigger: agent_error, when: attempts >= {attempts},"
            " reason: RETRIES_EXHAUSTED}",
            f"  - {{from: {run}, to: {review}, trigger: agent_done, set: {{attempts: 0}}}}",
            f"  - {{from: {run}, to: FAILED, trigger: agent_timeout, after: 1h,"
            " reason: AGENT_TIMEOUT}",
            f"  - {{from: {review}, to: {after}, trigger: approved, human: true}}",
            f"  - {{from: {review}, to: {run}, trigger: changes_requested, human: true,"
            f" when: revisions < {revisions}, set: {{revisions: revisions + 1}}}}",
            f"  - {{from: {review}, to: FAILED, trigger: changes_requested, human: true,"
            f" when: revisions >= {revisions}, reason: REJECTED}}",
        ]
    lines += [
        "reasons:",
        "  RETRIES_EXHAUSTED: {recovery: [Read the agent's log]}",
        "  AGENT_TIMEOUT: {recovery: [Restart the agent]}",
        "  REJECTED: {recovery: [Start a new run]}",
    ]
    return "\n".join(lines) + "\n"


def timed(run: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - start
    del result
    return seconds


Translation = Callable[..., Any]


def spin_seconds(
    spec: Spec, where: Path, translation: Translation = promela
) -> tuple[dict[str, tuple[float, float]], int]:
    """Spin end to end on the Promela translation (its rollbacks included): the seconds
    and peak memory (MB; none for the translation, which runs in this process) of each
    step, and the states pan stored. A step that fails raises
    :class:`subprocess.CalledProcessError`."""
    start = time.perf_counter()
    text = translation(spec, questions=False).text
    (where / "model.pml").write_text(text)
    steps = {"promela": (time.perf_counter() - start, 0.0)}
    print(f"model    {len(text) / 1e3:,.0f} KB of Promela")
    output = ""
    for command in (
        ["spin", "-o2", "-a", "model.pml"],
        ["gcc", "-O2", "-DSAFETY", "-DNOREDUCE", "-o", "pan", "pan.c"],
        ["./pan", "-m10000000"],
    ):
        start = time.perf_counter()
        with subprocess.Popen(
            command, cwd=where, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as child:
            output = child.stdout.read() if child.stdout else ""
            _, status, usage = os.wait4(child.pid, 0)
            child.returncode = os.waitstatus_to_exitcode(status)
        name = " ".join(command[:1]) if command[0] != "./pan" else "pan"
        steps[name] = (time.perf_counter() - start, usage.ru_maxrss / 1024)
        if child.returncode:
            raise subprocess.CalledProcessError(child.returncode, command, output)
    stored = next(int(line.split()[0]) for line in output.splitlines() if "states, stored" in line)
    return steps, stored


def translation_from(path: str) -> Translation:
    """``promela`` of another copy of ``verify/explore/promela.py``."""
    found = importlib.util.spec_from_file_location("other_promela", path)
    assert found is not None and found.loader is not None
    module = importlib.util.module_from_spec(found)
    sys.modules["other_promela"] = module  # its dataclasses look their module up
    found.loader.exec_module(module)
    return cast(Translation, module.promela)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stages", type=int, default=100)
    parser.add_argument("--attempts", type=int, default=3)
    parser.add_argument("--revisions", type=int, default=3)
    parser.add_argument("--max", type=int, default=3)
    parser.add_argument("--keep", choices=("budgets", "none"), default="budgets")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--oracle", action="store_true", help="time the per-round fixpoint too")
    parser.add_argument("--spin", action="store_true", help="time Spin too (if installed)")
    parser.add_argument("--promela", help="the translation from this copy of promela.py")
    args = parser.parse_args()

    text = pipeline_spec(args.stages, args.attempts, args.revisions, args.max, args.keep != "none")
    spec = load_text(text, "long_pipeline.yaml").spec
    assert spec is not None
    runs: dict[str, Callable[[], object]] = {
        "plain": lambda: explore(spec, rollback=False),
        "rollback": lambda: explore(spec),
    }
    if args.oracle:  # the tests' oracle: the fixpoint as first written
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from rollback_rounds import search_with_rollback_rounds

        runs["fixpoint"] = lambda: search_with_rollback_rounds(spec)
    rollback = len(spec.transitions)
    assert rollback_transition(spec).index == rollback
    plain, full = explore(spec, rollback=False).found, explore(spec).found
    assert plain.complete and full.complete
    rollbacks = sum(1 for n in full.via if n == rollback)
    print(
        f"model: {args.stages} stages, attempts 0..{args.attempts}, revisions "
        f"0..{args.revisions}, rollback max {args.max}, keep {args.keep}"
    )
    print(f"plain    {len(plain):>9,} configurations {len(plain.succ):>10,} edges")
    print(
        f"rollback {len(full):>9,} configurations {len(full.succ):>10,} edges "
        f"({rollbacks:,} rollbacks)"
    )
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, run in runs.items():
            times[name].append(timed(run))
    median = {name: statistics.median(found) for name, found in times.items()}
    for name, seconds in median.items():
        ratio = seconds / median["plain"]
        print(f"{name:<9}{seconds:8.3f}s median of {args.repeat}  {ratio:6.1f}x plain")
    if not args.spin:
        return
    if not (shutil.which("spin") and shutil.which("gcc")):
        print("spin or gcc not found: install them (Debian: apt-get install spin gcc)")
        return
    translation = promela if args.promela is None else translation_from(args.promela)
    with tempfile.TemporaryDirectory(prefix="statewright-spin-") as folder:
        try:
            steps, stored = spin_seconds(spec, Path(folder), translation)
        except subprocess.CalledProcessError as failed:
            said = (failed.output or "").strip().splitlines()
            print(f"spin     failed: {' '.join(failed.cmd)}: {said[-1] if said else '?'}")
            return
    seconds = sum(spent for spent, _ in steps.values())
    each = ", ".join(f"{name} {spent:.2f}s {peak:,.0f} MB" for name, (spent, peak) in steps.items())
    print(
        f"spin     {seconds:8.3f}s end to end ({each}), "
        f"{stored:,} states stored, the explorer {len(full):,}"
    )


if __name__ == "__main__":
    main()
