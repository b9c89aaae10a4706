"""``statewright serve --store DSN``: the reviewers' console (:mod:`statewright.generator.console`).

Serves the store's pending approvals, runs, timelines and diagrams, and lets reviewers
decide and roll back through each spec's generated runtime. Identity comes from the
deployment: ``--trust-header`` (a reverse proxy that authenticates people names them in
that header; ``--roles`` maps each to their roles and lists who may use the console at
all), or else one user (``--user``, ``--role``) who signs in with the link printed at
start. Needs the extra ``statewright[console]``; without it the command says so and exits 2.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from statewright.generator.commands import EXIT_OK, EXIT_USAGE, Command
from statewright.generator.commands.stores import display, spec_paths, specs_argument
from statewright.generator.console import missing_extra
from statewright.verify.check import check_file
from statewright.verify.findings import has_errors
from statewright.verify.model import Spec
from statewright.verify.printable import printable_path

if TYPE_CHECKING:
    from statewright.generator.runtime.signing import Signer

__all__ = ["COMMAND", "serve_command"]


def _specs(paths: Sequence[Path], stderr: TextIO) -> list[Spec]:
    """The specs ``paths`` hold that check without errors (the others are named)."""
    found = []
    for path in spec_paths(paths):
        result = check_file(path)
        if result.spec is None or has_errors(result.findings):
            shown = printable_path(path.as_posix())
            print(f"statewright: {shown}: not served; 'statewright check' says why", file=stderr)
            continue
        found.append(result.spec)
    return found


def _signing_keys(folder: Path | None, stderr: TextIO) -> dict[str, Signer] | None:
    """The signers of ``--signing-keys`` by actor id ({} without it); None once a line
    said why the folder is refused."""
    if folder is None:
        return {}
    from statewright.generator.console.keys import SigningKeysError, read_signing_keys
    from statewright.generator.signing import SigningUnavailable

    try:
        return dict(read_signing_keys(folder))
    except (SigningKeysError, SigningUnavailable, OSError) as error:
        print(f"statewright: error: {error}", file=stderr)
        return None


def _login() -> str:
    """The login name of whoever runs the command (``reviewer`` when there is none)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "reviewer"


