"""The view models of a machine's generated modules: what the templates print, as data.

:func:`runtime_view` is what ``runtime.py.jinja`` prints and :func:`tests_view` what
``test_machine.py.jinja`` prints. A view holds names (from :mod:`statewright.generator.naming`),
literals, numbers and the spec's prose, in spec order; it holds no code and no sentences.
The templates write both: the module's shape, its docstrings (through the ``docstring``
filter, which escapes and wraps them) and every import the module could need, which ``ruff``
(:mod:`statewright.generator.format`) prunes, sorts and lays out.

Each distinct guard and effect becomes one function, named by what it computes
(``_when_attempts_lt_3``, ``_set_attempts_plus_1``): a name depends on its own body alone, so
adding a transition renames no other (:func:`statewright.generator.naming.function_names`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from statewright.generator import __version__
from statewright.generator.naming import (
    ENUM_NAMES,
    HANDLERS_CLASS,
    LINE_LENGTH,
    block_literal,
    class_name,
    enum_member,
    function_names,
    method_names,
    string_lines,
    string_literal,
    words_of,
)
from statewright.generator.pyexpr import python_of, python_of_value
from statewright.verify.model import (
    AUTOMATIC_TRIGGER,
    Duration,
    Migration,
    Spec,
    State,
    Transition,
    Variable,
    VarType,
)

__all__ = [
    "SUPPORT_PACKAGE",
    "USER_NAMES",
    "Code",
    "Field",
    "Function",
    "Member",
    "Row",
    "RuntimeView",
    "TestsView",
    "TriggerView",
    "runtime_view",
    "tests_view",
    "timedelta_parts",
]

SUPPORT_PACKAGE = "_statewright"
"""The folder, beside the machine packages, that the runtime support is copied into."""

USER_NAMES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("who acts and what the audit log keeps", ("Actor", "AuditRecord", "Event", "FailureSnapshot")),
    (
        "what runs its handlers",
        (
            "AsyncRunner",
            "Fire",
            "HandlerFailed",
            "HandlerTimeout",
            "Job",
            "Outbox",
            "Retry",
            "Runner",
            "Worker",
        ),
    ),
    (
        "the refusals",
        (
            "Cancelled",
            "InvalidTransition",
            "Locked",
            "OutOfBounds",
            "Refused",
            "RollbackLimit",
            "StaleDecision",
            "Unauthorized",
        ),
    ),
    (
        "the stores and the errors of their instances",
        ("ConcurrencyConflict", "InstanceExists", "MemoryStore", "SqlStore", "UnknownInstance"),
    ),
    (
        "a store's other errors (a broken log, a lost lease, another spec version)",
        ("BadMigration", "ChainBroken", "LeaseLost", "SpecMismatch", "StoreError"),
    ),
    ("the limits of the JSON it keeps", ("MAX_JSON_BYTES", "MAX_JSON_DEPTH")),
)
"""What a generated module re-exports of the runtime support, by what it is to a user of
the machine; everything else stays in ``_statewright`` (the engine's base classes, the
declarations a module makes of its machine, the store's protocols)."""


@dataclass(frozen=True, slots=True)
class Member:
    """One enum member: its name, its value as a literal and its description (prose)."""

    name: str
    value: str
    description: str


@dataclass(frozen=True, slots=True)
class TriggerView:
    """One trigger: its enum member, its typed method (``None``: automatic, no method)
    and its transitions, each an arrow such as ``A -> B [x < 3] / x = x + 1``.

    ``kind`` is what sets it apart (``"human"``, ``"timed"``, ``"human and timed"``,
    ``"automatic"`` or ``""``); ``human`` is ``"always"`` (its method requires an actor
    and a decision), ``"sometimes"`` (optional) or ``"never"``.
    """

    name: str
    member: Member
    method: str | None
    kind: str
    human: str
    timed: bool
    arrows: tuple[str, ...]
    descriptions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Code:
    """A guard or effect in the transition table: its source as written (literal pieces,
    an implicit concatenation when long) and the function that computes it."""

    text: tuple[str, ...]
    function: str


@dataclass(frozen=True, slots=True)
class Row:
    """One transition of the table: states, trigger and reason by member name, the timer
    as ``timedelta`` keyword arguments."""

    source: str
    trigger: str
    target: str
    human: bool
    after: tuple[tuple[str, int], ...]
    reason: str | None
    when: Code | None = None
    effect: Code | None = None


@dataclass(frozen=True, slots=True)
class PolicyView:
    """An approval state's policy as the kernel's ``Policy`` takes it: the state by member
    name, roles and separations as literals, the escalation delay as ``timedelta``
    keyword arguments (empty without one)."""

    state: str
    quorum: int
    separate_from: tuple[str, ...]
    escalate_after: tuple[tuple[str, int], ...]
    escalate_to: tuple[str, ...]
    bind: bool


@dataclass(frozen=True, slots=True)
class Field:
    """One variable: a field of the generated ``Variables``, and its declaration.

    ``kind`` is ``int`` (from ``minimum`` to ``maximum``), ``bool`` or ``enum`` (one of
    ``values``, literals); ``default`` is the initial value as a literal.
    """

    name: str
    kind: str
    default: str
    description: str
    minimum: int = 0
    maximum: int = 0
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Function:
    """A compiled guard (``body`` is the test) or effect (``assignments`` give the new
    values, by variable), once per distinct body, named by what it computes."""

    name: str
    body: str = ""
    assignments: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class RuntimeView:
    """Everything the runtime template needs, for one spec: names, literals and prose
    from the spec, in spec order; the template writes the code and its prose."""

    machine: str
    class_name: str
    enums: tuple[str, str, str]
    support: str
    exports: tuple[str, ...]
    user_names: tuple[tuple[str, tuple[str, ...]], ...]
    file: str
    sha256: str
    version: str
    description: str
    renamed: tuple[tuple[str, str], ...]
    states: tuple[Member, ...]
    triggers: tuple[TriggerView, ...]
    reasons: tuple[Member, ...]
    initial: str
    transitions: tuple[Row, ...]
    approval: tuple[str, ...]
    failed: tuple[str, ...]
    reviewers: tuple[tuple[str, tuple[str, ...]], ...]
    recovery: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]
    rollback: tuple[str, ...] | None
    handlers_class: str
    rollback_keep: tuple[str, ...] = ()
    rollback_max: int | None = None
    variables: tuple[Field, ...] = ()
    policies: tuple[PolicyView, ...] = ()
    guards: tuple[Function, ...] = ()
    effects: tuple[Function, ...] = ()
    migrations: tuple[str, ...] = ()
    """Each of the spec's ``migrations`` as the ``MigrationSpec(...)`` that declares it."""


