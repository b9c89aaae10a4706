"""The documentation builds strictly and offline, and its code examples run.

Every hand-written page under ``docs/`` is a test: its fenced blocks run in order in a
fresh workspace holding a copy of ``specs/``:

- ``console`` blocks: each ``$ command`` runs in bash (the project's ``statewright`` first
  on ``PATH``) and must print the lines below it (stdout and stderr together); ``...``
  stands for any text within a line, or on a line of its own for any number of lines.
- ``python`` blocks run in one namespace per page; ``pycon`` blocks are doctests in that
  namespace (``...`` elides output, whitespace is normalised).
- ``yaml`` blocks holding a whole spec (a ``statewright: 1`` line) must check without
  findings, or with exactly the rule ids a ``<!-- docs-test: fails RULE ... -->`` comment
  right above the block names.

``<!-- docs-test: skip -->`` above a block leaves it out (for commands that need the
network, such as installing); ``<!-- docs-test: file PATH -->`` above a block writes it
to PATH in the workspace instead (a guide's next version of a spec, which the commands
after it then run on). The build itself (``mkdocs build --strict``) also runs the
hooks that generate the rule reference, key tables, CLI reference and spec pages.
"""

from __future__ import annotations

import argparse
import doctest
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from statewright.verify.check import check_text
from statewright.verify.rules import RULES

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BIN = Path(sys.executable).parent
PAGES = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md"))

NOT_YET_RUNNABLE: dict[str, str] = {}
"""Pages whose examples do not follow the conventions above yet, and why."""

FENCE = re.compile(r"^(?P<indent> *)(?P<fence>`{3,}|~{3,})(?P<info>[^`\n]*)$")
DIRECTIVE = re.compile(
    r"^\s*<!-- docs-test: (?P<what>[a-z]+)(?P<args>(?: [A-Za-z0-9_./-]+)*) -->\s*$"
)


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced code block of a page."""

    page: str
    line: int
    language: str
    text: str
    directive: str = ""
    args: tuple[str, ...] = ()
    folder: str = "docs/"

    @property
    def where(self) -> str:
        return f"{self.folder}{self.page}:{self.line}"


def blocks(page: str, folder: Path = DOCS) -> list[Block]:
    """The fenced blocks of a page (under ``docs/``, or ``folder``), each with the
    directive comment right above it."""
    lines = (folder / page).read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence = match["indent"], match["fence"]
        language = (match["info"].strip().split() or [""])[0]
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][len(indent) :])
            j += 1
        k = i - 1
        while k >= 0 and not lines[k].strip():
            k -= 1
        directive = DIRECTIVE.match(lines[k]) if k >= 0 else None
        found.append(
            Block(
                page,
                i + 1,
                language,
                "\n".join(body) + "\n",
                directive["what"] if directive else "",
                tuple(directive["args"].split()) if directive else (),
                folder.relative_to(ROOT).as_posix() + "/" if folder != ROOT else "",
            )
        )
        i = j + 1
    return found


def expected_pattern(expected: str) -> re.Pattern[str]:
    """The expected output of a console command as a regular expression."""
    parts: list[str] = []
    for line in expected.rstrip("\n").splitlines():
        if line.strip() == "...":
            parts.append(r"(?:[^\n]*\n)*?")
            continue
        parts.append(".*?".join(re.escape(piece) for piece in line.rstrip().split("...")) + "\n")
    return re.compile("".join(parts), re.DOTALL)


def console_commands(block: Block) -> Iterator[tuple[str, str]]:
    """``(command, expected output)`` for each ``$`` line of a console block."""
    command: str | None = None
    output: list[str] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            if command is not None:
                yield command, "\n".join(output)
            command, output = line[2:], []
        elif command is not None:
            output.append(line)
    if command is not None:
        yield command, "\n".join(output)


@dataclass
class Workspace:
    """Where a page's examples run: a folder with a copy of the shipped specs."""

    path: Path
    namespace: dict[str, object]

    def console(self, block: Block) -> None:
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "COLUMNS": "100"}
        for command, expected in console_commands(block):
            done = subprocess.run(
                ["bash", "-c", command],
                cwd=self.path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=300,
            )
            actual = "".join(line.rstrip() + "\n" for line in done.stdout.splitlines())
            assert expected_pattern(expected).fullmatch(actual), (
                f"{block.where}: `{command}` printed:\n{actual}\nexpected:\n{expected}"
            )

    def python(self, block: Block) -> None:
        code = compile("\n" * (block.line) + block.text, f"docs/{block.page}", "exec")
        exec(code, self.namespace)

    def pycon(self, block: Block) -> None:
        parser = doctest.DocTestParser()
        test = parser.get_doctest(
            block.text, self.namespace, block.where, f"docs/{block.page}", block.line
        )
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        report: list[str] = []
        runner.run(test, out=report.append, clear_globs=False)
        self.namespace.update(test.globs)  # a doctest runs in a copy of its globals
        assert not runner.failures, "".join(report)

    def yaml(self, block: Block) -> None:
        if not re.search(r"^statewright: 1$", block.text, re.MULTILINE):
            return
        result = check_text(block.text, block.where)
        expected = set(block.args) if block.directive == "fails" else set()
        assert expected <= set(RULES), f"{block.where}: unknown rule ids {expected - set(RULES)}"
        found = {f.rule for f in result.findings}
        assert found == expected, "\n".join(f.format() for f in result.findings) or block.where


