"""Successive versions of one example, with what changed highlighted.

A guide that changes a spec step by step shows each version whole (each runs as a test,
``<!-- docs-test: file NAME -->`` above it); a reader looks for what is new. Each version
after the first of a file gets ``hl_lines`` on its fence for the lines that differ from
the version before (added or changed; removed lines have nowhere to be marked).
``changed_lines`` serves the rule reference too, which marks how a rule's passing example
differs from its failing one.
"""

from __future__ import annotations

import difflib
import re

__all__ = ["changed_lines", "hl_lines", "mark_revisions"]

VERSION = re.compile(
    r"^(?P<directive><!-- docs-test: file (?P<name>[A-Za-z0-9_./-]+) -->\n\n?)"
    r"(?P<fence>```(?P<language>[a-z]+))\n(?P<body>.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


def changed_lines(old: str, new: str) -> list[int]:
    """The 1-based numbers of the lines of ``new`` that ``old`` does not have as they are."""
    matcher = difflib.SequenceMatcher(a=old.splitlines(), b=new.splitlines(), autojunk=False)
    return [
        line + 1
        for tag, _, _, first, last in matcher.get_opcodes()
        if tag in ("replace", "insert")
        for line in range(first, last)
    ]


def hl_lines(lines: list[int]) -> str:
    """``lines`` as a fence's ``hl_lines`` value: runs of numbers as ranges (``2 5-7``)."""
    runs: list[list[int]] = []
    for line in lines:
        if runs and runs[-1][1] == line - 1:
            runs[-1][1] = line
        else:
            runs.append([line, line])
    return " ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def mark_revisions(markdown: str) -> str:
    """``markdown`` with each later version of a ``docs-test: file`` example marked."""
    seen: dict[str, str] = {}

    def mark(match: re.Match[str]) -> str:
        name, body = match["name"], match["body"]
        before = seen.get(name)
        seen[name] = body
        changed = changed_lines(before, body) if before is not None else []
        if not changed:
            return match[0]
        fence = f'{match["fence"]} hl_lines="{hl_lines(changed)}"'
        return f"{match['directive']}{fence}\n{body}```"

    return VERSION.sub(mark, markdown)
