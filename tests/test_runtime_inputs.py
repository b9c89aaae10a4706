"""No input a caller gives the runtime can corrupt or crash it (issue 19).

Each test is an attack: a context nested 600 deep (stored, then every delivery died in
``deepcopy``), a context too large, object keys JSON would silently merge, a naive clock
(stored, then the instance could not be loaded), a decision of zero-width characters
(accepted as a decision), and many context updates (every version kept whole: memory
quadratic in their number). Each is refused before anything is stored, in memory and in
a store, or, for memory, kept linear; the context after every record still comes back
exactly, by rollback and by replay.
"""

from __future__ import annotations

import json
import random
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from storekit import Backend, backend_fixture
from test_runtime_kit import Clock, on_call, runtime

backend = backend_fixture(("memory", "sqlite"))


@pytest.fixture(scope="module")
def rt() -> Any:
    return runtime()  # the gatekeeper: IDLE -> RUNNING -> CHECKED -> REVIEW -> DONE


def nested(depth: int) -> list[Any]:
    """A list nesting ``depth`` lists (itself included)."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def size_of(context: dict[str, Any]) -> int:
    """The bytes of ``context`` as JSON text, characters kept (as the limit counts)."""
    return len(json.dumps(context, ensure_ascii=False).encode())


def running(rt: Any, work: Any, *, error: Any = None) -> Any:
    """Handlers running ``work`` when RUNNING is entered (``error`` fires if it raises)."""
    handlers = rt.Handlers()
    handlers.on_enter(rt.State.RUNNING, error=error)(work)
    return handlers


def whole(machine: Any) -> tuple[object, ...]:
    return (machine.state, machine.audit, machine.context, machine.failures, machine.reason)


def stored_audit(rt: Any, store: Any, instance: str) -> tuple[Any, ...]:
    return tuple(rt.Gatekeeper.load(store, instance, clock=Clock()).audit)


REFUSED = [
    (nested(600), "lists and objects nest more than 64 deep; the limit is 64 \\(MAX_JSON_DEPTH"),
    (nested(65), "more than 64 deep"),
    (
        "x" * 1_048_576,
        ": 1,04\\d,\\d{3} bytes as JSON; the limit is 1,048,576 \\(MAX_JSON_BYTES\\)",
    ),
    (
        {"inner": {1: "one", "1": "uno"}},
        "the object key 1 \\(int\\) is not a string; JSON object keys are strings",
    ),
    ({"text": "ok\ud800"}, "'\\\\ud800' is not Unicode text \\(a lone surrogate\\)"),
]
"""Values no context or payload may hold, with what the refusal says."""

refused = pytest.mark.parametrize(
    ("value", "message"), REFUSED, ids=["600", "65", "size", "key", "surrogate"]
)


# -- the limits ---------------------------------------------------------------------------


def test_the_limits_are_named_and_a_value_at_them_is_kept(rt: Any) -> None:
    assert (rt.MAX_JSON_DEPTH, rt.MAX_JSON_BYTES) == (64, 1_048_576)
    deepest = {"x": nested(rt.MAX_JSON_DEPTH - 1)}  # the context object is one level
    largest = {"x": "y" * (rt.MAX_JSON_BYTES - len('{"x": ""}'))}
    for context in (deepest, largest):
        machine = rt.Gatekeeper(clock=Clock(), context=context)
        assert machine.context == context
    with pytest.raises(TypeError, match="MAX_JSON_DEPTH"):
        rt.Gatekeeper(clock=Clock(), context={"x": nested(rt.MAX_JSON_DEPTH)})
    with pytest.raises(TypeError, match="MAX_JSON_BYTES"):
        rt.Gatekeeper(clock=Clock(), context={"x": largest["x"] + "y"})


def test_a_value_that_contains_itself_is_refused_as_too_deep(rt: Any) -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(TypeError, match="MAX_JSON_DEPTH"):
        rt.Gatekeeper(clock=Clock(), context={"loop": loop})


# -- where a value enters ---------------------------------------------------------------


@refused
def test_create_refuses_a_context_and_stores_nothing(
    rt: Any, backend: Backend, value: object, message: str
) -> None:
    store = backend.open(rt)
    with pytest.raises(TypeError, match=message):
        rt.Gatekeeper.create(store, "g-1", clock=Clock(), context={"value": value})
    with pytest.raises(rt.UnknownInstance):
        rt.Gatekeeper.load(store, "g-1")
    with pytest.raises(TypeError, match=message):
        rt.Gatekeeper(clock=Clock(), context={"value": value})


@refused
@pytest.mark.parametrize("entry", ["update_context", "payload"])
def test_an_instance_refuses_a_value_and_stores_nothing(
    rt: Any, backend: Backend, value: object, message: str, entry: str
) -> None:
    store = backend.open(rt)
    stored = rt.Gatekeeper.create(store, "g-1", clock=Clock(), context={"a": 1})
    for machine in (stored, rt.Gatekeeper(clock=Clock())):
        machine.task_received()
        before = whole(machine)
        with pytest.raises(TypeError, match=message):
            if entry == "update_context":
                machine.update_context({"value": value})
            else:
                machine.agent_error(payload={"value": value})
        assert whole(machine) == before
    assert stored_audit(rt, store, "g-1") == stored.audit


def test_merges_may_not_grow_the_context_past_the_limit(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    half = "x" * (rt.MAX_JSON_BYTES // 2)
    machine = rt.Gatekeeper.create(store, "g-1", clock=Clock(), context={"a": half})
    machine.update_context({"a": half, "b": 1})  # replaces a: the context stays small
    before = whole(machine)
    with pytest.raises(TypeError, match=r"would make the context 1,048,5\d\d bytes as JSON"):
        machine.update_context({"b": half})  # each value fits, the context would not
    assert whole(machine) == before
    assert stored_audit(rt, store, "g-1") == machine.audit


def test_a_handler_outcome_with_a_deep_context_fires_its_error_trigger(
    rt: Any, backend: Backend
) -> None:
    store = backend.open(rt)

    def work(job: Any) -> Any:
        return rt.Fire(rt.Trigger.CHECKS_PASSED, context={"tree": nested(600)})

    handlers = running(rt, work, error=rt.Trigger.AGENT_ERROR)
    machine = rt.Gatekeeper.create(store, "g-1", clock=Clock(), context={"a": 1})
    assert rt.Runner(handlers, machine).fire(rt.Trigger.TASK_RECEIVED) is rt.State.FAILED
    assert machine.context == {"a": 1}
    error = machine.failures[0].payload["error"]
    assert "TypeError: a handler of RUNNING returned checks_passed with the context" in error
    assert "MAX_JSON_DEPTH" in error
    assert stored_audit(rt, store, "g-1") == machine.audit


def test_a_worker_retries_a_deep_outcome_and_stores_nothing(rt: Any, tmp_path: Any) -> None:
    store = rt.SqlStore.sqlite(str(tmp_path / "store.sqlite"))
    calls: list[int] = []

    def work(job: Any) -> Any:
        calls.append(job.attempt)
        return rt.Fire(rt.Trigger.CHECKS_PASSED, context={"tree": nested(600)})

    handlers = running(rt, work)
    rt.Gatekeeper.create(store, "g-1").task_received()
    stored = stored_audit(rt, store, "g-1")
    report = rt.Worker(store, handlers).run_once()
    assert (report.claimed, report.fired, report.failures, calls) == (1, 0, 1, [0])
    assert stored_audit(rt, store, "g-1") == stored  # loadable, and nothing was added


def test_replay_refuses_a_record_with_deep_data(rt: Any) -> None:
    created = rt.AuditRecord(
        1, datetime(2026, 1, 1, tzinfo=UTC), rt.State.IDLE, rt.State.IDLE, event=rt.Event.CREATED
    )
    deep = created._replace(data={"tree": nested(600)})
    with pytest.raises(rt.InvalidTransition, match="record 1: its data: lists and objects nest"):
        rt.Gatekeeper.replay([deep])
    change = created._replace(seq=2, event=rt.Event.CONTEXT, data={"tree": nested(600)})
    with pytest.raises(rt.InvalidTransition, match="record 2: its data: lists and objects nest"):
        rt.Gatekeeper.replay([created._replace(data={}), change])


def test_an_error_payload_always_fits(rt: Any) -> None:
    """An exception's text is clipped, so its error trigger can always fire."""

    def work(job: Any) -> Any:
        raise RuntimeError("z" * 2_097_152)

    handlers = running(rt, work, error=rt.Trigger.AGENT_ERROR)
    machine = rt.Gatekeeper(clock=Clock())
    assert rt.Runner(handlers, machine).fire(rt.Trigger.TASK_RECEIVED) is rt.State.FAILED
    text = machine.failures[0].payload["error"]
    assert "characters cut" in text and len(text) < 100_000


