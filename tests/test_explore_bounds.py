"""Every kind of work the checker does is bounded, and counted: configurations wider than
64 bits, edges, tour steps, property work and expression depth (issue 19)."""

from __future__ import annotations

import doctest
from pathlib import Path

import pytest
from test_runtime_kit import Clock, load_spec, runtime

import statewright.verify.explore.budget
from statewright.generator.cli import main
from statewright.verify.check import check_text
from statewright.verify.explore import Budget, explore
from statewright.verify.explore.search import PACKED_BITS
from statewright.verify.findings import Finding
from statewright.verify.load import load_text
from statewright.verify.load.expressions import MAX_DEPTH


def test_the_modules_examples_run() -> None:
    failed, tried = doctest.testmod(statewright.verify.explore.budget, optionflags=doctest.ELLIPSIS)
    assert tried > 0 and failed == 0


# -- configurations wider than 64 bits --------------------------------------------------

WIDE = """\
statewright: 1
machine: wallet
initial: OPEN
variables:
  balance: {type: int, min: 0, max: 1000000000000, initial: 1000000000000}
  count: {type: int, min: 0, max: 1000000, initial: 1000000}
  budget: {type: int, min: 0, max: 100000, initial: 99997}
states:
  OPEN: {}
  CLOSED: {kind: complete, final: true}
transitions:
  - from: OPEN
    to: OPEN
    trigger: spend
    when: budget < 100000
    set: {budget: budget + 1, balance: balance - 7, count: count - 1}
  - {from: OPEN, to: CLOSED, trigger: close}
properties:
  solvent: {always: balance >= 0}
  counted: {always: count > 999998}
"""


@pytest.fixture
def wide(tmp_path: Path) -> Path:
    path = tmp_path / "wallet.yaml"
    path.write_text(WIDE)
    return path


def test_a_configuration_wider_than_64_bits_is_explored() -> None:
    spec = load_text(WIDE).spec
    assert spec is not None
    found = explore(spec)
    assert found.layout.bits > PACKED_BITS
    assert found.complete and len(found) == 8  # 4 budgets open, 4 closed
    state, values = found.unpack(len(found) - 1)
    assert (state, values) == ("CLOSED", (10**12 - 21, 10**6 - 3, 100000))


def test_the_wide_spec_checks_with_its_properties() -> None:
    result = check_text(WIDE, "wallet.yaml")
    rules = [f.rule for f in result.findings]
    assert rules == ["property-violated"], [f.format() for f in result.findings]
    assert result.coverage is not None and result.coverage.complete
    assert result.stats is not None and result.stats.configurations == 8


@pytest.mark.parametrize(
    "argv",
    [
        ["check"],
        ["paths"],
        ["diagram", "--format", "mermaid"],
        ["generate", "--out", "{out}"],
    ],
)
def test_every_command_gives_a_result_for_a_wide_spec(
    argv: list[str], wide: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a.format(out=tmp_path / "out") for a in argv]
    status = main([*args, str(wide)])
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    if argv[0] == "check":
        assert status == 1 and "error[property-violated]" in out  # counted fails
    elif argv[0] == "paths":
        assert status == 0 and out.startswith("1: spend"), out
    elif argv[0] == "diagram":
        assert status == 0 and "OPEN" in out
    else:  # the property fails, so nothing is written
        assert status == 1 and "property-violated" in out + err


