"""Load a spec: YAML text -> frozen :class:`~statewright.verify.model.Spec` plus load findings.

:mod:`statewright.verify.load.yamlread` composes the YAML safely into positioned nodes; this module
checks them against the format (the design brief, docs/design.md, "Spec format,
version 1") and builds the model. It keeps going after a problem wherever it can, so one
run reports every load finding; the spec is returned only when there is none. ``from``
lists and globs are expanded here into one :class:`~statewright.verify.model.Transition` per source
state.

>>> result = load_text('''
... statewright: 1
... machine: door
... initial: CLOSED
... states: {CLOSED: {kind: idle}, OPEN: {final: true}}
... transitions: [{from: CLOSED, to: OPEN, trigger: push}]
... ''')
>>> result.findings, result.spec.transitions[0].key
((), ('CLOSED', 'OPEN', 'push'))
"""

from __future__ import annotations

import fnmatch
import gc
import hashlib
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from statewright.verify import progress
from statewright.verify.findings import Finding, Severity, sort_findings
from statewright.verify.load.data import DataReader
from statewright.verify.load.migrations import MigrationReader
from statewright.verify.load.nodes import NodeReader, describe
from statewright.verify.load.policy import read_policy
from statewright.verify.load.rules import (
    BAD_DURATION,
    BAD_VARIABLE,
    SCHEMA,
    UNKNOWN_REASON,
    UNKNOWN_STATE,
    YAML_SYNTAX,
)
from statewright.verify.load.shape import REASON, ROLLBACK, SPEC, STATE, TRANSITION
from statewright.verify.load.unknown import StateUse, unknown_state_findings
from statewright.verify.load.values import (
    Suggestions,
    parse_duration,
    suggest,
)
from statewright.verify.load.yamlread import Mapping, Node, Scalar, Sequence, read_yaml
from statewright.verify.model import (
    AUTOMATIC_TRIGGER,
    FORMAT_VERSION,
    Duration,
    Effect,
    Expression,
    Kind,
    Location,
    Reason,
    Spec,
    State,
    Transition,
)

__all__ = [
    "MAX_EXPANDED_TRANSITIONS",
    "MAX_GLOB_COMPARISONS",
    "MAX_SPEC_BYTES",
    "LoadResult",
    "gc_paused",
    "load_file",
    "load_text",
    "read_file",
]

MAX_SPEC_BYTES = 64 * 2**20
"""The largest spec statewright reads, 64 MiB: a machine of a million transitions written
out one by one takes about 46 MB; a bigger file is a ``yaml-syntax`` finding."""

_TRANSITION_KEY_SET = frozenset(TRANSITION.names)
_TRANSITION_REQUIRED = frozenset(TRANSITION.required)
_GLOB = re.compile(r"[*?\[]")

MAX_EXPANDED_TRANSITIONS = 100_000
"""The most transitions ``from`` lists and globs may expand to in one spec (a glob that
matches 2,500 states in each of 2,500 transitions would make six million)."""

