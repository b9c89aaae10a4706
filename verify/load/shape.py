"""The shape of a spec, stated once: every mapping of the format, its keys and their values.

Each mapping of the format (the spec itself, a state, a transition, a reason, a variable,
a property, and the small ``rollback``, ``precedence`` and ``leads_to`` inside them) is a
:class:`Shape`: its keys in order, each a :class:`Key` with its value's kind (a JSON
Schema fragment, built from the named kinds below), whether it is required, its default
and a description for editors. The loader takes the allowed and required keys from here
(:mod:`statewright.verify.load.loader`, :mod:`statewright.verify.load.data`), and
:mod:`statewright.verify.load.schema` renders these shapes as the JSON Schema
``verify/spec.schema.json`` that editors read. The patterns of names and the sets of keywords and
kinds come from the checks that apply them (:mod:`statewright.verify.load.values`,
:mod:`statewright.verify.model`), so they too are stated once.

>>> TRANSITION.names[:3], TRANSITION.required
(('from', 'to', 'trigger'), ('from', 'to', 'trigger'))
"""

from __future__ import annotations

import keyword
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from statewright.verify.load.values import SNAKE, UPPER_SNAKE
from statewright.verify.model import AUTOMATIC_TRIGGER, FORMAT_VERSION, Kind, VarType

__all__ = [
    "AT_MOST",
    "DEFINITIONS",
    "ESCALATE",
    "LEADS_TO",
    "MIGRATION",
    "PRECEDENCE",
    "PROPERTY",
    "REASON",
    "ROLLBACK",
    "SHAPES",
    "SPEC",
    "STATE",
    "TRANSITION",
    "VARIABLE",
    "JSONObject",
    "Key",
    "Shape",
    "list_of",
    "nullable",
    "ref",
]

JSONObject = Mapping[str, object]
"""A JSON Schema fragment: what a value of a key may be."""

_NO_DEFAULT: Final = object()


def ref(name: str) -> JSONObject:
    """A value of the named kind: one of :data:`DEFINITIONS`, or a shape with a name."""
    return {"$ref": f"#/definitions/{name}"}


def nullable(kind: JSONObject) -> JSONObject:
    """``kind``, or empty (null)."""
    return {"anyOf": [kind, {"type": "null"}]}


def list_of(item: JSONObject, *, empty: bool = True, null: bool = False) -> JSONObject:
    """A list of ``item``; ``empty=False``: at least one."""
    kind: dict[str, object] = {"type": ["array", "null"] if null else "array", "items": item}
    if not empty:
        kind["minItems"] = 1
    return kind


def _mapping_of(names: JSONObject, values: JSONObject) -> JSONObject:
    """A mapping (or empty) from names of one kind to values of another."""
    return {"type": ["object", "null"], "propertyNames": names, "additionalProperties": values}


@dataclass(frozen=True, slots=True)
class Key:
    """One key of a mapping: its name, its value's kind and whether it must be there."""

    name: str
    kind: JSONObject
    description: str = ""
    required: bool = False
    default: object = _NO_DEFAULT

    def schema(self) -> dict[str, object]:
        """The JSON Schema of this key's value, with its description and default."""
        node: dict[str, object] = {"description": self.description} if self.description else {}
        node.update(self.kind)
        if self.default is not _NO_DEFAULT:
            node["default"] = self.default
        return node


@dataclass(frozen=True, slots=True)
class Shape:
    """A mapping of the format: its keys in order; ``null`` when an empty value stands
    for an empty mapping; ``rules`` are the JSON Schema keywords for what involves
    several keys (a transition is human or timed, a property says one thing)."""

    name: str
    description: str
    keys: tuple[Key, ...]
    null: bool = False
    rules: JSONObject = field(default_factory=lambda: MappingProxyType({}))
    names: tuple[str, ...] = field(init=False)
    """Every key the mapping may have, in order: any other is a ``schema`` finding."""
    required: tuple[str, ...] = field(init=False)
    """The keys the mapping must have."""

    def __post_init__(self) -> None:
        # Computed once: the loader reads ``names`` for every state and transition.
        object.__setattr__(self, "names", tuple(key.name for key in self.keys))
        object.__setattr__(self, "required", tuple(k.name for k in self.keys if k.required))

    def schema(self) -> dict[str, object]:
        """This mapping as a JSON Schema object."""
        node: dict[str, object] = {
            "description": self.description,
            "type": ["object", "null"] if self.null else "object",
            "additionalProperties": False,
        }
        if self.required:
            node["required"] = list(self.required)
        node["properties"] = {key.name: key.schema() for key in self.keys}
        node.update(self.rules)
        return node


