"""``statewright runs list|show`` on a store that was written behind the runtime's back:
tampered instances are marked and refused, stored text is printed escaped, and ``show``
pages a long timeline. On a SQLite file and a real PostgreSQL database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from storekit import SQL_BACKENDS, TICKET_SPEC, Backend, backend_fixture, generate_runtime
from test_runtime_kit import Clock

from statewright.generator.cli import main
from statewright.generator.runtime import sqlstore

sql_backend = backend_fixture(SQL_BACKENDS)
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HOSTILE = "evil\x1b]0;pwned\x07\n   9  2026-03-01  transition  forged\x1b[2J\u202e##[error]"


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("runtime"))[0]


@pytest.fixture
def specs(tmp_path: Path) -> str:
    folder = tmp_path / "specs"
    folder.mkdir()
    (folder / "ticket.yaml").write_text(TICKET_SPEC)
    return str(folder)


def lead(rt: Any, name: str = "ann") -> Any:
    return rt.Actor(name, frozenset({"lead"}))


def in_review(rt: Any, store: Any, instance_id: str, actor: Any = None) -> Any:
    machine = rt.Ticket.create(store, instance_id, clock=Clock(START), context={"n": 0})
    machine.start(actor=actor)
    machine.submit()
    return machine


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def assert_inert(text: str) -> None:
    """No control character, line separator or bidi override, and no CI command."""
    assert not any((ord(c) < 32 and c != "\n") or 0x7F <= ord(c) <= 0x9F for c in text), text
    assert "\u202e" not in text and "##[" not in text
    assert not any(line.lstrip().startswith("::") for line in text.splitlines())


# -- tampered instances -----------------------------------------------------------------


def test_show_refuses_a_body_that_is_not_json_in_one_line(
    rt: Any, sql_backend: Backend, specs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    in_review(rt, sql_backend.open(rt), "t-1")
    sql_backend.execute("UPDATE statewright_records SET body = 'not json' WHERE seq = 2")
    status, out, err = run(capsys, "runs", "show", sql_backend.target, "t-1", "--specs", specs)
    assert (status, out) == (1, "")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("statewright: error: ")
    assert "tampered: ticket 't-1' record 2: altered: its content no longer matches its hash" in err


def test_show_never_prints_an_edited_approval_as_fact(
    rt: Any, sql_backend: Backend, specs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    in_review(rt, sql_backend.open(rt), "t-1").approve(actor=lead(rt), decision="ok")
    (body,) = sql_backend.execute("SELECT body FROM statewright_records WHERE seq = 4")[0]
    forged = body.replace('"actor":"ann"', '"actor":"cto"').replace('"ok"', '"board says yes"')
    sql_backend.execute("UPDATE statewright_records SET body = ? WHERE seq = 4", (forged,))
    for fmt in ("text", "json"):
        status, out, err = run(
            capsys, "runs", "show", sql_backend.target, "t-1", "--specs", specs, "--format", fmt
        )
        assert (status, out) == (1, "")
        assert "tampered: ticket 't-1' record 4: altered" in err
        assert "cto" not in err and "board" not in err


def test_list_marks_tampered_instances_apart_from_the_counts(
    rt: Any, sql_backend: Backend, specs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = sql_backend.open(rt)
    in_review(rt, store, "t-1")
    in_review(rt, store, "t-2")
    sql_backend.execute(
        "UPDATE statewright_instances SET state = 'DONE', deadline = NULL WHERE instance_id = 't-1'"
    )
    status, out, _ = run(capsys, "runs", "list", sql_backend.target, "--specs", specs)
    assert status == 0
    assert "ticket: 2 instance(s)\n  REVIEW (approval): 1\n" in out
    assert "DONE" not in out.split("TAMPERED")[0]
    assert "  TAMPERED (never acted on; see 'statewright audit verify'):\n" in out
    assert "    t-1: record 3: altered: the instance row says state 'DONE'" in out
    status, out, _ = run(
        capsys, "runs", "list", sql_backend.target, "--specs", specs, "--format", "json"
    )
    (ticket,) = json.loads(out)["machines"]
    assert [a["instance_id"] for a in ticket["approvals"]] == ["t-2"]
    assert [(t["instance_id"], t["seq"]) for t in ticket["tampered"]] == [("t-1", 3)]
    assert ticket["tampered"][0]["problem"].startswith("altered: the instance row says")


# -- stored text is printed escaped -----------------------------------------------------


def test_ids_and_actors_are_printed_escaped(
    rt: Any, sql_backend: Backend, specs: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = sql_backend.open(rt)
    in_review(rt, store, HOSTILE, actor=lead(rt, HOSTILE))
    in_review(rt, store, "::warning::listed").reject(
        actor=lead(rt, "::error::x\nann"), decision=HOSTILE
    )
    status, out, _ = run(capsys, "runs", "list", sql_backend.target, "--specs", specs)
    assert status == 0
    assert_inert(out)
    assert "    evil\\x1b]0;pwned\\x07\\n   9  2026-03-01  transition  forged\\x1b[2J" in out
    assert len(out.splitlines()) == 6, out  # machine, 2 states, version, approvals, 1 approval
    status, out, _ = run(capsys, "runs", "show", sql_backend.target, HOSTILE, "--specs", specs)
    assert status == 0
    assert_inert(out)
    assert "on start  by evil\\x1b]0;pwned\\x07\\n" in out
    assert len(out.splitlines()) == 5, out
    status, out, _ = run(
        capsys, "runs", "show", sql_backend.target, "::warning::listed", "--specs", specs
    )
    assert status == 0
    assert_inert(out)
    assert out.startswith("ticket ::warning::listed: STUCK (failed), reason REJECTED\n")
    assert "by ::error::x\\nann" in out and 'decision: "evil\\u001b]0;pwned' in out
    status, out, _ = run(
        capsys, "runs", "show", sql_backend.target, HOSTILE, "--specs", specs, "--format", "json"
    )
    assert "##[" not in out
    assert json.loads(out)["timeline"][1]["actor"] == HOSTILE


# -- show pages a long timeline ---------------------------------------------------------


def long_run(rt: Any, store: Any, steps: int) -> Any:
    """A ticket with a context change, ``steps`` steps, a rollback and a rejection."""
    machine = rt.Ticket.create(store, "long", clock=Clock(START), context={"n": 0})
    machine.start()
    machine.update_context({"n": 1})  # record 3
    for n in range(steps):
        machine.step()
        if n == 2:
            machine.update_context({"n": 2})  # record 7
    machine.rollback(4, actor=lead(rt), decision="undo n=2")  # context back to n=1
    machine.submit()
    machine.reject(actor=lead(rt), decision="no")
    return machine


def test_show_pages_with_from_and_limit(
    rt: Any,
    sql_backend: Backend,
    specs: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    total = len(long_run(rt, sql_backend.open(rt), 30).audit)
    assert total == 37
    monkeypatch.setattr(sqlstore, "CHUNK", 4)  # the store reads a few records at a time
    target = sql_backend.target
    status, out, _ = run(
        capsys, "runs", "show", target, "long", "--specs", specs, "--from", "10", "--limit", "5"
    )
    assert status == 0
    seqs = [int(line.split()[0]) for line in out.splitlines() if line[:6].strip().isdigit()]
    assert seqs == [10, 11, 12, 13, 14]
    assert out.endswith("  records 10 to 14 of 37; more with --from 15\n")
    assert out.startswith("ticket long: STUCK (failed), reason REJECTED\n")
    status, out, _ = run(
        capsys, "runs", "show", target, "long", "--specs", specs, "--from", "35", "--limit", "5"
    )
    assert [line.split()[0] for line in out.splitlines() if "transition" in line] == ["36", "37"]
    assert "more with" not in out
    assert 'snapshot context: {"n": 1}' in out  # the rollback's context, read before the page
    status, out, _ = run(
        capsys, "runs", "show", target, "long", "--specs", specs, "--format", "json", "--limit", "3"
    )
    shown = json.loads(out)
    assert [r["seq"] for r in shown["timeline"]] == [1, 2, 3]
    assert (shown["records"], shown["from"], shown["next"]) == (37, 1, 4)
    status, out, _ = run(capsys, "runs", "show", target, "long", "--from", "99")
    assert (status, out.splitlines()[-1]) == (0, "  no records from 99: the instance has 37")
    with pytest.raises(SystemExit) as exited:
        main(["runs", "show", target, "long", "--limit", "0"])
    assert exited.value.code == 2
    assert "expected a positive whole number" in capsys.readouterr().err


def test_show_keeps_only_the_page(
    rt: Any, sql_backend: Backend, specs: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What ``show`` holds grows with the page and the context changes, not the log."""
    from statewright.generator.commands import runs

    long_run(rt, sql_backend.open(rt), 200)
    kept: list[Any] = []
    real = runs._Timeline

    def counting(*args: Any) -> Any:
        timeline = real(*args)
        kept.append(timeline)
        return timeline

    monkeypatch.setattr(runs, "_Timeline", counting)
    assert main(["runs", "show", sql_backend.target, "long", "--specs", specs, "--limit", "7"]) == 0
    (timeline,) = kept
    assert len(timeline.page) == 7
    assert len(timeline._contexts) == 4  # created, two context changes, the rollback
