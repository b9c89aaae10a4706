"""The reviewers' console in real headless Chromium (``tests/browser.py``), as reviewers use it.

A reviewer signs in with the printed link and approves from the inbox; a second reviewer's
open form for the same run is refused once the first has decided (stale); a wrong role
and a form without its CSRF token are refused with nothing changed; a browser that names
nobody sees nothing; an open inbox follows the store without a reload; and at 400 px no
page scrolls sideways. On release_review runs (a quorum of two maintainers, never the
requester, bound to the context): one approval leaves the gate waiting, a second completes
it, the requester is refused, and an approval of a context that changed since is refused
by the runtime. Identities behind a proxy are the header Chromium sends
(``Network.setExtraHTTPHeaders``), as a proxy would add it. Every decision is read back
from the store with the committed generated runtime.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import Browser, Page, find_chromium
from consolekit import (
    RELEASE_ROLES,
    ROOT,
    orchestrator,
    release_review,
    running,
    seed,
    seed_releases,
)

from statewright.generator.console.app import Console, create_app
from statewright.generator.console.identity import HeaderIdentity, TokenIdentity
from statewright.generator.console.reading import Stores
from statewright.generator.runtime import Actor, SqlStore

if str(ROOT) not in sys.path:  # the committed generated/ package, the independent reader
    sys.path.insert(0, str(ROOT))
from generated.orchestrator.runtime import Orchestrator
from generated.orchestrator.runtime import SqlStore as GeneratedStore
from generated.release_review.runtime import ReleaseReview

pytestmark = pytest.mark.slow

SERVED = orchestrator()
HEADER = "X-Forwarded-User"
ROLES = {"dana": frozenset({"tech_lead"}), "lee": frozenset({"tech_lead"}), "eve": frozenset()}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if find_chromium() is None:
        pytest.fail("no chromium on PATH: apt-get install chromium (bash .ci/setup does)")
    with Browser(timeout=120) as browser:
        yield browser


@pytest.fixture
def store_path(tmp_path: Path) -> str:
    path = str(tmp_path / "runs.db")
    seed(SqlStore.sqlite(path), SERVED, waiting=3, running=1)
    return path


@pytest.fixture
def proxied(store_path: str) -> Iterator[str]:
    """The base URL of a console behind a proxy naming users in X-Forwarded-User."""
    stores = Stores(store_path)
    identity = HeaderIdentity(HEADER, ROLES)
    with running(create_app(Console(SERVED, stores, identity, poll=0.25))) as base:
        yield base
    stores.close()


def _records(path: str, instance_id: str) -> list[Any]:
    store = GeneratedStore(sqlite3.connect(path), create=False)
    try:
        return list(Orchestrator.load(store, instance_id).audit)
    finally:
        store.close()


def _tab(browser: Browser, user: str | None, width: int = 1400) -> Page:
    page = browser.page(width)
    page.call("Network.enable")
    page.call("Network.setExtraHTTPHeaders", headers={HEADER: user} if user else {})
    return page


def _goto(page: Page, url: str) -> None:
    """``page.goto(url)`` in front: a tab behind another never draws a frame, which
    ``goto`` waits for."""
    page.call("Page.bringToFront")
    page.goto(url)


def _submit(page: Page, button: str) -> None:
    """Click ``button`` (a CSS selector) and wait until the page it leads to has loaded."""
    page.evaluate(f"document.querySelector({button!r}).click()")
    page.browser.wait_for("Page.loadEventFired", page.session)


def _status(page: Page) -> int:
    return int(page.evaluate("performance.getEntriesByType('navigation')[0].responseStatus"))


def _text(page: Page, selector: str = "body") -> str:
    return str(page.evaluate(f"document.querySelector({selector!r})?.innerText ?? ''"))


def test_a_reviewer_signs_in_with_the_link_and_approves(chromium: Browser, store_path: str) -> None:
    identity = TokenIdentity(Actor("dana", frozenset({"tech_lead"})))
    stores = Stores(store_path)
    with running(create_app(Console(SERVED, stores, identity))) as base:
        page = chromium.page(1400)
        _goto(page, f"{base}/login?token={identity.token}")
        assert page.evaluate("location.pathname") == "/"  # the token left the address bar
        assert "3 runs waiting for a decision" in _text(page, "#inbox")
        page.evaluate("document.querySelector('[data-run=\"orchestrator/wait-1\"] a').click()")
        page.browser.wait_for("Page.loadEventFired", page.session)
        assert page.evaluate("location.pathname") == "/runs/orchestrator/wait-1"
        assert page.evaluate("document.querySelectorAll('svg .node.current').length") == 1
        page.evaluate("document.querySelector('#decision').value = 'ship it, tests are green'")
        _submit(page, "button[value=human_approved]")
        assert "Done: human_approved: RUNNING" in _text(page, "#message")
        assert _text(page, "#state") == "RUNNING"
    stores.close()
    last = _records(store_path, "wait-1")[-1]
    assert (last.actor, last.decision, str(last.trigger)) == (
        "dana",
        "ship it, tests are green",
        "human_approved",
    )


def test_a_second_reviewers_stale_form_is_refused(chromium: Browser, proxied: str) -> None:
    """Two tech leads open the same gate; the first approves; the second's form, for the
    run as it was, is refused and the run keeps the first decision alone."""
    dana, lee = _tab(chromium, "dana"), _tab(chromium, "lee")
    for page in (dana, lee):
        _goto(page, f"{proxied}/runs/orchestrator/wait-0")
        page.evaluate("document.querySelector('#decision').value = 'approve'")
    _submit(dana, "button[value=human_approved]")
    _submit(lee, "button[value=human_rejected]")
    assert _status(lee) == 409
    assert "changed since you opened it" in _text(lee, "#error")


def test_a_wrong_role_is_refused_and_nothing_changes(
    chromium: Browser, proxied: str, store_path: str
) -> None:
    before = _records(store_path, "wait-2")
    eve = _tab(chromium, "eve")
    _goto(eve, f"{proxied}/runs/orchestrator/wait-2")
    assert "You hold none of the roles these need: tech_lead" in _text(eve, "form.decide")
    eve.evaluate("document.querySelector('#decision').value = 'let me'")
    _submit(eve, "button[value=human_approved]")
    assert _status(eve) == 403
    assert "eve holds none of the roles" in _text(eve, "#error")
    assert _records(store_path, "wait-2") == before


def test_a_form_without_its_csrf_token_is_refused(
    chromium: Browser, proxied: str, store_path: str
) -> None:
    before = _records(store_path, "wait-2")
    dana = _tab(chromium, "dana")
    _goto(dana, f"{proxied}/runs/orchestrator/wait-2")
    dana.evaluate("document.querySelector('form.decide [name=csrf]').remove()")
    dana.evaluate("document.querySelector('#decision').value = 'approve'")
    _submit(dana, "button[value=human_approved]")
    assert _status(dana) == 403 and "CSRF" in _text(dana)
    assert _records(store_path, "wait-2") == before


def test_a_browser_that_names_nobody_sees_nothing(chromium: Browser, proxied: str) -> None:
    for user in (None, "mallory"):
        page = _tab(chromium, user)
        for path in ("/", "/runs", "/runs/orchestrator/wait-0"):
            _goto(page, f"{proxied}{path}")
            assert _status(page) == 401
            shown = _text(page)
            assert "wait-" not in shown and "orchestrator" not in shown
            assert page.evaluate("document.querySelectorAll('a, form, script').length") == 0


def test_an_open_inbox_follows_the_store_without_a_reload(
    chromium: Browser, proxied: str, store_path: str
) -> None:
    page = _tab(chromium, "dana")
    _goto(page, f"{proxied}/")
    page.evaluate("window.loadedOnce = true")
    assert "3 runs waiting" in _text(page, "#inbox")
    store = SqlStore.sqlite(store_path)
    run = SERVED["orchestrator"].machine.load(store, "wait-0")
    run.fire(
        "human_approved", actor=Actor("lee", frozenset({"tech_lead"})), decision="from elsewhere"
    )
    store.close()
    updated = page.evaluate(
        """new Promise(resolve => {
          const seen = () => document.querySelector('#inbox').innerText.includes('2 runs waiting');
          if (seen()) return resolve(true);
          new MutationObserver(() => seen() && resolve(true))
            .observe(document.body, {childList: true, subtree: true});
        })"""
    )
    assert updated is True
    assert page.evaluate("window.loadedOnce") is True  # the same document: no reload
    assert page.evaluate("document.querySelector('[data-run=\"orchestrator/wait-0\"]')") is None


@pytest.mark.parametrize(
    "path", ["/", "/runs", "/runs/orchestrator/wait-0", "/runs/orchestrator/failed-0"]
)
def test_no_page_scrolls_sideways_at_400_px(chromium: Browser, proxied: str, path: str) -> None:
    page = _tab(chromium, "dana", width=400)
    _goto(page, f"{proxied}{path}")
    assert _status(page) == 200
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1] + 1, widths
    overflowing = page.evaluate(
        """[...document.querySelectorAll('main *')].filter(e => {
             const box = e.getBoundingClientRect();
             return box.width > 0 && box.right > document.documentElement.clientWidth + 1
               && !e.closest('figure.diagram, .scroll');
           }).map(e => e.tagName + '.' + e.className)"""
    )
    assert overflowing == []


# -- release_review: the approval policies in the browser ----------------------------------

RELEASES = release_review()


@pytest.fixture
def release_store(tmp_path: Path) -> str:
    path = str(tmp_path / "releases.db")
    seed_releases(SqlStore.sqlite(path), RELEASES, waiting=3)
    return path


@pytest.fixture
def releases(release_store: str) -> Iterator[str]:
    """The base URL of a console over release_review runs behind a proxy."""
    stores = Stores(release_store)
    identity = HeaderIdentity(HEADER, RELEASE_ROLES)
    with running(create_app(Console(RELEASES, stores, identity, poll=30))) as base:
        yield base
    stores.close()


def _release(path: str, instance_id: str) -> Any:
    store = GeneratedStore(sqlite3.connect(path), create=False)
    try:
        return ReleaseReview.load(store, instance_id)
    finally:
        store.close()


def _approve(page: Page, base: str, instance_id: str, why: str) -> None:
    _goto(page, f"{base}/runs/release_review/{instance_id}")
    page.evaluate(f"document.querySelector('#decision').value = {why!r}")
    _submit(page, "button[value=approved]")


def test_one_approval_waits_and_a_second_completes_the_quorum(
    chromium: Browser, releases: str, release_store: str
) -> None:
    bob, carol = _tab(chromium, "bob"), _tab(chromium, "carol")
    _goto(bob, f"{releases}/")
    card = _text(bob, '[data-run="release_review/rel-0"]')
    assert "0 of 2, 2 more to approve" in card and "nobody yet" in card
    _approve(bob, releases, "rel-0", "notes match the build")
    assert _status(bob) == 200
    assert "Done: approved: REVIEW" in _text(bob, "#message")
    assert _text(bob, "#state") == "REVIEW"
    assert "1 of 2, 1 more to approve" in _text(bob, ".quorum")
    assert _text(bob, ".approvals").startswith("bob (")
    _goto(carol, f"{releases}/")
    assert "1 of 2" in _text(carol, '[data-run="release_review/rel-0"]')
    _approve(carol, releases, "rel-0", "artefact digest checked")
    assert "Done: approved: RELEASED" in _text(carol, "#message")
    run = _release(release_store, "rel-0")
    assert str(run.state) == "RELEASED"
    assert [(str(r.event), r.actor) for r in run.audit[-2:]] == [
        ("approval", "bob"),
        ("transition", "carol"),
    ]


def test_the_requester_is_refused(chromium: Browser, releases: str, release_store: str) -> None:
    before = list(_release(release_store, "rel-1").audit)
    alice = _tab(chromium, "alice")
    _goto(alice, f"{releases}/runs/release_review/rel-1")
    assert "alice (the policy refuses their approval)" in _text(alice, ".excluded")
    alice.evaluate("document.querySelector('#decision').value = 'my own release'")
    _submit(alice, "button[value=approved]")
    assert _status(alice) == 403
    assert "alice started this run" in _text(alice, "#error")
    assert list(_release(release_store, "rel-1").audit) == before


def test_an_approval_of_a_changed_context_is_refused(
    chromium: Browser, releases: str, release_store: str
) -> None:
    """bob reads the gate; meanwhile the release is rejected, rebuilt with other notes and
    back at REVIEW; bob's approval names the digest he read and the runtime refuses it."""
    bob = _tab(chromium, "bob")
    _goto(bob, f"{releases}/runs/release_review/rel-2")
    read = _text(bob, "code.digest")
    bob.evaluate("document.querySelector('#decision').value = 'looks fine'")
    store = SqlStore.sqlite(release_store)
    run = RELEASES["release_review"].machine.load(store, "rel-2")
    run.fire("rejected", actor=Actor("carol", RELEASE_ROLES["carol"]), decision="no notes")
    run.fire("rebuild", actor=Actor("rita", RELEASE_ROLES["rita"]), decision="notes added")
    run.update_context({"notes": "release 1.2, now with notes"})
    run.fire("build_ready")
    store.close()
    count = len(_release(release_store, "rel-2").audit)
    _submit(bob, "button[value=approved]")
    assert _status(bob) == 409
    error = _text(bob, "#error")
    assert "names another digest than the context under review" in error
    assert "the context changed since it was read" in error and read not in error
    assert len(_release(release_store, "rel-2").audit) == count
    assert _text(bob, "code.digest") != read  # the page shows the context bound now


