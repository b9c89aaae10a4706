"""The one Jinja environment every generated file is rendered with."""

from __future__ import annotations

from functools import cache

import jinja2

__all__ = ["environment"]


@cache
def environment() -> jinja2.Environment:
    """Strict, whitespace-controlled, autoescape off (outputs are code, not HTML)."""
    return jinja2.Environment(
        loader=jinja2.PackageLoader("statewright.generator", "templates"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
