"""Time and outcome rules of an ASL execution: loops, retriers and Catch handlers.

These rules read the definition itself (not the mapped machine), since what bounds a
Step Functions loop or retrier is written in ASL terms:

- ``unbounded-loop`` (error): a cycle of states that nothing bounds. A cycle is
  *bounded* when the execution has a ``TimeoutSeconds`` (it then fails with
  ``States.Timeout``), or when it passes through a Choice that bounds it: a rule of the
  Choice that leaves the cycle compares numbers (``NumericGreaterThanEquals``, ...,
  their ``...Path`` forms, or a JSONata ``Condition`` with ``<``, ``>`` or ``=``) on
  data that a state of the cycle writes (a key of its ``Parameters``, ``Result``,
  ``ResultSelector``, ``Assign``, ``Arguments`` or ``Output``, or a step of its
  ``ResultPath``): a counter that the cycle increments and the Choice bounds. Every
  cycle of the component must pass through such a Choice: a cycle that goes around it is
  reported. A cycle with no way out at all is the ``trap`` rule's, not this one's.
  Step Functions' own limits (25,000 history events, a year per Standard execution) are
  not bounds: they end the execution as failed.
- ``retry-unbounded-delay`` (warning): a retrier whose worst-case total delay, the sum
  of its ``MaxAttempts`` intervals (``IntervalSeconds`` times ``BackoffRate`` to the
  power of the attempt, each at most ``MaxDelaySeconds``; ``JitterStrategy: FULL`` only
  shortens them), exceeds the execution's ``TimeoutSeconds``, or 7 days without one.
- ``failure-ends-in-success`` (warning): a ``Catch`` of the state machine (not of a
  branch or an iterator, whose outcome goes back into the parent's data) whose handler
  ends the execution as succeeded on every path: every path from its ``Next`` through
  ``Next``, Choice rules and ``Default`` ends in a Succeed state or an ``End: true``,
  reaches no Fail state, never joins the states the execution runs without an error
  (a fallback that carries on the work) and never comes back to the state that caught
  (a retry loop). A Catch of errors that the caught Parallel's own Fail states raise
  (errors used as control flow), or of named errors (not ``States.ALL``,
  ``States.TaskFailed`` or a timeout) straight into a Succeed state (an expected
  outcome, such as a lock already released), is not reported.
- ``asl-placeholder-resource`` (info): a Task whose ``Resource`` is only a substitution
  (``"${ActivityArn}"``): whether it is an activity or a callback, which wait for the
  outside world, cannot be read; it is checked as a task that returns by itself. A
  substitution named as a Lambda function (``function``, ``lambda``, ``FnArn``) is taken
  as one, and is not reported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator

from statewright.verify.digraph import search, shortest_path, strong_components
from statewright.verify.findings import Finding, Severity
from statewright.verify.load.asl.definition import WHOLE_OUTPUT, AslState, Definition, Retrier
from statewright.verify.load.asl.names import duration_text
from statewright.verify.model import Location

__all__ = [
    "DEFAULT_DELAY_LIMIT",
    "FAILURE_ENDS_IN_SUCCESS",
    "PLACEHOLDER_RESOURCE",
    "RETRY_UNBOUNDED_DELAY",
    "UNBOUNDED_LOOP",
    "bound_findings",
    "loop_findings",
    "retry_delay",
    "timer_branch",
]

UNBOUNDED_LOOP = "unbounded-loop"
RETRY_UNBOUNDED_DELAY = "retry-unbounded-delay"
FAILURE_ENDS_IN_SUCCESS = "failure-ends-in-success"
PLACEHOLDER_RESOURCE = "asl-placeholder-resource"

DEFAULT_DELAY_LIMIT = 7 * 86_400
"""How long a retrier may wait in all when the execution has no ``TimeoutSeconds``."""

_SHOWN_LIMIT = 3650 * 86_400
_FUNCTION = re.compile(r"function|lambda|fn(?:arn)?\}", re.IGNORECASE)
"""A substitution named as a Lambda function (``${CheckPriceFnArn}``), which returns."""
_GENERIC = frozenset(
    {"States.ALL", "States.TaskFailed", "States.Timeout", "States.HeartbeatTimeout"}
)
_COMPARISON = re.compile(r"[<>]|[^!<>=]=")
_JSONATA_VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_PATH_STEP = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_CURSOR = re.compile(r"token|marker|cursor|lastevaluatedkey|nextpage|continuation", re.I)
"""The last step of a pagination cursor's path (``NextToken``, ``LastEvaluatedKey``)."""


