"""Text from a spec, made safe to print as part of one line of a report.

File names and YAML keys come from whoever wrote the spec, and reports are read in
terminals and CI logs that act on what they see: a line break starts a line the author
did not write, an ANSI escape rewrites the terminal, and a CI log runs a line such as
``::add-mask::...`` (or anything holding ``##[...]``) as a workflow command. Findings keep
their messages printable (:class:`statewright.verify.findings.Finding` applies :func:`printable`)
and every line-based report names files through :func:`printable_path`, so no input can forge
a line of output. JSON and SARIF keep file names exact: their encoding escapes control
characters, and :func:`inert_json` writes ``##[`` in a way that decodes the same.

>>> printable("B\\n::error::forged\\x1b[31m\\u2028")
'B\\\\n::error::forged\\\\x1b[31m\\\\u2028'
>>> printable_path("::add-mask::secret.yaml")
'./::add-mask::secret.yaml'
"""

from __future__ import annotations

import json
import re

__all__ = ["inert_json", "printable", "printable_path"]

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]|##\\[")
"""Control characters (Unicode category Cc: line breaks, tabs, escapes), line and paragraph
separators, bidirectional overrides, and the marker of GitHub's legacy workflow commands."""


def _escape(match: re.Match[str]) -> str:
    text = match.group()
    return "##\\x5b" if text == "##[" else repr(text)[1:-1]


def printable(text: str) -> str:
    """``text`` with every control character written as its Python escape (``\\n``,
    ``\\x1b``, ``\\u2028``) and ``##[`` as ``##\\x5b``; anything else is unchanged."""
    return _UNPRINTABLE.sub(_escape, text) if _UNPRINTABLE.search(text) else text


def printable_path(name: str) -> str:
    """A file name as a report line shows it: :func:`printable`, and prefixed with ``./``
    when the line it starts would otherwise begin like a workflow command (``::``)."""
    shown = printable(name)
    return f"./{shown}" if shown.lstrip().startswith("::") else shown


def inert_json(document: object) -> str:
    """``document`` as indented JSON, every string exact, and no ``##[`` in the text: it is
    written ``##\\u005b``, a JSON escape that decodes to the same ``[``.

    >>> inert_json({"file": "##[error]x"})
    '{\\n  "file": "##\\\\u005berror]x"\\n}'
    """
    return json.dumps(document, indent=2).replace("##[", "##\\u005b")
