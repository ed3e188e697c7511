"""Each SSH login runs with its own account's role, not the administrator's.

A read-only and an operator account are made through the CLI (``userconfig``, over SSH
as the administrator), each with a client key of its own; then each logs in over real
SSH -- paramiko with a password, OpenSSH's ``ssh`` with the key, an interactive shell --
and runs what its role allows and what it does not:

* read-only monitors (``status``, ``tophosts``), and is refused a configuration command and
  ``commit`` with the appliance's message; the exec request then exits 1;
* an operator changes the mail configuration and commits it (the commit is recorded as
  theirs), and is refused the accounts (``userconfig``).

The test-only ``e2eterm`` command says the role a session runs with.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from commands.session import ACCESS_DENIED
from tests.e2e.ssh_fixtures import HOST, PROMPT, SshAppliance
from tests.e2e.test_ssh_paramiko import Shell

TIMEOUT = 45


@dataclass(frozen=True)
class Account:
    name: str
    password: str
    key: Path
    role: str


@pytest.fixture(scope="module")
def accounts(ssh_appliance: SshAppliance, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Account]:
    """``viewer`` (read-only) and ``oper`` (operator), added and committed by the
    administrator over SSH, each with an Ed25519 key of its own."""
    folder = tmp_path_factory.mktemp("role-keys")
    made = {}
    commands = []
    for name, role in (("viewer", "readonly"), ("oper", "operator")):
        key = folder / f"id_{name}"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)],
                       check=True)
        made[role] = Account(name, f"{name}-password-1", key, role)
        public = key.with_suffix(".pub").read_text().strip()
        commands += [f'userconfig add {name} "{name.title()} Example" {role} {name}-password-1',
                     f'userconfig sshkey add {name} "{public}"']
    status, output = ssh_appliance.exec("; ".join([*commands, 'commit "role accounts"']))
    assert status == 0, output
    status, output = ssh_appliance.exec("userconfig print")
    assert ("2. oper - Oper Example (operator)\n3. viewer - Viewer Example (readonly)\n"
            in output), output
    return made


def openssh(appliance: SshAppliance, account: Account, command: str
            ) -> subprocess.CompletedProcess[str]:
    """An OpenSSH exec request as *account*, by its key; ssh gets no terminal to ask on."""
    return subprocess.run(appliance.openssh(command, key=account.key, user=account.name),
                          capture_output=True, text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL,
                          start_new_session=True)


def as_account(appliance: SshAppliance, account: Account, command: str) -> tuple[int, str]:
    """A paramiko exec request as *account*, by password: (exit status, output)."""
    return appliance.exec(command, user=account.name, password=account.password)


def hostname_of(appliance: SshAppliance) -> str:
    _, output = appliance.exec("showconfig n")
    return re.search(r"<hostname>([^<]*)</hostname>", output)[1]


# -- read-only ---------------------------------------------------------------------------------


def test_a_readonly_login_over_paramiko_monitors_and_is_refused_configuration(ssh_appliance,
                                                                            accounts):
    viewer = accounts["readonly"]
    status, output = as_account(ssh_appliance, viewer, "e2eterm; version; tophosts 1")
    assert status == 0, output
    assert "interactive=False role=readonly\n" in output
    assert "Current Version" in output and "the.tdc.queue" in output

    status, output = as_account(ssh_appliance, viewer,
                                'sethostname viewer.example.com; showchanges; commit "by viewer"')
    assert status == 1, output
    assert output.count(ACCESS_DENIED) == 2, output  # sethostname and commit
    assert "No changes have been made since the last commit." in output
    assert hostname_of(ssh_appliance) == HOST


def test_a_readonly_login_over_openssh_exec_is_refused_with_a_failing_exit_status(
        ssh_appliance, accounts):
    viewer = accounts["readonly"]
    result = openssh(ssh_appliance, viewer, "e2eterm; status")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "role=readonly" in result.stdout and "Status as of:" in result.stdout

    result = openssh(ssh_appliance, viewer,
                     'smtproutes new example.org relay.example.net; commit "by viewer"')
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.count(ACCESS_DENIED) == 2, result.stdout
    _, routes = ssh_appliance.exec("smtproutes print")
    assert "example.org" not in routes


def test_a_readonly_interactive_shell_is_refused_at_its_prompt(ssh_appliance, accounts):
    viewer = accounts["readonly"]
    client = ssh_appliance.paramiko(user=viewer.name, password=viewer.password)
    try:
        shell = Shell(client.invoke_shell(term="dumb"))
        shell.read_until(PROMPT)
        shell.send("e2eterm\n")
        assert "role=readonly" in shell.read_until(PROMPT)
        shell.send("sethostname shell.example.com\n")
        refused = shell.read_until(PROMPT)
        assert ACCESS_DENIED in refused and "Enter the new hostname" not in refused
        shell.send("quit\n")
        shell.rest()
    finally:
        client.close()
    assert hostname_of(ssh_appliance) == HOST


# -- operator ----------------------------------------------------------------------------------


def test_an_operator_login_commits_mail_configuration_as_itself(ssh_appliance, accounts):
    oper = accounts["operator"]
    status, output = as_account(
        ssh_appliance, oper,
        'e2eterm; smtproutes new example.org relay.example.net; commit "route by oper"')
    assert status == 0, output
    assert "role=operator" in output and "Changes committed: " in output
    _, routes = ssh_appliance.exec("smtproutes print")
    assert "1. example.org              relay.example.net" in routes, routes

    result = openssh(ssh_appliance, oper, 'smtproutes delete example.org; commit "oper again"')
    assert result.returncode == 0, result.stdout + result.stderr
    _, listing = ssh_appliance.exec("smtproutes print; rollbackconfig print")
    assert "example.org" not in listing
    # The commit before the running one, listed for rollback, is the operator's.
    previous = re.search(r"^ 1\. .* GMT  (\S+) +(.*)$", listing, re.MULTILINE)
    assert previous and previous.groups() == ("oper", "route by oper"), listing


def test_an_operator_login_may_not_manage_accounts(ssh_appliance, accounts):
    oper = accounts["operator"]
    for run in (lambda line: as_account(ssh_appliance, oper, line),
                lambda line: _status_and_output(openssh(ssh_appliance, oper, line))):
        status, output = run('userconfig add mallory "Mallory" admin mallory-pass-1; '
                             "userconfig print; commit")
        assert status == 1, output
        assert output.count(ACCESS_DENIED) == 2, output  # both userconfig lines
        assert "There is no data to commit." in output, output
    _, users = ssh_appliance.exec("userconfig print")
    assert "mallory" not in users


def _status_and_output(result: subprocess.CompletedProcess[str]) -> tuple[int, str]:
    return result.returncode, result.stdout