# -- named kinds of value ----------------------------------------------------------------

_TEXT = ref("optionalText")
_LABEL = ref("label")
_UPPER = ref("upperName")
_SNAKE = ref("snakeName")
_EXPRESSION = ref("expression")
_POSITIVE = "[0-9]*[1-9][0-9]*"

DEFINITIONS: Mapping[str, JSONObject] = {
    "upperName": {
        "description": "An UPPER_SNAKE_CASE name.",
        "type": "string",
        "pattern": f"^{UPPER_SNAKE.pattern}$",
    },
    "snakeName": {
        "description": "A snake_case name that is not a Python keyword.",
        "type": "string",
        "pattern": f"^{SNAKE.pattern}$",
        "not": {"enum": [word for word in keyword.kwlist if SNAKE.fullmatch(word)]},
    },
    "label": {
        "description": "A name for people (a reviewer role, a stage): non-empty printable "
        "text without leading or trailing spaces.",
        "type": "string",
        "pattern": "^(?!\\s)(?!.*\\s$)[^\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029]+$",
    },
    "optionalText": {"type": ["string", "null"]},
    "glob": {
        "description": "A glob over state names (fnmatch: *, ?, [...]; case-sensitive). It "
        "never matches the transition's own target, and must match some state.",
        "type": "string",
        "pattern": "[*?\\[]",
    },
    "stateRef": {
        "description": "A declared state, or a glob over state names.",
        "anyOf": [_UPPER, ref("glob")],
    },
    "duration": {
        "description": "A positive delay: whole numbers with units d, h, m, s from largest to "
        "smallest, each at most once, such as 90s, 30m, 72h, 7d or 1h30m. Zero parts are "
        "refused, and so (by the loader only) are delays over 3650 days.",
        "type": "string",
        "pattern": "^(?=.)" + "".join(f"({_POSITIVE}{unit})?" for unit in "dhms") + "$",
    },
    "expression": {
        "description": "An expression: whole numbers, true/false, enum values (bare, or quoted "
        "where the enum is not known), variables, + and - on ints, == != < <= > >=, and, or, "
        "not, parentheses and x in [a, b]; in properties also state and state names. Quote "
        "it in a flow mapping when it holds brackets or commas.",
        "type": ["string", "integer", "boolean"],
    },
    "stateNames": {
        "description": "A state, or a list of states.",
        "anyOf": [_UPPER, list_of(_UPPER, empty=False)],
    },
}
"""The named kinds of value that are not mappings, by their name in the JSON Schema."""

# -- the mappings ------------------------------------------------------------------------

ROLLBACK = Shape(
    "rollback",
    "Who may roll an instance back to an earlier record. Rollback undoes decisions, so it "
    "is a human action: without this key the runtime refuses every rollback.",
    (
        Key(
            "reviewers",
            list_of(_LABEL, empty=False),
            "The roles that may roll an instance back.",
            required=True,
        ),
        Key(
            "keep",
            list_of(_SNAKE, null=True),
            "Variables a rollback carries over unchanged from the configuration it leaves "
            "(budgets, not progress); the others are restored with the state. Empty or "
            "null: none.",
            default=[],
        ),
        Key(
            "max",
            {"type": ["integer", "null"], "minimum": 1},
            "How many rollbacks a run may take; the runtime refuses the one beyond. "
            "Without it (or null), rollbacks are unbounded.",
        ),
    ),
    null=True,  # the loader reads an empty value as no rollback
)