def runtime_view(spec: Spec) -> RuntimeView:
    """The view model of ``spec``'s runtime module."""
    cls = class_name(spec.machine)
    methods = method_names(t for t in spec.triggers if t != AUTOMATIC_TRIGGER)
    guards = _guards(spec)
    effects = _effects(spec)
    return RuntimeView(
        machine=spec.machine,
        class_name=cls,
        enums=ENUM_NAMES,
        support=SUPPORT_PACKAGE,
        exports=_exports((*ENUM_NAMES, cls, HANDLERS_CLASS)),
        user_names=USER_NAMES,
        file=spec.file,
        sha256=spec.sha256,
        version=__version__,
        description=spec.description or "",
        renamed=tuple((t, m) for t, m in methods.items() if t != m),
        states=tuple(_member(s.name, s.description) for s in spec.states),
        triggers=tuple(_trigger(spec, t, methods.get(t)) for t in spec.triggers),
        reasons=tuple(_member(r.name, r.description) for r in spec.reasons),
        initial=enum_member(spec.initial),
        transitions=tuple(_row(t, guards, effects) for t in spec.transitions),
        variables=tuple(_field(v) for v in spec.variables),
        guards=tuple(Function(name, body=body) for body, name in guards.items()),
        effects=tuple(Function(name, assignments=key) for key, name in effects.items()),
        approval=tuple(enum_member(s.name) for s in spec.states if s.is_approval),
        failed=tuple(enum_member(s.name) for s in spec.states if s.is_failed),
        reviewers=tuple(
            (enum_member(s.name), tuple(map(string_literal, s.reviewers)))
            for s in spec.states
            if s.reviewers
        ),
        recovery=tuple(
            (
                enum_member(r.name),
                tuple(tuple(string_lines(step, LINE_LENGTH - 16)) for step in r.recovery),
            )
            for r in spec.reasons
        ),
        rollback=None if spec.rollback is None else tuple(map(string_literal, spec.rollback)),
        handlers_class=HANDLERS_CLASS,
        migrations=tuple(map(_migration, spec.migrations)),
        policies=tuple(_policy(s) for s in spec.states if s.is_approval and s.policy),
        rollback_keep=tuple(map(string_literal, spec.rollback_keep)),
        rollback_max=spec.rollback_max,
    )


