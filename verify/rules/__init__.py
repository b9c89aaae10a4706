"""Every rule statewright checks, one module per family; importing this package registers
them all in :data:`statewright.verify.registry.RULES`.

The registry itself (:mod:`statewright.verify.registry`) is separate, so that the loader can
register the load rules without importing networkx and the analyses.
"""

from __future__ import annotations

from statewright.verify.load import rules as load_rules
from statewright.verify.registry import (
    RULES,
    Family,
    ProjectCheck,
    Rule,
    RuleCheck,
    data_rule,
    project_rule,
    register_load_rule,
    rule,
)
from statewright.verify.rules import (
    approvals,
    asl,
    data,
    graph,
    migration,
    orchestration,
    project,
    stepfunctions,
)

__all__ = [
    "RULES",
    "Family",
    "ProjectCheck",
    "Rule",
    "RuleCheck",
    "approvals",
    "asl",
    "data",
    "data_rule",
    "graph",
    "load_rules",
    "migration",
    "orchestration",
    "project",
    "project_rule",
    "register_load_rule",
    "rule",
    "stepfunctions",
]
