"""Files the appliance cannot start without are written durably (engine/durable.py): the
data is fsynced before the rename, the directory after it -- for TLS material here, for
SSH host keys in tests/segcli/ssh/test_keys.py."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

import pytest

from engine.durable import write_durably
from engine.smtp.tls import ensure_server_certificate, server_context
from tests.durable_disk import assert_durable, disk  # noqa: F401 - the fixture


def test_write_durably_fsyncs_the_data_then_the_directory(disk, tmp_path):  # noqa: F811
    target = tmp_path / "key.pem"
    write_durably(target, b"secret", mode=0o600)
    assert target.read_bytes() == b"secret"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert_durable(disk, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem"]


def test_a_failed_write_leaves_the_old_file_and_no_partial(tmp_path, monkeypatch):
    target = tmp_path / "key.pem"
    target.write_bytes(b"old")

    def full_disk(descriptor: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_durably(target, b"new")
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["key.pem"]


def test_tls_material_is_written_durably(disk, tmp_path):  # noqa: F811
    material = ensure_server_certificate(tmp_path, ["mail1.example.com"])
    for path in (material.ca_cert, tmp_path / "ca.key", material.cert, material.key):
        assert_durable(disk, path)


# -- damaged material ---------------------------------------------------------------------

DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    "cut short": lambda data: data[:len(data) // 2],
    "garbage": lambda data: b"-----BEGIN PRIVATE KEY-----\nnot a key\n",
}


@pytest.mark.parametrize("damage", list(DAMAGES))
@pytest.mark.parametrize("name", ["server.key", "server.pem", "ca.key", "ca.pem"])
def test_damaged_material_is_made_anew_and_said_so(tmp_path, caplog, name, damage):
    first = ensure_server_certificate(tmp_path, ["mail1.example.com"]).cert.read_bytes()
    caplog.clear()
    damaged = tmp_path / name
    damaged.write_bytes(DAMAGES[damage](damaged.read_bytes()))
    again = ensure_server_certificate(tmp_path, ["mail1.example.com"])
    said = _told_the_operator(caplog)
    assert f"the {'CA' if name.startswith('ca') else 'server'} certificate and key in " \
           f"{tmp_path}" in said, said
    server_context(again)  # loads: the key is the certificate's
    assert again.cert.read_bytes() != first


def test_a_key_that_is_not_the_certificates_is_replaced(tmp_path, caplog):
    one = ensure_server_certificate(tmp_path, ["a.example.com"], name="one")
    two = ensure_server_certificate(tmp_path, ["a.example.com"], name="two")
    one.key.write_bytes(two.key.read_bytes())
    ensure_server_certificate(tmp_path, ["a.example.com"], name="one")
    assert "did not belong together" in _told_the_operator(caplog)
    server_context(one)


def _told_the_operator(caplog) -> str:
    """What the engine told the operator (engine/durable.py's logger; ``segcli`` shows it
    on standard error: tests/e2e/test_damaged_keys.py)."""
    return "\n".join(r.getMessage() for r in caplog.records if r.name == "segcli.operator")
