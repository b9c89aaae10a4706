"""The shape of a spec is stated once (verify/load/shape.py): the loader takes its keys
from there, and the committed JSON Schema is rendered from it and kept fresh.

The derivation is tested key by key: for every key of every mapping of the format, a
misspelt key, a missing required key and values of the wrong kind must be refused by
the loader and by the schema alike, starting from one spec that both accept.
"""

from __future__ import annotations

import copy
import doctest
import json
from pathlib import Path
from types import ModuleType

import jsonschema
import pytest
import yaml

import statewright.verify.load.shape
import statewright.verify.load.values
from statewright.verify.load import load_text
from statewright.verify.load import schema as schema_module
from statewright.verify.load.schema import SCHEMA_FILE, json_schema, main, render
from statewright.verify.load.shape import SHAPES, Shape

ROOT = Path(__file__).resolve().parents[1]

BASE: dict[str, object] = {
    "statewright": 1,
    "machine": "retry",
    "description": "A job that is retried a few times.",
    "initial": "RUNNING",
    "variables": {
        "attempts": {"type": "int", "min": 0, "max": 3, "initial": 0, "description": "tries"},
        "severity": {"type": "enum", "values": ["none", "minor"], "initial": "none"},
    },
    "states": {
        "RUNNING": {
            "kind": "running",
            "final": False,
            "reviewers": ["on_call"],
            "stage": "work",
            "description": "working",
        },
        "DONE": {"kind": "complete", "final": True},
        "STUCK": {"kind": "failed", "final": True},
        "REVIEW": {
            "kind": "approval",
            "reviewers": ["maintainer"],
            "quorum": 2,
            "separate_from": ["requester", "previous_approvers"],
            "escalate": {"after": "30m", "to": ["director"]},
            "bind": "context",
        },
    },
    "transitions": [
        {
            "from": "RUNNING",
            "to": "RUNNING",
            "trigger": "retry",
            "human": True,
            "description": "try again",
            "when": "attempts < 3",
            "set": {"attempts": "attempts + 1"},
        },
        {"from": "RUNNING", "to": "DONE", "trigger": "finish"},
        {"from": "RUNNING", "to": "STUCK", "trigger": "give_up", "after": "1h", "reason": "SLOW"},
    ],
    "reasons": {"SLOW": {"description": "too slow", "recovery": ["Restart it"]}},
    "rollback": {"reviewers": ["on_call"], "keep": ["attempts"], "max": 2},
    "properties": {
        "bounded": {"description": "never past 3", "always": "attempts <= 3"},
        "ordered": {"precedence": {"state": "DONE", "requires": "finish"}},
        "ends": {"leads_to": {"from": "RUNNING", "to": ["DONE", "STUCK"], "within": "2h"}},
        "few_retries": {"at_most": {"trigger": "retry", "times": 3}},
    },
    "migrations": [
        {
            "from": "3b76db81",
            "states": {"WORKING": "RUNNING"},
            "variables": {"severity": "minor"},
            "drop": ["legacy"],
            "description": "WORKING renamed",
        }
    ],
}
"""One spec with every mapping of the format, which the loader and the schema accept."""

PLACES: dict[str, tuple[str | int, ...]] = {
    "spec": (),
    "rollback": ("rollback",),
    "state": ("states", "RUNNING"),
    "escalate": ("states", "REVIEW", "escalate"),
    "transition": ("transitions", 0),
    "reason": ("reasons", "SLOW"),
    "variable": ("variables", "attempts"),
    "property": ("properties", "bounded"),
    "precedence": ("properties", "ordered", "precedence"),
    "leads_to": ("properties", "ends", "leads_to"),
    "at_most": ("properties", "few_retries", "at_most"),
    "migration": ("migrations", 0),
}
"""Where each shape has a mapping in :data:`BASE`."""

CONDITIONAL = {("variable", "min"), ("variable", "max"), ("property", "always")}
"""Optional keys that the mapping's other keys make required (an int's bounds; a
property says one of always, precedence, leads_to and at_most)."""

