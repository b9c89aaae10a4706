"""``statewright import asl FILE [-o SPEC.yaml]``: an ASL definition as statewright specs.

The state machine's spec goes to ``-o`` (default: standard output); each Parallel branch
and Map iterator is a machine of its own, written beside it as ``<machine>.yaml`` (so they
need ``-o``). Nothing is overwritten: a file in the way is a usage error and nothing is
written. What the mapping leaves out (the ``asl-not-modelled`` findings) is printed on
standard error, so the import says what it did not carry over. Exit status 0 when written,
1 when the definition does not load (its findings on standard error), 2 for a usage
problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from generator import __version__
from generator.commands import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE
from generator.spec_yaml import spec_yaml
from verify.load.asl import AslOptions, Machine, load_asl_file

__all__ = ["import_command"]

_PROG = "statewright import"


def import_command(
    source: Path,
    output: Path | None,
    options: AslOptions | None = None,
    *,
    stdout: TextIO,
    stderr: TextIO,
) -> int:
    """Write the specs of the ASL definition at ``source`` (see the module doc)."""
    if source.is_dir() or not source.exists():
        what = "is a folder; name one ASL file" if source.is_dir() else "does not exist"
        return _usage(stderr, f"{source} {what}")
    load = load_asl_file(source, options or AslOptions())
    for finding in load.findings:
        stderr.write(finding.format() + "\n")
    if not load.machines:
        stderr.write(f"{_PROG}: {source} does not load; nothing written\n")
        return EXIT_FINDINGS
    top, *nested = load.machines
    if output is None:
        stdout.write(_text(top, source))
        if nested:
            stderr.write(
                f"{_PROG}: {len(nested)} more machine(s) (branches, iterators) not written; "
                "name a file with -o to write them beside it\n"
            )
        return EXIT_OK
    targets = {output: top, **{output.parent / f"{m.spec.machine}.yaml": m for m in nested}}
    in_the_way = [str(path) for path in targets if path.exists()]
    if in_the_way:
        return _usage(stderr, f"not overwriting {', '.join(in_the_way)}; nothing written")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        for path, machine in targets.items():
            path.write_text(_text(machine, source), encoding="utf-8")
            stdout.write(f"wrote {path}\n")
    except OSError as error:
        return _usage(stderr, f"cannot write {output}: {error.strerror or error}")
    return EXIT_OK


def _text(machine: Machine, source: Path) -> str:
    part = f"#{machine.part}" if machine.part else ""
    header = (
        f"Imported by statewright {__version__} from {source}{part} (Amazon States Language).",
        "Recovery steps are placeholders: replace them with your team's procedures.",
    )
    return spec_yaml(machine.spec, header)


def _usage(stderr: TextIO, message: str) -> int:
    stderr.write(f"{_PROG}: {message}\n")
    return EXIT_USAGE
