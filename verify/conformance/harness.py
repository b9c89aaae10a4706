"""The conformance harness: property-test any implementation of a machine against its spec.

For a pipeline statewright did not generate (written by hand, or on another framework),
write an *adapter* that tells the harness how to create an instance, fire a trigger and
read the state (and, if the implementation has them, read the audit log and expire
timeouts). :func:`conformance_test` builds from the spec, at run time, a hypothesis
``RuleBasedStateMachine`` that drives the implementation and the spec's reference
semantics (:mod:`statewright.verify.semantics`, the same that drives the checker) side by side::

    from statewright.verify.conformance import conformance_test
    from statewright.verify.load import load_file

    spec = load_file("specs/orchestrator.yaml").spec
    TestOrchestrator = conformance_test(spec, MyAdapter()).TestCase   # collected by pytest

Its rules, named after the spec's triggers so that a failing example reads as a story:

- ``start_in(state)``: each run starts in a state drawn from those the machine can rest
  in, reached by its shortest path from the initial state, so runs begin anywhere.
- ``fire_<trigger>``: a trigger the current state declares; a human trigger is fired by
  an actor holding one of its reviewer roles, and accepted exactly as the spec says.
- ``try_<trigger>_unauthorised``: a declared human trigger fired by anyone else (the
  other reviewer roles, an outsider, nobody); it must raise :class:`Unauthorized`.
- ``refuse_undeclared_triggers``: every trigger the current state does not declare is
  tried in turn; each must raise :class:`InvalidTransition` and change nothing.
- ``wait_for_<trigger>`` and ``wait_until_just_before_<trigger>`` (adapters with
  ``expire``): the injected clock moves to the timed transition's deadline (or a little
  past it), or to one second before it, then ``expire`` must take it, or do nothing.
- ``time_passes``: the clock moves on by a duration drawn from around the spec's
  timeouts, then ``expire`` must do exactly what the spec says (often nothing).
- ``roll_back`` and ``roll_back_past_a_change`` (adapters with ``rollback``,
  :class:`RollbackConformance`, below): back to an earlier record, held to
  :mod:`~statewright.verify.conformance.rollback`'s definition. For a spec with
  ``rollback:`` and an adapter without it, the harness warns once
  (:class:`RollbackNotExercised`).

Invariants, checked after every step: the state matches the spec's; the audit log (when
the adapter reads one) is the spec's log, gap-free and chained (each record's from-state
is the previous record's to-state); an approval gate holds still while it holds.

The adapter signals a refusal by raising :class:`InvalidTransition` or :class:`Unauthorized`
(a plain :class:`Refused` is accepted for either); any other exception fails the test.
"""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar, cast

from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, precondition, rule

from statewright.verify.conformance import rollback as rollbacks
from statewright.verify.conformance.adapters import (
    Actor,
    Adapter,
    AuditedAdapter,
    AuditEntry,
    Clock,
    InvalidTransition,
    ManualClock,
    Refused,
    RollbackAdapter,
    TimedAdapter,
    Unauthorized,
    VariablesAdapter,
)
from statewright.verify.model import Spec
from statewright.verify.semantics import Entry, Outcome, Run, Semantics, Values

__all__ = [
    "Actor",
    "Adapter",
    "AuditEntry",
    "AuditedAdapter",
    "Clock",
    "ConformanceMachine",
    "InvalidTransition",
    "ManualClock",
    "Refused",
    "RollbackConformance",
    "RollbackNotExercised",
    "TimedAdapter",
    "Unauthorized",
    "VariablesAdapter",
    "conformance_test",
    "intruders",
    "reviewers",
    "rollback_cast",
]

M = TypeVar("M")
Rule = Callable[..., None]

LATE_BY_SECONDS = (0, 1, 3600)
"""How far past a deadline ``wait_for_<trigger>`` moves the clock (0: exactly on it)."""


class RollbackNotExercised(UserWarning):
    """The spec allows rollback, but the adapter has no ``rollback``: the harness tests
    everything else and says so once, when the test is built."""


