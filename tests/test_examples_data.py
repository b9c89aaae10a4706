"""The worked examples of data under ``specs/examples/`` fail as their comments say: each
new rule and each kind of property has an example that breaks it, with its trace."""

from __future__ import annotations

from pathlib import Path

import pytest

from statewright.verify.check import check_file

ROOT = Path(__file__).resolve().parents[1]

EXPECTED = {
    "retry_budget.yaml": (
        {
            "out-of-range",
            "never-enabled",
            "stuck",
            "unreachable-state",
            "property-violated",
            "running-without-deadline",
        },
        100_000,
    ),
    "review_rounds.yaml": (
        {
            "nondeterministic",
            "shadowed-transition",
            "always-cycle",
            "unreachable-state",
            "uncoverable-transition",
            "trap",
            "never-enabled",
            "property-violated",
            "running-without-deadline",
        },
        100_000,
    ),
    "rate_limiter.yaml": ({"state-space-too-large", "running-without-deadline"}, 100_000),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_example_breaks_what_it_says(name: str) -> None:
    rules, limit = EXPECTED[name]
    path = ROOT / "specs" / "examples" / name
    result = check_file(path, f"specs/examples/{name}", max_configurations=limit)
    assert {f.rule for f in result.findings} == rules
    with_data = [f for f in result.findings if f.rule in {"stuck", "trap", "out-of-range"}]
    assert all(f.trace for f in with_data)


def test_the_examples_break_every_property_kind_and_every_data_rule() -> None:
    data_rules = {
        "stuck",
        "never-enabled",
        "out-of-range",
        "property-violated",
        "state-space-too-large",
    }
    assert data_rules <= set().union(*(rules for rules, _ in EXPECTED.values()))
    result = check_file(ROOT / "specs" / "examples" / "review_rounds.yaml")
    messages = [f.message for f in result.findings if f.rule == "property-violated"]
    assert any("without approved since it last left DRAFTING" in m for m in messages)
    assert any("can go round SIGNED for ever" in m for m in messages)
    result = check_file(ROOT / "specs" / "examples" / "retry_budget.yaml")
    assert any("is false in WORKING" in f.message for f in result.findings)
