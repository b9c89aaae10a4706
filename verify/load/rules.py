"""The load rules: problems that stop a spec from being read into the model.

The loader (:mod:`statewright.verify.load`, with :mod:`statewright.verify.load.yamlread` for the
YAML itself) raises these; this module names them and documents them in the registry's format (the
docs' rule reference is built from these blocks). The small value checks they share
(name patterns, durations, "did you mean" suggestions) are in :mod:`statewright.verify.load.values`,
and the shape of each mapping of the format in :mod:`statewright.verify.load.shape`.

Decisions the design left open, fixed here:

- **Names.** States and reasons are UPPER_SNAKE_CASE, the machine and triggers
  snake_case; neither may be a Python keyword. Reviewer roles and stage names are
  free text for people, but must be non-empty, hold no control character (Unicode
  category Cc, which includes tabs and line breaks, nor U+2028/U+2029) and have no
  leading or trailing whitespace.
- **Durations.** ``after`` is one or more ``<integer><unit>`` parts with units ``d``,
  ``h``, ``m``, ``s`` from largest to smallest, each at most once: ``90s``, ``30m``,
  ``72h``, ``7d`` and also ``1h30m``. Every part is positive and the total is at most
  3650 days; ``0s``, ``1h0m``, ``30m1h`` and ``1.5h`` are bad.
- **Shapes.** A transition is ``human`` or timed (``after``), never both; an ``always``
  transition is neither. A ``from`` list is not empty. These are ``schema`` findings.
- **Tags.** An unsupported YAML tag, or a value its standard tag cannot read
  (``!!int abc``), is ``yaml-syntax``: it is a problem with the YAML, not the format.
- **Data.** A problem in a variable's declaration is ``bad-variable`` (its name
  included: variable names and enum values are snake_case, not a word of the expression
  language, and no variable is also an enum value); a problem in an expression, in a
  ``set`` key or in a property's ``requires`` trigger is ``bad-expression``, at the
  character it is about. A ``when`` on a timed transition, or an expression written as
  a list or a mapping, is ``schema``.
- **Migrations.** A problem in an entry of ``migrations`` that this spec alone shows is
  ``bad-migration`` (a ``from`` that is no hex prefix of 8 to 64 digits, two entries that
  could match one old spec, a value outside its variable's type or bounds, a variable
  named twice); a state it maps to that is not declared is ``unknown-state``. What
  needs the old spec too is proved by ``statewright migrate``
  (:mod:`statewright.verify.migration`).
"""

from __future__ import annotations

from statewright.verify.registry import register_load_rule

__all__ = [
    "BAD_DURATION",
    "BAD_EXPRESSION",
    "BAD_MIGRATION",
    "BAD_VARIABLE",
    "DUPLICATE_KEY",
    "INVALID_NAME",
    "LOAD_RULES",
    "SCHEMA",
    "UNKNOWN_REASON",
    "UNKNOWN_STATE",
    "YAML_SYNTAX",
]

YAML_SYNTAX = "yaml-syntax"
DUPLICATE_KEY = "duplicate-key"
SCHEMA = "schema"
INVALID_NAME = "invalid-name"
UNKNOWN_STATE = "unknown-state"
BAD_DURATION = "bad-duration"
UNKNOWN_REASON = "unknown-reason"
BAD_VARIABLE = "bad-variable"
BAD_EXPRESSION = "bad-expression"
BAD_MIGRATION = "bad-migration"

LOAD_RULES = (
    YAML_SYNTAX,
    DUPLICATE_KEY,
    SCHEMA,
    INVALID_NAME,
    UNKNOWN_STATE,
    BAD_DURATION,
    UNKNOWN_REASON,
    BAD_VARIABLE,
    BAD_EXPRESSION,
    BAD_MIGRATION,
)

register_load_rule(
    YAML_SYNTAX,
    """
    The file must be readable as one YAML document whose top level is a mapping.

    This covers text that is not UTF-8 or holds control characters (binary files),
    unparseable YAML, nesting deeper than 200 levels, aliases that expand the document
    far beyond its size (alias bombs), unsupported tags such as ``!!python/object``,
    a file that cannot be read, and a top level that is not a mapping.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states: {CLOSED: {final: true}
        transitions: []

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states: {CLOSED: {final: true}}
        transitions: []
    """,
)

register_load_rule(
    DUPLICATE_KEY,
    """
    No mapping may repeat a key: a second state, reason or transition key of the same name.

    YAML parsers usually keep the last value silently; statewright reports the second
    key instead, at any level.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {kind: running}
          CLOSED: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: push}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: push}
    """,
)

register_load_rule(
    SCHEMA,
    """
    The spec must have the format's shape: known keys, the right types, every required key.

    Required are ``statewright`` (the format version, 1), ``machine``, ``initial`` and a
    non-empty ``states``; a transition needs ``from``, ``to`` and ``trigger``. A
    transition is ``human`` or timed (``after``), not both, and an ``always`` transition
    is neither.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {form: CLOSED, to: OPEN, trigger: push}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: push}
    """,
)

register_load_rule(
    INVALID_NAME,
    """
    Names must follow the format's conventions, so that generated code can use them.

    States and reasons are UPPER_SNAKE_CASE, the machine and triggers snake_case, and
    neither is a Python keyword; reviewer roles and stage names are non-empty printable
    text without leading or trailing spaces.

    Fails:

        statewright: 1
        machine: door
        initial: Closed
        states:
          Closed: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: Closed, to: OPEN, trigger: push}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: push}
    """,
)

