"""Cancelling a run from the console (``serve --cancel-role``), over HTTP against a real
uvicorn on SQLite and PostgreSQL: the form shows only to the roles the console lets
cancel and only on an open run; a cancellation writes the ``cancelled`` record
``statewright runs cancel`` writes (read back with the committed generated runtime, an
implementation the console did not build), signed with the operator's key when the
console signs; every refusal (no role, a console that lets nobody cancel, no reason, a
stale form, a run already closed or finished, no CSRF token) is 403 or 409 and writes
nothing. The same in Chromium: ``test_console_browser.py``."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from consolekit import RELEASE_ROLES, ROOT, Client, release_review, running, seed, seed_releases
from test_console import HEADER, SERVED, _open, _records, target
from test_console_signing import _folder, _free_port, _pem, _wait_until_up

from statewright.generator import signing
from statewright.generator.cli import main
from statewright.generator.commands.audit import audit_command
from statewright.generator.console.app import Console, create_app
from statewright.generator.console.identity import HeaderIdentity
from statewright.generator.console.reading import Stores
from statewright.generator.runtime import Actor, SqlStore

__all__ = ["target"]

ROLES = {
    "dana": frozenset({"tech_lead"}),
    "omar": frozenset({"on_call"}),
    "rita": frozenset({"on_call", "tech_lead"}),
}


def _console(target: str, cancel_roles: frozenset[str], **more: Any) -> Iterator[str]:
    stores = Stores(target)
    console = Console(SERVED, stores, HeaderIdentity(HEADER, ROLES), **more)
    console.cancel_roles = cancel_roles
    with running(create_app(console)) as base:
        yield base
    stores.close()


@pytest.fixture
def console(target: str) -> Iterator[tuple[str, str]]:
    """(base URL, store) of a console that lets ``on_call`` cancel."""
    for base in _console(target, frozenset({"on_call"})):
        yield base, target


def _as(base: str, user: str) -> Client:
    return Client(base, {HEADER: user})


def _cancel_form(page: str) -> dict[str, str] | None:
    """The hidden fields of the page's cancel form; None when it has none."""
    if '<form class="cancel"' not in page:
        return None
    form = page.split('<form class="cancel"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form))


def _fields_of(page: str, kind: str = "decide") -> dict[str, str]:
    form = page.split(f'<form class="{kind}"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form))


def test_an_operator_cancels_a_run_from_its_page(console: tuple[str, str]) -> None:
    base, target = console
    omar = _as(base, "omar")
    assert "wait-0" in omar.get("/").text
    page = omar.get("/runs/orchestrator/wait-0")
    fields = _cancel_form(page.text)
    assert fields is not None and fields["action"] == "cancel"
    before = _records(target, "wait-0")
    reason = "the customer withdrew the request"
    done = omar.post("/runs/orchestrator/wait-0", {**fields, "decision": reason, "actor": "eve"})
    assert done.status == 303, done.text
    records = _records(target, "wait-0")
    assert records[: len(before)] == before and len(records) == len(before) + 1
    last = records[-1]
    # the proxy's user, the roles they hold, the reason; in the state the run rested in
    assert (str(last.event), last.actor, last.decision, last.roles) == (
        "cancelled",
        "omar",
        reason,
        ("on_call",),
    )
    assert str(last.to_state) == str(last.from_state) == "WAITING_FOR_APPROVAL"
    assert last.signature is None  # this console signs nothing
    store = _open(target)
    try:
        from generated.orchestrator.runtime import Orchestrator

        assert Orchestrator.load(store, "wait-0").cancelled == last
    finally:
        store.close()
    shown = omar.get(done.headers["location"]).text
    assert "Done: cancelled in WAITING_FOR_APPROVAL" in shown
    assert "cancelled in WAITING_FOR_APPROVAL: closed" in shown  # the timeline's record
    assert 'id="cancelled"' in shown and "by omar" in shown
    assert _cancel_form(shown) is None and '<form class="decide"' not in shown
    assert "wait-0" not in omar.get("/").text  # a closed run waits for nobody
    # the page's form again: stale (the run has a record more), nothing written
    again = omar.post("/runs/orchestrator/wait-0", {**fields, "decision": reason})
    assert again.status == 409 and "changed since you opened it" in again.text
    # a form naming the run as it is now: the runtime refuses a closed run
    fresh = {**fields, "seen": str(len(records)), "decision": "again"}
    closed = omar.post("/runs/orchestrator/wait-0", fresh)
    assert closed.status == 409 and "was cancelled by omar" in closed.text
    assert _records(target, "wait-0") == records


def test_cancel_refusals_write_nothing(console: tuple[str, str]) -> None:
    base, target = console
    dana, omar = _as(base, "dana"), _as(base, "omar")
    # dana holds no role the console lets cancel: no form, and a forged one is refused
    page = dana.get("/runs/orchestrator/wait-1").text
    assert _cancel_form(page) is None
    forged = {**_fields_of(page), "action": "cancel", "decision": "stop it"}
    before = _records(target, "wait-1")
    reply = dana.post("/runs/orchestrator/wait-1", forged)
    assert reply.status == 403
    assert "dana holds none of the roles this console lets cancel a run: on_call" in reply.text
    fields = _cancel_form(omar.get("/runs/orchestrator/wait-1").text)
    assert fields is not None
    # no reason: the runtime's refusal
    for blank in ("", "   "):
        reply = omar.post("/runs/orchestrator/wait-1", {**fields, "decision": blank})
        assert reply.status == 403 and "needs a reason" in reply.text
    # no CSRF token, or another user's
    no_csrf = {k: v for k, v in fields.items() if k != "csrf"}
    assert omar.post("/runs/orchestrator/wait-1", {**no_csrf, "decision": "x"}).status == 403
    other = {**fields, "csrf": forged["csrf"], "decision": "x"}
    assert omar.post("/runs/orchestrator/wait-1", other).status == 403
    # a stale form: the run moved after the page was read
    approve = {**_fields_of(dana.get("/runs/orchestrator/wait-1").text)}
    approved = dana.post(
        "/runs/orchestrator/wait-1",
        {**approve, "trigger": "human_approved", "decision": "go on"},
    )
    assert approved.status == 303
    moved = _records(target, "wait-1")
    assert len(moved) == len(before) + 1
    reply = omar.post("/runs/orchestrator/wait-1", {**fields, "decision": "too late"})
    assert reply.status == 409 and "changed since you opened it" in reply.text
    assert _records(target, "wait-1") == moved


def test_a_console_without_cancel_roles_lets_nobody_cancel(target: str) -> None:
    for base in _console(target, frozenset()):
        omar = _as(base, "omar")
        page = omar.get("/runs/orchestrator/wait-2").text
        assert _cancel_form(page) is None
        before = _records(target, "wait-2")
        forged = {**_fields_of(page), "action": "cancel", "decision": "stop"}
        reply = omar.post("/runs/orchestrator/wait-2", forged)
        assert reply.status == 403 and "lets nobody cancel a run" in reply.text
        assert _records(target, "wait-2") == before


def test_a_finished_run_offers_no_cancel_and_refuses_one(tmp_path: Path) -> None:
    """release_review's RELEASED is final: no form; a forged one is refused by the runtime."""
    served = release_review()
    path = str(tmp_path / "releases.db")
    store = SqlStore.sqlite(path)
    seed_releases(store, served, waiting=1)
    run = served["release_review"].machine.load(store, "rel-0")
    for name in ("bob", "carol"):
        run.fire("approved", actor=Actor(name, RELEASE_ROLES[name]), decision="ok")
    assert str(run.state) == "RELEASED"
    count = len(run.audit)
    store.close()
    roles = {**RELEASE_ROLES, "rita": frozenset({"release_manager"})}
    stores = Stores(path)
    console = Console(served, stores, HeaderIdentity(HEADER, roles))
    console.cancel_roles = frozenset({"release_manager"})
    with running(create_app(console)) as base:
        rita = _as(base, "rita")
        page = rita.get("/runs/release_review/rel-0").text
        assert "RELEASED" in page and _cancel_form(page) is None
        known = console.identity.who({HEADER.lower(): "rita"}, {})
        assert known is not None
        fields = {
            "csrf": console.identity.csrf(known),  # as a form of hers would carry it
            "action": "cancel",
            "decision": "undo the release",
            "seen": str(count),
            "digest": re.findall(r'<code class="digest">([^<]+)</code>', page)[0],
        }
        reply = rita.post("/runs/release_review/rel-0", fields)
        assert reply.status == 409 and "has finished in RELEASED" in reply.text
    stores.close()
    store = SqlStore.sqlite(path)
    assert len(served["release_review"].machine.load(store, "rel-0").audit) == count
    store.close()


def test_a_signing_console_signs_the_cancellation(tmp_path: Path) -> None:
    """With signers the cancelled record carries the operator's signature, and ``audit
    verify --keyring`` holds it to their key (another key for them fails it)."""
    path = str(tmp_path / "runs.db")
    seed(SqlStore.sqlite(path), SERVED, waiting=1)
    private, public = signing.new_key()
    signers = {"omar": signing.Ed25519Signer(private)}
    for base in _console(path, frozenset({"on_call"}), signers=signers, signed_only=True):
        omar, rita = _as(base, "omar"), _as(base, "rita")
        fields = _cancel_form(rita.get("/runs/orchestrator/wait-0").text)
        assert fields is not None
        before = _records(path, "wait-0")
        refused = rita.post("/runs/orchestrator/wait-0", {**fields, "decision": "stop"})
        assert refused.status == 403 and "holds no signing key for rita" in refused.text
        assert _records(path, "wait-0") == before
        fields = _cancel_form(omar.get("/runs/orchestrator/wait-0").text)
        assert fields is not None
        done = omar.post("/runs/orchestrator/wait-0", {**fields, "decision": "duplicate run"})
        assert done.status == 303, done.text
    last = _records(path, "wait-0")[-1]
    assert (str(last.event), last.actor, last.signature is not None) == ("cancelled", "omar", True)
    ring = tmp_path / "ring.keys"
    ring.write_text(f"omar {public}\n")
    out = io.StringIO()
    assert audit_command(path, stdout=out, stderr=io.StringIO(), keyring=ring) == 0, out.getvalue()
    ring.write_text(f"omar {signing.new_key()[1]}\n")
    out = io.StringIO()
    assert audit_command(path, stdout=out, stderr=io.StringIO(), keyring=ring) == 1
    assert f"record {last.seq} by omar: its signature does not verify" in out.getvalue()


def test_serve_takes_cancel_roles(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``--cancel-role`` is an option of ``serve`` (the parser, its help), repeatable."""
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    assert "--cancel-role ROLE" in out and "default: nobody cancels" in " ".join(out.split())


def test_serve_with_cancel_role_cancels_signed_in_its_own_process(tmp_path: Path) -> None:
    """The real command: ``serve --cancel-role release_manager --signing-keys DIR`` in a
    process of its own; rita (release_manager, with a key) cancels a release run over
    HTTP behind the trusted header, bob (maintainer) is refused, and ``audit verify
    --keyring`` holds the cancelled record to rita's key."""
    target = str(tmp_path / "releases.db")
    store = SqlStore.sqlite(target)
    seed_releases(store, release_review(), waiting=1)
    store.close()
    keys = {name: signing.new_key() for name in ("rita", "bob")}
    folder = _folder(tmp_path, **{name: _pem(private) for name, (private, _) in keys.items()})
    roles = tmp_path / "roles.yaml"
    roles.write_text("rita: [release_manager]\nbob: [maintainer]\n")
    port = _free_port()
    command = [sys.executable, "-m", "statewright.generator.cli", "serve", "--store", target]
    command += ["--specs", str(ROOT / "specs" / "release_review.yaml")]
    command += ["--trust-header", HEADER, "--roles", str(roles), "--signing-keys", str(folder)]
    command += ["--cancel-role", "release_manager", "--port", str(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert server.stdout is not None
        said = [server.stdout.readline().decode() for _ in range(4)]
        assert said[-1] == "cancelling runs: people holding release_manager\n", said
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, server)
        bob, rita = _as(base, "bob"), _as(base, "rita")
        assert _cancel_form(bob.get("/runs/release_review/rel-0").text) is None
        fields = _cancel_form(rita.get("/runs/release_review/rel-0").text)
        assert fields is not None
        bob_page = bob.get("/runs/release_review/rel-0").text
        forged = {**_fields_of(bob_page), "action": "cancel", "decision": "mine"}
        assert bob.post("/runs/release_review/rel-0", forged).status == 403
        done = rita.post("/runs/release_review/rel-0", {**fields, "decision": "superseded"})
        assert done.status == 303, done.text
    finally:
        server.terminate()
        server.wait(timeout=60)
    store = SqlStore.sqlite(target)
    last = release_review()["release_review"].machine.load(store, "rel-0").audit[-1]
    store.close()
    assert (str(last.event), last.actor, last.decision) == ("cancelled", "rita", "superseded")
    assert last.roles == ("release_manager",) and last.signature is not None
    ring = tmp_path / "ring.keys"
    ring.write_text("".join(f"{name} {public}\n" for name, (_, public) in keys.items()))
    out = io.StringIO()
    assert audit_command(target, stdout=out, stderr=io.StringIO(), keyring=ring) == 0, (
        out.getvalue()
    )
