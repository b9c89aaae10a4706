"""Tamper evidence: the hash chain, ``verify`` and ``statewright audit verify``, on a SQLite
file and a real PostgreSQL database altered behind the store's back."""

from __future__ import annotations

import io
import json
import sqlite3
from typing import Any

from storekit import SQL_BACKENDS, Backend, backend_fixture

from statewright.generator.commands.audit import audit_command, head_command
from statewright.generator.runtime import chain
from statewright.generator.runtime import store as S

backend = backend_fixture(SQL_BACKENDS)
M = "orders"
RECORDS = "statewright_records"


def seeded(backend: Backend, count: int = 5) -> Any:
    """A store holding a bystander and instance ``i`` with ``count`` records."""
    store = backend.open()
    head = S.StoreHead("A", None)
    store.create(M, "bystander", head, [{"seq": 1, "trigger": "go"}])
    store.create(M, "i", head, [{"seq": n, "trigger": f"t{n}"} for n in range(1, count + 1)])
    assert store.verify() == []
    return store


def audit(target: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = audit_command(target, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def assert_reported(target: str, text: str) -> None:
    """``statewright audit verify`` exits 1 and prints ``text``."""
    status, out, _ = audit(target)
    assert status == 1
    assert text in out
    assert out.endswith("audit verify: 1 broken chain(s)\n")


def only_problem(store: Any) -> tuple[int, str]:
    problems = store.verify()
    assert len(problems) == 1, problems
    assert (problems[0].machine, problems[0].instance_id) == (M, "i")
    return problems[0].seq, problems[0].kind


def test_an_intact_store_verifies(backend: Backend) -> None:
    seeded(backend)
    status, out, err = audit(backend.target)
    assert (status, err) == (0, "")
    assert "every chain intact" in out


def test_altered_record_is_reported(backend: Backend) -> None:
    store = seeded(backend)
    backend.execute(
        f"UPDATE {RECORDS} SET body = ? WHERE instance_id = 'i' AND seq = 3",
        ('{"seq":3,"trigger":"forged"}',),
    )
    assert only_problem(store) == (3, "altered")
    assert_reported(backend.target, "orders 'i' record 3: altered")


def test_altered_record_with_a_recomputed_hash_is_reported(backend: Backend) -> None:
    store = seeded(backend)
    body = '{"seq":3,"trigger":"forged"}'
    (prev,) = backend.execute(f"SELECT prev FROM {RECORDS} WHERE instance_id = 'i' AND seq = 3")[0]
    forged = chain.link(M, "i", prev, body)
    backend.execute(
        f"UPDATE {RECORDS} SET body = ?, hash = ? WHERE instance_id = 'i' AND seq = 3",
        (body, forged),
    )
    assert only_problem(store) == (3, "altered")


def test_removed_record_is_reported(backend: Backend) -> None:
    store = seeded(backend)
    backend.execute(f"DELETE FROM {RECORDS} WHERE instance_id = 'i' AND seq = 2")
    assert only_problem(store) == (2, "removed")
    assert_reported(backend.target, "orders 'i' record 2: removed")


def test_removed_record_hidden_by_renumbering_is_reported(backend: Backend) -> None:
    store = seeded(backend)
    backend.execute(f"DELETE FROM {RECORDS} WHERE instance_id = 'i' AND seq = 2")
    for seq in (3, 4, 5):
        backend.execute(
            f"UPDATE {RECORDS} SET seq = ? WHERE instance_id = 'i' AND seq = ?", (seq - 1, seq)
        )
    backend.execute("UPDATE statewright_instances SET seq = 4 WHERE instance_id = 'i'")
    assert only_problem(store) == (2, "removed")


def test_removed_last_record_is_reported(backend: Backend) -> None:
    store = seeded(backend)
    backend.execute(f"DELETE FROM {RECORDS} WHERE instance_id = 'i' AND seq = 5")
    assert only_problem(store) == (5, "removed")


def test_removed_instance_head_is_reported(backend: Backend) -> None:
    store = seeded(backend)
    backend.execute("DELETE FROM statewright_instances WHERE instance_id = 'i'")
    assert only_problem(store) == (0, "removed")


def test_reordered_records_are_reported(backend: Backend) -> None:
    store = seeded(backend)
    backend.execute(f"UPDATE {RECORDS} SET seq = -1 WHERE instance_id = 'i' AND seq = 3")
    backend.execute(f"UPDATE {RECORDS} SET seq = 3 WHERE instance_id = 'i' AND seq = 4")
    backend.execute(f"UPDATE {RECORDS} SET seq = 4 WHERE instance_id = 'i' AND seq = -1")
    assert only_problem(store) == (3, "reordered")
    assert_reported(backend.target, "orders 'i' record 3: reordered: record 4 stands in its place")


def test_records_moved_between_instances_are_reported(backend: Backend) -> None:
    store = seeded(backend)
    backend.execute(f"DELETE FROM {RECORDS} WHERE instance_id = 'bystander'")
    backend.execute(
        f"UPDATE {RECORDS} SET instance_id = 'bystander' WHERE instance_id = 'i' AND seq = 1"
    )
    kinds = {(p.instance_id, p.seq, p.kind) for p in store.verify()}
    assert kinds == {("bystander", 1, "altered"), ("i", 1, "removed")}


def test_memory_store_verifies_its_chains() -> None:
    store = S.MemoryStore()
    store.create(M, "i", S.StoreHead("A", None), [{"seq": 1}, {"seq": 2}])
    assert store.verify() == []
    entries = store._records[M, "i"]
    entries[0], entries[1] = entries[1], entries[0]
    assert [(p.seq, p.kind) for p in store.verify()] == [(1, "reordered")]


def test_audit_refuses_what_is_not_a_store(tmp_path: Any) -> None:
    status, out, err = audit(str(tmp_path / "missing.sqlite"))
    assert (status, out) == (2, "")
    assert err == f"statewright: error: no such file: {tmp_path / 'missing.sqlite'}\n"
    junk = tmp_path / "junk.sqlite"
    junk.write_text("not a database")
    status, _, err = audit(str(junk))
    assert status == 2
    assert err.startswith(f"statewright: error: {junk}: ") and err.count("\n") == 1
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(str(empty)).execute("CREATE TABLE t (x)")
    status, _, err = audit(str(empty))
    assert status == 2
    assert "no such table: statewright_instances" in err


def test_audit_reads_without_writing(tmp_path: Any) -> None:
    path = tmp_path / "store.sqlite"
    seeded(Backend("sqlite", str(path)))
    before = path.read_bytes()
    assert audit(str(path))[0] == 0
    assert path.read_bytes() == before


def test_audit_hides_the_password_of_an_unreachable_url() -> None:
    status, _, err = audit("postgresql://user:secret@127.0.0.1:1/db")
    assert status == 2
    assert "secret" not in err
    assert err.startswith("statewright: error: postgresql://user@127.0.0.1:1/db")


# -- the witness: what a hash chain alone cannot see ------------------------------------


def witness(backend: Backend, path: Any) -> None:
    """``statewright audit head`` written to ``path``, as an operator would keep it."""
    out, err = io.StringIO(), io.StringIO()
    assert head_command(backend.target, stdout=out, stderr=err) == 0, err.getvalue()
    path.write_text(out.getvalue())


def verify_against(backend: Backend, path: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = audit_command(backend.target, against=path, stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_audit_head_prints_every_chain_end(backend: Backend, tmp_path: Any) -> None:
    store = seeded(backend)
    kept = tmp_path / "heads.jsonl"
    witness(backend, kept)
    lines = [json.loads(line) for line in kept.read_text().splitlines()]
    assert [(h["instance_id"], h["seq"]) for h in lines] == [("bystander", 1), ("i", 5)]
    assert lines[1]["hash"] == store.load(M, "i").head_hash
    assert verify_against(backend, kept)[0] == 0


def test_tail_truncation_passes_the_chain_but_not_the_witness(
    backend: Backend, tmp_path: Any
) -> None:
    seeded(backend)
    kept = tmp_path / "heads.jsonl"
    witness(backend, kept)
    # The attack: cut the last two records and rewind the head to values already stored.
    (hash3,) = backend.execute(f"SELECT hash FROM {RECORDS} WHERE instance_id = 'i' AND seq = 3")[0]
    backend.execute(f"DELETE FROM {RECORDS} WHERE instance_id = 'i' AND seq > 3")
    backend.execute(
        "UPDATE statewright_instances SET seq = 3, head = ? WHERE instance_id = 'i'", (hash3,)
    )
    status, out, _ = audit(backend.target)
    assert status == 0 and "every chain intact" in out  # the chain alone cannot tell
    status, out, _ = verify_against(backend, kept)
    assert status == 1
    assert "orders 'i' record 4: removed: the store holds 3 records; the witness saw 5" in out


def test_a_rewritten_chain_fails_the_witness(backend: Backend, tmp_path: Any) -> None:
    store = seeded(backend)
    kept = tmp_path / "heads.jsonl"
    witness(backend, kept)
    bodies = [json.loads(e.body) for e in store.load(M, "i").entries]
    bodies[1]["trigger"] = "forged"
    _, rewritten = chain.started(M, "i", S.StoreHead("?", None), bodies)
    for entry in rewritten:
        backend.execute(
            f"UPDATE {RECORDS} SET body = ?, prev = ?, hash = ?"
            " WHERE instance_id = 'i' AND seq = ?",
            (entry.body, entry.prev, entry.hash, entry.seq),
        )
    backend.execute(
        "UPDATE statewright_instances SET head = ? WHERE instance_id = 'i'", (rewritten[-1].hash,)
    )
    assert audit(backend.target)[0] == 0  # consistent, recomputed
    status, out, _ = verify_against(backend, kept)
    assert status == 1 and "orders 'i' record 5: altered" in out


def test_a_witness_that_cannot_be_read_is_a_usage_error(backend: Backend, tmp_path: Any) -> None:
    seeded(backend)
    bad = tmp_path / "heads.jsonl"
    bad.write_text('{"machine": "orders"}\n')
    status, out, err = verify_against(backend, bad)
    assert (status, out) == (2, "")
    assert "heads.jsonl:1: not a head line of 'statewright audit head'" in err
