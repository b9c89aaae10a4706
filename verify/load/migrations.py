"""Read a spec's ``migrations``: how runs of its earlier versions move to it.

:class:`MigrationReader` works beside the loader's spec reader
(:mod:`statewright.verify.load.loader`), reporting through it, once the states and
variables are read. It checks what this spec alone can show (``bad-migration``: the hash
prefix, entries that could match one old spec, values within their variable's domain; a
target state that is not declared is ``unknown-state``) and builds the
:class:`~statewright.verify.model.Migration` entries. What needs the old spec too is proved
by :mod:`statewright.verify.migration`.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from statewright.verify.load.rules import BAD_MIGRATION, SCHEMA
from statewright.verify.load.shape import MIGRATION
from statewright.verify.load.values import suggest
from statewright.verify.load.yamlread import Mapping, Node, Scalar
from statewright.verify.model import Location, Migration, Value, Variable, VarType

if TYPE_CHECKING:
    from statewright.verify.load.loader import SpecReader

__all__ = ["HASH_PREFIX", "MigrationReader", "accepts"]

HASH_PREFIX = re.compile(r"[0-9a-f]{8,64}")
"""A ``from``, lower-cased: a prefix of a sha256 of 8 to 64 hex digits."""


def accepts(variable: Variable, value: object) -> bool:
    """Whether ``value`` is one ``variable`` can hold (its type and bounds)."""
    if variable.type is VarType.BOOL:
        return type(value) is bool
    if variable.type is VarType.ENUM:
        return type(value) is str and value in variable.values
    return type(value) is int and variable.minimum <= value <= variable.maximum


def _domain(variable: Variable) -> str:
    """What a value of ``variable`` must be, for a message."""
    if variable.type is VarType.BOOL:
        return "true or false"
    if variable.type is VarType.ENUM:
        return f"one of {', '.join(variable.values)}"
    return f"a whole number from {variable.minimum} to {variable.maximum}"


class MigrationReader:
    """Reads the ``migrations`` of one spec, reporting through the spec reader."""

    def __init__(self, reader: SpecReader) -> None:
        self.reader = reader

    def report(self, message: str, node: Node) -> None:
        self.reader.report(BAD_MIGRATION, message, node)

    def read(self, node: Node | None) -> tuple[Migration, ...]:
        found: list[tuple[Migration, Node]] = []
        for item in self.reader.sequence(node, "'migrations'"):
            body = self.reader.mapping(item, "a migration")
            if body is None:  # an empty entry (anything else is reported by mapping())
                if isinstance(item, Scalar) and item.value is None:
                    self.reader.report(
                        SCHEMA, "a migration is empty; it needs at least 'from'", item
                    )
                continue
            migration = self.migration(body)
            if migration is None:
                continue
            for earlier, _ in found:
                if migration.source.startswith(earlier.source) or earlier.source.startswith(
                    migration.source
                ):
                    self.report(
                        f"the migration from {migration.source} and the one from "
                        f"{earlier.source} (line {earlier.location.line}) could both match "
                        "one old spec; merge them or remove one",
                        body.get("from") or body,
                    )
                    break
            else:
                found.append((migration, body))
        return tuple(m for m, _ in found)

    def migration(self, body: Mapping) -> Migration | None:
        reader = self.reader
        reader.keys(body, MIGRATION.names, "a migration")
        reader.missing(body, MIGRATION, "a migration")
        locations: dict[str, Location] = {}
        source = self.source(body.get("from"))
        if "from" in body.key_nodes:
            locations["from"] = reader.at(body.values["from"])
        states = self.states(body.get("states"), locations)
        drop = self.drop(body.get("drop"), locations)
        values = self.values(body.get("variables"), locations)
        description = reader.text(body.get("description"), "description", optional=True)
        if source is None or states is None or values is None or drop is None:
            return None
        return Migration(source, reader.at(body), states, values, drop, description, locations)

    def source(self, node: Node | None) -> str | None:
        if node is None:
            return None
        if not isinstance(node, Scalar) or node.value is None or type(node.value) is bool:
            self.report("'from' is the old spec's sha256, or 8 hex digits of it or more", node)
            return None
        text = node.text.strip("'\"").lower()  # digits alone read as a number: its text
        if HASH_PREFIX.fullmatch(text) is None:
            problem = (
                "is not hexadecimal"
                if re.fullmatch(r"[0-9a-f]*", text) is None
                else f"has {len(text)} digits"
            )
            self.report(
                f"'from' {node.text} {problem}: give the old spec's sha256, or a prefix of "
                "it of 8 to 64 hex digits (sha256sum OLD.yaml)",
                node,
            )
            return None
        return text

    def states(
        self, node: Node | None, locations: dict[str, Location]
    ) -> tuple[tuple[str, str], ...] | None:
        table = self.reader.mapping(node, "'states' of a migration")
        if table is None:
            return ()
        pairs: list[tuple[str, str]] = []
        ok = True
        for key, value in table.pairs():
            old = self.reader.upper_name(key, "state")
            new = self.reader.state_ref(value, f"the state old {old} moves to")
            if old is None or new is None:
                ok = False
                continue
            locations[f"states.{old}"] = self.reader.at(key)
            pairs.append((old, new))
        return tuple(pairs) if ok else None

    def drop(self, node: Node | None, locations: dict[str, Location]) -> tuple[str, ...] | None:
        names: list[str] = []
        ok = True
        declared = self.reader.data.variables
        for item in self.reader.sequence(node, "'drop'"):
            name = self.reader.snake_name(item, "variable")
            if name is None:
                ok = False
            elif name in declared:
                self.report(
                    f"'drop' names {name}, which this spec declares: drop only variables it "
                    f"no longer has; to reset {name}, give it a value under 'variables'",
                    item,
                )
                ok = False
            elif name in names:
                self.report(f"'drop' names {name} twice; remove one", item)
                ok = False
            else:
                names.append(name)
                locations[f"drop.{name}"] = self.reader.at(item)
        return tuple(names) if ok else None

    def values(
        self, node: Node | None, locations: dict[str, Location]
    ) -> tuple[tuple[str, Value], ...] | None:
        table = self.reader.mapping(node, "'variables' of a migration")
        if table is None:
            return ()
        declared = self.reader.data.variables
        pairs: list[tuple[str, Value]] = []
        ok = True
        for key, item in table.pairs():
            name = self.reader.text(key, "a variable name")
            if name is None:
                ok = False
                continue
            variable = declared.get(name)
            if variable is None:
                hint = suggest(name, declared) or (
                    "; a variable the old spec had and this one lacks goes under 'drop'"
                )
                self.report(f"'variables' sets {name}, which this spec does not declare{hint}", key)
                ok = False
                continue
            value = item.value if isinstance(item, Scalar) else None
            if not accepts(variable, value) or not isinstance(value, int | str):
                shown = item.text if isinstance(item, Scalar) else "a collection"
                self.report(
                    f"the value {shown} for {name} is not {_domain(variable)}, what {name} "
                    "holds in this spec",
                    item,
                )
                ok = False
                continue
            locations[f"variables.{name}"] = self.reader.at(key)
            pairs.append((name, value))
        return tuple(pairs) if ok else None
