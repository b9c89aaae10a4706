"""Documentation generated from the live code, so that the docs cannot drift from it.

Each function returns Markdown for one kind of generated content: the key tables of the
spec format (from ``verify/spec.schema.json``), the command-line reference (from the
``statewright`` argument parser), a spec's check report, covering paths and diagram, the
coverage table and a whole page per shipped spec. ``docs/hooks.py`` wires them into
mkdocs; nothing here imports mkdocs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pagehtml

from statewright.generator import cli
from statewright.generator.commands import Help
from statewright.generator.commands.new import scaffold
from statewright.verify.check import CheckResult, check_file, check_text
from statewright.verify.discover import discover
from statewright.verify.report import render_text

__all__ = [
    "SCHEMA_TABLES",
    "SpecDoc",
    "cli_reference",
    "cli_synopsis",
    "coverage_table",
    "diagram_figure",
    "fenced",
    "schema_table",
    "shipped_specs",
    "spec_doc",
    "spec_page",
    "spec_source",
]

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "verify" / "spec.schema.json"


def fenced(text: str, language: str = "text") -> str:
    """``text`` in a fenced code block long enough never to be closed by its content."""
    fence = "```"
    while fence in text:
        fence += "`"
    return f"{fence}{language}\n{text.rstrip()}\n{fence}\n"


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


# --- the spec format's key tables ---------------------------------------------------------


@cache
def _schema() -> dict[str, object]:
    schema: dict[str, object] = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    return schema


def _resolve(node: Mapping[str, object]) -> Mapping[str, object]:
    """A schema node with its ``$ref`` followed (the node's own keys win)."""
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    target: object = _schema()
    for part in ref.removeprefix("#/").split("/"):
        assert isinstance(target, Mapping), ref
        target = target[part]
    assert isinstance(target, Mapping), ref
    own = {k: v for k, v in node.items() if k != "$ref"}
    return {**_resolve(target), **own}


SCHEMA_TABLES = (
    "spec",
    "state",
    "transition",
    "reason",
    "variable",
    "property",
    "migration",
    "rollback",
    "at_most",
)
"""The objects of the format that get a key table, each a definition of the schema."""

_NAMED = {
    "upperName": "UPPER_SNAKE_CASE name",
    "snakeName": "snake_case name",
    "label": "label (text for people)",
    "optionalText": "text",
    "glob": "glob",
    "stateRef": "state name or glob",
    "duration": "duration",
    "expression": "expression",
    "stateNames": "state name or list of them",
}
"""How the key tables call the schema's named definitions."""


def _type(node: Mapping[str, object]) -> str:
    """A schema node's type in words, for a key table."""
    ref = node.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        if name in SCHEMA_TABLES:
            return f"[{name}](#a-{name})"
        if name in _NAMED:
            return _NAMED[name]
        return _type(_resolve(node))
    for key in ("oneOf", "anyOf"):
        options = node.get(key)
        if isinstance(options, list):
            return " or ".join(dict.fromkeys(t for o in options if (t := _type(o))))
    enum = node.get("enum")
    if isinstance(enum, list):
        return " | ".join(f"`{v}`" for v in enum if v is not None)
    if "const" in node:
        return f"`{json.dumps(node['const'])}`"
    kinds = node.get("type", [])
    items, values, names = (node.get(k) for k in ("items", "additionalProperties", "propertyNames"))
    words = []
    for kind in [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) else []:
        if kind == "array" and isinstance(items, Mapping):
            words.append(f"list of {_type(items)}")
        elif kind == "object" and isinstance(values, Mapping):
            key = _type(names) if isinstance(names, Mapping) else "name"
            words.append(f"mapping of {key} to {_type(values)}")
        elif kind != "null":
            words.append({"boolean": "bool", "object": "mapping"}.get(str(kind), str(kind)))
    return " or ".join(words)


def _object(name: str) -> Mapping[str, object]:
    """The object schema a table describes: the top level, or a named definition."""
    schema = _schema()
    if name == "spec":
        return schema
    for key in ("definitions", "$defs"):
        definitions = schema.get(key)
        if isinstance(definitions, Mapping) and name in definitions:
            node = definitions[name]
            assert isinstance(node, Mapping)
            return _resolve(node)
    for owner in (schema, _object("property")):  # a mapping nested in place: rollback, at_most
        properties = owner.get("properties", {})
        if isinstance(properties, Mapping) and isinstance(properties.get(name), Mapping):
            return _resolve(properties[name])
    raise KeyError(f"verify/spec.schema.json defines no {name!r}")


def schema_keys(name: str) -> dict[str, Mapping[str, object]]:
    """The keys of one object of the format, from the schema, in its order."""
    properties = _object(name).get("properties", {})
    assert isinstance(properties, Mapping)
    return dict(properties)


def schema_table(name: str) -> str:
    """A Markdown table of every key of one object of the format."""
    node = _object(name)
    required = node.get("required", [])
    assert isinstance(required, list)
    rows = ["| key | type | required | default | meaning |", "| --- | --- | --- | --- | --- |"]
    for key, value in schema_keys(name).items():
        default = f"`{json.dumps(value['default'])}`" if "default" in value else ""
        description = str(_resolve(value).get("description", ""))
        rows.append(
            f"| `{key}` | {_cell(_type(value))} | {'yes' if key in required else 'no'} "
            f"| {default} | {_cell(description)} |"
        )
    return "\n".join(rows) + "\n"


# --- the command-line reference -----------------------------------------------------------


def _runs(parser: argparse.ArgumentParser) -> bool:
    """Whether ``parser``'s command runs (rather than being a group of actions)."""
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def _arguments(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments of a command: positionals first, then options, without ``--help``."""
    shown = [
        a
        for a in parser._actions
        if not isinstance(a, argparse._HelpAction | argparse._SubParsersAction)
    ]
    return [a for a in shown if not a.option_strings] + [a for a in shown if a.option_strings]


def _value(action: argparse.Action, choices: bool = True) -> str:
    """What an argument's value is written as: ``auto|spec|asl``, or its metavar."""
    if choices and action.choices is not None:
        return "|".join(str(c) for c in action.choices)
    return str(action.metavar or action.dest.upper())


def _written(action: argparse.Action, choices: bool = True, flag: str | None = None) -> str:
    """An argument as a command line writes it: ``PATH``, ``--format text|json``,
    ``--strict`` (an option by its first spelling, or ``flag``)."""
    value = _value(action, choices)
    if not action.option_strings:
        nargs = {"*": f"[{value} ...]", "?": f"[{value}]", "+": f"{value} ..."}
        return nargs.get(str(action.nargs), value)
    flag = flag or action.option_strings[0]
    return flag if action.nargs == 0 else f"{flag} {value}"


def _synopsis(name: str, parser: argparse.ArgumentParser, width: int = 88) -> str:
    """``statewright NAME`` and its arguments (options in brackets, exclusive ones joined by
    ``|``), wrapped at ``width`` with the continuation lines under the first argument."""
    items: list[str] = []
    exclusive = {id(a): g for g in parser._mutually_exclusive_groups for a in g._group_actions}
    done: set[int] = set()
    for action in _arguments(parser):
        group = exclusive.get(id(action))
        if group is not None:
            if id(group) not in done:
                done.add(id(group))
                items.append("[" + " | ".join(_written(a) for a in group._group_actions) + "]")
        elif action.option_strings:
            items.append(f"[{_written(action)}]")
        else:
            items.append(_written(action))
    head = f"statewright {name}"
    lines, line = [], head
    for item in items:
        if len(line) + 1 + len(item) > width and line != head:
            lines.append(line)
            line = " " * len(head)
        line += " " + item
    lines.append(line)
    return "\n".join(lines)


def _runnable(parsers: Mapping[str, argparse.ArgumentParser]) -> list[str]:
    """The names of the commands that run (not the groups), in ``--help`` order."""
    return [name for name, parser in parsers.items() if _runs(parser)]


def cli_synopsis() -> str:
    """One synopsis per command that runs, every argument of each in it."""
    _, parsers = cli.parsers()
    return fenced("\n".join(_synopsis(n, parsers[n]) for n in _runnable(parsers)))


_MARKDOWN = str.maketrans(
    {c: f"\\{c}" for c in "\\`*_[]"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def _prose(text: str) -> str:
    """Help text as Markdown that shows it as written (``<machine>.png``, ``*.asl.json``)."""
    return text.translate(_MARKDOWN)


def _default(action: argparse.Action) -> str:
    value = action.default
    if value is None or value is False or value == [] or value == argparse.SUPPRESS:
        return ""
    if isinstance(value, Path):
        value = value.as_posix()
    elif isinstance(value, int):
        value = f"{value:,}"
    return f"`{value}`"


def _without_default(help: str, default: str) -> str:
    """``help`` without its closing ``(default: X)`` when the table's column says X."""
    said = re.search(r" \(default: ([^()]*)\)$", help)
    same = said is not None and default and said[1].replace(",", "") == default.replace(",", "")
    return help[: said.start()] if said is not None and same else help


def _argument_rows(parser: argparse.ArgumentParser) -> list[tuple[str, str, str]]:
    exclusive = {
        id(a): [b for b in g._group_actions if b is not a]
        for g in parser._mutually_exclusive_groups
        for a in g._group_actions
    }
    rows = []
    for action in _arguments(parser):
        spellings: list[str | None] = [*action.option_strings] or [None]
        written = ", ".join(f"`{_written(action, False, flag)}`" for flag in spellings)
        default = _default(action)
        meaning = _prose(_without_default(action.help or "", default.strip("`")))
        if action.choices is not None:
            meaning += "; one of " + ", ".join(f"`{c}`" for c in action.choices)
        if isinstance(action, argparse._AppendAction) and "repeat" not in meaning:
            meaning += "; repeat it for more"
        others = exclusive.get(id(action), [])
        if others:
            meaning += "; not with " + ", ".join(f"`{o.option_strings[0]}`" for o in others)
        rows.append((written, meaning, default))
    return rows


def _command_section(name: str, help: Help, parser: argparse.ArgumentParser, level: int) -> str:
    summary = help.summary[:1].upper() + help.summary[1:]
    parts = [f"{'#' * level} statewright {name}\n", f"{_prose(summary)}.\n"]
    if _runs(parser):
        parts.append(fenced(_synopsis(name, parser)))
    parts.extend(f"{_prose(' '.join(p.split()))}\n" for p in help.description)
    rows = _argument_rows(parser)
    if rows:
        parts.append(_table(("argument", "meaning", "default"), rows))
    parts.append(_table(("exit status", "when"), [(str(s), m) for s, m in help.exits]))
    return "\n".join(parts)


def cli_reference(level: int = 2) -> str:
    """Every command of ``statewright`` (a group's actions a level down): what it does, its
    synopsis, a table of its arguments with their meaning and default, and a table of its
    exit statuses, all read from the parser and the commands' help."""
    _, parsers = cli.parsers()
    helps = cli.helps()
    return "\n".join(
        _command_section(name, helps[name], parser, level + name.count(" "))
        for name, parser in parsers.items()
    )


# --- checked specs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpecDoc:
    """A spec as the docs show it: its path relative to the repository, text and check."""

    path: str
    source: str
    result: CheckResult

    @property
    def name(self) -> str:
        return self.result.machine or Path(self.path).stem


MODELINE = "# yaml-language-server:"
"""The editor's pointer to the JSON Schema: it means nothing to a reader of the web page."""

NEW = "new:"
"""A marker argument ``new:NAME`` names the spec ``statewright new NAME`` writes."""


def spec_source(doc: SpecDoc) -> str:
    """The spec's YAML as a reader needs it: without the editor modeline."""
    lines = doc.source.splitlines(keepends=True)
    return "".join(line for line in lines if not line.startswith(MODELINE))


@cache
def spec_doc(path: str) -> SpecDoc:
    """Check the spec at ``path`` (relative to the repository; ``new:NAME`` for the spec
    ``statewright new NAME`` writes, made in memory), once per build."""
    if path.startswith(NEW):
        name = path.removeprefix(NEW)
        path = f"specs/{name}.yaml"
        text = scaffold(name, Path(path))
        return SpecDoc(path, text, check_text(text, path))
    return SpecDoc(path, (ROOT / path).read_text(encoding="utf-8"), check_file(ROOT / path, path))


def shipped_specs() -> list[SpecDoc]:
    """Every spec ``statewright check`` checks by default, in its order."""
    with contextlib.chdir(ROOT):
        paths = discover()
    return [spec_doc(p.as_posix()) for p in paths]


def check_report(doc: SpecDoc) -> str:
    """What ``statewright check PATH`` prints for the spec."""
    return fenced(f"$ statewright check {doc.path}\n" + render_text([doc.result]), "console")


def covering_paths(doc: SpecDoc) -> str:
    """The covering trigger sequences as a numbered list."""
    coverage = doc.result.coverage
    if coverage is None:
        return "The spec does not load, so it has no covering paths.\n"
    lines = [
        f"{n}. {' → '.join(f'`{t}`' for t in path) or '(the initial state alone)'}"
        for n, path in enumerate(coverage.paths, start=1)
    ]
    triggers = sum(len(p) for p in coverage.paths)
    paths = "1 path" if len(coverage.paths) == 1 else f"{len(coverage.paths)} paths"
    lines.append(
        f"\n{paths} of {triggers} triggers in all fire "
        f"{coverage.covered} of the {coverage.total} transitions whose source is reachable."
    )
    return "\n".join(lines) + "\n"


def coverage_table(docs: Sequence[SpecDoc]) -> str:
    """Tour length against the lower bound, one row per spec."""
    rows = [
        "| spec | transitions | covered | paths | triggers fired | lower bound | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for doc in docs:
        coverage = doc.result.coverage
        if coverage is None:
            continue
        fired = sum(len(p) for p in coverage.paths)
        bound = _lower_bound(doc)
        ratio = f"{fired / bound:.2f}" if bound else "-"
        rows.append(
            f"| [{doc.name}](specs/{doc.name}.md) | {coverage.total} | {coverage.covered} "
            f"| {len(coverage.paths)} | {fired} | {bound} | {ratio} |"
        )
    return "\n".join(rows) + "\n"


def _lower_bound(doc: SpecDoc) -> int:
    """Every covered transition fired once, automatic ones implied (they cost no trigger)."""
    spec, coverage = doc.result.spec, doc.result.coverage
    assert spec is not None and coverage is not None
    automatic = sum(1 for t in spec.transitions if t.automatic)
    return max(coverage.total - automatic, 0)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines.extend("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)
    return "\n".join(lines) + "\n"


def diagram_figure(alt: str, svg: str, *, body_text: bool = False) -> str:
    """The diagram at ``svg`` (a URL beside the page), inline with zoom (``pagehtml``);
    ``body_text``: opened with its state names as large as body text (an overview)."""
    return pagehtml.placeholder(alt, svg, body_text=body_text)


def folded(title: str, markdown: str) -> str:
    """``markdown`` in a collapsed block that opens on a click."""
    body = "".join(f"    {line}" if line.strip() else line for line in markdown.splitlines(True))
    return f'??? abstract "{title}"\n\n{body}'


def spec_page(doc: SpecDoc, diagram: str, overview: str | None = None) -> str:
    """The generated page of one shipped spec; ``diagram`` is the SVG's relative URL,
    ``overview`` (a spec with stages) that of its overview, shown first."""
    spec = doc.result.spec
    parts = [f"# {doc.name}\n"]
    if spec is not None and spec.description:
        parts.append(f"{' '.join(spec.description.split())}\n")
    parts.append(
        f"Source: `{doc.path}`. Generated from the spec on every docs build: the "
        "diagram, the checker's report and the covering paths below are the live output.\n"
    )
    if overview is not None:
        parts.append(
            "## Overview\n\nEach stage drawn as one node, with the transitions between "
            "stages (`statewright diagram --collapse stages`); the full diagram is below.\n\n"
            + diagram_figure(
                f"the stages of the {doc.name} state machine", overview, body_text=True
            )
        )
    parts.append(f"## Diagram\n\n{diagram_figure(f'the {doc.name} state machine', diagram)}")
    parts.append(f"## Check report\n\n{check_report(doc)}")
    parts.append(f"## Covering paths\n\n{covering_paths(doc)}")
    if spec is not None:
        states = [
            (
                f"`{s.name}`",
                str(s.kind or ""),
                s.stage or "",
                ", ".join(s.reviewers),
                s.description or "",
            )
            for s in spec.states
        ]
        parts.append(
            "## States\n\n" + _table(("state", "kind", "stage", "reviewers", "description"), states)
        )
        if spec.reasons:
            reasons = [
                (f"`{r.name}`", r.description or "", "; ".join(r.recovery)) for r in spec.reasons
            ]
            parts.append(
                "## Reasons and recovery\n\n"
                + _table(("reason", "description", "recovery"), reasons)
            )
    source = spec_source(doc)
    lines = len(source.splitlines())
    parts.append(
        "## The spec\n\n"
        + folded(f"{doc.path}, {lines} lines: click to open", fenced(source, "yaml"))
    )
    return "\n".join(parts)
