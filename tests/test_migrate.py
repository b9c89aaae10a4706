"""Migrations: the ``migrations`` block as the loader reads it, ``statewright migrate`` as
a user runs it, and the proof checked against a brute-force oracle on random spec pairs
(a spec and a random edit of it, with a random mapping)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
from collections import deque
from contextlib import redirect_stderr, redirect_stdout, suppress
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from statewright.generator.cli import main
from statewright.verify.load import load_text
from statewright.verify.migration import MIGRATED, migrate_texts, prove
from statewright.verify.model import Migration, PropertyKind, Spec, Value, VarType
from statewright.verify.semantics import Semantics, Values, evaluate

BASE = """\
statewright: 1
machine: review
initial: DRAFTING
variables:
  revisions: {type: int, min: 0, max: 2, initial: 0}
states:
  DRAFTING: {}
  REVIEWING: {}
  DONE: {kind: complete, final: true}
transitions:
  - {from: DRAFTING, to: REVIEWING, trigger: submit}
  - {from: REVIEWING, to: DONE, trigger: approve}
  - from: REVIEWING
    to: DRAFTING
    trigger: revise
    when: revisions < 2
    set: {revisions: revisions + 1}
"""


def findings_of(migrations: str) -> list[tuple[str, int, int]]:
    """The load findings of BASE with ``migrations`` appended: (rule, line, column)."""
    result = load_text(BASE + migrations, "new.yaml")
    return [(f.rule, f.location.line, f.location.column) for f in result.findings]


# -- the block, as the loader reads it -----------------------------------------------------

LINE = BASE.count("\n") + 2  # the line of the first entry's 'from'


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        ("  - from: 3b76db8z\n", [("bad-migration", LINE, 11)]),
        ("  - from: 3b76db\n", [("bad-migration", LINE, 11)]),
        ("  - from: true\n", [("bad-migration", LINE, 11)]),
        ("  - {from: 3b76db81, states: {REVIEWING: NOPE}}\n", [("unknown-state", LINE, 42)]),
        ("  - {from: 3b76db81, variables: {revisions: 3}}\n", [("bad-migration", LINE, 45)]),
        ("  - {from: 3b76db81, variables: {revisions: true}}\n", [("bad-migration", LINE, 45)]),
        ("  - {from: 3b76db81, variables: {revision: 1}}\n", [("bad-migration", LINE, 34)]),
        ("  - {from: 3b76db81, drop: [revisions]}\n", [("bad-migration", LINE, 29)]),
        ("  - {from: 3b76db81, drop: [legacy, legacy]}\n", [("bad-migration", LINE, 37)]),
        ("  - {from: 3b76db81, state: {A: B}}\n", [("schema", LINE, 22)]),
        ("  - {states: {REVIEWING: DONE}}\n", [("schema", LINE, 5)]),
        (
            "  - from: 3b76db81\n  - from: 3B76DB81AA\n",
            [("bad-migration", LINE + 1, 11)],
        ),
        ("  - 3b76db81\n", [("schema", LINE, 5)]),
    ],
)
def test_a_bad_entry_is_a_finding_at_its_line_and_column(
    block: str, expected: list[tuple[str, int, int]]
) -> None:
    assert findings_of("migrations:\n" + block) == expected


def test_a_good_entry_loads_into_the_model() -> None:
    spec = load_text(
        BASE
        + "migrations:\n"
        + "  - from: 12345678\n"  # digits alone read as a number: their text is the prefix
        + "  - from: 3B76DB81\n"
        + "    states: {REVIEWING_OLD: REVIEWING}\n"
        + "    variables: {revisions: 1}\n"
        + "    drop: [legacy]\n"
        + "    description: renamed\n",
        "new.yaml",
    ).spec
    assert spec is not None
    first, second = spec.migrations
    assert first.source == "12345678"
    assert second == Migration(
        "3b76db81",
        second.location,
        (("REVIEWING_OLD", "REVIEWING"),),
        (("revisions", 1),),
        ("legacy",),
        "renamed",
    )
    assert spec.migration_from("3b76db81" + "0" * 56) is second
    assert spec.migration_from("3b76db82" + "0" * 56) is None
    assert second.where("states.REVIEWING_OLD").line == second.location.line + 1
    assert second.apply("REVIEWING_OLD", {"revisions": 2, "legacy": True}) == (
        "REVIEWING",
        {"revisions": 1},
    )


# -- the command ---------------------------------------------------------------------------


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


RENAMED = BASE.replace("REVIEWING", "IN_REVIEW")


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(args))
    return status, out.getvalue(), err.getvalue()


def write(tmp_path: Path, old: str, new: str) -> tuple[str, str]:
    (tmp_path / "old.yaml").write_text(old, encoding="utf-8")
    (tmp_path / "new.yaml").write_text(new, encoding="utf-8")
    return str(tmp_path / "old.yaml"), str(tmp_path / "new.yaml")


def test_migrate_proves_a_rename(tmp_path: Path) -> None:
    new = (
        RENAMED + f"migrations:\n  - from: {sha(BASE)[:8]}\n    states: {{REVIEWING: IN_REVIEW}}\n"
    )
    old_path, new_path = write(tmp_path, BASE, new)
    status, out, err = run("migrate", old_path, new_path)
    assert (status, err) == (0, "")
    assert out.endswith(
        f"(migration from {sha(BASE)[:8]}): proved: the 9 configurations a stored run can be "
        "in all land where review goes on (9 configurations of it explored).\n"
    )


def test_migrate_reports_each_stranded_configuration_with_its_trace(tmp_path: Path) -> None:
    old_path, new_path = write(tmp_path, BASE, RENAMED + f"migrations:\n  - from: {sha(BASE)}\n")
    status, out, _ = run("migrate", old_path, new_path, "--format", "json")
    assert status == 1
    (old_report, new_report) = json.loads(out)["specs"]
    assert old_report["findings"] == []
    (finding,) = new_report["findings"]
    assert finding["rule"] == "migration-unknown-state"
    assert finding["states"] == ["REVIEWING"]
    assert [step["trigger"] for step in finding["trace"]] == ["submit"]


def test_migrate_without_a_declared_migration_says_what_to_add(tmp_path: Path) -> None:
    old_path, new_path = write(tmp_path, BASE, RENAMED)
    status, out, _ = run("migrate", old_path, new_path)
    assert status == 1
    assert "error[migration-missing]" in out and f"- from: {sha(BASE)[:12]}" in out


def test_migrate_usage_errors_exit_2(tmp_path: Path) -> None:
    old_path, _ = write(tmp_path, BASE, BASE)
    status, out, err = run("migrate", old_path, str(tmp_path / "missing.yaml"))
    assert (status, out) == (2, "")
    assert err == f"statewright: error: the new spec {tmp_path / 'missing.yaml'} does not exist\n"
    status, _, err = run("migrate", str(tmp_path), old_path)
    assert status == 2 and "is not a regular file" in err


def test_a_spec_that_does_not_load_is_a_finding_not_a_proof(tmp_path: Path) -> None:
    old_path, new_path = write(tmp_path, BASE, "statewright: 1\nmachine: [\n")
    status, out, _ = run("migrate", old_path, new_path)
    assert status == 1
    assert "error[yaml-syntax]" in out and out.endswith(
        "Not proved: a spec did not load (1 error).\n"
    )


def test_the_trace_runs_on_past_the_move_to_where_the_run_is_stuck() -> None:
    new = (
        BASE.replace(
            "  DONE: {kind: complete, final: true}\n",
            "  DONE: {kind: complete, final: true}\n  PARKED: {}\n  LIMBO: {}\n",
        )
        + "  - {from: PARKED, to: LIMBO, trigger: park}\n"
        + "  - {from: PARKED, to: DONE, trigger: finish}\n"
        + f"migrations:\n  - from: {sha(BASE)[:8]}\n    states: {{REVIEWING: PARKED}}\n"
    )
    done = migrate_texts(BASE, new)
    stranded = [f for f in done.findings if f.rule == "migration-stranded"]
    assert {f.states for f in stranded} == {("REVIEWING",)}
    assert len(stranded) == 3  # one per stored configuration: revisions 0, 1 and 2
    steps = [str(s) for s in stranded[0].trace]
    assert steps[-2:] == ["migrated -> PARKED", "park -> LIMBO"]
    assert stranded[0].trace[-2].trigger == MIGRATED


def test_precedence_counts_the_old_history_pessimistically() -> None:
    old = BASE
    new = BASE + (
        "properties:\n  reviewed: {precedence: {state: DONE, requires: submit}}\n"
        f"migrations:\n  - from: {sha(old)[:8]}\n"
    )
    assert migrate_texts(old, new).proved
    # a run already in REVIEWING moves to a fresh state that approves without submitting
    shortcut = (
        new.replace(
            "  - {from: REVIEWING, to: DONE, trigger: approve}\n",
            "  - {from: REVIEWING, to: DONE, trigger: approve}\n"
            "  - {from: CHECKED, to: DONE, trigger: approve}\n",
        )
        .replace("  DONE: {kind", "  CHECKED: {}\n  DONE: {kind")
        .replace(
            f"  - from: {sha(old)[:8]}\n",
            f"  - from: {sha(old)[:8]}\n    states: {{DRAFTING: CHECKED}}\n",
        )
    )
    done = migrate_texts(old, shortcut)
    broken = {f.states for f in done.findings if f.rule == "migration-breaks-property"}
    # in DRAFTING the old run may have come back by revise (submit fired) or never left
    # the start (it has not): pessimistically not fired
    assert broken == {("DRAFTING",)}


# -- the oracle ----------------------------------------------------------------------------

Config = tuple[str, Values]


def successors(semantics: Semantics, config: Config) -> list[Config]:
    """The configurations one step from ``config``, by the semantics' own rules."""
    state, values = config
    automatic = semantics.automatic_in(state, values)
    found = []
    for t in [automatic] if automatic is not None else semantics.steps_in(state, values):
        with suppress(ValueError):  # out of range: no step
            found.append((t.target, semantics.take(t, values)))
    return found