def conformance_test(
    spec: Spec,
    adapter: Adapter[M],
    *,
    settings: Settings | None = None,
    base: type[ConformanceMachine] | None = None,
    name: str | None = None,
) -> type[ConformanceMachine]:
    """A ``RuleBasedStateMachine`` testing ``adapter``'s implementation against ``spec``.

    ``spec`` should check clean. Run the result with ``run_state_machine_as_test`` or
    collect its ``.TestCase`` with pytest or unittest; ``settings`` (for example
    ``settings(max_examples=200)``) applies to both. ``base`` is the class the rules are
    added to: a subclass of :class:`ConformanceMachine` with rules and invariants of its
    own (the generated runtimes' tests use :mod:`statewright.verify.conformance.runtime`'s);
    ``name`` the class's name, as failing examples print it. An adapter with
    ``rollback`` (:class:`RollbackAdapter`) gets the rollback rules of
    :class:`RollbackConformance` unless ``base``
    brings its own.
    """
    semantics = Semantics.of(spec)
    namespace: dict[str, object] = {
        "__doc__": f"Conformance of an implementation of {spec.machine!r} to {spec.file}.",
        "semantics": semantics,
        "adapter": adapter,
        "audited": isinstance(adapter, AuditedAdapter),
    }
    manual = dict.fromkeys(t for exits in semantics.manual.values() for t in exits)
    for trigger in manual:
        namespace.update(_fire_rules(semantics, trigger))
    namespace["refuse_undeclared_triggers"] = _refuse_rule(semantics)
    namespace["start_in"] = _start_rule(semantics)
    if isinstance(adapter, TimedAdapter) and semantics.timed:
        for trigger in dict.fromkeys(found[0].trigger for found in semantics.timed.values()):
            namespace[f"wait_for_{trigger}"] = _wait_for_rule(trigger)
            namespace[f"wait_until_just_before_{trigger}"] = _just_before_rule(trigger)
        namespace["time_passes"] = _time_passes_rule(semantics.waits())
    name = name or "".join(part.capitalize() for part in spec.machine.split("_")) + "Conformance"
    parent = base or _default_base(adapter)
    namespace.update(parent.rules_for(semantics))
    if spec.rollback and not parent.rolls_back:
        warnings.warn(
            f"{spec.file}: the spec allows rollback (rollback: {{reviewers: "
            f"[{', '.join(spec.rollback)}]}}), but {type(adapter).__name__} has no "
            "rollback(machine, to_seq, actor, decision): rollback steps are not exercised",
            RollbackNotExercised,
            stacklevel=2,
        )
    machine = cast(type[ConformanceMachine], type(name, (parent,), namespace))
    if settings is not None:
        machine = settings(machine)
    return machine


def _default_base(adapter: Adapter[M]) -> type[ConformanceMachine]:
    if not isinstance(adapter, RollbackAdapter):
        return ConformanceMachine
    return RollbackConformance


