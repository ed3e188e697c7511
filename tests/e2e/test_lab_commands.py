"""``segcli lab send|setd|fault`` as a user types them in a second shell, against one real
``segcli lab`` process (shared by the module): test mail sent, what SETD received, faults set
and spent, and the one-line error when no lab runs."""

from __future__ import annotations

import json
import re
import signal
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from segcli.lab.control import request_sync
from tests.conftest import REPO, SEGCLI, segcli_env
from tests.e2e.lab_process import _read_banner, wait_for


@dataclass
class Lab:
    process: subprocess.Popen
    data_dir: Path
    banner: str

    @property
    def smtp_port(self) -> int:
        return int(re.search(r"Gateway SMTP listener\s+127\.0\.0\.1:(\d+)", self.banner)[1])

    def segcli(self, *args: str, data: bool = True) -> subprocess.CompletedProcess[str]:
        """``segcli lab ARGS --data DIR`` in its own process, as from a second shell."""
        return subprocess.run(
            [*SEGCLI, "lab", *args, *(["--data", str(self.data_dir)] if data else [])],
            capture_output=True, text=True, timeout=90, env=segcli_env(), cwd=REPO)

    def json(self, *args: str):
        done = self.segcli(*args, "--json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    def dashboard_status(self, message_id: str) -> str | None:
        """A message's status on the dashboard, asked over the socket from this process (the
        command line itself is tested once; polling with it would only be slow)."""
        rows = request_sync(self.data_dir, "setd.dashboard")
        return next((r["status"] for r in rows if r["message_id"] == message_id), None)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("labcli")
    process = subprocess.Popen(
        [*SEGCLI, "--data", str(data_dir), "lab"], stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=segcli_env(), cwd=REPO)
    try:
        yield Lab(process, data_dir, _read_banner(process))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        process.stdout.close()
        assert not (data_dir / "lab.sock").exists(), "the control socket outlived the lab"


def _message_ids(output: str) -> list[str]:
    return [line.split()[0] for line in output.splitlines()]


def test_the_banner_lists_every_intake_host_and_the_control_socket(lab):
    accounts = lab.json("setd", "accounts")
    assert {a["name"] for a in accounts} == {"default", "partners"}
    for account in accounts:
        assert f"intake host          {account['mx_host']} -> 127.0.0.1:{account['port']}" \
            in lab.banner
    socket = lab.data_dir / "lab.sock"
    assert f"Lab control socket     {socket}" in lab.banner
    assert stat.S_IMODE(socket.stat().st_mode) == 0o600
    assert f"segcli lab send --data {lab.data_dir}" in lab.banner
    assert f"Console socket         {lab.data_dir / 'cli.sock'}" in lab.banner
    assert f"Another console:         segcli --data {lab.data_dir}" in lab.banner
    info = request_sync(lab.data_dir, "info")  # what programs read instead of the banner
    assert info["smtp"] == {"host": "127.0.0.1", "port": lab.smtp_port}
    assert info["socket"] == str(socket) and info["data_dir"] == str(lab.data_dir)
    assert {(i["mx_host"], i["port"]) for i in info["intakes"]} == {
        (a["mx_host"], a["port"]) for a in accounts}
    assert "send_test_mail.py" not in lab.banner


def test_sent_mail_shows_on_the_setd_dashboard(lab):
    sent = lab.segcli("send", "--count", "2", "--sessions", "2", "--subject", "portal check")
    assert sent.returncode == 0, sent.stderr
    ids = _message_ids(sent.stdout)
    assert len(ids) == 2 and all(i.startswith("<") and i.endswith(">") for i in ids)
    assert all(" 250 " in line for line in sent.stdout.splitlines())
    wait_for(lambda: all(lab.dashboard_status(i) == "accepted" for i in ids),
             what="both journals accepted by SETD")
    table = lab.segcli("setd", "dashboard", "--account", "default")
    assert table.returncode == 0 and table.stdout.startswith("TIME ")
    [row] = [line for line in table.stdout.splitlines() if ids[0] in line]
    assert "alice@example.org" in row and "portal check" in row and row.endswith("accepted")


def test_a_setd_fault_set_from_the_shell_strikes_once(lab):
    intake = re.search(r"default intake\s+(\S+)", lab.banner)[1]
    fault = lab.segcli("fault", "set", "setd", "--intake", intake, "--kind", "reply",
                       "--stage", "eom", "--code", "554", "--times", "1")
    assert fault.returncode == 0, fault.stderr
    assert re.search(rf"^\d+\s+setd\s+{re.escape(intake)}\s+reply 554 .* at eom\s+1$",
                     fault.stdout, re.M), fault.stdout
    assert intake in lab.segcli("fault", "list").stdout
    [refused] = _message_ids(lab.segcli("send", "--subject", "refused by SETD").stdout)
    wait_for(lambda: lab.dashboard_status(refused) == "rejected 554", what="the 554 at SETD")
    assert lab.segcli("fault", "list").stdout.strip() == "no faults in force"  # spent


def test_dns_faults_and_bad_requests_from_the_shell(lab):
    assert lab.segcli("fault", "set", "dns", "--name", "nothing.test",
                      "--fault", "servfail").returncode == 0
    assert "dns:nothing.test" in lab.segcli("fault", "list").stdout
    bad = lab.segcli("fault", "set", "setd", "--intake", "nobody", "--kind", "hang")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("segcli: no SETD account 'nobody'; accounts: default (")
    cleared = lab.segcli("fault", "clear", "--all")
    assert (cleared.returncode, cleared.stdout) == (0, "1 fault(s) cleared\n")


def test_sending_from_the_shell_itself_and_a_refusal(lab):
    direct = lab.segcli("send", "--server", f"127.0.0.1:{lab.smtp_port}", "--kind", "gtube",
                        data=False)
    assert direct.returncode == 0, direct.stderr
    assert len(_message_ids(direct.stdout)) == 1 and " 250 " in direct.stdout
    refused = lab.segcli("send", "--to", "x@elsewhere.org")
    assert refused.returncode == 1
    assert re.fullmatch(r"segcli: message <\S+> refused at rcpt: 550 .*\(0 of 1 accepted\)\n",
                        refused.stderr), refused.stderr


def test_without_a_lab_the_commands_say_so_in_one_line(tmp_path):
    for args in (["setd", "dashboard"], ["send"], ["fault", "list"]):
        done = subprocess.run([*SEGCLI, "lab", *args, "--data", str(tmp_path)],
                              capture_output=True, text=True, timeout=60, env=segcli_env(),
                              cwd=REPO)
        assert done.returncode == 1 and done.stdout == ""
        assert done.stderr == (f"segcli: no lab is running in {tmp_path} (no control socket: "
                               f"{tmp_path / 'lab.sock'}); start one with: segcli --data "
                               f"{tmp_path} lab\n")
