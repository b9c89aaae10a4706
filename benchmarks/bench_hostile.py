"""How fast is a hostile spec refused, next to loading an ordinary spec of the same size?

``tests/test_hostile.py`` counts the work each hostile input costs (function calls
proportional to its size, memory, CPU seconds), so that it passes on a loaded machine;
the speed is measured here instead. For each hostile input of that test (alias bombs,
deep nesting, binary data, huge keys, ...), in one process, best of ``--repeat``:

- ``hostile``: :func:`statewright.verify.load.load_text` of the input, to its finding;
- ``ordinary``: the same load of an ordinary spec about as large (the machines of
  ``bench_check.py``; only for inputs of 10 kB or more);
- ``ratio``: hostile / ordinary. Below 1, a hostile input costs less than an honest one of
  its size: it is refused early.

Run:

    .venv/bin/python benchmarks/bench_hostile.py
    .venv/bin/python benchmarks/bench_hostile.py --repeat 5
"""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from bench_check import best_of, machine_yaml

from statewright.verify.load import load_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_hostile import HOSTILE

BYTES_PER_STATE = 420
"""About how many bytes of ``machine_yaml`` each state takes (ten transitions each)."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"{'input':<26} {'bytes':>10} {'hostile':>10} {'ordinary':>10} {'ratio':>7}")
    for name, text in HOSTILE.items():
        hostile = best_of(args.repeat, partial(load_text, text))
        row = f"{name:<26} {len(text):>10,} {hostile * 1000:>8.1f}ms"
        if len(text) >= 10_000:
            ordinary_text = machine_yaml(max(1, len(text) // BYTES_PER_STATE))
            ordinary = best_of(args.repeat, partial(load_text, ordinary_text))
            row += f" {ordinary * 1000:>8.1f}ms {hostile / ordinary:>6.2f}x"
        print(row)


if __name__ == "__main__":
    main()