MAX_GLOB_COMPARISONS = 10_000_000
"""The most comparisons of globs with state names in one spec: each different glob is
compared with every declared state once."""


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What loading one spec gave: the spec (None when any load error was found) and
    every load finding, sorted. ``partial`` is the spec as read around the load errors
    (a bad value left out or at its default) when the file is a mapping the reader could
    go through: the checker runs its rules on it too, as a compiler goes on after an
    error, so that one round of fixes meets every finding; it is never generated."""

    file: str
    spec: Spec | None
    findings: tuple[Finding, ...]
    partial: Spec | None = None


def load_text(text: str | bytes, file: str = "<string>") -> LoadResult:
    """Load a spec from its text; ``file`` is the name findings and locations carry.

    Text longer than :data:`MAX_SPEC_BYTES` is a ``yaml-syntax`` finding, unread.
    """
    raw = text if isinstance(text, bytes) else text.encode("utf-8", "surrogatepass")
    if len(raw) > MAX_SPEC_BYTES:
        message = (
            f"the spec is larger than {MAX_SPEC_BYTES // 2**20} MiB, the most statewright "
            "reads; split it into smaller machines"
        )
        return LoadResult(file, None, (_unreadable(file, message),))
    findings: list[Finding] = []
    with gc_paused():
        spec, intact = _read(text, file, hashlib.sha256(raw).hexdigest(), findings)
    if findings:
        local = intact and all(f.rule in LOCAL_LOAD_RULES for f in findings)
        return LoadResult(file, None, sort_findings(findings), partial=spec if local else None)
    return LoadResult(file, spec, ())


LOCAL_LOAD_RULES = frozenset(
    {"schema", "bad-duration", "invalid-name", "bad-expression", "bad-variable", "unknown-reason"}
)
"""Load errors the rest of a spec can be checked around: one value left out or at its
default. A name that is not declared (``unknown-state``) drops transitions and a YAML
error drops the text after it, so every rule would report their consequences."""


def _intact(root: Mapping, spec: Spec) -> bool:
    """Whether the spec read around load errors kept every state and every transition
    the file declares (a transition missing a key, or past an expansion limit, is left
    out, and the rules would report its absence)."""
    states, transitions = root.values.get("states"), root.values.get("transitions")
    declared_states = len(states.values) if isinstance(states, Mapping) else 0
    declared = len(transitions.items) if isinstance(transitions, Sequence) else 0
    kept = len({t.index for t in spec.transitions})
    return len(spec.states) == declared_states and kept == declared


def _read(
    text: str | bytes, file: str, sha256: str, findings: list[Finding]
) -> tuple[Spec | None, bool]:
    """Compose and check: the spec, and whether it kept every state and transition the
    file declares (:func:`_intact`). The node tree is freed on return, before the
    collector resumes."""
    read = read_yaml(text, file)
    findings.extend(read.findings)
    if isinstance(read.root, Mapping):
        progress.phase("building the model")
        spec = SpecReader(file, findings, read.text).spec(read.root, sha256)
        return spec, spec is not None and _intact(read.root, spec)
    if read.root is not None:
        findings.append(
            Finding(
                YAML_SYNTAX,
                Severity.ERROR,
                f"the top level is {describe(read.root)}; a spec is a mapping with "
                "statewright, machine, initial and states",
                Location(file, read.root.line, read.root.column),
            )
        )
    return None, False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a spec is built.

    A big spec allocates millions of small objects, and the collector's repeated passes
    over them took more than half the loading time; the node tree and the model hold no
    reference cycles, so reference counting frees them all the same.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        # Everything allocated meanwhile sits in the youngest generation, and the first
        # collection after re-enabling would walk all of it (a second or more for a big
        # spec). Freezing and unfreezing splices every tracked object into the oldest
        # generation in constant time, where only a rare full collection looks at it.
        gc.freeze()
        gc.unfreeze()
        if enabled:
            gc.enable()


def load_file(path: str | os.PathLike[str], display: str | None = None) -> LoadResult:
    """Load the spec at ``path``; ``display`` names it in findings (default: ``path``).

    A file that cannot be read, is not a regular file (a device such as ``/dev/zero``
    would never end, a FIFO would wait for a writer) or is larger than
    :data:`MAX_SPEC_BYTES` is a ``yaml-syntax`` finding at line 1, column 1; no more than
    the limit is ever read.
    """
    name, data = read_file(path, display)
    if isinstance(data, Finding):
        return LoadResult(name, None, (data,))
    return load_text(data, name)


def read_file(
    path: str | os.PathLike[str], display: str | None = None, what: str = "the spec"
) -> tuple[str, bytes | Finding]:
    """The name findings give the file at ``path`` (``display``, default: ``path``) and its
    bytes, or a ``yaml-syntax`` finding at line 1, column 1 when it cannot be read."""
    name = display if display is not None else os.fspath(path)
    try:
        data = _read_regular(path)
    except OSError as error:
        reason = error.strerror or str(error)
        return name, _unreadable(
            name, f"cannot read {what}: {reason}; check the path and its permissions"
        )
    if data is None:
        return name, _unreadable(
            name, f"{what} is not a regular file (a device, FIFO or socket); name a file"
        )
    return name, data


def _read_regular(path: str | os.PathLike[str]) -> bytes | None:
    """At most ``MAX_SPEC_BYTES + 1`` bytes of the file at ``path``; None if it is not a
    regular file. Opening does not wait for a FIFO's writer."""
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with open(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        return file.read(MAX_SPEC_BYTES + 1)


def _unreadable(file: str, message: str) -> Finding:
    """Why a file was not read: a ``yaml-syntax`` finding at line 1, column 1."""
    return Finding(YAML_SYNTAX, Severity.ERROR, message, Location(file, 1, 1))


def _pattern(node: Scalar) -> str | None:
    """The glob ``node`` holds, if it is one."""
    value = node.value
    return value if type(value) is str and _GLOB.search(value) else None


class SpecReader(NodeReader):
    """Checks a composed spec mapping and builds the model, collecting findings; its data
    (variables, guards, effects, properties) through a :class:`DataReader`."""

    def __init__(self, file: str, findings: list[Finding], text: str = "") -> None:
        super().__init__(file, findings)
        self.data = DataReader(self, text)
        self.states: dict[str, int] = {}
        self.reasons: set[str] = set()
        self._durations: dict[str, Duration | str] = {}
        self._globs: dict[str, list[str]] = {}
        self._expanded = 0  # transitions 'from' lists and globs expanded to so far
        self._compared = 0  # glob comparisons with state names so far
        self.suggestions = Suggestions()
        self.unknown: list[StateUse] = []  # uses of undeclared states, reported together

    # -- the spec -------------------------------------------------------------------

    def spec(self, top: Mapping, sha256: str) -> Spec | None:
        self.keys(top, SPEC.names, "the spec")
        self.missing(top, SPEC, "the spec")
        self.version(top.get("statewright"))
        machine = self.snake_name(top.get("machine"), "machine")
        description = self.text(top.get("description"), "description", optional=True)
        states = self.state_table(top.get("states"))
        reasons = self.reason_table(top.get("reasons"))
        initial_node = top.get("initial")
        initial = self.state_ref(initial_node, "initial state")
        variables = self.data.read_variables(top.get("variables"))
        transitions = self.transitions(top.get("transitions"))
        rollback = self.rollback(top.get("rollback"))
        keep, most = self.rollback_bounds(top.get("rollback"))
        properties = self.data.read_properties(
            top.get("properties"), self.states, {t.trigger for t in transitions}
        )
        migrations = MigrationReader(self).read(top.get("migrations"))
        if self.unknown:
            named = self.named_states(top, transitions)
            declared = {s.name: s.location for s in states}
            self.findings.extend(
                unknown_state_findings(self.unknown, declared, named, self.suggestions)
            )
        if machine is None or initial is None or initial_node is None:
            return None
        return Spec(
            file=self.file,
            machine=machine,
            initial=initial,
            states=states,
            transitions=transitions,
            reasons=reasons,
            description=description,
            location=self.at(top),
            initial_location=self.at(initial_node),
            sha256=sha256,
            rollback=rollback,
            rollback_keep=keep,
            rollback_max=most,
            machine_location=self.at(top.key_nodes["machine"]),
            variables=variables,
            properties=properties,
            migrations=migrations,
        )

    def named_states(self, top: Mapping, transitions: tuple[Transition, ...]) -> set[str]:
        """Every name the spec gives as a state: the initial state, each transition's
        ``to`` and ``from`` (also those of transitions dropped for an unknown name) and
        the sources globs expanded to."""
        nodes: list[Node | None] = [top.get("initial")]
        items = top.get("transitions")
        for item in items.items if isinstance(items, Sequence) else ():
            if isinstance(item, Mapping):
                nodes.extend((item.get("to"), item.get("from")))
        for listed in [n for n in nodes if isinstance(n, Sequence)]:  # from: [A, B]
            nodes.extend(listed.items)
        named = {n.value for n in nodes if isinstance(n, Scalar) and isinstance(n.value, str)}
        named.update(t.source for t in transitions)
        return named

    def rollback(self, node: Node | None) -> tuple[str, ...] | None:
        """The roles that may roll an instance back; None when the spec allows no rollback."""
        body = self.mapping(node, "'rollback'")
        if body is None:
            return None
        self.keys(body, ROLLBACK.names, "'rollback'")
        roles = tuple(
            role
            for item in self.sequence(body.get("reviewers"), "the rollback reviewers")
            if (role := self.label(item, "reviewer role")) is not None
        )
        if not roles:
            self.report(
                SCHEMA,
                "'rollback' names no reviewers; list the roles that may roll back, "
                "e.g. rollback: {reviewers: [on_call]}, or remove the key",
                body,
            )
        return roles

    def rollback_bounds(self, node: Node | None) -> tuple[tuple[str, ...], int | None]:
        """The variables a rollback keeps and the most rollbacks a run may take (None:
        unbounded), from ``rollback: {keep: [...], max: N}``."""
        body = node if isinstance(node, Mapping) else None
        if body is None:
            return (), None
        keep: list[str] = []
        for item in self.sequence(body.get("keep"), "the variables rollback keeps"):
            name = self.snake_name(item, "variable rollback keeps")
            if name is None:
                continue
            if name not in self.data.variables:
                hint = suggest(name, self.data.variables) or "; declare it under variables"
                self.report(
                    BAD_VARIABLE, f"'rollback' keeps '{name}', which is not a variable{hint}", item
                )
            elif name in keep:
                self.report(SCHEMA, f"'rollback' keeps '{name}' twice; name it once", item)
            else:
                keep.append(name)
        limit = body.get("max")
        if limit is None or (isinstance(limit, Scalar) and limit.value is None):
            return tuple(keep), None
        value = limit.value if isinstance(limit, Scalar) else None
        if type(value) is not int or value < 1:
            self.report(
                SCHEMA,
                f"'max' of 'rollback' is how many rollbacks a run may take, a whole number "
                f"from 1, not {describe(limit)}; leave it out for no bound",
                limit,
            )
            return tuple(keep), None
        return tuple(keep), value

    def version(self, node: Node | None) -> None:
        if node is None:
            return
        value = node.value if isinstance(node, Scalar) else None
        if type(value) is not int:
            message = f"'statewright' is the format version, the number {FORMAT_VERSION}"
            self.report(SCHEMA, f"{message}, not {describe(node)}", node)
        elif value != FORMAT_VERSION:
            self.report(
                SCHEMA,
                f"unsupported format version {value}; this statewright reads version "
                f"{FORMAT_VERSION}: write 'statewright: {FORMAT_VERSION}'",
                node,
            )

    def state_table(self, node: Node | None) -> tuple[State, ...]:
        table = self.mapping(node, "'states'")
        null = isinstance(node, Scalar) and node.value is None
        if node is not None and (null or (table is not None and not table.values)):
            self.report(SCHEMA, "'states' is empty; declare at least one state", node)
        if table is None:
            return ()
        states = []
        for key, value in table.pairs():
            name = self.upper_name(key, "state")
            if name is not None:
                self.states[name] = len(self.states)
                states.append(self.state(name, key, value))
        return tuple(states)

    def state(self, name: str, key: Node, node: Node) -> State:
        body = self.mapping(node, f"state '{name}'")
        if body is None:
            return State(name, self.at(key))
        what = f"state '{name}'"
        self.keys(body, STATE.names, what)
        reviewers = tuple(
            role
            for item in self.sequence(body.get("reviewers"), f"the reviewers of {what}")
            if (role := self.label(item, "reviewer role")) is not None
        )
        return State(
            name,
            self.at(key),
            kind=self.kind(body.get("kind"), what),
            final=self.flag(body.get("final"), f"'final' of {what}"),
            reviewers=reviewers,
            stage=self.label(body.get("stage"), "stage"),
            description=self.text(body.get("description"), "description", optional=True),
            policy=read_policy(self, body, what),
        )

    def kind(self, node: Node | None, what: str) -> Kind | None:
        text = self.text(node, f"the kind of {what}", optional=True)
        if text is None or node is None:
            return None
        try:
            return Kind(text)
        except ValueError:
            kinds = [str(kind) for kind in Kind]
            hint = suggest(text, kinds) or f"; use one of {', '.join(kinds)}"
            self.report(SCHEMA, f"unknown kind '{text}' for {what}{hint}", node)
            return None

    def reason_table(self, node: Node | None) -> tuple[Reason, ...]:
        table = self.mapping(node, "'reasons'")
        if table is None:
            return ()
        reasons = []
        for key, value in table.pairs():
            name = self.upper_name(key, "reason")
            if name is None:
                continue
            self.reasons.add(name)
            body = self.mapping(value, f"reason '{name}'")
            if body is None:
                reasons.append(Reason(name, self.at(key)))
                continue
            self.keys(body, REASON.names, f"reason '{name}'")
            reasons.append(
                Reason(
                    name,
                    self.at(key),
                    recovery=self.texts(body.get("recovery"), "recovery step"),
                    description=self.text(body.get("description"), "description", optional=True),
                )
            )
        return tuple(reasons)

    # -- references -----------------------------------------------------------------

    def state_ref(self, node: Node | None, what: str) -> str | None:
        if isinstance(node, Scalar) and type(node.value) is str and node.value in self.states:
            return node.value  # the common case, first
        name = self.text(node, what)
        if name is None or node is None:
            return None
        if name not in self.states:
            if self.states:  # else 'states' itself is at fault and already reported
                self.unknown.append(StateUse(name, what, self.at(node)))  # see spec()
            return None
        return name

    def reason_ref(self, node: Node | None) -> str | None:
        name = self.text(node, "reason", optional=True)
        if name is None or node is None:
            return None
        if name not in self.reasons:
            hint = self.suggestions.hint(name, self.reasons) or "; declare it under reasons"
            self.report(UNKNOWN_REASON, f"reason '{name}' is not declared{hint}", node)
            return None
        return name

    def sources(self, node: Node | None, target: str | None) -> list[str]:
        """The source states ``from`` names, expanded, in state declaration order."""
        if isinstance(node, Sequence):
            if not node.items:
                self.report(SCHEMA, "'from' is an empty list; name at least one state", node)
            found: set[str] = set()
            for item in node.items:
                found.update(self.expanded(item, self.source(item, target)))
            return sorted(found, key=self.states.__getitem__)
        if isinstance(node, Scalar) and _pattern(node) is not None:
            return self.expanded(node, self.source(node, target))
        return self.source(node, target)

    def expanded(self, node: Node, names: list[str]) -> list[str]:
        """``names``, counted against :data:`MAX_EXPANDED_TRANSITIONS`; past the limit,
        none (and one finding, at the node that crossed it)."""
        if self._expanded > MAX_EXPANDED_TRANSITIONS:
            return []
        self._expanded += len(names)
        if self._expanded > MAX_EXPANDED_TRANSITIONS:
            self.report(
                SCHEMA,
                f"'from' lists and globs expand to more than {MAX_EXPANDED_TRANSITIONS:,} "
                "transitions, the most statewright expands; name fewer sources or write "
                "narrower globs",
                node,
            )
            return []
        return names

    def source(self, node: Node | None, target: str | None) -> list[str]:
        if isinstance(node, Scalar) and (pattern := _pattern(node)) is not None:
            matching = self.glob(node, pattern)
            found = [s for s in matching or () if s != target]
            if not found and self.states and matching is not None:
                self.report(
                    UNKNOWN_STATE,
                    f"the glob '{pattern}' in 'from' matches no state (other than the target)",
                    node,
                )
            return found
        name = self.state_ref(node, "source state")
        return [] if name is None else [name]

    def glob(self, node: Node, pattern: str) -> list[str] | None:
        """The states ``pattern`` matches, in declaration order; None, unmatched, once the
        spec's globs have been compared with more than :data:`MAX_GLOB_COMPARISONS` state
        names or expanded to more than :data:`MAX_EXPANDED_TRANSITIONS` transitions."""
        known = self._globs.get(pattern)
        if known is not None:
            return known
        if self._expanded > MAX_EXPANDED_TRANSITIONS or self._compared > MAX_GLOB_COMPARISONS:
            return None
        self._compared += len(self.states)
        if self._compared > MAX_GLOB_COMPARISONS:
            self.report(
                SCHEMA,
                f"the globs in 'from' need more than {MAX_GLOB_COMPARISONS:,} comparisons "
                "with state names (each different glob is compared with every state), the "
                "most statewright makes; write fewer different globs",
                node,
            )
            return None
        match = re.compile(fnmatch.translate(pattern)).match
        found = self._globs[pattern] = [s for s in self.states if match(s)]
        return found

    def duration(self, node: Node | None, key: str = "after") -> Duration | None:
        if node is None or (isinstance(node, Scalar) and node.value is None):
            return None
        if not isinstance(node, Scalar) or type(node.value) is bool:
            self.report(
                SCHEMA, f"'{key}' must be a duration such as '30m', not {describe(node)}", node
            )
            return None
        known = self._durations.get(node.text)
        if known is None:
            seconds = parse_duration(node.text)
            known = Duration(node.text, seconds) if isinstance(seconds, int) else seconds
            self._durations[node.text] = known
        if isinstance(known, str):
            self.report(BAD_DURATION, known, node)
            return None
        return known

    # -- transitions ----------------------------------------------------------------

    def transitions(self, node: Node | None) -> tuple[Transition, ...]:
        expanded: list[Transition] = []
        for index, item in enumerate(self.sequence(node, "'transitions'")):
            if isinstance(item, Mapping):
                expanded.extend(self.transition(index, item))
            else:
                self.report(
                    SCHEMA,
                    f"a transition is a mapping with from, to and trigger, not {describe(item)}",
                    item,
                )
        return tuple(expanded)

    def transition(self, index: int, item: Mapping) -> list[Transition]:
        values = item.values
        if not values.keys() <= _TRANSITION_KEY_SET:
            self.keys(item, TRANSITION.names, "transition")
        if not values.keys() >= _TRANSITION_REQUIRED:
            self.missing(item, TRANSITION, "transition")
        target = self.state_ref(values.get("to"), "target state")
        sources = self.sources(values.get("from"), target)
        trigger = self.snake_name(values.get("trigger"), "trigger")
        human, after, reason, description = False, None, None, None
        when: Expression | None = None
        effects: tuple[Effect, ...] = ()
        if len(values) > 3:  # the optional keys: most transitions have none
            human = self.flag(values.get("human"), "'human'")
            after = self.duration(values.get("after"))
            self.shape(item, trigger, human, after)
            reason = self.reason_ref(values.get("reason"))
            description = self.text(values.get("description"), "description", optional=True)
            when = self.data.when(values.get("when"))
            effects = self.data.effects(values.get("set"))
        if target is None or trigger is None:
            return []
        location = self.at(item)
        return [
            Transition(
                source,
                target,
                trigger,
                location,
                index,
                human,
                after,
                reason,
                description,
                when,
                effects,
            )
            for source in sources
        ]

    def shape(
        self, item: Mapping, trigger: str | None, human: bool, after: Duration | None
    ) -> None:
        """Report a transition that is both human and timed, or automatic and either, and
        a timed one with a guard."""
        if after is not None and "when" in item.values:
            self.report(
                SCHEMA,
                "a timed transition takes no 'when': it fires when its time is up; guard "
                "the transitions that lead into its state instead",
                item.key_nodes["when"],
            )
        if human and after is not None:
            key = item.key_nodes["after"]
            self.report(
                SCHEMA,
                "a transition is either human or timed ('after'), not both; split it in two",
                key,
            )
        if trigger == AUTOMATIC_TRIGGER and (human or after is not None):
            key = item.key_nodes["human" if human else "after"]
            self.report(
                SCHEMA,
                f"an '{AUTOMATIC_TRIGGER}' transition fires at once, so it cannot be "
                f"{'human' if human else 'timed'}; give it its own trigger",
                key,
            )
