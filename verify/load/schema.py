"""The JSON Schema of the spec format, rendered from :mod:`statewright.verify.load.shape`.

``verify/spec.schema.json`` is committed, for editors (the YAML modeline ``statewright
new`` writes points at it, and ``statewright schema`` prints its path), and it is
generated: after changing a shape, run

    .venv/bin/python -m statewright.verify.load.schema

to rewrite it; ``python -m statewright.verify.load.schema --check`` (and the test suite) fails while
the file differs from what the shapes give.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from statewright.verify.load.shape import (
    DEFINITIONS,
    MIGRATION,
    PROPERTY,
    REASON,
    SPEC,
    STATE,
    TRANSITION,
    VARIABLE,
)

__all__ = ["SCHEMA_FILE", "json_schema", "main", "render"]

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "spec.schema.json"
"""Where the schema is committed: ``verify/spec.schema.json``."""

_TITLE = "statewright spec, format version 1"


def json_schema() -> dict[str, object]:
    """The spec format as a JSON Schema (draft-07): the spec's shape at the top, the other
    mappings and the named kinds of value under ``definitions``."""
    top = SPEC.schema()
    definitions: dict[str, object] = dict(DEFINITIONS)
    for shape in (STATE, TRANSITION, VARIABLE, PROPERTY, REASON, MIGRATION):
        definitions[shape.name] = shape.schema()
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://statewright.dev/spec.schema.json",
        "title": _TITLE,
        **top,
        "definitions": definitions,
    }


def render() -> str:
    """:func:`json_schema` as the committed file's text."""
    return json.dumps(json_schema(), indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the schema file; with ``--check``, only compare (exit status 1 if stale)."""
    parser = argparse.ArgumentParser(
        prog="python -m statewright.verify.load.schema",
        description="Write verify/spec.schema.json from the shapes of verify/load/shape.py.",
    )
    parser.add_argument("--check", action="store_true", help="fail if the committed file is stale")
    arguments = parser.parse_args(argv)
    text = render()
    current = SCHEMA_FILE.read_text(encoding="utf-8") if SCHEMA_FILE.exists() else None
    if arguments.check:
        if current != text:
            print(
                f"{SCHEMA_FILE}: stale; run python -m statewright.verify.load.schema"
                " to regenerate it",
                file=sys.stderr,
            )
            return 1
        return 0
    if current != text:
        SCHEMA_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {SCHEMA_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