ESCALATE = Shape(
    "escalate",
    "Approval states only: the gate's escalation. After a delay shorter than its timeout, "
    "more roles join its reviewers, recorded as an audit record of its own.",
    (
        Key(
            "after",
            ref("duration"),
            "How long the gate waits before it escalates; shorter than its timeout.",
            required=True,
        ),
        Key(
            "to",
            list_of(_LABEL, empty=False),
            "The roles that join the reviewers once the gate escalates.",
            required=True,
        ),
    ),
)

STATE = Shape(
    "state",
    "A state. An empty value means a state with no kind.",
    (
        Key(
            "kind",
            {"enum": [*(str(kind) for kind in Kind), None]},
            "idle: waiting for input; running: agents working; approval: a human review "
            "gate; waiting: waiting on the outside world (a webhook, an asynchronous API, a "
            "partner system), with a timeout; failed: stopped with a reason code; complete: "
            "finished.",
        ),
        Key(
            "final",
            {"type": "boolean"},
            "Only a final state may have no exits, and a final state has none.",
            default=False,
        ),
        Key(
            "reviewers",
            list_of(_LABEL, null=True),
            "The roles allowed to take the human transitions out of this state.",
            default=[],
        ),
        Key("stage", nullable(_LABEL), "A group name, used for diagram clusters."),
        Key("description", _TEXT, "What the machine does in this state."),
        Key(
            "quorum",
            {"type": "integer", "minimum": 1},
            "Approval states only: how many distinct actors must approve before an approve "
            "exit is taken; one reject rejects.",
            default=1,
        ),
        Key(
            "separate_from",
            {**list_of(_SNAKE, null=True), "uniqueItems": True},
            "Approval states only: who may not approve, of requester and previous_approvers. "
            "requester: the actor of the run's first step; previous_approvers: whoever "
            "approved earlier in the run (rule unknown-separation checks the names).",
            default=[],
        ),
        Key("escalate", ESCALATE.schema()),
        Key(
            "bind",
            {"enum": ["context"]},
            "Approval states only: context binds an approval to the digest (sha256 of the "
            "canonical JSON) of the context the gate was entered with; an approval naming "
            "another digest is refused.",
        ),
    ),
    null=True,
)

TRANSITION = Shape(
    "transition",
    "One transition (or, with a list or glob in 'from', one per source state).",
    (
        Key(
            "from",
            {"anyOf": [ref("stateRef"), list_of(ref("stateRef"), empty=False)]},
            "The source: a state, a list of states, or a glob over state names.",
            required=True,
        ),
        Key("to", _UPPER, "The target state.", required=True),
        Key(
            "trigger",
            _SNAKE,
            f"The one trigger, in snake_case. '{AUTOMATIC_TRIGGER}' is reserved: an automatic "
            "transition, taken as soon as the state is entered.",
            required=True,
        ),
        Key(
            "human",
            {"type": "boolean"},
            "A human transition: it needs an actor with one of the source state's reviewer "
            "roles and a decision record.",
            default=False,
        ),
        Key(
            "after",
            nullable(ref("duration")),
            "A timed transition, fired once the source state has been held this long.",
        ),
        Key(
            "reason",
            nullable(_UPPER),
            "A declared reason code; required on every transition into a failed state.",
        ),
        Key("description", _TEXT, "Why this transition happens."),
        Key(
            "when",
            _EXPRESSION,
            "A guard: the transition is enabled only while this condition holds. Several "
            "transitions may share a source and a trigger when their guards never hold "
            "together. A timed transition takes none.",
        ),
        Key(
            "set",
            _mapping_of(_SNAKE, _EXPRESSION),
            "Effects: each variable named takes the value of its expression, all at once, "
            "computed from the values before the step.",
        ),
    ),
    rules={
        "allOf": [
            {
                "description": "A transition is human or timed, not both.",
                "not": {
                    "required": ["human", "after"],
                    "properties": {"human": {"const": True}, "after": {"type": "string"}},
                },
            },
            {
                "description": "A timed transition takes no guard.",
                "not": {
                    "required": ["after", "when"],
                    "properties": {"after": {"type": "string"}},
                },
            },
            {
                "description": f"An '{AUTOMATIC_TRIGGER}' transition is neither human nor timed.",
                "if": {"properties": {"trigger": {"const": AUTOMATIC_TRIGGER}}},
                "then": {"properties": {"human": {"const": False}, "after": {"type": "null"}}},
            },
        ]
    },
)

