"""How long one execution of a Step Functions state machine can take, at worst.

Time passes in a state (DESIGN.md, "Time: deadlines and bounds"); the worst case of an
execution is the longest path from ``StartAt`` to its end (``End: true``, a Succeed or a
Fail state, an error nothing catches) through ``Next``, Choice rules, ``Default`` and
``Catch``, each state charged its own worst case:

- a **Task** runs each attempt at most its ``TimeoutSeconds``. Without one, a Lambda
  function (``arn:aws:lambda:...:function:...``, ``arn:aws:states:::lambda:invoke``, a
  substitution named as a function) returns within Lambda's own 15 minutes; any other
  Task has no bound (Step Functions' default is 99,999,999 seconds): a callback or an
  activity waits for the outside world, a ``.sync`` job for the job, a service call for
  its answer. ``HeartbeatSeconds`` alone bounds nothing: a worker that keeps beating
  holds the Task. A ``TimeoutSecondsPath`` is read from the input: no bound either.
- a **Wait** waits its ``Seconds``; ``SecondsPath``, ``Timestamp`` and ``TimestampPath``
  are read from the input: no bound.
- a **Parallel** lasts as long as its longest branch, or as its shortest *timer branch*
  (one that only waits and fails, which stops the others: :func:`bounds.timer_branch`).
- a **Map** runs its iterator once per item, and the definition does not say how many
  items there are: no bound.
- Pass, Choice, Succeed and Fail take no time.
- a state's **Retry** adds attempts: every retrier that an error can reach (one whose
  ``ErrorEquals`` the earlier ones do not cover) can be used up, each attempt taking the
  state's worst case, and each retry first waits ``IntervalSeconds`` times ``BackoffRate``
  to the power of the retrier's attempt, at most ``MaxDelaySeconds``
  (``JitterStrategy: FULL`` only shortens the waits). The delays are added exactly (as
  fractions) and the whole rounded up to a second.
- a cycle the execution can reach makes the worst case unbounded, however a Choice
  bounds its rounds (``unbounded-loop`` says whether one does): the definition does not
  say how many rounds a counter allows.

The execution's ``TimeoutSeconds`` (an Express workflow's five minutes) caps it all.

>>> from statewright.verify.load.asl.read import read_definition
>>> from statewright.verify.load.yamlread import read_yaml
>>> text = '''{"StartAt": "Charge", "States": {
...   "Charge": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Wait",
...     "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2, "IntervalSeconds": 10}]},
...   "Wait": {"Type": "Wait", "Seconds": 3600, "End": true}}}'''
>>> top = read_definition(read_yaml(text, "c.asl.json").root, "c.asl.json", [])
>>> time = execution_time(top)
>>> time.seconds, time.describe()
(6330, 'every execution ends within 1h 45m 30s')
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass
from fractions import Fraction

from statewright.verify.digraph import strong_components
from statewright.verify.load.asl.bounds import timer_branch
from statewright.verify.load.asl.definition import (
    CALLBACK_SUFFIX,
    AslState,
    Definition,
    Delay,
    Retrier,
)
from statewright.verify.model import format_duration

__all__ = ["LAMBDA_SECONDS", "ExecutionTime", "execution_time", "retrier_seconds"]

LAMBDA_SECONDS = 900
"""The longest a Lambda function runs (its own hard limit): a Task that invokes one and
waits for no callback returns within it."""

_LAMBDA = re.compile(r"^arn:[^:]*:(?:lambda:[^:]*:[^:]*:function:|states:::lambda:invoke$)")
_LAMBDA_SUBSTITUTION = re.compile(r"function|lambda|fn(?:arn)?\}", re.IGNORECASE)
_HUGE = Fraction(100 * 365 * 86_400)
"""Past a hundred years a retrier's delays are not added up further (a backoff that
doubles for 99,999,999 attempts): the rest is charged a hundred years, far more than
any limit."""
_STEPS = 10_000
"""How many delays are added one by one; a rate so close to 1 that more are needed is
charged a hundred years more (a bound, if not the tightest)."""


@dataclass(frozen=True, slots=True)
class _Unbounded:
    """What makes a state's (or a definition's) time unbounded, as the words after "an
    execution can"."""

    why: str


_Time = Fraction | _Unbounded


