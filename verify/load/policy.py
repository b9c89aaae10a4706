"""Read an approval state's policy keys: ``quorum``, ``separate_from``, ``escalate``, ``bind``.

:func:`read_policy` works beside the loader's spec reader
(:mod:`statewright.verify.load.loader`), reporting through it: it checks each key's shape
(a ``schema`` finding: a quorum that is not a whole number of at least 1, an ``escalate``
without ``after`` or ``to``, a ``bind`` other than ``context``) and builds the
:class:`~statewright.verify.model.Policy` as written. Whether the policy makes sense on
its state (an approval state, an escalation before the timeout, names ``separate_from``
knows) is for the rules of :mod:`statewright.verify.rules.approvals`, which report it
with the state's context.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from statewright.verify.load.rules import SCHEMA
from statewright.verify.load.shape import ESCALATE
from statewright.verify.load.yamlread import Mapping, Node, Scalar
from statewright.verify.model import Escalation, Policy, Separation

if TYPE_CHECKING:
    from statewright.verify.load.loader import SpecReader

__all__ = ["POLICY_KEYS", "read_policy"]

POLICY_KEYS = ("quorum", "separate_from", "escalate", "bind")
"""The keys of a state that make its approval policy."""


def read_policy(reader: SpecReader, body: Mapping, what: str) -> Policy | None:
    """The policy keys of the state ``body`` (``what`` names it), or None without any."""
    present = [body.key_nodes[key] for key in POLICY_KEYS if key in body.key_nodes]
    if not present:
        return None
    first = min(present, key=lambda node: (node.line, node.column))
    return Policy(
        reader.at(first),
        quorum=_quorum(reader, body.get("quorum"), what),
        separate_from=_separations(reader, body.get("separate_from"), what),
        escalate=_escalation(reader, body.get("escalate"), what),
        bind=_bind(reader, body.get("bind"), what),
    )


def _quorum(reader: SpecReader, node: Node | None, what: str) -> int | None:
    if node is None:
        return None
    value = node.value if isinstance(node, Scalar) else None
    if type(value) is not int or value < 1:
        reader.report(
            SCHEMA,
            f"the quorum of {what} is how many distinct actors must approve, a whole "
            f"number of at least 1, e.g. quorum: 2",
            node,
        )
        return None
    return value


def _separations(reader: SpecReader, node: Node | None, what: str) -> tuple[Separation, ...]:
    found: list[Separation] = []
    for item in reader.sequence(node, f"'separate_from' of {what}"):
        name = reader.text(item, f"a name in 'separate_from' of {what}")
        if name is not None:
            found.append(Separation(name, reader.at(item)))
    return tuple(found)


def _escalation(reader: SpecReader, node: Node | None, what: str) -> Escalation | None:
    body = reader.mapping(node, f"'escalate' of {what}")
    if isinstance(node, Scalar) and node.value is None:
        reader.report(
            SCHEMA,
            f"'escalate' of {what} is empty; write escalate: {{after: 24h, to: [director]}} "
            "or remove it",
            node,
        )
    if body is None or node is None:
        return None
    where = f"'escalate' of {what}"
    reader.keys(body, ESCALATE.names, where)
    after = reader.duration(body.get("after"))
    roles = tuple(
        role
        for item in reader.sequence(body.get("to"), f"the roles {where} widens to")
        if (role := reader.label(item, "reviewer role")) is not None
    )
    given = body.get("after")
    if given is None or (isinstance(given, Scalar) and given.value is None) or not roles:
        reader.report(
            SCHEMA,
            f"{where} needs both after: (a duration shorter than the timeout) and to: "
            "(the roles that join the reviewers), e.g. escalate: {after: 24h, to: [director]}",
            node,
        )
        return None
    if after is None:
        return None  # reader.duration() reported it
    return Escalation(after, roles, reader.at(node))


def _bind(reader: SpecReader, node: Node | None, what: str) -> str | None:
    if node is None:
        return None
    value = node.value if isinstance(node, Scalar) else None
    if value != "context":
        reader.report(
            SCHEMA,
            f"'bind' of {what} can only be 'context' (an approval names the digest of the "
            "context the gate was entered with)",
            node,
        )
        return None
    return "context"
