"""The worker's hot path on PostgreSQL: what a transition sends, and that the fewer
statements guard what the many did.

An outcome's append, the moved delivery cursor and the release are one statement
(``SqlStore.staged``, ``Outbox.advance``); a claim enrols only what the next claims take. The
statements are counted on the real connection; the guards (a lost lease, a writer that
came first, a chain that must stay intact) are driven against a real server.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from chainkit import CHAIN_SPEC, Counting
from pgcluster import postgres_server, postgres_url
from storekit import generate_runtime

__all__ = ["postgres_server", "postgres_url"]

psycopg = pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def rt(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return generate_runtime(tmp_path_factory.mktemp("chain"), CHAIN_SPEC)[0]


def chain_handlers(rt: Any, during: Any = None) -> Any:
    """The three agents; ``during(job)`` runs inside the first one's call."""
    handlers = rt.Handlers()
    steps = (("A_RUNNING", "A_DONE"), ("B_RUNNING", "B_DONE"), ("C_RUNNING", "C_DONE"))
    for state, trigger in steps:

        def agent(
            job: Any, outcome: Any = rt.Trigger[trigger], first: bool = state == "A_RUNNING"
        ) -> Any:
            if first and during is not None:
                during(job)
            return outcome

        handlers.on_enter(rt.State[state], error=rt.Trigger.AGENT_ERROR)(agent)
    return handlers


def started(rt: Any, url: str, count: int) -> Any:
    store = rt.SqlStore(psycopg.connect(url))
    rt.Outbox(store)
    with store.batch():
        for n in range(count):
            rt.Chain.create(store, f"i{n}").start()
    return store


def states(url: str) -> dict[str, tuple[str, int]]:
    with psycopg.connect(url) as connection:
        rows = connection.execute(
            "SELECT instance_id, state, seq FROM statewright_instances"
        ).fetchall()
    return {str(r[0]): (str(r[1]), int(r[2])) for r in rows}


def test_a_transition_sends_fewer_statements_than_a_bare_queue(rt: Any, postgres_url: str) -> None:
    setup = started(rt, postgres_url, 40)
    counting = Counting(psycopg.connect(postgres_url))
    store = rt.SqlStore(counting, dialect="postgresql")
    worker = rt.Worker(store, chain_handlers(rt), batch=8, lease=timedelta(minutes=5))
    counting.sent = 0
    fired = 0
    while not (done := worker.run_once()).idle:
        fired += done.fired
    sent = counting.sent
    assert fired == 120
    # per transition: the outcome's one statement, sent alone (no BEGIN, no COMMIT: it
    # writes all or nothing by itself), and a share of the instance's load and the rounds'
    # sweeps and claims (a bare SKIP LOCKED loop sends 5: BEGIN, SELECT, UPDATE, INSERT,
    # COMMIT; before the outcome was one statement, 5.3, and before it went alone, 2.9)
    assert sent <= 2 * fired, sent
    assert set(states(postgres_url).values()) == {("DONE", 5)}
    assert setup.verify() == []
    store.close()
    setup.close()


def test_a_claim_enrols_what_the_next_claims_take_not_every_new_instance(
    rt: Any, postgres_url: str
) -> None:
    setup = started(rt, postgres_url, 300)
    outbox = rt.Outbox(setup)
    at = "2026-01-01T00:00:0{}.000000Z".format
    claims = outbox.claim("chain", at(0), at(1), 2)
    assert [c.instance_id for c in claims] == ["i0", "i1"]  # first come, first served
    with psycopg.connect(postgres_url) as connection:
        rows = connection.execute("SELECT count(*) FROM statewright_outbox").fetchone()
    assert rows is not None and 2 <= rows[0] <= 2 * 16  # the next claims' worth, not 300
    worker = rt.Worker(rt.SqlStore(psycopg.connect(postgres_url)), chain_handlers(rt))
    while not worker.run_once().idle:
        pass
    # the two claimed above are held until their lease runs out (a clock in 2026)
    assert sorted(s for s, _ in states(postgres_url).values()) == ["DONE"] * 300
    assert setup.verify() == []


def test_a_lease_lost_while_a_handler_ran_writes_nothing(rt: Any, postgres_url: str) -> None:
    setup = started(rt, postgres_url, 1)

    def taken_over(job: Any) -> None:  # another worker took the instance meanwhile
        with psycopg.connect(postgres_url) as other:
            other.execute("UPDATE statewright_outbox SET lease = 'theirs'")

    worker = rt.Worker(rt.SqlStore(psycopg.connect(postgres_url)), chain_handlers(rt, taken_over))
    report = worker.run_once()
    assert (report.lost, report.fired) == (1, 0)
    assert states(postgres_url) == {"i0": ("A_RUNNING", 2)}  # no record, head row as it was
    assert setup.verify() == []
    assert cursor(postgres_url) == (0, "theirs")  # nor the cursor moved


