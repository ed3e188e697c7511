"""SSH host keys (segcli/ssh/keys.py): written durably, kept across starts, and made
anew -- with a notice -- when a crash left them empty or cut short."""

from __future__ import annotations

import pytest

from segcli.ssh.keys import HostKeyError, fingerprints, load_host_keys
from tests.durable_disk import assert_durable, disk  # noqa: F401 - the fixture

NAMES = ("ssh_host_ed25519_key", "ssh_host_rsa_key")


def test_host_keys_are_written_durably(disk, tmp_path):  # noqa: F811 - the fixture
    load_host_keys(tmp_path)
    for name in NAMES:
        assert_durable(disk, tmp_path / "ssh" / name)
        assert_durable(disk, tmp_path / "ssh" / f"{name}.pub")


@pytest.mark.parametrize("cut", [0, 0.5, 0.9])
def test_a_damaged_host_key_is_made_anew_and_said_so(tmp_path, caplog, cut):
    first = fingerprints(load_host_keys(tmp_path))
    caplog.clear()
    for name in NAMES:
        path = tmp_path / "ssh" / name
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * cut)])
    again = fingerprints(load_host_keys(tmp_path))
    said = "\n".join(r.getMessage() for r in caplog.records if r.name == "segcli.operator")
    for name in NAMES:
        assert f"the SSH host key {tmp_path / 'ssh' / name} was" in said, said
    assert not set(again) & set(first)
    assert fingerprints(load_host_keys(tmp_path)) == again  # and kept from now on


def test_good_keys_are_kept_and_a_lost_public_twin_is_written_again(tmp_path, caplog):
    first = fingerprints(load_host_keys(tmp_path))
    twin = tmp_path / "ssh" / "ssh_host_rsa_key.pub"
    expected = twin.read_bytes()
    twin.write_bytes(b"")
    assert fingerprints(load_host_keys(tmp_path)) == first
    assert twin.read_bytes() == expected
    assert not [r for r in caplog.records if r.name == "segcli.operator"]


def test_a_key_with_a_passphrase_is_not_replaced(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    load_host_keys(tmp_path)
    path = tmp_path / "ssh" / "ssh_host_ed25519_key"
    protected = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.BestAvailableEncryption(b"not ours"))
    path.write_bytes(protected)
    with pytest.raises(HostKeyError, match="protected by a passphrase"):
        load_host_keys(tmp_path)
    assert path.read_bytes() == protected
