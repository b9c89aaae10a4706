"""The CI report formats: SARIF 2.1.0, GitHub workflow annotations and JUnit XML.

The findings come from real checks: every rule's own failing example (one spec per load
rule, since a load error stops the analysis, one per data rule, and the specs of each
project rule, checked together) and one spec that breaks every graph and orchestration
rule at once.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from statewright.generator.cli import main
from statewright.generator.commands.migrate import migration_results
from statewright.verify.asl import check_asl_text
from statewright.verify.check import CheckResult, check_file, check_text, check_together
from statewright.verify.conformance.stepfunctions import check_history_text
from statewright.verify.explain import flowed
from statewright.verify.findings import Finding, Severity
from statewright.verify.migration import migrate_texts
from statewright.verify.model import Location
from statewright.verify.report import RENDERERS
from statewright.verify.report.github import annotation, escape_data, escape_property, render_github
from statewright.verify.report.jsondoc import render_json
from statewright.verify.report.junit import render_junit
from statewright.verify.report.links import RULES_URL, RULES_URL_VARIABLE
from statewright.verify.report.sarif import artifact_location, render_sarif
from statewright.verify.report.text import render_text
from statewright.verify.rules import RULES, Family

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_COPY = ROOT / "tests" / "data" / "sarif-2.1.0.json"

EVERY_CHECK_RULE = """\
statewright: 1
machine: kitchen_sink
initial: IDLE
states:
  IDLE: {kind: idle}
  RUNNING: {kind: running}
  GATE: {kind: approval}
  FAILED: {kind: failed}
  DONE: {kind: complete, final: true}
  STUCK: {kind: running}
  LOOP_A: {kind: running}
  LOOP_B: {kind: running}
  ORPHAN: {kind: running}
  HOOK: {kind: waiting, quorum: 2}
  PANEL:
    kind: approval
    reviewers: [lead]
    separate_from: [the_intern]
    escalate: {after: 2h, to: [lead]}
transitions:
  - {from: IDLE, to: RUNNING, trigger: start}
  - {from: IDLE, to: STUCK, trigger: start}
  - {from: RUNNING, to: GATE, trigger: review}
  - {from: RUNNING, to: FAILED, trigger: crash}
  - {from: RUNNING, to: DONE, trigger: sign_off, human: true}
  - {from: RUNNING, to: LOOP_A, trigger: always}
  - {from: LOOP_A, to: LOOP_B, trigger: always}
  - {from: LOOP_B, to: LOOP_A, trigger: always}
  - {from: GATE, to: FAILED, trigger: give_up, reason: BROKEN}
  - {from: FAILED, to: IDLE, trigger: reset}
  - {from: DONE, to: IDLE, trigger: again}
  - {from: ORPHAN, to: IDLE, trigger: adopt, reason: BROKEN}
  - {from: GATE, to: IDLE, trigger: expired, after: 1h}
  - {from: IDLE, to: HOOK, trigger: call_out}
  - {from: HOOK, to: IDLE, trigger: called_back}
  - {from: IDLE, to: PANEL, trigger: convene}
  - {from: PANEL, to: IDLE, trigger: approved, human: true}
  - {from: PANEL, to: FAILED, trigger: rejected, human: true, reason: BROKEN}
  - {from: PANEL, to: FAILED, trigger: adjourned, after: 1h, reason: BROKEN}
reasons:
  BROKEN:
    recovery: [Fix it]
  EMPTY:
    recovery: []