def _policy(state: State) -> PolicyView:
    policy = state.policy
    assert policy is not None
    escalation = policy.escalate
    return PolicyView(
        state=enum_member(state.name),
        quorum=policy.quorum or 1,
        separate_from=tuple(sorted(string_literal(s.name) for s in policy.separate_from)),
        escalate_after=() if escalation is None else timedelta_parts(escalation.after),
        escalate_to=() if escalation is None else tuple(sorted(map(string_literal, escalation.to))),
        bind=policy.bind == "context",
    )


def _migration(migration: Migration) -> str:
    """``MigrationSpec("3b76db81", states={...}, values={...}, drop=(...))``."""
    parts = [string_literal(migration.source)]
    if migration.states:
        pairs = (f"{string_literal(a)}: {string_literal(b)}" for a, b in migration.states)
        parts.append(f"states={{{', '.join(pairs)}}}")
    if migration.values:
        pairs = (f"{string_literal(n)}: {python_of_value(v)}" for n, v in migration.values)
        parts.append(f"values={{{', '.join(pairs)}}}")
    if migration.drop:
        parts.append(f"drop=({''.join(string_literal(n) + ', ' for n in migration.drop)})")
    return f"MigrationSpec({', '.join(parts)})"


def _exports(names: Sequence[str]) -> tuple[str, ...]:
    """A module's own names in ``__all__``, in the order ruff keeps it: constants,
    classes, then functions."""

    def order(name: str) -> tuple[int, str]:
        rank = 0 if name.isupper() else 1 if name[0].isupper() else 2
        return rank, name

    return tuple(sorted({"SOURCE", "SOURCE_SHA256", *names}, key=order))


def _member(name: str, description: str | None) -> Member:
    return Member(enum_member(name), string_literal(name), description or "")


_TIMEDELTA_UNITS = {
    "d": ("days", 86_400),
    "h": ("hours", 3_600),
    "m": ("minutes", 60),
    "s": ("seconds", 1),
}
_DURATION_PART = re.compile(r"([0-9]+)([dhms])")


