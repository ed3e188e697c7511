"""The outbound SMTP client against our server (with injected faults) and scripted servers."""

from __future__ import annotations

import asyncio
import random
import re
import socket
from collections.abc import Awaitable, Callable

import pytest

from engine.smtp import client as client_module
from engine.smtp.client import (
    SendResult,
    SmtpClient,
    SmtpConnectionError,
    SmtpReplyError,
    SmtpTimeoutError,
    SmtpTlsError,
    Stage,
    TlsFailure,
)
from engine.smtp.server import DISCONNECT, HANG, Reply
from engine.smtp.tls import client_context, ensure_server_certificate, server_context
from tests.engine.smtp_support import FaultHandler, Recorder, RecordingHandler

pytestmark = pytest.mark.usefixtures("run")

MESSAGE = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nHello.\r\n"
TIMEOUT = 5.0
SHORT = 0.2  # for the tests that want a timeout to happen


async def connect(port: int, *, timeout: float = TIMEOUT) -> SmtpClient:
    return await SmtpClient.connect("127.0.0.1", port, local_name="gw.test", timeout=timeout)


async def ready(port: int, *, timeout: float = TIMEOUT) -> SmtpClient:
    conn = await connect(port, timeout=timeout)
    await conn.ehlo()
    return conn


# ------------------------------------------------------------------------------ the good path


async def test_connect_ehlo_send_quit(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, hostname="mx.test", max_message_size=5000)
    conn = await connect(port)
    assert conn.greeting == Reply(220, "mx.test ESMTP")
    assert conn.peer == ("127.0.0.1", port) and conn.local[0] == "127.0.0.1"
    await conn.ehlo()
    assert set(conn.extensions) == {"PIPELINING", "SIZE", "8BITMIME", "ENHANCEDSTATUSCODES"}
    assert conn.max_size == 5000
    result = await conn.send("a@example.com", ["b@example.net"], MESSAGE)
    assert result.reply == Reply(250, "2.0.0 Ok: queued")
    assert [r.recipient for r in result.accepted] == ["b@example.net"] and not result.refused
    await conn.quit()
    assert conn.closed
    [(envelope, data)] = recorder.messages
    assert data == MESSAGE and envelope.helo == "gw.test"
    assert envelope.params == {"SIZE": str(len(MESSAGE))}
    assert recorder.handlers[0].closed_reason == "QUIT"


async def test_message_is_stuffed_and_normalised(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    conn = await ready(port)
    data = b".first\n..second\r\nthird \xe4\xf6\n.\nlast"
    await conn.send("", ["b@example.net"], data)
    await conn.quit()
    [(envelope, received)] = recorder.messages
    assert received == b".first\r\n..second\r\nthird \xe4\xf6\r\n.\r\nlast\r\n"
    assert envelope.sender == ""
    assert envelope.params == {"SIZE": str(len(data)), "BODY": "8BITMIME"}


async def test_a_message_in_pieces_arrives_as_if_joined(run, smtp_servers):
    """A journal copy is sent as its head, the original and its tail, never joined: a
    piece after a line end starts a line (its dot is stuffed), the size and 8-bit
    parameters count every piece."""
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    conn = await ready(port)
    pieces = (b"head\r\n", b".dot at a piece's start\nmiddle \xe4\r\n", b"", b"\r\n.tail")
    await conn.send("", ["b@example.net"], pieces)
    await conn.send("", ["b@example.net"], (b"no line end", b" yet"))
    await conn.quit()
    [(envelope, received), (_, second)] = recorder.messages
    assert received == b"head\r\n.dot at a piece's start\r\nmiddle \xe4\r\n\r\n.tail\r\n"
    assert envelope.params == {"SIZE": str(sum(map(len, pieces))), "BODY": "8BITMIME"}
    assert second == b"no line end yet\r\n"


def _normalised(data) -> bytes:
    """The message as the server hands it on: pieces joined, CRLF line ends, a last one."""
    text = re.sub(rb"(?<!\r)\n", b"\r\n", b"".join(data) if isinstance(data, tuple) else data)
    return text + b"\r\n" if text and not text.endswith(b"\r\n") else text


def _expected_on_the_wire(data) -> bytes:
    """What DATA carries, worked out the plain way: the pieces joined, CRLF line ends,
    every line starting with a dot stuffed, the final dot."""
    text = _normalised(data)
    if not text:
        return b".\r\n"
    lines = text[:-2].split(b"\r\n")
    return b"".join(b"." + line + b"\r\n" if line.startswith(b".") else line + b"\r\n"
                    for line in lines) + b".\r\n"


@pytest.mark.parametrize("seed", range(40))
def test_a_message_made_a_slice_at_a_time_is_the_same_on_the_wire(seed):
    """Issue 14 (big messages): cut into slices (here of 1 to 40 bytes, so that slices
    end everywhere: after a CR, before a dot, in a line longer than a slice), a message
    is stuffed and normalised exactly as when it is written whole."""
    rng = random.Random(seed)
    alphabet = [b".", b"a", b"\r\n", b"\n", b"\r", b"..", b"\r\n.", b"x" * 30]
    pieces = tuple(b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 60)))
                   for _ in range(rng.randrange(1, 4)))
    data = pieces if len(pieces) > 1 else pieces[0]
    whole = b"".join(client_module._wire_data(data))
    size = rng.randrange(1, 41)
    assert b"".join(client_module._wire_slices(data, size)) == whole
    if b"\r" not in b"".join(pieces):  # a lone CR has no plain reading to hold it to
        assert whole == _expected_on_the_wire(data)


