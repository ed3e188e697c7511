"""The gateway listener under bad input and a failing store; message tracking of a journal copy."""

from __future__ import annotations

import asyncio
import smtplib
import socket

import pytest
from sqlalchemy import text

from engine.mail.journal import attached_original
from engine.store import queue_store
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _conversation(port: int, payload: bytes) -> bytes:
    """Send raw bytes, then read everything the server says until it closes or goes quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(payload)
        conn.settimeout(2)
        received = b""
        try:
            while chunk := conn.recv(65536):
                received += chunk
        except TimeoutError:
            pass
        return received


async def test_a_store_that_cannot_write_answers_451_and_keeps_nothing(gateway):
    await gateway.start()

    def read_only(connection):  # the writer's own connection refuses writes from now on
        connection.exec_driver_sql("PRAGMA query_only = ON")

    await gateway.engine.writer.submit(read_only)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await gateway.send("not stored")
    assert refused.value.smtp_code == 451
    assert "Receiving aborted: storage error" in gateway.log()
    with gateway.engine.store.engine.connect() as connection:
        assert connection.execute(text("select count(*) from messages")).scalar() == 0
    # While the store stays broken, every message gets the temporary 451, never a 5xx.
    with pytest.raises(smtplib.SMTPDataError) as again:
        await gateway.send("still not stored")
    assert again.value.smtp_code == 451


async def test_hostile_input_gets_replies_and_the_listener_keeps_serving(gateway):
    port = await gateway.start()
    replies = await asyncio.to_thread(_conversation, port, b"".join([
        b"EHLO client.example.org\r\n",
        b"MAIL FROM:<a@example.org>\r\n",
        b"RCPT TO:<bob@example.com>\r\n",
        b"DATA\r\n",
        b"Subject: smuggle\r\n\r\nline one\n.\nMAIL FROM:<evil@example.org>\r\n.\r\n",
        b"MAIL FROM:<a@example.org>\r\n",
        b"RCPT TO:<bob@example.com>\r\n",
        b"DATA\r\n",
        b"Subject: smuggle\r\n\r\nline one\r.\rMAIL FROM:<evil@example.org>\r\n.\r\n",
        b"X" * 5000 + b"\r\n",
        b"QUIT\r\n",
    ]))
    # a bare LF, then a bare CR, in the data: each refused after the real final dot
    assert replies.count(b"550 5.6.11") == 2
    assert b"500 5.5.2 Line too long" in replies
    assert b"221" in replies
    assert gateway.engine.counters.system.messages_received == 0
    garbage = await asyncio.to_thread(_conversation, port, bytes(range(256)) * 20)
    assert garbage.startswith(b"220 ") and b"421" in garbage
    assert await gateway.send("still fine") == {}


async def test_a_message_refused_after_data_ends_its_mid_in_the_log(gateway):
    """Start, From and To were logged for the MID: the refusal ends it, as a message aborted
    while it was received would be (nothing was stored, nothing is left open)."""
    gateway.config.listener.max_message_size = 20_000
    port = await gateway.start()
    replies = await asyncio.to_thread(_conversation, port, b"".join([
        b"EHLO client.example.org\r\n", b"MAIL FROM:<a@example.org>\r\n",
        b"RCPT TO:<bob@example.com>\r\n", b"DATA\r\n", b"Subject: bare\r\n\r\nline\none\r\n.\r\n",
        b"MAIL FROM:<a@example.org>\r\n", b"RCPT TO:<bob@example.com>\r\n", b"DATA\r\n",
        (b"x" * 98 + b"\r\n") * 300 + b".\r\n", b"QUIT\r\n"]))
    assert b"550 5.6.11" in replies and b"552 5.3.4" in replies
    log = gateway.log()
    bare = "5.6.11 Bare <CR> or <LF> in message data, lines must end with <CR><LF>"
    for mid, reply in ((1, f"550 {bare}"), (2, "552 5.3.4 Message size exceeds fixed maximum "
                                             "message size")):
        assert f"Start MID {mid} ICID 1" in log
        assert f"Message aborted MID {mid} Receiving aborted: {reply}\n" in log
        assert f"Message finished MID {mid} aborted" in log
    assert gateway.engine.counters.system.messages_received == 0


async def test_oversized_messages_are_refused_with_552(gateway):
    gateway.config.listener.max_message_size = 20_000
    await gateway.start()
    with pytest.raises(smtplib.SMTPException) as refused:
        await gateway.send("big", "x" * 30_000)
    assert "552" in str(refused.value)


async def test_eight_bit_mail_is_journaled_byte_for_byte(gateway):
    port = await gateway.start()
    body = "Grüße aus Köln — ünïcödé".encode()
    message = (b"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: 8bit\r\n"
               b"Message-ID: <8bit@example.org>\r\nContent-Type: text/plain; charset=utf-8\r\n"
               b"Content-Transfer-Encoding: 8bit\r\n\r\n" + body + b"\r\n")

    def send():
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail("alice@example.org", ["bob@example.com"], message)

    await asyncio.to_thread(send)
    await until(lambda: gateway.setd.messages and gateway.sink.messages)
    delivered = gateway.sink.messages[0][2]
    assert body in delivered
    assert attached_original(gateway.setd.messages[0][2]) == delivered


async def test_tracking_keeps_the_single_tdc_line_on_the_original(gateway):
    await gateway.start()
    await gateway.send("tracked")
    await until(lambda: gateway.engine.tdc.counters.delivered == 1)
    await gateway.engine.settled()  # what was noted is written
    events = [text for _, text in queue_store.tracking_events(gateway.engine.store.engine, 1)]
    tdc = [e for e in events if e.startswith("TDC:")]
    assert tdc == ["TDC: Message 2 was delivered for scanning with Cisco Secure Email Threat Defense."]
    assert any(e.startswith("Message done DCID") for e in events)


async def test_a_raw_utf8_subject_is_logged_readably(gateway):
    """Many clients send a Subject in raw UTF-8 (RFC 6532): the log and tracking show it
    as written, not as U+FFFD; a byte that is not UTF-8 is the only thing replaced."""
    port = await gateway.start()
    messages = [b"Subject: Gr\xc3\xbc\xc3\x9fe aus K\xc3\xb6ln \xe2\x9c\x89 \xe5\x96\xb6\xe6\xa5\xad\r\n"
                b"\r\nbody\r\n",
                b"Subject: not \xff utf-8\r\n\r\nbody\r\n"]

    def send():
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            for message in messages:
                client.sendmail("alice@example.org", ["bob@example.com"], message)

    await asyncio.to_thread(send)
    await until(lambda: gateway.log().count(" Subject ") == 2)
    log = gateway.log()
    assert 'Subject "Grüße aus Köln ✉ 営業"' in log
    assert 'Subject "not \ufffd utf-8"' in log


async def test_a_message_without_a_message_id_gets_one_at_acceptance(gateway):
    """As the appliance does (issue 10, item 5): the ``Message-ID`` line, the journal copy's
    ``enqueued`` line and the delivered message all show the one the gateway added."""
    port = await gateway.start()
    await asyncio.to_thread(_conversation, port, b"".join([
        b"EHLO client.example.org\r\n",
        b"MAIL FROM:<alice@example.org>\r\n",
        b"RCPT TO:<bob@example.com>\r\n",
        b"DATA\r\n",
        b"From: alice@example.org\r\nSubject: no id\r\n\r\nclean body\r\n.\r\n",
        b"QUIT\r\n",
    ]))
    await until(lambda: len(gateway.sink.messages) == 1 and len(gateway.setd.messages) == 1)
    lines = gateway.lines()
    [logged] = [line for line in lines if line.startswith("MID 1 Message-ID ")]
    value = logged.removeprefix("MID 1 Message-ID ").strip("'")
    assert value.startswith("<") and value.endswith(f"@{gateway.config.hostname}>")
    assert any(line.startswith("TDC: MID ") and f" with Message-ID '{value}' enqueued " in line
               for line in lines)
    delivered = gateway.sink.messages[0][2]
    assert f"\r\nMessage-ID: {value}\r\n".encode() in delivered
    assert delivered.count(b"Message-ID:") == 1


async def test_a_message_with_a_message_id_keeps_it(gateway):
    await gateway.start()
    await gateway.send("has id")
    await until(lambda: len(gateway.sink.messages) == 1)
    assert "MID 1 Message-ID '<has.id@example.org>'" in gateway.lines()
    assert gateway.sink.messages[0][2].count(b"Message-ID:") == 1