def runnable(page: str) -> list[Block]:
    return [
        b
        for b in blocks(page)
        if b.directive != "skip"
        and (b.language in ("console", "python", "pycon", "yaml") or b.directive == "file")
    ]


@pytest.mark.parametrize("page", [p for p in PAGES if runnable(p)])
def test_examples_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if page in NOT_YET_RUNNABLE:
        pytest.skip(NOT_YET_RUNNABLE[page])
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m == "generated" or m.startswith("generated.")]:
        monkeypatch.delitem(sys.modules, name)
    workspace = Workspace(tmp_path, {"__name__": f"docs_{Path(page).stem}"})
    for block in runnable(page):
        if block.directive == "file":
            (path,) = block.args
            (tmp_path / path).write_text(block.text, encoding="utf-8")
            continue
        getattr(workspace, block.language)(block)


def test_block_parser_and_patterns() -> None:
    pattern = expected_pattern("a ... c\n...\nlast")
    assert pattern.fullmatch("a b c\nx\ny\nlast\n")
    assert pattern.fullmatch("a  c\nlast\n")
    assert not pattern.fullmatch("a b c\nlast\nmore\n")
    commands = list(console_commands(Block("p", 1, "console", "$ one\nout\n$ two\n", "", ())))
    assert commands == [("one", "out"), ("two", "")]


# --- the site ----------------------------------------------------------------------------


def page_text(html: str) -> str:
    """What a reader sees of a page: its text without tags."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_a_page_per_shipped_spec_shows_its_svg(site: Path) -> None:
    from statewright.verify.discover import discover

    machines = []
    for path in discover([ROOT / "specs"]):
        declared = re.search(r"^machine: (\w+)$", path.read_text(), re.MULTILINE)
        assert declared is not None, path
        machines.append(declared[1])
    assert machines
    for machine in machines:
        page = (site / "specs" / f"{machine}.html").read_text(encoding="utf-8")
        figure = page.index('<figure class="sw-diagram">')
        assert page.index("<svg", figure) < page.index("</figure>", figure), machine
        assert f'href="{machine}.svg"' in page
        svg = (site / "specs" / f"{machine}.svg").read_text(encoding="utf-8")
        assert "<svg" in svg
        text = page_text(page)
        assert f"$ statewright check specs/{machine}.yaml" in text
        assert f"specs/{machine}.yaml: {machine}: ok" in text
        assert "Covering paths" in text


def test_the_rule_reference_has_every_rule(site: Path) -> None:
    page = (site / "rules.html").read_text(encoding="utf-8")
    text = page_text(page)
    for rule in RULES.values():
        assert f'id="{rule.id}"' in page, rule.id
        assert f"{rule.severity}[{rule.id}]" in text, rule.id
        fails = rule.example("Fails")
        assert fails is not None and fails.splitlines()[-1].strip() in text, rule.id


def test_the_worked_example_draws_its_own_spec_with_its_findings(site: Path) -> None:
    """The sketch declares the fixed pipeline's machine name, and its page once inlined the
    fixed pipeline's committed SVG: no finding was marked where getting started says so."""
    page = (site / "examples" / "discovery-pipeline-sketch.html").read_text(encoding="utf-8")
    start = page.index('<figure class="sw-diagram">')
    figure = unescape(page[start : page.index("</figure>", start)])
    assert "specs/examples/discovery_pipeline_sketch.yaml" in figure
    for rule in ("dead-end", "unreachable-state", "approval-missing-timeout"):
        assert f"error[{rule.replace('-', '&#45;')}]" in figure or f"error[{rule}]" in figure
    fixed = (ROOT / "generated/discovery_pipeline/discovery_pipeline.svg").read_text()
    assert fixed[fixed.index("<svg") :].strip() not in page


