"""The log and diagnosis commands through real processes, in plain mode: a ``segcli lab``
carries mail, and a console attached to its data directory (no engine of its own: it reads
the log files and the store, and asks the lab's DNS from the configuration) runs scripts.
No escape sequences; the exit status says whether every command worked."""

from __future__ import annotations

import re

import pytest

from tests.conftest import run_segcli
from tests.e2e.lab_process import LabProcess, wait_for

ANSI = re.compile(r"\x1b[\[\]()>=]")
SUBJECT = "e2e-diagnosis"


@pytest.fixture
def lab(data_dir):
    process = LabProcess.start(data_dir)
    try:
        process.send("bob@example.com", SUBJECT)
        wait_for(lambda: len(process.accepted(process.default_intake)) == 1
                 and "Message finished" in process.mail_log(), what="the journal copy")
        yield process
    finally:
        process.terminate()


def _script(data_dir, script: str):
    result = run_segcli(data_dir, script)
    assert not ANSI.search(result.stdout + result.stderr)
    return result


def test_log_and_diagnosis_commands_in_a_script(lab, data_dir):
    result = _script(data_dir, "\n".join([
        'grep -e "TDC: MID \\d+ successfully delivered" mail_logs',
        "grep -c -e TDC: mail_logs",
        f"findevent -s {SUBJECT}",
        "nslookup example.com MX",
        "tlsverify the.tdc.queue",
        "telnet mx.example.com",
        "EHLO script.example.com",
        "QUIT",
        "",
    ]))
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert re.search(r"Info: TDC: MID \d+ successfully delivered for scanning with Cisco Secure "
                     r"Email Threat Defense\.\n", out)
    count = int(re.search(r"grep -c -e TDC: mail_logs\n(\d+)\n", out)[1])
    assert count == lab.mail_log().count("TDC:")
    history = out.split(f"findevent -s {SUBJECT}\n", 1)[1]
    assert re.search(r"Message history of MID (\d+):\nMID (\d+): TDC journal copy of MID \1 "
                     rf"\(to {re.escape(lab.default_intake)}\)", history)
    assert f'Subject "{SUBJECT}"' in history and "TDC: Message " in history
    assert "MX=mx.example.com PREF=10 TTL=" in out
    assert "TLS certificate verified." in out and "TLS connection to beta.cmd.cisco.com succeeded." in out
    assert re.search(r"Trying 127\.0\.0\.1 port \d+ \(lab port\)\.\.\.\nConnected to mx\.example\.com\.", out)
    assert "EHLO script.example.com\n250-" in out and "\n221 " in out
    assert "Connection closed by foreign host." in out


@pytest.mark.parametrize(("line", "message"), [
    ('grep -e "(" mail_logs', "Invalid regular expression '('"),
    ("nslookup nosuch.example.net", "Unable to resolve nosuch.example.net (A): NXDOMAIN"),
    ("telnet nosuch.example.net 25", "Unknown host nosuch.example.net"),
    ("tlsverify nosuch.example.net", "TLS connection to nosuch.example.net failed"),
], ids=["bad regex", "nslookup unknown host", "telnet unknown host", "tlsverify unknown domain"])
def test_a_failed_diagnosis_makes_the_exit_status_non_zero(lab, data_dir, line, message):
    result = _script(data_dir, f"{line}\nversion\n")
    assert result.returncode == 1, result.stdout
    assert message in result.stdout
    assert "Current Version" in result.stdout  # the script went on


def test_in_the_engines_own_process(data_dir):
    """Without the lab, the console's process runs the engine: its log, its DNS cache."""
    result = _script(data_dir, "grep -e 'Begin Logfile' mail_logs\ndnsflush\n"
                               "grep -e nothing-like-this mail_logs\n")
    assert result.returncode == 0, result.stdout
    assert "Info: Begin Logfile" in result.stdout
    assert "DNS cache flushed: 0 entries removed." in result.stdout
    assert "No results were found." in result.stdout
