"""The rollback search the explorer ships against its first implementation.

:func:`~statewright.verify.explore.rollback.search_with_rollback` compiles the spec's
search once for every fixpoint round and keeps each configuration's ancestors as the parts
a rollback restores, decoded once per distinct set; the oracle
(``tests/rollback_rounds.py``) is the fixpoint as first written. On random specs with
``rollback:`` (``keep`` and ``max`` drawn) and on the shipped pipeline both give the same
search, array for array (so the same configurations, edges, numbering and shortest
traces), and ``statewright check`` the same findings.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from hypothesis import given, settings
from rollback_rounds import search_with_rollback_rounds
from test_rollback import rollback_specs

from statewright.verify.check import check_spec
from statewright.verify.explore import explore
from statewright.verify.explore.budget import Budget
from statewright.verify.explore.rollback import search_with_rollback
from statewright.verify.explore.search import Search
from statewright.verify.load import load_file, load_text
from statewright.verify.model import Spec

ROOT = Path(__file__).resolve().parents[1]

FIELDS = (
    "order",
    "parent",
    "first",
    "succ",
    "via",
    "source",
    "back",
    "head",
    "holds",
    "free",
    "stuck",
    "nondet",
    "out",
    "exceeded",
    "transitions",
)


def assert_same(shipped: Search, oracle: Search) -> None:
    for name in FIELDS:
        assert getattr(shipped, name) == getattr(oracle, name), f"the searches differ in {name}"


def test_the_pipeline_searches_as_the_oracle_does() -> None:
    spec = load_file(ROOT / "specs" / "discovery_pipeline.yaml").spec
    assert spec is not None
    shipped = search_with_rollback(spec)
    assert len(shipped) == 884
    assert_same(shipped, search_with_rollback_rounds(spec))


@settings(max_examples=80, deadline=None)
@given(text=rollback_specs(properties=True))
def test_random_specs_search_as_the_oracle_does(text: str) -> None:
    spec = load_text(text).spec
    assert spec is not None
    assert_same(search_with_rollback(spec), search_with_rollback_rounds(spec))


@settings(max_examples=25, deadline=None)
@given(text=rollback_specs(properties=True))
def test_random_specs_check_as_with_the_oracle(text: str) -> None:
    """The findings (verdicts, counterexamples through rollbacks) are the oracle's."""
    spec, again = load_text(text).spec, load_text(text).spec
    assert spec is not None and again is not None
    shipped = [finding.format() for finding in check_spec(spec).findings]
    with mock.patch("statewright.verify.explore.search_with_rollback", search_with_rollback_rounds):
        oracle = [finding.format() for finding in check_spec(again).findings]
    assert shipped == oracle


def test_a_budget_runs_out_where_the_oracle_s_does() -> None:
    """Out of edges part way through the fixpoint: the same incomplete search."""
    spec: Spec | None = load_file(ROOT / "specs" / "discovery_pipeline.yaml").spec
    assert spec is not None
    budget = Budget(configurations=10_000, edges=3_000)
    shipped, oracle = search_with_rollback(spec, budget), search_with_rollback_rounds(spec, budget)
    assert shipped.exceeded is not None
    assert_same(shipped, oracle)
    assert not explore(spec, budget).complete
