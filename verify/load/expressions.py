"""The expression language of ``when``, ``set`` and ``always``: a small, safe parser.

Nothing here evaluates anything and nothing reaches Python's own parser: the text is cut
into tokens by one regular expression and read by recursive descent into a tree of
positioned nodes (:class:`Parsed`), which :mod:`statewright.verify.load.exprcheck` then type-checks
into the model's :data:`~statewright.verify.model.Expr`. The grammar, loosest first::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | comparison
    comparison := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum
                      | ["not"] "in" "[" [atom ("," atom)*] "]")?
    sum        := unary (("+" | "-") unary)*
    unary      := "-" unary | atom
    atom       := INT | "true" | "false" | NAME | 'TEXT' | "TEXT" | "(" expr ")"

Comparisons do not chain (``0 < x < 3`` is an error: write ``0 < x and x < 3``). The
tree is at most :data:`MAX_DEPTH` operators deep (a chain ``a + b + c`` is a tree as deep
as it has operators), so that nothing that walks it or compiles it from Python, here or
in generated code, meets Python's recursion or parser limits. A
problem is an :class:`ExpressionError` with the offset of the character it is about, so
that the loader can point at the line and column inside the spec.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COMPARISONS",
    "KEYWORDS",
    "MAX_DEPTH",
    "MAX_EXPRESSION_LENGTH",
    "MAX_NESTING",
    "ExpressionError",
    "Parsed",
    "parse",
]

KEYWORDS = frozenset({"and", "or", "not", "in", "true", "false"})
"""Words of the language: no variable or enum value may be called so."""

COMPARISONS = frozenset({"==", "!=", "<", "<=", ">", ">="})

MAX_EXPRESSION_LENGTH = 2_000
"""The longest expression read, in characters (a guard is a line or two)."""

MAX_NESTING = 50
"""The deepest nesting of parentheses and operators read (the parser recurses)."""

MAX_DEPTH = 128
"""The deepest tree read, in operators: each operator of a chain (``a + b + c``) is one
level, as it is in the Python the explorer and the generated runtimes compile, where
Python allows 200 nested parentheses."""

_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<int>[0-9]+)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<text>'[^'\n]*'|"[^"\n]*")
      | (?P<op>==|!=|<=|>=|<|>|\+|-|\(|\)|\[|\]|,)
    """,
    re.VERBOSE,
)