async def test_a_big_message_goes_a_slice_at_a_time_over_tls(run, smtp_servers, server_tls,
                                                             tls_material):
    """A message of 3 MB (lines with dots, bare LFs, a 600 KB line) arrives whole and the
    same as written at once, and the loop runs other work between its slices."""
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, tls_context=server_tls, max_message_size=10_000_000)
    conn = await ready(port)
    await conn.starttls(client_context([tls_material.ca_cert]), "mx.setd.test")
    await conn.ehlo()
    line = b"".join(b".%06d dotted line\r\n" % n for n in range(50_000))
    data = (b"Subject: big\r\n\r\n" + line + b"bare\n" * 1000 + b"y" * 600_000 + b"\r\n"
            + line + b".\r\n" + b"z" * 700_000)
    assert len(data) > 3 * client_module.WRITE_IN_SLICES_FROM
    turns = 0

    async def count_turns():
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    transport = conn._protocol.transport
    write, turns_at_writes = transport.write, []

    def recording_write(chunk: bytes) -> None:
        if len(chunk) > 1000:
            turns_at_writes.append(turns)
        write(chunk)

    transport.write = recording_write
    ticker = asyncio.ensure_future(count_turns())
    try:
        await conn.send("a@example.com", ["b@example.net"], data)
    finally:
        ticker.cancel()
    await conn.quit()
    [(_, received)] = recorder.messages
    assert received == _normalised(data)
    # the body's writes were made in many turns of the loop, not in one go
    assert len(set(turns_at_writes)) >= len(data) // client_module._SLICE // 2


async def test_several_messages_per_connection_rset_only_after_failure(run, smtp_servers):
    class Picky(RecordingHandler):
        def rcpt_to(self, recipient, params):
            super().rcpt_to(recipient, params)
            return Reply(550, "5.1.1 Unknown user") if recipient.startswith("nobody") else None

    recorder = Recorder(Picky)
    _, port = smtp_servers.start(recorder)
    conn = await ready(port)
    await conn.send("a@example.com", ["b@example.net"], b"one\r\n")
    await conn.send("a@example.com", ["c@example.net"], b"two\r\n")
    with pytest.raises(SmtpReplyError) as refused:
        await conn.send("a@example.com", ["nobody@example.net"], b"three\r\n")
    assert (refused.value.code, refused.value.enhanced, refused.value.stage) == (
        550, "5.1.1", Stage.RCPT)
    assert refused.value.result is not None and refused.value.text == "Unknown user"
    await conn.send("a@example.com", ["d@example.net"], b"four\r\n")
    await conn.send("a@example.com", ["e@example.net"], b"five\r\n")
    await conn.quit()
    assert [d for _, d in recorder.messages] == [b"one\r\n", b"two\r\n", b"four\r\n",
                                                 b"five\r\n"]
    kinds = [e[0] for e in recorder.events if e[0] in ("mail", "reset")]
    assert kinds == ["mail", "mail", "mail", "reset", "mail", "mail"]


