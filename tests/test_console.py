"""The reviewers' console over HTTP, served for real (uvicorn on loopback) on SQLite and
PostgreSQL stores: who may see and do what, CSRF, stale forms, what the pages show, and
every action's record read back with the committed generated runtime (an implementation
the console did not build). The same console in Chromium: ``test_console_browser.py``.
"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from consolekit import (
    RELEASE_ROLES,
    ROOT,
    Client,
    orchestrator,
    release_review,
    running,
    seed,
    seed_releases,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from statewright.generator.cli import main
from statewright.generator.console.app import Console, create_app
from statewright.generator.console.identity import (
    SESSION_COOKIE,
    HeaderIdentity,
    RolesFileError,
    TokenIdentity,
    read_roles,
)
from statewright.generator.console.machines import Served
from statewright.generator.console.reading import Stores, context_digest, pending_page
from statewright.generator.runtime import Actor, SqlStore

if str(ROOT) not in sys.path:  # the committed generated/ package, the independent reader
    sys.path.insert(0, str(ROOT))
from generated.orchestrator.runtime import Orchestrator
from generated.orchestrator.runtime import SqlStore as GeneratedStore
from generated.release_review.runtime import ReleaseReview

SERVED = orchestrator()
ROLES = {
    "dana": frozenset({"tech_lead"}),
    "omar": frozenset({"on_call"}),
    "eve": frozenset({"intern"}),
}
HEADER = "X-Forwarded-User"


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store with 3 runs at the gate, 2 running and one failed: a SQLite file or a
    PostgreSQL database."""
    if request.param == "sqlite":
        url = str(tmp_path / "runs.db")
        store = SqlStore.sqlite(url)
    else:
        import psycopg

        url = request.getfixturevalue("postgres_url")
        store = SqlStore(psycopg.connect(url))
    seed(store, SERVED, waiting=3, running=2)
    store.close()
    return url


RELEASES = release_review()


def _open(target: str) -> GeneratedStore:
    """The store at ``target``, opened by the committed generated runtime's support."""
    if target.startswith("postgresql://"):
        import psycopg

        return GeneratedStore(psycopg.connect(target), create=False)
    return GeneratedStore(sqlite3.connect(target), create=False)


def _records(target: str, instance_id: str) -> list[Any]:
    """The run's records, read by the committed generated runtime."""
    store = _open(target)
    try:
        return list(Orchestrator.load(store, instance_id).audit)
    finally:
        store.close()


@pytest.fixture
def header_console(target: str) -> Iterator[tuple[str, str]]:
    """(base URL, store) of a console behind a proxy that names users in X-Forwarded-User."""
    stores = Stores(target)
    app = create_app(Console(SERVED, stores, HeaderIdentity(HEADER, ROLES)))
    with running(app) as base:
        yield base, target
    stores.close()


def _as(base: str, user: str) -> Client:
    return Client(base, {HEADER: user})


def _form(page: str) -> dict[str, str]:
    """The hidden fields of the page's decision form."""
    form = page.split('<form class="decide"', 1)[1].split("</form>", 1)[0]
    return dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form))


def test_unauthenticated_requests_see_nothing(header_console: tuple[str, str]) -> None:
    base, _ = header_console
    for user in (None, "mallory"):  # no header; a name the roles file does not hold
        client = Client(base) if user is None else _as(base, user)
        for path in ("/", "/runs", "/runs/orchestrator/wait-0", "/static/htmx.min.js"):
            reply = client.get(path)
            assert reply.status == 401, (user, path)
            assert "wait-0" not in reply.text and "orchestrator" not in reply.text
        posted = client.post("/runs/orchestrator/wait-0", {"action": "decide"})
        assert posted.status == 401


def test_a_reviewer_approves_through_the_runtime(header_console: tuple[str, str]) -> None:
    base, target = header_console
    dana = _as(base, "dana")
    inbox = dana.get("/")
    assert inbox.status == 200 and "3 runs waiting for a decision" in inbox.text
    assert "content-security-policy" in {k.lower() for k in inbox.headers}
    page = dana.get("/runs/orchestrator/wait-1")
    fields = _form(page.text)
    done = dana.post(
        "/runs/orchestrator/wait-1",
        {**fields, "trigger": "human_approved", "decision": "looks right", "actor": "eve"},
    )
    assert done.status == 303, done.text
    last = _records(target, "wait-1")[-1]
    # the actor is the proxy's user, never the form's "actor" field
    assert (last.trigger, last.actor, last.decision) == ("human_approved", "dana", "looks right")
    assert str(last.to_state) == "RUNNING"
    assert "2 runs waiting for a decision" in dana.get("/").text