register_load_rule(
    UNKNOWN_STATE,
    """
    Every state named by ``initial``, ``from`` or ``to`` must be declared under ``states``.

    A glob in ``from`` must match at least one declared state other than the
    transition's target. When several places name a state that is not declared and a
    declared state that nothing names is close to it, the declaration is the likely typo:
    it gets a finding of its own, and the uses follow from it.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPENED, trigger: push}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: push}
    """,
)

register_load_rule(
    BAD_DURATION,
    """
    An ``after`` delay must be a positive duration such as ``90s``, ``30m``, ``72h``, ``7d``.

    Parts may be combined from the largest unit to the smallest (``1h30m``); zero, a
    number without a unit, fractions and delays over 3650 days are refused.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: timer, after: 0s}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          OPEN: {final: true}
        transitions:
          - {from: CLOSED, to: OPEN, trigger: timer, after: 30s}
    """,
)

register_load_rule(
    UNKNOWN_REASON,
    """
    Every ``reason`` on a transition must be declared under ``reasons``.

    Fails:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          JAMMED: {kind: failed, final: true}
        transitions:
          - {from: CLOSED, to: JAMMED, trigger: push, reason: STUCK}
        reasons:
          JAMMED_HINGE: {recovery: [Oil the hinge]}

    Passes:

        statewright: 1
        machine: door
        initial: CLOSED
        states:
          CLOSED: {kind: idle}
          JAMMED: {kind: failed, final: true}
        transitions:
          - {from: CLOSED, to: JAMMED, trigger: push, reason: STUCK}
        reasons:
          STUCK: {recovery: [Oil the hinge]}
    """,
)

register_load_rule(
    BAD_VARIABLE,
    """
    A variable must be declared with its type, bounds and an initial value within them.

    ``type`` is ``int`` (with whole-number ``min`` and ``max``, at most 64 bits), ``bool``
    or ``enum`` (with ``values``, distinct snake_case names); ``initial`` is required and
    within bounds. Names are snake_case and not words of the expression language (``and``,
    ``or``, ``not``, ``in``, ``true``, ``false``, ``state``), and no variable is also a
    value of an enum.

    Fails:

        statewright: 1
        machine: retry
        initial: RUNNING
        variables:
          attempts: {type: int, min: 0, max: 3, initial: 5}
        states:
          RUNNING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: RUNNING, to: DONE, trigger: finish}

    Passes:

        statewright: 1
        machine: retry
        initial: RUNNING
        variables:
          attempts: {type: int, min: 0, max: 3, initial: 0}
        states:
          RUNNING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: RUNNING, to: DONE, trigger: finish}
    """,
)

register_load_rule(
    BAD_EXPRESSION,
    """
    An expression must parse and type-check: known names, and operators on their types.

    Expressions are ``when`` guards, the values of ``set`` and ``always`` properties:
    whole numbers, ``true``/``false``, enum values, variables, ``+ -`` on ints,
    comparisons, ``and or not``, parentheses and ``x in [a, b]``. A guard and an ``always``
    are true or false; a ``set`` value has its variable's type. The finding points at the
    character at fault inside the expression.

    Fails:

        statewright: 1
        machine: retry
        initial: RUNNING
        variables:
          attempts: {type: int, min: 0, max: 3, initial: 0}
        states:
          RUNNING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - from: RUNNING
            to: RUNNING
            trigger: retry
            when: attempts < 3
            set: {attempts: attemps + 1}
          - {from: RUNNING, to: DONE, trigger: finish}

    Passes:

        statewright: 1
        machine: retry
        initial: RUNNING
        variables:
          attempts: {type: int, min: 0, max: 3, initial: 0}
        states:
          RUNNING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - from: RUNNING
            to: RUNNING
            trigger: retry
            when: attempts < 3
            set: {attempts: attempts + 1}
          - {from: RUNNING, to: DONE, trigger: finish}
    """,
)

register_load_rule(
    BAD_MIGRATION,
    """
    An entry of ``migrations`` must name an old spec by a hash prefix and give values this
    spec accepts.

    ``from`` is the sha256 of the old spec file or a prefix of it, 8 to 64 hex digits, and
    no two entries may match the same old spec (one ``from`` a prefix of another). A
    value under ``variables`` is one of this spec's variables and lies within its type
    and bounds; a name under ``drop`` is a variable this spec no longer declares (to
    reset one it keeps, give it a value instead). What needs the old spec as well (an
    old state with no place here, a run stranded after the move) is proved by
    ``statewright migrate``.

    Fails:

        statewright: 1
        machine: review
        initial: DRAFTING
        variables:
          revisions: {type: int, min: 0, max: 2, initial: 0}
        states:
          DRAFTING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: DRAFTING, to: DONE, trigger: finish}
        migrations:
          - from: 3b76db81
            variables: {revisions: 3}

    Passes:

        statewright: 1
        machine: review
        initial: DRAFTING
        variables:
          revisions: {type: int, min: 0, max: 2, initial: 0}
        states:
          DRAFTING: {kind: running}
          DONE: {kind: complete, final: true}
        transitions:
          - {from: DRAFTING, to: DONE, trigger: finish}
        migrations:
          - from: 3b76db81
            variables: {revisions: 0}
    """,
)