def cursor(url: str) -> tuple[int, str | None]:
    """The one outbox row's delivery cursor and lease token."""
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT delivered, lease FROM statewright_outbox").fetchone()
    assert row is not None
    return int(row[0]), row[1]


def test_a_writer_that_came_first_is_not_overwritten(rt: Any, postgres_url: str) -> None:
    setup = started(rt, postgres_url, 1)
    fired = threading.Event()

    def first(job: Any) -> None:  # a person fails the run while its agent works
        if not fired.is_set():
            fired.set()
            other = rt.SqlStore(psycopg.connect(postgres_url))
            rt.Chain.load(other, "i0").fire(rt.Trigger.AGENT_ERROR)
            other.close()

    worker = rt.Worker(rt.SqlStore(psycopg.connect(postgres_url)), chain_handlers(rt, first))
    report = worker.run_once()
    assert report.fired == 0  # its outcome lost the race: nothing of it written
    assert states(postgres_url) == {"i0": ("FAILED", 3)}
    assert setup.verify() == []
    assert cursor(postgres_url) == (0, None)  # the cursor unmoved (the commit is one
    # statement sent alone: it wrote none of its parts), the claim let go
    with psycopg.connect(postgres_url) as connection:
        row = connection.execute(
            "SELECT count(*) FROM statewright_records WHERE body LIKE '%a_done%'"
        ).fetchone()
    assert row == (0,)


def test_a_tampered_instance_is_quarantined_and_the_others_delivered(
    rt: Any, postgres_url: str
) -> None:
    setup = started(rt, postgres_url, 2)
    with psycopg.connect(postgres_url) as tamperer:
        tamperer.execute(
            "UPDATE statewright_records SET body = replace(body, 'start', 'strat')"
            " WHERE instance_id = 'i1' AND seq = 2"
        )
    worker = rt.Worker(rt.SqlStore(psycopg.connect(postgres_url)), chain_handlers(rt))
    report = worker.run_once()
    assert report.quarantined == 1  # the tampered one, at once (ChainBroken)
    assert states(postgres_url)["i0"] == ("DONE", 5)
    assert states(postgres_url)["i1"] == ("A_RUNNING", 2)
    assert [p.instance_id for p in setup.verify()] == ["i1"]


def test_the_bench_peers_mode_says_how_to_install_them(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    script = root / "benchmarks" / "bench_worker.py"
    code = (
        "import sys, importlib.util; real = importlib.util.find_spec;"
        " importlib.util.find_spec = lambda n, *a: None if n in ('procrastinate', 'dbos')"
        f" else real(n, *a); sys.argv = [{str(script)!r}, '--peers'];"
        f" exec(compile(open({str(script)!r}).read(), {str(script)!r}, 'exec'),"
        " {'__name__': '__main__', '__file__': " + repr(str(script)) + "})"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert "procrastinate==3.10.0 dbos==3.4.0" in done.stderr
    assert "Traceback" not in done.stderr


def rows_read(plan: dict[str, Any], table: str) -> int:
    """The rows the scans of ``table`` returned in an ``EXPLAIN (ANALYZE, FORMAT JSON)``
    plan, over all their loops: the work a statement did on that table."""
    own = int(plan["Actual Rows"]) * int(plan["Actual Loops"])
    found = own if plan.get("Relation Name") == table else 0
    return found + sum(rows_read(child, table) for child in plan.get("Plans", []))


def test_a_claim_walks_the_instances_it_takes_not_every_due_one(rt: Any, postgres_url: str) -> None:
    """300 instances due on a store the planner knows nothing of (never analysed), 16 of
    them held by other workers: a claim of 8 reads the head rows of those 24 (and the
    one past them), never the 300 (as a scan and sort of the due instances would)."""
    setup = started(rt, postgres_url, 300)
    outbox = rt.Outbox(setup)
    at = "2026-01-01T00:00:0{}.000000Z".format
    held = outbox.claim("chain", at(0), at(9), 8) + outbox.claim("chain", at(0), at(9), 8)
    assert [c.instance_id for c in held] == [f"i{n}" for n in range(16)]
    from statewright.generator.runtime import outbox as module

    sql = module._DUE_WALK.format(limit=8).replace("?", "%s")
    with psycopg.connect(postgres_url) as connection:
        (row,) = connection.execute(
            f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}",
            ("chain", "chain", "chain", at(1), at(1), "chain"),
        ).fetchall()
        taken = connection.execute(sql, ("chain", "chain", "chain", at(1), at(1), "chain"))
        assert [r[0] for r in taken.fetchall()] == [f"i{n}" for n in range(16, 24)]
    plan = row[0][0]["Plan"]
    assert rows_read(plan, "statewright_instances") <= 16 + 8 + 1, plan
    assert rows_read(plan, "statewright_outbox") <= 2 * (16 + 8), plan
    setup.close()