# -- the clock --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "error", "message"),
    [
        (datetime.now, ValueError, "the clock datetime.now returned the naive datetime"),
        (lambda: "2026-01-01", TypeError, "returned str '2026-01-01', not a datetime"),
    ],
)
def test_a_bad_clock_is_refused_at_its_first_use(
    rt: Any, backend: Backend, clock: Any, error: type[Exception], message: str
) -> None:
    store = backend.open(rt)
    with pytest.raises(error, match=message):
        rt.Gatekeeper.create(store, "g-1", clock=clock)
    with pytest.raises(rt.UnknownInstance):
        rt.Gatekeeper.load(store, "g-1")
    with pytest.raises(error, match=message):
        rt.Gatekeeper(clock=clock)
    rt.Gatekeeper.create(store, "g-2", clock=Clock())
    loaded = rt.Gatekeeper.load(store, "g-2", clock=clock)  # loading reads no clock
    with pytest.raises(error, match=message):
        loaded.task_received()
    assert stored_audit(rt, store, "g-2") == loaded.audit and len(loaded.audit) == 1


def test_an_aware_clock_in_any_zone_is_kept(rt: Any, backend: Backend) -> None:
    store = backend.open(rt)
    zone = timezone(timedelta(hours=2))
    machine = rt.Gatekeeper.create(store, "g-1", clock=lambda: datetime.now(zone))
    machine.task_received()
    assert stored_audit(rt, store, "g-1") == machine.audit