def serve_command(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Run the console until interrupted; the exit status (0 stopped, 2 usage)."""
    missing = missing_extra()
    if missing is not None:
        print(f"statewright: error: {missing}", file=stderr)
        return EXIT_USAGE
    from statewright.generator.console import identity as ids
    from statewright.generator.console.app import Console, create_app
    from statewright.generator.console.machines import serve_specs
    from statewright.generator.console.reading import Stores
    from statewright.generator.runtime import Actor

    if (args.trust_header is None) != (args.roles is None):
        print("statewright: error: --trust-header and --roles go together", file=stderr)
        return EXIT_USAGE
    identity: ids.Identity
    try:
        if args.trust_header is not None:
            identity = ids.HeaderIdentity(args.trust_header, ids.read_roles(args.roles))
        else:
            identity = ids.TokenIdentity(Actor(args.user or _login(), frozenset(args.role)))
    except (ids.RolesFileError, TypeError) as error:
        print(f"statewright: error: {error}", file=stderr)
        return EXIT_USAGE
    signers = _signing_keys(args.signing_keys, stderr)
    if signers is None:
        return EXIT_USAGE
    specs = _specs(args.specs, stderr)
    if not specs:
        print(
            "statewright: error: no spec to serve: name a folder of specs with --specs", file=stderr
        )
        return EXIT_USAGE
    try:
        stores = Stores(args.store)
    except Exception as error:  # the driver's: no such file, not a store, unreachable
        print(f"statewright: error: {display(args.store)}: {error}".rstrip(), file=stderr)
        return EXIT_USAGE
    import uvicorn

    console = Console(serve_specs(specs), stores, identity, poll=args.poll)
    if args.signing_keys is not None:
        console.signers, console.signed_only = signers, True
    console.cancel_roles = frozenset(args.cancel_role)
    app = create_app(console)
    base = f"http://{args.host}:{args.port}"
    machines = ", ".join(sorted(s.machine for s in specs))
    print(f"statewright console for {display(args.store)} ({machines})", file=stdout)
    if isinstance(identity, ids.TokenIdentity):
        roles = ", ".join(sorted(identity.actor.roles)) or "none"
        print(f"signed in as {identity.actor.id} (roles: {roles}): open", file=stdout)
        print(f"  {base}/login?token={identity.token}", file=stdout)
    else:
        print(f"at {base}, people named by the proxy in {args.trust_header}", file=stdout)
    if args.signing_keys is not None:
        print(f"signing every decision with the keys of: {', '.join(signers)}", file=stdout)
    if args.cancel_role:
        roles = ", ".join(sorted(console.cancel_roles))
        print(f"cancelling runs: people holding {roles}", file=stdout)
    stdout.flush()
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    finally:
        stores.close()
    return EXIT_OK


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", required=True, metavar="PATH_OR_URL", help="a SQLite file or a postgresql:// URL"
    )
    specs_argument(
        parser,
        "a spec or a folder of specs whose runs the console shows (default: specs/); "
        "repeat for more",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="the address to listen on (default: 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8765, help="the port (default: 8765)")
    parser.add_argument(
        "--trust-header",
        metavar="HEADER",
        help="take the user from this header, set by a trusted reverse proxy "
        "(X-Forwarded-User); needs --roles",
    )
    parser.add_argument(
        "--roles",
        type=Path,
        metavar="FILE",
        help="YAML mapping each user the proxy may name to their roles ('dana: [tech_lead]'); "
        "a user it does not hold is refused",
    )
    parser.add_argument(
        "--user",
        default=None,
        help="without --trust-header: the one user's id (default: your login name)",
    )
    parser.add_argument(
        "--role",
        action="append",
        default=[],
        metavar="ROLE",
        help="without --trust-header: a role the one user holds; repeat for more",
    )
    parser.add_argument(
        "--signing-keys",
        type=Path,
        metavar="DIR",
        help="sign every decision and rollback with the reviewer's Ed25519 key, "
        "DIR/<user>.key (PEM or ed25519:BASE64), readable by the server alone; a "
        "reviewer without a key is refused",
    )
    parser.add_argument(
        "--cancel-role",
        action="append",
        default=[],
        metavar="ROLE",
        help="let people holding ROLE cancel a run from its page, with a reason "
        "(as 'statewright runs cancel'); repeat for more (default: nobody cancels "
        "from the console)",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=5,
        metavar="SECONDS",
        help="how often open pages refresh their live parts (default: 5)",
    )


COMMAND = Command(
    name="serve",
    summary="serve the reviewers' console over a store",
    description=(
        "Serve a web console over the store at PATH_OR_URL: the approvals waiting for a "
        "reviewer (what waits, since when, the deadline, the context and its digest), "
        "every run with its timeline and its diagram with the current state marked, "
        "failures with their recovery procedure; decide (approve, reject, request "
        "changes: the human exits of the state) and roll back, each through the spec's "
        "generated runtime, with the same checks and audit records as an application.",
        "Identity comes from the deployment, never from a form: with --trust-header a "
        "reverse proxy names the user and --roles maps users to roles; otherwise one user "
        "(--user, --role) signs in with the link printed at start, which sets a session "
        "cookie. Every form carries a CSRF token; nothing is served to a request that "
        "names nobody. Open pages refresh their live parts every --poll seconds.",
        "With --signing-keys DIR the console signs every decision and rollback with the "
        "acting reviewer's private key, DIR/<user>.key, so that 'statewright audit verify "
        "--keyring' holds the records to the reviewers' public keys; a key file its group "
        "or others may read is refused at start, and a reviewer with no key is refused "
        "(403, nothing changed).",
        "With --cancel-role ROLE the run page of an open run offers the people holding "
        "ROLE a cancel form with a required reason: it writes the 'cancelled' record "
        "'statewright runs cancel' writes (Machine.cancel: the run is closed for good, "
        "workers never run it again), signed with their key under --signing-keys. "
        "Without it nobody cancels from the console (403, nothing changed).",
        "It prints its address (and the one user's sign-in link) on standard output and "
        "serves until interrupted (Ctrl-C).",
        "Needs the optional extra: pip install 'statewright[console]'.",
    ),
    exits=(
        (0, "stopped"),
        (
            2,
            "a usage error: the extra is missing, the store cannot be opened, the roles "
            "file or a signing key cannot be read (or others may read a key), or no spec "
            "checks without errors",
        ),
    ),
    arguments=_arguments,
    run=serve_command,
)
