"""The SSH server's host keys: made once, kept in ``<data>/ssh/``, reused ever after.

A client remembers the host key it saw first and refuses a changed one, so the keys
must survive restarts: a fingerprint that changed would look like an attack.  The
keys are written like OpenSSH's own (``ssh_host_<type>_key``, OpenSSH private key
format, mode 0600) so that ``ssh-keygen -lf`` can show their fingerprints.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from twisted.conch.ssh.keys import Key

SSH_DIR_NAME = "ssh"
RSA_BITS = 3072  # OpenSSH's ssh-keygen default

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

#: File name -> how to make a new private key of that kind.
_HOST_KEYS: dict[str, Callable[[], PrivateKey]] = {
    "ssh_host_ed25519_key": ed25519.Ed25519PrivateKey.generate,
    "ssh_host_rsa_key": lambda: rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS),
}


def ssh_dir(data_dir: Path) -> Path:
    return data_dir / SSH_DIR_NAME


def load_host_keys(data_dir: Path) -> dict[bytes, Key]:
    """The private host keys by SSH key type (``ssh-ed25519``, ``ssh-rsa``), each made and
    stored first if it is missing."""
    directory = ssh_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    keys = {}
    for name, generate in _HOST_KEYS.items():
        key = _load_or_create(directory / name, generate)
        keys[key.sshType()] = key
    return keys


def _load_or_create(path: Path, generate: Callable[[], PrivateKey]) -> Key:
    if not path.exists():
        _write_private_key(path, generate())
    return Key.fromFile(str(path))


def _write_private_key(path: Path, private_key: PrivateKey) -> None:
    """Write the key with mode 0600 from the start (never readable by others, not even
    briefly), atomically, plus its ``.pub`` twin for people and ``ssh-keygen``."""
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    partial = path.with_name(f".{path.name}.partial")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(pem)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(partial, path)
    public = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    path.with_name(path.name + ".pub").write_bytes(public + b" segcli host key\n")


def fingerprints(keys: dict[bytes, Key]) -> list[str]:
    """``SHA256:...`` fingerprints as OpenSSH prints them, one per key."""
    from twisted.conch.ssh.keys import FingerprintFormats

    return [f"{key.sshType().decode()} SHA256:"
            f"{key.fingerprint(FingerprintFormats.SHA256_BASE64).rstrip('=')}"
            for key in keys.values()]