class ConformanceMachine(RuleBasedStateMachine):
    """Drives one implementation and a run of the spec's semantics side by side.

    Subclasses are built by :func:`conformance_test`; the rules are added there.
    ``fired`` counts every transition the runs took, by (source, trigger, target), for
    coverage reports; ``rolls_back`` says whether the class drives rollbacks.
    """

    semantics: ClassVar[Semantics]
    adapter: ClassVar[Any]
    audited: ClassVar[bool]
    fired: ClassVar[Counter[tuple[str, str, str]]] = Counter()
    rolls_back: ClassVar[bool] = False

    @classmethod
    def rules_for(cls, semantics: Semantics) -> dict[str, Rule]:
        """Rules of the class's own drawn from the spec, added by :func:`conformance_test`
        (none here)."""
        return {}

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.machine = self.adapter.create(self.clock)
        self.model = Run(self.semantics, self.clock())
        self.counted = 0
        self.last_step = "creation"
        self.gate: tuple[int, tuple[str, int]] | None = None
        self.check()

    # -- what the rules do --------------------------------------------------------

    def fire(self, step: str, trigger: str, actor: Actor | None) -> None:
        """Fire ``trigger`` on both sides and insist on the outcome the spec gives."""
        self.last_step = step
        roles = None if actor is None else actor.roles
        source = self.model.state
        who = None if actor is None else actor.id
        expected = self.model.outcome(trigger, roles, self.clock(), who)
        decision = trigger if self._is_human(trigger) else None
        try:
            self.adapter.fire(self.machine, trigger, actor, decision)
        except Refused as refusal:
            if expected is Outcome.ACCEPTED or not _same_refusal(refusal, expected):
                raise AssertionError(
                    f"{step}: in {source} the spec says {_say(expected)} "
                    f"{trigger!r}{_by(actor)}, but the implementation refused it with "
                    f"{type(refusal).__name__}: {refusal}"
                ) from refusal
            self._unchanged_after_refusal(step, trigger)
            self.check()
            return
        if expected is not Outcome.ACCEPTED:
            raise AssertionError(
                f"{step}: in {source} the spec says {_say(expected)} {trigger!r}"
                f"{_by(actor)} ({self._why(expected)}), but the implementation accepted it"
            )
        self.model.fire(trigger, roles, None if actor is None else actor.id, self.clock())
        self.check()

    def _unchanged_after_refusal(self, step: str, trigger: str) -> None:
        state = self.adapter.state(self.machine)
        expected = self.expected_records()
        logged = len(self._audit()) if self.audited else expected
        if state != self.model.state or logged != expected:
            raise AssertionError(
                f"{step}: the implementation refused {trigger!r} but changed anyway: "
                f"now in {state} with {logged} audit records, "
                f"the spec says {self.model.state} with {expected}"
            )

    def expected_records(self) -> int:
        """How many audit records the implementation should hold now."""
        return len(self.expected_log())

    def expected_log(self) -> Sequence[Entry]:
        """The records the implementation's audit log should hold now, oldest first."""
        return self.model.log

    def follow(self, path: tuple[str, ...], step: str) -> None:
        """Fire a path of triggers (a timed one: wait for it), each one taken as declared."""
        for number, trigger in enumerate(path, start=1):
            where = f"{step} {number} ({trigger})"
            timed = self.model.timed_exit
            if timed is not None and timed.trigger == trigger:
                self.clock.now = self.deadline()
                self.expire(where)
                continue
            people = reviewers(self.semantics, trigger)
            taken = len([e for e in self.model.log if e.transition is not None])
            while True:  # at a gate with a quorum: distinct reviewers until it is met
                now = self.clock()
                roles = [
                    a
                    for a in people
                    if self.model.outcome(trigger, a.roles, now, a.id) is Outcome.ACCEPTED
                ]
                self.fire(where, trigger, roles[0] if roles else None)
                steps = len([e for e in self.model.log if e.transition is not None])
                if steps > taken or not roles:
                    break

    def expire(self, step: str) -> None:
        """Call ``expire`` on both sides at the clock's current time."""
        self.last_step = f"{step} (clock at {self.clock.now.isoformat()})"
        self.adapter.expire(self.machine)
        self.model.expire(self.clock())
        self.check()

    def deadline(self) -> datetime:
        """The spec's deadline for the current state's timed exit (rules check there is one)."""
        deadline = self.model.deadline
        assert deadline is not None, "a timed rule ran in a state without a timed exit"
        return deadline

    def _is_human(self, trigger: str) -> bool:
        transition = self.model.candidate(trigger)
        return transition is not None and transition.human

    def _why(self, expected: Outcome) -> str:
        if expected is Outcome.UNAUTHORISED:
            return f"reviewers: {', '.join(sorted(self.semantics.reviewers[self.model.state]))}"
        if expected is Outcome.BLOCKED:
            data = self.semantics.data
            return f"no guard holds with {data.show(self.model.values)}"
        allowed = sorted(t.trigger for t in self.semantics.exits(self.model.state))
        return f"allowed here: {', '.join(allowed) or 'nothing'}"

    def _audit(self) -> Sequence[AuditEntry]:
        return cast(Sequence[AuditEntry], self.adapter.audit(self.machine))

    # -- invariants ---------------------------------------------------------------

    def check(self) -> None:
        """The invariants, run at the end of every rule (so failing examples list rules only)."""
        for entry in self.model.log[self.counted :]:
            self.fired[entry.source, entry.trigger, entry.target] += 1
        self.counted = len(self.model.log)
        state = str(self.adapter.state(self.machine))
        records = self._audit() if self.audited else None
        self.approval_gate_holds_still(state, records)
        self.state_matches_spec(state)
        if isinstance(self.adapter, VariablesAdapter):
            self.variables_match_spec(self.adapter.variables(self.machine))
        if records is not None:
            self.audit_is_chained_and_matches_spec(records)

    def variables_match_spec(self, values: Mapping[str, object]) -> None:
        expected = self.semantics.data.scope(self.model.values)
        if dict(values) != expected:
            raise AssertionError(
                f"after {self.last_step}: the implementation's variables are {dict(values)}, "
                f"the spec says {expected}{_recent(self.expected_log())}"
            )

    def state_matches_spec(self, state: str) -> None:
        if state != self.model.state:
            raise AssertionError(
                f"after {self.last_step}: the implementation is in {state}, "
                f"the spec says {self.model.state}{_recent(self.expected_log())}"
            )

    def audit_is_chained_and_matches_spec(self, records: Sequence[AuditEntry]) -> None:
        problem = _chain_problem(records, self.semantics.initial) or _log_problem(
            records, self.expected_log()
        )
        if problem:
            raise AssertionError(f"after {self.last_step}: audit log: {problem}")

    def approval_gate_holds_still(self, state: str, records: Sequence[AuditEntry] | None) -> None:
        gate = self.model.state
        if not self.semantics.spec.state(gate).is_approval:
            self.gate = None
            return
        seen = (state, 0 if records is None else len(records))
        if self.gate is None or self.gate[0] != len(self.model.log):
            self.gate = (len(self.model.log), seen)
        elif seen != self.gate[1]:
            deadline = self.model.deadline
            raise AssertionError(
                f"after {self.last_step}: {gate} is an approval gate and must hold still "
                f"until a human acts or its deadline ({deadline and deadline.isoformat()}) "
                f"passes; the implementation went from {_seen(self.gate[1])} to {_seen(seen)}"
            )


