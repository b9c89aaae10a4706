"""The console as an ASGI application (Starlette): its routes and what each answers.

- ``GET /``: the inbox, the runs waiting at an approval gate (paged, the earliest
  deadline first), each with what waits, since when, the deadline, the context and its
  digest, and, under a policy, who approved already, the quorum and what it still lacks,
  the escalation and the digest an approval is bound to;
- ``GET /runs``: every run, paged, by machine and state;
- ``GET /runs/MACHINE/ID``: one run: where it stands, the diagram with its state marked,
  its timeline, its failures with their recovery procedure, the decisions the requester
  may take and rollback;
- ``POST /runs/MACHINE/ID``: a decision (``action=decide``: a human trigger with its
  decision text), a rollback (``action=rollback``) or a cancellation (``action=cancel``
  with its reason, for the roles ``Console.cancel_roles`` names), through the machine's
  runtime;
- ``GET /login?token=...``: a one-user console's sign-in (:mod:`.identity`);
- ``GET /static/...``: htmx (vendored) and the style sheet.

Every route but ``/login`` answers an unauthenticated request with 401 and no data; every
POST checks its CSRF token first. A page asked for by htmx (``HX-Request``) is answered
with its live part alone, which the page polls for every ``poll`` seconds.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from statewright.generator.console import actions
from statewright.generator.console.identity import (
    SESSION_COOKIE,
    Identity,
    Known,
    TokenIdentity,
)
from statewright.generator.console.machines import Served
from statewright.generator.console.reading import (
    Stores,
    context_digest,
    distance,
    entered_at,
    pending_page,
    prior_approvals,
    runs_page,
)
from statewright.generator.runtime import StoreError, UnknownInstance
from statewright.generator.runtime.records import Refused

__all__ = ["PAGE_SIZE", "Console", "create_app"]

PAGE_SIZE = 25
"""Rows per page of the inbox and the runs list."""

MAX_FORM_BYTES = 64 * 1024
"""The largest form body a POST may send (a decision text is far shorter)."""

_SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}

_LIVE = {
    "inbox.html.jinja": "_inbox.html.jinja",
    "runs.html.jinja": "_runs.html.jinja",
    "run.html.jinja": "_run_live.html.jinja",
}
"""The part of each page that htmx polls for, by page."""

_STATIC = {
    "htmx.min.js": ("htmx-2.0.11.min.js", "text/javascript; charset=utf-8"),
    "console.css": ("console.css", "text/css; charset=utf-8"),
}


@dataclass
class Console:
    """What the application serves: the machines, the store, who may ask, how often the
    live parts poll (seconds), and the signers of the reviewers whose decisions the
    console signs (actor id to a function of the record's content, such as
    ``statewright.generator.signing.Ed25519Signer``), so ``audit verify --keyring``
    holds their decisions to their keys. With ``signed_only`` every decision, rollback
    and cancellation is signed: a reviewer without a signer is refused (``serve
    --signing-keys``). ``cancel_roles``: who may cancel a run from the console (``serve
    --cancel-role``); nobody when empty, the default."""

    served: Mapping[str, Served]
    stores: Stores
    identity: Identity
    poll: float = 5.0
    signers: Mapping[str, Callable[[bytes], str]] = field(default_factory=dict)
    signed_only: bool = False
    cancel_roles: frozenset[str] = frozenset()


def unsigned(actor: str) -> str:
    """Why a console that signs every decision refuses ``actor``'s: it holds no key."""
    return (
        f"This console signs every decision, and it holds no signing key for {actor}: "
        f"nothing was changed. The operator adds {actor}.key to its --signing-keys folder "
        "(and the public key to the auditors' keyring)."
    )


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("statewright.generator.console", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["ago"] = _ago
    env.filters["pretty"] = lambda value: json.dumps(value, indent=2, ensure_ascii=False)
    env.filters["thousands"] = lambda value: f"{value:,}"
    env.filters["q"] = lambda value: quote(str(value), safe="")
    return env


def _when(moment: datetime | str | None) -> str:
    """A moment as ``2026-12-03 11:22:05 UTC``; ``-`` for none."""
    if moment is None:
        return "-"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(moment: datetime | None) -> str:
    """How far ``moment`` is from now: ``3 h ago``, ``in 2 d``."""
    if moment is None:
        return ""
    return distance(moment, datetime.now(UTC))


def create_app(console: Console) -> Starlette:
    """The console's ASGI application."""
    env = _environment()

    def render(
        request: Request, known: Known, template: str, status: int = 200, **values: Any
    ) -> HTMLResponse:
        live = _LIVE.get(template)
        if live is not None and request.headers.get("hx-request") == "true":
            template = live  # htmx polls for the live part alone
        page = env.get_template(template).render(
            actor=known.actor,
            csrf=console.identity.csrf(known),
            poll=console.poll,
            path=request.url.path,
            **values,
        )
        return HTMLResponse(page, status_code=status, headers=_SECURITY_HEADERS)

    def refused(status: int, message: str) -> HTMLResponse:
        page = env.get_template("refused.html.jinja").render(status=status, message=message)
        return HTMLResponse(page, status_code=status, headers=_SECURITY_HEADERS)

    Handler = Callable[[Request, Known], Awaitable[Response]]

    def authenticated(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            known = console.identity.who(request.headers, request.cookies)
            if known is None:
                return refused(401, console.identity.refusal())
            return await handler(request, known)

        return endpoint

    def number(request: Request) -> int:
        try:
            return max(1, int(request.query_params.get("page", "1")))
        except ValueError:
            return 1

    async def inbox(request: Request, known: Known) -> Response:
        page_number = number(request)
        rows, page = await run_in_threadpool(
            pending_page, console.stores.get(), console.served, page_number, PAGE_SIZE
        )
        return render(request, known, "inbox.html.jinja", rows=rows, page=page, query="")

    async def runs(request: Request, known: Known) -> Response:
        machine = request.query_params.get("machine") or None
        state = request.query_params.get("state") or None
        rows, page = await run_in_threadpool(
            runs_page,
            console.stores.get(),
            console.served,
            number(request),
            PAGE_SIZE,
            machine,
            state,
        )
        return render(
            request,
            known,
            "runs.html.jinja",
            rows=rows,
            page=page,
            machine=machine or "",
            state=state or "",
            query=urlencode({k: v for k, v in (("machine", machine), ("state", state)) if v})
            + ("&" if machine or state else ""),
            machines=sorted(console.served),
        )

    def run_view(
        known: Known, served: Served, instance_id: str, message: str | None, error: str | None
    ) -> dict[str, Any]:
        run = served.machine.load(console.stores.get().store, instance_id)
        state = str(run.state)
        context = run.context
        gate = prior_approvals(run)
        return {
            "served": served,
            "instance_id": instance_id,
            "run": run,
            "state": state,
            "kind": served.kind(state),
            "since": entered_at(run),
            "context": context,
            "digest": context_digest(context)
            if gate is None or gate.digest is None
            else gate.digest,
            "gate": gate,
            "diagram": served.diagram(state),
            "failures": [
                (failure, served.machine.recovery(failure.reason))
                for failure in run.failures
                if failure.reason is not None
            ],
            "reason": run.reason,
            "recovery": () if run.reason is None else served.machine.recovery(run.reason),
            "decisions": actions.decisions(run, known.actor),
            "rollback": actions.rollback_choices(run, known.actor),
            "cancel": _cancellable(served, run, known, console.cancel_roles),
            "message": message,
            "error": error,
        }

    async def show(
        request: Request,
        known: Known,
        message: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> Response:
        name = request.path_params["machine"]
        instance_id = request.path_params["instance_id"]
        served = console.served.get(name)
        if served is None:
            return render(request, known, "missing.html.jinja", 404, what=f"machine {name}")
        try:
            view = await run_in_threadpool(run_view, known, served, instance_id, message, error)
        except UnknownInstance:
            what = f"{name} run {instance_id}"
            return render(request, known, "missing.html.jinja", 404, what=what)
        except (StoreError, Refused, ValueError) as problem:  # tampered or not this spec's
            return render(
                request,
                known,
                "broken.html.jinja",
                409,
                served=served,
                instance_id=instance_id,
                problem=str(problem),
            )
        return render(request, known, "run.html.jinja", status, **view)

    async def run_page(request: Request, known: Known) -> Response:
        done = request.query_params.get("done")
        return await show(request, known, message=done)

    async def act(request: Request, known: Known) -> Response:
        form = await _form(request)
        if form is None:
            return refused(400, "Send the form as application/x-www-form-urlencoded, briefly.")
        if not console.identity.csrf_ok(known, form.get("csrf")):
            return refused(403, "The form's CSRF token is missing or wrong: reload the page.")
        served = console.served.get(request.path_params["machine"])
        if served is None:
            return refused(404, "No such machine.")
        instance_id = request.path_params["instance_id"]
        actor = known.actor
        signer = console.signers.get(actor.id)
        if signer is not None:
            actor = replace(actor, signer=signer)
        elif console.signed_only:
            return await show(request, known, error=unsigned(actor.id), status=403)
        outcome = await run_in_threadpool(
            actions.act,
            console.stores.get().store,
            served,
            instance_id,
            actor,
            form,
            console.cancel_roles,
        )
        if outcome.status == 303:
            url = f"/runs/{quote(served.name)}/{quote(instance_id)}?done={quote(outcome.text)}"
            return RedirectResponse(url, status_code=303, headers=_SECURITY_HEADERS)
        return await show(request, known, error=outcome.text, status=outcome.status)

    async def static(request: Request, known: Known) -> Response:
        entry = _STATIC.get(request.path_params["name"])
        if entry is None:
            return refused(404, "No such file.")
        source = resources.files("statewright.generator.console") / "static" / entry[0]
        headers = {**_SECURITY_HEADERS, "cache-control": "private, max-age=3600"}
        return Response(source.read_bytes(), media_type=entry[1], headers=headers)

    async def login(request: Request) -> Response:
        identity = console.identity
        if not isinstance(identity, TokenIdentity):
            return refused(404, "This console signs people in through its proxy.")
        session = identity.login(request.query_params.get("token"))
        if session is None:
            return refused(401, identity.refusal())
        response = RedirectResponse("/", status_code=303, headers=_SECURITY_HEADERS)
        response.set_cookie(
            SESSION_COOKIE, session, httponly=True, samesite="lax", secure=request.url.is_secure
        )
        return response

    routes = [
        Route("/", authenticated(inbox)),
        Route("/runs", authenticated(runs)),
        Route("/runs/{machine}/{instance_id:path}", authenticated(run_page), methods=["GET"]),
        Route("/runs/{machine}/{instance_id:path}", authenticated(act), methods=["POST"]),
        Route("/static/{name}", authenticated(static)),
        Route("/login", login),
    ]
    app = Starlette(routes=routes)
    app.state.console = console
    return app


def _cancellable(served: Served, run: Any, known: Known, roles: frozenset[str]) -> bool:
    """Whether the run page offers ``known`` the cancel form: they hold a role the
    console lets cancel, and the run is open (not cancelled, not in a final state of its
    spec; the runtime refuses either, with 409, if a form gets there anyway)."""
    if roles.isdisjoint(known.actor.roles) or run.cancelled is not None:
        return False
    state = next((s for s in served.spec.states if s.name == str(run.state)), None)
    return state is None or not state.final


async def _form(request: Request) -> dict[str, str] | None:
    """The POSTed form's fields (the first value of each), or None for another kind of
    body or one larger than :data:`MAX_FORM_BYTES`."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        return None
    return {name: values[0] for name, values in fields.items()}