@dataclass(frozen=True, slots=True)
class ExecutionTime:
    """The worst case of one execution.

    ``seconds`` is the longest it can take, None when nothing bounds it; ``uncapped`` is
    the worst case without the execution's own timeout (None: unbounded) and ``cap`` that
    timeout in seconds (None: there is none), named by ``capped_by``; ``why`` says what
    makes ``uncapped`` unbounded (words after "an execution can").
    """

    seconds: int | None
    uncapped: int | None
    why: str = ""
    cap: int | None = None
    capped_by: str = ""

    def describe(self) -> str:
        """The text report's words: ``every execution ends within 1h 5m``, with what
        caps it when the execution's timeout does, or what makes it unbounded."""
        if self.seconds is None:
            return f"an execution can {self.why}"
        text = f"every execution ends within {format_duration(self.seconds)}"
        if self.uncapped is None or self.uncapped > self.seconds:
            return f"{text} ({self.capped_by})"
        return text


def execution_time(top: Definition) -> ExecutionTime:
    """The worst case of an execution of the state machine ``top``."""
    found = _definition_time(top)
    cap = top.timeout.seconds if top.timeout is not None else None
    capped_by = ""
    if top.timeout is not None and cap is not None:
        written = top.timeout.field == "TimeoutSeconds"
        capped_by = "its TimeoutSeconds" if written else "an Express execution's limit"
    if isinstance(found, _Unbounded):
        return ExecutionTime(cap, None, found.why, cap, capped_by)
    uncapped = math.ceil(found)
    seconds = uncapped if cap is None else min(uncapped, cap)
    return ExecutionTime(seconds, uncapped, "", cap, capped_by)


def _definition_time(definition: Definition) -> _Time:
    """The longest path through ``definition`` from its start to its end, each state
    charged its worst case: unbounded at the nearest state that is (in breadth-first
    order), else at a cycle the execution can reach."""
    states = {s.name: s for s in definition.states}
    graph = {s.name: [t for t in _targets(s) if t in states] for s in definition.states}
    start = definition.start.target
    if start not in states:
        return Fraction(0)
    where = f" (in {definition.part})" if definition.part else ""
    order: dict[str, int] = {start: 0}
    queue = deque([start])
    weight: dict[str, Fraction] = {}
    while queue:
        name = queue.popleft()
        time = _state_time(states[name], where)
        if isinstance(time, _Unbounded):
            return time
        weight[name] = time
        for target in graph[name]:
            if target not in order:
                order[target] = len(order)
                queue.append(target)
    reached = {name: graph[name] for name in order}
    loops = [
        c.states
        for c in strong_components(list(order), reached)
        if c.inner or c.states[0] in reached[c.states[0]]
    ]
    if loops:
        loop = min(loops, key=lambda names: min(order[n] for n in names))
        names = sorted(loop, key=order.__getitem__)
        shown = ", ".join(f"'{n}'" for n in names)
        return _Unbounded(f"go round {shown}{where} with no bound written on the rounds")
    longest: dict[str, Fraction] = {}
    for name in sorted(order, key=order.__getitem__, reverse=True):
        _longest_from(name, reached, weight, longest)
    return longest[start]


def _longest_from(
    root: str,
    graph: dict[str, list[str]],
    weight: dict[str, Fraction],
    longest: dict[str, Fraction],
) -> None:
    """Fill ``longest`` for ``root`` and what it reaches (an acyclic graph), iteratively."""
    stack = [root]
    while stack:
        name = stack[-1]
        if name in longest:
            stack.pop()
            continue
        pending = [t for t in graph[name] if t not in longest]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        after = max((longest[t] for t in graph[name]), default=Fraction(0))
        longest[name] = weight[name] + after


def _targets(state: AslState) -> list[str]:
    found = [] if state.next is None else [state.next.target]
    found.extend(e.target for e in state.choices)
    if state.default is not None:
        found.append(state.default.target)
    found.extend(c.next.target for c in state.catchers)
    return found


def _state_time(state: AslState, where: str) -> _Time:
    """The worst case of one state, its retries included; ``where`` names the definition
    it is in (`` (in Fan out/branch0)``) for the words of an unbounded one."""
    attempt = _attempt_time(state, f"'{state.name}'{where}")
    if isinstance(attempt, _Unbounded) or not state.retriers:
        return attempt
    total = attempt
    for retrier in _usable(state.retriers):
        delay = retrier_seconds(retrier)
        if delay is None or retrier.attempts is None:
            return _Unbounded(
                f"retry '{state.name}'{where} with no bound written (a field of its Retry "
                "is not a number)"
            )
        total += retrier.attempts * attempt + delay
    return total


def _usable(retriers: tuple[Retrier, ...]) -> list[Retrier]:
    """The retriers an error can reach: each names an error no earlier one names (and
    none follows ``States.ALL``)."""
    covered: set[str] = set()
    found = []
    for retrier in retriers:
        if "States.ALL" in covered:
            break
        if not set(retrier.errors) <= covered:
            found.append(retrier)
        covered.update(retrier.errors)
    return found


