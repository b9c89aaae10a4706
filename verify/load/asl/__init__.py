"""Reading Amazon States Language (AWS Step Functions) definitions as statewright machines.

:mod:`~statewright.verify.load.asl.read` reads the definition (JSON or YAML, through the positioned
YAML reader, so every finding points at the ASL file's own line and column) into a
:class:`~statewright.verify.load.asl.definition.Definition`;
:mod:`~statewright.verify.load.asl.mapping` maps it onto one :class:`~statewright.verify.model.Spec`
per machine (the state machine, then each Parallel branch and Map iterator);
:mod:`~statewright.verify.load.asl.gaps` reports what the mapping leaves out as ``asl-not-modelled``
info findings. ``docs/asl.md`` documents the mapping.

>>> result = load_asl_text('''{"StartAt": "Wait for partner", "States": {
...   "Wait for partner": {"Type": "Task", "End": true,
...     "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken"}}}''', "p.asl.json")
>>> [m.spec.machine for m in result.machines], result.findings
(['p'], ())
>>> [(s.name, str(s.kind)) for s in result.machines[0].spec.states][:2]
[('WAIT_FOR_PARTNER', 'waiting'), ('EXECUTION_SUCCEEDED', 'complete')]
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass

from statewright.verify.findings import Finding, has_errors, sort_findings
from statewright.verify.load.asl.gaps import NOT_MODELLED, gap_findings
from statewright.verify.load.asl.mapping import HUMAN_HINT, AslOptions, Machine, map_definitions
from statewright.verify.load.asl.read import read_definition
from statewright.verify.load.loader import gc_paused, read_file
from statewright.verify.load.yamlread import read_yaml

__all__ = [
    "HUMAN_HINT",
    "NOT_MODELLED",
    "AslLoad",
    "AslOptions",
    "Machine",
    "load_asl_file",
    "load_asl_text",
]


@dataclass(frozen=True, slots=True)
class AslLoad:
    """What reading one ASL file gave.

    ``machines`` is empty when a load error was found; ``findings`` holds the load errors,
    or the ``asl-not-modelled`` info findings of the file. ``callbacks`` names every
    callback state of the file and ``human`` those mapped as approvals (ASL names).
    """

    file: str
    machines: tuple[Machine, ...]
    findings: tuple[Finding, ...]
    callbacks: frozenset[str] = frozenset()
    human: frozenset[str] = frozenset()


def load_asl_text(
    text: str | bytes, file: str = "<string>", options: AslOptions | None = None
) -> AslLoad:
    """Read an ASL definition from its text; ``file`` names it in findings."""
    options = options or AslOptions()
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    findings: list[Finding] = []
    with gc_paused():
        read = read_yaml(_json_surrogates(text), file)
        findings.extend(read.findings)
        if read.root is None:
            return AslLoad(file, (), sort_findings(findings))
        definition = read_definition(read.root, file, findings)
    if definition is None or has_errors(findings):
        return AslLoad(file, (), sort_findings(findings))
    machines = map_definitions(definition, file, hashlib.sha256(raw).hexdigest(), options)
    states = list(definition.all_states())
    callbacks = frozenset(s.name for s in states if s.callback)
    human = frozenset(s.name for s in states if options.is_human(s))
    gaps = gap_findings(definition, options)
    return AslLoad(file, machines, sort_findings([*findings, *gaps]), callbacks, human)


_SURROGATE_PAIR = re.compile(
    r"(?<!\\)((?:\\\\)*)\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE
)


def _json_surrogates(text: str | bytes) -> str | bytes:
    """``text`` with JSON's surrogate-pair escapes (``\\ud83d\\ude00``, which ``json.dumps``
    writes for any character beyond U+FFFF) as the one YAML escape of the character
    (``\\U0001f600``): YAML has no surrogate pairs. What follows one on its line moves
    two columns left; a state's key, which starts its line, does not move."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            return text  # the YAML reader reports it
    if "\\u" not in text:
        return text

    def combined(match: re.Match[str]) -> str:
        high, low = int(match[2], 16), int(match[3], 16)
        return f"{match[1]}\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"

    return _SURROGATE_PAIR.sub(combined, text)


def load_asl_file(
    path: str | os.PathLike[str], options: AslOptions | None = None, display: str | None = None
) -> AslLoad:
    """Read the ASL definition at ``path``; ``display`` names it in findings.

    A file that cannot be read is a ``yaml-syntax`` finding at line 1, column 1.
    """
    name, data = read_file(path, display, "the ASL definition")
    if isinstance(data, Finding):
        return AslLoad(name, (), (data,))
    return load_asl_text(data, name, options)