# -- blank decisions and actors ----------------------------------------------------------

INVISIBLE = ["\u200b", "\ufeff", "\u2060", " \u200b\n", "\u200d\u200c", "\u3164", "\x00"]


def at_review(machine: Any) -> Any:
    machine.task_received()
    machine.checks_passed()
    return machine


@pytest.mark.parametrize("decision", INVISIBLE)
@pytest.mark.parametrize("action", ["approved", "rejected", "rollback"])
def test_an_invisible_decision_is_blank(
    rt: Any, backend: Backend, decision: str, action: str
) -> None:
    store = backend.open(rt)
    machine = rt.Gatekeeper.create(store, "g-1", clock=Clock())
    args: tuple[int, ...] = (1,)
    act, actor = machine.rollback, on_call(rt)
    if action == "rollback":
        machine.task_received()
    else:
        at_review(machine)
        act, actor, args = getattr(machine, action), rt.Actor("ann", {"tech_lead"}), ()
    before = whole(machine)
    with pytest.raises(rt.Unauthorized, match="not a blank string"):
        act(*args, actor=actor, decision=decision)
    assert whole(machine) == before
    assert stored_audit(rt, store, "g-1") == machine.audit


@pytest.mark.parametrize("name", INVISIBLE)
def test_an_invisible_actor_id_or_role_is_blank(rt: Any, name: str) -> None:
    with pytest.raises(TypeError, match="a non-empty string id"):
        rt.Actor(name)
    with pytest.raises(TypeError, match="roles are a frozenset of non-empty strings"):
        rt.Actor("ann", frozenset({name}))


def test_a_decision_with_visible_text_is_kept(rt: Any) -> None:
    machine = at_review(rt.Gatekeeper(clock=Clock()))
    decision = "\u200bok\u200b"
    machine.approved(actor=rt.Actor("ann", frozenset({"tech_lead"})), decision=decision)
    assert machine.audit[-1].decision == decision


