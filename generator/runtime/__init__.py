"""The runtime every generated machine module runs on: standard library only.

Written once, here, where ruff and mypy see it; ``statewright generate`` copies this
package verbatim into the output folder as ``_statewright/``, beside the machine
packages, and each generated ``<machine>/runtime.py`` imports it relatively. To vendor a
generated machine, copy its folder together with ``_statewright/`` into one package.

- :mod:`.records`: actors, audit records, failure snapshots, the refusals, and the checks
  every value a caller hands in passes before anything changes (with their limits,
  :data:`MAX_JSON_DEPTH` and :data:`MAX_JSON_BYTES`);
- :mod:`.history`: an instance's context at every record, kept as its changes;
- :mod:`.kernel`: the step kernel, what one step of a machine does (which transition a
  trigger takes, what is refused, timers, ``always`` steps): the same file the checker
  runs as ``statewright.verify.semantics.kernel``;
- :mod:`.machinespec`: :class:`MachineSpec`, what a generated module declares of its
  machine, compiled to the kernel's tables;
- :mod:`.engine`: :class:`Machine`, the one engine; :mod:`.replay` checks a log against
  the spec record by record, :mod:`.durable` keeps instances in a store;
- :mod:`.data`: a machine's variables: their declaration (:class:`VariablesSpec`), and
  the compiled guards (:class:`Guard`) and effects (:class:`Effect`) of its transitions;
- :mod:`.store`: durable stores (in memory, SQLite, PostgreSQL) with hash-chained logs,
  every name of them importable from there: what a store holds (:mod:`.stored`), the
  hash chain and its verification (:mod:`.chain`), :mod:`.memorystore` and
  :mod:`.sqlstore`;
- :mod:`.versions`: the spec version a stored instance runs under, and the migrations
  that move it to another (:class:`MigrationSpec`, :class:`SpecMismatch`);
- :mod:`.gates`: approval gates under a policy (quorum, separation, escalation, a bound
  digest) as the runtime records them, and what a gate waits for (:class:`GateStatus`);
  :mod:`.signing`: what a signed human decision covers;
- :mod:`.handlers`: code attached to states and transitions, and the one code that decides
  which runs and what its outcome fires; :mod:`.runner` runs it in this process (plain or
  asyncio); :mod:`.outbox` and :mod:`.worker` deliver it from a SQL store, durably;
  :mod:`.observe` is how a worker is watched: the :class:`Tracer` it calls (no-op unless
  given one) and the structured logs' :class:`JsonFormatter`;
- :mod:`.cancel`: cancelling a run, closing it for good (:meth:`Machine.cancel`).
"""

from __future__ import annotations

from .data import Effect, Guard, OutOfBounds, VariableSpec, VariablesSpec
from .durable import SweepReport
from .engine import Allowed, Machine
from .gates import Approval, GateStatus, StaleDecision
from .handlers import Fire, HandlerSet, Hook, Job
from .kernel import Policy
from .machinespec import MachineSpec, Transition
from .observe import JsonFormatter, Span, Tracer
from .outbox import LeaseLost, Outbox
from .records import (
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    Actor,
    AuditRecord,
    Cancelled,
    Clock,
    Event,
    FailureSnapshot,
    InvalidTransition,
    JSONValue,
    Locked,
    Refused,
    RollbackLimit,
    Unauthorized,
)
from .retry import HandlerTimeout, Retry
from .runner import AsyncRunner, HandlerFailed, Runner
from .store import (
    ChainBroken,
    ChainProblem,
    ConcurrencyConflict,
    DBConnection,
    InstanceExists,
    InstanceHead,
    MemoryStore,
    SqlStore,
    Store,
    StoredInstance,
    StoredRecord,
    StoreError,
    StoreHead,
    UnknownInstance,
)
from .versions import BadMigration, MigrationSpec, SpecMismatch
from .worker import DeadLetter, Metrics, Round, Worker

__all__ = [
    "MAX_JSON_BYTES",
    "MAX_JSON_DEPTH",
    "Actor",
    "Allowed",
    "Approval",
    "AsyncRunner",
    "AuditRecord",
    "BadMigration",
    "Cancelled",
    "ChainBroken",
    "ChainProblem",
    "Clock",
    "ConcurrencyConflict",
    "DBConnection",
    "DeadLetter",
    "Effect",
    "Event",
    "FailureSnapshot",
    "Fire",
    "GateStatus",
    "Guard",
    "HandlerFailed",
    "HandlerSet",
    "HandlerTimeout",
    "Hook",
    "InstanceExists",
    "InstanceHead",
    "InvalidTransition",
    "JSONValue",
    "Job",
    "JsonFormatter",
    "LeaseLost",
    "Locked",
    "Machine",
    "MachineSpec",
    "MemoryStore",
    "Metrics",
    "MigrationSpec",
    "OutOfBounds",
    "Outbox",
    "Policy",
    "Refused",
    "Retry",
    "RollbackLimit",
    "Round",
    "Runner",
    "Span",
    "SpecMismatch",
    "SqlStore",
    "StaleDecision",
    "Store",
    "StoreError",
    "StoreHead",
    "StoredInstance",
    "StoredRecord",
    "SweepReport",
    "Tracer",
    "Transition",
    "Unauthorized",
    "UnknownInstance",
    "VariableSpec",
    "VariablesSpec",
    "Worker",
]

for _name in __all__:  # tracebacks and reprs name the package users import it from
    _public = globals()[_name]
    if isinstance(_public, type) and _public.__module__.startswith(__name__ + "."):
        _public.__module__ = __name__
del _name, _public