REASON = Shape(
    "reason",
    "A failure reason code. An empty value means no description and no recovery steps.",
    (
        Key("description", _TEXT, "What went wrong."),
        Key(
            "recovery",
            list_of({"type": "string"}, null=True),
            "The recovery procedure, step by step.",
            default=[],
        ),
    ),
    null=True,
)

VARIABLE = Shape(
    "variable",
    "A bounded variable: an int with min and max, a bool, or an enum of values.",
    (
        Key(
            "type",
            {"enum": [str(kind) for kind in VarType]},
            "int (with min and max), bool or enum (with values).",
            required=True,
        ),
        Key("min", {"type": "integer"}, "An int's smallest value."),
        Key("max", {"type": "integer"}, "An int's largest value."),
        Key(
            "values",
            {**list_of(_SNAKE, empty=False), "uniqueItems": True},
            "An enum's values, distinct snake_case names.",
        ),
        Key(
            "initial",
            {"type": ["integer", "boolean", "string"]},
            "The value when a run starts; within the bounds.",
            required=True,
        ),
        Key("description", _TEXT, "What the variable counts or records."),
    ),
    rules={
        "allOf": [
            {
                "if": {"properties": {"type": {"const": "int"}}},
                "then": {
                    "required": ["min", "max"],
                    "properties": {"initial": {"type": "integer"}, "values": False},
                },
            },
            {
                "if": {"properties": {"type": {"const": "bool"}}},
                "then": {
                    "properties": {
                        "initial": {"type": "boolean"},
                        "min": False,
                        "max": False,
                        "values": False,
                    }
                },
            },
            {
                "if": {"properties": {"type": {"const": "enum"}}},
                "then": {
                    "required": ["values"],
                    "properties": {"initial": {"type": "string"}, "min": False, "max": False},
                },
            },
        ]
    },
)

PRECEDENCE = Shape(
    "precedence",
    "Every entry into state is preceded by a firing of the trigger requires (or of one of "
    "a list) since the machine last left its initial state.",
    (
        Key("state", ref("stateNames"), required=True),
        Key("requires", {"anyOf": [_SNAKE, list_of(_SNAKE, empty=False)]}, required=True),
    ),
)

LEADS_TO = Shape(
    "leads_to",
    "Every run that is in from (a state or a list) later reaches to (a state or a list): no "
    "cycle and no end avoids it.",
    (
        Key("from", ref("stateNames"), required=True),
        Key("to", ref("stateNames"), required=True),
        Key(
            "within",
            nullable(ref("duration")),
            "A bound on the time from entering from to reaching to (inclusive): each state "
            "rests at most until its earliest after deadline, and one without any fails it.",
        ),
    ),
)

AT_MOST = Shape(
    "at_most",
    "The trigger fires at most times times since the machine last left its initial "
    "state, rollbacks included: a count over the log that a rollback cannot undo.",
    (
        Key("trigger", _SNAKE, "A trigger of a transition.", required=True),
        Key("times", {"type": "integer", "minimum": 0}, "The most firings.", required=True),
    ),
)

PROPERTY = Shape(
    "property",
    "A property: exactly one of always, precedence, leads_to and at_most.",
    (
        Key("description", _TEXT, "What the property promises."),
        Key(
            "always",
            _EXPRESSION,
            "A condition that holds in every reachable configuration (state is the current "
            "state, and bare UPPER_SNAKE names are states).",
        ),
        Key("precedence", PRECEDENCE.schema()),
        Key("leads_to", LEADS_TO.schema()),
        Key("at_most", AT_MOST.schema()),
    ),
    rules={
        "minProperties": 1,
        "oneOf": [
            {"required": ["always"]},
            {"required": ["precedence"]},
            {"required": ["leads_to"]},
            {"required": ["at_most"]},
        ],
    },
)

