"""Terminal escape sequences from an unauthenticated SMTP client, end to end (issue 9,
item 7): refused in the envelope, accepted in a header (headers are data) but written
escaped to the mail log, and printed escaped by ``tail``, ``grep`` and ``findevent``.

The issue: ``MAIL FROM:<a\\x1b]0;PWNED\\x07@example.org>`` was accepted, logged raw, relayed
raw, and ``tail`` set the title of the operator's terminal.
"""

from __future__ import annotations

import asyncio
import smtplib

import pytest

from tests.engine.gateway_lab import until
from tests.engine.observe.test_log_tools_live import _session
from tests.engine.smtp_support import RawClient

pytestmark = pytest.mark.usefixtures("run")

#: Raw UTF-8 as a client sends it: clear screen, a terminal title ended by BEL, a C1 CSI
#: (U+009B, which some terminals obey like ESC [), and text that must stay readable.
SUBJECT = "Alert \x1b[2J\x1b]0;PWNED\x07 \u009b31m Grüße ✉"
SHOWN = 'Subject "Alert \\x1b[2J\\x1b]0;PWNED\\x07 \\x9b31m Grüße ✉"'


def _raw_controls(text: str) -> list[str]:
    """The control characters a terminal would obey (line ends aside)."""
    return [c for c in text if (c < " " and c != "\n") or "\x7f" <= c <= "\x9f"]


async def test_a_crafted_envelope_is_refused_and_nothing_of_it_is_logged(gateway):
    port = await gateway.start()
    client = await RawClient.connect(port)
    await client.send(b"EHLO evil\x1b]0;PWNED\x07.example.org\r\n")
    assert (await client.reply()).code == 501
    await client.ehlo()
    await client.send(b"MAIL FROM:<a\x1b]0;PWNED\x07@example.org>\r\n")
    assert str(await client.reply()) == "501 5.1.7 Bad sender address syntax"
    assert (await client.command("MAIL FROM:<a@example.org>")).code == 250
    await client.send(b"RCPT TO:<bob\x1b[2J@example.com>\r\n")
    assert str(await client.reply()) == "501 5.1.3 Bad recipient address syntax"
    assert (await client.command("QUIT")).code == 221
    await client.close()
    await until(lambda: "close" in gateway.lines()[-1])
    log = gateway.log()
    assert "PWNED" not in log and "bob" not in log
    assert gateway.engine.counters.system.messages_received == 0


async def test_an_escape_sequence_in_a_subject_is_logged_and_shown_escaped(gateway):
    port = await gateway.start()
    message = (f"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: {SUBJECT}\r\n"
               f"Message-ID: <hostile@example.org>\r\n\r\nbody\r\n").encode()

    def send() -> dict:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            return client.sendmail("alice@example.org", ["bob@example.com"], message)

    assert await asyncio.to_thread(send) == {}  # headers are data: accepted
    await until(lambda: gateway.log().count("Message finished MID") == 2)
    await gateway.engine.settled()

    log = gateway.log_path.read_bytes()
    assert not any((b < 0x20 and b != 0x0A) or b == 0x7F for b in log)
    assert f"Info: MID 1 {SHOWN}" in log.decode()

    ok, text = await gateway.command("grep -e PWNED mail_logs")
    assert ok and SHOWN in text and _raw_controls(text) == []

    ok, text = await gateway.command("findevent -s PWNED")
    assert ok and SHOWN in text and "Message tracking:" in text
    assert _raw_controls(text) == []

    session, terminal = _session(gateway)
    task = asyncio.ensure_future(session.execute("tail -n 50 mail_logs"))
    await until(lambda: SHOWN in terminal.text)
    session.interrupt()
    await task
    assert _raw_controls(terminal.text) == []


async def test_a_raw_control_already_in_a_log_file_is_shown_escaped(gateway):
    """A log written before the mail log escaped its lines (or by anything else): the
    commands escape what they print, whatever the file holds."""
    await gateway.start()
    gateway.engine.mail_log.flush()
    with gateway.log_path.open("ab") as log:
        log.write(b"Fri Feb 16 21:19:23 2024 Info: MID 9 Subject \"old \x1b]0;PWNED\x07\"\n")
    shown = 'MID 9 Subject "old \\x1b]0;PWNED\\x07"'

    ok, text = await gateway.command("grep -e PWNED mail_logs")
    assert ok and shown in text and _raw_controls(text) == []

    ok, text = await gateway.command("findevent -s PWNED")
    assert ok and shown in text and _raw_controls(text) == []

    session, terminal = _session(gateway)
    task = asyncio.ensure_future(session.execute("tail -n 5 mail_logs"))
    await until(lambda: shown in terminal.text)
    session.interrupt()
    await task
    assert _raw_controls(terminal.text) == []
