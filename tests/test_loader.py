"""The spec loader: YAML text -> frozen Spec, and every load finding with its position."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from statewright.verify.findings import Finding
from statewright.verify.load import LoadResult, load_file, load_text
from statewright.verify.load.rules import LOAD_RULES
from statewright.verify.load.values import check_label, parse_duration
from statewright.verify.load.yamlread import Mapping, Node, Scalar, read_yaml, resolve_plain
from statewright.verify.model import Duration, Kind, Location
from statewright.verify.rules import RULES

ROOT = Path(__file__).resolve().parent.parent

DESIGN_EXAMPLE = (ROOT / "tests" / "data" / "loader" / "design_example.yaml").read_text()
"""The full example of the design brief (docs/design.md), "Spec format, version 1"."""

# Line numbers matter below: 1 statewright, 5 CLOSED, 9-12 transitions, 14 HINGE.
DOOR = """\
statewright: 1
machine: door
initial: CLOSED
states:
  CLOSED: {kind: idle}
  OPEN: {kind: running}
  JAMMED: {kind: failed, reviewers: [technician]}
transitions:
  - {from: CLOSED, to: OPEN, trigger: push}
  - {from: OPEN, to: CLOSED, trigger: pull}
  - {from: OPEN, to: JAMMED, trigger: stuck, reason: HINGE}
  - {from: JAMMED, to: CLOSED, trigger: repaired, human: true}
reasons:
  HINGE: {recovery: [Oil the hinge]}
