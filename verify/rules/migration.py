"""Migration rules: what ``statewright migrate OLD NEW`` (and ``check --previous OLD``)
reports when the migration a new spec declares would strand runs of the old one.

The proof is :mod:`statewright.verify.migration`; the rules are documented here like the
others, each example two specs separated by a line ``---``: the old spec, then the new one,
whose ``from`` is the old example's sha256 prefix (computed here, so it cannot drift).
"""

from __future__ import annotations

import hashlib
import textwrap

from statewright.verify.findings import Severity
from statewright.verify.registry import Family, register_load_rule

__all__ = ["MIGRATION_RULES", "OLD_EXAMPLE", "example_hash"]

MIGRATION_RULES = (
    "migration-missing",
    "migration-unknown-state",
    "migration-variables",
    "migration-stranded",
    "migration-breaks-property",
)

OLD_EXAMPLE = """\
statewright: 1
machine: review
initial: DRAFTING
states:
  DRAFTING: {kind: running}
  REVIEWING: {kind: running}
  DONE: {kind: complete, final: true}
transitions:
  - {from: DRAFTING, to: REVIEWING, trigger: submit}
  - {from: REVIEWING, to: DONE, trigger: approve}
  - {from: REVIEWING, to: DRAFTING, trigger: revise}
"""
"""The old spec of every example: a draft reviewed until approved."""

_RENAMED = """\
statewright: 1
machine: review
initial: DRAFTING
states:
  DRAFTING: {kind: running}
  IN_REVIEW: {kind: running}
  DONE: {kind: complete, final: true}
transitions:
  - {from: DRAFTING, to: IN_REVIEW, trigger: submit}
  - {from: IN_REVIEW, to: DONE, trigger: approve}
  - {from: IN_REVIEW, to: DRAFTING, trigger: revise}
"""

_BUDGET = """\
statewright: 1
machine: review
initial: DRAFTING
variables:
  revisions: {type: int, min: 0, max: 3, initial: 0}
states:
  DRAFTING: {kind: running}
  REVIEWING: {kind: running}
  DONE: {kind: complete, final: true}
transitions:
  - {from: DRAFTING, to: REVIEWING, trigger: submit}
  - {from: REVIEWING, to: DONE, trigger: approve}
  - from: REVIEWING
    to: DRAFTING
    trigger: revise
    when: revisions < 2
    set: {revisions: revisions + 1}
properties:
  revision_budget: {always: revisions <= 2}
"""

_HELD = """\
statewright: 1
machine: review
initial: DRAFTING
states:
  DRAFTING: {kind: running}
  SUBMITTED: {kind: running}
  HELD: {kind: waiting}
  DONE: {kind: complete, final: true}
transitions:
  - {from: DRAFTING, to: SUBMITTED, trigger: submit}
  - {from: SUBMITTED, to: DONE, trigger: approve}
  - {from: SUBMITTED, to: DRAFTING, trigger: revise}
"""


def example_hash(text: str = OLD_EXAMPLE) -> str:
    """The ``from`` of the examples: 12 hex digits of the old spec's sha256."""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _migrations(*lines: str) -> str:
    return "migrations:\n  - from: " + example_hash() + "".join(f"\n    {x}" for x in lines) + "\n"


def _register(rule_id: str, doc: str, fails: str, passes: str) -> None:
    def shown(new: str) -> str:
        return textwrap.indent(f"{OLD_EXAMPLE}---\n{new}".rstrip(), " " * 4)

    body = (
        f"{textwrap.dedent(doc).strip()}\n\nFails:\n\n{shown(fails)}\n\nPasses:\n\n{shown(passes)}"
    )
    register_load_rule(rule_id, body, severity=Severity.ERROR, family=Family.MIGRATION)


_register(
    "migration-missing",
    """
    The new spec declares a migration from the old one.

    A stored run records the sha256 of its spec file; a new version of the spec must say
    how runs of the old one move (``migrations: - from: <sha256 prefix>``), or they
    cannot be loaded under it.
    """,
    _RENAMED,
    _RENAMED + _migrations("states: {REVIEWING: IN_REVIEW}"),
)

_register(
    "migration-unknown-state",
    """
    Every state an old run can rest in has a place in the new spec.

    An old state the migration does not map under ``states`` keeps its name, which the
    new spec must declare; a state ``states`` maps must be one of the old spec's. The
    finding names the old state and the trace that reaches it.
    """,
    _RENAMED + _migrations("description: nothing moves"),
    _RENAMED + _migrations("states: {REVIEWING: IN_REVIEW}"),
)

_register(
    "migration-variables",
    """
    Every variable of a migrated run has a value the new spec accepts, and none is lost
    silently.

    A variable the old spec lacked takes the value given under the migration's
    ``variables``; an old value the new variable cannot hold (a narrower range, another
    type) needs one too; an old variable the new spec no longer declares is listed under
    ``drop``.
    """,
    _BUDGET + _migrations("description: a revision budget"),
    _BUDGET + _migrations("variables: {revisions: 0}"),
)

_register(
    "migration-stranded",
    """
    The new spec can go on from where every migrated run lands.

    An image is stranded when it is a dead end (a non-final state where no step is
    possible), a trap (no run from it reaches the initial state or a final state), or can
    reach such a configuration that the new spec's own runs never reach. The trace shows
    the old run, the ``migrated`` step, then the new steps to where it is stuck.
    """,
    _HELD + _migrations("states: {REVIEWING: HELD}"),
    _HELD + _migrations("states: {REVIEWING: SUBMITTED}"),
)

_register(
    "migration-breaks-property",
    """
    The new spec's properties hold for migrated runs where its own runs never go.

    An ``always`` false, a ``leads_to`` a run can avoid, or a ``precedence`` state entered
    without its trigger, in a configuration only migrated runs reach. A migrated run counts
    as having fired a ``precedence`` trigger only if every old run to its configuration
    has. Where the new spec's own runs go, its own check reports the property.
    """,
    _BUDGET + _migrations("variables: {revisions: 3}"),
    _BUDGET + _migrations("variables: {revisions: 0}"),
)