FINDING_LINK = re.compile(
    r'<a class="sw-finding sw-finding--(?:error|warning)" href="(?P<href>[^"]*)"[^>]*>'
    r"(?:error|warning)\[(?P<rule>[a-z0-9-]+)\]</a>"
)


def test_every_finding_shown_links_to_its_rule(site: Path) -> None:
    """``error[rule]`` in output led nowhere; each now links to the rule's own anchor."""
    anchors = set(re.findall(r'id="([a-z0-9-]+)"', (site / "rules.html").read_text()))
    linked = 0
    for html in site.rglob("*.html"):
        page = html.read_text(encoding="utf-8")
        links = list(FINDING_LINK.finditer(page))
        unlinked = re.findall(r'<span class="sw-finding [^"]*">\w+\[([a-z0-9-]+)\]', page)
        assert not set(unlinked) & RULES.keys(), html.relative_to(site)  # a rule not linked
        assert page.count('class="sw-finding ') == len(links) + len(unlinked)
        for link in links:
            target = (html.parent / link["href"].split("#")[0]).resolve()
            if link["href"].startswith("#"):
                target = html.resolve()
            assert target == (site / "rules.html").resolve(), (html, link["href"])
            assert link["href"].endswith(f"#{link['rule']}") and link["rule"] in anchors
        linked += len(links)
    assert linked > 100


def test_the_404_page_links_relatively(site: Path) -> None:
    """Without ``site_url`` mkdocs gave 404.html root-absolute links (``/rules.html``),
    broken when the site is opened from the file system or served below a path."""
    page = (site / "404.html").read_text(encoding="utf-8")
    assert not re.findall(r'(?:href|src)="/(?!/)[^"]*"', page)
    assert '"base": "."' in page and 'href="rules.html"' in page


def test_the_front_page_names_every_capability_guide_and_how_to_install(site: Path) -> None:
    """It listed four capabilities, left out five guides, and had no install line,
    repository link or changelog."""
    import yaml

    nav = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)["nav"]
    pages = {
        page
        for section in nav
        if isinstance(section, dict)
        for entries in section.values()
        if isinstance(entries, list)
        for entry in entries
        for page in (entry.values() if isinstance(entry, dict) else [entry])
    }
    assert {"data.md", "agents.md", "asl.md", "audit-store.md", "conformance.md"} <= pages
    front = (site / "index.html").read_text(encoding="utf-8")
    (table,) = re.findall(r'<h2 id="where-to-go-next".*?</table>', front, re.DOTALL)
    for page in pages:
        assert f'href="{page.removesuffix(".md")}.html"' in table, page
    text = page_text(front)
    strong = re.findall(r"<strong>([^<]+)</strong>", front)
    for verb in ("checks", "proves properties", "generates", "draws", "tests", "runs"):
        assert verb in strong, verb
    assert "audits what really ran" in text and "AWS Step Functions" in text
    assert "pip install ." in text and "git clone " in text
    assert 'href="changelog.html"' in front and (site / "changelog.html").is_file()