WRONG_KINDS: list[object] = [None, 7, True, "text", "Bad Name", [], ["x"], {}, {"x": 1}]
"""Values to try in place of each key's, wherever the schema refuses them."""


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    document = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(document)
    return jsonschema.Draft7Validator(document)


def mapping_of(spec: dict[str, object], shape: str) -> dict[str, object]:
    node: object = spec
    for step in PLACES[shape]:
        assert isinstance(node, dict | list)
        node = node[step] if isinstance(node, dict) else node[int(step)]
    assert isinstance(node, dict)
    return node


def both(validator: jsonschema.Draft7Validator, spec: dict[str, object]) -> tuple[set[str], bool]:
    """The load rules ``spec`` breaks, and whether the schema accepts it."""
    text = yaml.safe_dump(spec, sort_keys=False)
    rules = {finding.rule for finding in load_text(text).findings}
    return rules, validator.is_valid(spec)


def keys(shape: Shape) -> list[tuple[str, str]]:
    return [(shape.name, key) for key in shape.names]


ALL_KEYS = [pair for shape in SHAPES.values() for pair in keys(shape)]


def test_the_committed_schema_is_the_rendered_one() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(), (
        "verify/spec.schema.json is stale: run .venv/bin/python -m statewright.verify.load.schema"
    )


def test_the_check_fails_on_a_stale_file_and_the_writer_freshens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "spec.schema.json"
    stale.write_text("{}\n", encoding="utf-8")
    monkeypatch.setattr(schema_module, "SCHEMA_FILE", stale)
    assert main(["--check"]) == 1
    assert main([]) == 0
    assert main(["--check"]) == 0
    assert json.loads(stale.read_text(encoding="utf-8")) == json_schema()


def test_every_shape_has_a_place_in_the_sample() -> None:
    assert set(PLACES) == set(SHAPES)
    for name, shape in SHAPES.items():
        assert set(mapping_of(BASE, name)) <= set(shape.names), name


def test_the_sample_passes_both(validator: jsonschema.Draft7Validator) -> None:
    assert both(validator, BASE) == (set(), True)


@pytest.mark.parametrize(("shape", "key"), ALL_KEYS)
def test_a_misspelt_key_is_refused_with_a_suggestion(
    validator: jsonschema.Draft7Validator, shape: str, key: str
) -> None:
    spec = copy.deepcopy(BASE)
    mapping_of(spec, shape)[key + "x"] = mapping_of(spec, shape).get(key, 1)
    text = yaml.safe_dump(spec, sort_keys=False)
    messages = [f.message for f in load_text(text).findings if f.rule == "schema"]
    assert any(f"unknown key '{key}x'" in m and f"did you mean '{key}'?" in m for m in messages)
    assert not validator.is_valid(spec)


@pytest.mark.parametrize(("shape", "key"), ALL_KEYS)
def test_a_key_is_required_by_both_or_by_neither(
    validator: jsonschema.Draft7Validator, shape: str, key: str
) -> None:
    spec = copy.deepcopy(BASE)
    present = mapping_of(spec, shape).pop(key, None) is not None
    rules, valid = both(validator, spec)
    if key in SHAPES[shape].required:
        assert rules and not valid
    elif present and (shape, key) not in CONDITIONAL:  # other keys may refer to it
        assert "schema" not in rules and valid


@pytest.mark.parametrize(("shape", "key"), ALL_KEYS)
def test_a_value_the_schema_refuses_the_loader_refuses(
    validator: jsonschema.Draft7Validator, shape: str, key: str
) -> None:
    refused = 0
    for value in WRONG_KINDS:
        spec = copy.deepcopy(BASE)
        mapping_of(spec, shape)[key] = value
        rules, valid = both(validator, spec)
        if not valid:
            refused += 1
            assert rules, value
        if "schema" in rules and rules <= {"schema"}:
            assert not valid, value
    assert refused, "no value of the wrong kind was tried"


@pytest.mark.parametrize("module", [statewright.verify.load.shape, statewright.verify.load.values])
def test_the_doctests(module: ModuleType) -> None:
    failed, tried = doctest.testmod(module)
    assert tried > 0 and failed == 0
