"""The conformance harness: property-test any implementation of a machine against its spec.

See :mod:`verify.conformance.harness` for how it works; adapters follow the contract in
:mod:`verify.conformance.adapters`. Needs hypothesis (a statewright dependency); nothing
else in :mod:`verify` imports this package.
"""

from __future__ import annotations

from verify.conformance.adapters import (
    Actor,
    Adapter,
    AuditedAdapter,
    AuditEntry,
    Clock,
    InvalidTransition,
    Locked,
    ManualClock,
    Refused,
    TimedAdapter,
    Unauthorized,
)
from verify.conformance.harness import ConformanceMachine, conformance_test, intruders, reviewers

__all__ = [
    "Actor",
    "Adapter",
    "AuditEntry",
    "AuditedAdapter",
    "Clock",
    "ConformanceMachine",
    "InvalidTransition",
    "Locked",
    "ManualClock",
    "Refused",
    "TimedAdapter",
    "Unauthorized",
    "conformance_test",
    "intruders",
    "reviewers",
]
