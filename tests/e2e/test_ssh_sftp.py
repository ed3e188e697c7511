"""SFTP (paramiko, OpenSSH ``sftp``) and ``scp`` against a real appliance: saved
configurations fetched from ``/configuration``, files for ``loadconfig`` uploaded there,
and nothing else of the host visible."""

from __future__ import annotations

import re
import stat
import subprocess

import paramiko
import pytest

from tests.e2e.ssh_fixtures import SshAppliance

TIMEOUT = 45


def saveconfig(appliance: SshAppliance) -> str:
    status, output = appliance.exec("saveconfig n")
    assert status == 0, output
    return re.search(r"The file (\S+\.xml) has been saved", output)[1]


def openssh_options(appliance: SshAppliance, key) -> list[str]:
    """The options of ``appliance.openssh`` (for sftp and scp, which take -P for the port)."""
    argv = appliance.openssh(key=key)
    options = argv[1:argv.index("-p")] + argv[argv.index("-p") + 2:-1]
    return [*options, "-P", str(appliance.port)]


def test_paramiko_sftp_fetch_upload_and_loadconfig(ssh_appliance, tmp_path):
    saved = saveconfig(ssh_appliance)
    client = ssh_appliance.paramiko()
    try:
        sftp = client.open_sftp()
        assert sftp.normalize(".") == "/configuration"
        assert sftp.listdir("/") == ["configuration"]
        assert saved in sftp.listdir("/configuration")
        local = tmp_path / saved
        sftp.get(f"/configuration/{saved}", str(local))
        document = local.read_text()
        assert "<hostname>mail1.example.com</hostname>" in document
        changed = document.replace("<hostname>mail1.example.com</hostname>",
                                   "<hostname>sftp.example.com</hostname>")
        with sftp.open("/configuration/uploaded.xml", "w") as remote:
            remote.write(changed.encode())
        assert sftp.stat("uploaded.xml").st_size == len(changed.encode())
    finally:
        client.close()
    status, output = ssh_appliance.exec("loadconfig uploaded.xml; commit loaded over sftp; "
                                        "showconfig n")
    assert status == 0, output
    assert "Values have been loaded." in output
    assert "<hostname>sftp.example.com</hostname>" in output
    status, output = ssh_appliance.exec("sethostname mail1.example.com; commit back")
    assert status == 0, output


def test_nothing_outside_the_configuration_directory(ssh_appliance):
    client = ssh_appliance.paramiko()
    try:
        sftp = client.open_sftp()
        for path in ("/etc/passwd", "../../etc/passwd", "/configuration/../../etc/passwd",
                     "/ssh/ssh_host_ed25519_key", "../ssh/ssh_host_ed25519_key"):
            with pytest.raises(OSError):
                sftp.stat(path)
            with pytest.raises(OSError):
                sftp.open(path).read()
        assert sftp.normalize("../../..") == "/"
        with pytest.raises(OSError):
            sftp.mkdir("/configuration/sub")
        with pytest.raises(OSError):
            sftp.open("/elsewhere.xml", "w").write(b"x")
        with pytest.raises(OSError):
            sftp.symlink("/etc/passwd", "/configuration/link.xml")
        with pytest.raises(OSError):
            sftp.open("/configuration/.hidden", "w").write(b"x")
        assert stat.S_ISDIR(sftp.stat("/configuration").st_mode)
    finally:
        client.close()
    assert not (ssh_appliance.data_dir / "elsewhere.xml").exists()


def test_an_upload_cut_off_leaves_nothing(ssh_appliance):
    client = ssh_appliance.paramiko()
    try:
        sftp = client.open_sftp()
        remote = sftp.open("/configuration/partial.xml", "w")
        remote.write(b"<config>" * 1000)
        remote.flush()
        client.get_transport().sock.close()
    finally:
        client.close()
    assert ssh_appliance.exec("version")[0] == 0
    leftovers = [p.name for p in (ssh_appliance.data_dir / "configuration").iterdir()
                 if "partial" in p.name]
    assert leftovers == []


def test_openssh_sftp_and_scp(ssh_appliance, client_key, tmp_path):
    saved = saveconfig(ssh_appliance)
    options = openssh_options(ssh_appliance, client_key)
    target = "admin@127.0.0.1"
    batch = (f"pwd\nls\nget {saved} fetched.xml\nput fetched.xml put-by-sftp.xml\n"
             "cd /\nls\nget /etc/passwd\n")
    result = subprocess.run(["sftp", *options, "-b", "-", target], input=batch, text=True,
                            capture_output=True, cwd=tmp_path, timeout=TIMEOUT,
                            start_new_session=True)
    # The batch stops at the first failure: the refused /etc/passwd, after everything else.
    assert result.returncode == 1, result.stderr
    assert "Remote working directory: /configuration" in result.stdout
    assert (tmp_path / "fetched.xml").read_bytes() == \
        (ssh_appliance.data_dir / "configuration" / saved).read_bytes()
    assert (ssh_appliance.data_dir / "configuration" / "put-by-sftp.xml").is_file()
    assert "not found" in result.stderr
    # scp (SFTP underneath since OpenSSH 9): the appliance's documented path.
    result = subprocess.run(["scp", *options, f"{target}:/configuration/{saved}",
                             str(tmp_path / "by-scp.xml")], capture_output=True, text=True,
                            timeout=TIMEOUT, start_new_session=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "by-scp.xml").read_bytes() == (tmp_path / "fetched.xml").read_bytes()
    result = subprocess.run(["scp", *options, str(tmp_path / "by-scp.xml"),
                             f"{target}:/configuration/put-by-scp.xml"], capture_output=True,
                            text=True, timeout=TIMEOUT, start_new_session=True)
    assert result.returncode == 0, result.stderr
    status, output = ssh_appliance.exec("loadconfig put-by-scp.xml")
    assert status == 0 and "No changes detected" in output, output


def test_readonly_users_may_fetch_but_not_upload(ssh_appliance):
    status, output = ssh_appliance.exec(
        'userconfig add viewer "Read Only" readonly viewer-password; commit viewer')
    assert status == 0, output
    saved = saveconfig(ssh_appliance)
    client = ssh_appliance.paramiko(user="viewer", password="viewer-password")
    try:
        sftp = client.open_sftp()
        assert sftp.open(f"/configuration/{saved}").read().startswith(b"<?xml")
        with pytest.raises(PermissionError):
            sftp.open("/configuration/by-viewer.xml", "w").write(b"x")
        with pytest.raises(PermissionError):
            sftp.remove(f"/configuration/{saved}")
    finally:
        client.close()
    with pytest.raises(paramiko.AuthenticationException):
        ssh_appliance.paramiko(user="viewer", password="wrong-password")
