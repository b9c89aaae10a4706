"""Audit records built by name: each event's constructor gives the record the class
itself builds from the same fields by keyword, and the record reads back from its JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from statewright.generator.runtime.records import AuditRecord, Event, JSONValue, record_from_json


class State(StrEnum):
    A = "A"
    B = "B"


class Trigger(StrEnum):
    GO = "go"


class Reason(StrEnum):
    BROKE = "BROKE"


Record = AuditRecord[State, Trigger, Reason]

json_values: st.SearchStrategy[JSONValue] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
objects = st.dictionaries(st.text(), json_values, max_size=3)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5, minutes=-30))]),
)
texts = st.none() | st.text(min_size=1)
states, reasons = st.sampled_from(State), st.none() | st.sampled_from(Reason)
seqs = st.integers(min_value=2, max_value=10**9)


def read_back(record: Record) -> Record:
    return record_from_json(record.as_json(), State, Trigger, Reason)


@given(moments, states, objects, st.none() | objects)
def test_created(at: datetime, state: State, context: Any, variables: Any) -> None:
    record: Record = AuditRecord.created(at=at, state=state, context=context, variables=variables)
    expected = AuditRecord(
        seq=1,
        at=at,
        from_state=state,
        to_state=state,
        event=Event.CREATED,
        data=context,
        variables=variables,
    )
    assert record == expected and type(record) is AuditRecord
    assert read_back(record) == expected


@given(seqs, moments, states, states, texts, texts, reasons, json_values, st.none() | objects)
def test_transition(
    seq: int,
    at: datetime,
    source: State,
    target: State,
    actor: str | None,
    decision: str | None,
    reason: Reason | None,
    data: JSONValue,
    variables: Any,
) -> None:
    fields: dict[str, Any] = {
        "at": at,
        "from_state": source,
        "to_state": target,
        "trigger": Trigger.GO,
        "actor": actor,
        "decision": decision,
        "reason": reason,
        "data": data,
        "variables": variables,
    }
    record: Record = AuditRecord.transition(seq, **fields)
    expected = AuditRecord(seq=seq, event=Event.TRANSITION, rollback_to=None, **fields)
    assert record == expected
    assert read_back(record) == expected


def test_a_plain_transition_names_only_what_it_records() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    record: Record = AuditRecord.transition(
        2, at=at, from_state=State.A, to_state=State.B, trigger=Trigger.GO
    )
    assert record == AuditRecord(2, at, State.A, State.B, Trigger.GO)
    assert (record.actor, record.decision, record.reason, record.data) == (None,) * 4


@given(seqs, moments, states, states, texts, texts, reasons, st.none() | objects)
def test_rollback(
    seq: int,
    at: datetime,
    source: State,
    target: State,
    actor: str | None,
    decision: str | None,
    reason: Reason | None,
    variables: Any,
) -> None:
    fields: dict[str, Any] = {
        "at": at,
        "from_state": source,
        "to_state": target,
        "actor": actor,
        "decision": decision,
        "reason": reason,
        "variables": variables,
    }
    record: Record = AuditRecord.rollback(seq, rollback_to=seq - 1, **fields)
    expected = AuditRecord(seq=seq, event=Event.ROLLBACK, rollback_to=seq - 1, **fields)
    assert record == expected and record.trigger is None and record.data is None
    assert read_back(record) == expected


@given(seqs, moments, states, texts, reasons, objects)
def test_context_change(
    seq: int, at: datetime, state: State, actor: str | None, reason: Reason | None, data: Any
) -> None:
    record: Record = AuditRecord.context_change(
        seq, at=at, state=state, actor=actor, reason=reason, data=data
    )
    expected = AuditRecord(
        seq=seq,
        at=at,
        from_state=state,
        to_state=state,
        actor=actor,
        reason=reason,
        event=Event.CONTEXT,
        data=data,
    )
    assert record == expected
    assert read_back(record) == expected
