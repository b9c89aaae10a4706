"""mkdocs hooks: generated pages and markers filled from the live code.

- ``on_files`` adds a page and an SVG per shipped spec under ``specs/`` (the SVG is the
  committed ``generated/<machine>/<machine>.svg``; rendered in memory when the spec has
  none, as for the worked example), an index of them, and lists any hand-written page
  the nav does not name under *Guides*.
- ``on_page_markdown`` replaces each marker line ``<!-- statewright:NAME ARG -->`` with
  generated Markdown. A marker this module does not know fails the build.
- ``on_page_content`` finishes the HTML (``pagehtml``): what copy buttons copy, trim
  marks, findings, inline diagrams.
- ``on_config`` puts the version in the footer and, in a clone with an ``origin``
  remote, links the repository.

Markers: ``rules``, ``schema spec|state|transition|reason``, ``cli-synopsis`` (a line per
command with every argument), ``cli`` (every command: arguments, defaults, exit statuses),
``check PATH``, ``paths PATH``, ``diagram PATH`` (``diagram PATH#NAME``: with the
counterexample of the property NAME drawn on it), ``source PATH``, ``coverage``; a
``PATH`` is relative to the repository, or ``new:NAME`` for the spec ``statewright new
NAME`` writes.
"""

from __future__ import annotations

import re
import subprocess
from importlib.metadata import version
from pathlib import Path, PurePosixPath
from typing import Any

import apidoc
import docgen
import pagehtml
from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files
from mkdocs.structure.pages import Page

from statewright.verify.explain import rules_markdown

MARKER = re.compile(r"^<!-- statewright:(?P<name>[a-z-]+)(?: (?P<arg>[^ ]+))? -->$", re.M)
SPECS_DIR = "specs"
GUIDES = "Guides"


def diagram_svg(arg: str) -> str:
    """The SVG of a spec (or ``new:NAME``): the committed golden file, else rendered now;
    ``PATH#NAME`` draws the counterexample of the property (or rule) NAME on it."""
    path, _, trace = arg.partition("#")
    doc = docgen.spec_doc(path)
    if trace:
        return _trace_svg(doc, trace)
    golden = docgen.ROOT / "generated" / doc.name / f"{doc.name}.svg"
    if doc.result.spec is not None and golden.is_file():
        return golden.read_text(encoding="utf-8")
    from statewright.generator.diagram import diagram_files

    if doc.result.spec is None:
        raise PluginError(f"{path} does not load, so it cannot be drawn")
    return diagram_files(doc.result.spec, doc.result.findings)[f"{doc.name}.svg"]


def _trace_svg(doc: docgen.SpecDoc, trace: str) -> str:
    from statewright.generator.commands.diagram import counterexample
    from statewright.generator.diagram import render_format
    from statewright.generator.diagram.model import build_diagram

    checked = doc.result
    if checked.spec is None:
        raise PluginError(f"{doc.path} does not load, so it cannot be drawn")
    found = counterexample(checked, trace)
    if isinstance(found, str):
        raise PluginError(f"{doc.path}: {found}")
    return render_format(build_diagram(checked.spec, checked.findings, found), "svg").decode()


def _svg_name(arg: str) -> str:
    """The file name a diagram marker's SVG gets beside its page."""
    path, _, trace = arg.partition("#")
    stem = PurePosixPath(path.removeprefix(docgen.NEW)).stem
    return f"{stem}-{trace}.svg" if trace else f"{stem}.svg"


def _markers(markdown: str) -> list[tuple[str, str | None]]:
    return [(m["name"], m["arg"]) for m in MARKER.finditer(markdown)]


