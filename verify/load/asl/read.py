"""Read an ASL definition from positioned nodes into a :class:`Definition`, with findings.

The text is read by :func:`statewright.verify.load.yamlread.read_yaml` (JSON is YAML), so every node
has its line and column and a duplicate key is a ``duplicate-key`` finding. What breaks
the flow of the machine is a load error, as the Step Functions service would refuse it:
no ``StartAt`` or ``States``, an unknown ``Type``, a ``Next`` (or ``Default``, or Catch
``Next``) that names no state, a Task without ``Resource``, a state that neither goes on
nor ends. Such findings are ``schema`` or ``unknown-state``, at the offending key or value.
Everything else the mapping does not use is kept, not judged.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from statewright.verify.findings import Finding, Severity
from statewright.verify.load.asl.definition import (
    DECISION,
    STATE_TYPES,
    WHOLE_OUTPUT,
    AslState,
    Catcher,
    ChoiceRule,
    Definition,
    Delay,
    Exit,
    Retrier,
)
from statewright.verify.load.asl.template import intrinsic_text
from statewright.verify.load.rules import BAD_DURATION, SCHEMA, UNKNOWN_STATE
from statewright.verify.load.values import MAX_DURATION_SECONDS, clip, suggest
from statewright.verify.load.yamlread import Mapping, Node, Scalar, Sequence
from statewright.verify.model import Location

__all__ = ["read_definition"]

_GOES_ON = frozenset({"Task", "Pass", "Wait", "Parallel", "Map"})
"""The types that need exactly one of ``Next`` and ``End``."""

_WAIT_FIELDS = ("Seconds", "SecondsPath", "Timestamp", "TimestampPath")

_WRITING_FIELDS = ("Parameters", "Result", "ResultSelector", "Assign", "Arguments", "Output")
"""The fields whose keys name data a state writes (with ``ResultPath``)."""

_NESTED_RULES = ("And", "Or", "Not")


def read_definition(root: Node, file: str, findings: list[Finding]) -> Definition | None:
    """The definition in ``root``; None (with findings) when it cannot be read."""
    reader = _Reader(file, findings)
    if not isinstance(root, Mapping):
        reader.report("an ASL definition is a JSON object with StartAt and States", root)
        return None
    return reader.definition(root, "")


def _exits(state: AslState) -> list[tuple[Exit, str]]:
    """Every named target of ``state``, with the key that names it."""
    found = [(e, '"Next"') for e in (state.next,) if e is not None]
    found += [(e, "a Choice rule") for e in state.choices]
    found += [(e, '"Default"') for e in (state.default,) if e is not None]
    found += [(c.next, "a Catch") for c in state.catchers]
    return found


def _is_text(node: Node | None) -> bool:
    return isinstance(node, Scalar) and type(node.value) is str


_SUBSTITUTION = re.compile(r"\$\{[^}]+\}")


def _computed(node: Node) -> bool:
    """A value not written out: a JSONata expression (``"{% ... %}"``), computed from
    data, or a ``"${Name}"`` definition substitution or a template's intrinsic function
    (``!Ref Timeout``), filled in when it is deployed."""
    if isinstance(node, Mapping):
        return intrinsic_text(node) is not None and next(iter(node.values)) != "Fn::Join"
    if not _is_text(node):
        return False
    text = str(getattr(node, "value", "")).strip()
    return text.startswith("{%") or _SUBSTITUTION.fullmatch(text) is not None


def _decisions(states: list[AslState]) -> list[AslState]:
    """``states``, each callback marked ``decision`` whose ``Next`` is a Choice that tests
    an approve/reject-like field or value (see :data:`DECISION`)."""
    by_name = {s.name: s for s in states}

    def decides(state: AslState) -> bool:
        choice = by_name.get(state.next.target) if state.next is not None else None
        if not state.callback or choice is None or choice.type != "Choice":
            return False
        tested = (
            text
            for rule in choice.rules
            for text in (*rule.variables, *rule.values, rule.condition or "")
        )
        return any(DECISION.search(text) for text in tested)

    return [replace(s, decision=True) if decides(s) else s for s in states]


def _number(
    mapping: Mapping, key: str, default: int | float | None, kind: type[int] | type[float]
) -> Any:
    """The number under ``key`` (``default`` when absent), None when it is not one."""
    node = mapping.get(key)
    if node is None:
        return default
    value = node.value if isinstance(node, Scalar) else None
    if type(value) is bool or not isinstance(value, int | float):
        return None
    if kind is int:
        return int(value) if float(value).is_integer() else None
    return float(value)


def _tests(rule: Mapping, variables: list[str], operators: list[str], values: list[str]) -> None:
    """Collect what a Choice rule (and its ``And``/``Or``/``Not``) compares."""
    for key, value in zip(rule.values, rule.values.values(), strict=True):
        if key == "Variable" and _is_text(value):
            variables.append(str(getattr(value, "value", "")))
        elif key in _NESTED_RULES:
            nested = value.items if isinstance(value, Sequence) else [value]
            for item in nested:
                if isinstance(item, Mapping):
                    _tests(item, variables, operators, values)
        elif isinstance(key, str) and key not in ("Next", "Comment", "Condition", "Assign"):
            operators.append(key)
            if isinstance(value, Scalar) and type(value.value) is str:
                (variables if key.endswith("Path") else values).append(str(value.value))


_PATH_STEP = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")


def _writes(state: Mapping) -> frozenset[str]:
    """The names of the data ``state`` writes (see :attr:`AslState.writes`)."""
    found: set[str] = set()
    for key in _WRITING_FIELDS:
        node = state.get(key)
        if isinstance(node, Mapping):
            _keys(node, found, 0)
    result_path = state.get("ResultPath")
    if isinstance(result_path, Scalar) and type(result_path.value) is str:
        found.update(_PATH_STEP.findall(result_path.value))
    kind = state.get("Type")
    returns = isinstance(kind, Scalar) and kind.value in ("Task", "Parallel", "Map")
    if returns and (result_path is None or getattr(result_path, "value", None) == "$"):
        found.add(WHOLE_OUTPUT)  # the result replaces the whole state
    return frozenset(found)


def _keys(mapping: Mapping, found: set[str], depth: int) -> None:
    for key, value in zip(mapping.values, mapping.values.values(), strict=True):
        if isinstance(key, str):
            found.add(key.removesuffix(".$"))
        if isinstance(value, Mapping) and depth < 8:
            _keys(value, found, depth + 1)


class _Reader:
    def __init__(self, file: str, findings: list[Finding]) -> None:
        self.file = file
        self.findings = findings

    def at(self, node: Node) -> Location:
        return Location(self.file, node.line, node.column)

    def report(self, message: str, node: Node, rule: str = SCHEMA) -> None:
        self.findings.append(Finding(rule, Severity.ERROR, clip(message), self.at(node)))

    def fields(self, mapping: Mapping) -> dict[str, Location]:
        return {
            str(key.value): self.at(key)
            for key in mapping.key_nodes.values()
            if isinstance(key, Scalar) and type(key.value) is str
        }

    def text(self, mapping: Mapping, key: str, what: str) -> str | None:
        node = mapping.get(key)
        if node is None or _is_text(node):
            return None if node is None else str(getattr(node, "value", ""))
        self.report(f'"{key}" of {what} must be a string', node)
        return None

    # -- definitions ----------------------------------------------------------------

    def definition(self, mapping: Mapping, part: str) -> Definition | None:
        what = f"branch '{part}'" if part else "the definition"
        start_node = mapping.get("StartAt")
        states_node = mapping.get("States")
        if start_node is None:
            self.report(f'{what} has no "StartAt"; name the state the execution starts in', mapping)
        elif not _is_text(start_node):
            self.report(f'"StartAt" of {what} must be the name of a state', start_node)
        if not isinstance(states_node, Mapping) or not states_node.values:
            self.report(
                f'{what} needs "States": an object with at least one state',
                mapping if states_node is None else states_node,
            )
            return None
        states = [
            state
            for key, value in states_node.pairs()
            if (state := self.state(key, value, part)) is not None
        ]
        names = {s.name for s in states}
        states = _decisions(states)
        for state in states:
            for exit_, key in _exits(state):
                self.target(exit_, names, f"{key} of state '{state.name}'")
        if not _is_text(start_node) or start_node is None:
            return None
        start = Exit(str(getattr(start_node, "value", "")), self.at(start_node))
        self.target(start, names, '"StartAt"')
        timeout = self.delay(mapping, "TimeoutSeconds", what) if not part else None
        return Definition(
            part,
            start,
            tuple(states),
            self.at(mapping),
            timeout=timeout,
            comment=self.text(mapping, "Comment", what),
            fields=self.fields(mapping),
        )

    def target(self, exit_: Exit, names: set[str], what: str) -> None:
        """Report ``exit_`` if it leads to no state of ``names``."""
        if exit_.target not in names:
            hint = suggest(exit_.target, names) or "; name a state of the same States object"
            message = f"{what} names '{exit_.target}', which is not a state here{hint}"
            self.findings.append(
                Finding(UNKNOWN_STATE, Severity.ERROR, clip(message), exit_.location)
            )

    # -- states ---------------------------------------------------------------------

    def state(self, key: Node, value: Node, part: str) -> AslState | None:
        if not _is_text(key):
            self.report("a state name must be a string", key)
            return None
        name = str(getattr(key, "value", ""))
        what = f"state '{name}'"
        if not isinstance(value, Mapping):
            self.report(f"{what} must be a JSON object with a Type", value)
            return None
        kind = self.text(value, "Type", what)
        if kind not in STATE_TYPES:
            node = value.get("Type")
            if kind is None:
                self.report(
                    f'{what} has no "Type"; use one of {", ".join(STATE_TYPES)}', node or key
                )
            else:
                hint = suggest(kind, STATE_TYPES) or f"; use one of {', '.join(STATE_TYPES)}"
                self.report(f"{what} has the unknown Type '{kind}'{hint}", node or key)
            return None
        return self.typed(name, kind, key, value, part)

    def typed(self, name: str, kind: str, key: Node, value: Mapping, part: str) -> AslState:
        what = f"{kind} state '{name}'"
        next_exit = self.exit(value, "Next", what)
        end_node = value.get("End")
        end = None
        if end_node is not None:
            if isinstance(end_node, Scalar) and type(end_node.value) is bool:
                end = self.at(value.key_nodes["End"]) if end_node.value else None
            else:
                self.report(f'"End" of {what} must be true or false', end_node)
        if kind in _GOES_ON and (next_exit is None) == (end is None):
            self.report(
                f'{what} needs exactly one of "Next" and "End": true, to say where the '
                "execution goes after it",
                key,
            )
        elif kind not in _GOES_ON and (next_exit is not None or end is not None):
            self.report(f'a {kind} state has no "Next" or "End"; remove it from {what}', key)
        resource = self.resource(value, what)
        if kind == "Task" and resource is None and "Resource" not in value.values:
            self.report(f'{what} has no "Resource"; name what the task runs', key)
        return AslState(
            name,
            kind,
            self.at(key),
            next=next_exit,
            end=end,
            resource=resource,
            timeout=self.delay(value, "TimeoutSeconds", what),
            heartbeat=self.delay(value, "HeartbeatSeconds", what),
            wait=self.wait(value, what) if kind == "Wait" else None,
            catchers=self.catchers(value, what),
            choices=self.choices(value, what) if kind == "Choice" else (),
            default=self.exit(value, "Default", what),
            branches=self.branches(name, kind, value, part),
            error=self.text(value, "Error", what),
            cause=self.text(value, "Cause", what),
            comment=self.text(value, "Comment", what),
            fields=self.fields(value),
            retriers=self.retriers(value, what),
            rules=self.rules(value, what) if kind == "Choice" else (),
            writes=_writes(value),
        )

    def resource(self, mapping: Mapping, what: str) -> str | None:
        """The ``Resource``; a template's intrinsic function (``!GetAtt``, ``!Ref``,
        ``Fn::Sub``) as the substitution it stands for (``${Function.Arn}``)."""
        node = mapping.get("Resource")
        if isinstance(node, Mapping):
            text = intrinsic_text(node)
            if text is not None:
                return text
        return self.text(mapping, "Resource", what)

    def retriers(self, mapping: Mapping, what: str) -> tuple[Retrier, ...]:
        """The ``Retry`` entries; a field that is no plain number is None (unknown)."""
        found = []
        for item in self.items(mapping, "Retry", what):
            errors = item.get("ErrorEquals")
            names = errors.items if isinstance(errors, Sequence) else []
            jitter = item.get("JitterStrategy")
            found.append(
                Retrier(
                    tuple(str(getattr(n, "value", "")) for n in names if _is_text(n)),
                    self.at(item),
                    interval=_number(item, "IntervalSeconds", 1, int),
                    attempts=_number(item, "MaxAttempts", 3, int),
                    backoff=_number(item, "BackoffRate", 2.0, float),
                    max_delay=_number(item, "MaxDelaySeconds", None, int),
                    jitter=str(jitter.value) if isinstance(jitter, Scalar) else "NONE",
                )
            )
        return tuple(found)

    def rules(self, mapping: Mapping, what: str) -> tuple[ChoiceRule, ...]:
        """What each Choice rule tests (the rules' ``Next`` are read by :meth:`choices`)."""
        found = []
        for item in self.items(mapping, "Choices", what):
            target = item.get("Next")
            if not _is_text(target) or target is None:
                continue
            variables: list[str] = []
            operators: list[str] = []
            values: list[str] = []
            _tests(item, variables, operators, values)
            condition = item.get("Condition")
            found.append(
                ChoiceRule(
                    Exit(str(getattr(target, "value", "")), self.at(target)),
                    tuple(variables),
                    tuple(operators),
                    tuple(values),
                    str(condition.value) if isinstance(condition, Scalar) else None,
                )
            )
        return tuple(found)

    def exit(self, mapping: Mapping, key: str, what: str) -> Exit | None:
        node = mapping.get(key)
        if node is None:
            return None
        if not _is_text(node):
            self.report(f'"{key}" of {what} must be the name of a state', node)
            return None
        return Exit(str(getattr(node, "value", "")), self.at(node))

    def delay(self, mapping: Mapping, key: str, what: str) -> Delay | None:
        """``key`` (e.g. ``TimeoutSeconds``) as a :class:`Delay`, or its ``...Path`` form."""
        node = mapping.get(key)
        if node is None:
            path = mapping.get(f"{key}Path")
            if path is None:
                return None
            return Delay(None, f"{key}Path", self.at(mapping.key_nodes[f"{key}Path"]))
        where = self.at(mapping.key_nodes[key])
        if _computed(node):
            return Delay(None, key, where)
        value = node.value if isinstance(node, Scalar) else None
        if type(value) is not int or value < 1:
            self.report(f'"{key}" of {what} must be a positive whole number of seconds', node)
            return None
        return self.bounded(Delay(value, key, where), node, what)

    def bounded(self, delay: Delay, node: Node, what: str) -> Delay | None:
        """``delay``, unless it is longer than a spec's ``after`` may be (ten years): the
        mapped spec could not say it, so the definition is refused as its import would be."""
        if delay.seconds is not None and delay.seconds > MAX_DURATION_SECONDS:
            self.report(
                f'"{delay.field}" of {what} is {delay.seconds} seconds, longer than 3650 days '
                f"({MAX_DURATION_SECONDS} seconds); statewright times at most ten years",
                node,
                BAD_DURATION,
            )
            return None
        return delay

    def wait(self, mapping: Mapping, what: str) -> Delay | None:
        written = [key for key in _WAIT_FIELDS if key in mapping.values]
        if len(written) != 1:
            self.report(f"{what} needs exactly one of {', '.join(_WAIT_FIELDS)}", mapping)
            return None
        (key,) = written
        node, where = mapping.values[key], self.at(mapping.key_nodes[key])
        value = node.value if isinstance(node, Scalar) else None
        if key != "Seconds" or _computed(node):
            return Delay(None, key, where)
        if type(value) is not int or value < 0:
            self.report(f'"Seconds" of {what} must be a whole number of seconds', node)
            return None
        return self.bounded(Delay(value, key, where), node, what)

    def items(self, mapping: Mapping, key: str, what: str) -> list[Mapping]:
        """The objects of the list under ``key``; a finding for anything else."""
        node = mapping.get(key)
        if node is None:
            return []
        if not isinstance(node, Sequence):
            self.report(f'"{key}" of {what} must be a list', node)
            return []
        found = []
        for item in node.items:
            if isinstance(item, Mapping):
                found.append(item)
            else:
                self.report(f'each entry of "{key}" of {what} must be a JSON object', item)
        return found

    def catchers(self, mapping: Mapping, what: str) -> tuple[Catcher, ...]:
        catchers = []
        for item in self.items(mapping, "Catch", what):
            errors = item.get("ErrorEquals")
            names = errors.items if isinstance(errors, Sequence) else []
            target = self.exit(item, "Next", f"a Catch of {what}")
            if not names or not all(_is_text(n) for n in names):
                self.report(
                    f'a Catch of {what} needs "ErrorEquals": a list of error names',
                    errors or item,
                )
            elif target is None:
                self.report(f'a Catch of {what} needs "Next": the state that handles it', item)
            else:
                texts = tuple(str(getattr(n, "value", "")) for n in names)
                catchers.append(Catcher(texts, target, self.at(item)))
        return tuple(catchers)

    def choices(self, mapping: Mapping, what: str) -> tuple[Exit, ...]:
        rules = self.items(mapping, "Choices", what)
        if not rules:
            self.report(f'{what} needs "Choices": a list of rules, each with a "Next"', mapping)
        found = []
        for item in rules:
            target = self.exit(item, "Next", f"a rule of {what}")
            if target is None:
                self.report(f'each rule of {what} needs "Next"', item)
            else:
                found.append(target)
        return tuple(found)

    def branches(self, name: str, kind: str, mapping: Mapping, part: str) -> tuple[Definition, ...]:
        """The definitions nested in a Parallel (``Branches``) or a Map (its iterator)."""
        prefix = f"{part}/{name}" if part else name
        what = f"{kind} state '{name}'"
        if kind == "Parallel":
            branches = self.items(mapping, "Branches", what)
            if not branches:
                self.report(f'{what} needs "Branches": a list of state machines', mapping)
            found = (self.definition(b, f"{prefix}/branch{i}") for i, b in enumerate(branches))
            return tuple(d for d in found if d is not None)
        if kind == "Map":
            node = mapping.get("ItemProcessor") or mapping.get("Iterator")
            if not isinstance(node, Mapping):
                self.report(
                    f'{what} needs "ItemProcessor": the state machine run per item', mapping
                )
                return ()
            nested = self.definition(node, f"{prefix}/iterator")
            return () if nested is None else (nested,)
        return ()