async def test_partial_refusal_is_a_result_not_an_error(run, smtp_servers):
    class Picky(RecordingHandler):
        def rcpt_to(self, recipient, params):
            if recipient.startswith("full"):
                return Reply(452, "4.2.2 Mailbox full")
            return Reply(550, "5.1.1 Unknown") if recipient.startswith("nobody") else None

    recorder = Recorder(Picky)
    _, port = smtp_servers.start(recorder)
    conn = await ready(port)
    result = await conn.send("a@example.com", ["b@example.net", "nobody@example.net",
                                               "full@example.net"], MESSAGE)
    await conn.quit()
    assert isinstance(result, SendResult)
    assert [(r.recipient, r.code, r.enhanced) for r in result.refused] == [
        ("nobody@example.net", 550, "5.1.1"), ("full@example.net", 452, "4.2.2")]
    assert [r.recipient for r in result.accepted] == ["b@example.net"]
    assert recorder.messages[0][0].recipients == ["b@example.net"]


async def test_slow_replies_within_the_timeout(run, smtp_servers):
    class Slow(RecordingHandler):
        async def mail_from(self, sender, params):
            await asyncio.sleep(0.05)

        async def rcpt_to(self, recipient, params):
            await asyncio.sleep(0.05)

        async def message(self, envelope, data):
            await asyncio.sleep(0.05)
            super().message(envelope, data)

    recorder = Recorder(Slow)
    _, port = smtp_servers.start(recorder)
    conn = await ready(port)
    await conn.send("a@example.com", ["b@example.net", "c@example.net"], MESSAGE)
    await conn.quit()
    assert len(recorder.messages) == 1


async def test_helo_fallback_without_esmtp(run, smtp_servers):
    class Old(RecordingHandler):
        def ehlo(self, name, extended):
            return Reply(502, "5.5.1 EHLO not implemented") if extended else None

    recorder = Recorder(Old)
    _, port = smtp_servers.start(recorder)
    conn = await ready(port)
    assert conn.extensions == {}
    await conn.send("a@example.com", ["b@example.net", "c@example.net"], MESSAGE)  # lockstep
    await conn.quit()
    assert recorder.messages[0][0].recipients == ["b@example.net", "c@example.net"]


async def test_bind_and_nodelay(run, smtp_servers):
    _, port = smtp_servers.start(Recorder())
    conn = await SmtpClient.connect("localhost", port, local_name="gw.test", timeout=TIMEOUT,
                                    bind="127.0.0.1")
    assert conn.local[0] == "127.0.0.1"
    sock = conn._protocol.transport.getHandle()
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    await conn.quit()


# ------------------------------------------------------------------------------ reply faults


@pytest.mark.parametrize(("stage", "reply", "expected_stage"), [
    ("connected", Reply(421, "4.3.2 Service not available"), Stage.GREETING),
    ("connected", Reply(554, "5.7.1 No SMTP service here"), Stage.GREETING),
    ("ehlo", Reply(550, "5.7.1 Not you"), Stage.EHLO),
    ("ehlo", Reply(421, "4.7.0 Try later"), Stage.EHLO),
    ("mail_from", Reply(451, "4.3.0 Local error"), Stage.MAIL),
    ("mail_from", Reply(553, "5.1.8 Bad sender domain"), Stage.MAIL),
    ("mail_from", Reply(503, "5.5.1 Bad sequence of commands"), Stage.MAIL),
    ("mail_from", Reply(552, "5.3.4 Message too big"), Stage.MAIL),
    ("rcpt_to", Reply(550, "5.1.1 No such user"), Stage.RCPT),
    ("rcpt_to", Reply(450, "4.2.1 Mailbox busy"), Stage.RCPT),
    ("rcpt_to", Reply(503, "5.5.1 Bad sequence of commands"), Stage.RCPT),
    ("data", Reply(554, "5.5.1 No valid recipients"), Stage.DATA),
    ("data", Reply(503, "5.5.1 Bad sequence of commands"), Stage.DATA),
    ("data", Reply(451, "4.3.0 Try again"), Stage.DATA),
    ("message", Reply(552, "5.3.4 Message size exceeds limit"), Stage.EOM),
    ("message", Reply(451, "4.3.0 Storage failed"), Stage.EOM),
    ("message", Reply(554, "5.7.1 Rejected"), Stage.EOM),
    ("message", Reply(503, "5.5.1 Bad sequence of commands"), Stage.EOM),
])
async def test_reply_faults_at_each_stage(run, smtp_servers, stage, reply, expected_stage):
    _, port = smtp_servers.start(lambda: FaultHandler(stage, reply))
    conn: SmtpClient | None = None
    with pytest.raises(SmtpReplyError) as failure:
        conn = await connect(port)
        await conn.ehlo()
        await conn.send("a@example.com", ["b@example.net"], MESSAGE)
    error = failure.value
    assert (error.code, error.enhanced, error.stage) == (reply.code, reply.enhanced, expected_stage)
    assert error.text == reply.message
    assert error.permanent == (reply.code >= 500) and error.temporary == (reply.code < 500)
    if conn is not None:
        await conn.quit()


