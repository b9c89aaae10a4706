"""The ASL definition a history is held against: the reader's flow, plus what it runs on.

The definition is read by the ASL reader (:func:`statewright.verify.load.asl.read.
read_definition`), so a definition ``statewright check`` refuses is refused here with the
same findings, and every state keeps the line and column of its key. The reader keeps
the flow (``Next``, ``Catch``, ``Choices`` targets, delays); a history is also judged on
what the reader leaves as data: each state's retriers, its Choice rules and its
``InputPath``, kept here as plain JSON beside it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from statewright.verify.findings import Finding, has_errors, sort_findings
from statewright.verify.load.asl.definition import AslState, Definition
from statewright.verify.load.asl.read import read_definition
from statewright.verify.load.loader import read_file
from statewright.verify.load.yamlread import Mapping as NodeMapping
from statewright.verify.load.yamlread import Node, Scalar, read_yaml
from statewright.verify.model import Location

__all__ = ["Loaded", "Retrier", "Scope", "load_scope", "load_scope_text", "matches"]


@dataclass(frozen=True, slots=True)
class Retrier:
    """One entry of a state's ``Retry``, with the defaults of the ASL specification."""

    errors: tuple[str, ...]
    interval: float = 1.0
    max_attempts: int = 3
    backoff: float = 2.0
    max_delay: float | None = None
    jitter: bool = False

    def delay(self, attempt: int) -> float:
        """The least wait before retry ``attempt`` (1 for the first retry) of this
        retrier: ``IntervalSeconds * BackoffRate ** (attempt - 1)``, at most
        ``MaxDelaySeconds``; 0 with full jitter, which may retry at once."""
        if self.jitter:
            return 0.0
        wait = self.interval * self.backoff ** (attempt - 1)
        return wait if self.max_delay is None else min(wait, self.max_delay)


def matches(names: tuple[str, ...], error: str) -> bool:
    """Whether an ``ErrorEquals`` of ``names`` matches ``error``, as the ASL defines it:
    ``States.ALL`` matches every error but ``States.Runtime`` and
    ``States.DataLimitExceeded``; ``States.TaskFailed`` every one but those and
    ``States.Timeout``."""
    terminal = error in ("States.Runtime", "States.DataLimitExceeded")
    return (
        error in names
        or ("States.ALL" in names and not terminal)
        or ("States.TaskFailed" in names and not terminal and error != "States.Timeout")
    )


@dataclass(frozen=True, slots=True)
class Scope:
    """A state machine, Parallel branch or Map iterator, with each state's plain JSON
    (``raw``) and retriers, and the scopes nested in each Parallel or Map state."""

    definition: Definition
    raw: Mapping[str, Mapping[str, object]]
    nested: Mapping[str, tuple[Scope, ...]] = field(default_factory=dict)
    jsonata: bool = False
    states: Mapping[str, AslState] = field(default_factory=dict)

    def retriers(self, name: str) -> tuple[Retrier, ...]:
        found = self.raw.get(name, {}).get("Retry")
        if not isinstance(found, list):
            return ()
        return tuple(_retrier(r) for r in found if isinstance(r, dict))

    def walk(self) -> Iterator[Scope]:
        yield self
        for scopes in self.nested.values():
            for scope in scopes:
                yield from scope.walk()


@dataclass(frozen=True, slots=True)
class Loaded:
    """The root scope of a definition file, or none and the reader's findings."""

    file: str
    scope: Scope | None
    findings: tuple[Finding, ...]


def load_scope(path: str | os.PathLike[str], display: str | None = None) -> Loaded:
    """Read the ASL definition at ``path`` (JSON or YAML) as a :class:`Scope`."""
    name, data = read_file(path, display, "the ASL definition")
    if isinstance(data, Finding):
        return Loaded(name, None, (data,))
    return load_scope_text(data, name)


def load_scope_text(text: str | bytes, name: str = "<definition>") -> Loaded:
    """Read an ASL definition from its text; ``name`` names it in findings."""
    findings: list[Finding] = []
    read = read_yaml(text, name)
    findings.extend(read.findings)
    definition = None if read.root is None else read_definition(read.root, name, findings)
    if definition is None or read.root is None or has_errors(findings):
        return Loaded(name, None, sort_findings(findings))
    root = plain(read.root)
    assert isinstance(root, dict)  # read_definition refuses anything else
    return Loaded(name, _scope(definition, root, root.get("QueryLanguage") == "JSONata"), ())


def _scope(definition: Definition, raw: Mapping[str, object], jsonata: bool) -> Scope:
    written = raw.get("States")
    assert isinstance(written, dict)  # read_definition refuses anything else
    states = {name: body for name, body in written.items() if isinstance(body, dict)}
    nested: dict[str, tuple[Scope, ...]] = {}
    for state in definition.states:
        body = states[state.name]
        inner: list[dict[str, object]]
        if state.type == "Parallel":
            branches = body.get("Branches")
            inner = (
                [b for b in branches if isinstance(b, dict)] if isinstance(branches, list) else []
            )
        else:
            found = body.get("ItemProcessor") or body.get("Iterator")
            inner = [found] if isinstance(found, dict) else []
        if state.branches:
            nested[state.name] = tuple(
                _scope(d, b, jsonata) for d, b in zip(state.branches, inner, strict=True)
            )
    return Scope(definition, states, nested, jsonata, {s.name: s for s in definition.states})


def _retrier(raw: Mapping[str, object]) -> Retrier:
    errors = raw.get("ErrorEquals")
    names = tuple(e for e in errors if isinstance(e, str)) if isinstance(errors, list) else ()
    defaults = Retrier(names)
    attempts = raw.get("MaxAttempts", defaults.max_attempts)
    return Retrier(
        names,
        interval=_seconds(raw.get("IntervalSeconds"), defaults.interval),
        max_attempts=attempts if type(attempts) is int else defaults.max_attempts,
        backoff=_seconds(raw.get("BackoffRate"), defaults.backoff),
        max_delay=_number(raw.get("MaxDelaySeconds")),
        jitter=raw.get("JitterStrategy") == "FULL",
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _seconds(value: object, default: float) -> float:
    number = _number(value)
    return default if number is None else number


def plain(node: Node) -> object:
    """A positioned node as plain JSON data."""
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, NodeMapping):
        return {str(k.value) if isinstance(k, Scalar) else "": plain(v) for k, v in node.pairs()}
    return [plain(item) for item in node.items]


def location(scope: Scope, name: str, key: str | None = None) -> Location:
    """Where state ``name`` of ``scope`` is written, or its ``key`` if it has one."""
    state = scope.states[name]
    return state.fields.get(key, state.location) if key else state.location
