"""The docs site as people read it, in real headless Chromium at 1400 and 400 px.

The site is built (``mkdocs build --strict``), served on a free loopback port and opened
page by page. On every page, at both widths: no output or command block scrolls sideways
(findings, sessions and shell lines wrap), no copy button covers text, the page itself
does not scroll sideways, and every diagram is drawn so that its smallest text is at least
``LEGIBLE_PX`` tall, with its zoom controls present. The diagram viewer's zoom and full
screen are driven once. Without Chromium these tests fail and say how to install it
(``bash .ci/setup`` does); ``tests/browser.py`` drives it.

The HTML post-processing behind it (``docs/pagehtml.py``) is tested directly first.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, Page, find_chromium, serve

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))
import pagehtml  # noqa: E402
import revisions  # noqa: E402

sys.path.remove(str(ROOT / "docs"))

WIDTHS = (1400, 400)
LEGIBLE_PX = 9.0
"""The smallest rendered SVG text size a diagram may open at, in CSS px."""

OUTPUT_BLOCKS = ", ".join(
    f".md-typeset .language-{lang} pre > code"
    for lang in ("console", "pycon", "text", "sh", "bash", "shell")
)

# What a reader would find wrong on the loaded page, as a list of strings (empty: fine).
PROBLEMS = r"""
(blocks, legible) => {
  const problems = [];
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + 1) {
    problems.push(`page scrolls sideways: ${root.scrollWidth} > ${root.clientWidth}`);
  }
  for (const code of document.querySelectorAll(blocks)) {
    if (code.scrollWidth > code.clientWidth + 1) {
      problems.push(`block scrolls sideways (${code.scrollWidth} > ${code.clientWidth}): `
        + code.innerText.split("\n")[0].slice(0, 80));
    }
  }
  for (const nav of document.querySelectorAll(".md-typeset pre > .md-code__nav")) {
    const button = nav.getBoundingClientRect();
    const code = nav.parentElement.querySelector("code");
    const range = document.createRange();
    range.selectNodeContents(code);
    const box = code.getBoundingClientRect();  // text scrolled out of it is hidden
    for (const line of range.getClientRects()) {
      const left = Math.max(line.left, box.left), right = Math.min(line.right, box.right);
      const top = Math.max(line.top, box.top), bottom = Math.min(line.bottom, box.bottom);
      const overlaps = right > button.left && left < button.right && right > left
        && bottom > button.top && top < button.bottom && bottom > top;
      if (overlaps) {
        problems.push("copy button covers text: " + code.innerText.split("\n")[0].slice(0, 80));
        break;
      }
    }
  }
  for (const table of document.querySelectorAll(".md-typeset table:not([class])")) {
    const box = (table.closest(".md-typeset__scrollwrap") || table.parentElement);
    if (table.scrollWidth > box.clientWidth + 1 || box.scrollWidth > box.clientWidth + 1) {
      problems.push(`table overflows (${table.scrollWidth} > ${box.clientWidth}): `
        + table.rows[0].innerText.replace(/\s+/g, " ").slice(0, 60));
    }
  }
  for (const figure of document.querySelectorAll("figure.sw-diagram")) {
    const svg = figure.querySelector("svg");
    const actions = [...figure.querySelectorAll("[data-action]")].map(b => b.dataset.action);
    for (const action of ["out", "in", "fit", "reset", "full"]) {
      if (!actions.includes(action)) problems.push(`diagram has no ${action} control`);
    }
    const scale = svg.getScreenCTM().a;
    const sizes = [...svg.querySelectorAll("text[font-size]")]
      .map(t => parseFloat(t.getAttribute("font-size")) * scale);
    const smallest = Math.min(...sizes);
    if (!(smallest >= legible)) {
      problems.push(`diagram text drawn ${smallest.toFixed(1)} px tall`);
    }
  }
  return problems;
}
"""


# --- the HTML post-processing ------------------------------------------------------------


def _block(language: str, lines: list[str]) -> str:
    spans = "".join(
        f'<span id="__span-0-{n}">{line}\n</span>' for n, line in enumerate(lines, start=1)
    )
    return (
        f'<div class="language-{language} highlight"><pre><span></span><code>{spans}'
        "</code></pre></div>"
    )


def test_console_blocks_copy_only_their_commands() -> None:
    html = pagehtml.finish(
        _block(
            "console",
            [
                '<span class="gp">$ </span>statewright check a.yaml',
                '<span class="go">a.yaml:1:1: error[dead-end] X &amp; Y ...</span>',
                "",
                '<span class="gp"># </span>9/9 covered',
                '<span class="go">...</span>',
                '<span class="gp">$ </span>echo &quot;done&quot;',
            ],
        ),
        lambda url: "",
    )
    assert 'data-copy="statewright check a.yaml\necho &quot;done&quot;"' in html
    assert '<span class="sw-finding sw-finding--error">error[dead-end]</span>' in html
    assert "X &amp; Y " + pagehtml.TRIM in html
    assert f'<span class="go">{pagehtml.TRIM_LINE}</span>' in html
    assert '<span class="go"># 9/9 covered</span>' in html


def test_python_sessions_copy_their_code_and_output_only_blocks_have_no_button() -> None:
    assert pagehtml.copy_text("pycon", [">>> f(", "...     1,", "... )", "3", ">>> g()"]) == (
        "f(\n    1,\n)\ng()"
    )
    session = [
        '<span class="gp">&gt;&gt;&gt; </span>f()',
        '<span class="gt">Traceback (most recent call last):</span>',
        '<span class="gp">...</span>',
        '<span class="gr">ValueError</span>: no',
    ]
    html = pagehtml.finish(_block("pycon", session), str)
    assert 'data-copy="f()"' in html
    assert pagehtml.TRIM_LINE in html
    html = pagehtml.finish(_block("text", ["a.yaml:1:1: warning[x-y] m ..."]), str)
    assert '<span class="sw-finding sw-finding--warning">warning[x-y]</span> m ...' in html
    html = pagehtml.finish(_block("console", ['<span class="go">only output</span>']), str)
    assert "no-copy" in html
    assert "data-copy" not in html


def test_each_finding_links_to_its_rule() -> None:
    """``error[rule]`` in output named the rule but did not lead to it."""
    lines = ['<span class="go">a.yaml:1:1: error[dead-end] x; warning[no-such-rule] y</span>']
    known = {"dead-end": "../rules.html#dead-end"}.get
    html = pagehtml.finish(_block("console", lines), str, known)
    assert '<a class="sw-finding sw-finding--error" href="../rules.html#dead-end"' in html
    assert '<span class="sw-finding sw-finding--warning">warning[no-such-rule]</span>' in html
    html = pagehtml.finish(_block("text", ["b.yaml:2:3: error[dead-end] z"]), str, known)
    assert 'href="../rules.html#dead-end"' in html


def test_later_versions_of_an_example_mark_what_changed() -> None:
    """Successive specs of a guide repeated the whole spec with nothing marked."""
    assert revisions.changed_lines("a\nb\nc\n", "a\nB\nc\nd\ne\n") == [2, 4, 5]
    assert revisions.hl_lines([2, 4, 5, 9]) == "2 4-5 9"
    page = (
        "<!-- docs-test: file x.yaml -->\n```yaml\na: 1\nb: 2\n```\n\ntext\n\n"
        "<!-- docs-test: file x.yaml -->\n\n```yaml\na: 1\nb: 3\nc: 4\n```\n"
        "<!-- docs-test: file y.yaml -->\n```yaml\na: 1\n```\n"
    )
    marked = revisions.mark_revisions(page)
    assert marked.count("hl_lines") == 1
    assert '\n\n```yaml hl_lines="2-3"\na: 1\nb: 3\n' in marked


def test_a_rules_passing_example_marks_what_mends_it() -> None:
    from statewright.verify.explain import rule_markdown
    from statewright.verify.rules import RULES

    text = rule_markdown(RULES["dead-end"])
    (fails, passes) = [line for line in text.splitlines() if line.startswith("```yaml")]
    assert passes == '```yaml hl_lines="6"' and fails == '```yaml hl_lines="6"'


def test_a_diagram_placeholder_becomes_the_svg_inline() -> None:
    svg = '<?xml version="1.0"?>\n<!DOCTYPE svg>\n<svg width="10pt"><text>A</text></svg>\n'
    html = pagehtml.finish(
        "<p>x</p>\n" + pagehtml.placeholder("the <m>", "m.svg"), {"m.svg": svg}.__getitem__
    )
    assert '<div class="sw-diagram__view" role="img" aria-label="the &lt;m&gt;"' in html
    assert '<svg width="10pt"><text>A</text></svg></div>' in html
    assert "<?xml" not in html and "DOCTYPE" not in html
    assert '<a href="m.svg">' in html
    with pytest.raises(ValueError, match=r"m\.svg holds no <svg>"):
        pagehtml.finish(pagehtml.placeholder("m", "m.svg"), lambda url: "not a picture")


# --- the site in a browser ---------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(site: Path) -> Iterator[tuple[str, Browser]]:
    if find_chromium() is None:
        pytest.fail("the site tests need Chromium: apt-get install chromium (.ci/setup does)")
    with serve(site) as base, Browser() as chromium:
        yield base, chromium


def _pages(site: Path) -> list[str]:
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    return [p for p in pages if p != "404.html"]


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_every_page_reads_without_sideways_scrolling(
    site: Path, browser: tuple[str, Browser], width: int
) -> None:
    base, chromium = browser
    tab = chromium.page(width)
    found: dict[str, Any] = {}
    diagrams = 0
    for page in _pages(site):
        tab.goto(f"{base}/{page}")
        if problems := tab.evaluate(PROBLEMS):
            found[page] = problems
        diagrams += tab.evaluate("document.querySelectorAll('figure.sw-diagram svg').length")
    assert not found, json.dumps(found, indent=2)
    assert diagrams >= 4, "the shipped specs, the worked example and the front page draw"


def _figure_box(tab: Page) -> dict[str, float]:
    box: dict[str, float] = tab.evaluate(
        """(() => {
          const figure = document.querySelector("figure.sw-diagram");
          const r = figure.getBoundingClientRect();
          const view = figure.querySelector(".sw-diagram__view").getBoundingClientRect();
          return {top: r.top, left: r.left, width: r.width, height: r.height,
                  view: view.height, scale: parseFloat(figure.dataset.scale)};
        })()"""
    )
    return box


@pytest.mark.slow
@pytest.mark.parametrize("page", ["index.html", "specs/discovery_pipeline.html"])
def test_the_diagram_zooms_and_opens_full_screen(browser: tuple[str, Browser], page: str) -> None:
    base, chromium = browser
    tab = chromium.page(1400)
    tab.goto(f"{base}/{page}")
    click = "document.querySelector('figure.sw-diagram [data-action={}]').click()"
    before = _figure_box(tab)
    tab.evaluate(click.format("in"))
    assert _figure_box(tab)["scale"] == pytest.approx(before["scale"] * 1.25, rel=0.01)
    tab.evaluate(click.format("fit"))
    assert _figure_box(tab)["scale"] <= before["scale"]  # fit: all of it in view
    tab.evaluate(click.format("full"))
    full = _figure_box(tab)
    assert (full["top"], full["left"], full["width"], full["height"]) == (0, 0, 1400, 900)
    assert full["view"] > 800, "the picture gets the window's height"
    assert full["scale"] >= before["scale"] - 0.001  # readable, and larger if it fits
    tab.call(
        "Input.dispatchKeyEvent",
        type="keyDown",
        key="Escape",
        code="Escape",
        windowsVirtualKeyCode=27,
    )
    assert _figure_box(tab)["height"] < 900


# What of a diagram's legend and findings box is in its view as it opens: for each figure,
# whether the legend's "States" heading and the "Findings" heading (null: none drawn) lie
# wholly inside the part of the picture the view shows, and the findings' rule ids.
IN_VIEW = r"""
(() => [...document.querySelectorAll("figure.sw-diagram")].map(figure => {
  const v = figure.querySelector(".sw-diagram__view").getBoundingClientRect();
  const inside = (r) => r.width > 0 && r.left >= v.left - 1 && r.top >= v.top - 1
    && r.right <= v.right + 1 && r.bottom <= v.bottom + 1;
  const texts = [...figure.querySelectorAll("svg > g.graph > text")];
  const heading = (word) => texts.find(t => t.textContent.trim() === word);
  const seen = (word) => heading(word) ? inside(heading(word).getBoundingClientRect()) : null;
  const rules = texts.map(t => /^(?:error|warning)\[([a-z0-9-]+)\]/.exec(t.textContent.trim()))
    .filter(Boolean).map(m => m[1]);
  return {legend: seen("States"), findings: seen("Findings"), rules};
}))()
"""

MACHINE_PAGES = ("specs/orchestrator.html", "specs/discovery_pipeline.html")


@pytest.mark.slow
@pytest.mark.parametrize("width", WIDTHS)
def test_diagrams_open_with_their_legend_and_findings_in_view(
    browser: tuple[str, Browser], width: int
) -> None:
    """Diagrams opened at a start node far from the legend: the front page's findings box
    was out of view, and at 400 px the orchestrator showed only IDLE."""
    base, chromium = browser
    tab = chromium.page(width)
    sketch = "examples/discovery-pipeline-sketch.html"
    for page in ("index.html", sketch, *MACHINE_PAGES):
        tab.goto(f"{base}/{page}")
        figures = tab.evaluate(IN_VIEW)  # the pipeline: its overview, then the whole
        assert len(figures) == (2 if page == MACHINE_PAGES[1] else 1), page
        for figure in figures:
            assert figure["legend"] is True, (page, width)
            if page in MACHINE_PAGES:  # the shipped specs pass: no findings box is drawn
                assert figure["findings"] is None and figure["rules"] == [], page
            else:
                assert figure["findings"] is True, (page, width)
    tab.goto(f"{base}/{sketch}")
    (figure,) = tab.evaluate(IN_VIEW)
    assert {"dead-end", "unreachable-state", "approval-missing-timeout"} <= set(figure["rules"])
    if width == 400:
        for page in (sketch, MACHINE_PAGES[0]):
            tab.goto(f"{base}/{page}")
            tab.evaluate("document.querySelector('figure.sw-diagram').scrollIntoView()")
            name = page.removesuffix(".html").replace("/", "_")
            tab.screenshot(Path(f"/tmp/statewright-{name}-400.png"), full_page=False)


# For each diagram of a page: whether it is an overview, the body text's size, and the
# smallest and largest size (CSS px, as drawn) of its nodes' name texts and edge labels.
LABEL_SIZES = r"""
(() => {
  const body = parseFloat(getComputedStyle(document.querySelector(".md-typeset p")).fontSize);
  return [...document.querySelectorAll("figure.sw-diagram")].map(figure => {
    const svg = figure.querySelector("svg");
    const scale = svg.getScreenCTM().a;
    const size = (t) => parseFloat(t.getAttribute("font-size")) * scale;
    const names = [...svg.querySelectorAll("g.node text[font-weight=bold]")].map(size);
    return {overview: figure.dataset.text === "body", body, names: names.length,
            smallest: Math.min(...names), alt: figure.querySelector(".sw-diagram__view").ariaLabel};
  });
})()
"""


@pytest.mark.slow
def test_the_pipeline_page_opens_with_its_stages_overview_readable_on_a_phone(
    browser: tuple[str, Browser],
) -> None:
    """The discovery pipeline drawn whole (4530 x 2460 px) showed a fifth of itself at
    400 px, and "Fit" made its labels 2.4 px: its page now opens with an overview, each
    stage one node, whose state names are at least as large as the body text."""
    base, chromium = browser
    tab = chromium.page(400)
    tab.goto(f"{base}/specs/discovery_pipeline.html")
    overview, full = tab.evaluate(LABEL_SIZES)
    assert overview["overview"] and not full["overview"]
    assert "stages" in overview["alt"]
    assert overview["names"] == 5 + 5  # five stages, five states in no stage
    assert overview["smallest"] >= overview["body"] - 0.01, overview
    assert full["names"] == 20  # every state
    tab.evaluate("document.querySelector('figure.sw-diagram').scrollIntoView()")
    tab.screenshot(Path("/tmp/statewright-pipeline-overview-400.png"), full_page=False)


@pytest.mark.slow
def test_a_finding_leads_to_its_rule(browser: tuple[str, Browser]) -> None:
    base, chromium = browser
    tab = chromium.page(400)
    tab.goto(f"{base}/examples/discovery-pipeline-sketch.html")
    href = tab.evaluate("document.querySelector('a.sw-finding').href")
    assert "/rules.html#" in href
    tab.goto(href)
    rule = href.rsplit("#", 1)[1]
    heading = tab.evaluate(f"document.getElementById({json.dumps(rule)}).textContent")
    assert heading.strip().startswith(rule)


@pytest.mark.slow
def test_no_code_block_scrolls_sideways_on_a_phone(
    site: Path, browser: tuple[str, Browser]
) -> None:
    """72 of 112 code blocks of the rules page scrolled sideways at 400 px."""
    base, chromium = browser
    tab = chromium.page(400)
    scrolling = (
        "[...document.querySelectorAll('.md-typeset pre > code')]"
        ".filter(c => c.scrollWidth > c.clientWidth + 1).length"
    )
    found = {}
    for page in ("rules.html", "spec-format.html", "data.html", "api.html", "migrations.html"):
        tab.goto(f"{base}/{page}")
        if count := tab.evaluate(scrolling):
            found[page] = count
    assert not found


SEARCH = """(() => {{
  const input = document.querySelector(".md-search__input");
  input.focus();
  input.value = {query};
  input.dispatchEvent(new Event("input", {{bubbles: true}}));
  input.dispatchEvent(new KeyboardEvent("keyup", {{bubbles: true, key: "a"}}));
}})()"""
RESULTS = (
    "[...document.querySelectorAll('.md-search-result__item > a')]"
    ".map(a => new URL(a.href).pathname.split('/').pop())"
)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("query", "guides"),
    [("rollback", ("runtime.html", "data.html", "api.html")), ("leads_to", ("data.html",))],
)
def test_search_ranks_the_guide_above_the_design_brief(
    browser: tuple[str, Browser], query: str, guides: tuple[str, ...]
) -> None:
    """The design brief came first for "rollback" and "leads_to" (it is boosted down);
    a guide or the reference comes first (for rollback: the runtime guide, the data guide's
    section on rollback inside the proof, or ``Machine.rollback`` in the API reference)."""
    base, chromium = browser
    tab = chromium.page(1400)
    tab.goto(f"{base}/index.html")
    tab.evaluate(SEARCH.format(query=json.dumps(query)))
    found: list[str] = []
    for _ in range(200):  # the search worker answers once it has read the index
        if found := tab.evaluate(RESULTS):
            break
        time.sleep(0.05)
    assert found and found[0] in guides, found
    assert "design.html" not in found or found.index("design.html") > 0