def bound_findings(top: Definition) -> tuple[Finding, ...]:
    """The findings of every rule of this module for the definition ``top``."""
    return (
        *loop_findings(top),
        *_retry_findings(top),
        *_catch_findings(top),
        *_placeholder_findings(top),
    )


# -- retriers ---------------------------------------------------------------------------


def retry_delay(retrier: Retrier) -> float | None:
    """The longest a retrier waits in all between its attempts (``math.inf`` past what a
    float holds); None when a field is not written out.

    >>> from statewright.verify.model import Location
    >>> at = Location("f", 1, 1)
    >>> retry_delay(Retrier(("E",), at, interval=5, attempts=20, backoff=2.0))
    5242875.0
    >>> retry_delay(Retrier(("E",), at, interval=5, attempts=20, backoff=2.0, max_delay=60))
    1035.0
    """
    interval, attempts, rate = retrier.interval, retrier.attempts, retrier.backoff
    if interval is None or attempts is None or rate is None:
        return None
    if attempts <= 0:
        return 0.0
    cap = math.inf if retrier.max_delay is None else float(retrier.max_delay)
    if rate <= 1.0:
        return min(float(interval), cap) * attempts
    if interval >= cap:
        return cap * attempts
    uncapped = attempts if cap == math.inf else math.ceil(math.log(cap / interval, rate))
    uncapped = max(0, min(attempts, uncapped))
    try:
        geometric = interval * (rate**uncapped - 1) / (rate - 1)
    except OverflowError:
        return math.inf
    return geometric + (cap * (attempts - uncapped) if attempts > uncapped else 0.0)


def _shown(seconds: float) -> str:
    if seconds > _SHOWN_LIMIT:
        return "more than 3650d"
    return duration_text(math.ceil(seconds)) or "0s"


def _retry_findings(top: Definition) -> Iterator[Finding]:
    timeout = top.timeout.seconds if top.timeout is not None else None
    limit = timeout if timeout is not None else DEFAULT_DELAY_LIMIT
    than = "7 days (the execution has no TimeoutSeconds)"
    if timeout is not None and top.timeout is not None:
        written = top.timeout.field == "TimeoutSeconds"
        what = "the execution's TimeoutSeconds" if written else "an Express execution's limit"
        than = f"{what} ({_shown(timeout)})"
    for state in top.all_states():
        for retrier in state.retriers:
            delay = retry_delay(retrier)
            if delay is None or delay <= limit:
                continue
            cap = (
                f"MaxDelaySeconds {retrier.max_delay}"
                if retrier.max_delay is not None
                else "no MaxDelaySeconds"
            )
            errors = ", ".join(retrier.errors) or "its errors"
            message = (
                f"the Retry of '{state.name}' on {errors} can wait {_shown(delay)} in all "
                f"(MaxAttempts {retrier.attempts}, IntervalSeconds {retrier.interval}, "
                f"BackoffRate {retrier.backoff:g}, {cap}), longer than {than}; give it a "
                '"MaxDelaySeconds", fewer "MaxAttempts" or a smaller "BackoffRate"'
            )
            yield Finding(RETRY_UNBOUNDED_DELAY, Severity.WARNING, message, retrier.location)


# -- loops ------------------------------------------------------------------------------


def _targets(state: AslState, catches: bool = True) -> Iterator[str]:
    """The states ``state`` can go to: ``Next``, Choice rules, ``Default``, and with
    ``catches`` its Catch handlers."""
    if state.next is not None:
        yield state.next.target
    for exit_ in state.choices:
        yield exit_.target
    if state.default is not None:
        yield state.default.target
    if catches:
        for catcher in state.catchers:
            yield catcher.next.target


Graph = dict[str, list[str]]
"""A definition's states, in order, each to the states it can go to next (in the order of
its ``Next``, ``Choice`` rules, ``Default`` and ``Catch``), each once."""