"""

LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
CHECK_RULES = {r.id for r in RULES.values() if r.family in (Family.GRAPH, Family.ORCHESTRATION)}


@pytest.fixture(scope="module")
def results() -> list[CheckResult]:
    """Checks with findings of every rule id, plus the shipped specs (no findings)."""
    found = [check_text(EVERY_CHECK_RULE, "specs/kitchen_sink.yaml")]
    for rule in RULES.values():
        if rule.family is Family.LOAD:
            example = rule.example("Fails")
            assert example is not None, rule.id
            found.append(check_text(example, f"specs/load/{rule.id}.yaml"))
        if rule.family is Family.ASL:
            example = rule.example("Fails")
            assert example is not None, rule.id
            found.extend(check_asl_text(example, f"specs/asl/{rule.id}.asl.json"))
        if rule.family is Family.STEP_FUNCTIONS:
            definition, history = rule.example_specs("Fails")
            name = f"specs/sfn/{rule.id}.asl.json"
            executed = check_history_text(definition, history, name, f"specs/sfn/{rule.id}.json")
            found.append(CheckResult(name, None, tuple(executed), None, None))
        if rule.family is Family.DATA:
            example = rule.example("Fails")
            assert example is not None, rule.id
            limit = rule.example_limit or 100_000
            name = f"specs/data/{rule.id}.yaml"
            found.append(check_text(example, name, max_configurations=limit))
        if rule.family is Family.MIGRATION:
            old, new = rule.example_specs("Fails")
            files = (f"specs/{rule.id}/old.yaml", f"specs/{rule.id}/new.yaml")
            found.extend(migration_results(migrate_texts(old, new, *files)))
        if rule.family is Family.PROJECT:
            specs = rule.example_specs("Fails")
            names = [f"specs/{rule.id}/{n}.yaml" for n in range(len(specs))]
            found.extend(check_together(list(map(check_text, specs, names))))
    found.append(
        check_file(ROOT / "specs" / "orchestrator.yaml", display="specs/orchestrator.yaml")
    )
    return found


def rule_ids(results: list[CheckResult]) -> set[str]:
    return {f.rule for r in results for f in r.findings}


def test_the_fixture_has_findings_of_every_rule(results: list[CheckResult]) -> None:
    assert {f.rule for f in results[0].findings} == CHECK_RULES
    assert rule_ids(results) == set(RULES)


def test_every_format_is_offered_by_check() -> None:
    assert {"text", "json", "sarif", "github", "junit"} <= set(RENDERERS)


# --- SARIF --------------------------------------------------------------------------------


def test_sarif_validates_against_the_schema(results: list[CheckResult]) -> None:
    schema = json.loads(SCHEMA_COPY.read_text(encoding="utf-8"))
    assert schema["id"].endswith("/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    log = json.loads(render_sarif(results))
    jsonschema.Draft4Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(log), key=str)
    assert not errors, "\n".join(e.message for e in errors[:5])


def test_sarif_has_one_rule_entry_per_rule_id(results: list[CheckResult]) -> None:
    (run,) = json.loads(render_sarif(results))["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    for entry in rules:
        rule = RULES[entry["id"]]
        assert entry["shortDescription"]["text"] == rule.summary
        assert entry["fullDescription"]["text"].startswith(rule.summary)
        assert entry["help"]["text"].startswith(f"{rule.id} (")
        assert flowed(rule.summary, markdown=True) in entry["help"]["text"]
        language = "json" if rule.family in (Family.ASL, Family.STEP_FUNCTIONS) else "yaml"
        assert f"```{language}" in entry["help"]["markdown"]
        assert entry["defaultConfiguration"]["level"] == LEVELS[rule.severity]


def test_sarif_results_match_the_findings(results: list[CheckResult]) -> None:
    (run,) = json.loads(render_sarif(results))["runs"]
    findings = [f for r in results for f in r.findings]
    assert len(run["results"]) == len(findings)
    rules = run["tool"]["driver"]["rules"]
    for result, finding in zip(run["results"], findings, strict=True):
        assert result["ruleId"] == finding.rule
        assert rules[result["ruleIndex"]]["id"] == finding.rule
        assert result["level"] == LEVELS[finding.severity]
        assert result["message"]["text"] == finding.message
        (location,) = result["locations"]
        artifact = location["physicalLocation"]["artifactLocation"]
        region = location["physicalLocation"]["region"]
        assert artifact == {"uri": finding.location.file, "uriBaseId": "%SRCROOT%"}
        assert (region["startLine"], region["startColumn"]) == (
            finding.location.line,
            finding.location.column,
        )
        assert region["startLine"] >= 1 and region["startColumn"] >= 1
    assert {r["ruleId"] for r in run["results"]} == set(RULES)
    assert run["columnKind"] == "unicodeCodePoints"


def test_sarif_levels_are_error_and_warning(results: list[CheckResult]) -> None:
    (run,) = json.loads(render_sarif(results))["runs"]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["unused-reason"] == "warning"
    assert levels["dead-end"] == "error"
    assert levels["yaml-syntax"] == "error"


def test_artifact_locations_are_relative_and_encoded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    inside = tmp_path / "my specs" / "a#b.yaml"
    assert artifact_location(str(inside)) == {
        "uri": "my%20specs/a%23b.yaml",
        "uriBaseId": "%SRCROOT%",
    }
    assert artifact_location("specs/x.yaml")["uri"] == "specs/x.yaml"
    outside = tmp_path.parent / "elsewhere.yaml"
    assert artifact_location(str(outside)) == {"uri": outside.as_uri()}
    assert artifact_location("../elsewhere.yaml") == {"uri": outside.as_uri()}


# --- GitHub -------------------------------------------------------------------------------


def test_github_escapes_messages_and_properties() -> None:
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    finding = Finding(
        "dead-end",
        Severity.ERROR,
        "100% stuck:\nadd an exit, or mark it final",
        Location("specs/we,ird:name.yaml", 7, 3),
    )
    assert annotation(finding) == (  # a finding's message is one line: its \n is shown
        "::error file=specs/we%2Cird%3Aname.yaml,line=7,col=3,title=statewright dead-end"
        "::100%25 stuck:\\nadd an exit, or mark it final"
        "%0ARule: https://statewright.dev/rules.html#dead-end"
    )


def test_sarif_and_github_link_each_rule_to_its_reference(
    results: list[CheckResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finding named its rule but did not lead to it; the address is the team's to set."""
    (run,) = json.loads(render_sarif(results))["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert {r["helpUri"] for r in rules} == {f"{RULES_URL}#{r['id']}" for r in rules}
    monkeypatch.setenv(RULES_URL_VARIABLE, "https://docs.example.com/sw/rules.html")
    (run,) = json.loads(render_sarif(results))["runs"]
    assert run["tool"]["driver"]["rules"][0]["helpUri"] == (
        f"https://docs.example.com/sw/rules.html#{rules[0]['id']}"
    )
    github = [line for line in render_github(results).splitlines() if line.startswith("::")]
    for line, finding in zip(github, [f for r in results for f in r.findings], strict=True):
        assert line.endswith(f"%0ARule: https://docs.example.com/sw/rules.html#{finding.rule}")
    monkeypatch.setenv(RULES_URL_VARIABLE, "")
    (run,) = json.loads(render_sarif(results))["runs"]
    assert not any("helpUri" in r for r in run["tool"]["driver"]["rules"])
    assert "Rule: " not in render_github(results)


def test_github_annotates_every_finding_then_sums_up(results: list[CheckResult]) -> None:
    lines = render_github(results).splitlines()
    findings = [f for r in results for f in r.findings]
    commands = [line for line in lines if line.startswith("::")]
    assert len(commands) == len(findings)
    for line, finding in zip(commands, findings, strict=True):
        loc = finding.location
        command = {"info": "notice"}.get(finding.severity, str(finding.severity))
        head = f"::{command} file={loc.file},line={loc.line},col={loc.column},"
        assert line.startswith(head)
        trace = [f"    {step}" for step in finding.trace_lines()]
        link = f"Rule: {RULES_URL}#{finding.rule}"
        assert line.endswith("::" + escape_data("\n".join([finding.message, *trace, link])))
    plain = lines[len(commands) :]
    assert len(plain) == len(results) + 1
    assert plain[-1].startswith(f"Checked {len(results)} specs: ")
    assert not any(line.startswith("::") for line in plain)
    assert any(line.startswith("::warning ") for line in commands)


# --- JUnit --------------------------------------------------------------------------------


def parse_junit(results: list[CheckResult], strict: bool = False) -> ET.Element:
    return ET.fromstring(render_junit(results, strict))


def test_junit_has_a_case_per_spec_and_rule(results: list[CheckResult]) -> None:
    root = parse_junit(results)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [r.file for r in results]
    for suite in suites:
        names = [c.get("name") for c in suite.findall("testcase")]
        assert names == [*RULES, "coverage"]
        assert int(suite.get("tests", "-1")) == len(names)
    assert int(root.get("tests", "-1")) == sum(len(s.findall("testcase")) for s in suites)


def test_junit_fails_error_rules_and_passes_the_rest(results: list[CheckResult]) -> None:
    suite = parse_junit(results).findall("testsuite")[0]  # the kitchen sink
    failed = {c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None}
    errors = {r.id for r in RULES.values() if r.severity is Severity.ERROR} & CHECK_RULES
    coverage = results[0].coverage
    assert coverage is not None
    assert failed == errors | ({"coverage"} if coverage.covered != coverage.total else set())
    warned = {c.get("name") for c in suite.findall("testcase") if c.find("system-out") is not None}
    assert warned == {
        "unused-reason",
        "failed-without-recovery",
        "running-without-deadline",
        "escalation-widens-nothing",
    }
    assert int(suite.get("failures", "-1")) == len(failed)
    dead_end = next(c for c in suite.findall("testcase") if c.get("name") == "dead-end")
    failure = dead_end.find("failure")
    assert failure is not None and "STUCK" in (failure.text or "")


def test_junit_strict_fails_warnings_too(results: list[CheckResult]) -> None:
    suite = parse_junit(results, strict=True).findall("testsuite")[0]
    failed = {c.get("name") for c in suite.findall("testcase") if c.find("failure") is not None}
    assert {"unused-reason", "failed-without-recovery"} <= failed


def test_junit_skips_analysis_of_a_spec_that_did_not_load(results: list[CheckResult]) -> None:
    suite = next(
        s
        for s in parse_junit(results).findall("testsuite")
        if s.get("name", "").endswith("schema.yaml")
    )
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert cases["schema"].find("failure") is not None
    assert cases["yaml-syntax"].find("failure") is None
    assert cases["yaml-syntax"].find("skipped") is None
    assert cases["dead-end"].find("skipped") is not None
    assert cases["coverage"].find("skipped") is not None


def test_junit_passes_a_good_spec_entirely(results: list[CheckResult]) -> None:
    suite = parse_junit(results).findall("testsuite")[-1]
    assert suite.get("name") == "specs/orchestrator.yaml"
    assert suite.get("failures") == "0" and suite.get("skipped") == "0"
    assert all(len(c) == 0 for c in suite.findall("testcase"))


def test_junit_survives_control_characters() -> None:
    result = check_text(b"statewright: 1\nmachine: \x01\x02\x00\n", "specs/binary.yaml")
    assert result.findings
    root = ET.fromstring(render_junit([result]))
    assert root.get("failures") != "0"


# --- through the command line -------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["sarif", "github", "junit"])
def test_the_command_line_keeps_its_exit_codes(
    fmt: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(ROOT)
    assert main(["check", "--format", fmt]) == 0
    assert "specs/orchestrator.yaml" in capsys.readouterr().out
    assert main(["check", "--format", fmt, "specs/examples/discovery_pipeline_sketch.yaml"]) == 1
    assert "discovery_pipeline_sketch.yaml" in capsys.readouterr().out


# --- info findings ------------------------------------------------------------------------


def with_info(result: CheckResult) -> CheckResult:
    """``result`` with one info finding added (what an ASL mapping reports)."""
    note = Finding("asl-not-modelled", Severity.INFO, "Retry is not modelled", Location("a", 2, 5))
    return CheckResult(
        result.file, result.spec, (*result.findings, note), result.coverage, result.stats
    )


def test_info_findings_never_fail_in_any_format() -> None:
    good = with_info(check_file(ROOT / "specs" / "orchestrator.yaml", display="orch.yaml"))
    assert good.ok(strict=True)
    text = RENDERERS["text"]([good], True)
    assert "a:2:5: info[asl-not-modelled] Retry is not modelled" in text
    assert "orch.yaml: orchestrator: ok; 1 info; " in text
    assert text.endswith("Checked 1 spec: 0 failed, 0 errors, 0 warnings, 1 info.\n")
    assert render_github([good]).startswith(
        "::notice file=a,line=2,col=5,title=statewright asl-not-modelled::"
    )
    (run,) = json.loads(render_sarif([good]))["runs"]
    assert [r["level"] for r in run["results"]] == ["note"]
    for strict in (False, True):
        root = ET.fromstring(render_junit([good], strict))
        assert root.get("failures") == "0"
        assert "Retry is not modelled" in render_junit([good], strict)
    assert json.loads(RENDERERS["json"]([good], True))["specs"][0]["ok"] is True


# --- counterexamples ----------------------------------------------------------------------

LASSO = """\
statewright: 1
machine: lasso
initial: IDLE
variables:
  tries: {type: int, min: 0, max: 1, initial: 0}
states:
  IDLE: {kind: idle}
  RUNNING: {kind: running}
  DONE: {kind: complete, final: true}
transitions:
  - {from: IDLE, to: RUNNING, trigger: start, set: {tries: 1}}
  - {from: RUNNING, to: IDLE, trigger: pause}
  - {from: RUNNING, to: DONE, trigger: finish}
properties:
  ends: {leads_to: {from: RUNNING, to: DONE}}
  first_try: {always: state != RUNNING or tries == 0}
"""


def test_every_format_carries_the_counterexample() -> None:
    result = check_text(LASSO, "specs/lasso.yaml")
    violated = [f for f in result.findings if f.rule == "property-violated"]
    assert [f.location.line for f in violated] == [15, 16]
    text = RENDERERS["text"]([result], False)
    assert (
        "specs/lasso.yaml:15:3: error[property-violated] property ends fails: a run in RUNNING "
        "can go round IDLE, RUNNING for ever without reaching DONE\n"
        "    1. start -> RUNNING (tries=1)\n"
        "    then for ever:\n"
        "    2. pause -> IDLE\n"
        "    3. start -> RUNNING\n"
    ) in text
    assert "    1. start -> RUNNING (tries=1)\n" in text.split("first_try")[1]
    assert "3 states (3 reachable), 3 transitions, 4 configurations" in text
    (spec,) = json.loads(RENDERERS["json"]([result], False))["specs"]
    assert spec["stats"]["configurations"] == 4
    found = {f["message"].split()[1]: f for f in spec["findings"]}
    assert found["ends"]["trace"] == [
        {"trigger": "start", "to": "RUNNING", "variables": {"tries": 1}}
    ]
    assert found["ends"]["cycle"] == [
        {"trigger": "pause", "to": "IDLE", "variables": {"tries": 1}},
        {"trigger": "start", "to": "RUNNING", "variables": {"tries": 1}},
    ]
    assert "cycle" not in found["first_try"]
    (run,) = json.loads(render_sarif([result]))["runs"]
    flows = {
        r["message"]["text"].split()[1]: r["codeFlows"]
        for r in run["results"]
        if r["ruleId"] == "property-violated"
    }
    steps = flows["ends"][0]["threadFlows"][0]["locations"]
    assert [s["location"]["message"]["text"] for s in steps] == [
        "1. start -> RUNNING (tries=1)",
        "2. pause -> IDLE",
        "3. start -> RUNNING",
    ]
    assert [s.get("kinds") for s in steps] == [None, ["cycle"], ["cycle"]]
    assert steps[1]["location"]["physicalLocation"]["region"]["startLine"] == 12
    assert steps[0]["state"] == {"tries": {"text": "1"}}
    junit = render_junit([result])
    assert "    then for ever:" in junit and "    2. pause -&gt; IDLE" in junit
    github = render_github([result])
    assert "%0A    1. start -> RUNNING (tries=1)%0A    then for ever:" in github


@pytest.mark.parametrize(
    "name", ["review_rounds.yaml", "retry_budget.yaml", "discovery_pipeline_sketch.yaml"]
)
def test_coverage_counts_agree_between_text_and_json_and_are_explained(name: str) -> None:
    """review_rounds read 10/16 in text and a total of 15 in JSON, with the 5 transitions
    no path fired left unexplained."""
    result = check_file(ROOT / "specs" / "examples" / name, f"specs/examples/{name}")
    assert result.spec is not None
    (spec,) = json.loads(render_json([result]))["specs"]
    cov = spec["coverage"]
    assert cov["transitions"] == len(result.spec.transitions) == spec["stats"]["transitions"]
    assert (
        cov["covered"] + cov["never_fire"] + cov["not_taken"] + cov["not_known"]
        == cov["transitions"]
    )
    line = render_text([result]).splitlines()[-3]
    assert f"coverage {cov['covered']}/{cov['transitions']} transitions" in line
    assert (f"{cov['never_fire']} can never fire" in line) == bool(cov["never_fire"])
    assert (f"{cov['not_taken']} taken in no reachable configuration" in line) == bool(
        cov["not_taken"]
    )
    fired = {step for path in cov["paths"] for step in path}
    assert len(fired) <= cov["covered"]  # a trigger may name several transitions


def _quorum_spec(approve: str) -> str:
    """release_review with a variable (so the tour runs over configurations), its REVIEW
    gate needing two maintainers, its approve exit ``approve``."""
    text = (ROOT / "specs" / "release_review.yaml").read_text(encoding="utf-8")
    text = text.replace(
        "initial: IDLE\n",
        "initial: IDLE\n\nvariables:\n  builds: {type: int, min: 0, max: 3, initial: 0}\n",
    )
    old = "{from: FAILED, to: BUILDING, trigger: rebuild, human: true}"
    assert old in text and "quorum: 2" in text
    text = text.replace(
        old,
        "{from: FAILED, to: BUILDING, trigger: rebuild, human: true, when: builds < 3, "
        "set: {builds: builds + 1}}",
    )
    human = "{from: REVIEW, to: RELEASED, trigger: approved, human: true}"
    assert human in text
    return text.replace(human, approve)


@pytest.mark.parametrize(
    "approve",
    [
        "{from: REVIEW, to: RELEASED, trigger: approved, human: true}",
        "{from: REVIEW, to: RELEASED, trigger: approved}",  # not a human trigger
    ],
)
def test_coverage_of_a_quorum_gate_counts_what_the_paths_fire(
    approve: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """check said 'coverage 8/9 (1 taken in no reachable configuration)' while the paths
    fire all 9: the replay gave a two-reviewer approve one vote, so the step the explorer
    took was never taken. One path step at a quorum gate stands for its approvals."""
    path = tmp_path / "gate.yaml"
    path.write_text(_quorum_spec(approve), encoding="utf-8")
    result = check_file(path)
    assert result.coverage is not None and result.stats is not None
    assert result.coverage.covered == result.coverage.total == 9
    assert "coverage 9/9 transitions in " in render_text([result])
    assert main(["paths", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("# 9/9 transitions covered")


def test_coverage_cut_short_is_not_called_unfireable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """rate_limiter's exploration is cut short: its 4 unfired transitions were said to
    be 'taken in no reachable configuration', which nothing showed."""
    name = "specs/examples/rate_limiter.yaml"
    result = check_file(ROOT / name, name)
    text = render_text([result])
    assert "taken in no reachable configuration" not in text
    assert "(1 can never fire, 4 not known: the exploration was cut short)" in text
    (spec,) = json.loads(render_json([result]))["specs"]
    cov = spec["coverage"]
    assert (cov["not_taken"], cov["not_known"]) == (0, 4)
    main(["paths", name])
    assert capsys.readouterr().out.rstrip().endswith("; 4 not known: the exploration was cut short")
