"""A spec as a Promela model, to cross-check the explorer with Spin.

The test suite and ``benchmarks/bench_explore.py`` hold statewright's exploration to an
independent model checker: :func:`promela` writes one process whose loop takes, in a
``d_step`` each, exactly the steps :mod:`statewright.verify.semantics` takes from a configuration
(the first enabled ``always`` exit; else, per trigger, the first transition whose guard holds,
and the leading timed exit), so that Spin stores one state per reachable configuration.
Questions are asked with assertions that fail where the answer is yes, each numbered
(``assert(q == 7)`` can only fail, and says which question it was): is a state reached,
is a configuration of a state stuck (exits, none enabled), does an ``always`` property
fail. A configuration with nothing to do loops on itself, so no question is a deadlock.

An approval gate that counts a quorum or escalates
(:mod:`statewright.verify.explore.gates`) keeps, per counted trigger, a variable
``gv<k>`` of the approvals counted (an approve ``d_step`` counts one while the quorum is
not met, and takes its exit once it is) and, if it escalates, a flag ``ge<k>`` an
escalation ``d_step`` sets once; every step out of the gate clears them.

A spec with ``rollback:`` has its rollback steps modelled by a precomputed relation:
from a configuration (with ``max``, the rollbacks taken so far in a variable ``rb``) to
a configuration it may return to, the ``keep`` variables carried over and ``rb`` one
more. The relation is an argument (the tests pass one computed by a second
implementation of the definition, so that the explorer's ancestors are checked too);
without one, the explorer's own rollback edges are taken. It is written in one
``atomic`` step, not one ``d_step`` per edge (a configuration has a rollback to each of
its ancestors, so the edges grow with the square of the configurations: 212,038 at 50
stages of ``benchmarks/bench_rollback.py``'s pipeline, more than Spin's parser can
hold). What a rollback restores is the state and the variables outside ``keep``; the
configurations whose rollbacks restore the same set of those share a *group*. The step
first matches the configuration it leaves, one option per configuration, and sets a
hidden ``rg`` to its group; then picks, nondeterministically, one of the group's
targets (one option per target of each group), sets the restored parts, adds one to
``rb`` and clears ``rg``: 2,481 + 5,454 options at 50 stages. Spin stores no state
inside an ``atomic`` step and ``rg`` is hidden, so it still stores exactly one state
per configuration. A relation that does not carry ``keep`` over or count one rollback
per step cannot be written so: :class:`ValueError`.

Run ``spin -o2 -a``: Spin would otherwise drop a variable no guard reads from its states.
Steps whose effects leave their bounds are not modelled (the explorer does not take
them either, but reports them): compare only specs without ``out-of-range`` findings.

>>> from statewright.verify.load import load_text
>>> spec = load_text('''
... statewright: 1
... machine: counter
... initial: COUNTING
... variables: {n: {type: int, min: 0, max: 2, initial: 0}}
... states: {COUNTING: {}, DONE: {final: true}}
... transitions:
...   - {from: COUNTING, to: COUNTING, trigger: tick, when: n < 2, set: {n: n + 1}}
...   - {from: COUNTING, to: DONE, trigger: stop, when: n == 2}
... ''').spec
>>> model = promela(spec)
>>> [str(q) for q in model.questions]
['reached COUNTING', 'stuck COUNTING', 'reached DONE']
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from statewright.verify.explore.gates import Gates
from statewright.verify.expr import fold
from statewright.verify.model import (
    BinaryOp,
    Expr,
    Expression,
    PropertyKind,
    Spec,
    Transition,
    UnaryOp,
    Value,
    Variable,
    VarType,
)
from statewright.verify.semantics import Semantics

__all__ = ["Model", "Question", "Rollbacks", "answers", "promela"]

Configuration = tuple[str, tuple[Value, ...], int]
"""A state, the values of the variables in declaration order, and the rollbacks taken."""

Rollbacks = Mapping[Configuration, Collection[Configuration]]
"""Where each configuration may roll back to."""

Target = tuple[str, tuple[Value, ...]]
"""What a rollback restores: a state, and the variables outside ``keep`` in order."""


@dataclass(frozen=True, slots=True)
class Question:
    """What an assertion of the model asks: ``kind`` is ``reached``, ``stuck`` or
    ``violated``, about a state or a property; it fails with ``(q==number)``."""

    number: int
    kind: str
    about: str

    def __str__(self) -> str:
        return f"{self.kind} {self.about}"


@dataclass(frozen=True, slots=True)
class Model:
    """The Promela text of a spec and the questions its assertions ask."""

    text: str
    questions: tuple[Question, ...]


@dataclass(frozen=True, slots=True)
class _Promela:
    """Promela for each node (:class:`statewright.verify.expr.Algebra`): a variable ``v_name`` holds
    its stored number (a bool as 0 or 1, an enum as its value's index) and ``state`` the
    state's number."""

    states: Mapping[str, int]
    variables: Mapping[str, Variable]

    def literal(self, value: int | bool) -> str:
        return str(int(value))

    def enum_value(self, enum: str, member: str) -> str:
        return str(self.variables[enum].values.index(member))

    def state_name(self, name: str) -> str:
        return str(self.states[name])

    def ref(self, name: str) -> str:
        return f"v_{name}"

    def current_state(self) -> str:
        return "state"

    def unary(self, op: UnaryOp, operand: str) -> str:
        return f"!({operand})" if op == "not" else f"-({operand})"

    def binary(self, op: BinaryOp, left: str, right: str) -> str:
        spelled = {"and": "&&", "or": "||"}.get(op, op)
        return f"({left} {spelled} {right})"

    def member(self, operand: str, items: tuple[str, ...], negated: bool) -> str:
        found = " || ".join(f"{operand} == {item}" for item in items)
        return f"!({found})" if negated else f"({found})"


class _Writer:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.states = {s.name: i for i, s in enumerate(spec.states)}
        self.variables = {v.name: v for v in spec.variables}
        self.algebra = _Promela(self.states, self.variables)
        self.gates = Gates(spec)
        self.counters: dict[tuple[str, str], str] = {}
        """The variable of each gate's count, by state and trigger."""
        self.flags: dict[str, str] = {}
        """The variable of each escalating gate's flag, by state."""
        for state, gate in self.gates.by_state.items():
            for trigger in gate.counters:
                self.counters[state, trigger] = f"gv{len(self.counters)}"
            if gate.flag is not None:
                self.flags[state] = f"ge{len(self.flags)}"

    def gate_variables(self, state: str) -> list[str]:
        """The variables of ``state``'s gate (none outside a gate)."""
        found = [v for (s, _), v in self.counters.items() if s == state]
        return [*found, *([self.flags[state]] if state in self.flags else [])]

    def expr(self, tree: Expr) -> str:
        return fold(tree, self.algebra)

    def guard(self, when: Expression | None) -> str:
        return "1" if when is None else self.expr(when.tree)

    def step(self, t: Transition, before: list[str]) -> str:
        """``d_step { <enabled and the earlier ones not> -> effects; state = target }``;
        at a gate that counts ``t``'s approvals, one that counts it while the quorum is not
        met, and the exit once it is."""
        conditions = [f"state == {self.states[t.source]}", *before, self.guard(t.when)]
        if t.after is not None and t.source in self.flags:  # the escalation falls due first
            conditions.append(self.flags[t.source])
        counter = self.counters.get((t.source, t.trigger))
        n = next(n for n, u in enumerate(self.spec.transitions) if u is t)
        if counter is None or n not in self.gates.vote:
            return self._step(t, conditions)
        quorum = self.gates.by_state[t.source].quorum
        vote = [*conditions, f"{counter} < {quorum - 1}"]
        counted = f"  :: d_step {{ {' && '.join(vote)} -> {counter} = {counter} + 1 }}"
        return counted + "\n" + self._step(t, [*conditions, f"{counter} >= {quorum - 1}"])

    def _step(self, t: Transition, conditions: list[str]) -> str:
        body: list[str] = []
        for k, effect in enumerate(t.effects):
            variable = self.variables[effect.variable]
            value = self.expr(effect.value.tree)
            body.append(f"t{k} = {value}")
            if variable.type is VarType.INT:  # a step out of bounds is not modelled
                conditions += [f"{variable.minimum} <= {value}", f"{value} <= {variable.maximum}"]
        body += [f"v_{e.variable} = t{k}" for k, e in enumerate(t.effects)]
        body += [f"t{k} = 0" for k in range(len(t.effects))]
        body += [f"{v} = 0" for v in self.gate_variables(t.source)]
        body.append(f"state = {self.states[t.target]}")
        return f"  :: d_step {{ {' && '.join(conditions)} -> {'; '.join(body)} }}"


def _declaration(variable: Variable) -> str:
    initial = variable.initial
    if variable.type is VarType.BOOL:
        return f"bool v_{variable.name} = {'true' if initial else 'false'};"
    if variable.type is VarType.ENUM:
        return f"byte v_{variable.name} = {variable.values.index(str(initial))};"
    return f"int v_{variable.name} = {initial};"


def _encoded(variable: Variable, value: Value) -> int:
    if variable.type is VarType.ENUM:
        return variable.values.index(str(value))
    return int(value)


def _is(writer: _Writer, spec: Spec, config: Configuration) -> list[str]:
    state, values, taken = config
    tests = [f"state == {writer.states[state]}"]
    tests += [
        f"v_{v.name} == {_encoded(v, value)}"
        for v, value in zip(spec.variables, values, strict=True)
    ]
    return [*tests, f"rb == {taken}"] if spec.rollback_max is not None else tests


def _rollback_step(writer: _Writer, spec: Spec, relation: Rollbacks) -> list[str]:
    """The ``atomic`` step that takes every rollback of ``relation`` (none without one):
    match the configuration left and set ``rg`` to its group (one option per group),
    then take one of the group's targets (one option per target, open to the groups
    that hold it)."""
    keep = set(spec.rollback_keep)
    restored = [k for k, v in enumerate(spec.variables) if v.name not in keep]
    kept = [k for k, v in enumerate(spec.variables) if v.name in keep]
    counted = spec.rollback_max is not None
    groups: dict[frozenset[Target], list[str]] = {}  # a group's targets, its sources
    for source in sorted(relation, key=repr):
        _, values, taken = source
        targets: set[Target] = set()
        for target in relation[source]:
            state, after, count = target
            if any(after[k] != values[k] for k in kept) or count != (taken + 1 if counted else 0):
                raise ValueError(
                    f"a rollback from {source} to {target} does not carry keep over "
                    "or count one rollback"
                )
            targets.add((state, tuple(after[k] for k in restored)))
        if targets:
            is_source = " && ".join(_is(writer, spec, source))
            groups.setdefault(frozenset(targets), []).append(f"({is_source})")
    if not groups:
        return []
    numbered = {group: number for number, group in enumerate(groups, start=1)}
    leaves = [
        f"    :: {' || '.join(matches)} -> rg = {numbered[group]}"
        for group, matches in groups.items()
    ]
    holders: dict[Target, list[int]] = {}
    for group, number in numbered.items():
        for held in group:
            holders.setdefault(held, []).append(number)
    lands = []
    for (state, parts), numbers in sorted(holders.items(), key=repr):
        sets = [f"state = {writer.states[state]}"]
        sets += [
            f"v_{spec.variables[k].name} = {_encoded(spec.variables[k], value)}"
            for k, value in zip(restored, parts, strict=True)
        ]
        lands.append(f"    :: {' || '.join(f'rg == {n}' for n in numbers)} -> {'; '.join(sets)}")
    counter = ["    rb = rb + 1;"] if counted else []
    return [
        "  :: atomic {",
        "    if",
        *leaves,
        "    fi;",
        "    if",
        *lands,
        "    fi;",
        *counter,
        "    rg = 0",
        "  }",
    ]


def explored_rollbacks(spec: Spec) -> dict[Configuration, list[Configuration]]:
    """The explorer's rollback edges, as a relation for :func:`promela`."""
    from statewright.verify.explore import explore

    found = explore(spec)
    search, bits = found.found, found.layout.bits
    rollback = len(spec.transitions)

    def config(i: int) -> Configuration:
        state, values = found.unpack(i)
        return state, values, search.order[i] >> bits

    relation: dict[Configuration, list[Configuration]] = {}
    for i in range(len(found)):
        for e in search.edges(i):
            if search.via[e] == rollback:
                relation.setdefault(config(i), []).append(config(search.succ[e]))
    return relation


def promela(spec: Spec, questions: bool = True, rollbacks: Rollbacks | None = None) -> Model:
    """The Promela model of ``spec`` (with its questions, unless ``questions`` is false);
    a spec with ``rollback:`` takes the rollbacks of ``rollbacks`` (default: the
    explorer's)."""
    writer = _Writer(spec)
    semantics = Semantics.of(spec)
    temps = max((len(t.effects) for t in spec.transitions), default=0)
    lines = [
        f"/* {spec.machine}: written by statewright to cross-check its exploration */",
        f"short state = {writer.states[spec.initial]};",
        *(_declaration(v) for v in spec.variables),
        *(f"hidden int t{k};" for k in range(temps)),
        *(["byte rb = 0;"] if spec.rollback is not None and spec.rollback_max is not None else []),
        *(["hidden int rg;"] if spec.rollback is not None else []),
        *(f"byte {v} = 0;" for v in writer.counters.values()),
        *(f"bool {v} = false;" for v in writer.flags.values()),
        "hidden byte q;",
        "active proctype machine() {",
        "  do",
    ]
    asked: list[Question] = []

    def ask(kind: str, about: str, condition: str) -> None:
        question = Question(len(asked) + 1, kind, about)
        asked.append(question)
        lines.append(f"  :: d_step {{ {condition} -> assert(q == {question.number}) }}")

    for state in spec.states:
        number = writer.states[state.name]
        automatic = semantics.always.get(state.name, ())
        earlier: list[str] = []
        for t in automatic:
            lines.append(writer.step(t, list(earlier)))
            earlier.append(f"!({writer.guard(t.when)})")
        anything = " || ".join(writer.guard(t.when) for t in automatic) or "0"
        for group in semantics.choices[state.name].values():
            before = [f"!({anything})"]
            for t in group:
                lines.append(writer.step(t, list(before)))
                before.append(f"!({writer.guard(t.when)})")
        flag = writer.flags.get(state.name)
        if flag is not None:  # the escalation, once, at rest in the gate
            lines.append(
                f"  :: d_step {{ state == {number} && !({anything}) && !{flag} -> {flag} = true }}"
            )
        exits = [t for t in spec.transitions if t.source == state.name]
        enabled = " || ".join(writer.guard(t.when) for t in exits) or "0"
        lines.append(f"  :: d_step {{ state == {number} && !({enabled}) -> skip }}")
        if questions:
            ask("reached", state.name, f"state == {number}")
            if exits and not state.final and all(t.when is not None for t in exits):
                ask("stuck", state.name, f"state == {number} && !({enabled})")
    if spec.rollback is not None:
        relation = explored_rollbacks(spec) if rollbacks is None else rollbacks
        lines += _rollback_step(writer, spec, relation)
    for prop in spec.properties if questions else ():
        if prop.kind is PropertyKind.ALWAYS and prop.invariant is not None:
            ask("violated", prop.name, f"!({writer.guard(prop.invariant)})")
    lines += ["  od", "}"]
    return Model("\n".join(lines) + "\n", tuple(asked))


def answers(output: str, model: Model) -> Mapping[str, set[str]]:
    """What Spin's ``pan -c0 -e`` output says: for each kind of question, the states or
    properties whose assertion failed."""
    failed = {q.number: q for q in model.questions}
    found: dict[str, set[str]] = {"reached": set(), "stuck": set(), "violated": set()}
    for line in output.splitlines():
        if "assertion violated (q==" in line:
            number = int(line.split("(q==", 1)[1].split(")", 1)[0])
            question = failed[number]
            found[question.kind].add(question.about)
    return found
