"""``statewright serve --signing-keys DIR``: the console signs every decision with the
acting reviewer's key, end to end: the real command in a process of its own, a reviewer
deciding over HTTP behind the trusted header, and ``audit verify --keyring`` holding the
stored records to the reviewers' public keys. A reviewer without a key is refused with
nothing changed; a key folder that others may read is refused at start, in one line."""

from __future__ import annotations

import base64
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from consolekit import ROOT, Client, release_review, seed_releases
from test_console import HEADER, _approve, _form, _release

from statewright.generator import signing
from statewright.generator.cli import main
from statewright.generator.commands.audit import audit_command
from statewright.generator.console.keys import SigningKeysError, read_signing_keys
from statewright.generator.runtime import SqlStore

SPEC = ROOT / "specs" / "release_review.yaml"


def _pem(private: bytes) -> str:
    """The key as ``openssl genpkey -algorithm ed25519`` writes it."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.from_private_bytes(private)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _folder(tmp_path: Path, **keys: str) -> Path:
    folder = tmp_path / "keys"
    folder.mkdir(mode=0o700)
    for name, text in keys.items():
        path = folder / f"{name}.key"
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
    return folder


def test_keys_are_read_as_pem_or_raw_text(tmp_path: Path) -> None:
    bob, dave = signing.new_key(), signing.new_key()
    folder = _folder(tmp_path, bob=_pem(bob[0]), dave=signing.PREFIX + _b64(dave[0]))
    (folder / "bob.pub").write_text(bob[1])  # left alone, whatever its mode
    signers = read_signing_keys(folder)
    assert sorted(signers) == ["bob", "dave"]
    for name, (_, public) in (("bob", bob), ("dave", dave)):
        assert signing.verify_signature(public, b"content", signers[name](b"content"))
    assert signing.public_key_of(bob[0]) == bob[1]


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("make", "said"),
    [
        (lambda f: (f / "bob.key").chmod(0o640), "its group or others may read it"),
        (lambda f: f.chmod(0o770), "its group or others may write into it"),
        (lambda f: (f / "bob.key").write_text("hello"), "a private key is PEM"),
        (lambda f: (f / "bob.key").unlink(), "holds no signing key"),
    ],
)
def test_a_folder_others_could_use_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, said: str
) -> None:
    folder = _folder(tmp_path, bob=_pem(signing.new_key()[0]))
    make(folder)  # type: ignore[operator]
    with pytest.raises(SigningKeysError, match=said):
        read_signing_keys(folder)
    roles = tmp_path / "roles.yaml"
    roles.write_text("bob: [maintainer]\n")
    argv = ["serve", "--store", str(tmp_path / "x.db"), "--specs", str(SPEC)]
    argv += ["--trust-header", HEADER, "--roles", str(roles), "--signing-keys", str(folder)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and err.count("\n") == 1, err


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def serving(tmp_path: Path) -> Iterator[tuple[str, str, dict[str, tuple[bytes, str]]]]:
    """``statewright serve`` over a SQLite store of release runs, in its own process,
    signing with the keys of bob and dave (carol has none): (base URL, store, keys)."""
    target = str(tmp_path / "releases.db")
    store = SqlStore.sqlite(target)
    seed_releases(store, release_review(), waiting=2)
    store.close()
    keys = {name: signing.new_key() for name in ("bob", "dave")}
    folder = _folder(tmp_path, **{name: _pem(private) for name, (private, _) in keys.items()})
    roles = tmp_path / "roles.yaml"
    roles.write_text("bob: [maintainer]\ncarol: [maintainer]\ndave: [director]\n")
    port = _free_port()
    command = [sys.executable, "-m", "statewright.generator.cli", "serve", "--store", target]
    command += ["--specs", str(SPEC), "--trust-header", HEADER, "--roles", str(roles)]
    command += ["--signing-keys", str(folder), "--port", str(port)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        assert server.stdout is not None
        said = [server.stdout.readline().decode() for _ in range(3)]
        assert said[-1] == "signing every decision with the keys of: bob, dave\n", said
        base = f"http://127.0.0.1:{port}"
        _wait_until_up(base, server)
        yield base, target, keys
    finally:
        server.terminate()
        server.wait(timeout=60)


def _wait_until_up(base: str, server: subprocess.Popen[bytes]) -> None:
    """Ask until the server answers (its listening socket opens after it prints)."""
    for _ in range(600):
        if server.poll() is not None:
            raise RuntimeError(f"serve stopped: {server.stderr and server.stderr.read()!r}")
        try:
            with socket.create_connection(("127.0.0.1", int(base.rsplit(":", 1)[1])), 1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("serve did not open its port")


def test_a_decision_made_through_serve_verifies_with_the_keyring(
    serving: tuple[str, str, dict[str, tuple[bytes, str]]], tmp_path: Path
) -> None:
    base, target, keys = serving
    bob, carol = Client(base, {HEADER: "bob"}), Client(base, {HEADER: "carol"})
    fields = _form(bob.get("/runs/release_review/rel-0").text)
    assert _approve(bob, "rel-0", fields, "notes match the build").status == 303
    before = _release(target, "rel-0").audit
    refused = _approve(carol, "rel-0", _form(carol.get("/runs/release_review/rel-0").text), "ok")
    assert refused.status == 403
    assert "holds no signing key for carol: nothing was changed" in refused.text
    assert _release(target, "rel-0").audit == before
    vote = before[-1]
    assert (str(vote.event), vote.actor, vote.signature is not None) == ("approval", "bob", True)
    ring = tmp_path / "reviewers.keys"
    ring.write_text("".join(f"{name} {public}\n" for name, (_, public) in keys.items()))
    out, err = io.StringIO(), io.StringIO()
    status = audit_command(target, stdout=out, stderr=err, keyring=ring)
    assert status == 0, out.getvalue() + err.getvalue()
    assert "every human decision signed" in out.getvalue()
    mallory = tmp_path / "mallory.keys"  # the same records, held to another key for bob
    mallory.write_text(f"bob {signing.new_key()[1]}\ndave {keys['dave'][1]}\n")
    out = io.StringIO()
    assert audit_command(target, stdout=out, stderr=io.StringIO(), keyring=mallory) == 1
    assert f"record {vote.seq} by bob: its signature does not verify" in out.getvalue()
