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
from dataclasses import dataclass, replace

from statewright.verify.findings import Finding, Severity, has_errors, sort_findings
from statewright.verify.load.asl.bounds import bound_findings
from statewright.verify.load.asl.definition import Delay
from statewright.verify.load.asl.elapsed import ExecutionTime, execution_time
from statewright.verify.load.asl.gaps import NOT_MODELLED, gap_findings
from statewright.verify.load.asl.mapping import HUMAN_HINT, AslOptions, Machine, map_definitions
from statewright.verify.load.asl.read import read_definition
from statewright.verify.load.asl.template import is_template, substitute, template_machines
from statewright.verify.load.loader import gc_paused, read_file
from statewright.verify.load.rules import SCHEMA
from statewright.verify.load.yamlread import Node, read_yaml
from statewright.verify.model import Location

__all__ = [
    "HUMAN_HINT",
    "NOT_MODELLED",
    "AslLoad",
    "AslOptions",
    "ExecutionTime",
    "Machine",
    "load_asl_file",
    "load_asl_files",
    "load_asl_text",
    "load_asl_texts",
]


@dataclass(frozen=True, slots=True)
class AslLoad:
    """What reading one ASL file gave.

    ``machines`` is empty when a load error was found; ``findings`` holds the load errors,
    or the ``asl-not-modelled`` info findings of the file. ``callbacks`` names every
    callback state of the file and ``human`` those mapped as approvals (ASL names);
    ``time`` is the worst case of an execution
    (:func:`~statewright.verify.load.asl.elapsed.execution_time`), None when none loaded.
    """

    file: str
    machines: tuple[Machine, ...]
    findings: tuple[Finding, ...]
    callbacks: frozenset[str] = frozenset()
    human: frozenset[str] = frozenset()
    time: ExecutionTime | None = None


def load_asl_text(
    text: str | bytes, file: str = "<string>", options: AslOptions | None = None
) -> AslLoad:
    """Read an ASL definition from its text; ``file`` names it in findings.

    A SAM or CloudFormation template with one state machine gives that one; with
    several, read them with :func:`load_asl_texts`.
    """
    loads = load_asl_texts(text, file, options)
    if len(loads) == 1:
        return loads[0]
    message = (
        f"{file} is a template with {len(loads)} state machines; check it with "
        "'statewright check' (which reads each), or name one definition file"
    )
    return AslLoad(file, (), (Finding(SCHEMA, Severity.ERROR, message, Location(file, 1, 1)),))


def load_asl_texts(
    text: str | bytes, file: str = "<string>", options: AslOptions | None = None
) -> tuple[AslLoad, ...]:
    """Read an ASL definition, or each state machine of a SAM or CloudFormation template
    (:mod:`~statewright.verify.load.asl.template`), from its text."""
    options = options or AslOptions()
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    sha256 = hashlib.sha256(raw).hexdigest()
    with gc_paused():
        read = read_yaml(_json_surrogates(text), file, intrinsic=True)
    if not is_template(read.root) or read.root is None:
        return (_load(read.root, list(read.findings), file, file, sha256, options),)
    machines = template_machines(read.root, file, read.text)
    if not machines:
        message = (
            f"{file} is a template without an AWS::StepFunctions::StateMachine or "
            "AWS::Serverless::StateMachine resource; name an ASL definition"
        )
        finding = Finding(SCHEMA, Severity.ERROR, message, Location(file, 1, 1))
        return (AslLoad(file, (), (*read.findings, finding)),)
    loads = []
    pending = list(read.findings)
    for machine in machines:
        name = f"{file}#{machine.name}"
        if machine.definition is None:
            problem = () if machine.problem is None else (machine.problem,)
            loads.append(AslLoad(name, (), sort_findings([*pending, *problem])))
            pending = []
            continue
        substitute(machine.definition, machine.substitutions)
        load = _load(
            machine.definition,
            [],
            machine.file,
            name,
            sha256,
            options,
            machine.name,
            machine.express,
        )
        # the template's own findings (a duplicate key elsewhere in it) go with its first
        # machine, and do not keep that machine from being checked
        loads.append(replace(load, findings=sort_findings([*pending, *load.findings])))
        pending = []
    return tuple(loads)


def _load(
    root: Node | None,
    findings: list[Finding],
    file: str,
    name: str,
    sha256: str,
    options: AslOptions,
    machine: str | None = None,
    express: Location | None = None,
) -> AslLoad:
    """The load of the definition at ``root`` (read from ``file``), named ``name``; an
    Express workflow (``express`` says where the template makes it one) has its
    five-minute limit as its execution timeout, unless it sets a shorter one."""
    if root is None:
        return AslLoad(name, (), sort_findings(findings))
    with gc_paused():
        definition = read_definition(root, file, findings)
    if definition is None or has_errors(findings):
        return AslLoad(name, (), sort_findings(findings))
    if express is not None and (definition.timeout is None or _longer(definition.timeout)):
        definition = replace(definition, timeout=Delay(EXPRESS_SECONDS, "Type", express))
    machines = map_definitions(definition, file, sha256, options, machine)
    states = list(definition.all_states())
    callbacks = frozenset(s.name for s in states if s.callback)
    human = frozenset(s.name for s in states if options.is_human(s))
    gaps = gap_findings(definition, options)
    bounds = bound_findings(definition)
    found = sort_findings([*findings, *gaps, *bounds])
    return AslLoad(name, machines, found, callbacks, human, execution_time(definition))


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


EXPRESS_SECONDS = 300
"""The longest an Express workflow's execution runs."""


def _longer(timeout: Delay) -> bool:
    return timeout.seconds is None or timeout.seconds > EXPRESS_SECONDS


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


def load_asl_files(
    path: str | os.PathLike[str], options: AslOptions | None = None, display: str | None = None
) -> tuple[AslLoad, ...]:
    """Read the ASL definition at ``path``, or each state machine of the template there."""
    name, data = read_file(path, display, "the ASL definition")
    if isinstance(data, Finding):
        return (AslLoad(name, (), (data,)),)
    return load_asl_texts(data, name, options)
