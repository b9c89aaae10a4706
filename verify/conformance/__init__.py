"""The conformance harness: property-test any implementation of a machine against its spec.

See :mod:`statewright.verify.conformance.harness` for how it works; adapters follow the contract in
:mod:`statewright.verify.conformance.adapters`. Needs hypothesis, the optional extra
``statewright[testing]``; nothing else in :mod:`verify` imports this package, so checking
and generating work without it.
"""

from __future__ import annotations

try:
    import hypothesis  # noqa: F401  (the harness is built on it)
except ImportError as missing:  # pragma: no cover - the extra is part of the dev set-up
    raise ImportError(
        "statewright.verify.conformance needs hypothesis: pip install 'statewright[testing]'"
    ) from missing

from statewright.verify.conformance.adapters import (
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
from statewright.verify.conformance.harness import (
    ConformanceMachine,
    conformance_test,
    intruders,
    reviewers,
)

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