# -- rule builders --------------------------------------------------------------------


def reviewers(semantics: Semantics, trigger: str) -> tuple[Actor, ...]:
    """An actor for each role that may take a human trigger where it is declared; where a
    gate with a policy declares it, one more than its quorum for each role (so a quorum
    can be met, and an actor counted twice or separated is tried too)."""
    policies = [node.policy for node in _gates(semantics, trigger)]
    count = max((p.quorum + 1 for p in policies if p is not None), default=1)
    return tuple(
        Actor(f"{role}-{n}", (role,))
        for n in range(1, count + 1)
        for role in semantics.roles_for(trigger)
    )


def intruders(semantics: Semantics, trigger: str) -> tuple[Actor | None, ...]:
    """Who must be turned away from a human trigger: other roles (those an escalation
    adds among them, accepted once it is due), an outsider, nobody."""
    own = set(semantics.roles_for(trigger))
    widened = {
        role
        for node in _gates(semantics, trigger)
        if node.policy is not None
        for role in node.policy.escalate_to
    }
    roles = sorted(set(semantics.roles) | widened)
    people = [Actor(f"{role}-1", (role,)) for role in roles if role not in own]
    return (*people, Actor("outsider", ()), None)


def _gates(semantics: Semantics, trigger: str) -> list[Any]:
    """The kernel's nodes of the states that name ``trigger`` as an exit."""
    return [node for node in semantics.nodes.values() if trigger in node.exits]


def _named(function: Rule, name: str) -> Rule:
    function.__name__ = function.__qualname__ = name
    return function


def _fire_rules(semantics: Semantics, trigger: str) -> dict[str, Rule]:
    """``fire_<trigger>``; for a human trigger by its reviewers, and ``try_<trigger>_
    unauthorised`` by everyone else."""

    def declared(self: ConformanceMachine) -> bool:
        return trigger in self.semantics.manual[self.model.state]

    name = f"fire_{trigger}"
    people = reviewers(semantics, trigger)
    if not people:

        def fire(self: ConformanceMachine) -> None:
            self.fire(f"{name}()", trigger, None)

        return {name: precondition(declared)(rule()(_named(fire, name)))}
    rules: dict[str, Rule] = {}
    for rule_name, cast_ in (
        (name, people),
        (f"try_{trigger}_unauthorised", intruders(semantics, trigger)),
    ):

        def fire_by(self: ConformanceMachine, actor: Actor | None, step: str = rule_name) -> None:
            self.fire(f"{step}(actor={actor!r})", trigger, actor)

        named = _named(fire_by, rule_name)
        rules[rule_name] = precondition(declared)(rule(actor=st.sampled_from(cast_))(named))
    return rules


def _start_rule(semantics: Semantics) -> Rule:
    found = semantics.arrivals()

    def start_in(self: ConformanceMachine, state: str) -> None:
        """Start in ``state``, reached by its shortest path, so runs begin anywhere."""
        self.follow(found[state], f"start_in(state={state!r}) step")

    return initialize(state=st.sampled_from(tuple(found)))(start_in)