def test_replay_refuses_an_invisible_decision(rt: Any) -> None:
    machine = at_review(rt.Gatekeeper(clock=Clock()))
    machine.approved(actor=rt.Actor("ann", frozenset({"tech_lead"})), decision="fine")
    records = list(machine.audit)
    records[-1] = records[-1]._replace(decision="\u200b")
    with pytest.raises(rt.InvalidTransition, match="needs an actor and a decision"):
        rt.Gatekeeper.replay(records)


# -- the context's history ---------------------------------------------------------------


def test_the_context_comes_back_after_every_record(rt: Any, backend: Backend) -> None:
    """Random updates (new keys, replaced ones, large values) and rollbacks; after each,
    the context is the model's, and so is every earlier one, by replay and by rollback."""
    rng = random.Random(19)
    store = backend.open(rt)
    machine = rt.Gatekeeper.create(store, "g-1", clock=Clock(), context={"start": 0})
    model: dict[int, dict[str, object]] = {
        1: {"start": 0}
    }  # the context after each record, copied whole
    for _ in range(300):
        if rng.random() < 0.1:
            to = rng.randrange(1, len(machine.audit) + 1)
            machine.rollback(to, actor=on_call(rt), decision=f"back to {to}")
            model[len(machine.audit)] = model[to]
        else:
            size = rng.choice([1, 1, 1, 2000])
            values = {f"k{rng.randrange(40)}": "v" * size for _ in range(rng.randrange(1, 4))}
            machine.update_context(values)
            model[len(machine.audit)] = {**model[len(machine.audit) - 1], **values}
        assert machine.context == model[len(machine.audit)]
    loaded = rt.Gatekeeper.load(store, "g-1", clock=Clock())
    assert loaded.context == machine.context and loaded.audit == machine.audit
    for seq in rng.sample(sorted(model), 20):
        loaded.rollback(seq, actor=on_call(rt), decision=f"again to {seq}")
        assert loaded.context == model[seq]
    history = machine._history
    assert history.size == size_of(machine.context)
    for seq, context in model.items():
        assert history.at(seq) == context


def test_a_refused_store_write_leaves_the_context_as_it_was(rt: Any) -> None:
    store = rt.MemoryStore()
    machine = rt.Gatekeeper.create(store, "g-1", clock=Clock(), context={"a": 1})
    machine.update_context({"b": 2})
    other = rt.Gatekeeper.load(store, "g-1", clock=Clock())
    other.update_context({"c": 3})  # the first object is now stale
    with pytest.raises(rt.ConcurrencyConflict):
        machine.update_context({"a": 9, "d": 4})
    assert machine.context == {"a": 1, "b": 2}
    assert machine._history.size == size_of(machine.context)
    with pytest.raises(rt.ConcurrencyConflict):
        machine.rollback(1, actor=on_call(rt), decision="back to the start")
    assert machine.context == {"a": 1, "b": 2}


def peak_of_updates(rt: Any, updates: int) -> tuple[int, Any]:
    """Peak traced bytes of ``updates`` context updates of one new key each, then of
    loading the instance again; and the loaded instance."""
    store = rt.MemoryStore()
    tracemalloc.start()
    try:
        machine = rt.Gatekeeper.create(store, "g-1", clock=Clock())
        for n in range(updates):
            machine.update_context({f"key-{n}": n})
        loaded = rt.Gatekeeper.load(store, "g-1", clock=Clock())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(loaded.context) == updates
    return peak, loaded


def test_memory_grows_linearly_with_context_updates(rt: Any) -> None:
    """Kept whole, every version of a context of n keys made memory grow as n squared
    (1k updates: 14 MiB, 4k: 220 MiB); kept as changes, four times the updates take
    about four times the memory."""
    small, _ = peak_of_updates(rt, 1000)
    large, loaded = peak_of_updates(rt, 4000)
    assert large / small < 6, (small, large)
    held = loaded._history.held()  # context entries, in the copies and the changes
    assert held <= 4 * 4000, held
