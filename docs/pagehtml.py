"""What the site does to a page's HTML after Markdown, so that output reads as output.

- Console and Python-session blocks copy only what a reader would type: the commands
  without their ``$`` prompt, the code without ``>>>`` and ``...``, never the output
  (``data-copy``, which Material's copy button honours). A block with nothing to type
  gets no copy button.
- Their output lines are output: ``...``, which the docs tests read as "any text", shows
  as a visible trim mark. There and in plain ``text`` blocks, ``error[rule]`` and
  ``warning[rule]`` stand out, each a link to its rule in the rule reference.
- A table's cells carry their column's header (``data-label``), so that a narrow screen
  stacks them.
- A diagram placeholder (``placeholder``) becomes the SVG itself, inline, in a figure
  that ``javascripts/diagram.js`` gives zoom, panning and a full-screen view.

Pure functions of HTML text; ``hooks.py`` calls ``finish`` for every page.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import escape, unescape

__all__ = ["copy_text", "diagram_figure", "finish", "label_cells", "placeholder"]

BLOCK = re.compile(
    r'<div class="language-(?P<language>console|pycon) highlight">'
    r"(?P<head><pre><span></span><code>)(?P<body>.*?)</code></pre></div>",
    re.DOTALL,
)
PLAIN = re.compile(
    r'(?P<head><div class="language-text highlight"><pre><span></span><code>)(?P<body>.*?)</code>',
    re.DOTALL,
)
LINE = re.compile(
    r'(?P<open><span id="__span-[0-9-]+">)(?P<html>.*?)(?P<close>\n</span>)', re.DOTALL
)
TAG = re.compile(r"<[^>]+>")
FINDING = re.compile(r"\b(?P<severity>error|warning)\[(?P<rule>[a-z0-9-]+)\]")
PROMPTS = {"console": ("$ ",), "pycon": (">>> ", "... ")}
TRIM_LINE = '<span class="sw-trim" title="Lines left out here">⋯ trimmed</span>'
TRIM = '<span class="sw-trim" title="Text left out here">…</span>'


def _text(html: str) -> str:
    return unescape(TAG.sub("", html))


def _typed(language: str, text: str) -> str | None:
    """What a reader types on a line of a session, or None for an output line."""
    for prompt in PROMPTS[language]:
        if text.startswith(prompt) or text == prompt.rstrip():
            return text[len(prompt) :]
    return None


def copy_text(language: str, lines: list[str]) -> str:
    """The commands (``console``) or the code (``pycon``) of a session, one per line."""
    return "\n".join(typed for t in lines if (typed := _typed(language, t)) is not None)


RuleHref = Callable[[str], "str | None"]
"""Where the page links a rule id (the rule reference's anchor), or None: no such rule."""


def _findings(html: str, rule_href: RuleHref) -> str:
    """``html`` with each ``error[rule]`` and ``warning[rule]`` marked, and linked to the
    rule's entry in the rule reference."""

    def mark(m: re.Match[str]) -> str:
        css = f"sw-finding sw-finding--{m['severity']}"
        href = rule_href(m["rule"])
        if href is None:
            return f'<span class="{css}">{m[0]}</span>'
        title = f"The rule {m['rule']}: what it checks, and an example that fails and passes"
        return f'<a class="{css}" href="{escape(href)}" title="{title}">{m[0]}</a>'

    return FINDING.sub(mark, html)


def _output(html: str, rule_href: RuleHref) -> str:
    """An output line with its trim marks and findings marked."""
    if _text(html).strip() == "...":
        return TRIM_LINE
    return _findings(html.replace("...", TRIM), rule_href)


def _session(match: re.Match[str], rule_href: RuleHref) -> str:
    language = match["language"]
    texts: list[str] = []
    traceback = False  # a doctest's "..." under "Traceback" elides the stack: output

    def line(m: re.Match[str]) -> str:
        nonlocal traceback
        text = _text(m["html"])
        traceback = text.startswith("Traceback (") or (traceback and not text.startswith(">>>"))
        texts.append(text if not traceback else "")
        if (_typed(language, text) is not None and not traceback) or not text:
            return m[0]
        # The console lexer reads an output line starting "# " as a root prompt.
        body = escape(text, quote=False) if language == "console" else m["html"]
        shown = _output(body, rule_href)
        if language == "console":
            shown = f'<span class="go">{shown}</span>'
        return f"{m['open']}{shown}{m['close']}"

    body = LINE.sub(line, match["body"])
    commands = copy_text(language, texts)
    if commands:
        attributes = f'class="language-{language} highlight" data-copy="{escape(commands)}"'
    else:
        attributes = f'class="language-{language} highlight no-copy"'
    return f"<div {attributes}>{match['head']}{body}</code></pre></div>"


# --- tables -------------------------------------------------------------------------------

TABLE = re.compile(r"<table>\n(?P<body>.*?)</table>", re.DOTALL)
HEADER = re.compile(r"<th[^>]*>(?P<html>.*?)</th>", re.DOTALL)
ROW = re.compile(r"<tr>(?P<cells>.*?)</tr>", re.DOTALL)
CELL = re.compile(r"<td(?=[\s>])")


def label_cells(html: str) -> str:
    """Each table cell with its column's header as ``data-label``: on a narrow screen the
    stylesheet stacks a row's cells, each under its header, instead of squeezing five
    columns into 400 px."""

    def table(match: re.Match[str]) -> str:
        headers = [escape(_text(h["html"]).strip()) for h in HEADER.finditer(match["body"])]
        if not headers:
            return match[0]

        def row(m: re.Match[str]) -> str:
            labels = iter(headers)
            return (
                "<tr>"
                + CELL.sub(lambda c: f'<td data-label="{next(labels, "")}"', m["cells"])
                + "</tr>"
            )

        return "<table>\n" + ROW.sub(row, match["body"]) + "</table>"

    return TABLE.sub(table, html)


# --- diagrams -----------------------------------------------------------------------------

PLACEHOLDER = re.compile(r'<div class="sw-diagram"(?P<attributes>[^>]*)></div>')
ATTRIBUTE = re.compile(r'(?P<name>data-[a-z]+)="(?P<value>[^"]*)"')
SVG_START = re.compile(r"<svg\b")


def placeholder(alt: str, svg: str, *, body_text: bool = False) -> str:
    """Markdown (a raw HTML line) that ``finish`` replaces with the diagram ``svg``; with
    ``body_text`` (an overview), it opens with its state names as large as body text."""
    text = ' data-text="body"' if body_text else ""
    return (
        f'<div class="sw-diagram" data-svg="{escape(svg)}" data-alt="{escape(alt)}"{text}></div>\n'
    )


def diagram_figure(svg_text: str, href: str, alt: str, *, body_text: bool = False) -> str:
    """The SVG inline (XML prolog and doctype dropped), in a figure with a link to the file;
    ``body_text``: the viewer opens it with its state names as large as body text."""
    text = ' data-text="body"' if body_text else ""
    start = SVG_START.search(svg_text)
    if start is None:
        raise ValueError(f"{href} holds no <svg> element")
    svg = svg_text[start.start() :].strip()
    return (
        f'<figure class="sw-diagram"{text}>'
        f'<div class="sw-diagram__view" role="img" aria-label="{escape(alt)}" tabindex="0">'
        f"{svg}</div>"
        "<figcaption>Drag to pan; Ctrl and the mouse wheel, or the buttons, zoom. "
        f'<a href="{escape(href)}">Open the SVG on its own</a></figcaption>'
        "</figure>"
    )


def finish(
    html: str, read_svg: Callable[[str], str], rule_href: RuleHref = lambda rule: None
) -> str:
    """A page's HTML with sessions and diagrams done; ``read_svg(url)`` reads a diagram,
    ``rule_href(rule)`` is where a finding of ``rule`` links."""
    html = label_cells(BLOCK.sub(lambda m: _session(m, rule_href), html))
    html = PLAIN.sub(lambda m: f"{m['head']}{_findings(m['body'], rule_href)}</code>", html)

    def figure(match: re.Match[str]) -> str:
        # Markdown inside HTML (md_in_html) may reorder the attributes.
        found = {m["name"]: unescape(m["value"]) for m in ATTRIBUTE.finditer(match["attributes"])}
        svg = found["data-svg"]
        body_text = found.get("data-text") == "body"
        return diagram_figure(read_svg(svg), svg, found.get("data-alt", ""), body_text=body_text)

    return PLACEHOLDER.sub(figure, html)