"""


def door(old: str, new: str) -> str:
    """The door spec with one edit; the edit must apply."""
    assert old in DOOR, old
    return DOOR.replace(old, new, 1)


def where(result: LoadResult) -> list[tuple[str, int, int]]:
    return [(f.rule, f.location.line, f.location.column) for f in result.findings]


# --- valid specs -------------------------------------------------------------------------


def test_design_example_loads_into_the_model() -> None:
    result = load_text(DESIGN_EXAMPLE, "specs/orchestrator.yaml")
    assert result.findings == ()
    spec = result.spec
    assert spec is not None
    assert (spec.machine, spec.initial, spec.version) == ("orchestrator", "IDLE", 1)
    assert spec.description == "Core agent orchestration machine."
    assert spec.state_names == ("IDLE", "RUNNING", "WAITING_FOR_APPROVAL", "FAILED", "COMPLETE")
    assert spec.state("WAITING_FOR_APPROVAL").kind is Kind.APPROVAL
    assert spec.state("WAITING_FOR_APPROVAL").reviewers == ("tech_lead",)
    assert spec.state("IDLE").location == Location("specs/orchestrator.yaml", 8, 3)
    assert len(spec.transitions) == 9
    timeout = spec.transitions[4]
    assert timeout.key == ("WAITING_FOR_APPROVAL", "FAILED", "approval_timeout")
    assert timeout.after == Duration("72h", 72 * 3600)
    assert (timeout.reason, timeout.index) == ("TIMEOUT_APPROVAL", 4)
    assert timeout.location == Location("specs/orchestrator.yaml", 23, 5)
    assert spec.transitions[2].human and not spec.transitions[0].human
    assert spec.reason("REJECTED").recovery[0] == "Read the decision record"
    assert spec.reason("TIMEOUT_APPROVAL").description == (
        "No reviewer acted within the approval window."
    )
    assert spec.location == Location("specs/orchestrator.yaml", 2, 1)
    assert spec.initial_location == Location("specs/orchestrator.yaml", 5, 10)
    assert spec.sha256 == hashlib.sha256(DESIGN_EXAMPLE.encode()).hexdigest()
    assert spec.file == result.file == "specs/orchestrator.yaml"


def test_bytes_and_text_load_alike_and_hash_the_raw_bytes() -> None:
    raw = "\ufeff".encode() + DOOR.encode()
    from_bytes = load_text(raw, "door.yaml")
    assert from_bytes.spec is not None
    assert from_bytes.spec.sha256 == hashlib.sha256(raw).hexdigest()
    assert from_bytes.spec.state("CLOSED").location.column == 3
    assert load_text(DOOR).spec == load_text(DOOR.encode()).spec


@pytest.mark.parametrize("path", sorted(ROOT.glob("specs/**/*.yaml")), ids=lambda p: p.name)
def test_shipped_specs_load_without_findings(path: Path) -> None:
    result = load_file(path, display=path.name)
    assert result.findings == ()
    assert result.spec is not None and result.spec.file == path.name


def test_optional_sections_may_be_empty_or_absent() -> None:
    text = "statewright: 1\nmachine: m\ninitial: A\nstates:\n  A:\ntransitions:\nreasons:\n"
    spec = load_text(text).spec
    assert spec is not None
    assert spec.state("A").kind is None and spec.transitions == () and spec.reasons == ()


# --- one finding per rule, at the node at fault ---------------------------------------


def at(text: str, anchor: str) -> tuple[int, int]:
    """The 1-based line and column where ``anchor`` first occurs in ``text``."""
    index = text.index(anchor)
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


# (name, spec text, rule, the text the finding must point at: its first occurrence)
CASES = [
    # yaml-syntax
    (
        "unclosed flow",
        door("  OPEN: {kind: running}", "  OPEN: {kind: running"),
        "yaml-syntax",
        ": {kind: failed",
    ),
    (
        "bad tag",
        door("machine: door", "machine: !!python/name:os.system door"),
        "yaml-syntax",
        "!!python",
    ),
    ("bad int", door("statewright: 1", "statewright: !!int one"), "yaml-syntax", "!!int"),
    ("top list", "- a\n- b\n", "yaml-syntax", "- a"),
    ("two docs", DOOR + "---\na: 1\n", "yaml-syntax", "---"),
    ("empty", "", "yaml-syntax", ""),
    ("nul", door("pull", "pu\0ll"), "yaml-syntax", "\0"),
    ("control", door("pull", "pu\x1bll"), "yaml-syntax", "\x1b"),
    # duplicate-key
    ("dup state", door("  JAMMED:", "  OPEN: {}\n  JAMMED:"), "duplicate-key", "OPEN: {}"),
    (
        "dup transition key",
        door("trigger: push}", "trigger: push, to: JAMMED}"),
        "duplicate-key",
        "to: JAMMED",
    ),
    ("dup reason", DOOR + "  HINGE: {}\n", "duplicate-key", "HINGE: {}"),
    ("dup top key", DOOR + "machine: door2\n", "duplicate-key", "machine: door2"),
    (
        "dup reviewer key",
        door("reviewers: [technician]", "reviewers: [a], reviewers: [b]"),
        "duplicate-key",
        "reviewers: [b]",
    ),
    # schema
    ("version", door("statewright: 1", "statewright: 2"), "schema", "2"),
    ("version type", door("statewright: 1", "statewright: '1'"), "schema", "'1'"),
    ("missing machine", door("machine: door\n", ""), "schema", "statewright"),
    ("unknown top key", DOOR + "extra: 1\n", "schema", "extra"),
    ("unknown state key", door("{kind: idle}", "{kind: idle, color: red}"), "schema", "color"),
    (
        "wrong type",
        door("JAMMED: {kind: failed,", "JAMMED: {kind: failed, final: yes,"),
        "schema",
        "yes",
    ),
    ("unknown kind", door("{kind: idle}", "{kind: idel}"), "schema", "idel"),
    (
        "empty states",
        door(
            "states:\n  CLOSED: {kind: idle}\n  OPEN: {kind: running}\n"
            "  JAMMED: {kind: failed, reviewers: [technician]}\n",
            "states: {}\n",
        ),
        "schema",
        "{}",
    ),
    ("human and after", door("human: true}", "human: true, after: 5m}"), "schema", "after"),
    ("always and after", door("trigger: pull}", "trigger: always, after: 1h}"), "schema", "after"),
    ("always and human", door("trigger: repaired", "trigger: always"), "schema", "human"),
    (
        "transition not a mapping",
        door("  - {from: OPEN, to: CLOSED, trigger: pull}", "  - pull"),
        "schema",
        "pull",
    ),
    ("empty from list", door("from: JAMMED", "from: []"), "schema", "[]"),
    ("merge key", door("{kind: idle}", "{<<: {kind: idle}}"), "schema", "<<"),
    # invalid-name
    ("machine keyword", door("machine: door", "machine: class"), "invalid-name", "class"),
    ("machine case", door("machine: door", "machine: Door"), "invalid-name", "Door"),
    ("trigger case", door("trigger: pull", "trigger: Pull"), "invalid-name", "Pull"),
    ("reason case", door("reasons:\n  HINGE", "reasons:\n  Hinge"), "invalid-name", "Hinge"),
    ("reviewer role", door("[technician]", '["tech\\tnician"]'), "invalid-name", '"tech'),
    ("stage", door("{kind: idle}", "{kind: idle, stage: ''}"), "invalid-name", "''"),
    # unknown-state
    ("to", door("to: OPEN, trigger: push", "to: OPNE, trigger: push"), "unknown-state", "OPNE"),
    ("from", door("from: CLOSED", "from: CLOSE"), "unknown-state", "CLOSE,"),
    ("initial", door("initial: CLOSED", "initial: CLOSD"), "unknown-state", "CLOSD"),
    ("glob", door("from: JAMMED", "from: 'X*'"), "unknown-state", "'X*'"),
    ("list item", door("from: JAMMED", "from: [JAMMED, JAM]"), "unknown-state", "JAM]"),
    # bad-duration
    ("zero", door("human: true}", "after: 0s}"), "bad-duration", "0s"),
    ("no unit", door("human: true}", "after: 90}"), "bad-duration", "90}"),
    ("fraction", door("human: true}", "after: 1.5h}"), "bad-duration", "1.5h"),
    ("unit order", door("human: true}", "after: 30m1h}"), "bad-duration", "30m1h"),
    # unknown-reason
    ("reason", door("reason: HINGE}", "reason: HINGES}"), "unknown-reason", "HINGES"),
]


@pytest.mark.parametrize(
    ("text", "rule", "anchor"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_finding_rule_and_position(text: str, rule: str, anchor: str) -> None:
    result = load_text(text, "door.yaml")
    assert result.spec is None
    assert (rule, *at(text, anchor)) in where(result), [f.format() for f in result.findings]
    assert all(f.location.file == "door.yaml" for f in result.findings)


def test_positions_are_exact() -> None:
    """Spot checks of the ``at`` helper against hand-counted positions."""
    assert where(load_text(door("{kind: idle}", "{kind: idel}"))) == [("schema", 5, 18)]
    text = door("trigger: pull", "trigger: Pull")
    assert (
        where(load_text(text))
        == [("invalid-name", 10, 39)]
        == [("invalid-name", *at(text, "Pull"))]
    )


def test_messages_say_what_to_do() -> None:
    def message(text: str) -> str:
        findings = load_text(text).findings
        assert len(findings) == 1, [f.format() for f in findings]
        return findings[0].message

    renamed = DOOR.replace("CLOSED", "Closed")
    assert message(renamed) == "state 'Closed' is not UPPER_SNAKE_CASE; rename it to 'CLOSED'"
    assert message(door("{from: CLOSED,", "{from: CLOSED, form: OPEN,")).endswith(
        "unknown key 'form' in transition; did you mean 'from'?"
    )
    assert message(door("to: OPEN, trigger: push", "to: OPNE, trigger: push")) == (
        "target state 'OPNE' is not declared under states; did you mean 'OPEN'?"
    )
    assert "did you mean 'HINGE'" in message(door("reason: HINGE}", "reason: HINGES}"))
    assert "rename it to 'task_received'" in message(door("trigger: push", "trigger: taskReceived"))


def test_missing_key_points_at_the_enclosing_mapping() -> None:
    result = load_text(door("{from: CLOSED, to: OPEN, trigger: push}", "{from: CLOSED, to: OPEN}"))
    assert where(result) == [("schema", 9, 5)]
    assert "missing the required key 'trigger'" in result.findings[0].message


def test_every_problem_is_reported_in_one_run() -> None:
    text = (
        door("statewright: 1", "statewright: 3")
        .replace("trigger: pull", "trigger: Pull")
        .replace("to: OPEN, trigger: push", "to: OPNE, trigger: push")
        .replace("reason: HINGE", "reason: HINGES")
        .replace("human: true}", "human: true, after: 0s}")
        + "extra: 1\n"
    )
    result = load_text(text)
    assert result.spec is None
    assert where(result) == [
        ("schema", *at(text, "3")),
        ("unknown-state", *at(text, "OPNE")),
        ("invalid-name", *at(text, "Pull")),
        ("unknown-reason", *at(text, "HINGES")),
        ("bad-duration", *at(text, "0s")),
        ("schema", *at(text, "extra")),
    ]
    assert result.findings == tuple(sorted(result.findings, key=lambda f: f.sort_key))


def test_duplicate_keys_never_overwrite_and_reading_goes_on() -> None:
    text = door("  JAMMED:", "  OPEN: {kind: failed}\n  JAMMED:") + "  HINGE: {}\n"
    result = load_text(text)
    assert [f.rule for f in result.findings] == ["duplicate-key", "duplicate-key"]
    assert "first defined at line 6, column 3" in result.findings[0].message
    node = read_yaml(text, "x").root
    assert isinstance(node, Mapping)
    states = node.get("states")
    assert isinstance(states, Mapping)
    opened = states.get("OPEN")
    assert isinstance(opened, Mapping)
    kind = opened.get("kind")
    assert isinstance(kind, Scalar) and kind.value == "running"


# --- YAML 1.2 ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("false", False),
        ("FALSE", False),
        ("on", "on"),
        ("off", "off"),
        ("yes", "yes"),
        ("no", "no"),
        ("Y", "Y"),
        ("n", "n"),
        ("~", None),
        ("null", None),
        ("NULL", None),
        ("42", 42),
        ("-7", -7),
        ("0o17", 15),
        ("0x1f", 31),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("012", 12),
        ("1_000", "1_000"),
        ("0b101", "0b101"),
        ("72h", "72h"),
        ("1:30", "1:30"),
        (".5", 0.5),
    ],
)
def test_plain_scalars_resolve_by_the_yaml_1_2_core_schema(text: str, value: object) -> None:
    resolved = resolve_plain(text)
    assert resolved == value and type(resolved) is type(value)


def test_yes_and_on_are_strings_not_booleans() -> None:
    result = load_text(door("human: true", "human: yes"))
    assert where(result) == [("schema", 12, 58)]
    assert "must be true or false, not 'yes'" in result.findings[0].message
    spec = load_text(
        door("CLOSED: {kind: idle}", "CLOSED: {kind: idle, final: True, stage: on}")
    ).spec
    assert spec is not None
    assert spec.state("CLOSED").final is True and spec.state("CLOSED").stage == "on"


def test_standard_tags_are_read_and_quoted_scalars_stay_text() -> None:
    spec = load_text(
        door("statewright: 1", "statewright: !!int '1'").replace("stuck", "!!str stuck")
    ).spec
    assert spec is not None and spec.version == 1 and spec.transitions[2].trigger == "stuck"
    result = load_text(door("trigger: push", "trigger: 'true'"))
    assert result.findings == ()
    result = load_text(door("trigger: push", "trigger: true"))
    assert where(result) == [("schema", 9, 39)]
    assert "quote it ('true')" in result.findings[0].message


def test_aliases_are_shared_not_refused() -> None:
    text = door("{kind: idle}", "{kind: idle, reviewers: &roles [technician]}").replace(
        "{kind: running}", "{kind: running, reviewers: *roles}"
    )
    spec = load_text(text).spec
    assert spec is not None and spec.state("OPEN").reviewers == ("technician",)


# --- from: lists and globs ------------------------------------------------------------

GLOBS = """\
statewright: 1
machine: pipeline
initial: IDLE
states:
  IDLE: {kind: idle}
  A_RUNNING: {kind: running}
  A_FAILED: {kind: failed}
  B_RUNNING: {kind: running}
  B_FAILED: {kind: failed}
  FAILED: {kind: failed, final: true}
