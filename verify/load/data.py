"""Read a spec's data: ``variables``, a transition's ``when`` and ``set``, ``properties``.

:class:`DataReader` works beside the loader's spec reader (:mod:`statewright.verify.load.loader`),
reporting through it. Declarations are checked here (``bad-variable``); expressions are
parsed by :mod:`statewright.verify.load.expressions`, type-checked by
:mod:`statewright.verify.load.exprcheck`, and a problem in one is a ``bad-expression`` finding at
the line and column of the character it is about, inside the YAML scalar
(:mod:`statewright.verify.load.scalars`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from functools import partial
from typing import TYPE_CHECKING

from statewright.verify.load.exprcheck import Scope, assignment, condition
from statewright.verify.load.expressions import KEYWORDS, ExpressionError
from statewright.verify.load.nodes import describe
from statewright.verify.load.rules import BAD_EXPRESSION, BAD_VARIABLE, SCHEMA
from statewright.verify.load.scalars import position_in
from statewright.verify.load.shape import AT_MOST, LEADS_TO, PRECEDENCE, PROPERTY, VARIABLE
from statewright.verify.load.values import check_snake_name, suggest
from statewright.verify.load.yamlread import Mapping, Node, Scalar, Sequence
from statewright.verify.model import (
    Effect,
    Expr,
    Expression,
    Location,
    Property,
    PropertyKind,
    Value,
    Variable,
    VarType,
)

if TYPE_CHECKING:
    from statewright.verify.load.loader import SpecReader

__all__ = ["MAX_INT", "DataReader"]

MAX_INT = 2**63 - 1
"""The largest bound of an int variable (and the smallest is ``-MAX_INT - 1``): 64 bits."""

RESERVED = KEYWORDS | {"state"}
"""Names no variable or enum value may take: the words of the expression language."""


class DataReader:
    """Reads the data keys of one spec, reporting through the spec reader."""

    def __init__(self, reader: SpecReader, text: str) -> None:
        self.reader = reader
        self.text = text
        self.variables: dict[str, Variable] = {}
        self.scope = Scope(self.variables)

    # -- variables ------------------------------------------------------------------

    def read_variables(self, node: Node | None) -> tuple[Variable, ...]:
        """The declared variables; a bad declaration is a ``bad-variable`` finding."""
        table = self.reader.mapping(node, "'variables'")
        if table is None:
            return ()
        declared: list[Variable] = []
        for key, value in table.pairs():
            name = self.reader.text(key, "a variable name")
            if name is None:
                continue
            problem = check_snake_name("variable", name)
            if problem is None and name in RESERVED:
                problem = f"variable '{name}' is a word of the expression language; rename it"
            if problem is not None:
                self.bad_variable(problem, key)
                continue
            variable = self.variable(name, key, value)
            if variable is not None:
                declared.append(variable)
                self.variables[name] = variable
        values = {v: variable for variable in declared for v in variable.values}
        for variable in declared:
            owner = values.get(variable.name)
            if owner is not None:
                self.bad_variable(
                    f"variable '{variable.name}' is also a value of the enum {owner.name}, so "
                    "a bare name could mean either; rename one of them",
                    table.key_nodes[variable.name],
                )
        return tuple(declared)

    def bad_variable(self, message: str, node: Node) -> None:
        self.reader.report(BAD_VARIABLE, message, node)

    def variable(self, name: str, key: Node, node: Node) -> Variable | None:
        what = f"variable '{name}'"
        body = self.reader.mapping(node, what)
        if body is None:
            self.bad_variable(f"{what} needs a type: int, bool or enum", key)
            return None
        self.reader.keys(body, VARIABLE.names, what)
        kind_node = body.get("type")
        kind = self.reader.text(kind_node, f"the type of {what}")
        if kind_node is None or kind is None:
            if kind_node is None:
                self.bad_variable(f"{what} needs a type: int, bool or enum", body)
            return None
        try:
            var_type = VarType(kind)
        except ValueError:
            hint = suggest(kind, [str(t) for t in VarType]) or "; use int, bool or enum"
            self.bad_variable(f"unknown type '{kind}' for {what}{hint}", kind_node)
            return None
        description = self.reader.text(body.get("description"), "description", optional=True)
        location = self.reader.at(key)
        if var_type is VarType.INT:
            return self.int_variable(name, body, location, description)
        self.unexpected(body, ("min", "max"), what, f"a {kind} has no bounds")
        if var_type is VarType.BOOL:
            self.unexpected(body, ("values",), what, "a bool is true or false")
            initial = self.initial(body, what, lambda v: type(v) is bool, "true or false")
            if initial is None:
                return None
            return Variable(name, var_type, initial, location, 0, 1, (), description)
        values = self.enum_values(body, what)
        if values is None:
            return None
        initial = self.initial(body, what, lambda v: v in values, f"one of {', '.join(values)}")
        if initial is None:
            return None
        return Variable(name, var_type, initial, location, 0, len(values) - 1, values, description)

    def unexpected(self, body: Mapping, keys: tuple[str, ...], what: str, why: str) -> None:
        for key in keys:
            if key in body.values:
                self.bad_variable(f"'{key}' does not apply to {what}: {why}", body.key_nodes[key])

    def int_variable(
        self, name: str, body: Mapping, location: Location, description: str | None
    ) -> Variable | None:
        what = f"variable '{name}'"
        self.unexpected(body, ("values",), what, "an int has min and max")
        bounds = [self.bound(body, key, what) for key in ("min", "max")]
        low, high = bounds
        if low is None or high is None:
            return None
        if low > high:
            self.bad_variable(f"{what} has min {low} above max {high}; swap them", body)
            return None
        initial = self.initial(
            body,
            what,
            lambda v: type(v) is int and low <= v <= high,
            f"a whole number from {low} to {high}",
        )
        if initial is None:
            return None
        return Variable(name, VarType.INT, initial, location, low, high, (), description)

    def bound(self, body: Mapping, key: str, what: str) -> int | None:
        node = body.get(key)
        if node is None:
            self.bad_variable(f"{what} is an int and needs '{key}', a whole number", body)
            return None
        value = node.value if isinstance(node, Scalar) else None
        if type(value) is not int:
            self.bad_variable(f"'{key}' of {what} must be a whole number", node)
            return None
        if not -MAX_INT - 1 <= value <= MAX_INT:
            self.bad_variable(f"'{key}' of {what} is beyond 64 bits; use a smaller bound", node)
            return None
        return value

    def enum_values(self, body: Mapping, what: str) -> tuple[str, ...] | None:
        node = body.get("values")
        items = self.reader.sequence(node, f"the values of {what}")
        if node is None or not items:
            self.bad_variable(
                f"{what} is an enum and needs 'values', a list of snake_case names",
                body if node is None else node,
            )
            return None
        found: list[str] = []
        for item in items:
            value = self.reader.text(item, f"a value of {what}")
            if value is None:
                return None
            problem = check_snake_name("enum value", value)
            if problem is None and value in RESERVED:
                problem = f"enum value '{value}' is a word of the expression language; rename it"
            if problem is None and value in found:
                problem = f"enum value '{value}' is listed twice; remove one"
            if problem is not None:
                self.bad_variable(problem, item)
                return None
            found.append(value)
        return tuple(found)

    def initial(
        self, body: Mapping, what: str, accepts: Callable[[Value], bool], expected: str
    ) -> Value | None:
        node = body.get("initial")
        if node is None:
            self.bad_variable(f"{what} needs an initial value: {expected}", body)
            return None
        value = node.value if isinstance(node, Scalar) else None
        if isinstance(value, int | str) and accepts(value):
            return value
        shown = node.text if isinstance(node, Scalar) else "a collection"
        self.bad_variable(f"the initial value {shown} of {what} is not {expected}", node)
        return None

    # -- expressions ----------------------------------------------------------------

    def expression(
        self, node: Node | None, what: str, check: Callable[[str], Expr]
    ) -> Expression | None:
        """The checked expression ``node`` holds; a finding (and None) if it has a problem."""
        if node is None:
            return None
        if not isinstance(node, Scalar) or node.value is None:
            self.reader.report(
                SCHEMA,
                f"{what} must be an expression such as 'attempts < 3', written as text",
                node,
            )
            return None
        text = node.text
        try:
            tree = check(text)
        except ExpressionError as error:
            line, column = position_in(self.text, node.line, node.column, text, error.offset)
            location = Location(self.reader.file, line, column)
            self.reader.report_at(BAD_EXPRESSION, f"in {what}: {error.message}", location)
            return None
        return Expression(text, tree, self.reader.at(node))

    def when(self, node: Node | None) -> Expression | None:
        return self.expression(node, "'when'", lambda text: condition(text, self.scope))

    def effects(self, node: Node | None) -> tuple[Effect, ...]:
        body = self.reader.mapping(node, "'set'")
        if body is None:
            return ()
        effects: list[Effect] = []
        for key, value in body.pairs():
            name = self.reader.text(key, "a variable in 'set'")
            if name is None:
                continue
            variable = self.variables.get(name)
            if variable is None:
                hint = suggest(name, self.variables) or "; declare it under variables"
                self.reader.report(
                    BAD_EXPRESSION, f"'set' assigns '{name}', which is not a variable{hint}", key
                )
                continue
            check = partial(assignment, variable=variable, scope=self.scope)
            expression = self.expression(value, f"'set' of {name}", check)
            if expression is not None:
                effects.append(Effect(name, expression))
        return tuple(effects)

    # -- properties -----------------------------------------------------------------

    def read_properties(
        self, node: Node | None, states: Collection[str], triggers: Collection[str]
    ) -> tuple[Property, ...]:
        table = self.reader.mapping(node, "'properties'")
        if table is None:
            return ()
        scope = Scope(self.variables, states)
        found: list[Property] = []
        for key, value in table.pairs():
            name = self.reader.snake_name(key, "property")
            body = self.reader.mapping(value, f"property '{name}'")
            if name is None or body is None:
                if body is None and name is not None:
                    self.reader.report(SCHEMA, self.shape_message(name), key)
                continue
            found.extend(self.property(name, key, body, scope, triggers))
        return tuple(found)

    @staticmethod
    def shape_message(name: str) -> str:
        return (
            f"property '{name}' says one thing: always: EXPR, precedence: {{state: S, "
            "requires: trigger}, leads_to: {from: A, to: B}, or at_most: {trigger: t, "
            "times: N}"
        )

    def property(
        self, name: str, key: Node, body: Mapping, scope: Scope, triggers: Collection[str]
    ) -> list[Property]:
        what = f"property '{name}'"
        self.reader.keys(body, PROPERTY.names, what)
        kinds = [kind for kind in PropertyKind if kind.value in body.values]
        if len(kinds) != 1:
            self.reader.report(SCHEMA, self.shape_message(name), body if kinds else key)
            return []
        (kind,) = kinds
        description = self.reader.text(body.get("description"), "description", optional=True)
        location = self.reader.at(key)
        node = body.values[kind.value]
        if kind is PropertyKind.ALWAYS:
            invariant = self.expression(node, what, lambda text: condition(text, scope))
            if invariant is None:
                return []
            return [Property(name, kind, location, invariant=invariant, description=description)]
        inner = self.reader.mapping(node, f"'{kind.value}' of {what}")
        if inner is None:
            self.reader.report(SCHEMA, self.shape_message(name), node)
            return []
        if kind is PropertyKind.PRECEDENCE:
            self.reader.keys(inner, PRECEDENCE.names, f"'precedence' of {what}")
            states = self.states(inner, "state", what)
            required = self.triggers(inner, what, triggers)
            if states is None or required is None:
                return []
            return [Property(name, kind, location, None, states, required, (), description)]
        if kind is PropertyKind.AT_MOST:
            return self.at_most(name, location, inner, triggers, description)
        self.reader.keys(inner, LEADS_TO.names, f"'leads_to' of {what}")
        sources = self.states(inner, "from", what)
        targets = self.states(inner, "to", what)
        bound = inner.get("within")
        within = self.reader.duration(bound, "within")
        absent = bound is None or (isinstance(bound, Scalar) and bound.value is None)
        unread = within is None and not absent
        if sources is None or targets is None or unread:
            return []
        return [Property(name, kind, location, None, sources, (), targets, description, within)]

    def at_most(
        self,
        name: str,
        location: Location,
        inner: Mapping,
        declared: Collection[str],
        description: str | None,
    ) -> list[Property]:
        """``at_most: {trigger: t, times: N}``: a declared trigger, a count from 0."""
        what = f"property '{name}'"
        self.reader.keys(inner, AT_MOST.names, f"'at_most' of {what}")
        trigger_node = self.reader.required(inner, "trigger", f"'at_most' of {what}")
        times_node = self.reader.required(inner, "times", f"'at_most' of {what}")
        trigger = None if trigger_node is None else self.reader.snake_name(trigger_node, "trigger")
        if trigger is not None and trigger not in declared:
            assert trigger_node is not None
            hint = suggest(trigger, declared) or "; name a trigger of a transition"
            self.reader.report(
                BAD_EXPRESSION,
                f"{what} counts trigger '{trigger}', which no transition has{hint}",
                trigger_node,
            )
            trigger = None
        times = times_node.value if isinstance(times_node, Scalar) else None
        if times_node is not None and (type(times) is not int or times < 0):
            self.reader.report(
                SCHEMA,
                f"'times' of {what} is how many firings a run may take, a whole number from 0, "
                f"not {describe(times_node)}",
                times_node,
            )
        if trigger is None or type(times) is not int or times < 0:
            return []
        return [
            Property(
                name,
                PropertyKind.AT_MOST,
                location,
                triggers=(trigger,),
                times=times,
                description=description,
            )
        ]

    def names(self, parent: Mapping, key: str, what: str) -> list[tuple[str, Node]] | None:
        """The names under ``key``: one name or a non-empty list of them."""
        node = self.reader.required(parent, key, what)
        if node is None:
            return None
        items = node.items if isinstance(node, Sequence) else [node]
        if not items:
            self.reader.report(SCHEMA, f"'{key}' of {what} is an empty list; name one", node)
            return None
        found = [(self.reader.text(item, f"'{key}' of {what}"), item) for item in items]
        named = [(name, item) for name, item in found if name is not None]
        return named if len(named) == len(found) else None

    def states(self, parent: Mapping, key: str, what: str) -> tuple[str, ...] | None:
        named = self.names(parent, key, what)
        if named is None:
            return None
        found = [self.reader.state_ref(item, f"'{key}' of {what}") for _, item in named]
        states = [state for state in found if state is not None]
        return tuple(dict.fromkeys(states)) if len(states) == len(found) else None

    def triggers(
        self, parent: Mapping, what: str, declared: Collection[str]
    ) -> tuple[str, ...] | None:
        named = self.names(parent, "requires", what)
        if named is None:
            return None
        ok = True
        for trigger, item in named:
            if trigger not in declared:
                hint = suggest(trigger, declared) or "; name a trigger of a transition"
                self.reader.report(
                    BAD_EXPRESSION,
                    f"{what} requires trigger '{trigger}', which no transition has{hint}",
                    item,
                )
                ok = False
        return tuple(dict.fromkeys(t for t, _ in named)) if ok else None