def _refuse_rule(semantics: Semantics) -> Rule:
    """Try every trigger the current state does not declare (its timed exit aside)."""
    manual = dict.fromkeys(t for exits in semantics.manual.values() for t in exits)
    timed = (t.trigger for found in semantics.timed.values() for t in found)
    triggers = tuple(dict.fromkeys([*manual, *timed]))

    def refuse_undeclared_triggers(self: ConformanceMachine) -> None:
        due = self.model.timed_exit
        for trigger in triggers:
            if trigger in self.semantics.manual[self.model.state] or (
                due is not None and due.trigger == trigger
            ):
                continue
            people = reviewers(self.semantics, trigger)
            step = f"refuse_undeclared_triggers() trying {trigger!r}"
            self.fire(step, trigger, people[0] if people else None)

    return rule()(refuse_undeclared_triggers)


def _wait_for_rule(trigger: str) -> Rule:
    name = f"wait_for_{trigger}"

    def wait_for(self: ConformanceMachine, late_by_seconds: int) -> None:
        self.clock.now = self.deadline() + timedelta(seconds=late_by_seconds)
        self.expire(f"{name}(late_by_seconds={late_by_seconds})")

    decorated = rule(late_by_seconds=st.sampled_from(LATE_BY_SECONDS))(_named(wait_for, name))
    return precondition(_timed_exit_is(trigger))(decorated)


def _just_before_rule(trigger: str) -> Rule:
    name = f"wait_until_just_before_{trigger}"

    def just_before(self: ConformanceMachine) -> None:
        self.clock.now = self.deadline() - timedelta(seconds=1)
        self.expire(f"{name}()")

    return precondition(_timed_exit_is(trigger))(rule()(_named(just_before, name)))


def _timed_exit_is(trigger: str) -> Callable[[ConformanceMachine], bool]:
    def due(self: ConformanceMachine) -> bool:
        timed = self.model.timed_exit
        return timed is not None and timed.trigger == trigger

    return due


def _time_passes_rule(waits: tuple[int, ...]) -> Rule:
    def time_passes(self: ConformanceMachine, seconds: int) -> None:
        self.clock.advance(seconds)
        self.expire(f"time_passes(seconds={seconds})")

    return rule(seconds=st.sampled_from(waits))(time_passes)


# -- comparing and explaining ---------------------------------------------------------


def _same_refusal(refusal: Refused, expected: Outcome) -> bool:
    if isinstance(refusal, InvalidTransition):
        return expected in (Outcome.UNDECLARED, Outcome.BLOCKED)
    if isinstance(refusal, Unauthorized):
        return expected is Outcome.UNAUTHORISED
    return True


def _say(outcome: Outcome) -> str:
    return {
        Outcome.ACCEPTED: "to take",
        Outcome.UNDECLARED: "to refuse (undeclared)",
        Outcome.BLOCKED: "to refuse (blocked: its guards fail)",
        Outcome.UNAUTHORISED: "to refuse (unauthorised)",
    }[outcome]


def _by(actor: Actor | None) -> str:
    return "" if actor is None else f" by {actor.id} (roles: {', '.join(actor.roles) or 'none'})"


def _seen(seen: tuple[str, int]) -> str:
    state, records = seen
    return f"{state} ({records} audit records)" if records else state


def _recent(log: Sequence[Entry]) -> str:
    if not log:
        return ""
    last = log[-1]
    return f" (last spec transition: {last.source} --{last.trigger}--> {last.target})"


def _chain_problem(records: Sequence[AuditEntry], initial: str) -> str | None:
    previous = initial
    for i, record in enumerate(records):
        if str(record.from_state) != previous:
            return (
                f"record {i} starts from {record.from_state}, "
                f"but the previous record ended in {previous}"
            )
        previous = str(record.to_state)
    seqs = [r.seq for r in records]
    if records and None not in seqs:
        first = cast(int, seqs[0])
        for i, seq in enumerate(seqs):
            if seq != first + i:
                return f"record {i} has seq {seq}, expected {first + i} (a gap or a repeat)"
    return None


