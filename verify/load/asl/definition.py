"""An Amazon States Language definition as plain data, read from its positioned nodes.

Only what the mapping to a statewright machine uses is kept as typed fields (the flow:
``Next``, ``End``, ``Catch``, ``Choices``, ``Default``, timeouts, ``Branches``, ...);
every key a state was written with is kept in :attr:`AslState.fields` with its location,
so that the constructs the mapping does not express can be reported where they are.
Every element keeps the :class:`~statewright.verify.model.Location` of its key in the ASL file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from statewright.verify.model import Location

__all__ = [
    "ACTIVITY",
    "CALLBACK_SUFFIX",
    "DECISION",
    "STATE_TYPES",
    "SUBSTITUTION",
    "WHOLE_OUTPUT",
    "AslState",
    "Catcher",
    "ChoiceRule",
    "Definition",
    "Delay",
    "Exit",
    "Retrier",
]

STATE_TYPES = ("Task", "Pass", "Wait", "Choice", "Parallel", "Map", "Succeed", "Fail")
"""Every ``Type`` a state may have."""

CALLBACK_SUFFIX = ".waitForTaskToken"
"""A Task whose ``Resource`` ends with this waits for a task token to come back."""

ACTIVITY = re.compile(r"^arn:[^:]*:states:[^:]*:[^:]*:activity:")
"""A Task whose ``Resource`` is an activity waits for a worker outside the machine."""

WHOLE_OUTPUT = "$"
"""In :attr:`AslState.writes`: the state's result replaces the whole data (a Task,
Parallel or Map without ``ResultPath``), so it may write any name."""

DECISION = re.compile(r"approv|reject|decision|decide|deny|denied|accept|consent|sign.?off", re.I)
"""A Choice field or value that says a person decided (``$.approved``, ``"Rejected"``)."""

SUBSTITUTION = re.compile(r"\$\{[^}]*\}")
"""A ``${Name}`` definition substitution (SAM ``DefinitionSubstitutions``, ``Fn::Sub``,
Terraform ``templatefile``), filled in when the machine is deployed."""


@dataclass(frozen=True, slots=True)
class Delay:
    """A delay written on a state: its seconds, or None when it is not written out (a
    ``...Path`` field, a ``Timestamp``, a JSONata expression or a ``${...}`` definition
    substitution), the field that holds it and where."""

    seconds: int | None
    field: str
    location: Location


@dataclass(frozen=True, slots=True)
class Exit:
    """Where a ``Next``, a Choice rule or a ``Default`` leads, and where it is written."""

    target: str
    location: Location


@dataclass(frozen=True, slots=True)
class Catcher:
    """One entry of a ``Catch`` (at ``location``): the error names it catches and its
    ``Next``."""

    errors: tuple[str, ...]
    next: Exit
    location: Location


@dataclass(frozen=True, slots=True)
class Retrier:
    """One entry of a ``Retry`` (at ``location``), with AWS's defaults for what it leaves
    out; a field that is not a plain number (a JSONata expression) is None."""

    errors: tuple[str, ...]
    location: Location
    interval: int | None = 1
    attempts: int | None = 3
    backoff: float | None = 2.0
    max_delay: int | None = None
    jitter: str = "NONE"


@dataclass(frozen=True, slots=True)
class ChoiceRule:
    """One rule of a Choice: where it leads, and what it tests: the data paths of its
    comparisons (``Variable``, and the ``...Path`` operands) and their operators, with
    the strings it compares with, or its JSONata ``Condition``."""

    next: Exit
    variables: tuple[str, ...] = ()
    operators: tuple[str, ...] = ()
    values: tuple[str, ...] = ()
    condition: str | None = None


@dataclass(frozen=True, slots=True)
class AslState:
    """One state of a definition; ``location`` is its key in ``States``."""

    name: str
    type: str
    location: Location
    next: Exit | None = None
    end: Location | None = None
    resource: str | None = None
    timeout: Delay | None = None
    heartbeat: Delay | None = None
    wait: Delay | None = None
    catchers: tuple[Catcher, ...] = ()
    choices: tuple[Exit, ...] = ()
    default: Exit | None = None
    branches: tuple[Definition, ...] = ()
    error: str | None = None
    cause: str | None = None
    comment: str | None = None
    fields: Mapping[str, Location] = field(default_factory=dict)
    retriers: tuple[Retrier, ...] = ()
    rules: tuple[ChoiceRule, ...] = ()
    writes: frozenset[str] = frozenset()
    """The names of the data the state writes: each key of its ``Parameters``, ``Result``,
    ``ResultSelector``, ``Assign``, ``Arguments`` or ``Output``, each step of its
    ``ResultPath``, and :data:`WHOLE_OUTPUT` when its result replaces all of it."""
    decision: bool = False
    """True for a callback whose result a Choice on an approve/reject-like field decides
    on (:data:`DECISION`): a person's decision."""

    @property
    def placeholder(self) -> bool:
        """True for a Task whose ``Resource`` is only a substitution (``"${ActivityArn}"``,
        a template's ``!Ref``): whether it waits for a callback or a worker is unknown."""
        text = (self.resource or "").strip()
        return self.type == "Task" and SUBSTITUTION.fullmatch(text) is not None

    @property
    def callback(self) -> bool:
        """True for a Task that waits on the outside world: a ``.waitForTaskToken``
        callback or an activity."""
        resource = SUBSTITUTION.sub("x", self.resource or "")
        return self.type == "Task" and (
            resource.endswith(CALLBACK_SUFFIX) or ACTIVITY.match(resource) is not None
        )


@dataclass(frozen=True, slots=True)
class Definition:
    """A state machine, a Parallel branch or a Map iterator: ``StartAt`` and ``States``.

    ``part`` names a nested definition within its file (``""`` for the whole machine,
    ``"Fan out/branch0"``, ``"Fan out/branch0/Each/iterator"``); ``timeout`` is the
    machine's own ``TimeoutSeconds``, which nested definitions inherit.
    """

    part: str
    start: Exit
    states: tuple[AslState, ...]
    location: Location
    timeout: Delay | None = None
    comment: str | None = None
    fields: Mapping[str, Location] = field(default_factory=dict)

    def walk(self) -> Iterator[Definition]:
        """This definition, then every one nested in it, depth first."""
        yield self
        for state in self.states:
            for nested in state.branches:
                yield from nested.walk()

    def all_states(self) -> Iterator[AslState]:
        """Every state of this definition and of the ones nested in it."""
        return (state for definition in self.walk() for state in definition.states)