@pytest.mark.parametrize(("stage", "expected_stage"), [
    ("connected", Stage.GREETING), ("ehlo", Stage.EHLO), ("mail_from", Stage.MAIL),
    ("rcpt_to", Stage.RCPT), ("data", Stage.DATA), ("message", Stage.EOM),
])
async def test_hang_is_a_timeout(run, smtp_servers, stage, expected_stage):
    recorder = Recorder(FaultHandler, stage=stage, answer=HANG)
    _, port = smtp_servers.start(recorder)
    conn: SmtpClient | None = None
    with pytest.raises(SmtpTimeoutError) as failure:
        conn = await connect(port, timeout=SHORT)
        await conn.ehlo()
        await conn.send("a@example.com", ["b@example.net"], MESSAGE)
    assert failure.value.stage == expected_stage
    assert conn is None or conn.closed  # a timed-out connection is out of step: aborted
    while recorder.handlers[0].closed_reason is None:
        await asyncio.sleep(0.01)


async def test_each_reply_gets_the_whole_timeout_and_idleness_is_not_timed(run, smtp_servers):
    """One watchdog serves a connection's waits: each reply may take most of the timeout
    (together far more), and time spent between calls counts for none of them."""
    limit = 0.5

    class Slow(RecordingHandler):
        async def _late(self) -> None:
            await asyncio.sleep(0.6 * limit)

        def mail_from(self, sender, params):
            return self._late()

        def rcpt_to(self, recipient, params):
            return self._late()

        def message(self, envelope, data):
            super().message(envelope, data)
            return self._late()

    recorder = Recorder(Slow)
    _, port = smtp_servers.start(recorder)
    conn = await ready(port, timeout=limit)
    await asyncio.sleep(1.5 * limit)  # idle: the watchdog fires and finds nothing waiting
    result = await conn.send("a@example.com", ["b@example.net", "c@example.net"], MESSAGE)
    assert result.reply is not None and result.reply.code == 250
    assert len(recorder.messages) == 1
    await conn.quit()


@pytest.mark.parametrize(("stage", "expected_stage"), [
    ("connected", Stage.GREETING), ("mail_from", Stage.MAIL), ("rcpt_to", Stage.RCPT),
    ("message", Stage.EOM),
])
async def test_disconnect_is_a_connection_error(run, smtp_servers, stage, expected_stage):
    recorder = Recorder(FaultHandler, stage=stage, answer=DISCONNECT)
    _, port = smtp_servers.start(recorder)
    with pytest.raises(SmtpConnectionError) as failure:
        conn = await connect(port)
        await conn.ehlo()
        await conn.send("a@example.com", ["b@example.net"], MESSAGE)
    assert failure.value.stage == expected_stage
    if stage == "message":  # closed after the final dot: the server had the whole message
        assert len(recorder.messages) == 1


async def test_connection_refused(run, unused_port):
    with pytest.raises(SmtpConnectionError) as failure:
        await connect(unused_port)  # held, never listening: refused
    assert failure.value.stage == Stage.CONNECT and "refused" in failure.value.details


async def test_cancelling_aborts_the_connection(run, smtp_servers):
    _, port = smtp_servers.start(lambda: FaultHandler("message", HANG))
    conn = await ready(port)
    task = asyncio.ensure_future(conn.send("a@example.com", ["b@example.net"], MESSAGE))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await conn.wait_closed()
    assert conn.closed


async def test_server_closing_an_idle_connection(run, smtp_servers):
    _, port = smtp_servers.start(Recorder(), timeout=SHORT)
    conn = await ready(port)
    await conn.wait_closed()  # the server's idle timeout: 421 and close
    with pytest.raises(SmtpConnectionError) as failure:
        await conn.send("a@example.com", ["b@example.net"], MESSAGE)
    assert failure.value.stage == Stage.MAIL


