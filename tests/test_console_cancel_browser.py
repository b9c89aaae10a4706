"""Cancelling a run from the console in real headless Chromium (``tests/browser.py``): an
operator holding the role the console lets cancel opens a run, gives a reason and cancels
it; the page comes back with the run closed in its timeline, and the store holds the
``cancelled`` record (read back with the committed generated runtime). The HTTP-level
refusals: ``test_console_cancel.py``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import Browser
from consolekit import ROOT, running, seed
from test_console_browser import (
    HEADER,
    SERVED,
    _goto,
    _records,
    _status,
    _submit,
    _tab,
    _text,
    chromium,
)

from statewright.generator.console.app import Console, create_app
from statewright.generator.console.identity import HeaderIdentity
from statewright.generator.console.reading import Stores
from statewright.generator.runtime import SqlStore

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

__all__ = ["chromium"]

pytestmark = pytest.mark.slow

ROLES = {"omar": frozenset({"on_call"}), "dana": frozenset({"tech_lead"})}


@pytest.fixture
def operated(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, store) of a console behind a proxy that lets ``on_call`` cancel."""
    path = str(tmp_path / "runs.db")
    seed(SqlStore.sqlite(path), SERVED, waiting=2)
    stores = Stores(path)
    console = Console(SERVED, stores, HeaderIdentity(HEADER, ROLES), poll=0.25)
    console.cancel_roles = frozenset({"on_call"})
    with running(create_app(console)) as base:
        yield base, path
    stores.close()


def test_an_operator_cancels_a_run_and_sees_it_closed(
    chromium: Browser, operated: tuple[str, str]
) -> None:
    base, path = operated
    dana = _tab(chromium, "dana")
    _goto(dana, f"{base}/runs/orchestrator/wait-0")
    assert dana.evaluate("document.querySelector('form.cancel') === null")  # not her role
    before = _records(path, "wait-0")

    omar = _tab(chromium, "omar")
    _goto(omar, f"{base}/runs/orchestrator/wait-0")
    assert "Cancel this run" in _text(omar, "form.cancel")
    assert omar.evaluate("document.querySelector('#cancel-reason').required") is True
    omar.evaluate("window.loadedOnce = true")
    omar.evaluate("document.querySelector('#cancel-reason').value = 'opened twice by mistake'")
    _submit(omar, "form.cancel button")
    assert _status(omar) == 200
    assert omar.evaluate("location.pathname") == "/runs/orchestrator/wait-0"
    assert "Done: cancelled in WAITING_FOR_APPROVAL" in _text(omar, "#message")
    records = _records(path, "wait-0")
    last = records[-1]
    assert (str(last.event), last.actor, last.decision) == (
        "cancelled",
        "omar",
        "opened twice by mistake",
    )
    timeline = _text(omar, f"#record-{last.seq}")
    assert "cancelled in WAITING_FOR_APPROVAL: closed" in timeline and "by omar" in timeline
    assert "closed for good" in _text(omar, "#cancelled")
    assert omar.evaluate("document.querySelector('form.cancel') === null")
    assert omar.evaluate("document.querySelector('form.decide') === null")
    assert omar.evaluate("window.loadedOnce === undefined")  # a new page: the POST's answer
    assert len(records) == len(before) + 1 and records[: len(before)] == before
    # dana's page, open all along, follows the store without a reload
    dana.call("Page.bringToFront")
    closed = dana.evaluate(
        """new Promise(resolve => {
          const seen = () => (document.querySelector('#cancelled')?.innerText ?? '')
            .includes('closed for good');
          if (seen()) return resolve(true);
          new MutationObserver(() => seen() && resolve(true))
            .observe(document.body, {childList: true, subtree: true});
        })"""
    )
    assert closed is True
    assert "cancelled in WAITING_FOR_APPROVAL: closed" in _text(dana, f"#record-{last.seq}")


def test_the_cancel_form_fits_400_px(chromium: Browser, operated: tuple[str, str]) -> None:
    base, _ = operated
    page = _tab(chromium, "omar", width=400)
    _goto(page, f"{base}/runs/orchestrator/wait-1")
    assert _status(page) == 200
    assert page.evaluate("document.querySelector('form.cancel') !== null")
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1] + 1, widths
    overflowing = page.evaluate(
        """[...document.querySelectorAll('form.cancel, form.cancel *')].filter(e => {
             const box = e.getBoundingClientRect();
             return box.width > 0 && box.right > document.documentElement.clientWidth + 1;
           }).map(e => e.tagName + '.' + e.className)"""
    )
    assert overflowing == []
