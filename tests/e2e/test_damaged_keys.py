"""A first start interrupted by a crash could leave the appliance's key files empty or cut
short, and the appliance then never started again ("Unable to load PEM file").  Keys are
now written durably; and a real ``segcli`` started on a data directory whose SSH host
keys and TLS material (``ssh/``, ``tls/``) are damaged makes new ones, says so on its
output and in ``logs/segcli.log``, and serves SSH and SMTP with STARTTLS.  A host key it
must not replace (one protected by a passphrase) stops the start with what to do."""

from __future__ import annotations

import smtplib
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import REPO, SEGCLI, segcli_env
from tests.e2e.ssh_fixtures import SshAppliance

#: The files the appliance made at its first start that a crash could leave damaged.
DAMAGED = ("ssh/ssh_host_ed25519_key", "ssh/ssh_host_rsa_key", "tls/ca.pem", "tls/server.key")

DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    "cut short": lambda data: data[:len(data) // 2],
}


def first_start(data_dir: Path) -> str:
    """Start and stop the appliance once (it makes its keys); its fingerprints."""
    appliance = SshAppliance.start(data_dir)
    try:
        return appliance.fingerprints
    finally:
        assert appliance.stop() == 0, "".join(appliance.lines)


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_keys_are_made_anew_said_so_and_served(tmp_path, damage):
    data_dir = tmp_path / "data"
    fingerprints = first_start(data_dir)
    for name in DAMAGED:
        path = data_dir / name
        path.write_bytes(DAMAGES[damage](path.read_bytes()))
    appliance = SshAppliance.start(data_dir)
    try:
        said = "".join(appliance.lines)
        for name in ("ssh_host_ed25519_key", "ssh_host_rsa_key"):
            assert f"segcli: the SSH host key {data_dir / 'ssh' / name} was" in said, said
        assert "a new one was made. SSH clients that knew the old key will warn" in said
        assert f"segcli: the CA certificate and key in {data_dir / 'tls'}" in said
        assert "segcli: the server certificate and key in" in said
        assert appliance.fingerprints != fingerprints
        status, output = appliance.exec("version")
        assert status == 0, output
        with smtplib.SMTP("127.0.0.1", appliance.smtp_port, timeout=30) as client:
            client.starttls(context=ssl._create_unverified_context())  # the appliance's own CA
            assert client.noop()[0] == 250
    finally:
        assert appliance.stop() == 0, "".join(appliance.lines)
    assert "a new one was made" in (data_dir / "logs" / "segcli.log").read_text()
    assert first_start(data_dir) == appliance.fingerprints  # the new keys are kept


def test_a_host_key_with_a_passphrase_stops_the_start_with_what_to_do(tmp_path):
    data_dir = tmp_path / "data"
    first_start(data_dir)
    key = data_dir / "ssh" / "ssh_host_ed25519_key"
    subprocess.run(["ssh-keygen", "-q", "-p", "-P", "", "-N", "not-ours", "-f", str(key)],
                   check=True, capture_output=True, start_new_session=True)
    protected = key.read_bytes()
    result = subprocess.run([*SEGCLI, "--data", str(data_dir)], stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=90, env=segcli_env(),
                            cwd=REPO)
    assert result.returncode != 0
    assert "segcli: cannot start the SSH server: " in result.stderr  # a start-up error,
    assert "internal error" not in result.stderr  # not a fault of segcli's
    assert f"the SSH host key {key} is protected by a passphrase" in result.stderr
    assert f"ssh-keygen -p -N '' -f {key}" in result.stderr
    assert key.read_bytes() == protected  # not replaced
