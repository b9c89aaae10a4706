"""Who is asking: identity from the deployment, never from a form; CSRF tokens.

Two ways, chosen when the console starts:

- :class:`HeaderIdentity`: a trusted reverse proxy authenticates people and names them in a
  header (``--trust-header X-Forwarded-User``); their roles come from a mapping file
  (``--roles FILE``: YAML ``{user: [role, ...]}``), which is also the list of who may use the
  console: a name the file does not hold is refused.
- :class:`TokenIdentity`: one user on a laptop. A random token is printed at start as a
  link; visiting it sets a session cookie (HttpOnly, SameSite=Lax) and the token leaves the
  address bar. Every other request needs that cookie.

Either way a request that names nobody is answered without data. Every form carries a
CSRF token, an HMAC under a key made at start of what identifies the requester (the
session, or the proxy's user), checked on every POST before anything else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from statewright.generator.runtime import Actor

__all__ = [
    "SESSION_COOKIE",
    "HeaderIdentity",
    "Identity",
    "Known",
    "RolesFileError",
    "TokenIdentity",
    "read_roles",
]

SESSION_COOKIE = "statewright_session"


@dataclass(frozen=True, slots=True)
class Known:
    """A request's requester: the actor the runtime sees, and the key its CSRF token is
    made from (the session, or the proxy's user)."""

    actor: Actor
    key: str


class Identity:
    """How the console tells who a request comes from (a base for the two ways)."""

    def __init__(self) -> None:
        self._secret = secrets.token_bytes(32)

    def who(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Known | None:
        """The requester, or None: nothing is served to them."""
        raise NotImplementedError

    def refusal(self) -> str:
        """What an unauthenticated requester is told (no data)."""
        raise NotImplementedError

    def csrf(self, known: Known) -> str:
        """The CSRF token of ``known``'s forms."""
        return hmac.new(self._secret, b"csrf\0" + known.key.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, known: Known, token: str | None) -> bool:
        """True when ``token`` is ``known``'s CSRF token."""
        return token is not None and hmac.compare_digest(self.csrf(known), token)


class RolesFileError(ValueError):
    """The roles mapping file cannot be read: one line, with the file, to print."""


def read_roles(path: Path) -> dict[str, frozenset[str]]:
    """The roles mapping file: YAML, each user's id mapped to a list of role names."""
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        raise RolesFileError(f"{path}: cannot read the roles file: {error}") from error
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else f"{path}"
        raise RolesFileError(f"{where}: not YAML: {getattr(error, 'problem', error)}") from error
    if not isinstance(loaded, dict):
        raise RolesFileError(f"{path}:1:1: expected a mapping of user ids to lists of roles")
    roles: dict[str, frozenset[str]] = {}
    for user, held in loaded.items():
        listed = held if isinstance(held, list) else None
        if not isinstance(user, str) or not user.strip() or listed is None:
            raise RolesFileError(
                f"{path}: {user!r}: expected a user id mapped to a list of roles, "
                f"like 'dana: [tech_lead]'"
            )
        if not all(isinstance(r, str) and r.strip() for r in listed):
            raise RolesFileError(f"{path}: {user}: every role is a non-empty string")
        roles[user] = frozenset(listed)
    return roles


class HeaderIdentity(Identity):
    """The user a trusted reverse proxy names in ``header``; roles from ``roles``."""

    def __init__(self, header: str, roles: Mapping[str, frozenset[str]]) -> None:
        super().__init__()
        self.header = header.lower()
        self.roles = dict(roles)

    def who(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Known | None:
        user = headers.get(self.header)
        if user is None or user not in self.roles:
            return None
        return Known(Actor(user, self.roles[user]), "user\0" + user)

    def refusal(self) -> str:
        return (
            "Sign in through the proxy in front of this console: it names no user this "
            "console knows."
        )


@dataclass
class TokenIdentity(Identity):
    """One user, ``actor``, who proves it with ``token`` once and a session cookie after."""

    actor: Actor
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    _sessions: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        Identity.__init__(self)

    def login(self, token: str | None) -> str | None:
        """A new session id when ``token`` is the one printed at start, else None."""
        if token is None or not hmac.compare_digest(token.encode(), self.token.encode()):
            return None
        session = secrets.token_urlsafe(32)
        self._sessions.add(session)
        return session

    def who(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Known | None:
        session = cookies.get(SESSION_COOKIE)
        if session is None or session not in self._sessions:
            return None
        return Known(self.actor, "session\0" + session)

    def refusal(self) -> str:
        return "Open the link 'statewright serve' printed when it started to sign in."