def retrier_seconds(retrier: Retrier) -> Fraction | None:
    """Every delay of a retrier added up: ``IntervalSeconds`` times ``BackoffRate`` to the
    power of the attempt, each at most ``MaxDelaySeconds``; None when a field is not a
    number. Past :data:`_HUGE` the sum is not carried on.

    >>> from statewright.verify.model import Location
    >>> at = Location("f", 1, 1)
    >>> retrier_seconds(Retrier(("E",), at, interval=3, attempts=4, backoff=1.5))
    Fraction(195, 8)
    >>> retrier_seconds(Retrier(("E",), at, interval=5, attempts=20, backoff=2.0, max_delay=60))
    Fraction(1035, 1)
    """
    interval, attempts, rate = retrier.interval, retrier.attempts, retrier.backoff
    if interval is None or attempts is None or rate is None:
        return None
    factor = Fraction(rate)
    cap = None if retrier.max_delay is None else Fraction(retrier.max_delay)
    total, delay = Fraction(0), Fraction(interval)
    for n in range(attempts):
        if cap is not None and delay >= cap:
            return total + cap * (attempts - n)
        if factor <= 1:
            return total + delay * (attempts - n)  # an upper bound when the rate is below 1
        if total > _HUGE or n > _STEPS:
            return total + _HUGE
        total += delay
        delay *= factor
    return total


def _attempt_time(state: AslState, name: str) -> _Time:
    """The worst case of one attempt of ``state`` (no retry), ``name`` its quoted name."""
    if state.type == "Wait":
        wait = state.wait
        if wait is None or wait.seconds is None:
            return _Unbounded(f"wait in {name} for ever ({_unwritten(wait)})")
        return Fraction(wait.seconds)
    if state.type == "Task":
        return _task_time(state, name)
    if state.type == "Parallel":
        return _parallel_time(state)
    if state.type == "Map":
        iteration = _definition_time(state.branches[0]) if state.branches else Fraction(0)
        if isinstance(iteration, _Unbounded):
            return iteration
        return _Unbounded(
            f"run Map {name} for as many items as its input holds (each item within "
            f"{format_duration(math.ceil(iteration))}; the definition does not bound the items)"
        )
    return Fraction(0)


def _unwritten(delay: Delay | None) -> str:
    """Why a delay that is not written out bounds nothing."""
    if delay is None:
        return "its wait is not written"
    if delay.field.endswith("Path"):
        return f"its {delay.field} is read from the input"
    if delay.field == "Timestamp":
        return "it waits until a Timestamp, however far"
    return f"its {delay.field} is computed when it runs"


def _task_time(state: AslState, name: str) -> _Time:
    timeout = state.timeout
    if timeout is not None:
        if timeout.seconds is None:
            return _Unbounded(f"wait in {name} for ever ({_unwritten(timeout)})")
        return Fraction(timeout.seconds)
    resource = state.resource or ""
    if _LAMBDA.match(resource) or (
        state.placeholder and _LAMBDA_SUBSTITUTION.search(resource) is not None
    ):
        return Fraction(LAMBDA_SECONDS)
    if state.placeholder:
        why = "its Resource is filled in when deployed, and it has no TimeoutSeconds"
    elif resource.endswith(CALLBACK_SUFFIX):
        why = "a callback with no TimeoutSeconds"
    elif state.callback:
        why = "an activity with no TimeoutSeconds"
    elif resource.endswith(".sync") or ".sync:" in resource:
        why = "a .sync job with no TimeoutSeconds"
    else:
        why = "a Task with no TimeoutSeconds"
    if state.heartbeat is not None:
        why += ": HeartbeatSeconds alone lets a worker that keeps beating hold it"
    return _Unbounded(f"wait in {name} for ever ({why})")


def _parallel_time(state: AslState) -> _Time:
    """The longest branch, unless a timer branch ends the Parallel sooner."""
    times = [_definition_time(b) for b in state.branches]
    timers = [
        t
        for b, t in zip(state.branches, times, strict=True)
        if timer_branch(b) and not isinstance(t, _Unbounded)
    ]
    shortest_timer = min((t for t in timers if isinstance(t, Fraction)), default=None)
    unbounded = next((t for t in times if isinstance(t, _Unbounded)), None)
    if unbounded is not None and shortest_timer is None:
        return unbounded
    longest = max((t for t in times if isinstance(t, Fraction)), default=Fraction(0))
    if unbounded is not None:
        assert shortest_timer is not None
        return shortest_timer
    return longest if shortest_timer is None else min(longest, shortest_timer)