# ------------------------------------------------------------------------------ scripted servers


async def scripted_server(script: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                           Awaitable[None]]) -> tuple[asyncio.Server, int]:
    """A raw server running *script* for each connection (to see exactly what the client
    writes, and to answer what our server never would)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_pipelining_writes_the_whole_group_before_reading(run):
    seen: list[bytes] = []

    async def script(reader, writer):
        writer.write(b"220-pipe.test\r\n220 multi-line greeting\r\n")
        assert (await reader.readline()).startswith(b"EHLO gw.test")
        writer.write(b"250-pipe.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        # read MAIL, both RCPTs and DATA before answering anything: a client that waited
        # for each reply would stall here until its timeout
        while not seen or seen[-1] != b"DATA\r\n":
            seen.append(await reader.readline())
        writer.write(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n354 go\r\n")
        body = await reader.readuntil(b"\r\n.\r\n")
        seen.append(body)
        writer.write(b"250 2.0.0 done\r\n")
        seen.append(await reader.readline())
        writer.write(b"221 bye\r\n")

    server, port = await scripted_server(script)
    async with server:
        conn = await connect(port)
        assert conn.greeting == Reply(220, "pipe.test\nmulti-line greeting")
        await conn.ehlo()
        result = await conn.send("a@example.com", ["b@example.net", "c@example.net"], MESSAGE)
        await conn.quit()
    assert seen[:4] == [b"MAIL FROM:<a@example.com>\r\n", b"RCPT TO:<b@example.net>\r\n",
                        b"RCPT TO:<c@example.net>\r\n", b"DATA\r\n"]
    assert seen[4] == MESSAGE + b".\r\n"
    assert seen[5] == b"QUIT\r\n"
    assert [r.code for r in result.recipients] == [250, 550]


async def test_without_pipelining_one_command_at_a_time(run):
    seen: list[bytes] = []

    async def script(reader, writer):
        writer.write(b"220 lockstep.test\r\n")
        await reader.readline()
        writer.write(b"250 lockstep.test\r\n")
        for reply in (b"250 ok\r\n", b"550 no\r\n", b"550 no\r\n"):
            seen.append(await reader.readline())
            writer.write(reply)
        seen.append(await reader.readline())  # no DATA without recipients: next is QUIT
        writer.write(b"221 bye\r\n")

    server, port = await scripted_server(script)
    async with server:
        conn = await ready(port)
        with pytest.raises(SmtpReplyError) as failure:
            await conn.send("a@example.com", ["b@example.net", "c@example.net"], MESSAGE)
        await conn.quit()
    assert failure.value.stage == Stage.RCPT and len(failure.value.result.refused) == 2
    assert seen == [b"MAIL FROM:<a@example.com>\r\n", b"RCPT TO:<b@example.net>\r\n",
                    b"RCPT TO:<c@example.net>\r\n", b"QUIT\r\n"]


async def test_garbage_from_the_server(run):
    async def script(reader, writer):
        writer.write(b"hello there\r\n")
        await reader.read()

    server, port = await scripted_server(script)
    async with server:
        with pytest.raises(SmtpConnectionError) as failure:
            await connect(port)
    assert failure.value.stage == Stage.GREETING
    assert "protocol violation" in failure.value.details


async def test_a_server_that_says_354_after_refusing_mail(run):
    """A broken pipelining server: the client ends the unwanted DATA with an empty message."""
    seen: list[bytes] = []

    async def script(reader, writer):
        writer.write(b"220 broken.test\r\n")
        await reader.readline()
        writer.write(b"250-broken.test\r\n250 PIPELINING\r\n")
        for _ in range(3):
            seen.append(await reader.readline())
        writer.write(b"451 4.3.0 no\r\n250 ok\r\n354 go\r\n")
        seen.append(await reader.readline())
        writer.write(b"250 empty message\r\n")
        seen.append(await reader.readline())
        writer.write(b"221 bye\r\n")

    server, port = await scripted_server(script)
    async with server:
        conn = await ready(port)
        with pytest.raises(SmtpReplyError) as failure:
            await conn.send("a@example.com", ["b@example.net"], MESSAGE)
        await conn.quit()
    assert failure.value.stage == Stage.MAIL and failure.value.code == 451
    assert seen[3:] == [b".\r\n", b"QUIT\r\n"]


# ------------------------------------------------------------------------------ STARTTLS


async def test_starttls_then_send(run, smtp_servers, server_tls, tls_material):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, tls_context=server_tls)
    conn = await ready(port)
    protocol, cipher = await conn.starttls(client_context([tls_material.ca_cert]), "mx.setd.test")
    assert protocol in ("TLSv1.2", "TLSv1.3") and cipher
    assert (conn.tls, conn.tls_protocol, conn.tls_cipher) == (True, protocol, cipher)
    with pytest.raises(RuntimeError):  # EHLO must be repeated after TLS
        await conn.send("a@example.com", ["b@example.net"], MESSAGE)
    await conn.ehlo()
    assert "STARTTLS" not in conn.extensions
    await conn.send("a@example.com", ["b@example.net"], MESSAGE)
    await conn.quit()
    [(envelope, _)] = recorder.messages
    assert (envelope.tls_protocol, envelope.tls_cipher) == (protocol, cipher)


async def test_tls_1_2_pinned_server_gives_the_asyncos_style_cipher(run, smtp_servers,
                                                                  tls_material):
    from engine.smtp.tls import TlsVersion

    pinned = server_context(tls_material, maximum=TlsVersion.TLSv1_2)
    _, port = smtp_servers.start(Recorder(), tls_context=pinned)
    conn = await ready(port)
    protocol, cipher = await conn.starttls(client_context([tls_material.ca_cert]), "localhost")
    await conn.quit()
    assert protocol == "TLSv1.2" and cipher.startswith("ECDHE-RSA-")


async def test_starttls_not_offered(run, smtp_servers, tls_material):
    _, port = smtp_servers.start(Recorder())  # no TLS context: no STARTTLS
    conn = await ready(port)
    with pytest.raises(SmtpTlsError) as failure:
        await conn.starttls(client_context([tls_material.ca_cert]), "localhost")
    assert failure.value.kind is TlsFailure.NOT_OFFERED
    await conn.quit()


@pytest.mark.parametrize("reply", [Reply(454, "4.7.0 TLS not available"),
                                   Reply(554, "5.7.3 No TLS for you")])
async def test_starttls_refused(run, smtp_servers, server_tls, tls_material, reply):
    _, port = smtp_servers.start(lambda: FaultHandler("starttls", reply), tls_context=server_tls)
    conn = await ready(port)
    with pytest.raises(SmtpTlsError) as failure:
        await conn.starttls(client_context([tls_material.ca_cert]), "localhost")
    assert failure.value.kind is TlsFailure.REFUSED and failure.value.reply == reply
    await conn.quit()


async def test_handshake_abort(run, smtp_servers, server_tls, tls_material):
    abort = Reply(220, "2.0.0 Ready to start TLS", close=True)  # then closes instead
    _, port = smtp_servers.start(lambda: FaultHandler("starttls", abort), tls_context=server_tls)
    conn = await ready(port)
    with pytest.raises(SmtpTlsError) as failure:
        await conn.starttls(client_context([tls_material.ca_cert]), "localhost")
    assert failure.value.kind is TlsFailure.HANDSHAKE
    assert conn.closed


async def test_starttls_hang_is_a_timeout(run, smtp_servers, server_tls, tls_material):
    _, port = smtp_servers.start(lambda: FaultHandler("starttls", HANG), tls_context=server_tls)
    conn = await ready(port, timeout=SHORT)
    with pytest.raises(SmtpTimeoutError) as failure:
        await conn.starttls(client_context([tls_material.ca_cert]), "localhost")
    assert failure.value.stage == Stage.STARTTLS


async def test_untrusted_certificate(run, smtp_servers, tmp_path, tls_material):
    other = ensure_server_certificate(tmp_path / "other-ca", ["localhost", "127.0.0.1"],
                                      ca_common_name="Somebody else's CA")
    _, port = smtp_servers.start(Recorder(), tls_context=server_context(other))
    conn = await ready(port)
    with pytest.raises(SmtpTlsError) as failure:
        await conn.starttls(client_context([tls_material.ca_cert]), "localhost")
    assert failure.value.kind is TlsFailure.VERIFICATION
    assert "unable to get local issuer certificate" in failure.value.reason
    assert conn.closed


def _resumed(conn: SmtpClient) -> bool:
    from OpenSSL._util import lib

    return bool(lib.SSL_session_reused(conn._protocol.transport.getHandle()._ssl))


@pytest.mark.parametrize("maximum", ["TLSv1_2", None])
async def test_a_second_connection_resumes_the_tls_session(run, smtp_servers, tls_material,
                                                           tmp_path, maximum):
    """Issue 14: a client offers the session of its last handshake with the same name, and
    the server resumes it (no key exchange, no certificate: the TDC queue reconnects often).
    A server that cannot resume it (another certificate) gets a full handshake, verified:
    a cached session never lets an untrusted certificate through."""
    from engine.smtp.tls import TlsVersion

    limit = None if maximum is None else getattr(TlsVersion, maximum)
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, tls_context=server_context(tls_material, maximum=limit))
    client_tls = client_context([tls_material.ca_cert])
    reused = []
    for _ in range(3):
        conn = await ready(port)
        await conn.starttls(client_tls, "localhost")
        await conn.ehlo()
        await conn.send("a@example.com", ["b@example.net"], MESSAGE)  # a TLS 1.3 ticket arrives
        reused.append(_resumed(conn))
        await conn.quit()
    assert reused == [False, True, True] and len(recorder.messages) == 3
    other = ensure_server_certificate(tmp_path / "other-ca", ["localhost", "127.0.0.1"],
                                      ca_common_name="Somebody else's CA")
    _, other_port = smtp_servers.start(Recorder(), tls_context=server_context(other, maximum=limit))
    conn = await ready(other_port)
    with pytest.raises(SmtpTlsError) as failure:
        await conn.starttls(client_tls, "localhost")
    assert failure.value.kind is TlsFailure.VERIFICATION
    conn = await ready(port)  # the failure forgot the session: a full handshake again
    await conn.starttls(client_tls, "localhost")
    assert not _resumed(conn)
    await conn.quit()


async def test_certificate_for_another_name(run, smtp_servers, server_tls, tls_material):
    _, port = smtp_servers.start(Recorder(), tls_context=server_tls)
    conn = await ready(port)
    with pytest.raises(SmtpTlsError) as failure:
        await conn.starttls(client_context([tls_material.ca_cert]), "mx.elsewhere.test")
    assert failure.value.kind is TlsFailure.VERIFICATION
    assert "mx.elsewhere.test" in failure.value.reason


async def test_protocol_older_than_tls_1_2(run, smtp_servers, tls_material):
    from engine.smtp.tls import TlsVersion

    old = server_context(tls_material, minimum=TlsVersion.TLSv1_0, maximum=TlsVersion.TLSv1_1,
                         ciphers="DEFAULT:@SECLEVEL=0")
    _, port = smtp_servers.start(Recorder(), tls_context=old)
    conn = await ready(port)
    with pytest.raises(SmtpTlsError) as failure:
        await conn.starttls(client_context([tls_material.ca_cert]), "localhost")
    assert failure.value.kind in (TlsFailure.PROTOCOL, TlsFailure.HANDSHAKE)
    assert conn.closed


@pytest.mark.parametrize("size", [b"\xc2\xb2", b"9" * 5000, b"12abc"])
async def test_a_size_that_is_not_a_number_is_no_limit(run, size):
    """EHLO ``SIZE ²`` or a 5,000-digit SIZE: ``str.isdigit()`` says yes to both and
    ``int()`` refuses both; the client treats them as no limit announced and delivers."""

    async def script(reader, writer):
        writer.write(b"220 odd.test\r\n")
        await reader.readline()
        writer.write(b"250-odd.test\r\n250 SIZE " + size + b"\r\n")
        for reply in (b"250 ok\r\n", b"250 ok\r\n", b"354 go\r\n"):
            await reader.readline()
            writer.write(reply)
        await reader.readuntil(b"\r\n.\r\n")
        writer.write(b"250 2.0.0 done\r\n")
        await reader.readline()
        writer.write(b"221 bye\r\n")

    server, port = await scripted_server(script)
    async with server:
        conn = await ready(port)
        assert conn.max_size is None
        result = await conn.send("a@example.com", ["b@example.net"], MESSAGE)
        await conn.quit()
    assert result.reply == Reply(250, "2.0.0 done")