def _graph(definition: Definition, catches: bool = True) -> Graph:
    names = {s.name for s in definition.states}
    graph: Graph = {}
    for state in definition.states:
        targets = graph.setdefault(state.name, [])
        for target in _targets(state, catches):
            if target in names and target not in targets:
                targets.append(target)
    return graph


def _within(graph: Graph, members: set[str]) -> Graph:
    """The subgraph of ``members``, in the graph's order."""
    return {n: [t for t in ts if t in members] for n, ts in graph.items() if n in members}


def _way_out(states: dict[str, AslState], component: set[str]) -> bool:
    """True when the execution can leave ``component``: an exit to another state, the
    end, an error of a Task, Parallel or Map, or a Choice without ``Default``."""
    for name in component:
        state = states[name]
        if state.end is not None or state.type in ("Task", "Parallel", "Map"):
            return True
        if state.type == "Choice" and state.default is None:
            return True
        if any(target not in component for target in _targets(state)):
            return True
    return False


def _written(variables: Iterable[str], writes: set[str]) -> bool:
    """True when a data path of ``variables`` is one the loop writes."""
    if WHOLE_OUTPUT in writes:
        return True
    return any(step in writes for v in variables for step in _PATH_STEP.findall(v))


def _bounds(choice: AslState, component: set[str], writes: set[str]) -> bool:
    """True when a rule of ``choice`` that leaves ``component`` compares numbers on
    data the component writes (a counter), or one that stays in it tests whether a
    pagination cursor the component writes is present (a listing, which ends)."""
    for rule in choice.rules:
        stays = rule.next.target in component
        if stays:
            presence = {"IsPresent", "IsNull"} & set(rule.operators)
            cursors = [v for v in rule.variables if _CURSOR.search(v.rsplit(".", 1)[-1])]
            if presence and cursors and _written(cursors, writes):
                return True
            continue
        numeric = any(op.startswith("Numeric") for op in rule.operators)
        if numeric and _written(rule.variables, writes):
            return True
        condition = rule.condition or ""
        if _COMPARISON.search(condition.replace("=>", "")) and (
            set(_JSONATA_VARIABLE.findall(condition)) & writes
        ):
            return True
    return False


def _cycle(graph: Graph, through: str, component: set[str]) -> list[str]:
    """A shortest cycle of ``component`` through the state ``through``."""
    sub = _within(graph, component)
    best: list[str] | None = None
    for pred in (n for n, targets in sub.items() if through in targets):
        path = shortest_path(sub, through, pred)
        if path is not None and (best is None or len(path) < len(best)):
            best = path
    return [*(best or [through]), through]


def _components(graph: Graph) -> list[set[str]]:
    return [set(c.states) for c in strong_components(graph, graph)]


def _unbounded(graph: Graph, states: dict[str, AslState]) -> Iterator[set[str]]:
    """The sets of states of cycles that nothing bounds (see the module doc)."""
    pending = _components(graph)
    while pending:
        component = pending.pop()
        only = next(iter(component))
        if len(component) == 1 and only not in graph[only]:
            continue
        if not _way_out(states, component):
            continue  # a trap: the trap rule reports it
        writes = {w for name in component for w in states[name].writes}
        bounding = {
            name
            for name in component
            if states[name].type == "Choice" and _bounds(states[name], component, writes)
        }
        if not bounding:
            yield component
            continue
        pending.extend(_components(_within(graph, component - bounding)))


def timer_branch(branch: Definition) -> bool:
    """True for a Parallel branch that fails after a bounded time whatever happens: no
    cycle, only Wait (of written ``Seconds``), Pass, Choice and Fail states, and no way
    to succeed. It fails its Parallel, which stops the other branches."""
    graph = _graph(branch)
    return (
        all(not c.inner for c in strong_components(graph, graph))
        and all(
            s.type in ("Pass", "Choice", "Fail")
            or (s.type == "Wait" and s.wait is not None and s.wait.seconds is not None)
            for s in branch.states
        )
        and all(s.end is None for s in branch.states)
    )


