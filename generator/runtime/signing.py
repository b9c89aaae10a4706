"""Signed decisions: what a person's signature on a human decision covers, and how a
signing key reaches the runtime.

A human decision (a human transition, a counted approval, a rollback) may be signed by
the actor who made it, so that a writer with access to the store cannot forge or alter it even by
rebuilding the whole hash chain: the chain proves the order of the records, the
signature proves who decided what. The runtime stays standard-library only: it never
holds a key nor does cryptography. An :class:`~.records.Actor` carries a ``signer``, a
callable the application provides (an Ed25519 key of the person's, held wherever it
keeps such keys), which the runtime calls with :func:`signed_content` of the record it is
about to store and whose answer it stores as the record's ``signature``. Verification
belongs to whoever audits the log (``statewright audit verify --keyring FILE``, with the
optional extra ``statewright[signing]``), with the reviewers' public keys.

What is signed is the record as it is stored, less its signature, with the machine and
the instance it belongs to, as canonical JSON (keys sorted, no spaces, UTF-8): moving a
signed record to another instance, another machine or another place in the log, or
changing any of its fields, breaks the signature.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TypeAlias

from .records import JSONValue

__all__ = ["Signer", "signed_content"]

Signer: TypeAlias = Callable[[bytes], str]
"""Signs the bytes of :func:`signed_content` with the actor's key and returns the
signature as text (``statewright.signing`` writes ``ed25519:`` and base64)."""


def signed_content(machine: str, instance: str | None, record: Mapping[str, JSONValue]) -> bytes:
    """The bytes a decision's signature covers: ``record`` (as stored, its signature left
    out) of ``instance`` (None for an instance kept in memory only) of ``machine``, as
    canonical JSON."""
    body = {key: value for key, value in record.items() if key != "signature"}
    content = {"machine": machine, "instance": instance, "record": body}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode()