def timedelta_parts(duration: Duration) -> tuple[tuple[str, int], ...]:
    """``duration`` as ``timedelta`` keyword arguments in the units the spec wrote it in.

    >>> timedelta_parts(Duration("72h", 259_200)), timedelta_parts(Duration("1h30m", 5_400))
    ((('hours', 72),), (('hours', 1), ('minutes', 30)))

    A text that does not spell out its seconds in d, h, m and s parts gives the largest
    whole unit that holds them exactly:

    >>> timedelta_parts(Duration("three days", 259_200))
    (('days', 3),)
    """
    written = _DURATION_PART.findall(duration.text)
    parts = [(int(count), *_TIMEDELTA_UNITS[unit]) for count, unit in written]
    spelled = "".join(count + unit for count, unit in written)
    if spelled != duration.text or sum(n * size for n, _, size in parts) != duration.seconds:
        name, size = next(u for u in _TIMEDELTA_UNITS.values() if duration.seconds % u[1] == 0)
        parts = [(duration.seconds // size, name, size)]
    return tuple((name, n) for n, name, _ in parts)


def _row(
    transition: Transition, guards: Mapping[str, str], effects: Mapping[Assignments, str]
) -> Row:
    when = transition.when
    effects_text = "; ".join(str(e) for e in transition.effects)
    return Row(
        source=enum_member(transition.source),
        trigger=enum_member(transition.trigger),
        target=enum_member(transition.target),
        human=transition.human,
        after=() if transition.after is None else timedelta_parts(transition.after),
        reason=None if transition.reason is None else enum_member(transition.reason),
        when=None if when is None else Code(_text(when.text), guards[python_of(when.tree)]),
        effect=(
            None
            if not transition.effects
            else Code(_text(effects_text), effects[_assignments(transition)])
        ),
    )


def _text(text: str) -> tuple[str, ...]:
    """A guard's or an effect's source as literal pieces that fit in the transition table
    (deep in it: one piece a line, once it is long)."""
    return tuple(string_lines(text, LINE_LENGTH - 30))


def _guards(spec: Spec) -> dict[str, str]:
    """The name of each distinct guard, by its Python body, in spec order."""
    meanings: dict[str, tuple[str, ...]] = {}
    for t in spec.transitions:
        if t.when is not None:
            meanings.setdefault(python_of(t.when.tree), words_of(t.when.tree))
    return function_names("_when", meanings)


Assignments = tuple[tuple[str, str], ...]
"""An effect as its assignments: each variable and the Python computing its new value."""


def _assignments(transition: Transition) -> Assignments:
    return tuple((e.variable, python_of(e.value.tree)) for e in transition.effects)


def _effect_words(transition: Transition) -> tuple[str, ...]:
    """``attempts = attempts + 1; done = true`` as ``attempts plus 1 and done true``."""
    words: list[str] = []
    for effect in transition.effects:
        value = words_of(effect.value.tree)
        if words:
            words.append("and")
        words.extend(value if value[:1] == (effect.variable,) else (effect.variable, *value))
    return tuple(words)


def _effects(spec: Spec) -> dict[Assignments, str]:
    """The name of each distinct effect, by its assignments, in spec order."""
    found: dict[Assignments, tuple[str, ...]] = {}
    for t in spec.transitions:
        if t.effects:
            found.setdefault(_assignments(t), _effect_words(t))
    bodies = {", ".join(f"{name}={value}" for name, value in key): key for key in found}
    names = function_names("_set", {body: found[key] for body, key in bodies.items()})
    return {key: names[body] for body, key in bodies.items()}


def _field(variable: Variable) -> Field:
    default = python_of_value(variable.initial)
    if variable.type is VarType.INT:
        return Field(
            variable.name,
            "int",
            default,
            f"{variable.description or ''}\n\nFrom {variable.minimum} to {variable.maximum}.",
            variable.minimum,
            variable.maximum,
        )
    if variable.type is VarType.BOOL:
        return Field(variable.name, "bool", default, variable.description or "")
    values = tuple(string_literal(value) for value in variable.values)
    return Field(variable.name, "enum", default, variable.description or "", values=values)


def _arrow(t: Transition) -> str:
    """``A -> B [attempts < 3] / attempts = attempts + 1``: a transition, its guard and
    its effects."""
    guard = f" [{t.when.text}]" if t.when is not None else ""
    effects = f" / {'; '.join(map(str, t.effects))}" if t.effects else ""
    return f"{t.source} -> {t.target}{guard}{effects}"


def _trigger(spec: Spec, trigger: str, method: str | None) -> TriggerView:
    transitions = [t for t in spec.transitions if t.trigger == trigger]
    humans = [t.human for t in transitions]
    timed = any(t.timed for t in transitions)
    if trigger == AUTOMATIC_TRIGGER:
        kind = "automatic"
    else:
        kind = " and ".join(
            word for word, present in (("human", any(humans)), ("timed", timed)) if present
        )
    return TriggerView(
        name=trigger,
        member=_member(trigger, None),
        method=None if trigger == AUTOMATIC_TRIGGER else method,
        kind=kind,
        human="always" if all(humans) else "sometimes" if any(humans) else "never",
        timed=timed,
        arrows=tuple(map(_arrow, transitions)),
        descriptions=tuple(dict.fromkeys(t.description for t in transitions if t.description)),
    )


# -- the generated test module ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TestsView:
    """Everything the test template needs, for one spec: ``spec_text`` is the spec's
    source as one block literal (:func:`statewright.generator.naming.block_literal`)."""

    __test__ = False  # not a pytest class

    machine: str
    class_name: str
    harness_class: str
    file: str
    sha256: str
    version: str
    spec_text: str


def tests_view(spec: Spec, text: str) -> TestsView:
    """The view model of ``spec``'s generated test module; ``text`` is the spec's source,
    which the module embeds so that it needs nothing but itself and the runtime."""
    cls = class_name(spec.machine)
    return TestsView(
        machine=spec.machine,
        class_name=cls,
        harness_class=f"{cls}AgainstSpec",
        file=spec.file,
        sha256=spec.sha256,
        version=__version__,
        spec_text=block_literal(text, LINE_LENGTH),
    )
