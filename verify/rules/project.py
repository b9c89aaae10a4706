"""Project rules: about the specs checked or generated together, not one spec alone.

:func:`statewright.verify.check.check_together` runs them over every spec that loaded and adds each
finding to the spec file it is located in.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from statewright.verify.findings import Finding, Severity
from statewright.verify.model import Spec
from statewright.verify.registry import RULES, project_rule, with_examples

__all__ = ["DUPLICATE_MACHINE"]

DUPLICATE_MACHINE = "duplicate-machine"

_SHOWN = 3
"""How many of the other files a finding names."""


_DOORS = """\
statewright: 1
machine: door
initial: CLOSED
states: {CLOSED: {kind: idle}, OPEN: {final: true}}
transitions: [{from: CLOSED, to: OPEN, trigger: push}]
---
statewright: 1
machine: back_door
initial: CLOSED
states: {CLOSED: {kind: idle}, OPEN: {final: true}}
transitions: [{from: CLOSED, to: OPEN, trigger: push}]
"""
"""Two specs of different machines: the ``Passes`` example of ``duplicate-machine``."""


@project_rule(DUPLICATE_MACHINE, Severity.ERROR)
@with_examples(_DOORS, ("machine: back_door", "machine: door"))
def duplicate_machine(specs: Sequence[Spec]) -> Iterator[Finding]:
    """Two specs checked or generated together declare the same ``machine``.

    The machine names the generated package and class, and the rows of its instances in
    a durable store: two specs of one name would overwrite each other's code and share
    each other's records. One finding on each of the specs, at its ``machine:`` key,
    naming the others. The example that fails is two files that both declare ``door``.
    """
    by_machine: dict[str, list[Spec]] = {}
    for spec in specs:
        by_machine.setdefault(spec.machine, []).append(spec)
    severity = RULES[DUPLICATE_MACHINE].severity
    for machine, same in by_machine.items():
        for spec in same if len(same) > 1 else ():
            others = [other.file for other in same[: _SHOWN + 1] if other is not spec][:_SHOWN]
            if len(same) - 1 > _SHOWN:
                others.append(f"{len(same) - 1 - _SHOWN} more")
            yield Finding(
                DUPLICATE_MACHINE,
                severity,
                f"machine '{machine}' is also declared by {', '.join(others)}; "
                "each spec needs its own machine name: rename one of them",
                spec.machine_location or spec.location,
            )