def test_a_wrong_role_is_refused_and_nothing_changes(header_console: tuple[str, str]) -> None:
    base, target = header_console
    before = _records(target, "wait-0")
    eve = _as(base, "eve")
    page = eve.get("/runs/orchestrator/wait-0")
    assert "You hold none of the roles these need: tech_lead" in page.text
    reply = eve.post(
        "/runs/orchestrator/wait-0",
        {**_form(page.text), "trigger": "human_approved", "decision": "sure"},
    )
    assert reply.status == 403
    assert "eve holds none of the roles" in reply.text
    assert _records(target, "wait-0") == before


def test_a_form_without_its_csrf_token_is_refused(header_console: tuple[str, str]) -> None:
    base, target = header_console
    before = _records(target, "wait-0")
    dana = _as(base, "dana")
    fields = _form(dana.get("/runs/orchestrator/wait-0").text)
    omar_token = _form(_as(base, "omar").get("/runs/orchestrator/wait-0").text)["csrf"]
    for csrf in (None, "", omar_token):  # missing, empty, another user's
        form = {**fields, "trigger": "human_approved", "decision": "ok"}
        if csrf is None:
            del form["csrf"]
        else:
            form["csrf"] = csrf
        reply = dana.post("/runs/orchestrator/wait-0", form)
        assert reply.status == 403 and "CSRF" in reply.text
    assert _records(target, "wait-0") == before


def test_a_form_for_a_run_that_changed_is_refused(header_console: tuple[str, str]) -> None:
    """Two reviewers open the same gate; the second one's form is stale once the first
    decided, so the second decision never lands on a run they did not review."""
    base, target = header_console
    dana, other = _as(base, "dana"), _as(base, "dana")
    first = _form(dana.get("/runs/orchestrator/wait-2").text)
    second = _form(other.get("/runs/orchestrator/wait-2").text)
    approve = {"trigger": "human_approved", "decision": "fine"}
    assert dana.post("/runs/orchestrator/wait-2", {**first, **approve}).status == 303
    count = len(_records(target, "wait-2"))
    refused = other.post("/runs/orchestrator/wait-2", {**second, **approve})
    assert refused.status == 409 and "changed since you opened it" in refused.text
    tampered = {**_form(dana.get("/runs/orchestrator/wait-0").text), **approve}
    tampered["digest"] = context_digest({"task": "something else"})
    assert dana.post("/runs/orchestrator/wait-0", tampered).status == 409
    assert len(_records(target, "wait-2")) == count


def test_an_empty_decision_is_refused_by_the_runtime(header_console: tuple[str, str]) -> None:
    base, target = header_console
    dana = _as(base, "dana")
    fields = _form(dana.get("/runs/orchestrator/wait-0").text)
    reply = dana.post(
        "/runs/orchestrator/wait-0", {**fields, "trigger": "human_approved", "decision": " "}
    )
    assert reply.status == 403 and "decision" in reply.text
    assert str(_records(target, "wait-0")[-1].to_state) == "WAITING_FOR_APPROVAL"