def _log_problem(records: Sequence[AuditEntry], log: Sequence[Entry]) -> str | None:
    for i, (record, entry) in enumerate(zip(records, log, strict=False)):
        got = (str(record.from_state), str(record.to_state), str(record.trigger))
        want = (entry.source, entry.target, entry.trigger)
        if got != want:
            return f"record {i} is {_arrow(*got)}, the spec says {_arrow(*want)}"
        if entry.actor is not None and record.actor != entry.actor:
            return f"record {i} ({_arrow(*want)}) names actor {record.actor!r}, not {entry.actor!r}"
        if record.at is not None and record.at != entry.at:
            return f"record {i} ({_arrow(*want)}) is stamped {record.at}, the clock said {entry.at}"
    if len(records) != len(log):
        more = log[len(records) :] or []
        missing = ", ".join(_arrow(e.source, e.target, e.trigger) for e in more)
        return f"{len(records)} records, the spec says {len(log)}" + (
            f" (missing: {missing})" if missing else ""
        )
    return None


def _arrow(source: str, target: str, trigger: str) -> str:
    return f"{source} --{trigger}--> {target}"


# -- rollback steps on an implementation driven through a plain adapter -------------
#
# Rollback steps on an implementation driven through a plain adapter.
#
# :func:`~statewright.verify.conformance.harness.conformance_test` builds its machine on
# :class:`RollbackConformance` when the adapter offers ``rollback``
# (:class:`~statewright.verify.conformance.adapters.RollbackAdapter`). Its rules:
#
# - ``roll_back(steps_back, actor)``: back to one of the last records a rollback may
#   return to (those that left the machine at rest, the run as created among them), by a
#   holder of a rollback role or by anyone else (the spec's other roles, an outsider);
# - ``roll_back_past_a_change(kept)``: by a holder of a rollback role, back to the latest
#   record whose variables differ from the present ones, in a ``keep`` variable (so a
#   rollback that restores it is caught) or in one a rollback restores (so one that carries
#   it over is caught).
#
# Each is held to :mod:`~statewright.verify.conformance.rollback`, the definition the
# generated runtime's tests use too: refused exactly when the spec refuses it (a person
# without a rollback role, any rollback when the spec allows none: ``Unauthorized``; at an
# approval gate: ``Locked``; past ``max``: ``RollbackLimit``) and then nothing changes;
# otherwise the state and variables are those of the record returned to, the ``keep`` ones
# carried over, the record the adapter returns names the record, the actor's roles, every
# value and the kept ones, and the audit log holds a ``rollback`` record by the actor.


def rollback_cast(semantics: Semantics) -> tuple[Actor, ...]:
    """Who tries to roll back: a holder of each rollback role, a holder of each other
    role the spec names, and an outsider with none."""
    allowed = semantics.spec.rollback or ()
    others = sorted(set(semantics.roles) - set(allowed))
    return (
        *(Actor(f"rollback-{role}", (role,)) for role in allowed),
        *(Actor(f"{role}-1", (role,)) for role in others),
        Actor("outsider"),
    )


