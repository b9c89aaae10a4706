"""ASL input: bad definitions, what the mapping reports it leaves out, the commands that
read ASL (check, diagram, import) and the spec YAML that import writes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statewright.generator.cli import main
from statewright.generator.commands.diagram import diagram_command
from statewright.generator.spec_yaml import spec_yaml
from statewright.verify.asl import check_asl_text
from statewright.verify.check import check_text
from statewright.verify.findings import Severity
from statewright.verify.load import load_text
from statewright.verify.load.asl import NOT_MODELLED, load_asl_file, load_asl_text
from statewright.verify.model import Spec, State

CALLBACK = "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
LAMBDA = "arn:aws:states:::lambda:invoke"

ORDER: dict[str, Any] = {
    "Comment": "Orders, with a manager's approval.",
    "StartAt": "Validate",
    "States": {
        "Validate": {
            "Type": "Task",
            "Resource": LAMBDA,
            "Parameters": {"Payload.$": "$"},
            "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["Invalid.Order"], "Next": "Rejected"}],
            "Next": "Manager approval",
        },
        "Manager approval": {
            "Type": "Task",
            "Resource": CALLBACK,
            "TimeoutSecondsPath": "$.deadline",
            "Next": "Ship",
        },
        "Ship": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Pack", "States": {"Pack": {"Type": "Pass", "End": True}}},
                {
                    "StartAt": "Carrier",
                    "States": {
                        "Carrier": {"Type": "Task", "Resource": CALLBACK, "End": True},
                    },
                },
            ],
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
        "Rejected": {"Type": "Fail", "Error": "Order.Rejected", "Cause": "invalid order"},
    },
}


def asl_text(definition: dict[str, Any] = ORDER) -> str:
    return json.dumps(definition, indent=2)


def line_of(text: str, needle: str) -> int:
    (line,) = [i for i, text_line in enumerate(text.splitlines(), 1) if needle in text_line]
    return line


def problems(text: str | bytes) -> list[tuple[str, int, str]]:
    result = load_asl_text(text, "x.asl.json")
    assert not result.machines
    return [(f.rule, f.location.line, f.message) for f in result.findings]


# --- bad definitions ------------------------------------------------------------------


def test_a_next_that_names_no_state_is_found_at_the_name_with_a_suggestion() -> None:
    broken = json.loads(asl_text())
    broken["States"]["Validate"]["Next"] = "Manager aproval"
    text = asl_text(broken)
    ((rule, line, message),) = problems(text)
    assert (rule, line) == ("unknown-state", line_of(text, '"Next": "Manager aproval"'))
    assert "did you mean 'Manager approval'?" in message


@pytest.mark.parametrize(
    ("text", "rule", "words"),
    [
        ("[1, 2]", "schema", "a JSON object with StartAt and States"),
        ('{"States": {"A": {"Type": "Succeed"}}}', "schema", 'no "StartAt"'),
        ('{"StartAt": "A", "States": {}}', "schema", '"States"'),
        ('{"StartAt": "A", "States": {"A": {"Type": "Tsak"}}}', "schema", "did you mean 'Task'"),
        ('{"StartAt": "A", "States": {"A": {"Type": "Pass"}}}', "schema", 'one of "Next" and'),
        ('{"StartAt": "A", "States": {"A": {"Type": "Task", "End": true}}}', "schema", "Resource"),
        (
            '{"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": -1, "End": true}}}',
            "schema",
            "whole number",
        ),
        (
            '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "r", '
            '"TimeoutSeconds": "soon", "End": true}}}',
            "schema",
            "positive whole number",
        ),
        ('{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "A": {}}}', "duplicate-key", "A"),
        ('{"StartAt": "A", "States": {', "yaml-syntax", "invalid YAML"),
        (b"\xff\xfe{}", "yaml-syntax", "UTF-8"),
        ("[" * 100_000, "yaml-syntax", "nesting"),
    ],
)
def test_bad_definitions_are_located_findings(text: str | bytes, rule: str, words: str) -> None:
    found = problems(text)
    assert found, text
    assert any(r == rule and words in message for r, _, message in found), found


def test_json_surrogate_pair_escapes_are_read_as_json_reads_them() -> None:
    text = json.dumps(
        {"StartAt": "Ship \U0001f4e6", "States": {"Ship \U0001f4e6": {"Type": "Succeed"}}}
    )
    assert "\\ud83d\\udce6" in text  # what json.dumps writes; YAML alone refuses it
    (machine,) = load_asl_text(text).machines
    assert machine.asl_names["SHIP"] == "Ship \U0001f4e6"
    assert problems('{"StartAt": "\\ud83d", "States": {}}')  # a lone surrogate stays invalid


def test_an_empty_or_missing_file_is_a_finding(tmp_path: Path) -> None:
    (result,) = check_asl_text(b"", "empty.asl.json")
    assert [f.rule for f in result.findings] == ["yaml-syntax"]
    (missing,) = load_asl_file(tmp_path / "gone.asl.json").findings
    assert missing.rule == "yaml-syntax" and "cannot read the ASL definition" in missing.message


# --- what the mapping leaves out ----------------------------------------------------------


def test_each_construct_left_out_is_reported_once_per_file_at_its_first_use() -> None:
    text = asl_text({**ORDER, "TimeoutSeconds": 86400})
    result = load_asl_text(text, "x.asl.json")
    notes = [f for f in result.findings if f.rule == NOT_MODELLED]
    assert all(f.severity is Severity.INFO for f in notes) and len(notes) == len(result.findings)
    by_start = {f.message.split(" ", 1)[0]: f for f in notes}
    assert by_start["Retry"].location.line == line_of(text, '"Retry"')
    assert "'Validate'" in by_start["Retry"].message
    assert by_start["data"].location.line == line_of(text, '"Parameters"')
    delay = next(f for f in notes if "TimeoutSecondsPath" in f.message)
    assert "'Manager approval'" in delay.message and "placeholder" in delay.message
    assert any("branches and iterators of 'Ship'" in f.message for f in notes)
    assert any("execution's TimeoutSeconds" in f.message for f in notes)
    assert any("marked human" in f.message for f in notes)
    assert len({f.message for f in notes}) == len(notes) == 6
    results = check_asl_text(text, "x.asl.json")
    assert all(f.severity is not Severity.INFO for r in results[1:] for f in r.findings)


def test_unknown_keys_are_reported_not_dropped() -> None:
    definition = {"StartAt": "A", "Colour": "red", "States": {"A": {"Type": "Succeed", "Shade": 1}}}
    (note,) = load_asl_text(json.dumps(definition)).findings
    assert "Colour" in note.message and "Shade" in note.message and "ignored" in note.message


# --- spec YAML for import ---------------------------------------------------------------


def same_machine(a: Spec, b: Spec) -> None:
    def states(spec: Spec) -> list[tuple[object, ...]]:
        return [(s.name, s.kind, s.final, s.reviewers, s.description) for s in spec.states]

    assert (a.machine, a.initial, a.description) == (b.machine, b.initial, b.description)
    assert states(a) == states(b)
    keys = [(t.key, t.human, t.after, t.reason) for t in a.transitions]
    assert keys == [(t.key, t.human, t.after, t.reason) for t in b.transitions]
    assert [(r.name, r.recovery, r.description) for r in a.reasons] == [
        (r.name, r.recovery, r.description) for r in b.reasons
    ]


def test_the_written_spec_loads_back_into_the_same_machine() -> None:
    for machine in load_asl_text(asl_text(), "x.asl.json").machines:
        text = spec_yaml(machine.spec, ["a header"])
        assert text.startswith("# a header\nstatewright: 1\n")
        loaded = load_text(text, "x.yaml")
        assert loaded.spec is not None, [f.format() for f in loaded.findings]
        same_machine(loaded.spec, machine.spec)


def test_the_written_spec_survives_awkward_text() -> None:
    (machine,) = load_asl_text(
        asl_text({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})
    ).machines
    spec = machine.spec
    odd = 'quote " back \\ tab\t nel\x85 ls\u2028 bom\ufeff del\x7f ctl\x01 # : {x} [y] 😀'
    awkward = Spec(
        spec.file,
        "null",
        "TRUE",
        (State("TRUE", spec.states[0].location, final=True, description=odd),),
        (),
        description=odd,
    )
    loaded = load_text(spec_yaml(awkward), "x.yaml")
    assert loaded.spec is not None, [f.format() for f in loaded.findings]
    assert (loaded.spec.machine, loaded.spec.initial) == ("null", "TRUE")
    assert loaded.spec.description == odd and loaded.spec.states[0].description == odd


def test_the_written_spec_checks_like_the_asl() -> None:
    text = asl_text()
    for asl_result, machine in zip(
        check_asl_text(text, "x.asl.json"), load_asl_text(text, "x.asl.json").machines, strict=True
    ):
        wanted = sorted(f.rule for f in asl_result.findings if f.severity is not Severity.INFO)
        written = check_text(spec_yaml(machine.spec), "x.yaml").findings
        # a Task's timeouts are the ASL rules' to judge; the written spec is a spec of ours
        found = sorted(f.rule for f in written if f.rule != "running-without-deadline")
        assert found == wanted


# --- commands ---------------------------------------------------------------------------


@pytest.fixture
def order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    path = Path("order.asl.json")
    path.write_text(asl_text(), encoding="utf-8")
    return path


def test_check_reads_asl_by_name_or_by_switch(
    order: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--format", "json", str(order)]) == 1
    report = json.loads(capsys.readouterr().out)
    names = [s["file"] for s in report["specs"]]
    assert names == ["order.asl.json", "order.asl.json#Ship/branch0", "order.asl.json#Ship/branch1"]
    (finding,) = report["specs"][2]["findings"]
    assert (finding["rule"], finding["file"]) == ("waiting-missing-timeout", "order.asl.json")
    assert finding["line"] == line_of(asl_text(), '"Carrier": {')
    renamed = Path("order.json")
    renamed.write_text(asl_text(), encoding="utf-8")
    assert main(["check", "--input", "asl", str(renamed)]) == 1
    assert "order.json#Ship/branch1" in capsys.readouterr().out
    assert main(["check", str(renamed)]) == 1  # read as a spec, it is no spec
    assert "error[schema]" in capsys.readouterr().out
    assert main(["check", "."]) == 1  # a folder contributes its ASL files
    assert "order.asl.json#Ship/branch1" in capsys.readouterr().out


def test_check_options_name_humans_and_reviewers(
    order: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", "--format", "json", str(order)]
    assert main([*args, "--human", "Carrier", "--reviewers", "ops, lead"]) == 1
    report = json.loads(capsys.readouterr().out)
    rules = [f["rule"] for s in report["specs"] for f in s["findings"] if f["severity"] != "info"]
    assert rules == ["approval-missing-timeout"]  # Carrier; Manager approval is waiting now
    assert main([*args, "--human", "Carier"]) == 2
    assert "--human names 'Carier'" in capsys.readouterr().err
    assert main([*args, "--no-human"]) == 1
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--reviewers", "ops,"])
    assert exit_.value.code == 2
    with pytest.raises(SystemExit):
        main([*args, "--human", "Carrier", "--no-human"])


def test_diagram_draws_the_machine_or_one_part(order: Path) -> None:
    def draw(target: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        status = diagram_command(Path(target), "mermaid", None, stdout=out, stderr=err)
        return status, out.getvalue(), err.getvalue()

    status, text, _ = draw("order.asl.json")
    assert status == 0 and "MANAGER_APPROVAL" in text and "classDef waiting " not in text
    status, text, _ = draw("order.asl.json#Ship/branch1")
    assert status == 0 and "CARRIER" in text and "waiting-missing-timeout" in text
    assert "classDef waiting " in text
    status, _, err = draw("order.asl.json#Ship/branch9")
    assert status == 2 and "its parts: Ship/branch0, Ship/branch1" in err


def test_import_writes_every_machine_and_overwrites_nothing(
    order: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", "asl", str(order)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("# Imported by statewright")
    assert "machine: order\n" in captured.out
    assert "2 more machine(s)" in captured.err and "info[asl-not-modelled]" in captured.err
    assert main(["import", "asl", str(order), "-o", "specs/order.yaml"]) == 0
    written = sorted(p.name for p in Path("specs").iterdir())
    assert written == ["order.yaml", "order_ship_branch0.yaml", "order_ship_branch1.yaml"]
    capsys.readouterr()
    assert main(["check", "specs"]) == 1  # the same finding, now in the spec
    assert "order_ship_branch1.yaml:9:3: error[waiting-missing-timeout]" in capsys.readouterr().out
    before = Path("specs/order.yaml").read_text()
    assert main(["import", "asl", str(order), "-o", "specs/order.yaml"]) == 2
    assert "not overwriting" in capsys.readouterr().err
    assert Path("specs/order.yaml").read_text() == before
    Path("bad.asl.json").write_text("{", encoding="utf-8")
    assert main(["import", "asl", "bad.asl.json"]) == 1
    assert "nothing written" in capsys.readouterr().err


names = st.text(min_size=1, max_size=12)


@given(states=st.lists(names, min_size=1, max_size=5, unique=True), errors=st.lists(names))
def test_any_names_map_to_a_spec_that_loads_back(states: list[str], errors: list[str]) -> None:
    """Whatever the ASL names (keywords, digits, accents, punctuation, clashes), the
    mapped spec is valid: it loads back with no finding and into the same machine."""
    definition: dict[str, Any] = {"StartAt": states[0], "States": {}}
    for here, there in zip(states, [*states[1:], None], strict=True):
        state: dict[str, Any] = {"Type": "Task", "Resource": CALLBACK, "HeartbeatSeconds": 5}
        state.update({"Next": there} if there else {"End": True})
        state["Catch"] = [{"ErrorEquals": [error], "Next": states[0]} for error in errors]
        definition["States"][here] = state
    definition["States"]["Pick"] = {
        "Type": "Choice",
        "Choices": [{"Next": name} for name in states],
    }
    load = load_asl_text(json.dumps(definition), f"{states[0]}.asl.json")
    for machine in load.machines:
        loaded = load_text(spec_yaml(machine.spec), "x.yaml")
        assert loaded.findings == (), [f.format() for f in loaded.findings]
        assert loaded.spec is not None
        same_machine(loaded.spec, machine.spec)
    assert load.machines, [f.format() for f in load.findings]
