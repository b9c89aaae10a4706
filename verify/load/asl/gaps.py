"""What the ASL mapping does not express: ``asl-not-modelled`` info findings.

Each construct is reported once per file, at its first occurrence, naming the states
that use it, so that a user knows what the check did and did not prove. Nothing is
dropped silently: a key the mapping does not know is reported too.
"""

from __future__ import annotations

from dataclasses import dataclass

from statewright.verify.findings import Finding, Severity
from statewright.verify.load.asl.definition import AslState, Definition
from statewright.verify.load.asl.mapping import PLACEHOLDER_DELAY, AslOptions
from statewright.verify.model import Location

__all__ = ["NOT_MODELLED", "gap_findings"]

NOT_MODELLED = "asl-not-modelled"
"""The rule id of these findings; :mod:`statewright.verify.rules.asl` documents it."""

DATA_FIELDS = frozenset(
    {
        "InputPath",
        "OutputPath",
        "Parameters",
        "ResultPath",
        "ResultSelector",
        "Result",
        "ItemsPath",
        "ItemSelector",
        "Items",
        "Arguments",
        "Output",
        "Assign",
        "QueryLanguage",
    }
)
SETTINGS_FIELDS = frozenset(
    {
        "Credentials",
        "ItemReader",
        "ItemBatcher",
        "ResultWriter",
        "MaxConcurrency",
        "MaxConcurrencyPath",
        "ToleratedFailurePercentage",
        "ToleratedFailurePercentagePath",
        "ToleratedFailureCount",
        "ToleratedFailureCountPath",
        "Label",
        "ProcessorConfig",
    }
)
FLOW_FIELDS = frozenset(
    {
        "Type",
        "Comment",
        "Next",
        "End",
        "Resource",
        "TimeoutSeconds",
        "TimeoutSecondsPath",
        "HeartbeatSeconds",
        "HeartbeatSecondsPath",
        "Retry",
        "Catch",
        "Choices",
        "Default",
        "Seconds",
        "SecondsPath",
        "Timestamp",
        "TimestampPath",
        "Error",
        "ErrorPath",
        "Cause",
        "CausePath",
        "Branches",
        "Iterator",
        "ItemProcessor",
        "StartAt",
        "States",
        "Version",
    }
)
"""Keys the mapping reads (or that change nothing: ``Comment``, ``Version``)."""


@dataclass(frozen=True, slots=True)
class _Use:
    """One use of a construct: the state (or definition part) and where."""

    name: str
    location: Location


_MESSAGES = {
    "retry": "Retry on {names} is not modelled: MaxAttempts bounds every retry, so each "
    "error still ends where its Catch leads (or fails the execution), and that is what is "
    "checked; the attempts are not (their worst-case delay is: retry-unbounded-delay)",
    "choice": "the Choice rules of {names} test data, which statewright does not model: "
    "every rule (and the Default) is taken as possible",
    "data": "data ({fields}) on {names} is not modelled: the check covers the control flow",
    "delay": "the delays of {names} ({fields}) are not written out (they come from data, "
    "or from a ${{...}} substitution): their timed exits use "
    f"{PLACEHOLDER_DELAY.text} as a placeholder",
    "heartbeat": "HeartbeatSeconds on {names}: a heartbeat restarts that timer, but the "
    "model has no heartbeat event, so the heartbeat timeout is a timed exit after "
    "HeartbeatSeconds from entry",
    "branches": "the branches and iterators of {names} are checked as machines of their "
    "own; the state itself succeeds or fails with States.BranchFailed, and how a branch's "
    "outcome reaches it is not modelled",
    "settings": "the settings {fields} of {names} are not modelled",
    "fail": "the error or cause of {names} comes from data ({fields}): the reason is "
    "named after the state",
    "timeout": "the execution's TimeoutSeconds is modelled as a timed exit of each Task, "
    "Wait, Parallel and Map state, counted from the state's entry instead of the "
    "execution's start",
    "human": "every error out of {names}, marked human, is taken as the reviewer's answer "
    "(SendTaskFailure); a failure to send the request is not told apart",
    "unknown": "statewright does not know the keys {fields} of {names}; they are ignored",
}


def gap_findings(top: Definition, options: AslOptions) -> tuple[Finding, ...]:
    """One ``asl-not-modelled`` finding per construct of the file the mapping leaves out."""
    gaps = _Gaps()
    for definition in top.walk():
        what = f"the branch {definition.part}" if definition.part else "the state machine"
        for key, at in definition.fields.items():
            if key == "QueryLanguage":
                gaps.note("data", what, at, key)
            elif key not in FLOW_FIELDS | {"TimeoutSeconds", "ProcessorConfig"}:
                gaps.note("unknown", what, at, key)
        for state in definition.states:
            gaps.state(state, options)
    if top.timeout is not None:
        gaps.note("timeout", "the execution", top.timeout.location)
    return gaps.findings()


class _Gaps:
    """The uses of each construct, and the keys that make them up, as found."""

    def __init__(self) -> None:
        self.uses: dict[str, list[_Use]] = {}
        self.fields: dict[str, dict[str, None]] = {}

    def note(self, gap: str, name: str, at: Location, *keys: str) -> None:
        self.uses.setdefault(gap, []).append(_Use(name, at))
        self.fields.setdefault(gap, {}).update(dict.fromkeys(keys))

    def state(self, state: AslState, options: AslOptions) -> None:
        name = f"'{state.name}'"
        for key, at in state.fields.items():
            if key == "Retry":
                self.note("retry", name, at)
            elif key in DATA_FIELDS:
                self.note("data", name, at, key)
            elif key in SETTINGS_FIELDS:
                self.note("settings", name, at, key)
            elif key in ("ErrorPath", "CausePath"):
                self.note("fail", name, at, key)
            elif key not in FLOW_FIELDS:
                self.note("unknown", name, at, key)
        for delay in (state.timeout, state.heartbeat, state.wait):
            if delay is not None and delay.seconds is None:
                self.note("delay", name, delay.location, delay.field)
        if state.heartbeat is not None:
            self.note("heartbeat", name, state.heartbeat.location)
        if state.type == "Choice" and state.choices:
            self.note("choice", name, state.location)
        if state.branches:
            self.note("branches", name, state.location)
        if state.type == "Fail" and (state.error or "").lstrip().startswith("{%"):
            self.note("fail", name, state.location, "Error")
        if options.is_human(state):
            self.note("human", name, state.location)

    def findings(self) -> tuple[Finding, ...]:
        return tuple(self.finding(gap) for gap in _MESSAGES if gap in self.uses)

    def finding(self, gap: str) -> Finding:
        uses = self.uses[gap]
        names = list(dict.fromkeys(u.name for u in uses))
        shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        message = _MESSAGES[gap].format(names=shown, fields=", ".join(self.fields[gap]))
        first = min(uses, key=lambda u: (u.location.line, u.location.column))
        return Finding(NOT_MODELLED, Severity.INFO, message, first.location)
