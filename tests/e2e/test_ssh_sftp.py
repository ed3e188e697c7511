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


#: Paths a client may send that the file system could never take: a name of 5000
#: characters, a name of 300 (over NAME_MAX), and a path of 5000 bytes that would resolve
#: to a short one.  Each must be answered with one line, and change nothing.
RAW_TOO_LONG = ("/configuration/" + "a" * 5000, "/configuration/" + "x/../" * 1000 + "ok.xml")
NAME_TOO_LONG = "/configuration/" + "n" * 300 + ".xml"


def sftp_operations(sftp: paramiko.SFTPClient, existing: str) -> dict:
    """What a client can do with a path it names: open, stat, change, remove, rename."""
    return {
        "read": lambda path: sftp.open(path).read(),
        "write": lambda path: sftp.open(path, "w").write(b"<config/>"),
        "stat": sftp.stat,
        "lstat": sftp.lstat,
        "chmod": lambda path: sftp.chmod(path, 0o600),
        "remove": sftp.remove,
        "rename from": lambda path: sftp.rename(path, "renamed.xml"),
        "rename to": lambda path: sftp.rename(existing, path),
    }


def assert_one_line(error: BaseException, expected: str, what: str = "") -> None:
    text = str(error)
    assert expected in text and "\n" not in text and len(text) < 200, (what, text)


def test_too_long_names_and_paths_get_one_line_and_change_nothing(ssh_appliance):
    saved = saveconfig(ssh_appliance)
    configuration = ssh_appliance.data_dir / "configuration"
    before = sorted(p.name for p in configuration.iterdir())
    seen = len(ssh_appliance.lines)
    client = ssh_appliance.paramiko()
    try:
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(TIMEOUT)  # a request left unanswered fails the test
        operations = sftp_operations(sftp, f"/configuration/{saved}")
        for path in RAW_TOO_LONG:
            for what, operation in [*operations.items(), ("listdir", sftp.listdir),
                                    ("normalize", sftp.normalize)]:
                with pytest.raises(OSError) as caught:
                    operation(path)
                assert_one_line(caught.value, "File name too long", what)
        for what, operation in operations.items():
            with pytest.raises(OSError) as caught:
                operation(NAME_TOO_LONG)
            assert_one_line(caught.value, "File name too long", what)
        # The longest name that fits (its upload's hidden name included) still works.
        longest = "/configuration/" + "m" * 234 + ".xml"
        with sftp.open(longest, "w") as remote:
            remote.write(b"<config/>")
        sftp.remove(longest)
    finally:
        client.close()
    assert sorted(p.name for p in configuration.iterdir()) == before
    assert ssh_appliance.exec("version")[0] == 0
    assert "Traceback" not in "".join(ssh_appliance.lines[seen:])


def test_names_that_are_not_ascii_are_answered(ssh_appliance):
    """Conch can send only ASCII in a status: a message naming "é.xml" once left the
    request unanswered."""
    client = ssh_appliance.paramiko()
    try:
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(TIMEOUT)
        with pytest.raises(FileNotFoundError) as caught:
            sftp.stat("/configuration/\u00e9t\u00e9.xml")
        assert_one_line(caught.value, "No such file: /configuration/\\xe9t\\xe9.xml")
        with pytest.raises(FileNotFoundError):
            sftp.listdir("/configuration/\u00e9t\u00e9")
    finally:
        client.close()
