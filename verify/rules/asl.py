"""The rules of ASL input: documented here, raised by :mod:`statewright.verify.load.asl`.

Their examples are ASL definitions (JSON) rather than specs; ``statewright explain`` and
the rule reference check them with the ASL reader.
"""

from __future__ import annotations

from statewright.verify.findings import Severity
from statewright.verify.load.asl.gaps import NOT_MODELLED
from statewright.verify.registry import Family, register_load_rule

__all__: list[str] = []

register_load_rule(
    NOT_MODELLED,
    """An ASL construct that the mapping to a statewright machine does not express.

    Retries, data (paths, parameters, Choice conditions), delays read from data, Map
    settings and the like: each is reported once per file, at its first use, with the
    states that use it, so that it is plain what the check proved and what it did not.
    An info finding: it never fails a check.

    Fails:

        {"StartAt": "Charge card",
         "States": {
           "Charge card": {
             "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
             "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
             "End": true}}}

    Passes:

        {"StartAt": "Charge card",
         "States": {
           "Charge card": {
             "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
             "End": true}}}
    """,
    severity=Severity.INFO,
    family=Family.ASL,
)