def _expand(name: str, arg: str | None, page: Page) -> str:
    if name == "rules":
        return rules_markdown()
    if name == "schema" and arg in docgen.SCHEMA_TABLES:
        return docgen.schema_table(arg)
    if name == "cli":
        return docgen.cli_reference()
    if name == "cli-synopsis":
        return docgen.cli_synopsis()
    if name == "coverage":
        return docgen.coverage_table(docgen.shipped_specs())
    if arg is not None and name == "check":
        return docgen.check_report(docgen.spec_doc(arg))
    if arg is not None and name == "paths":
        return docgen.covering_paths(docgen.spec_doc(arg))
    if arg is not None and name == "diagram":
        return docgen.diagram_figure(f"the state diagram of {arg}", _svg_name(arg))
    if arg is not None and name == "api" and arg in apidoc.PUBLIC:
        return apidoc.api_reference(arg)
    if arg is not None and name == "source":
        return docgen.fenced(docgen.spec_source(docgen.spec_doc(arg)), "yaml")
    raise PluginError(f"{page.file.src_uri}: unknown marker statewright:{name} {arg or ''}")


def _nav_paths(nav: Any) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, list):
        return {p for item in nav for p in _nav_paths(item)}
    if isinstance(nav, dict):
        return {p for value in nav.values() for p in _nav_paths(value)}
    return set()


def _add_unlisted_guides(files: Files, config: MkDocsConfig) -> None:
    """Hand-written pages the nav does not name are listed under *Guides*."""
    nav = config.nav
    if not isinstance(nav, list):
        return
    listed = _nav_paths(nav)
    unlisted = sorted(
        f.src_uri
        for f in files.documentation_pages()
        if f.src_uri not in listed and not f.generated_by and "/" not in f.src_uri
    )
    for item in nav:
        if isinstance(item, dict) and isinstance(item.get(GUIDES), list):
            item[GUIDES].extend(unlisted)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    docs = docgen.shipped_specs()
    index = ["# Shipped specs\n", "Every spec in `specs/`, checked and drawn on each build.\n"]
    nav_specs: list[Any] = [f"{SPECS_DIR}/index.md"]
    for doc in docs:
        svg = f"{doc.name}.svg"
        page = f"{SPECS_DIR}/{doc.name}.md"
        files.append(File.generated(config, f"{SPECS_DIR}/{svg}", content=diagram_svg(doc.path)))
        files.append(File.generated(config, page, content=docgen.spec_page(doc, svg)))
        nav_specs.append(page)
        description = doc.result.spec.description if doc.result.spec else None
        index.append(f"- [{doc.name}]({doc.name}.md): {' '.join((description or '').split())}")
    files.append(File.generated(config, f"{SPECS_DIR}/index.md", content="\n".join(index) + "\n"))
    for item in config.nav or []:
        if isinstance(item, dict) and "Shipped specs" in item:
            item["Shipped specs"] = nav_specs
    for source in list(files.documentation_pages()):
        if source.generated_by or source.abs_src_path is None:
            continue
        folder = PurePosixPath(source.src_uri).parent
        for name, arg in _markers(Path(source.abs_src_path).read_text(encoding="utf-8")):
            if name == "diagram" and arg is not None:
                uri = (folder / _svg_name(arg)).as_posix()
                if files.get_file_from_path(uri) is None:
                    files.append(File.generated(config, uri, content=diagram_svg(arg)))
    _add_unlisted_guides(files, config)
    return files


def on_page_markdown(markdown: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    return MARKER.sub(lambda m: _expand(m["name"], m["arg"], page), markdown)


def on_page_content(html: str, page: Page, config: MkDocsConfig, files: Files) -> str:
    folder = PurePosixPath(page.file.src_uri).parent

    def read_svg(url: str) -> str:
        file = files.get_file_from_path((folder / url).as_posix())
        if file is None:
            raise PluginError(f"{page.file.src_uri}: no diagram {url}")
        return file.content_string

    return pagehtml.finish(html, read_svg)


def _origin_url() -> str | None:
    """The ``origin`` remote of the clone the site is built from, as a web address."""
    try:
        url = subprocess.run(
            ["git", "config", "--get", "remote.origin.url"],
            cwd=docgen.ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    url = re.sub(r"^git@([^:]+):", r"https://\1/", url).removesuffix(".git")
    return url if url.startswith("https://") else None


def on_config(config: MkDocsConfig) -> MkDocsConfig:
    config.copyright = f"statewright {version('statewright')}"
    if not config.repo_url and (url := _origin_url()):
        config.repo_url = url
        config.repo_name = url.rsplit("/", 2)[-2] + "/" + url.rsplit("/", 1)[-1]
    return config
