"""Signed decisions with Ed25519: the reviewers' keyring, a signer for the runtime, and
the check ``statewright audit verify --keyring FILE`` runs.

A hash chain proves the order of an instance's records, but whoever can write to the
database can rebuild a whole chain with valid hashes. A signature proves who decided:
each human decision (a human transition, an approval counted toward a quorum, a
rollback) is signed with its reviewer's private key when it is recorded
(:class:`Ed25519Signer`, handed to the runtime as ``Actor(..., signer=...)``), and
checked here against the reviewer's public key from a keyring the auditor keeps.
Rebuilding the chain does not help a forger: the altered or invented decision has no
valid signature.

The runtime stays standard-library only (it calls the signer it is handed); this module
needs the optional extra ``statewright[signing]`` (the ``cryptography`` package), imported
when a key is first used.

A keyring file holds one reviewer a line: the actor id, a space, and the public key as
``ed25519:`` and the base64 of its 32 raw bytes; blank lines and ``#`` comments are
skipped::

    # reviewers of the release gate
    alice ed25519:Q1x2...=
    bob ed25519:7fA0...=
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from statewright.generator.runtime.signing import signed_content
from statewright.generator.runtime.store import Store

__all__ = [
    "PREFIX",
    "Ed25519Signer",
    "KeyringError",
    "SignatureProblem",
    "SigningUnavailable",
    "check_signatures",
    "new_key",
    "private_key_bytes",
    "public_key_of",
    "read_keyring",
    "verify_signature",
]

PREFIX: Final = "ed25519:"
"""How a key and a signature are written: this, then base64."""

_HUMAN_EVENTS: Final = frozenset({"transition", "approval", "rollback"})
"""The records of a person's act that a signing actor signs: a human decision, a vote
toward a quorum, a rollback."""


class SigningUnavailable(RuntimeError):
    """The ``cryptography`` package is not installed."""


class KeyringError(ValueError):
    """A keyring file that cannot be read; the message names the file and line."""


def _ed25519() -> Any:
    try:
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as error:  # pragma: no cover - the extra is installed in CI
        raise SigningUnavailable(
            "signed decisions need the cryptography package: pip install 'statewright[signing]'"
        ) from error
    return ed25519


def _decode(text: str, what: str, size: int) -> bytes:
    if not text.startswith(PREFIX):
        raise ValueError(f"{what} starts with {PREFIX}, not {text[:12]!r}")
    try:
        raw = base64.b64decode(text[len(PREFIX) :], validate=True)
    except binascii.Error as error:
        raise ValueError(f"{what} is not base64 after {PREFIX}: {error}") from error
    if len(raw) != size:
        raise ValueError(f"{what} holds {len(raw)} bytes, not {size}")
    return raw


def _encode(raw: bytes) -> str:
    return PREFIX + base64.b64encode(raw).decode("ascii")


def new_key() -> tuple[bytes, str]:
    """A new Ed25519 key: its 32 private bytes (keep them secret) and its public key as a
    keyring writes it."""
    ed25519 = _ed25519()
    private = ed25519.Ed25519PrivateKey.generate()
    raw = private.private_bytes_raw()
    return raw, _encode(private.public_key().public_bytes_raw())


def private_key_bytes(text: str) -> bytes:
    """The 32 raw bytes of the Ed25519 private key ``text`` holds: PEM (PKCS#8, not
    encrypted, as ``openssl genpkey -algorithm ed25519`` writes it) or ``ed25519:`` and
    the base64 of the raw bytes. ``ValueError`` saying what it is instead."""
    text = text.strip()
    if text.startswith(PREFIX):
        return _decode(text, "the private key", 32)
    if not text.startswith("-----BEGIN PRIVATE KEY-----"):
        raise ValueError(
            f"a private key is PEM ('-----BEGIN PRIVATE KEY-----', as openssl genpkey "
            f"-algorithm ed25519 writes it) or {PREFIX} and base64, not {text[:16]!r}"
        )
    ed25519 = _ed25519()
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(text.encode(), password=None)
    except (ValueError, TypeError) as error:
        raise ValueError(f"not a readable PEM private key without a password: {error}") from error
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise ValueError(f"a {type(key).__name__}, not an Ed25519 private key")
    raw: bytes = key.private_bytes_raw()
    return raw


def public_key_of(private_key: bytes) -> str:
    """The public key of the raw private key ``private_key``, as a keyring writes it."""
    key = _ed25519().Ed25519PrivateKey.from_private_bytes(private_key)
    return _encode(key.public_key().public_bytes_raw())


@dataclass(frozen=True, slots=True)
class Ed25519Signer:
    """Signs with a reviewer's Ed25519 private key (its 32 raw bytes): pass it as
    ``Actor(id, roles, signer=Ed25519Signer(key))`` and the runtime stores the signature
    of each of that actor's decisions."""

    private_key: bytes

    def __call__(self, content: bytes) -> str:
        key = _ed25519().Ed25519PrivateKey.from_private_bytes(self.private_key)
        return _encode(key.sign(content))