def reach(semantics: Semantics, starts: list[Config]) -> set[Config]:
    seen = set(starts)
    queue = deque(starts)
    while queue:
        for nxt in successors(semantics, queue.popleft()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def accepted(kind: VarType, low: int, high: int, values: tuple[str, ...], value: Value) -> bool:
    if kind is VarType.BOOL:
        return isinstance(value, bool)
    if kind is VarType.ENUM:
        return isinstance(value, str) and value in values
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def oracle(old: Spec, new: Spec) -> dict[Config, frozenset[str]]:
    """Per stored configuration of ``old``: the rules its move breaks ('unknown' when it
    has no image), computed the slow and obvious way."""
    migration = new.migration_from(old.sha256)
    assert migration is not None
    os_, ns = Semantics.of(old), Semantics.of(new)
    start = (old.initial, os_.data.initial)
    stored = [c for c in reach(os_, [start]) if os_.automatic_in(*c) is None]
    own = reach(ns, [(new.initial, ns.data.initial)])

    def stuck(c: Config) -> bool:
        return not successors(ns, c) and not new.state(c[0]).final

    def anchored(c: Config) -> bool:
        return any(s == new.initial or new.state(s).final for s, _ in reach(ns, [c]))

    verdicts: dict[Config, frozenset[str]] = {}
    for state, values in stored:
        named = dict(zip(os_.data.names, values, strict=True))
        target = dict(migration.states).get(state, state)
        for name in migration.drop:
            named.pop(name, None)
        named.update(migration.values)
        ok = target in new.state_names and all(
            v.name in named and accepted(v.type, v.minimum, v.maximum, v.values, named[v.name])
            for v in new.variables
        )
        if not ok:
            verdicts[state, values] = frozenset({"unknown"})
            continue
        image = (target, tuple(named[v.name] for v in new.variables))
        region = reach(ns, [image])
        beyond = region - own
        rules: set[str] = set()
        if stuck(image) or not anchored(image) or any(stuck(c) or not anchored(c) for c in beyond):
            rules.add("migration-stranded")
        if image not in own and any(breaks(ns, new, p, beyond) for p in new.properties):
            rules.add("migration-breaks-property")
        verdicts[state, values] = frozenset(rules)
    return verdicts


def breaks(semantics: Semantics, spec: Spec, prop: object, beyond: set[Config]) -> bool:
    from statewright.verify.model import Property

    assert isinstance(prop, Property)
    if prop.kind is PropertyKind.ALWAYS:
        assert prop.invariant is not None
        return any(
            evaluate(prop.invariant.tree, dict(zip(semantics.data.names, v, strict=True)), s)
            is not True
            for s, v in beyond
        )
    assert prop.kind is PropertyKind.LEADS_TO
    return any(c[0] in prop.states and avoids(semantics, c, set(prop.targets)) for c in beyond)


def avoids(semantics: Semantics, start: Config, targets: set[str]) -> bool:
    """Whether some run from ``start`` never reaches ``targets``: it ends, or goes round
    a cycle, outside them."""
    if start[0] in targets:
        return False
    region = {start}
    queue = deque([start])
    while queue:
        c = queue.popleft()
        nexts = successors(semantics, c)
        if not nexts:
            return True
        for n in nexts:
            if n[0] not in targets and n not in region:
                region.add(n)
                queue.append(n)
    # a cycle within the region: some configuration reaches itself without the targets
    for c in region:
        inside = [n for n in successors(semantics, c) if n in region]
        seen, todo = set(inside), list(inside)
        while todo:
            d = todo.pop()
            if d == c:
                return True
            for n in successors(semantics, d):
                if n in region and n not in seen:
                    seen.add(n)
                    todo.append(n)
    return False


# -- random spec pairs ---------------------------------------------------------------------

STATES = ("A", "B", "C", "D")


@st.composite
def old_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A small spec as data: states A..D and a final DONE, a counter n, random
    transitions with guards and effects, and maybe properties."""
    count = draw(st.integers(2, 4))
    states: dict[str, object] = {s: {"kind": "running"} for s in STATES[:count]}
    states["DONE"] = {"kind": "complete", "final": True}
    names = list(states)
    transitions = []
    for _ in range(draw(st.integers(1, 7))):
        source = draw(st.sampled_from(names[:-1]))
        t: dict[str, object] = {
            "from": source,
            "to": draw(st.sampled_from(names)),
            "trigger": draw(st.sampled_from(["go", "back", "stop", "always"])),
        }
        guard = draw(st.sampled_from([None, "n < 2", "n > 0", "n == 1"]))
        if guard is not None:
            t["when"] = guard
        effect = draw(st.sampled_from([None, "n + 1", "n - 1", "0"]))
        if effect is not None:
            t["set"] = {"n": effect}
        transitions.append(t)
    spec: dict[str, Any] = {
        "statewright": 1,
        "machine": "pair",
        "initial": "A",
        "variables": {"n": {"type": "int", "min": 0, "max": 2, "initial": 0}},
        "states": states,
        "transitions": transitions,
    }
    return spec


def text(spec: dict[str, object]) -> str:
    return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None)


def rename(value: object, old: str, new: str) -> object:
    if value == old:
        return new
    if isinstance(value, dict):
        return {rename(k, old, new): rename(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [rename(v, old, new) for v in value]
    return value


@st.composite
def pairs(draw: st.DrawFn) -> tuple[str, str]:
    """An old spec's text and a new one: a random edit with a random migration."""
    old: dict[str, Any] = draw(old_specs())
    new: Any = json.loads(json.dumps(old))
    states = [s for s in new["states"] if s != "DONE"]
    victim = draw(st.sampled_from(states[1:] or states))
    mapping: dict[str, str] = {}
    variables: dict[str, object] = {}
    drop: list[str] = []
    edit = draw(
        st.sampled_from(
            ["rename", "merge", "remove", "variable", "transition", "narrow", "drop", "budget"]
        )
    )
    if edit == "rename" and victim != "A":
        new = rename(new, victim, victim + "_NEW")
        mapping[victim] = victim + "_NEW"
    elif edit == "merge" and victim != "A":
        into = draw(st.sampled_from([s for s in new["states"] if s != victim]))
        new = rename(new, victim, into)
        if draw(st.booleans()):
            mapping[victim] = into
    elif edit == "remove" and victim != "A":
        del new["states"][victim]
        kept = [t for t in new["transitions"] if victim not in (t["from"], t["to"])]
        new["transitions"] = kept or [{"from": "A", "to": "DONE", "trigger": "stop"}]
        if draw(st.booleans()):
            mapping[victim] = draw(st.sampled_from(list(new["states"])))
    elif edit == "variable":
        new["variables"]["flag"] = {"type": "bool", "initial": False}
        new["transitions"].append({"from": "A", "to": "DONE", "trigger": "finish", "when": "flag"})
        if draw(st.booleans()):
            variables["flag"] = draw(st.booleans())
    elif edit == "transition" and len(new["transitions"]) > 1:
        del new["transitions"][draw(st.integers(0, len(new["transitions"]) - 1))]
    elif edit == "narrow":
        new["variables"]["n"]["max"] = 1
        new["transitions"] = [
            {**t, "when": "n < 1"} if t.get("set", {}).get("n") == "n + 1" else t
            for t in new["transitions"]
        ]
        if draw(st.booleans()):
            variables["n"] = draw(st.integers(0, 1))
    elif edit == "budget":  # a revision budget: a new counter, a property bounding it
        new["variables"]["r"] = {"type": "int", "min": 0, "max": 2, "initial": 0}
        new["transitions"].append(
            {"from": victim, "to": "A", "trigger": "revise", "when": "r < 1", "set": {"r": "r + 1"}}
        )
        new["properties"] = {"budget": {"always": "r <= 1"}}
        variables["r"] = draw(st.integers(0, 2))
    elif edit == "drop":
        new["variables"] = {"m": {"type": "int", "min": 0, "max": 2, "initial": 0}}
        for t in new["transitions"]:
            if "when" in t:
                t["when"] = t["when"].replace("n", "m")
            if "set" in t:
                t["set"] = {"m": t["set"]["n"].replace("n", "m")}
        if draw(st.booleans()):
            drop.append("n")
        if draw(st.booleans()):
            variables["m"] = draw(st.integers(0, 1))
    # a few random mappings on top: any old state to any new one
    for _ in range(draw(st.integers(0, 2))):
        source = draw(st.sampled_from(list(old["states"])))
        mapping[source] = draw(st.sampled_from(list(new["states"])))
    if draw(st.booleans()):
        new["properties"] = (
            {
                "bounded": {
                    "always": draw(st.sampled_from(["n <= 1", "n != 2", "state != DONE or n == 0"]))
                },
            }
            if "n" in new["variables"]
            else {}
        )
    if draw(st.booleans()):
        target = draw(st.sampled_from(list(new["states"])))
        source = draw(st.sampled_from(list(new["states"])))
        new.setdefault("properties", {})["finishes"] = {"leads_to": {"from": source, "to": target}}
    old_text = text(old)
    entry: dict[str, object] = {"from": sha(old_text)[: draw(st.integers(8, 64))]}
    if mapping:
        entry["states"] = mapping
    if variables:
        entry["variables"] = variables
    if drop:
        entry["drop"] = drop
    new["migrations"] = [entry]
    return old_text, text(new)


def verdicts_agree(old_text: str, new_text: str) -> None:
    old = load_text(old_text, "old.yaml").spec
    loaded = load_text(new_text, "new.yaml")
    assert old is not None
    if loaded.spec is None:  # a random edit may break the new spec itself: nothing to prove
        return
    result = prove(old, loaded.spec)
    assert result.migration is not None
    expected = oracle(old, loaded.spec)
    found = {
        v.old: v.rules if v.image is not None else frozenset({"unknown"}) for v in result.verdicts
    }
    assert found == expected
    assert result.proved == (
        all(not rules for rules in expected.values())
        and not any(f.rule == "migration-variables" for f in result.findings)
        and not any(f.rule == "migration-unknown-state" for f in result.findings)
    )


@settings(max_examples=60, deadline=None)
@given(pairs())
def test_the_proof_agrees_with_the_brute_force_oracle(pair: tuple[str, str]) -> None:
    verdicts_agree(*pair)


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(pairs())
def test_the_proof_agrees_with_the_oracle_on_many_more_pairs(pair: tuple[str, str]) -> None:
    verdicts_agree(*pair)


def test_the_oracle_can_tell_a_stranded_run(tmp_path: Path) -> None:
    """The oracle is no constant: it finds what the proof finds on a known bad pair."""
    new = (
        RENAMED
        + f"migrations:\n  - from: {sha(BASE)[:8]}\n"
        + "    states: {REVIEWING: DONE, DRAFTING: IN_REVIEW}\n"
    )
    new = new.replace("  - {from: IN_REVIEW, to: DONE, trigger: approve}\n", "")
    old_spec, new_spec = load_text(BASE).spec, load_text(new).spec
    assert old_spec is not None and new_spec is not None
    expected = oracle(old_spec, new_spec)
    assert any("migration-stranded" in rules for rules in expected.values())
    verdicts_agree(BASE, new)


def test_check_previous_runs_the_same_proof(tmp_path: Path) -> None:
    old_path, new_path = write(tmp_path, BASE, RENAMED + f"migrations:\n  - from: {sha(BASE)}\n")
    status, out, _ = run("check", "--previous", old_path, new_path, "--format", "json")
    assert status == 1
    (report,) = json.loads(out)["specs"]
    assert [f["rule"] for f in report["findings"]] == ["migration-unknown-state"]
    fixed = RENAMED + f"migrations:\n  - from: {sha(BASE)}\n    states: {{REVIEWING: IN_REVIEW}}\n"
    old_path, new_path = write(tmp_path, BASE, fixed)
    assert run("check", "--previous", old_path, new_path)[0] == 0


def test_check_previous_needs_the_same_machine(tmp_path: Path) -> None:
    old_path, new_path = write(tmp_path, BASE.replace("machine: review", "machine: other"), BASE)
    status, _, err = run("check", "--previous", old_path, new_path)
    assert status == 2
    assert "is the machine other, which no checked spec is" in err


def git(folder: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=folder,
        check=True,
        capture_output=True,
    )


def test_check_finds_the_old_version_in_git_history(tmp_path: Path) -> None:
    spec = tmp_path / "review.yaml"
    spec.write_text(BASE, encoding="utf-8")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "review.yaml")
    git(tmp_path, "commit", "-q", "-m", "v1")
    spec.write_text(RENAMED + f"migrations:\n  - from: {sha(BASE)[:8]}\n", encoding="utf-8")
    status, out, _ = run("check", str(spec), "--format", "json")
    assert status == 1
    (report,) = json.loads(out)["specs"]
    (finding,) = report["findings"]
    assert finding["rule"] == "migration-unknown-state"
    assert "review.yaml@" in finding["message"]
    assert run("check", str(spec), "--no-git-history")[0] == 0
    fixed = (
        RENAMED + f"migrations:\n  - from: {sha(BASE)[:8]}\n    states: {{REVIEWING: IN_REVIEW}}\n"
    )
    spec.write_text(fixed, encoding="utf-8")
    assert run("check", str(spec))[0] == 0


def test_outside_git_a_declared_migration_is_left_to_migrate(tmp_path: Path) -> None:
    spec = tmp_path / "review.yaml"
    spec.write_text(RENAMED + f"migrations:\n  - from: {sha(BASE)[:8]}\n", encoding="utf-8")
    assert run("check", str(spec))[0] == 0


def test_the_examples_in_the_docstrings_run() -> None:
    import doctest

    import statewright.verify.migration
    import statewright.verify.model

    for module in (statewright.verify.model, statewright.verify.migration):
        failed, tried = doctest.testmod(module)
        assert tried > 0 and failed == 0, module.__name__
