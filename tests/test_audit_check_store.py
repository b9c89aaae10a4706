"""``statewright audit check`` and ``audit export`` on stores the generated runtime wrote
(SQLite and PostgreSQL), through the command line: runs recorded by statewright check
clean; an edited run is tampered; a forged run whose chain was rebuilt is caught by the
spec; an exported run checks as it did in the store; every report format; usage errors
are one line and exit 2."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import random
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from storekit import SQL_BACKENDS, TICKET_SPEC, Backend, backend_fixture, generate_runtime

from statewright.generator.cli import main
from statewright.generator.commands.audit_check import check_runs, spec_versions, walked
from statewright.generator.runtime.chain import link

backend = backend_fixture(SQL_BACKENDS)


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "specs" / "ticket.yaml"
    path.parent.mkdir()
    path.write_text(TICKET_SPEC)
    return path


def drive(rt: Any, store: Any, runs: int, seed: int = 3) -> int:
    """``runs`` random ticket runs through the generated runtime: steps, reviews by the
    lead (approve, reject, resume), timeouts expired on a moving clock, rollbacks by the
    lead. Returns the records written."""
    rng = random.Random(seed)
    now = [datetime(2026, 12, 1, tzinfo=UTC)]
    lead = rt.Actor("lee", frozenset({"lead"}))
    records = 0
    for n in range(runs):
        machine = rt.Ticket.create(store, f"t-{n}", clock=lambda: now[0])
        for _ in range(rng.randint(3, 14)):
            now[0] += timedelta(minutes=rng.choice([1, 20, 90]))
            if machine.expire() is not None:
                continue
            if rng.random() < 0.1 and str(machine.state) not in ("REVIEW", "DONE"):
                machine.rollback(rng.randint(1, len(machine.audit)), actor=lead, decision="undo")
                continue
            allowed = machine.allowed()
            if not allowed:
                break
            step = rng.choice(allowed)
            if step.human:
                machine.fire(step.trigger, actor=lead, decision="checked")
            else:
                machine.fire(step.trigger)
        records += len(machine.audit)
    return records


def test_runs_the_runtime_recorded_check_clean_and_export_round_trips(
    backend: Backend, tmp_path: Path, spec_file: Path
) -> None:
    rt, _ = generate_runtime(tmp_path / "gen")
    records = drive(rt, backend.open(), 40)
    status, out, err = cli("audit", "check", backend.target, "--specs", str(spec_file))
    assert (status, err) == (0, ""), out
    assert f"40 runs ({records:,} records): 0 with findings, 0 tampered" in out
    assert "run-unchecked" not in out  # the runs record their spec's hash and the roles

    status, exported, err = cli("audit", "export", backend.target, "t-7")
    assert (status, err) == (0, "")
    trace = tmp_path / "t-7.jsonl"
    trace.write_text(exported)
    lines = [json.loads(line) for line in exported.splitlines()]
    assert lines[0]["event"] == "created" and lines[0]["state"] == "OPEN"
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    status, out, _ = cli("audit", "check", "--trace", str(trace), str(spec_file))
    assert status == 0, out
    assert "1 run" in out and "0 with findings" in out


def test_an_edited_run_is_tampered_and_a_forged_one_breaks_its_spec(
    backend: Backend, tmp_path: Path, spec_file: Path
) -> None:
    rt, _ = generate_runtime(tmp_path / "gen")
    store = backend.open()
    lead = rt.Actor("lee", frozenset({"lead"}))
    for name in ("edited", "forged", "fine"):
        machine = rt.Ticket.create(store, name)
        machine.start()
        machine.submit()
        machine.approve(actor=lead, decision="good")
        machine.finish()
    # an edit in SQL: the chain no longer holds
    (body,) = backend.execute(
        "SELECT body FROM statewright_records WHERE instance_id = 'edited' AND seq = 4"
    )[0]
    backend.execute(
        "UPDATE statewright_records SET body = ? WHERE instance_id = 'edited' AND seq = 4",
        (body.replace('"actor":"lee"', '"actor":"eve"'),),
    )
    # a forgery that rebuilds the chain: the approval is removed, every hash recomputed
    rows = backend.execute(
        "SELECT seq, body FROM statewright_records WHERE instance_id = 'forged' ORDER BY seq"
    )
    forge(backend, "forged", [json.loads(b) for s, b in rows if s != 4])
    status, out, err = cli("audit", "check", backend.target, "--specs", str(spec_file))
    assert (status, err) == (1, "")
    assert "error[run-tampered] ticket 'edited' is tampered, so not checked" in out
    assert "ticket 'forged' record 4: says it left WORKING; the run was in REVIEW" in out
    assert "'fine'" not in out
    assert "3 runs" in out and "1 with findings, 1 tampered" in out

    status, _, err = cli("audit", "export", backend.target, "edited")
    assert status == 1 and "tampered" in err


def forge(backend: Backend, instance_id: str, records: list[dict[str, Any]]) -> None:
    """Replace the ticket ``instance_id``'s records with ``records``, renumbered, and
    rebuild its chain and head row with recomputed hashes: a forgery the chain alone
    cannot see."""
    backend.execute("DELETE FROM statewright_records WHERE instance_id = ?", (instance_id,))
    prev = "0" * 64
    for seq, record in enumerate(records, start=1):
        record["seq"] = seq
        body = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        digest = link("ticket", instance_id, prev, body)
        backend.execute(
            "INSERT INTO statewright_records (machine, instance_id, seq, body, prev, hash)"
            " VALUES ('ticket', ?, ?, ?, ?, ?)",
            (instance_id, seq, body, prev, digest),
        )
        prev = digest
    backend.execute(
        "UPDATE statewright_instances SET seq = ?, head = ? WHERE instance_id = ?",
        (len(records), prev, instance_id),
    )


def test_forged_roles_and_spec_versions_are_caught_in_stored_runs(
    backend: Backend, tmp_path: Path, spec_file: Path
) -> None:
    """The mutants the runtime's records now make checkable: an approval recorded with
    roles that hold none of the reviewers', and a run that names another spec version,
    each in a chain rebuilt with consistent hashes. ``audit check`` reports each, and
    loading refuses the forged roles (``replay`` holds them to the spec)."""
    rt, _ = generate_runtime(tmp_path / "gen")
    store = backend.open()
    lead = rt.Actor("lee", frozenset({"lead"}))
    for name in ("roles", "version", "fine"):
        machine = rt.Ticket.create(store, name)
        machine.start()
        machine.submit()
        machine.approve(actor=lead, decision="good")

    def records(instance_id: str) -> list[dict[str, Any]]:
        rows = backend.execute(
            "SELECT body FROM statewright_records WHERE instance_id = ? ORDER BY seq",
            (instance_id,),
        )
        return [json.loads(body) for (body,) in rows]

    forged = records("roles")
    assert forged[3]["roles"] == ["lead"]
    forged[3]["roles"] = ["intruder"]
    forge(backend, "roles", forged)
    other = records("version")
    other[0]["spec"] = "0" * 64
    forge(backend, "version", other)
    status, out, err = cli("audit", "check", backend.target, "--specs", str(spec_file))
    assert (status, err) == (1, "")
    assert (
        "error[run-unauthorised] ticket 'roles' record 4: REVIEW --approve--> WORKING is a "
        "human step: lee holds intruder, none of the roles lead"
    ) in out
    assert f"ticket 'version': no spec of sha256 {'0' * 64} (1 other version" in out
    assert "'fine'" not in out and "3 runs" in out and "2 with findings, 0 tampered" in out
    with pytest.raises(rt.InvalidTransition, match="lee held intruder"):
        rt.Ticket.load(backend.open(), "roles")


def test_a_memory_store_is_checked_through_the_python_api(tmp_path: Path, spec_file: Path) -> None:
    rt, _ = generate_runtime(tmp_path / "gen")
    support = importlib.import_module(rt.__name__.split(".")[0] + "._statewright.store")
    store = support.MemoryStore()  # the generated runtime's own copy of the store
    records = drive(rt, store, 10, seed=11)
    specs = spec_versions([spec_file])
    keys = [(head.machine, head.instance_id) for head in store.heads()]
    report = check_runs(walked(store, keys), specs, source="memory")
    assert (report.runs, report.records, report.failed, report.tampered) == (10, records, 0, 0)


# -- the command line -------------------------------------------------------------------

BAD_TRACE = [
    {"seq": 0, "event": "created", "at": "2026-12-03T10:00:00Z", "state": "OPEN"},
    {"seq": 1, "at": "2026-12-03T10:01:00Z", "trigger": "start", "to": "WORKING"},
    {"seq": 2, "at": "2026-12-03T10:02:00Z", "trigger": "submit", "to": "REVIEW"},
    {
        "seq": 3,
        "at": "2026-12-03T10:03:00Z",
        "trigger": "approve",
        "to": "WORKING",
        "actor": "bot",
        "roles": ["agent"],
        "decision": "fine by me",
    },
]


@pytest.fixture
def bad_trace(tmp_path: Path) -> Path:
    path = tmp_path / "run.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in BAD_TRACE) + "{oops\n")
    return path


def test_a_trace_gets_findings_at_the_spec_and_the_record(bad_trace: Path, spec_file: Path) -> None:
    status, out, err = cli("audit", "check", "--trace", str(bad_trace), str(spec_file))
    assert (status, err) == (1, "")
    lines = out.splitlines()
    assert any(
        line.startswith(f"{spec_file}:14:5: error[run-unauthorised] ")
        and "record 3 (line 4): REVIEW --approve--> WORKING is a human step: bot holds agent"
        in line
        for line in lines
    ), out
    assert f"{bad_trace}:5:1: error[run-malformed]" in out
    assert "run records no values" not in out  # the ticket has no variables


@pytest.mark.parametrize("fmt", ["json", "sarif", "junit", "github"])
def test_every_report_format(fmt: str, bad_trace: Path, spec_file: Path) -> None:
    status, out, _ = cli(
        "audit", "check", "--trace", str(bad_trace), str(spec_file), "--format", fmt
    )
    assert status == 1
    if fmt == "json":
        findings = [f for s in json.loads(out)["specs"] for f in s["findings"]]
        assert {f["rule"] for f in findings} == {"run-unauthorised", "run-malformed"}
        assert any(f["line"] == 14 and "record 3" in f["message"] for f in findings)
    elif fmt == "sarif":
        results = json.loads(out)["runs"][0]["results"]
        assert {r["ruleId"] for r in results} == {"run-unauthorised", "run-malformed"}
    elif fmt == "junit":
        failures = ET.fromstring(out.split("\n", 1)[1]).iter("failure")
        assert {f.get("type") for f in failures} >= {"run-unauthorised", "run-malformed"}
    else:
        assert "::error file=" in out and "title=statewright run-unauthorised" in out


def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, spec_file: Path) -> None:
    trace = tmp_path / "run.jsonl"
    trace.write_text(json.dumps(BAD_TRACE[0]) + "\n")
    broken = tmp_path / "broken.yaml"
    broken.write_text("statewright: 1\nmachine: [\n")
    asl = tmp_path / "flow.asl.json"
    asl.write_text('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}')
    cases = {
        ("audit", "check", str(tmp_path / "missing.sqlite")): "no such file",
        (
            "audit",
            "check",
            "--trace",
            str(tmp_path / "none.jsonl"),
            str(spec_file),
        ): "no such trace",
        ("audit", "check", "--trace", str(trace), str(broken)): "does not load as a spec",
        ("audit", "check", "--trace", str(trace), str(spec_file), "--specs", "x"): "--specs goes",
        ("audit", "export", str(tmp_path / "missing.sqlite"), "t-1"): "no such file",
    }
    for argv, message in cases.items():
        status, out, err = cli(*argv)
        assert (status, out) == (2, ""), argv
        assert err.startswith("statewright: error: ") and message in err, (argv, err)
        assert len(err.strip().splitlines()) == 1
    status, out, err = cli("audit", "check", "--trace", str(trace), str(asl))
    if importlib.util.find_spec("statewright.verify.conformance.stepfunctions") is None:
        assert status == 2 and "statewright.verify.conformance.stepfunctions" in err
    else:  # the Step Functions checker is there: it answers for the definition
        assert status in (0, 1)


def test_a_run_of_a_machine_without_its_spec_is_a_finding(tmp_path: Path, spec_file: Path) -> None:
    rt, _ = generate_runtime(tmp_path / "gen")
    path = tmp_path / "store.sqlite"
    from statewright.generator.runtime.store import SqlStore

    store = SqlStore.sqlite(str(path))
    rt.Ticket.create(store, "t-1").start()
    store.close()
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.yaml").write_text(TICKET_SPEC.replace("machine: ticket", "machine: other"))
    status, out, _ = cli("audit", "check", str(path), "--specs", str(other))
    assert status == 1
    assert "error[run-spec-version] ticket 't-1': no spec of its machine" in out


def test_export_with_the_spec_flags_an_edited_deadline(
    backend: Backend, tmp_path: Path, spec_file: Path
) -> None:
    rt, _ = generate_runtime(tmp_path / "gen")
    machine = rt.Ticket.create(backend.open(), "late")
    machine.start()
    machine.submit()  # REVIEW: times out after an hour
    later = "2999-01-01T00:00:00.000000Z"
    backend.execute(
        "UPDATE statewright_instances SET deadline = ? WHERE instance_id = 'late'", (later,)
    )
    status, exported, err = cli("audit", "export", backend.target, "late")
    assert (status, err) == (0, "")  # without the spec, the chain alone holds
    assert len(exported.splitlines()) == len(machine.audit)
    status, exported, err = cli(
        "audit", "export", backend.target, "late", "--specs", str(spec_file)
    )
    assert (status, exported) == (1, "")
    assert f"deadline {later}" in err and "the run is tampered; not exported" in err
    assert err.count("\n") == 1