def verify_signature(public_key: str, content: bytes, signature: str) -> bool:
    """Whether ``signature`` is the signature of ``content`` by ``public_key`` (both as a
    keyring and the runtime write them)."""
    ed25519 = _ed25519()
    from cryptography.exceptions import InvalidSignature

    try:
        raw = _decode(signature, "the signature", 64)
        key = ed25519.Ed25519PublicKey.from_public_bytes(_decode(public_key, "the key", 32))
        key.verify(raw, content)
    except (InvalidSignature, ValueError):
        return False
    return True


def read_keyring(path: Path) -> dict[str, str]:
    """The public keys in the keyring file ``path``, by actor id; ``KeyringError`` naming
    the file and line of anything else."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise KeyringError(f"{path}: cannot read the keyring: {error}") from error
    keys: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        parts = stripped.split()
        where = f"{path}:{number}:1"
        if len(parts) != 2:
            raise KeyringError(
                f"{where}: a keyring line is an actor id and a key, e.g. "
                f"'alice {PREFIX}<base64>', not {stripped[:60]!r}"
            )
        actor, key = parts
        try:
            _decode(key, f"the key of {actor}", 32)
        except ValueError as error:
            raise KeyringError(f"{where}: {error}") from error
        if actor in keys:
            raise KeyringError(f"{where}: {actor} has a key already; one key an actor")
        keys[actor] = key
    return keys


@dataclass(frozen=True, slots=True)
class SignatureProblem:
    """A record whose decision is not signed as the keyring says it must be: ``kind`` is
    ``forged`` (the signature does not verify), ``unknown-signer`` (a signed decision by
    an actor the keyring lacks) or ``unsigned`` (a human decision with no signature)."""

    machine: str
    instance: str
    seq: int
    actor: str
    kind: str

    def message(self) -> str:
        what = {
            "forged": "its signature does not verify with the actor's key: the record was "
            "altered or forged",
            "unknown-signer": "it is signed, but the keyring has no key for the actor",
            "unsigned": "a human decision without a signature",
        }[self.kind]
        return f"{self.machine} {self.instance} record {self.seq} by {self.actor}: {what}"


def check_record(
    machine: str, instance: str, record: Mapping[str, Any], keyring: Mapping[str, str]
) -> SignatureProblem | None:
    """What is wrong with the signature of ``record`` (a stored record's JSON object),
    or None: an unsigned human decision is a problem when ``keyring`` is not empty."""
    actor, decision = record.get("actor"), record.get("decision")
    signature = record.get("signature")
    human = record.get("event") in _HUMAN_EVENTS and actor is not None and decision is not None
    seq = int(record.get("seq", 0))

    def problem(kind: str) -> SignatureProblem:
        return SignatureProblem(machine, instance, seq, str(actor), kind)

    if signature is None:
        return problem("unsigned") if human and keyring else None
    key = keyring.get(str(actor))
    if key is None:
        return problem("unknown-signer")
    content = signed_content(machine, instance, record)
    return None if verify_signature(key, content, str(signature)) else problem("forged")


def check_signatures(
    store: Store,
    keyring: Mapping[str, str],
    instances: Iterable[tuple[str, str]],
    on_record: Callable[[str, str, Mapping[str, Any]], None] | None = None,
) -> list[SignatureProblem]:
    """Every signature problem of ``instances`` (machine, instance id) in ``store``,
    oldest record first within each."""
    problems: list[SignatureProblem] = []
    for machine, instance in instances:

        def visit(record: dict[str, Any], machine: str = machine, instance: str = instance) -> None:
            found = check_record(machine, instance, record, keyring)
            if found is not None:
                problems.append(found)
            if on_record is not None:
                on_record(machine, instance, record)

        store.walk(machine, instance, visit)
    return problems