def test_failures_show_their_recovery_and_rollback_is_authorised(
    header_console: tuple[str, str],
) -> None:
    base, target = header_console
    omar, dana = _as(base, "omar"), _as(base, "dana")
    page = omar.get("/runs/orchestrator/failed-0")
    assert "Recovery procedure for EXTERNAL_API_ERROR" in page.text
    assert "Check the provider&#39;s status page" in page.text
    assert 'class="node current"' in page.text  # FAILED marked on the diagram
    assert (
        "Rollback needs one of the roles: on_call" in dana.get("/runs/orchestrator/failed-0").text
    )
    hidden = page.text.split('<form class="rollback"', 1)[1].split("</form>", 1)[0]
    fields = dict(re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', hidden))
    dana_fields = {**fields, "seq": "2", "decision": "retry from running"}
    assert dana.post("/runs/orchestrator/failed-0", dana_fields).status == 403
    reply = omar.post("/runs/orchestrator/failed-0", {**fields, "seq": "2", "decision": "retry"})
    assert reply.status == 303, reply.text
    last = _records(target, "failed-0")[-1]
    assert (str(last.event), last.rollback_to, last.actor) == ("rollback", 2, "omar")
    assert str(last.to_state) == "RUNNING"


def test_pages_poll_for_their_live_part(header_console: tuple[str, str]) -> None:
    base, _ = header_console
    dana = _as(base, "dana")
    live = dana.get("/runs/orchestrator/wait-0", {"HX-Request": "true"})
    assert live.text.startswith('<section id="live"') and "<html" not in live.text
    inbox = dana.get("/", {"HX-Request": "true"})
    assert inbox.text.startswith('<section id="inbox"') and 'hx-trigger="every 5.0s"' in inbox.text
    assert dana.get("/runs/orchestrator/nope").status == 404
    assert dana.get("/runs?machine=orchestrator&state=RUNNING").text.count("<tr>") == 3


def test_a_token_signs_one_user_in(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    seed(SqlStore.sqlite(str(path)), SERVED, waiting=1)
    identity = TokenIdentity(Actor("dana", frozenset({"tech_lead"})))
    stores = Stores(str(path))
    with running(create_app(Console(SERVED, stores, identity))) as base:
        client = Client(base)
        assert client.get("/").status == 401
        assert client.get("/login?token=wrong").status == 401
        assert client.get("/login").status == 401
        signed = client.get(f"/login?token={identity.token}")
        assert signed.status == 303 and signed.headers["location"] == "/"
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert "wait-0" in client.get("/").text
        stranger = Client(base, {"Cookie": f"{SESSION_COOKIE}=forged"})
        assert stranger.get("/").status == 401
    stores.close()


def test_the_roles_file_is_read_or_refused_with_its_place(tmp_path: Path) -> None:
    good = tmp_path / "roles.yaml"
    good.write_text("dana: [tech_lead, on_call]\nomar: []\n")
    assert read_roles(good) == {"dana": frozenset({"tech_lead", "on_call"}), "omar": frozenset()}
    for text, said in (
        ("dana: [tech_lead\n", "roles.yaml:2:1: not YAML"),
        ("- dana\n", "roles.yaml:1:1: expected a mapping"),
        ("dana: tech_lead\n", "expected a user id mapped to a list of roles"),
        ("dana: ['']\n", "every role is a non-empty string"),
    ):
        bad = tmp_path / "roles.yaml"
        bad.write_text(text)
        with pytest.raises(RolesFileError, match=re.escape(said)):
            read_roles(bad)


def test_serve_says_what_is_wrong_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    roles = tmp_path / "roles.yaml"
    roles.write_text("dana: tech_lead\n")
    specs = str(ROOT / "specs" / "orchestrator.yaml")
    for argv, said in (
        (["--store", str(tmp_path / "none.db")], "no store at"),
        (["--store", "x.db", "--trust-header", HEADER], "--trust-header and --roles go together"),
        (["--store", "x.db", "--trust-header", HEADER, "--roles", str(roles)], "roles.yaml"),
    ):
        assert main(["serve", "--specs", specs, *argv]) == 2
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err and err.count("\n") == 1, err


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    states=st.lists(
        st.sampled_from(["gate", "running", "failed", "done", "cancelled"]), max_size=40
    ),
    size=st.integers(1, 7),
)
def test_the_inbox_pages_are_the_runs_at_a_gate(
    tmp_path_factory: pytest.TempPathFactory, states: list[str], size: int
) -> None:
    """Paged through, the inbox lists exactly the runs an independent reading finds at an
    approval gate (every run loaded by the committed runtime), each once, the earliest
    deadline first."""
    path = str(tmp_path_factory.mktemp("inbox") / "runs.db")
    store = SqlStore.sqlite(path)
    machine = SERVED["orchestrator"].machine
    moment = [datetime(2026, 1, 1, tzinfo=UTC)]

    def clock() -> datetime:  # each run enters its state later than the one before
        moment[0] = moment[0].replace(minute=(moment[0].minute + 1) % 60, hour=len(states) % 24)
        return moment[0]

    for i, where in enumerate(states):
        run = machine.create(store, f"r{i:02}", context={"i": i}, clock=clock)
        run.fire("task_received")
        if where in ("gate", "cancelled"):
            run.fire("gate_reached")
        if where == "cancelled":  # at the gate, closed: nobody is asked to decide
            run.cancel(actor=Actor("olga"), reason="withdrawn")
        elif where == "failed":
            run.fire("agent_error")
        elif where == "done":
            run.fire("all_stages_passed")
    store.close()
    stores = Stores(path)
    listed: list[str] = []
    number = 1
    while True:
        rows, page = pending_page(stores.get(), SERVED, number, size)
        listed += [row.instance_id for row in rows]
        if number >= page.pages:
            break
        number += 1
    stores.close()
    oracle = _open(path)
    try:
        runs = {i: Orchestrator.load(oracle, i) for i in (f"r{n:02}" for n in range(len(states)))}
    finally:
        oracle.close()
    waiting = [
        i
        for i, run in runs.items()
        if str(run.state) == "WAITING_FOR_APPROVAL" and run.cancelled is None
    ]
    expected = sorted(waiting, key=lambda i: (runs[i].deadline, i))
    assert listed == expected


def test_the_diagram_marks_the_current_state_only() -> None:
    served: Served = SERVED["orchestrator"]
    for state in ("IDLE", "FAILED", "WAITING_FOR_APPROVAL"):
        svg = served.diagram(state)
        assert svg.count('class="node current"') == 1
        marked = svg.split('class="node current">', 1)[1].split("</g>", 1)[0]
        assert f"current state: {state}" in marked
        assert f'xlink:title="{state}' in svg.split('class="node current">', 1)[1][:600]
    assert 'class="node current"' not in served.diagram("NOT_A_STATE")


def test_without_the_extra_serve_names_it_and_nothing_else_needs_it(tmp_path: Path) -> None:
    """With Starlette unimportable, ``serve`` says which extra to install (exit 2), and
    the other commands neither import the console's stack nor need it."""
    script = (
        "import sys; sys.modules['starlette'] = None\n"
        "from statewright.generator.cli import main\n"
        "assert main(['check', sys.argv[1]]) == 0\n"
        "loaded = {m.split('.')[0] for m, module in sys.modules.items() if module}\n"
        "assert not loaded & {'uvicorn', 'starlette'}, loaded\n"
        "sys.exit(main(['serve', '--store', 'x.db']))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "specs" / "orchestrator.yaml")],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        "statewright: error: the console needs starlette: pip install 'statewright[console]'\n"
    )


# -- the approval policies of release_review, through the console -------------------------


@pytest.fixture
def releases(target: str) -> Iterator[tuple[str, str]]:
    """(base URL, store) of a console behind a proxy over ``target`` with release_review
    runs added: rel-0..2 waiting at their quorum gate, old-0 past its escalation."""
    if target.startswith("postgresql://"):
        import psycopg

        store = SqlStore(psycopg.connect(target), create=False)
    else:
        store = SqlStore.sqlite(target)
    seed_releases(store, RELEASES, waiting=3, escalated=1)
    store.close()
    stores = Stores(target)
    app = create_app(Console(RELEASES, stores, HeaderIdentity(HEADER, RELEASE_ROLES)))
    with running(app) as base:
        yield base, target
    stores.close()


def _release(target: str, instance_id: str) -> Any:
    """The release run, read by the committed generated runtime."""
    store = _open(target)
    try:
        return ReleaseReview.load(store, instance_id)
    finally:
        store.close()


def _approve(client: Client, instance_id: str, fields: dict[str, str], why: str) -> Any:
    form = {**fields, "trigger": "approved", "decision": why}
    return client.post(f"/runs/release_review/{instance_id}", form)


def test_a_quorum_waits_for_its_second_reviewer(releases: tuple[str, str]) -> None:
    """bob's approval is counted and the gate stays (1 of 2); carol, whose page was read
    before bob decided, completes the quorum: her form names the same bound digest."""
    base, target = releases
    bob, carol = _as(base, "bob"), _as(base, "carol")
    page = bob.get("/runs/release_review/rel-0").text
    assert "0 of 2, 2 more to approve" in page and "nobody yet" in page
    assert "alice (the policy refuses their approval)" in page
    carols = _form(carol.get("/runs/release_review/rel-0").text)
    fields = _form(page)
    assert fields["digest"] == _release(target, "rel-0").gate_status().digest
    assert _approve(bob, "rel-0", fields, "notes match the build").status == 303
    run = _release(target, "rel-0")
    assert str(run.state) == "REVIEW"
    vote = run.audit[-1]
    assert (str(vote.event), vote.actor, vote.decision) == (
        "approval",
        "bob",
        "notes match the build",
    )
    assert vote.data == {"approvals": 1, "quorum": 2, "digest": fields["digest"]}
    shown = carol.get("/runs/release_review/rel-0").text
    assert "1 of 2, 1 more to approve" in shown and "approved at REVIEW: 1 of 2" in shown
    card = bob.get("/").text.split('data-run="release_review/rel-0"', 1)[1].split("</li>", 1)[0]
    assert "bob (" in card and "1 of 2" in card and fields["digest"] in card
    assert _approve(bob, "rel-0", fields, "again").status == 403  # counted once
    done = _approve(carol, "rel-0", carols, "artefact digest checked")
    assert done.status == 303, done.text
    run = _release(target, "rel-0")
    assert str(run.state) == "RELEASED" and run.audit[-1].actor == "carol"


def test_the_requester_is_refused_by_the_policy(releases: tuple[str, str]) -> None:
    base, target = releases
    before = list(_release(target, "rel-1").audit)
    alice = _as(base, "alice")
    fields = _form(alice.get("/runs/release_review/rel-1").text)
    reply = _approve(alice, "rel-1", fields, "my own release")
    assert reply.status == 403
    assert "alice started this run, and approved from REVIEW is separate" in reply.text
    assert list(_release(target, "rel-1").audit) == before


def test_a_stale_approval_is_refused_by_the_runtime(releases: tuple[str, str]) -> None:
    """bob reads the gate; the release is rejected, rebuilt with other notes and back at
    REVIEW; bob's approval names the digest he read, and the runtime refuses it."""
    base, target = releases
    bob = _as(base, "bob")
    read = _form(bob.get("/runs/release_review/rel-2").text)
    carol, rita = _as(base, "carol"), _as(base, "rita")
    rejected = {**_form(carol.get("/runs/release_review/rel-2").text), "trigger": "rejected"}
    assert (
        carol.post("/runs/release_review/rel-2", {**rejected, "decision": "no notes"}).status == 303
    )
    rebuild = rita.get("/runs/release_review/rel-2").text
    form = {**_form(rebuild), "trigger": "rebuild", "decision": "notes added"}
    assert rita.post("/runs/release_review/rel-2", form).status == 303
    opened = Stores(target)
    run = RELEASES["release_review"].machine.load(opened.get().store, "rel-2")
    run.update_context({"notes": "release 1.2, with notes"})
    run.fire("build_ready")
    opened.close()
    count = len(_release(target, "rel-2").audit)
    reply = _approve(bob, "rel-2", read, "read it")
    assert reply.status == 409
    fresh = _release(target, "rel-2").gate_status().digest
    assert fresh != read["digest"]
    assert f"names another digest than the context under review ({fresh})" in reply.text
    assert "the context changed since it was read" in reply.text
    assert len(_release(target, "rel-2").audit) == count
    again = _form(bob.get("/runs/release_review/rel-2").text)
    assert again["digest"] == fresh
    assert _approve(bob, "rel-2", again, "read the new notes").status == 303
    assert _release(target, "rel-2").gate_status().approvals[0].actor == "bob"


def test_an_escalated_gate_lets_its_director_decide(releases: tuple[str, str]) -> None:
    """Past its escalation the gate shows the director among who may decide; bob's
    approval and dave's complete the quorum, and the run reads back (the director's
    transition is checked against the widened roles)."""
    base, target = releases
    dave, bob = _as(base, "dave"), _as(base, "bob")
    card = dave.get("/").text.split('data-run="release_review/old-0"', 1)[1].split("</li>", 1)[0]
    assert "director, maintainer" in card and "escalated" in card
    assert (
        _approve(bob, "old-0", _form(bob.get("/runs/release_review/old-0").text), "ok").status
        == 303
    )
    page = dave.get("/runs/release_review/old-0").text
    assert "You hold none of the roles" not in page
    assert _approve(dave, "old-0", _form(page), "escalated to me").status == 303
    run = _release(target, "old-0")
    assert str(run.state) == "RELEASED"
    assert [(str(r.event), r.actor) for r in run.audit[-3:]] == [
        ("escalation", None),
        ("approval", "bob"),
        ("transition", "dave"),
    ]
    shown = dave.get("/runs/release_review/old-0")
    assert shown.status == 200 and 'id="state">RELEASED' in shown.text
