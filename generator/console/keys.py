"""The reviewers' signing keys a console holds (``statewright serve --signing-keys DIR``).

A console that signs holds one Ed25519 private key a reviewer, each in its own file
``DIR/<actor id>.key``, written either as ``openssl genpkey -algorithm ed25519`` writes it
(PEM, PKCS#8, unencrypted) or as ``ed25519:`` and the base64 of its 32 raw bytes (what
:func:`statewright.generator.signing.new_key` returns, encoded). Other files (a ``.pub``
beside each key, a README) are left alone. The keys are the reviewers' signatures, so
the folder is refused unless only its owner can read them: a key file that its group or
others may read, or a folder they may write (and so slip a key in), is refused before
the console starts. :func:`read_signing_keys` reads the folder; every problem is one
line naming the file (:class:`SigningKeysError`).
"""

from __future__ import annotations

import stat
from pathlib import Path

from statewright.generator.signing import Ed25519Signer, private_key_bytes

__all__ = ["KEY_SUFFIX", "SigningKeysError", "read_signing_keys"]

KEY_SUFFIX = ".key"
"""The suffix of a reviewer's key file; the name before it is the reviewer's actor id."""


class SigningKeysError(ValueError):
    """A signing-key folder the console refuses; the message names the file and why."""


def read_signing_keys(folder: Path) -> dict[str, Ed25519Signer]:
    """A signer for each reviewer with a key file in ``folder``, by actor id."""
    if not folder.is_dir():
        raise SigningKeysError(f"{folder}: no such folder of signing keys")
    _private(folder, stat.S_IWGRP | stat.S_IWOTH, "write into it, and so add a key", 700)
    signers: dict[str, Ed25519Signer] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix != KEY_SUFFIX or path.name.startswith("."):
            continue
        if not path.is_file():
            raise SigningKeysError(f"{path}: not a file")
        _private(path, stat.S_IRWXG | stat.S_IRWXO, "read it, and so sign as its reviewer", 600)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise SigningKeysError(f"{path}: cannot be read: {error}") from error
        try:
            signers[path.stem] = Ed25519Signer(private_key_bytes(text))
        except ValueError as error:
            raise SigningKeysError(f"{path}: {error}") from error
    if not signers:
        raise SigningKeysError(
            f"{folder}: holds no signing key (one file <actor id>{KEY_SUFFIX} a reviewer)"
        )
    return signers


def _private(path: Path, loose: int, what: str, mode: int) -> None:
    """Refuse ``path`` if its mode has any of the ``loose`` bits, saying what they let its
    group or others do and the ``chmod`` that takes them away."""
    found = path.stat().st_mode
    if found & loose:
        raise SigningKeysError(
            f"{path}: its group or others may {what} (mode {stat.filemode(found)}): "
            f"chmod {mode} {path}"
        )
