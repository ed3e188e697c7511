"""A real appliance process with its SSH server, and clients for it, for the SSH tests.

The appliance is ``segcli --data DIR lab`` (headless: mail flows through the lab's
sink and SETD simulator) on free ports; its SSH port is read from the line it prints.
The tests log in as the factory administrator (``admin``/``ironport``) or with an
Ed25519 client key made for the test run and registered with ``userconfig sshkey``.
Test modules import the fixtures they use from here.
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import paramiko
import pytest

from tests.conftest import REPO, segcli_env

STARTUP_TIMEOUT = 90.0
HOST = "mail1.example.com"
PROMPT = f"{HOST}> "
USER, PASSWORD = "admin", "ironport"
#: segcli with the test-only commands (tests/e2e/ssh_test_commands.py) loaded first.
PRELOAD = ("import sys; import tests.e2e.ssh_test_commands; from segcli.main import main; "
           "raise SystemExit(main(sys.argv[1:]))")
_SSH_LINE = re.compile(r"SSH server on ([\d.]+):(\d+) \((.*)\)")
_SMTP_LINE = re.compile(r"Gateway SMTP listener\s+127\.0\.0\.1:(\d+)")


@dataclass
class SshAppliance:
    """One running ``segcli lab`` with its SSH server."""

    process: subprocess.Popen
    data_dir: Path
    port: int
    smtp_port: int
    fingerprints: str
    lines: list[str] = field(default_factory=list)

    @classmethod
    def start(cls, data_dir: Path, *, minute: float | None = None) -> SshAppliance:
        """*minute*: the seconds a minute of the CLI idle timeout lasts in this appliance
        (tests/e2e/ssh_test_commands.py); None for real minutes."""
        env = segcli_env()
        env.pop("SEGCLI_E2E_MINUTE", None)
        if minute is not None:
            env["SEGCLI_E2E_MINUTE"] = str(minute)
        process = subprocess.Popen(
            [sys.executable, "-c", PRELOAD, "--data", str(data_dir), "lab",
             "--smtp", "127.0.0.1:0", "--ssh", "127.0.0.1:0"], stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            cwd=REPO)
        lines: list[str] = []
        ssh = smtp = None
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while (ssh is None or smtp is None) and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                raise AssertionError("segcli ended before its SSH server started:\n"
                                     + "".join(lines))
            lines.append(line)
            smtp = smtp or _SMTP_LINE.search(line)
            ssh = ssh or _SSH_LINE.search(line)
        if ssh is None or smtp is None:
            process.kill()
            raise AssertionError("segcli did not start its SSH server in time:\n" + "".join(lines))
        appliance = cls(process, data_dir, int(ssh[2]), int(smtp[1]), ssh[3], lines)
        # Keep reading, so that a full pipe never stalls the process.
        threading.Thread(target=appliance._drain, daemon=True).start()
        return appliance

    def _drain(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=60)

    # -- clients ------------------------------------------------------------------------
    def openssh(self, *args: str, key: Path | None = None, user: str = USER) -> list[str]:
        """An OpenSSH ``ssh`` command line for this appliance: no user configuration, no
        known-hosts file, the given key (or password authentication only)."""
        auth = (["-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                 "-o", "PasswordAuthentication=no"] if key else
                ["-o", "PubkeyAuthentication=no", "-o", "NumberOfPasswordPrompts=1"])
        return ["ssh", "-F", "/dev/null", "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
                "-p", str(self.port), *auth, f"{user}@127.0.0.1", *args]

    def paramiko(self, *, user: str = USER, password: str = PASSWORD,
                 **options) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        try:
            client.connect("127.0.0.1", port=self.port, username=user, password=password,
                           look_for_keys=False, allow_agent=False, timeout=30,
                           banner_timeout=30, auth_timeout=60, **options)
        except BaseException:  # a refused login leaves its transport open otherwise
            client.close()
            raise
        return client

    def exec(self, command: str, stdin: str = "", **login) -> tuple[int, str]:
        """Run an exec request over paramiko: (exit status, output)."""
        client = self.paramiko(**login)
        try:
            channel_in, out, _ = client.exec_command(command, timeout=60)
            if stdin:
                channel_in.write(stdin)
            channel_in.channel.shutdown_write()
            text = out.read().decode()
            return out.channel.recv_exit_status(), text
        finally:
            client.close()

    def send_mail(self, recipient: str, subject: str) -> None:
        import smtplib

        message = (f"From: alice@example.org\r\nTo: {recipient}\r\nSubject: {subject}\r\n"
                   f"Message-ID: <{subject}@example.org>\r\n\r\nhello\r\n")
        with smtplib.SMTP("127.0.0.1", self.smtp_port, timeout=30) as client:
            client.sendmail("alice@example.org", [recipient], message)


def password_login(port: int, password: str, *, user: str = USER,
                   source: str = "127.0.0.1") -> bool:
    """One paramiko password login to ``127.0.0.1:port`` from *source* (any loopback
    address: the server tells sources apart by it): did it work?"""
    sock = socket.create_connection(("127.0.0.1", port), timeout=60, source_address=(source, 0))
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect("127.0.0.1", port=port, username=user, password=password, sock=sock,
                       look_for_keys=False, allow_agent=False, timeout=60, banner_timeout=60,
                       auth_timeout=120)
        return True
    except paramiko.AuthenticationException:
        return False
    finally:
        client.close()
        sock.close()


@pytest.fixture(scope="session")
def client_key(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An Ed25519 key pair made with ssh-keygen for this test run (private key path)."""
    key = tmp_path_factory.mktemp("client-key") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "segcli-test",
                    "-f", str(key)], check=True)
    return key


@pytest.fixture(scope="module")
def ssh_appliance(tmp_path_factory: pytest.TempPathFactory, client_key: Path
                  ) -> Iterator[SshAppliance]:
    """One appliance for a test module; the client key is registered for ``admin``
    through the CLI itself (``userconfig sshkey add`` and ``commit`` over SSH)."""
    appliance = SshAppliance.start(tmp_path_factory.mktemp("ssh") / "data")
    try:
        public = client_key.with_suffix(".pub").read_text().strip()
        status, output = appliance.exec(
            f'userconfig sshkey add admin "{public}"; commit "test client key"')
        assert status == 0, output
        yield appliance
    finally:
        status = appliance.stop()
        assert status == 0, "".join(appliance.lines)