transitions:
  - {from: IDLE, to: A_RUNNING, trigger: go}
  - {from: [B_RUNNING, A_RUNNING, A_RUNNING], to: FAILED, trigger: crash, reason: CRASH}
  - {from: "*FAILED", to: FAILED, trigger: always}
  - {from: ["*_RUNNING", IDLE], to: B_RUNNING, trigger: next}
reasons:
  CRASH: {recovery: [Restart]}
"""


def test_lists_and_globs_expand_in_declaration_then_state_order() -> None:
    spec = load_text(GLOBS).spec
    assert spec is not None
    assert [(t.source, t.target, t.trigger, t.index) for t in spec.transitions] == [
        ("IDLE", "A_RUNNING", "go", 0),
        ("A_RUNNING", "FAILED", "crash", 1),
        ("B_RUNNING", "FAILED", "crash", 1),
        ("A_FAILED", "FAILED", "always", 2),
        ("B_FAILED", "FAILED", "always", 2),
        ("IDLE", "B_RUNNING", "next", 3),
        ("A_RUNNING", "B_RUNNING", "next", 3),
    ]
    crash = [t for t in spec.transitions if t.trigger == "crash"]
    assert {t.location for t in crash} == {Location("<string>", 13, 5)}
    assert all(t.reason == "CRASH" for t in crash)


def test_a_glob_is_case_sensitive_and_an_explicit_self_loop_is_kept() -> None:
    text = GLOBS.replace('"*FAILED"', '"*failed"')
    assert where(load_text(text)) == [("unknown-state", *at(text, '"*failed"'))]
    spec = load_text(GLOBS.replace("{from: IDLE, to: A_RUNNING", "{from: IDLE, to: IDLE")).spec
    assert spec is not None and spec.transitions[0].key == ("IDLE", "IDLE", "go")


def test_a_glob_matching_only_its_target_matches_nothing() -> None:
    text = GLOBS.replace('"*FAILED", to: FAILED', '"FAIL?D", to: FAILED')
    assert where(load_text(text)) == [("unknown-state", *at(text, '"FAIL?D"'))]


# --- files ----------------------------------------------------------------------------


def test_load_file_names_the_spec_as_displayed(tmp_path: Path) -> None:
    path = tmp_path / "door.yaml"
    path.write_text(door("initial: CLOSED", "initial: SHUT"))
    result = load_file(path, display="specs/door.yaml")
    assert result.file == "specs/door.yaml"
    assert [f.format() for f in result.findings] == [
        "specs/door.yaml:3:10: error[unknown-state] initial state 'SHUT' is not declared "
        "under states"
    ]
    assert load_file(str(path)).findings[0].location.file == str(path)


@pytest.mark.parametrize("name", ["missing.yaml", "."])
def test_an_unreadable_file_is_a_finding(tmp_path: Path, name: str) -> None:
    result = load_file(tmp_path / name, display="x.yaml")
    assert result.spec is None
    assert [(f.rule, f.location) for f in result.findings] == [
        ("yaml-syntax", Location("x.yaml", 1, 1))
    ]
    assert result.findings[0].message.startswith("cannot read the spec")


# --- value checks ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90),
        ("30m", 1800),
        ("72h", 259_200),
        ("7d", 604_800),
        ("1h30m", 5400),
        ("2d12h", 216_000),
        ("01m", 60),
        ("3650d", 3650 * 86_400),
    ],
)
def test_good_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "",
        "0s",
        "0d0h",
        "1h0m",
        "90",
        "1.5h",
        "30m1h",
        "1h1h",
        "5 m",
        "-5m",
        "5M",
        "3651d",
        "1" * 40 + "s",
        "P1D",
    ],
)
def test_bad_durations(text: str) -> None:
    assert isinstance(parse_duration(text), str)


@pytest.mark.parametrize("label", ["tech_lead", "Tech Lead", "on-call", "ingénieur", "QA/2"])
def test_good_labels(label: str) -> None:
    assert check_label("reviewer role", label) is None


@pytest.mark.parametrize("label", ["", " lead", "lead ", "a\tb", "a\nb", "a\x00b", "a\u2028b"])
def test_bad_labels(label: str) -> None:
    assert check_label("reviewer role", label) is not None


# --- rule documentation ---------------------------------------------------------------


@pytest.mark.parametrize("rule_id", LOAD_RULES)
def test_load_rule_examples_behave_as_documented(rule_id: str) -> None:
    rule = RULES[rule_id]
    fails, passes = rule.example("Fails"), rule.example("Passes")
    assert fails is not None and passes is not None
    assert rule_id in {f.rule for f in load_text(fails).findings}
    assert load_text(passes).findings == ()
    assert rule.summary.endswith(".")


# --- JSON Schema ----------------------------------------------------------------------


def plain(node: Node) -> object:
    """A node as plain data (YAML 1.2 values), as an editor's YAML server would see it."""
    if isinstance(node, Scalar):
        return node.value
    if isinstance(node, Mapping):
        return {str(plain(k)): plain(v) for k, v in node.pairs()}
    return [plain(item) for item in node.items]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads((ROOT / "verify" / "spec.schema.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def schema_errors(validator: jsonschema.Draft7Validator, text: str) -> list[str]:
    root = read_yaml(text, "x").root
    assert root is not None
    return [error.message for error in validator.iter_errors(plain(root))]


@pytest.mark.parametrize(
    "text",
    [DESIGN_EXAMPLE, DOOR, GLOBS] + [p.read_text() for p in sorted(ROOT.glob("specs/**/*.yaml"))],
)
def test_valid_specs_satisfy_the_schema(validator: jsonschema.Draft7Validator, text: str) -> None:
    assert load_text(text).findings == ()
    assert schema_errors(validator, text) == []


INVALID = [
    door("{from: CLOSED,", "{form: CLOSED,"),
    door("CLOSED: {kind: idle}", "Closed: {kind: idle}"),
    door("trigger: pull", "trigger: import"),
    door("human: true}", "after: 0s}"),
    door("human: true}", "after: 1h0m}"),
    door("human: true}", "after: 90}"),
    door("{kind: idle}", "{kind: sleeping}"),
    door("statewright: 1", "statewright: 2"),
    door("machine: door\n", ""),
    door("human: true}", "human: true, after: 5m}"),
    door("trigger: pull}", "trigger: always, human: true}"),
    door("[technician]", '["tech\\tnician"]'),
    door("[technician]", "[' technician']"),
    door("human: true", "human: yes"),
    door("from: JAMMED", "from: []"),
]


@pytest.mark.parametrize("text", INVALID)
def test_invalid_specs_fail_the_schema_and_the_loader(
    validator: jsonschema.Draft7Validator, text: str
) -> None:
    assert load_text(text).findings != ()
    assert schema_errors(validator, text) != []


def test_every_finding_has_a_registered_load_rule() -> None:
    findings: list[Finding] = [f for text in INVALID for f in load_text(text).findings]
    assert {f.rule for f in findings} <= set(LOAD_RULES)
    assert all(RULES[rule].family == "load" for rule in LOAD_RULES)


def test_an_unknown_state_suggests_the_name_in_another_case() -> None:
    spec = "statewright: 1\nmachine: m\ninitial: idle\nstates:\n  IDLE: {final: true}\n"
    (finding,) = load_text(spec, "case.yaml").findings
    assert finding.rule == "unknown-state"
    assert (finding.location.line, finding.location.column) == (3, 10)
    assert finding.message.endswith("did you mean 'IDLE'?")
