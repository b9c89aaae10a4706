"""Effect results cached under ``job.key``: a redelivery returns the stored result instead
of calling the model again.

The durable worker delivers at least once: a worker that dies between a handler's return
and the commit of the transition its result fires (or loses its lease there) leaves the
record undelivered, and the next delivery calls the handler again, under the same
``job.key`` (``machine:instance:seq:hook``). For a handler whose call is costly or not
repeatable (a model call, a payment), register it with ``on_enter(..., cache=True)``: the
worker stores what it returned, in the table ``statewright_effects`` beside the outbox,
committed as soon as the call returns and before the transition is written; a
redelivery of the same key finds it and hands it back without calling the handler.

What is kept is the outcome, as JSON: the trigger, or the :class:`~.handlers.Fire` (its
trigger, payload and context), or that it returned None. A call that raised is not kept
(it is retried as its policy says), nor an outcome that is no trigger of the machine or
cannot be stored as JSON (it fails as it would uncached). Retention: a run's cached
results are deleted in the transaction that commits the outcome they stood in for (its
cursor moved past their record, no delivery of that key can come again), and with the
run when it is cancelled (:mod:`.cancel`) or archived (:func:`~.outbox.forget_results`).
"""

from __future__ import annotations

import json
from typing import Any

from .handlers import Done, Fire, Job
from .records import storable
from .sqlstore import SCHEMA_LOCK, SqlStore
from .stored import instant

__all__ = ["EffectCache"]

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS statewright_effects ("
    " machine TEXT NOT NULL, instance_id TEXT NOT NULL, effect_key TEXT NOT NULL,"
    " seq BIGINT NOT NULL, result TEXT NOT NULL, at TEXT NOT NULL,"
    " PRIMARY KEY (machine, instance_id, effect_key))"
)

_FORGET = "DELETE FROM statewright_effects WHERE machine = ? AND instance_id = ?"
"""What :func:`~.outbox.forget_results` runs too (the table lives beside the outbox)."""


class EffectCache:
    """The cached results of ``triggers``' machine's handlers in ``store`` (the table is
    made if missing). ``held`` names the instances this worker cached or found results
    for: only their commits delete results (:meth:`forget`)."""

    def __init__(self, store: SqlStore, triggers: type[Any]) -> None:
        self.store = store
        self.triggers = triggers
        self.held: set[str] = set()
        self.hits = 0
        """Calls not made: their result was found cached."""
        with store._transaction(write=True) as cursor:
            if store.dialect == "postgresql":  # concurrent CREATE TABLEs would collide
                store._run(cursor, f"SELECT pg_advisory_xact_lock({SCHEMA_LOCK})")
            store._run(cursor, _SCHEMA)

    def get(self, job: Job[Any, Any, Any]) -> Done | None:
        """What the call of ``job`` returned when it was made before, or None."""
        store = self.store
        with store._transaction(write=False, single=True) as cursor:
            store._run(
                cursor,
                "SELECT result FROM statewright_effects"
                " WHERE machine = ? AND instance_id = ? AND effect_key = ?",
                (job.machine, job.instance_id or "", job.key),
            )
            row = cursor.fetchone()
        if row is None:
            return None
        self.held.add(job.instance_id or "")
        self.hits += 1
        return Done(self._decoded(json.loads(str(row[0]))))

    def put(self, job: Job[Any, Any, Any], value: object, at: Any) -> None:
        """Keep what the call of ``job`` returned, committed now (not inside a batch:
        it must outlive a crash before the outcome's commit); nothing for a value that
        is no outcome the cache can keep."""
        text = self._encoded(value)
        if text is None:
            return
        store = self.store
        with store._transaction(write=True) as cursor:
            store._run(
                cursor,
                "INSERT INTO statewright_effects"
                " (machine, instance_id, effect_key, seq, result, at) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (machine, instance_id, effect_key) DO NOTHING",
                (job.machine, job.instance_id or "", job.key, job.record.seq, text, instant(at)),
            )
        self.held.add(job.instance_id or "")

    def forget(self, machine: str, instance_id: str, delivered: int) -> None:
        """Delete the instance's results for its first ``delivered`` records (their
        outcomes committed), in the caller's transaction (``store.batch()``)."""
        if instance_id not in self.held:
            return
        store = self.store
        with store._transaction(write=True) as cursor:
            store._run(cursor, f"{_FORGET} AND seq <= ?", (machine, instance_id, delivered))
        self.held.discard(instance_id)

    def _encoded(self, value: object) -> str | None:
        if value is None:
            return json.dumps({"returned": None})
        if isinstance(value, Fire) and isinstance(value.trigger, self.triggers):
            try:
                payload = storable(value.payload, "payload")
                context = None if value.context is None else storable(dict(value.context), "")
            except TypeError:
                return None
            body = {"fire": value.trigger.value, "payload": payload, "context": context}
            return json.dumps(body)
        if isinstance(value, self.triggers):
            return json.dumps({"trigger": value.value})
        return None

    def _decoded(self, body: dict[str, Any]) -> object:
        if "trigger" in body:
            return self.triggers(body["trigger"])
        if "fire" in body:
            return Fire(self.triggers(body["fire"]), body.get("payload"), body.get("context"))
        return None
