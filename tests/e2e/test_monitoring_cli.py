"""The monitoring commands in the real ``segcli`` process: piped scripts (plain mode: no
escape sequences, exit status) after real mail, and Ctrl-C at the interactive console."""

from __future__ import annotations

import re
import smtplib
import subprocess
import time
from pathlib import Path

from tests.conftest import REPO, SEGCLI, run_segcli, segcli_env
from tests.e2e.lab_process import wait_for

ANSI = re.compile(r"\x1b[\[\]()>=]")
CTRL_C = "\x03"
ROW = r"\d\d:\d\d:\d\d "


def _figures(text: str, label: str) -> list[int]:
    match = re.search(rf"^\s+{re.escape(label)}((?:\s+[\d,]+)+)$", text, re.M)
    assert match, f"{label!r} not in:\n{text}"
    return [int(v.replace(",", "")) for v in match.group(1).split()]


def test_piped_status_detail_and_rate(data_dir):
    result = run_segcli(data_dir, "status\nstatus detail\nrate 1 2\nworkqueue status\ntopin\n")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert not ANSI.search(out)
    assert 'Enter "status detail" for more information.' in out
    assert "System status:                 Online" in out
    assert out.count("Counters:") == 2 and out.count("Rates (Events Per Hour):") == 1
    assert len(re.findall(rf"^{ROW}", out, re.M)) == 2  # rate 1 2: two rows, then it ends
    assert "Status: Operating normally\nMessages: 0" in out
    assert "Remote hostname" in out
    assert out.endswith("mail1.example.com> \n")


def test_bad_forms_fail_the_script(data_dir):
    result = run_segcli(data_dir, "status everything\nrate 0\n")
    assert result.returncode == 1
    assert result.stdout.count("Invalid arguments when processing") == 2


def _smtp_port(process: subprocess.Popen) -> int:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        match = re.search(r"SMTP listener \S+ on [\d.]+:(\d+)", line)
        if match:
            return int(match[1])
        if not line and process.poll() is not None:
            break
    raise AssertionError("segcli did not report its SMTP listener")


def _send(port: int, count: int) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for n in range(count):
            client.sendmail("alice@example.org", ["bob@example.com", "carol@example.com"],
                            f"Subject: e2e {n}\r\n\r\nhello\r\n")


def _finished(data_dir: Path, count: int) -> bool:
    log = data_dir / "logs" / "mail_logs" / "mail.current"
    return log.exists() and log.read_text().count("Message finished") >= count


def test_status_after_real_mail_and_lifetime_across_a_restart(data_dir):
    setup = run_segcli(data_dir, "listenerconfig rcptaccess add example.com\n"
                                 "smtproutes new example.com /dev/null\ncommit \"e2e\"\n")
    assert setup.returncode == 0, setup.stdout
    process = subprocess.Popen([*SEGCLI, "--data", str(data_dir)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=segcli_env(), cwd=REPO)
    try:
        _send(_smtp_port(process), 3)
        wait_for(lambda: _finished(data_dir, 3), what="three messages delivered")
        out, _ = process.communicate("status detail\nresetcounters\nstatus\n", timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, out
    assert not ANSI.search(out)
    detail, _, after_reset = out.partition("Counters reset: ")
    assert _figures(detail, "Messages Received") == [3, 3, 3]
    assert _figures(detail, "Recipients Received") == [6, 6, 6]
    assert _figures(detail, "Delivered Recipients") == [6, 6, 6]
    assert _figures(after_reset, "Messages Received") == [0, 3, 3]
    again = run_segcli(data_dir, "status\n")  # a new process on the same data directory
    assert _figures(again.stdout, "Messages Received") == [0, 0, 3]
    assert _figures(again.stdout, "Completed Recipients") == [0, 0, 6]
    assert "Last counter reset:            Never" not in again.stdout


def test_ctrl_c_ends_rate_and_returns_workqueue_rate_to_its_menu(spawn):
    console = spawn().started()
    console.command("rate 1")
    console.expect("Type Ctrl-C to return to the main prompt.")
    for _ in range(2):
        console.expect(ROW, regex=True)
    console.keys(CTRL_C)
    console.prompt()
    console.command("workqueue")
    console.expect("- RATE - Display work queue statistics")
    console.answer("rate")
    console.expect("[10]>")
    console.answer("1")
    console.expect("Type Ctrl-C to return to the main menu.")
    console.expect(ROW, regex=True)
    console.keys(CTRL_C)
    console.expect("Choose the operation you want to perform:")
    console.expect("[]>")
    console.answer("")
    console.prompt()
    assert "Operating normally" in console.run("workqueue status")
    console.command("quit")
    assert console.wait_exit() == 0
