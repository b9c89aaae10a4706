"""The conformance harness: property-test any implementation of a machine against its spec.

See :mod:`statewright.verify.conformance.harness` for how it works; adapters follow the contract in
:mod:`statewright.verify.conformance.adapters`. The harness needs hypothesis, the optional extra
``statewright[testing]``, imported when one of its names is first used, so checking,
generating and :mod:`~statewright.verify.conformance.stepfunctions` work without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names as mypy sees them; imported on first use below
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
        RollbackAdapter,
        RollbackLimit,
        TimedAdapter,
        Unauthorized,
        VariablesAdapter,
    )
    from statewright.verify.conformance.harness import (
        ConformanceMachine,
        RollbackNotExercised,
        conformance_test,
        intruders,
        reviewers,
    )
    from statewright.verify.conformance.rollback import RollbackRecord

_HARNESS = (
    "ConformanceMachine",
    "RollbackNotExercised",
    "conformance_test",
    "intruders",
    "reviewers",
)
_ADAPTERS = (
    "Actor",
    "Adapter",
    "AuditEntry",
    "AuditedAdapter",
    "Clock",
    "InvalidTransition",
    "Locked",
    "ManualClock",
    "Refused",
    "RollbackAdapter",
    "RollbackLimit",
    "TimedAdapter",
    "Unauthorized",
    "VariablesAdapter",
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
    "RollbackAdapter",
    "RollbackLimit",
    "RollbackNotExercised",
    "RollbackRecord",
    "TimedAdapter",
    "Unauthorized",
    "VariablesAdapter",
    "conformance_test",
    "intruders",
    "reviewers",
]


def __getattr__(name: str) -> object:
    """The harness and its adapters, imported on first use: the package also holds
    :mod:`~statewright.verify.conformance.stepfunctions`, which needs no hypothesis."""
    if name in _ADAPTERS:
        from statewright.verify.conformance import adapters

        return getattr(adapters, name)
    if name == "RollbackRecord":
        from statewright.verify.conformance import rollback

        return rollback.RollbackRecord
    if name in _HARNESS:
        try:
            from statewright.verify.conformance import harness
        except ImportError as missing:  # pragma: no cover - the extra is part of the dev set-up
            raise ImportError(
                "statewright.verify.conformance needs hypothesis: "
                "pip install 'statewright[testing]'"
            ) from missing
        return getattr(harness, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