@pytest.mark.parametrize("path", ["/", "/runs/release_review/rel-0"])
def test_the_gate_pages_fit_400_px(chromium: Browser, releases: str, path: str) -> None:
    page = _tab(chromium, "bob", width=400)
    _goto(page, f"{releases}{path}")
    assert "of 2" in _text(page, ".quorum")
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1] + 1, widths


SHOTS = "STATEWRIGHT_CONSOLE_SHOTS"
"""A folder to write the inbox and run screenshots to (the closing note's), if set."""


def test_a_half_approved_quorum_and_an_escalated_gate_as_reviewers_see_them(
    chromium: Browser, tmp_path: Path
) -> None:
    """bob approved rel-0 (1 of 2); old-0 entered REVIEW 30 hours ago and a sweep recorded
    its escalation at its due time, so dave, a director, may decide. The inbox and the run
    timeline show both at 1400 and 400 px without scrolling sideways."""
    path = str(tmp_path / "releases.db")
    store = SqlStore.sqlite(path)
    seed_releases(store, RELEASES, waiting=2, escalated=1)
    machine = RELEASES["release_review"].machine
    run = machine.load(store, "rel-0")
    run.fire("approved", actor=Actor("bob", RELEASE_ROLES["bob"]), decision="notes match")
    swept = machine.sweep(store)  # the escalation is due: a worker's sweep records it
    assert [(i, str(r.event)) for i, r in swept.fired] == [("old-0", "escalation")]
    store.close()
    shots = os.environ.get(SHOTS)
    folder = Path(shots) if shots else tmp_path / "shots"
    folder.mkdir(parents=True, exist_ok=True)
    stores = Stores(path)
    identity = HeaderIdentity(HEADER, RELEASE_ROLES)
    with running(create_app(Console(RELEASES, stores, identity, poll=30))) as base:
        for width in (1400, 400):
            page = _tab(chromium, "dave", width=width)
            _goto(page, f"{base}/")
            half = _text(page, '[data-run="release_review/rel-0"]')
            assert "1 of 2, 1 more to approve" in half and "bob (" in half
            escalated = _text(page, '[data-run="release_review/old-0"]')
            assert "yes: director, maintainer may decide" in escalated
            _fits(page)
            page.screenshot(folder / f"inbox-{width}.png")
            _goto(page, f"{base}/runs/release_review/old-0")
            timeline = _text(page, "body")
            assert "escalated to director" in timeline and "button" not in timeline
            assert page.evaluate("document.querySelector('button[value=approved]') !== null")
            _fits(page)
            page.screenshot(folder / f"run-{width}.png")
    stores.close()
    for name in ("inbox-1400.png", "inbox-400.png", "run-1400.png", "run-400.png"):
        assert (folder / name).read_bytes().startswith(b"\x89PNG"), name


def _fits(page: Page) -> None:
    widths = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert widths[0] <= widths[1] + 1, widths
