"""The SSH server's host keys: made once, kept in ``<data>/ssh/``, reused ever after.

A client remembers the host key it saw first and refuses a changed one, so the keys
must survive restarts: a fingerprint that changed would look like an attack.  The
keys are written like OpenSSH's own (``ssh_host_<type>_key``, OpenSSH private key
format, mode 0600) so that ``ssh-keygen -lf`` can show their fingerprints, and durably
(:func:`engine.durable.write_durably`): a first start interrupted by a crash must not
leave empty key files behind.

A key file found empty or damaged at a start (one written before writes were durable,
or truncated since) is one the appliance made itself: a new key is made, and the log
and standard error say so, since SSH clients that knew the old key will warn.  A key
that cannot be read (permissions) or is protected by a passphrase was not made here,
or not left as made: the start stops and says what to do.
"""

from __future__ import annotations

import logging
import os
import struct
from collections.abc import Callable
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from twisted.conch.ssh.keys import BadKeyError, EncryptedKeyError, Key

from engine.durable import announce_repair, write_durably

log = logging.getLogger(__name__)

SSH_DIR_NAME = "ssh"
RSA_BITS = 3072  # OpenSSH's ssh-keygen default

PrivateKey = ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey

#: File name -> (its key type, how to make a new private key of that kind).
_HOST_KEYS: dict[str, tuple[bytes, Callable[[], PrivateKey]]] = {
    "ssh_host_ed25519_key": (b"ssh-ed25519", ed25519.Ed25519PrivateKey.generate),
    "ssh_host_rsa_key": (b"ssh-rsa",
                         lambda: rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)),
}
#: What reading a damaged key file raises (Conch's parser lets some through unchanged).
_DAMAGED = (BadKeyError, ValueError, TypeError, IndexError, struct.error, UnsupportedAlgorithm)


class HostKeyError(Exception):
    """A host key the server cannot use and must not replace; the message says what
    to do."""


def ssh_dir(data_dir: Path) -> Path:
    return data_dir / SSH_DIR_NAME


def load_host_keys(data_dir: Path) -> dict[bytes, Key]:
    """The private host keys by SSH key type (``ssh-ed25519``, ``ssh-rsa``), each made and
    stored first if it is missing (or made anew if it is damaged)."""
    directory = ssh_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    keys = {}
    for name, (kind, generate) in _HOST_KEYS.items():
        key = _load_or_create(directory / name, kind, generate)
        keys[key.sshType()] = key
    return keys


def _load_or_create(path: Path, kind: bytes, generate: Callable[[], PrivateKey]) -> Key:
    if not path.exists():
        return _create(path, generate)
    problem = _damage(path, kind)
    if problem is not None:
        announce_repair(log, f"the SSH host key {path} was {problem}; a new one was made. "
                             "SSH clients that knew the old key will warn that the host key "
                             "changed: check the new fingerprint (below), then remove the old "
                             "entry from their known_hosts (ssh-keygen -R '[host]:port').")
        return _create(path, generate)
    key = Key.fromFile(str(path))
    _ensure_public_twin(path, key)
    return key


def _damage(path: Path, kind: bytes) -> str | None:
    """What is wrong with the key file at *path* ("empty", "damaged"), None if nothing.

    HostKeyError when it cannot be read or is not the appliance's to replace."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise HostKeyError(f"cannot read the SSH host key {path}: {error.strerror}. Let the "
                           "user running segcli read it (chmod 600, owned by that user), or "
                           "delete it to have a new one made.") from None
    if not data.strip():
        return "empty"
    try:
        key = Key.fromString(data)
    except EncryptedKeyError:
        raise HostKeyError(f"the SSH host key {path} is protected by a passphrase, which "
                           f"segcli cannot ask for: remove it (ssh-keygen -p -N '' -f {path}) "
                           "or delete the file to have a new key made.") from None
    except _DAMAGED:
        return "damaged"
    return None if _works(key, kind) else "damaged"


def _works(key: Key, kind: bytes) -> bool:
    """A private key of the file's type that signs what it verifies (a truncated file
    can parse into a key that does not)."""
    try:
        return (not key.isPublic() and key.sshType() == kind
                and key.public().verify(key.sign(b"segcli host key check"), b"segcli host key check"))
    except _DAMAGED:
        return False


def _create(path: Path, generate: Callable[[], PrivateKey]) -> Key:
    _write_private_key(path, generate())
    return Key.fromFile(str(path))


def _write_private_key(path: Path, private_key: PrivateKey) -> None:
    """Write the key with mode 0600 from the start (never readable by others, not even
    briefly), durably, plus its ``.pub`` twin for people and ``ssh-keygen``."""
    pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    write_durably(path, pem, mode=0o600)
    _write_public_twin(path, Key.fromString(pem))


def _ensure_public_twin(path: Path, key: Key) -> None:
    """Write the ``.pub`` twin again when it is missing or does not match the key (a
    start interrupted between the two writes)."""
    twin = path.with_name(path.name + ".pub")
    try:
        fields = twin.read_bytes().split()
    except OSError:
        fields = []
    if fields[:2] != key.public().toString("openssh").split()[:2]:
        _write_public_twin(path, key)


def _write_public_twin(path: Path, key: Key) -> None:
    public = key.public().toString("openssh")
    write_durably(path.with_name(path.name + ".pub"), public + b" segcli host key\n")


def fingerprints(keys: dict[bytes, Key]) -> list[str]:
    """``SHA256:...`` fingerprints as OpenSSH prints them, one per key."""
    from twisted.conch.ssh.keys import FingerprintFormats

    return [f"{key.sshType().decode()} SHA256:"
            f"{key.fingerprint(FingerprintFormats.SHA256_BASE64).rstrip('=')}"
            for key in keys.values()]