class ExpressionError(ValueError):
    """A problem in an expression: what is wrong and what to do, at ``offset``."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


ParsedKind = Literal["int", "bool", "name", "text", "unary", "binary", "in", "not in"]
"""The kinds of parsed node, a closed set."""


@dataclass(frozen=True, slots=True)
class Parsed:
    """A node of the parsed, not yet typed, tree.

    ``kind`` is ``int``, ``bool``, ``name`` (a bare word), ``text`` (a quoted word),
    ``unary``, ``binary``, ``in`` or ``not in``; ``value`` holds the literal, the word or
    the operator; ``at`` is the offset of the node's first character (of an operator,
    for ``unary`` and ``binary``).
    """

    kind: ParsedKind
    value: int | bool | str
    at: int
    args: tuple[Parsed, ...] = ()
    end: int = 0
    height: int = 1
    """How many levels deep the tree is (a leaf: 1)."""


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str
    text: str
    at: int


def _tokens(text: str) -> list[_Token]:
    found: list[_Token] = []
    at = 0
    while at < len(text):
        match = _TOKEN.match(text, at)
        if match is None:
            char = text[at]
            hint = _CHAR_HINTS.get(char, "")
            raise ExpressionError(f"unexpected character {char!r}{hint}", at)
        kind = match.lastgroup
        assert kind is not None
        if kind != "space":
            found.append(_Token(kind, match.group(), at))
        at = match.end()
    found.append(_Token("end", "", len(text)))
    return found


_CHAR_HINTS = {
    "=": "; compare with '=='",
    "!": "; write 'not x' or '!='",
    "&": "; write 'and'",
    "|": "; write 'or'",
    "*": "; only + and - are allowed on ints",
    "/": "; only + and - are allowed on ints",
    "%": "; only + and - are allowed on ints",
    ".": "; there are no attributes or fractions, only names and whole numbers",
    "'": "; close the quoted value on the same line",
    '"': "; close the quoted value on the same line",
}


def parse(text: str) -> Parsed:
    """The parsed tree of ``text``; :class:`ExpressionError` at the first problem.

    >>> parse("attempts < 3").kind, parse("attempts < 3").value
    ('binary', '<')
    >>> parse("x <")
    Traceback (most recent call last):
    ...
    statewright.verify.load.expressions.ExpressionError: the expression ends too early; ...
    """
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise ExpressionError(
            f"the expression is longer than {MAX_EXPRESSION_LENGTH} characters; split the "
            "condition or simplify it",
            MAX_EXPRESSION_LENGTH,
        )
    if not text.strip():
        raise ExpressionError("the expression is empty; write a condition such as 'x < 3'", 0)
    return _Parser(_tokens(text)).whole()


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0
        self.depth = 0

    @property
    def next(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        self.at += 1
        return token

    def word(self, word: str) -> bool:
        token = self.next
        return token.kind == "name" and token.text == word

    def op(self, op: str) -> bool:
        token = self.next
        return token.kind == "op" and token.text == op

    def unexpected(self, wanted: str) -> ExpressionError:
        token = self.next
        if token.kind == "end":
            return ExpressionError(f"the expression ends too early; {wanted} is missing", token.at)
        return ExpressionError(f"unexpected '{token.text}'; expected {wanted}", token.at)

    def whole(self) -> Parsed:
        tree = self.disjunction()
        if self.next.kind != "end":
            token = self.next
            if token.kind == "op" and token.text in COMPARISONS:
                raise ExpressionError(
                    f"comparisons do not chain; join them with 'and' (a < b and b < c) "
                    f"before '{token.text}'",
                    token.at,
                )
            raise ExpressionError(
                f"unexpected '{token.text}' after a complete expression; join conditions "
                "with 'and' or 'or'",
                token.at,
            )
        return tree

    def nested(self, at: int) -> None:
        self.depth += 1
        if self.depth > MAX_NESTING:
            raise ExpressionError(
                f"the expression nests deeper than {MAX_NESTING} levels; simplify it", at
            )

    def binary(self, op: str, left: Parsed, right: Parsed, at: int) -> Parsed:
        return Parsed("binary", op, at, (left, right), right.end, _height(at, left, right))

    def disjunction(self) -> Parsed:
        return self.chain("or", self.conjunction)

    def conjunction(self) -> Parsed:
        return self.chain("and", self.negation)

    def chain(self, word: str, operand: Callable[[], Parsed]) -> Parsed:
        """``operand (word operand)*``, grouped to the left."""
        left = operand()
        while self.word(word):
            at = self.take().at
            left = self.binary(word, left, operand(), at)
        return left

    def negation(self) -> Parsed:
        if self.word("not"):
            at = self.take().at
            self.nested(at)
            operand = self.negation()
            self.depth -= 1
            return Parsed("unary", "not", at, (operand,), operand.end, _height(at, operand))
        return self.comparison()

    def comparison(self) -> Parsed:
        left = self.sum()
        token = self.next
        if token.kind == "op" and token.text in COMPARISONS:
            self.take()
            return self.binary(token.text, left, self.sum(), token.at)
        negated = self.word("not")
        if negated or self.word("in"):
            at = self.take().at
            if negated:
                if not self.word("in"):
                    raise self.unexpected("'in' after 'not' (x not in [a, b])")
                self.take()
            return self.membership(left, at, negated)
        return left

    def membership(self, left: Parsed, at: int, negated: bool) -> Parsed:
        if not self.op("["):
            raise self.unexpected("a list in brackets after 'in', such as [a, b]")
        self.take()
        items: list[Parsed] = []
        while not self.op("]"):
            if items:
                if not self.op(","):
                    raise self.unexpected("',' or ']'")
                self.take()
            items.append(self.item())
        end = self.take().at + 1
        return Parsed(
            "not in" if negated else "in", "in", at, (left, *items), end, _height(at, left)
        )

    def item(self) -> Parsed:
        negative = self.op("-")
        start = self.next.at
        if negative:
            self.take()
        token = self.next
        if token.kind == "int":
            self.take()
            value = -int(token.text) if negative else int(token.text)
            return Parsed("int", value, start, end=token.at + len(token.text))
        if negative:
            raise self.unexpected("a whole number after '-'")
        if token.kind in ("name", "text") and token.text not in ("and", "or", "not", "in"):
            return self.atom()
        raise self.unexpected("a value (a number, true, false, a name or a quoted value)")

    def sum(self) -> Parsed:
        left = self.unary()
        while self.op("+") or self.op("-"):
            token = self.take()
            left = self.binary(token.text, left, self.unary(), token.at)
        return left

    def unary(self) -> Parsed:
        if self.op("-"):
            at = self.take().at
            self.nested(at)
            operand = self.unary()
            self.depth -= 1
            if operand.kind == "int" and isinstance(operand.value, int):
                return Parsed("int", -operand.value, at, end=operand.end)
            return Parsed("unary", "-", at, (operand,), operand.end, _height(at, operand))
        return self.atom()

    def atom(self) -> Parsed:
        token = self.next
        end = token.at + len(token.text)
        if token.kind == "int":
            self.take()
            return Parsed("int", int(token.text), token.at, end=end)
        if token.kind == "text":
            self.take()
            return Parsed("text", token.text[1:-1], token.at, end=end)
        if token.kind == "name":
            if token.text in ("and", "or", "in"):
                raise self.unexpected("a value before it")
            if token.text == "not":
                raise self.unexpected("a value ('not' goes before a whole condition)")
            self.take()
            if token.text in ("true", "false"):
                return Parsed("bool", token.text == "true", token.at, end=end)
            return Parsed("name", token.text, token.at, end=end)
        if self.op("("):
            self.take()
            self.nested(token.at)
            inner = self.disjunction()
            self.depth -= 1
            if not self.op(")"):
                raise self.unexpected("')'")
            self.take()
            return inner
        raise self.unexpected("a value (a number, true, false, a name or a quoted value)")


def _height(at: int, *args: Parsed) -> int:
    """The height of an operator at ``at`` over ``args``; :class:`ExpressionError` past
    :data:`MAX_DEPTH`."""
    height = 1 + max(arg.height for arg in args)
    if height > MAX_DEPTH:
        raise ExpressionError(
            f"the expression is more than {MAX_DEPTH} operators deep (each operator of a "
            "chain such as a + b + c is one level); simplify it, or split the condition "
            "over several transitions",
            at,
        )
    return height
