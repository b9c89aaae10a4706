"""``statewright explain RULE``: the rule's definition and examples, from its docstring."""

from __future__ import annotations

import pytest

from statewright.generator.cli import main
from statewright.verify.explain import close_matches, examples, explain_text, flowed, rule_markdown
from statewright.verify.rules import RULES


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("rule_id", list(RULES))
def test_explain_prints_definition_and_both_examples(
    rule_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = RULES[rule_id]
    status, out, err = run(["explain", rule_id], capsys)
    assert (status, err) == (0, "")
    assert out == explain_text(rule)
    assert out.startswith(f"{rule_id} ({rule.severity}, {rule.family} rule)\n\n")
    assert flowed(rule.summary, markdown=True) in out
    fails, passes = rule.example("Fails"), rule.example("Passes")
    assert fails is not None and passes is not None
    for example in (fails, passes):
        for line in example.splitlines():
            assert f"    {line}".rstrip() in out.splitlines()
    assert out.index("Fails:") < out.index("Passes:")
    assert f"[{rule_id}]" in out  # the finding the failing example really produces


@pytest.mark.parametrize("rule_id", list(RULES))
def test_the_examples_do_what_they_say(rule_id: str) -> None:
    fails, passes = examples(rule_id)
    assert (fails.label, passes.label) == ("Fails", "Passes")
    assert rule_id in {f.rule for f in fails.findings}
    assert rule_id not in {f.rule for f in passes.findings}


def test_the_docs_entry_matches(capsys: pytest.CaptureFixture[str]) -> None:
    text = rule_markdown(RULES["dead-end"])
    assert text.startswith("### dead-end\n\n*error, graph rule*\n\n")
    assert '**Fails:**\n\n```yaml hl_lines="6"\n' in text and "**Passes:**" in text
    assert "error[dead-end]" in text
    assert "``" not in text.replace("```", "")


def test_unknown_rule_exits_2_with_close_matches(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = run(["explain", "dead_end"], capsys)
    assert (status, out) == (2, "")
    assert err == "statewright: error: unknown rule 'dead_end'; did you mean dead-end?\n"


def test_unknown_rule_without_a_close_match_lists_every_rule(
    capsys: pytest.CaptureFixture[str],
) -> None:
    status, out, err = run(["explain", "qqqq"], capsys)
    assert (status, out) == (2, "")
    assert err.count("\n") == 1
    for rule_id in RULES:
        assert rule_id in err


def test_close_matches() -> None:
    assert close_matches("aproval-missing-timeout")[0] == "approval-missing-timeout"
    assert set(close_matches("approval")) >= {"approval-missing-approve", "approval-missing-reject"}
    assert close_matches("") == []
