"""The mail configuration commands in the real ``segcli`` process, driven by piped scripts.

What an automation developer relies on: every one-line form works in a script, the
committed settings survive a restart on the same data directory (they travel through
the XML document the store keeps), interactive answers can be scripted, and a bad
line exits non-zero with nothing changed.
"""

from __future__ import annotations

from tests.certificates import ca_pem
from tests.conftest import run_segcli

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"


def _ok(data_dir, lines: list[str]):
    result = run_segcli(data_dir, "\n".join(lines) + "\n")
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_batch_settings_persist_across_a_restart(data_dir, tmp_path):
    pem = tmp_path / "lab-root.pem"
    pem.write_text(ca_pem("Lab Root A") + "\n")
    first = _ok(data_dir, [
        f"tdcconfig enable {INTAKE}",
        "listenerconfig address 127.0.0.1:2600",
        "listenerconfig rcptaccess add example.com,.example.org",
        "listenerconfig maxsize 20M",
        "listenerconfig tls off",
        "smtproutes new ALL USEDNS",
        "smtproutes new .example.com relay.example.net:2526,10.0.0.1",
        "dnsconfig servers 127.0.0.1:5353",
        "dnsconfig timeout 2",
        "destconfig new example.net concurrency 5 perconn 2 tls required-verify",
        "deliveryconfig setup retry 1 maxretry 10 maxqueue 60",
        "tdcconfig timers scale 0.01 minconn 2",
        "policyconfig incoming edit DEFAULT antispam action drop",
        "policyconfig outgoing edit DEFAULT antivirus disable",
        f"certconfig import {pem}",
        "labconfig hostport beta.cmd.cisco.com 2601",
        'commit "mail settings"',
    ])
    assert "Changes committed: " in first

    out = _ok(data_dir, [
        "listenerconfig print", "smtproutes print", "dnsconfig print", "destconfig list",
        "deliveryconfig print", "tdcconfig print", "policyconfig incoming edit DEFAULT print",
        "policyconfig outgoing edit DEFAULT print", "certconfig print", "labconfig print",
    ])
    for expected in (
        "1. IncomingMail (on Management, 127.0.0.1) SMTP TCP Port 2600 Public",
        "Maximum Message Size: 20M\nTLS: No\n",
        "example.com         ACCEPT\n.example.org        ACCEPT\nALL                 REJECT\n",
        "1. ALL                      USEDNS\n"
        "2. .example.com             relay.example.net:2526, 10.0.0.1\n",
        "Using these DNS servers:\n1. 127.0.0.1:5353\nTimeout for DNS queries: 2 seconds\n",
        "example.net                             5          2  Required - Verify",
        "Initial time to wait before retrying a message: 1 second\n",
        "Maximum time in queue before a message is hard bounced: 60 seconds\n",
        "Threat Defense Connector:         Enabled",
        "Time scale:                   0.01",
        "Connections:                  2 minimum, 20 maximum",
        "   Anti-Spam: Enabled; positive messages are dropped\n",
        "   Anti-Virus: Disabled\n",
        "1. Subject: O=segcli tests,CN=Lab Root A",
        "1. beta.cmd.cisco.com         2601",
    ):
        assert expected in out, expected

    shown = _ok(data_dir, ["showconfig n"])
    for element in ("<listener_address>127.0.0.1:2600</listener_address>",
                    "<route_domain>.example.com</route_domain>", "<server>127.0.0.1:5353</server>",
                    "<tls>Required - Verify</tls>", "<time_scale>0.01</time_scale>",
                    "<scan_action>drop</scan_action>", "-----BEGIN CERTIFICATE-----",
                    "<host>beta.cmd.cisco.com</host>"):
        assert element in shown, element


def test_interactive_dialogs_answered_from_the_script(data_dir):
    out = _ok(data_dir, [
        "smtproutes", "new", "example.com", "relay.example.net:2526", "",
        "destconfig", "new", "example.net", "", "20", "n", "n", "",
        "dnsconfig", "setup", "2", "127.0.0.1:5353", "", "",
        "listenerconfig", "edit", "1", "rcptaccess", "new", "example.com", "", "", "",
        'commit "from dialogs"',
    ])
    assert "Enter the domain for which you want to set up a permanent route.\n" in out
    assert "Changes committed: " in out
    again = _ok(data_dir, ["smtproutes print", "destconfig detail example.net", "dnsconfig print",
                           "listenerconfig rcptaccess print"])
    assert "1. example.com              relay.example.net:2526" in again
    assert "example.net\n    Maximum concurrency: 20 (System Wide)" in again
    assert "1. 127.0.0.1:5353" in again
    assert "example.com         ACCEPT" in again


def test_bad_lines_exit_non_zero_and_change_nothing(data_dir):
    result = run_segcli(data_dir, "\n".join([
        "listenerconfig address nowhere",
        "listenerconfig rcptaccess add ALL",
        "smtproutes new example.com /dev/null,relay.example.net",
        "dnsconfig servers dns.example.com",
        "destconfig delete default",
        "deliveryconfig setup retry 7200",
        "tdcconfig timers minconn 50",
        "policyconfig incoming edit DEFAULT antispam action quarantine",
        "certconfig delete 1",
        "labconfig hostport mx.example.net 0",
        'commit "nothing"',
    ]) + "\n")
    assert result.returncode == 1
    out = result.stdout
    for message in ('"nowhere" is not a valid address', '"all" is not a valid entry',
                    "/dev/null must be entered by itself.", "is not a valid DNS server",
                    "The DEFAULT entry cannot be deleted.",
                    "initial retry interval must not be longer",
                    "The minimum number of connections (50) must not be above the maximum (20).",
                    "usage is policyconfig incoming edit <name> antispam",
                    "the list is empty", "The value must be an integer from 1 to 65535.",
                    "There is no data to commit."):
        assert message in out, message
    after = _ok(data_dir, ["showconfig n"])
    assert "<smtp_routes />" in after and "<lab_host_ports />" in after


def test_a_saved_document_loads_back(data_dir):
    _ok(data_dir, ["smtproutes new example.com relay.example.net", "labconfig hostport mx.example.net 2602",
                   'commit "routes"', "saveconfig y 1", "smtproutes clear", "labconfig delete mx.example.net",
                   'commit "cleared"'])
    saved = sorted((data_dir / "configuration").iterdir())[-1].name
    out = _ok(data_dir, [f"loadconfig {saved}", 'commit "restored"', "smtproutes print", "labconfig print"])
    assert "Values have been loaded." in out
    assert "1. example.com              relay.example.net" in out
    assert "1. mx.example.net             2602" in out


def test_help_shows_the_new_commands(data_dir):
    out = _ok(data_dir, ["help", "help destconfig"])
    for name in ("certconfig", "deliveryconfig", "destconfig", "dnsconfig", "labconfig",
                 "listenerconfig", "smtproutes"):
        assert f"\n{name} " in out, name
    assert "destconfig new <domain> [concurrency <n>] [perconn <n>]" in out
