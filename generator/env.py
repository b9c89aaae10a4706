"""The one Jinja environment every generated file is rendered with."""

from __future__ import annotations

from functools import cache

import jinja2

from statewright.generator.naming import docstring, string_literal

__all__ = ["environment"]


@cache
def environment() -> jinja2.Environment:
    """Strict, whitespace-controlled, autoescape off (outputs are code, not HTML). Two
    filters make spec text safe in Python: ``literal`` (a string literal,
    :func:`statewright.generator.naming.string_literal`) and ``docstring(indent)`` (prose as
    a docstring, :func:`statewright.generator.naming.docstring`)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("statewright.generator", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    env.filters["docstring"] = docstring
    env.filters["literal"] = string_literal
    return env
