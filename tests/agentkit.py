"""The machine the worker tests drive, and the checks every worker test ends with.

``relay``: three fake agents in a row (DRAFTING, CHECKING, PUBLISHING) with a reviewer's
approval between the second and the third; :mod:`agent_worker` runs them in processes.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from storekit import Fleet, Stall, generate_runtime

__all__ = ["RELAY_SPEC", "approve_waiting", "check_delivery", "relay_runtime", "wait_for"]

RELAY_SPEC = """\
statewright: 1
machine: relay
initial: IDLE
states:
  IDLE: {kind: idle}
  DRAFTING: {kind: running}
  CHECKING: {kind: running}
  REVIEW: {kind: approval, reviewers: [lead]}
  PUBLISHING: {kind: running}
  FAILED: {kind: failed, reviewers: [lead]}
  DONE: {kind: complete, final: true}
transitions:
  - {from: IDLE, to: DRAFTING, trigger: start}
  - {from: DRAFTING, to: CHECKING, trigger: drafted}
  - {from: CHECKING, to: REVIEW, trigger: checked}
  - {from: REVIEW, to: PUBLISHING, trigger: approve, human: true}
  - {from: REVIEW, to: FAILED, trigger: reject, human: true, reason: REJECTED}
  - {from: REVIEW, to: FAILED, trigger: review_timeout, after: 1h, reason: TIMEOUT}
  - {from: [DRAFTING, CHECKING, PUBLISHING], to: FAILED, trigger: agent_error, reason: AGENT_ERROR}
  - {from: PUBLISHING, to: DONE, trigger: published}
  - {from: FAILED, to: DRAFTING, trigger: resume, human: true}
reasons:
  REJECTED: {recovery: [Revise the draft, Start again]}
  TIMEOUT: {recovery: [Find a reviewer, Start again]}
  AGENT_ERROR: {recovery: [Read the snapshot, Resume]}
"""

RUNNING = ("DRAFTING", "CHECKING", "PUBLISHING")


def relay_runtime(folder: Path) -> tuple[Any, Path]:
    """The relay's generated runtime module and its path."""
    generated: tuple[Any, Path] = generate_runtime(folder, RELAY_SPEC)
    return generated


def approve_waiting(rt: Any, store: Any, instances: list[str], fleet: Fleet) -> int:
    """The reviewer, through the API: approve every instance waiting in REVIEW once asked.

    A reviewer acts on the approval request the worker delivered; approving before it is
    delivered would move the instance on and rightly cancel the request (``approval``
    runs only while its state holds), and the test could not tell that from a lost effect.
    """
    lead = rt.Actor("lena", frozenset({"lead"}))
    asked = {words[1] for words in fleet.acks() if words[0] == "ask"}
    approved = 0
    for instance_id in instances:
        try:
            machine = rt.Relay.load(store, instance_id)
            request = f"relay:{instance_id}:{machine.audit[-1].seq}:approval"
            if machine.state is rt.State.REVIEW and request in asked:
                machine.approve(actor=lead, decision="Reads well.")
                approved += 1
        except rt.ConcurrencyConflict:
            continue
    return approved


STALL = 15_000
"""Polls (each at least 20 ms apart) in which neither the workers' log nor any instance
moved, after which :func:`wait_for` fails: a hang guard counted in polls, never in time."""


def wait_for(
    rt: Any,
    store: Any,
    instances: list[str],
    fleet: Fleet,
    until: Callable[[], bool] | None = None,
) -> None:
    """Approve what was asked, and restart the workers that killed themselves at a mark
    of their plan, until every instance is DONE with every effect delivered (nothing
    left in the outbox) and ``until()`` holds; fail when nothing moves for :data:`STALL`
    polls."""
    outbox = rt.Outbox(store, create=False)
    stall = Stall(STALL)
    while True:
        fleet.restart_killed()
        approve_waiting(rt, store, instances, fleet)
        states = Counter(rt.Relay.load(store, i).state.value for i in instances)
        pending = outbox.pending()
        finished = states == Counter({"DONE": len(instances)}) and not pending
        if finished and (until is None or until()):
            return
        now = (len(fleet.acks()), sorted(states.items()), len(pending))
        stall.saw(now, f"{dict(states)}, {pending[:3]}")
        time.sleep(0.02)


def check_delivery(rt: Any, store: Any, instances: list[str], fleet: Fleet) -> dict[str, int]:
    """Every committed record's effects ran at least once, never two at once; chains hold.

    Returns counts: records, effects expected, runs, and effects that ran more than once.
    """
    assert store.verify() == []
    lines = fleet.acks()
    assert not [w for w in lines if w[0] == "overlap"], "an instance worked on twice at once"
    ran = Counter(w[1] for w in lines if w[0] in ("end", "ask", "after"))
    expected: list[str] = []
    records = 0
    for instance_id in instances:
        machine = rt.Relay.load(store, instance_id)
        assert rt.Relay.replay(machine.audit).state is machine.state
        for record in machine.audit[1:]:
            records += 1
            key = f"relay:{instance_id}:{record.seq}"
            expected.append(f"{key}:after")
            if record.to_state.value in RUNNING:
                expected.append(f"{key}:enter")
            elif record.to_state.value == "REVIEW":
                expected.append(f"{key}:approval")
    missing = [key for key in expected if not ran[key]]
    assert not missing, f"effects never delivered: {missing[:5]}"
    return {
        "records": records,
        "effects": len(expected),
        "runs": sum(ran[key] for key in expected),
        "repeated": sum(1 for key in expected if ran[key] > 1),
    }