def test_generate_writes_a_wide_spec_without_properties(
    wide: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wide.write_text(WIDE.split("properties:")[0])
    status = main(["generate", "--out", str(tmp_path / "out"), str(wide)])
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert (tmp_path / "out" / "wallet" / "runtime.py").is_file()


# -- work budgets -----------------------------------------------------------------------


def _triggers(count: int, top: int) -> str:
    """``count`` triggers that each step a counter of ``0..top``."""
    lines = [
        "statewright: 1",
        "machine: many",
        "initial: RUNNING",
        "variables:",
        f"  x: {{type: int, min: 0, max: {top}, initial: 0}}",
        "states:",
        "  RUNNING: {}",
        "  DONE: {kind: complete, final: true}",
        "transitions:",
        "  - {from: RUNNING, to: DONE, trigger: stop}",
    ]
    for k in range(count):
        lines.append(
            f"  - {{from: RUNNING, to: RUNNING, trigger: t{k}, when: x < {top}, set: {{x: x + 1}}}}"
        )
    return "\n".join(lines) + "\n"


def _too_large(findings: tuple[Finding, ...]) -> list[str]:
    return [f.message for f in findings if f.rule == "state-space-too-large"]


def test_many_triggers_on_a_wide_counter_end_at_the_edge_budget() -> None:
    text = _triggers(1_000, 10**6)
    result = check_text(text, "many.yaml", budget=Budget(edges=20_000))
    (message,) = _too_large(result.findings)
    assert "more than 20,000 edges" in message and "--max-edges 20,000" in message
    assert [f.rule for f in result.findings] == ["state-space-too-large"]
    spec = load_text(text).spec
    assert spec is not None
    found = explore(spec, Budget(edges=20_000)).found
    # the search stops once past the edges, at most one configuration's 1,001 more
    assert found.exceeded is not None and found.exceeded.what == "edges"
    assert 20_000 < len(found.succ) <= 20_000 + 1_001


def test_the_edge_budget_is_a_command_line_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "many.yaml"
    path.write_text(_triggers(300, 10**6))
    status = main(["check", "--max-edges", "5000", str(path)])
    out, _ = capsys.readouterr()
    assert status == 1
    assert "error[state-space-too-large]" in out and "--max-edges 5,000" in out


def _resets(top: int) -> str:
    """A transition per value of ``x``, each one firing only there, and a way back that
    resets ``x``: every covering tour is quadratic in ``top``."""
    lines = [
        "statewright: 1",
        "machine: resets",
        "initial: A",
        "variables:",
        f"  x: {{type: int, min: 0, max: {top}, initial: 0}}",
        "states:",
        "  A: {}",
        "  B: {}",
        "transitions:",
        f"  - {{from: A, to: A, trigger: up, when: x < {top}, set: {{x: x + 1}}}}",
        "  - {from: B, to: A, trigger: back, set: {x: 0}}",
        *(f"  - {{from: A, to: B, trigger: t{k}, when: x == {k}}}" for k in range(top + 1)),
    ]
    return "\n".join(lines) + "\n"


def test_a_long_tour_ends_at_the_tour_budget() -> None:
    text = _resets(100)  # about 100 * 100 / 2 steps
    fits = check_text(text, "resets.yaml", budget=Budget(tour_steps=10_000))
    assert fits.ok() and fits.coverage is not None and fits.coverage.complete
    result = check_text(text, "resets.yaml", budget=Budget(tour_steps=1_000))
    (message,) = _too_large(result.findings)
    assert "more than 1,000 steps in its covering tour" in message
    assert "--max-tour-steps 1,000" in message
    assert result.coverage is not None and result.coverage.paths == ()
    assert result.coverage.exceeded is not None


def test_a_tour_without_variables_is_bounded_too() -> None:
    states = [f"S{i}" for i in range(60)]
    lines = ["statewright: 1", "machine: ring", "initial: S0", "states:"]
    lines += [f"  {s}: {{}}" for s in states]
    lines.append("transitions:")
    for i, s in enumerate(states):  # a chain forward, and from each state a way home
        lines.append(f"  - {{from: {s}, to: {states[(i + 1) % 60]}, trigger: next}}")
        lines.append(f"  - {{from: {s}, to: S0, trigger: home{i}}}")
    text = "\n".join(lines) + "\n"
    fits = check_text(text, "ring.yaml")
    assert fits.coverage is not None and fits.coverage.complete
    length = fits.coverage.length
    result = check_text(text, "ring.yaml", budget=Budget(tour_steps=length // 2))
    (message,) = _too_large(result.findings)
    assert "--max-tour-steps" in message


PROPERTIES = (
    _triggers(2, 500)
    + "properties:\n"
    + "".join(f"  p{k}: {{always: x <= {500 + k}}}\n" for k in range(10))
)


def test_property_work_is_counted_and_bounded() -> None:
    fits = check_text(PROPERTIES, "props.yaml")
    assert fits.ok(), [f.format() for f in fits.findings]
    assert fits.stats is not None and fits.stats.configurations == 1002
    # each always visits every configuration once: two fit in 2,500, the third does not
    result = check_text(PROPERTIES, "props.yaml", budget=Budget(property_work=2_500))
    (finding,) = [f for f in result.findings if f.rule == "state-space-too-large"]
    assert "--max-property-work 2,500" in finding.message
    assert finding.location.line == PROPERTIES.splitlines().index("  p2: {always: x <= 502}") + 1


def test_a_violated_property_before_the_budget_ran_out_is_still_reported() -> None:
    text = PROPERTIES.replace("p0: {always: x <= 500}", "p0: {always: x <= 400}")
    result = check_text(text, "props.yaml", budget=Budget(property_work=2_500))
    assert sorted(f.rule for f in result.findings) == [
        "property-violated",
        "state-space-too-large",
    ]


# -- expression depth -------------------------------------------------------------------


def _terms(count: int) -> str:
    chain = " + ".join(["x"] * count)
    return f"""\
statewright: 1
machine: terms
initial: A
variables:
  x: {{type: int, min: 0, max: 3, initial: 0}}
states:
  A: {{}}
  B: {{kind: complete, final: true}}
transitions:
  - {{from: A, to: A, trigger: up, when: x < 3 and {chain} < 400, set: {{x: x + 1}}}}
  - {{from: A, to: B, trigger: done, when: x == 3 and {chain} >= 3}}
"""


@pytest.mark.parametrize("count", [129, 210, 300])
def test_a_chain_too_deep_is_a_bad_expression(count: int) -> None:
    result = check_text(_terms(count), "terms.yaml")
    found = [(f.rule, f.location.line) for f in result.findings]
    assert found == [("bad-expression", 10), ("bad-expression", 11)], found
    assert f"more than {MAX_DEPTH} operators deep" in result.findings[0].message


def test_parentheses_count_towards_the_depth_too() -> None:
    nested = "x" + " + (x" * 45 + ")" * 45  # 46 deep
    deep = nested + " + x" * 90 + " > 0"  # 137 deep
    result = check_text(_terms(1).replace("x < 3 and x < 400", deep), "terms.yaml")
    assert [f.rule for f in result.findings] == ["bad-expression"]
    shallow = nested + " + x" * 70 + " > 0"  # 117 deep
    result = check_text(_terms(1).replace("x < 3 and x < 400", shallow), "terms.yaml")
    assert "bad-expression" not in [f.rule for f in result.findings]


def test_a_long_legal_expression_works_end_to_end(tmp_path: Path) -> None:
    text = _terms(100)
    result = check_text(text, "terms.yaml")
    assert result.ok(), [f.format() for f in result.findings]
    assert result.coverage is not None and result.coverage.complete
    rt = runtime(text, tmp_path)
    machine = rt.Terms(clock=Clock())
    for _ in range(3):
        assert machine.fire(rt.Trigger.UP) is rt.State.A
    assert machine.fire(rt.Trigger.DONE) is rt.State.B
    assert load_spec(text).transitions[0].when is not None
