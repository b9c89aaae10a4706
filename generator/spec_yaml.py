"""Write a :class:`~statewright.verify.model.Spec` as spec YAML (format 1), for ``statewright
import``.

One line per state and per transition, in flow style as the shipped specs are written;
free text (descriptions, reviewer roles, recovery steps) double-quoted with JSON's
escapes, which YAML reads the same way, and any character YAML does not allow escaped.
Names are written bare unless YAML would read them as something other than text. Header
comments have the same characters escaped (:func:`comment`), so that no line break, and
nothing YAML reads as one, can end a comment and start a key. The text loads back into
the same states, transitions and reasons (the tests prove it).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from statewright.verify.load.yamlread import resolve_plain
from statewright.verify.model import FORMAT_VERSION, Reason, Spec, State, Transition

__all__ = ["comment", "spec_yaml"]

_ESCAPED = re.compile(
    "[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
"""What a quoted scalar must escape beyond JSON's escapes: characters YAML does not allow,
and the ones it reads as line breaks (NEL, U+2028, U+2029) or a byte order mark."""


def _text(value: str) -> str:
    """``value`` as a double-quoted YAML scalar."""
    quoted = json.dumps(value, ensure_ascii=False)
    return _ESCAPED.sub(lambda m: f"\\U{ord(m.group()):08x}", quoted)


def comment(text: str) -> str:
    """``text`` as one ``#`` comment line: every character YAML does not allow or reads as
    a line break written as its Python escape, the backslash too, so an escape is plain.

    >>> comment("from a.asl.json#Fan out\\nrollback: {reviewers: [intern]}")
    '# from a.asl.json#Fan out\\\\nrollback: {reviewers: [intern]}'
    """
    escaped = _ESCAPED.sub(lambda m: repr(m.group())[1:-1], text.replace("\\", "\\\\"))
    return f"# {escaped}".rstrip()


def _name(value: str) -> str:
    """A state, trigger, reason or machine name: bare when YAML reads it back as text."""
    return value if isinstance(resolve_plain(value), str) else _text(value)


def _flow(pairs: Iterable[tuple[str, str | None]]) -> str:
    return "{" + ", ".join(f"{key}: {value}" for key, value in pairs if value is not None) + "}"


def _state(state: State) -> str:
    roles = f"[{', '.join(_text(r) for r in state.reviewers)}]" if state.reviewers else None
    return _flow(
        [
            ("kind", str(state.kind) if state.kind else None),
            ("final", "true" if state.final else None),
            ("reviewers", roles),
            ("stage", _text(state.stage) if state.stage else None),
            ("description", _text(state.description) if state.description else None),
        ]
    )


def _transition(t: Transition) -> str:
    return _flow(
        [
            ("from", _name(t.source)),
            ("to", _name(t.target)),
            ("trigger", _name(t.trigger)),
            ("human", "true" if t.human else None),
            ("after", t.after.text if t.after else None),
            ("reason", _name(t.reason) if t.reason else None),
            ("description", _text(t.description) if t.description else None),
        ]
    )


def _reason(reason: Reason) -> list[str]:
    lines = [f"  {_name(reason.name)}:"]
    if reason.description:
        lines.append(f"    description: {_text(reason.description)}")
    lines.append("    recovery:" + ("" if reason.recovery else " []"))
    lines.extend(f"      - {_text(step)}" for step in reason.recovery)
    return lines


def spec_yaml(spec: Spec, header: Iterable[str] = ()) -> str:
    """The spec text of ``spec``, after ``header`` lines written as ``#`` comments."""
    lines = [comment(line) for line in header]
    lines += [f"statewright: {FORMAT_VERSION}", f"machine: {_name(spec.machine)}"]
    if spec.description:
        lines.append(f"description: {_text(spec.description)}")
    lines += [f"initial: {_name(spec.initial)}", "", "states:"]
    lines += [f"  {_name(s.name)}: {_state(s)}" for s in spec.states]
    lines += ["", "transitions:"] if spec.transitions else []
    lines += [f"  - {_transition(t)}" for t in spec.transitions]
    if spec.reasons:
        lines += ["", "reasons:"]
        for reason in spec.reasons:
            lines += _reason(reason)
    return "\n".join(lines) + "\n"
