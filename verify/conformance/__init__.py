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
    InvalidTrigger,
    Locked,
    ManualClock,
    Refused,
    TimedAdapter,
    Unauthorised,
)
from verify.conformance.harness import ConformanceMachine, conformance_test, intruders, reviewers

__all__ = [
    "Actor",
    "Adapter",
    "AuditEntry",
    "AuditedAdapter",
    "Clock",
    "ConformanceMachine",
    "InvalidTrigger",
    "Locked",
    "ManualClock",
    "Refused",
    "TimedAdapter",
    "Unauthorised",
    "conformance_test",
    "intruders",
    "reviewers",
]
