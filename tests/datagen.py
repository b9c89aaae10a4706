"""Random specs with data, for the property tests: variables of every type, guards and
effects drawn from the whole expression grammar, properties of every kind. (Collected by
pytest, holds no tests of its own.)

The specs are texts, so that every test goes through the loader as a user's spec does.
Ranges are small, so that a spec has at most a few thousand configurations.
"""

from __future__ import annotations

from hypothesis import strategies as st

__all__ = ["ENUM_VALUES", "STATES", "TRIGGERS", "data_specs", "expressions"]

STATES = ("A", "B", "C", "D", "E")
TRIGGERS = ("go", "back", "stop", "always")
ENUM_VALUES = ("low", "mid", "high")
INTS = {"n": (0, 3), "m": (-2, 2)}
_INT_ITEMS = tuple(INTS.items())
BOOLS = ("flag",)
ENUMS = ("level",)


def _int(draw: st.DrawFn, depth: int) -> str:
    choice = draw(st.integers(0, 3 if depth > 0 else 1))
    if choice == 0:
        return draw(st.sampled_from(sorted(INTS)))
    if choice == 1:
        return str(draw(st.integers(-3, 4)))
    left, right = _int(draw, depth - 1), _int(draw, depth - 1)
    return f"({left} {'+' if choice == 2 else '-'} {right})"


def _bool(draw: st.DrawFn, depth: int, states: tuple[str, ...] = ()) -> str:
    top = 9 if depth > 0 else 4
    choice = draw(st.integers(0, top if not states else top + 1))
    if choice == 0:
        return draw(st.sampled_from(BOOLS))
    if choice == 1:
        return draw(st.sampled_from(["true", "false"]))
    if choice == 2:
        op = draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="]))
        return f"{_int(draw, depth - 1)} {op} {_int(draw, depth - 1)}"
    if choice == 3:
        value = draw(st.sampled_from(ENUM_VALUES))
        quoted = draw(st.booleans())
        op = draw(st.sampled_from(["==", "!="]))
        return f"level {op} {repr(value) if quoted else value}"
    if choice == 4:
        values = draw(st.lists(st.sampled_from(ENUM_VALUES), min_size=1, max_size=3))
        negated = "not in" if draw(st.booleans()) else "in"
        return f"level {negated} [{', '.join(values)}]"
    if choice == 5:
        return f"not ({_bool(draw, depth - 1, states)})"
    if choice in (6, 7):
        op = "and" if choice == 6 else "or"
        return f"({_bool(draw, depth - 1, states)}) {op} ({_bool(draw, depth - 1, states)})"
    if choice == 8:
        return f"flag == ({_bool(draw, depth - 1, states)})"
    if choice == 9:
        ints = draw(st.lists(st.integers(-3, 4), min_size=1, max_size=3))
        return f"n in [{', '.join(map(str, ints))}]"
    picked = draw(st.lists(st.sampled_from(states), min_size=1, max_size=2))
    return f"state in [{', '.join(picked)}]" if len(picked) > 1 else f"state == {picked[0]}"


@st.composite
def expressions(draw: st.DrawFn, states: tuple[str, ...] = ()) -> str:
    """A condition over the variables (and, given ``states``, the current state)."""
    return _bool(draw, draw(st.integers(0, 3)), states)


def _effect(draw: st.DrawFn, variable: str) -> str:
    if variable in INTS:
        low, high = INTS[variable]
        return draw(
            st.sampled_from(
                [
                    f"{variable} + 1",
                    f"{variable} - 1",
                    str(low),
                    str(high),
                    _int(draw, 1),
                ]
            )
        )
    if variable in BOOLS:
        return draw(st.sampled_from(["true", "false", f"not {variable}", _bool(draw, 1)]))
    return draw(st.sampled_from(ENUM_VALUES))


def _gate(draw: st.DrawFn) -> str:
    """An approval gate's state: a quorum of 1 to 3, perhaps an escalation (before or
    after the timed exits the transitions may give it)."""
    quorum = draw(st.integers(1, 3))
    escalate = draw(st.sampled_from(["", "20m", "45m", "2h"]))
    policy = f", escalate: {{after: {escalate}, to: [chief]}}" if escalate else ""
    return f"{{kind: approval, reviewers: [lead], quorum: {quorum}{policy}}}"


@st.composite
def data_specs(draw: st.DrawFn, properties: bool = True, gates: bool = False) -> str:
    """A spec over a few states with every kind of transition, guards, effects and, if
    ``properties``, one or two properties of each kind; with ``gates``, B (when there is
    one that is not final) an approval gate with a policy, and C a failed state (a human
    exit into it rejects)."""
    count = draw(st.integers(min_value=2, max_value=len(STATES)))
    names = STATES[:count]
    finals = set(draw(st.lists(st.sampled_from(names[1:]), max_size=1)))
    kinds = {"B": _gate(draw), "C": "{kind: failed, reviewers: [lead]}"} if gates else {}
    lines = [
        "statewright: 1",
        "machine: random_machine",
        "initial: A",
        "variables:",
        *(f"  {v}: {{type: int, min: {lo}, max: {hi}, initial: 0}}" for v, (lo, hi) in _INT_ITEMS),
        "  flag: {type: bool, initial: false}",
        f"  level: {{type: enum, values: [{', '.join(ENUM_VALUES)}], initial: low}}",
        "states:",
        *(
            f"  {name}: {{final: true}}"
            if name in finals
            else f"  {name}: {kinds.get(name, '{reviewers: [lead]}')}"
            for name in names
        ),
        "rollback: {reviewers: [lead]}",
        "transitions:",
    ]
    used: list[str] = []
    if "B" in kinds and "B" not in finals:  # the gate reached, and an exit to count
        target = draw(st.sampled_from(names))
        lines += [
            "  - {from: A, to: B, trigger: go}",
            f"  - {{from: B, to: {target}, trigger: stop, human: true}}",
        ]
        used += ["go", "stop"]
    for _ in range(draw(st.integers(min_value=1, max_value=10 if gates else 8))):
        source = draw(st.sampled_from([n for n in names if n not in finals] or names[:1]))
        target = draw(st.sampled_from(names))
        trigger = draw(st.sampled_from(TRIGGERS))
        used.append(trigger)
        parts = [f"from: {source}", f"to: {target}", f"trigger: {trigger}"]
        timed = False
        if trigger != "always":
            extra = draw(st.sampled_from(["", "human: true", "after: 1h", "after: 30m"]))
            timed = extra.startswith("after")
            if extra:
                parts.append(extra)
        if not timed and draw(st.booleans()):
            parts.append(f'when: "{draw(expressions())}"')
        assigned = draw(st.lists(st.sampled_from([*INTS, *BOOLS, *ENUMS]), max_size=2, unique=True))
        if assigned:
            effects = ", ".join(f'{v}: "{_effect(draw, v)}"' for v in assigned)
            parts.append(f"set: {{{effects}}}")
        lines.append(f"  - {{{', '.join(parts)}}}")
    if properties:
        lines.append("properties:")
        lines.append(f'  invariant: {{always: "{draw(expressions(names))}"}}')
        lines.append(
            f"  order: {{precedence: {{state: {draw(st.sampled_from(names))}, "
            f"requires: {draw(st.sampled_from(used))}}}}}"
        )
        lines.append(
            f"  progress: {{leads_to: {{from: {draw(st.sampled_from(names))}, "
            f"to: {draw(st.sampled_from(names))}}}}}"
        )
    return "\n".join(lines) + "\n"
