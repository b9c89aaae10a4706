"""The reviewers' console, running for real in the tests and the benchmark.

``running(app)`` serves an ASGI application with uvicorn on a free loopback port in a
thread; ``Client`` is a cookie-keeping HTTP client on the standard library that never
raises on an error status; ``seed`` fills a store with orchestrator runs through the
runtime the console serves, ``seed_releases`` with ``release_review`` runs waiting at
their quorum gate.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn

from statewright.generator.console.machines import Served, serve_specs
from statewright.generator.runtime import Actor, SqlStore
from statewright.verify.load.loader import load_file

ROOT = Path(__file__).resolve().parents[1]

__all__ = [
    "RELEASE_ROLES",
    "ROOT",
    "Client",
    "Reply",
    "orchestrator",
    "release_review",
    "running",
    "seed",
    "seed_releases",
]

RELEASE_ROLES = {
    "alice": frozenset({"maintainer"}),  # requests every release: the policy refuses her
    "bob": frozenset({"maintainer"}),
    "carol": frozenset({"maintainer"}),
    "dave": frozenset({"director"}),
    "rita": frozenset({"release_manager"}),
}
"""Who reviews the ``release_review`` runs of :func:`seed_releases`, by actor id."""


def orchestrator() -> dict[str, Served]:
    """The shipped orchestrator spec, served."""
    spec = load_file(ROOT / "specs" / "orchestrator.yaml").spec
    assert spec is not None
    return serve_specs([spec])


def release_review() -> dict[str, Served]:
    """The shipped release_review spec (a quorum of two, separate from the requester,
    escalated to a director after a day, bound to its context), served."""
    spec = load_file(ROOT / "specs" / "release_review.yaml").spec
    assert spec is not None
    return serve_specs([spec])


@contextlib.contextmanager
def running(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the console did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@dataclass(frozen=True)
class Reply:
    status: int
    text: str
    headers: Mapping[str, str]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """An HTTP client that keeps cookies, sends ``headers`` with every request and
    returns every status (redirects are not followed: their status is the answer)."""

    def __init__(self, base: str, headers: Mapping[str, str] | None = None) -> None:
        self.base = base
        self.headers = dict(headers or {})
        self.jar = http.cookiejar.CookieJar()
        self._opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect()
        )

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return self._send(urllib.request.Request(self.base + path), headers)

    def post(
        self, path: str, form: Mapping[str, str], headers: Mapping[str, str] | None = None
    ) -> Reply:
        body = urllib.parse.urlencode(form).encode()
        request = urllib.request.Request(self.base + path, data=body, method="POST")
        request.add_header("content-type", "application/x-www-form-urlencoded")
        return self._send(request, headers)

    def _send(self, request: urllib.request.Request, headers: Mapping[str, str] | None) -> Reply:
        for name, value in {**self.headers, **(headers or {})}.items():
            request.add_header(name, value)
        try:
            with self._opener.open(request, timeout=120) as answer:
                return Reply(answer.status, answer.read().decode(), dict(answer.headers))
        except urllib.error.HTTPError as error:
            return Reply(error.code, error.read().decode(), dict(error.headers))


def seed(store: SqlStore, served: Mapping[str, Served], waiting: int, running: int = 0) -> None:
    """``waiting`` orchestrator runs at the approval gate (``wait-<i>``), ``running`` in
    RUNNING (``run-<i>``) and one failed with a reason (``failed-0``), each with a context."""
    machine = served["orchestrator"].machine
    with store.batch():
        for i in range(waiting):
            run = machine.create(store, f"wait-{i}", context={"task": f"task {i}", "pr": i})
            run.fire("task_received")
            run.fire("gate_reached")
        for i in range(running):
            machine.create(store, f"run-{i}", context={"task": f"job {i}"}).fire("task_received")
    failed = machine.create(store, "failed-0", context={"task": "flaky"})
    failed.fire("task_received")
    failed.fire("agent_error", payload={"status": 503})


def seed_releases(
    store: SqlStore, served: Mapping[str, Served], waiting: int, escalated: int = 0
) -> None:
    """``waiting`` release_review runs requested by alice and built, waiting at REVIEW
    (``rel-<i>``), and ``escalated`` more that entered REVIEW 30 hours ago, past their
    escalation to a director (``old-<i>``)."""
    machine = served["release_review"].machine
    alice = Actor("alice", RELEASE_ROLES["alice"])
    past = datetime.now(UTC) - timedelta(hours=30)
    with store.batch():
        for i in range(waiting):
            context = {
                "version": f"1.{i}.0",
                "notes": f"release 1.{i}",
                "artefact": f"sha256:{i:02x}",
            }
            run = machine.create(store, f"rel-{i}", context=context)
            run.fire("release_requested", actor=alice)
            run.fire("build_ready")
        for i in range(escalated):
            context = {"version": f"0.{i}.0", "notes": f"release 0.{i}", "artefact": "sha256:ff"}
            run = machine.create(store, f"old-{i}", context=context, clock=lambda: past)
            run.fire("release_requested", actor=alice)
            run.fire("build_ready")
