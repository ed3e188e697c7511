"""The legacy SCP protocol against a real appliance: OpenSSH's ``scp -O`` and paramiko's
``scp`` module (what netmiko's file transfer uses) fetch saved configurations from
``/configuration`` and upload files for ``loadconfig``; nothing else can be reached."""

from __future__ import annotations

import subprocess

import paramiko
import pytest
from scp import SCPClient, SCPException

from tests.e2e.ssh_fixtures import SshAppliance
from tests.e2e.test_ssh_sftp import openssh_options, saveconfig

TIMEOUT = 45
TARGET = "admin@127.0.0.1"


def scp(appliance: SshAppliance, key, *paths: str, cwd) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["scp", "-O", *openssh_options(appliance, key), *paths],
                          capture_output=True, text=True, cwd=cwd, timeout=TIMEOUT,
                          start_new_session=True)  # no terminal to ask a password on


def test_openssh_scp_o_fetches_uploads_and_loadconfig_reads_it(ssh_appliance, client_key,
                                                                tmp_path):
    saved = saveconfig(ssh_appliance)
    configuration = ssh_appliance.data_dir / "configuration"
    result = scp(ssh_appliance, client_key, f"{TARGET}:/configuration/{saved}", "fetched.xml",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "fetched.xml").read_bytes() == (configuration / saved).read_bytes()
    changed = (tmp_path / "fetched.xml").read_text().replace(
        "<hostname>mail1.example.com</hostname>", "<hostname>scp.example.com</hostname>")
    (tmp_path / "changed.xml").write_text(changed)
    result = scp(ssh_appliance, client_key, "changed.xml", f"{TARGET}:/configuration/",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (configuration / "changed.xml").read_text() == changed
    status, output = ssh_appliance.exec("loadconfig changed.xml")
    assert status == 0 and "Values have been loaded." in output, output
    status, output = ssh_appliance.exec("clearchanges")  # the session's changes go with it
    assert status == 0, output


def test_openssh_scp_o_fetches_by_wildcard_with_times(ssh_appliance, client_key, tmp_path):
    saved = saveconfig(ssh_appliance)
    (tmp_path / "all").mkdir()
    result = scp(ssh_appliance, client_key, "-p", f"{TARGET}:/configuration/*.xml", "all/",
                 cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    fetched = {path.name for path in (tmp_path / "all").iterdir()}
    assert saved in fetched
    assert fetched == {p.name for p in (ssh_appliance.data_dir / "configuration").glob("*.xml")}
    remote = (ssh_appliance.data_dir / "configuration" / saved).stat().st_mtime
    assert int((tmp_path / "all" / saved).stat().st_mtime) == int(remote)  # -p kept the time


@pytest.mark.parametrize(("paths", "message"), [
    ((f"{TARGET}:/etc/passwd", "."), "No such file or directory"),
    ((f"{TARGET}:../../etc/passwd", "."), "No such file or directory"),
    ((f"{TARGET}:/configuration", "."), "not a regular file"),
    (("mine.xml", f"{TARGET}:/elsewhere.xml"), "No such file"),
    (("mine.xml", f"{TARGET}:/configuration/.hidden"), "No such file"),
    (("-r", "folder", f"{TARGET}:/configuration/"), "no -r"),
])
def test_openssh_scp_o_cannot_reach_anything_else(ssh_appliance, client_key, tmp_path, paths,
                                                  message):
    (tmp_path / "mine.xml").write_text("<config/>")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "inside.xml").write_text("<config/>")
    before = sorted(p.name for p in (ssh_appliance.data_dir / "configuration").iterdir())
    result = scp(ssh_appliance, client_key, *paths, cwd=tmp_path)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr
    assert sorted(p.name for p in (ssh_appliance.data_dir / "configuration").iterdir()) == before
    assert not (tmp_path / "passwd").exists()


def test_paramiko_scp_module_get_and_put(ssh_appliance, tmp_path):
    saved = saveconfig(ssh_appliance)
    client = ssh_appliance.paramiko()
    try:
        with SCPClient(client.get_transport(), socket_timeout=TIMEOUT) as transfer:
            transfer.get(f"/configuration/{saved}", str(tmp_path / "got.xml"))
            transfer.put(str(tmp_path / "got.xml"), "/configuration/put-by-paramiko.xml")
            with pytest.raises(SCPException, match="No such file or directory"):
                transfer.get("/configuration/missing.xml", str(tmp_path / "missing.xml"))
    finally:
        client.close()
    configuration = ssh_appliance.data_dir / "configuration"
    assert (configuration / "put-by-paramiko.xml").read_bytes() == \
        (configuration / saved).read_bytes() == (tmp_path / "got.xml").read_bytes()


def test_readonly_users_may_fetch_but_not_upload_with_scp(ssh_appliance, tmp_path):
    status, output = ssh_appliance.exec(
        'userconfig add scpviewer "Read Only" readonly viewer-password; commit viewer')
    assert status == 0, output
    saved = saveconfig(ssh_appliance)
    client = ssh_appliance.paramiko(user="scpviewer", password="viewer-password")
    try:
        with SCPClient(client.get_transport(), socket_timeout=TIMEOUT) as transfer:
            transfer.get(f"/configuration/{saved}", str(tmp_path / "viewed.xml"))
            with pytest.raises(SCPException, match="Read-only operators"):
                transfer.put(str(tmp_path / "viewed.xml"), "/configuration/by-viewer.xml")
    finally:
        client.close()
    assert (tmp_path / "viewed.xml").read_bytes().startswith(b"<?xml")
    assert not (ssh_appliance.data_dir / "configuration" / "by-viewer.xml").exists()


def test_an_scp_upload_cut_off_or_too_big_leaves_nothing(ssh_appliance):
    """Refused, ended early (end of input: the server says so with exit status 1), or
    dropped with the connection: no file, and no partial upload beside the files."""
    saveconfig(ssh_appliance)  # the configuration directory exists, with a file in it
    client = ssh_appliance.paramiko()
    try:
        channel = _sink(client)
        channel.sendall(b"C0644 5000000000 huge.xml\n")  # bigger than any configuration
        assert channel.recv(1) == b"\x02"
        assert b"at most" in channel.recv(200)
        assert channel.recv_exit_status() == 1
        channel = _sink(client)
        channel.sendall(b"C0644 1000 ended.xml\n")
        assert channel.recv(1) == b"\0"
        channel.sendall(b"<config>" * 10)  # 80 of the 1000 bytes, then end of input
        channel.shutdown_write()
        assert channel.recv_exit_status() == 1  # the server has seen the end and given up
        assert _leftovers(ssh_appliance) == []
        channel = _sink(client)
        channel.sendall(b"C0644 1000 cut.xml\n")
        assert channel.recv(1) == b"\0"
        channel.sendall(b"<config>" * 10)  # 80 of the 1000 bytes, then the client is gone
        channel.close()
    finally:
        client.close()
    # A whole new login and command after the dropped connection: by then the server has
    # dealt with the old one (no fixed sleep).
    assert ssh_appliance.exec("version")[0] == 0
    assert _leftovers(ssh_appliance) == []


@pytest.mark.parametrize("protocol", [["-O"], []], ids=["legacy SCP", "SFTP underneath"])
def test_openssh_scp_too_long_names_are_refused_and_change_nothing(ssh_appliance, client_key,
                                                                   tmp_path, protocol):
    (tmp_path / "mine.xml").write_text("<config/>")
    saveconfig(ssh_appliance)
    configuration = ssh_appliance.data_dir / "configuration"
    before = sorted(p.name for p in configuration.iterdir())
    seen = len(ssh_appliance.lines)
    for paths in ((f"{TARGET}:/configuration/{'a' * 5000}", "."),
                  ("mine.xml", f"{TARGET}:/configuration/{'n' * 300}.xml")):
        result = subprocess.run(["scp", *protocol, *openssh_options(ssh_appliance, client_key),
                                 *paths], capture_output=True, text=True, cwd=tmp_path,
                                timeout=TIMEOUT, start_new_session=True)
        assert result.returncode != 0
        if protocol:  # OpenSSH shows the server's message; over SFTP only the status
            assert "File name too long" in result.stderr, result.stderr
    assert sorted(p.name for p in configuration.iterdir()) == before
    assert ssh_appliance.exec("version")[0] == 0
    assert "Traceback" not in "".join(ssh_appliance.lines[seen:])


def test_paramiko_scp_too_long_names_are_refused_in_one_line(ssh_appliance, tmp_path):
    (tmp_path / "mine.xml").write_text("<config/>")
    client = ssh_appliance.paramiko()
    try:
        with SCPClient(client.get_transport(), socket_timeout=TIMEOUT) as transfer, \
                pytest.raises(SCPException, match="File name too long"):
            transfer.get("/configuration/" + "a" * 5000, str(tmp_path / "got.xml"))
        with SCPClient(client.get_transport(), socket_timeout=TIMEOUT) as transfer, \
                pytest.raises(SCPException, match="File name too long"):
            transfer.put(str(tmp_path / "mine.xml"), "/configuration/" + "n" * 300 + ".xml")
    finally:
        client.close()


def _sink(client: paramiko.SSHClient) -> paramiko.Channel:
    """A channel running ``scp -t /configuration/``, past its first acknowledgement."""
    channel = client.get_transport().open_session(timeout=TIMEOUT)
    channel.settimeout(TIMEOUT)
    channel.exec_command("scp -t /configuration/")
    assert channel.recv(1) == b"\0"
    return channel


def _leftovers(appliance: SshAppliance) -> list[str]:
    return [p.name for p in (appliance.data_dir / "configuration").iterdir()
            if any(name in p.name for name in ("cut", "ended", "huge"))]