class RollbackConformance(ConformanceMachine):
    """The harness's machine with the rollback rules, for adapters with ``rollback``."""

    adapter: ClassVar[RollbackAdapter[Any]]
    rolls_back: ClassVar[bool] = True

    def __init__(self) -> None:
        self.rollbacks: list[tuple[int, Entry]] = []
        """Each rollback's record, with the length of the spec's log when it was taken."""
        super().__init__()

    def expected_log(self) -> Sequence[Entry]:
        """The spec's log with each rollback's record where it was taken."""
        log = self.model.log
        merged: list[Entry] = []
        start = 0
        for at, record in self.rollbacks:
            merged.extend(log[start:at])
            merged.append(record)
            start = at
        merged.extend(log[start:])
        return merged

    def points(self) -> list[tuple[int, str, Values]]:
        """The records a rollback may return to (0: the run as created), each with the
        state and the variables after it: those that left the machine at rest."""
        semantics = self.semantics
        after = [
            (0, semantics.initial, semantics.data.initial),
            *(
                (seq, entry.target, entry.values)
                for seq, entry in enumerate(self.expected_log(), start=1)
            ),
        ]
        return [found for found in after if semantics.automatic_in(found[1], found[2]) is None]

    def taken(self) -> int:
        return len(self.rollbacks)

    def past_a_change(self, kept: bool) -> int | None:
        """The record :func:`~.rollback.past_a_change` picks now; None when a holder of a
        rollback role would be refused here, or no record differs."""
        semantics = self.semantics
        roles = semantics.spec.rollback or ()
        if not roles or rollbacks.refusal(semantics, roles[:1], self.model.state, self.taken()):
            return None
        points = [(seq, values) for seq, _, values in self.points()]
        return rollbacks.past_a_change(semantics, points, self.model.values, kept)

    # -- rules ----------------------------------------------------------------------

    @classmethod
    def rules_for(cls, semantics: Semantics) -> dict[str, Rule]:
        """``roll_back(steps_back, actor)``: back to one of the last records a rollback
        may return to, by anyone of :func:`rollback_cast`."""

        def roll_back(self: RollbackConformance, steps_back: int, actor: Actor) -> None:
            points = self.points()
            seq = points[-1 - steps_back % len(points)][0]
            self.roll_back_to(seq, actor, f"roll_back(steps_back={steps_back}, actor={actor!r})")

        drawn = rule(
            steps_back=st.integers(min_value=0, max_value=3),
            actor=st.sampled_from(rollback_cast(semantics)),
        )(roll_back)
        return {"roll_back": precondition(lambda self: bool(self.points()))(drawn)}

    @precondition(lambda self: self.past_a_change(kept=False) is not None)
    @rule(kept=st.booleans())
    def roll_back_past_a_change(self, kept: bool) -> None:
        """Back, by a holder of a rollback role, to the latest record whose variables
        differ from the present ones: with ``kept`` in a ``keep`` variable if one does,
        else in one a rollback restores."""
        seq = self.past_a_change(kept)
        assert seq is not None
        roles = self.semantics.spec.rollback or ()
        actor = Actor(f"rollback-{roles[0]}", (roles[0],))
        self.roll_back_to(seq, actor, f"roll_back_past_a_change(kept={kept})")

    # -- what the rules do ----------------------------------------------------------

    def roll_back_to(self, seq: int, actor: Actor, step: str) -> None:
        """Roll back to record ``seq`` by ``actor`` on both sides, or insist on the
        refusal the spec gives; then the record the adapter returns against the spec's."""
        self.last_step = f"{step} to record {seq}"
        semantics = self.semantics
        source = self.model.state
        expected = rollbacks.refusal(semantics, actor.roles, source, self.taken())
        try:
            record = self.adapter.rollback(self.machine, seq, actor, "roll back")
        except Refused as refusal:
            if expected is None or not _same(refusal, expected):
                said = "to roll back" if expected is None else f"{expected.__name__}"
                raise AssertionError(
                    f"{self.last_step}: in {source} the spec says {said} (by {actor.id}, "
                    f"roles: {', '.join(actor.roles) or 'none'}; {self._rollback_rule()}), "
                    f"but the implementation refused it with {type(refusal).__name__}: "
                    f"{refusal}"
                ) from refusal
            self._unchanged_after_refusal(self.last_step, "rollback")
            self.check()
            return
        if expected is not None:
            raise AssertionError(
                f"{self.last_step}: in {source} the spec says to refuse the rollback with "
                f"{expected.__name__} (by {actor.id}, roles: {', '.join(actor.roles) or 'none'}"
                f"; {self._rollback_rule()}), but the implementation rolled back"
            )
        _, state, target = next(found for found in self.points() if found[0] == seq)
        current = self.model.values
        want = rollbacks.rollback_record(semantics, seq, actor.roles, target, current)
        if record is not None and record != want:
            raise AssertionError(
                f"after {self.last_step}: the implementation recorded {record}, "
                f"the spec says {want}"
            )
        values = rollbacks.restored(semantics, target, current)
        now = self.clock()
        self.rollbacks.append(
            (len(self.model.log), Entry(source, state, "rollback", now, actor.id, values))
        )
        self.model.restore(state, now, values)
        self.check()

    def _rollback_rule(self) -> str:
        spec = self.semantics.spec
        if not spec.rollback:
            return "the spec allows no rollback"
        most = "" if spec.rollback_max is None else f", max {spec.rollback_max}"
        return (
            f"rollback: reviewers {', '.join(spec.rollback)}{most}, "
            f"{self.taken()} taken, none from an approval state"
        )


def _same(refusal: Refused, expected: type[Refused]) -> bool:
    """Whether ``refusal`` is the one expected (a plain :class:`Refused` is taken for any)."""
    return isinstance(refusal, expected) or type(refusal) is Refused