REMOTE_LOAD = re.compile(
    r"""<(?:script|img|iframe|source|link)\b[^>]*?\b(?:src|href)=["']?(?:https?:)?//[^"' >]+"""
)


def test_the_site_needs_no_network(site: Path) -> None:
    """Nothing the pages load comes from another host (links to read are fine)."""
    for html in site.rglob("*.html"):
        loads = REMOTE_LOAD.findall(html.read_text(encoding="utf-8"))
        assert not loads, (html.relative_to(site), loads[:3])


def test_the_spec_format_page_lists_every_schema_key(site: Path) -> None:
    sys.path.insert(0, str(DOCS))
    try:
        import docgen
    finally:
        sys.path.remove(str(DOCS))
    page = (site / "spec-format.html").read_text(encoding="utf-8")
    for table in docgen.SCHEMA_TABLES:
        for key in docgen.schema_keys(table):
            assert f"<code>{key}</code>" in page, (table, key)


def test_every_page_is_in_the_navigation(site: Path) -> None:
    """Pages others add to docs/ (guides) are listed even when mkdocs.yml does not name them."""
    home = (site / "index.html").read_text(encoding="utf-8")
    for page in PAGES:
        target = Path(page).with_suffix(".html").as_posix()
        assert f'href="{target}"' in home, page


def test_an_unknown_marker_fails_the_build(monkeypatch: pytest.MonkeyPatch) -> None:
    from mkdocs.exceptions import PluginError

    monkeypatch.syspath_prepend(str(DOCS))
    import hooks

    page: Any = SimpleNamespace(file=SimpleNamespace(src_uri="guide.md"))  # the part used
    unused: Any = None
    with pytest.raises(PluginError, match=r"guide\.md: unknown marker statewright:nope"):
        hooks.on_page_markdown("text\n<!-- statewright:nope -->\n", page, unused, unused)
    assert hooks.on_page_markdown("no markers\n", page, unused, unused) == "no markers\n"


def test_the_command_line_page_shows_every_command_argument_and_exit_status(site: Path) -> None:
    """The reference is generated from the parser: a section per command, every spelling of
    every argument, every exit status; the synopsis at the top names every command that runs
    (the hand-written one lacked runs, --regressions, --trace, --input and the bounds)."""
    from html import escape

    from statewright.generator.cli import helps, parsers

    page = (site / "cli.html").read_text(encoding="utf-8")
    synopsis = page[: page.index('id="every-command"')]
    _, parsed = parsers()
    for name, parser in parsed.items():
        assert f'id="statewright-{name.replace(" ", "-")}"' in page, name
        section = page[page.index(f'id="statewright-{name.replace(" ", "-")}"') :]
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
                continue
            for spelling in action.option_strings or [str(action.metavar)]:
                assert f"<code>{spelling}" in section or f"<code>[{spelling}" in section, (
                    name,
                    spelling,
                )
        runs = not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)
        if runs:
            assert f"statewright {name} " in synopsis or f"statewright {name}\n" in synopsis
        # flags set as code, cells labelled for narrow screens
        plain = re.sub(r' data-label="[^"]*"|</?code>', "", section)
        for status, meaning in helps()[name].exits:
            assert f"<td>{status}</td>\n<td>{escape(meaning, quote=False)}</td>" in plain, (
                name,
                status,
            )
    for flag in ("--max-edges", "--max-tour-steps", "--max-property-work", "--regressions"):
        assert f"[{flag} N]" in synopsis or f"[{flag} DIR]" in synopsis, flag
    assert "statewright runs release PATH_OR_URL INSTANCE" in synopsis
    assert "statewright audit verify PATH_OR_URL [--against FILE] [--specs PATH]" in synopsis
    source = (DOCS / "cli.md").read_text(encoding="utf-8")
    assert not re.search(r"^statewright [a-z]", source, re.M), "a hand-written synopsis"
