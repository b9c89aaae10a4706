"""The Python API reference, generated from the docstrings of the public modules.

:data:`PUBLIC` names each module of statewright's public API and the order the reference
shows them in; every name in a module's ``__all__`` gets an entry: its signature (or value)
and its docstring, with the docstrings' reStructuredText roles (``:func:`x```) and
doctest examples turned into Markdown. ``docs/hooks.py`` expands the marker
``<!-- statewright:api MODULE -->`` with :func:`api_reference`; nothing here imports mkdocs.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
from collections.abc import Iterator
from types import ModuleType

__all__ = ["PUBLIC", "api_reference", "markdown_of", "public_names"]

PUBLIC = (
    "statewright",
    "statewright.verify.conformance",
    "statewright.generator.runtime",
    "statewright.generator.integrations.langgraph",
    "statewright.generator.integrations.otel",
)
"""The modules of the public API, in the reference's order: checking from Python, the
conformance harness, the runtime (machines, stores, workers), the LangGraph integration
and the OpenTelemetry tracer."""

_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc|obj):`(~?)([^`]+)`")
_LITERAL = re.compile(r"``(.+?)``")


def _role(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def _prose(line: str) -> str:
    """One line of docstring prose as Markdown: roles and double-backtick literals become
    code spans; outside them ``<`` is escaped (a word in angle brackets is no HTML tag)."""
    line = _ROLE.sub(_role, line)
    line = _LITERAL.sub(lambda m: f"`{m.group(1)}`", line)
    parts = re.split(r"(`[^`]*`)", line)
    for i in range(0, len(parts), 2):
        parts[i] = parts[i].replace("<", "&lt;")
    return "".join(parts)


def markdown_of(doc: str) -> str:
    """A docstring as Markdown: prose through :func:`_prose`, ``>>>`` examples (with their
    output, up to the next blank line) as ``pycon`` blocks, and ``::`` literal blocks as
    code.

    >>> markdown_of("Run :func:`~a.b.check` on ``x``, not :mod:`a.b`.")
    'Run `check` on `x`, not `a.b`.\\n'
    """
    out: list[str] = []
    lines = inspect.cleandoc(doc).splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.lstrip().startswith(">>>"):
            indent = len(line) - len(line.lstrip())
            block = []
            while i < len(lines) and lines[i].strip():
                block.append(lines[i][indent:])
                i += 1
            out.extend(["```pycon", *block, "```"])
            continue
        if line.rstrip().endswith("::") and i + 1 < len(lines) and not lines[i + 1].strip():
            out.append(_prose(line.rstrip()[:-1]))
            i += 2
            block = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith(" ")):
                block.append(lines[i])
                i += 1
            out.extend(["", "```", *inspect.cleandoc("\n".join(block)).splitlines(), "```", ""])
            continue
        out.append(_prose(line))
        i += 1
    return "\n".join(out).strip() + "\n"


def public_names(module: ModuleType) -> list[str]:
    """The module's ``__all__``: its public API."""
    names: list[str] = list(getattr(module, "__all__", ()))
    assert names, f"{module.__name__} declares no __all__"
    return [name for name in names if not name.startswith("__")]


_QUOTED = re.compile(r"(: |-> )'([^']*)'")


def _signature(obj: object, width: int = 88) -> str:
    """``(a: int, *, b: str = 'x') -> bool``, annotations unquoted; one parameter a line
    when the whole is wider than ``width``."""
    try:
        signature = inspect.signature(obj)  # type: ignore[arg-type]
    except (TypeError, ValueError):  # a builtin or a class without an inspectable __init__
        return "(...)"
    params, star = [], False
    for param in signature.parameters.values():
        if param.kind is param.KEYWORD_ONLY and not star:
            params.append("*")
        star = star or param.kind in (param.KEYWORD_ONLY, param.VAR_POSITIONAL)
        params.append(_QUOTED.sub(r"\1\2", str(param)))
    returns = ""
    if signature.return_annotation is not signature.empty:
        annotation = inspect.formatannotation(signature.return_annotation)
        returns = " -> " + annotation.strip("'")
    one_line = f"({', '.join(params)}){returns}"
    if len(one_line) <= width:
        return one_line
    return "(\n" + "".join(f"    {p},\n" for p in params) + f"){returns}"


def _members(cls: type) -> Iterator[tuple[str, str, str]]:
    """The public methods and properties a class defines itself (not inherited from
    ``object`` or a standard base): (name, signature or "", docstring)."""
    fields = {f.name for f in dataclasses.fields(cls)} if dataclasses.is_dataclass(cls) else set()
    for name, member in vars(cls).items():
        if name.startswith("_") or name in fields:
            continue
        if isinstance(member, property | classmethod | staticmethod) or inspect.isfunction(member):
            function = member.fget if isinstance(member, property) else member
            if isinstance(function, classmethod | staticmethod):
                function = function.__func__
            doc = inspect.getdoc(function) or ""
            signature = "" if isinstance(member, property) else _signature(function)
            if isinstance(member, classmethod):
                signature = signature.replace("(cls, ", "(").replace("(cls)", "()")
            signature = signature.replace("(self, ", "(").replace("(self)", "()")
            yield name, signature, doc


def _entry(module: ModuleType, name: str, level: int) -> str:
    obj = getattr(module, name)
    heading = "#" * level
    if inspect.isclass(obj):
        kind = "exception" if issubclass(obj, BaseException) else "class"
        parts = [f"{heading} {kind} `{name}` {{#{module.__name__}.{name}}}\n"]
        if not issubclass(obj, BaseException) and not _is_enum_or_tuple(obj):
            parts.append(f"```python\n{name}{_signature(obj)}\n```\n")
        parts.append(markdown_of(inspect.getdoc(obj) or ""))
        for member, signature, doc in _members(obj):
            summary = markdown_of(doc).strip() if doc else ""
            parts.append(f"- `{member}{signature}`" + (f": {_indent(summary)}" if summary else ""))
        return "\n".join(parts) + "\n"
    if inspect.isroutine(obj):
        return (
            f"{heading} `{name}` {{#{module.__name__}.{name}}}\n\n"
            f"```python\n{name}{_signature(obj)}\n```\n\n" + markdown_of(inspect.getdoc(obj) or "")
        )
    value = repr(obj)
    return f"{heading} `{name}` {{#{module.__name__}.{name}}}\n\n```python\n{name} = {value}\n```\n"


def _is_enum_or_tuple(cls: type) -> bool:
    import enum

    return issubclass(cls, enum.Enum | tuple)


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


def api_reference(module_name: str, level: int = 2) -> str:
    """The reference of one public module: its docstring, then an entry per name in its
    ``__all__``, in that order."""
    module = importlib.import_module(module_name)
    parts = [f"{'#' * level} `{module_name}`\n", markdown_of(inspect.getdoc(module) or "")]
    parts.extend(_entry(module, name, level + 1) for name in public_names(module))
    return "\n".join(parts)
