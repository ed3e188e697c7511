"""The monitoring commands in the interactive renderer (prompt_toolkit under a pty) of a
running lab, after real mail: the figures, not just the headers."""

from __future__ import annotations

import re
import smtplib
import time


def _lab_port(console, what: str) -> int:
    console.expect(r"Gateway SMTP listener\s+127\.0\.0\.1:\d+", regex=True)
    return int(re.search(rf"{what}\s+127\.0\.0\.1:(\d+)", console.text)[1])


def test_tophosts_and_hoststatus_at_the_console_after_real_mail(spawn):
    console = spawn("lab")
    port = _lab_port(console, "Gateway SMTP listener")
    console.started()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for n in range(3):
            client.sendmail("alice@example.org", ["bob@example.com"],
                            f"Subject: console {n}\r\nMessage-ID: <c{n}@example.org>\r\n\r\nhi\r\n")
    deadline = time.monotonic() + 60
    while True:  # until the three journal copies and deliveries are done and all is closed
        out = console.run("tophosts 3")
        rows = dict(re.findall(r"^\s+\d+[ *]\s+(\S+)\s+([\d,]+\s+[\d,]+\s+[\d,]+\s+[\d,]+\s+[\d,]+)$",
                               out, re.M))
        done = ["0", "0", "3", "0", "0"]  # the queue drained: its connections are closed too
        if rows.get("the.tdc.queue", "").split() == done and rows.get("example.com", "").split() == done:
            break
        assert time.monotonic() < deadline, out
        time.sleep(0.5)
    assert rows["the.tdc.queue"].split() == ["0", "0", "3", "0", "0"]
    assert rows["example.com"].split() == ["0", "0", "3", "0", "0"]
    out = console.run("hoststatus the.tdc.queue")
    assert "Host mail status for: 'the.tdc.queue'" in out
    assert re.search(r"^\s+Delivered Recipients\s+3$", out, re.M), out
    assert re.search(r"^\s+Active Recipients\s+0$", out, re.M), out
    console.command("quit")
    assert console.wait_exit() == 0
