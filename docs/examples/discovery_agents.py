"""The worked example of ``docs/agents.md``: the discovery pipeline driven by five fake agents.

    python discovery_agents.py STORE LOG

runs a durable worker on the SQLite file STORE until it is killed. Every agent appends
one line to LOG when it starts and one when it ends: ``start KEY`` and ``end KEY``,
``KEY`` being the idempotency key of its delivery. The agents are plain functions and
make no model calls; a real one would call its LLM client here (an ``async def`` handler
awaits it under ``Worker.arun_once``). In the state named by ``DISCOVERY_HANG_IN`` (say
``ATLAS_RUNNING``) the agent's call never returns, as a model call that hangs, so that
the example kills the worker there, at a point it chose, on a machine of any speed.
``generated/`` (``statewright generate specs/discovery_pipeline.yaml``) must be
importable.

The block between the ``agents`` markers is the one ``docs/agents.md`` shows and runs.
"""

from __future__ import annotations

# -- agents: begin
import os
import threading

from generated.discovery_pipeline.runtime import (
    Fire,
    Handlers,
    Job,
    Reason,
    State,
    Trigger,
)

Work = Job[State, Trigger, Reason]
handlers = Handlers()
requests: list[str] = []  # approval requests sent, by idempotency key


def note(job: Work, event: str) -> None:
    """Log one line for the example's checks: ``start KEY`` or ``end KEY``."""
    log = os.environ.get("DISCOVERY_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{event} {job.key}\n")


def think(job: Work) -> None:
    """Where a real agent awaits its model; here, nothing, or a call that never returns
    in the state named by ``DISCOVERY_HANG_IN``."""
    note(job, "start")
    if job.state.value == os.environ.get("DISCOVERY_HANG_IN"):
        threading.Event().wait()  # never set: the model never answers
    note(job, "end")


@handlers.on_enter(State.SCOUT_RUNNING, error=Trigger.AGENT_ERROR)
def scout(job: Work) -> Fire[Trigger]:
    think(job)
    topic = job.context.get("topic", "?")
    return Fire(Trigger.SCOUT_SUCCEEDED, context={"requirements": [f"search {topic}"]})


@handlers.on_approval(State.WAITING_REQUIREMENT_APPROVAL)
@handlers.on_approval(State.WAITING_ARCHITECTURE_APPROVAL)
def ask_reviewers(job: Work) -> None:
    requests.append(job.key)  # a real one sends a message naming job.reviewers


@handlers.on_enter(State.HUNTER_RUNNING, error=Trigger.AGENT_ERROR)
def hunter(job: Work) -> Fire[Trigger]:
    think(job)
    return Fire(Trigger.HUNTER_SUCCEEDED, context={"sources": 3})


@handlers.on_enter(State.HUNTER_COMPLETE)
@handlers.on_enter(State.FORGE_COMPLETE)
def next_stage(job: Work) -> Trigger:
    return Trigger.NEXT_STAGE


@handlers.on_enter(State.ATLAS_RUNNING, error=Trigger.AGENT_ERROR)
def atlas(job: Work) -> Fire[Trigger]:
    think(job)
    return Fire(Trigger.ATLAS_SUCCEEDED, context={"components": ["api", "index"]})


@handlers.on_enter(State.FORGE_RUNNING, error=Trigger.AGENT_ERROR)
def forge(job: Work) -> Fire[Trigger]:
    think(job)
    return Fire(Trigger.FORGE_SUCCEEDED, context={"spec": "v1"})


@handlers.on_enter(State.SENTINEL_RUNNING, error=Trigger.VALIDATION_FAILED)
def sentinel(job: Work) -> Fire[Trigger]:
    think(job)
    return Fire(Trigger.SENTINEL_SUCCEEDED, context={"findings": []})


@handlers.on_enter(State.SENTINEL_COMPLETE)
def triage(job: Work) -> Trigger:
    if job.context.get("findings"):
        return Trigger.CRITICAL_FINDINGS
    return Trigger.ALL_CHECKS_PASSED


# -- agents: end


def main(argv: list[str]) -> None:
    """Run a worker on the store ``argv[0]``, logging agents to ``argv[1]``, until killed."""
    from datetime import timedelta

    from generated.discovery_pipeline.runtime import SqlStore, Worker

    store_path, log = argv
    os.environ["DISCOVERY_LOG"] = log
    worker = Worker(SqlStore.sqlite(store_path), handlers, lease=timedelta(seconds=1))
    worker.run(stop=lambda: False, idle=0.02)


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