MIGRATION = Shape(
    "migration",
    "How runs of an earlier version of this spec move to this one. A run of that version "
    "is loaded in its state (renamed by states), its variables kept, those under drop "
    "removed and those under variables set; statewright migrate proves no run is stranded.",
    (
        Key(
            "from",
            {
                "anyOf": [
                    {"type": "string", "pattern": "^[0-9a-fA-F]{8,64}$"},
                    {"type": "integer", "minimum": 10_000_000},
                ]
            },
            "The sha256 of the old spec file, or a prefix of it of at least 8 hex digits: "
            "the spec version every stored run records.",
            required=True,
        ),
        Key(
            "states",
            _mapping_of(_UPPER, _UPPER),
            "Old state -> state of this spec, for renamed or merged states. An old state "
            "not named keeps its name, which this spec must declare.",
            default={},
        ),
        Key(
            "variables",
            _mapping_of(_SNAKE, {"type": ["integer", "boolean", "string"]}),
            "Variable -> value for the variables of this spec an old run lacks (or whose "
            "value it resets); within the variable's type and bounds.",
            default={},
        ),
        Key(
            "drop",
            {**list_of(_SNAKE, null=True), "uniqueItems": True},
            "The old spec's variables this spec no longer declares: their values are "
            "discarded. Every such variable must be named here.",
            default=[],
        ),
        Key("description", _TEXT, "What changed, for the people reading the history."),
    ),
)

SPEC = Shape(
    "spec",
    "A state machine for statewright: named states, transitions with exactly one trigger "
    "each, and failure reason codes with recovery procedures. The loader "
    "(verify/load/loader.py) is the reference; this schema follows it for editors.",
    (
        Key(
            "statewright",
            {"type": "integer", "const": FORMAT_VERSION},
            f"The spec format version. This statewright reads version {FORMAT_VERSION}.",
            required=True,
        ),
        Key(
            "machine",
            _SNAKE,
            "The machine's name, in snake_case and not a Python keyword. It names the "
            "generated module; its class is the PascalCase form.",
            required=True,
        ),
        Key("description", _TEXT, "What the machine is for."),
        Key(
            "initial",
            _UPPER,
            "The state a new machine starts in; one of the declared states.",
            required=True,
        ),
        Key(
            "states",
            {
                "type": "object",
                "minProperties": 1,
                "propertyNames": _UPPER,
                "additionalProperties": ref("state"),
            },
            "Every state the machine can be in, by UPPER_SNAKE_CASE name. At least one.",
            required=True,
        ),
        Key(
            "transitions",
            list_of(ref("transition"), null=True),
            "Every transition, each with exactly one trigger. Anything not declared is impossible.",
            default=[],
        ),
        Key(
            "reasons",
            _mapping_of(_UPPER, ref("reason")),
            "Failure reason codes, each with its recovery procedure. Every reason a "
            "transition names must be declared here.",
            default={},
        ),
        Key("rollback", ROLLBACK.schema()),
        Key(
            "variables",
            _mapping_of(_SNAKE, ref("variable")),
            "Bounded variables, by snake_case name: the checker explores every reachable "
            "configuration (a state and a value of every variable). A spec with variables "
            "is checked by the data rules.",
            default={},
        ),
        Key(
            "properties",
            _mapping_of(_SNAKE, ref("property")),
            "Properties every run must have, by snake_case name; a violated one is a "
            "finding with a counterexample trace.",
            default={},
        ),
        Key(
            "migrations",
            list_of(ref("migration"), null=True),
            "How runs of earlier versions of this spec, still stored, move to this one: "
            "one entry per old version, named by its file's sha256.",
            default=[],
        ),
    ),
)

SHAPES: Mapping[str, Shape] = {
    shape.name: shape
    for shape in (
        SPEC,
        ROLLBACK,
        ESCALATE,
        STATE,
        TRANSITION,
        REASON,
        VARIABLE,
        PRECEDENCE,
        LEADS_TO,
        AT_MOST,
        PROPERTY,
        MIGRATION,
    )
}
"""Every mapping of the format by name: the spec, and what is nested in it."""