def _timed(definition: Definition, bounded: bool = False) -> Iterator[tuple[Definition, bool]]:
    """Each definition, depth first, and whether a timer branch beside it (or beside a
    definition it is nested in) bounds it."""
    yield definition, bounded
    for state in definition.states:
        timers = [timer_branch(b) for b in state.branches] if state.type == "Parallel" else []
        for index, nested in enumerate(state.branches):
            beside = any(t for i, t in enumerate(timers) if i != index)
            yield from _timed(nested, bounded or beside)


def loop_findings(top: Definition) -> Iterator[Finding]:
    """``unbounded-loop`` for each cycle of each definition that nothing bounds; none
    when the execution has a ``TimeoutSeconds``, nor in a Parallel branch beside a
    timer branch."""
    if top.timeout is not None:
        return
    for definition, bounded in _timed(top):
        if bounded:
            continue
        states = {s.name: s for s in definition.states}
        order = {s.name: i for i, s in enumerate(definition.states)}
        graph = _graph(definition)
        for component in _unbounded(graph, states):
            choices = [n for n in component if states[n].type == "Choice"]
            first = min(choices or component, key=order.__getitem__)
            cycle = " -> ".join(f"'{n}'" for n in _cycle(graph, first, component))
            where = f" (in {definition.part})" if definition.part else ""
            message = (
                f"the loop {cycle}{where} can go round for ever: the execution has no "
                "TimeoutSeconds and no Choice of the loop leaves it on a counter the loop "
                'counts; give the state machine a "TimeoutSeconds", or count the rounds '
                "and leave the loop in a Choice (NumericGreaterThanEquals) after the last"
            )
            yield Finding(UNBOUNDED_LOOP, Severity.ERROR, message, states[first].location)


# -- Catch handlers ---------------------------------------------------------------------


def _reach(graph: Graph, start: str) -> set[str]:
    return set(search(graph, [start])) if start in graph else set()


def _catch_findings(top: Definition) -> Iterator[Finding]:
    states = {s.name: s for s in top.states}
    normal = _graph(top, catches=False)
    main = _reach(normal, top.start.target)
    for state in top.states:
        raised = {
            s.error
            for branch in state.branches
            for s in branch.all_states()
            if s.type == "Fail" and s.error
        }
        for catcher in state.catchers:
            handler = _reach(normal, catcher.next.target)
            if not handler or set(catcher.errors) <= raised:
                continue  # an error the branches raise on purpose: control flow
            if states[catcher.next.target].type == "Succeed" and not (
                set(catcher.errors) & _GENERIC
            ):
                continue  # a named error caught straight into success: an expected outcome
            handled = [states[n] for n in handler]
            if (
                any(s.type == "Fail" for s in handled)
                or state.name in handler
                or any(s.name in main and s.type != "Succeed" for s in handled)
                or not any(s.type == "Succeed" or s.end is not None for s in handled)
            ):
                continue
            errors = ", ".join(catcher.errors)
            message = (
                f"the Catch of '{state.name}' for {errors} leads to '{catcher.next.target}', "
                "and every path from there ends the execution as succeeded: the execution "
                "reports success after a failure; end the handler in a Fail state (after "
                "what it does), or let it rejoin the work it recovers"
            )
            yield Finding(FAILURE_ENDS_IN_SUCCESS, Severity.WARNING, message, catcher.location)


# -- placeholders -----------------------------------------------------------------------


def _placeholder_findings(top: Definition) -> Iterable[Finding]:
    """One info finding for the Tasks of unknown kind that nothing times out."""
    uses = [
        s
        for s in top.all_states()
        if s.placeholder
        and s.timeout is None
        and s.heartbeat is None
        and not _FUNCTION.search(s.resource or "")
    ]
    if not uses or top.timeout is not None:
        return ()
    names = [f"'{s.name}' ({s.resource})" for s in uses]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    message = (
        f"the Resource of {shown} is filled in when the machine is deployed: whether it "
        "is an activity or a callback (which wait for the outside world) cannot be read, "
        "so it is checked as a task that returns by itself; if it waits, give it a "
        '"TimeoutSeconds"'
    )
    at: Location = min((s.location for s in uses), key=lambda x: (x.line, x.column))
    return (Finding(PLACEHOLDER_RESOURCE, Severity.INFO, message, at),)
