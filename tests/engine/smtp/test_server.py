"""The ESMTP server protocol over real loopback sockets: smtplib, swaks and raw bytes."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess

import pytest
from twisted.internet import defer

from engine.smtp.server import DISCONNECT, HANG, BaseSmtpHandler, Reply
from tests.engine.smtp_support import (
    FaultHandler,
    RawClient,
    Recorder,
    RecordingHandler,
    smtplib_send,
)

pytestmark = pytest.mark.usefixtures("run")

MESSAGE = b"From: a@example.com\r\nTo: b@example.net\r\nSubject: test\r\n\r\nHello.\r\n"


async def session(port: int) -> RawClient:
    client = await RawClient.connect(port)
    await client.ehlo()
    return client


async def still_serving(port: int) -> None:
    """A fresh connection gets the whole way through a transaction."""
    client = await session(port)
    assert (await client.command("MAIL FROM:<a@example.com>")).code == 250
    assert (await client.command("RCPT TO:<b@example.net>")).code == 250
    assert (await client.command("DATA")).code == 354
    assert (await client.command("x\r\n.")).code == 250
    assert (await client.command("QUIT")).code == 221
    await client.close()


# ------------------------------------------------------------------------------ greeting, EHLO


async def test_greeting_and_ehlo_extensions(run, smtp_servers):
    _, port = smtp_servers.start(Recorder(), hostname="mx.test.example", max_message_size=12345)
    client = await RawClient.connect(port, greeting=False)
    greeting = await client.reply()
    assert greeting == Reply(220, "mx.test.example ESMTP")
    reply = await client.command("EHLO client.test")
    assert reply.code == 250
    assert reply.lines == ["mx.test.example", "PIPELINING", "SIZE 12345", "8BITMIME",
                           "ENHANCEDSTATUSCODES"]  # no STARTTLS without a TLS context
    assert (await client.command("HELO client.test")) == Reply(250, "mx.test.example")
    await client.close()


async def test_starttls_is_offered_when_configured(run, smtp_servers, server_tls):
    _, port = smtp_servers.start(Recorder(), tls_context=server_tls)
    client = await RawClient.connect(port)
    assert "STARTTLS" in (await client.ehlo()).lines
    await client.close()


async def test_handler_can_withhold_starttls(run, smtp_servers, server_tls):
    class NoTls(RecordingHandler):
        def extensions(self, in_tls):
            return [e for e in super().extensions(in_tls) if e != "STARTTLS"]

    _, port = smtp_servers.start(NoTls, tls_context=server_tls)
    client = await session(port)
    assert "STARTTLS" not in (await client.ehlo()).lines
    assert (await client.command("STARTTLS")).code == 502
    await client.close()


async def test_ehlo_needs_a_name_and_commands_need_ehlo(run, smtp_servers):
    _, port = smtp_servers.start(Recorder())
    client = await RawClient.connect(port)
    assert (await client.command("EHLO")).code == 501
    assert (await client.command("MAIL FROM:<a@example.com>")) == Reply(
        503, "5.5.1 Send EHLO or HELO first")
    assert (await client.command("RCPT TO:<b@example.net>")).code == 503
    assert (await client.command("DATA")).code == 503
    assert (await client.command("NOOP")) == Reply(250, "2.0.0 Ok")
    await client.close()


# ------------------------------------------------------------------------------ transactions


async def test_smtplib_delivers_a_message(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, hostname="mx.test")
    message = b"Subject: dots\r\n\r\n.leading dot\r\n..two dots\r\nlast line\r\n"
    refused = await asyncio.to_thread(
        smtplib_send, port, "a@example.com", ["b@example.net", "c@example.org"], message)
    assert refused == {}
    [(envelope, data)] = recorder.messages
    assert data == message  # smtplib stuffs the dots, the server removes them again
    assert envelope.helo == "smtplib.test"
    assert envelope.sender == "a@example.com"
    assert envelope.recipients == ["b@example.net", "c@example.org"]
    assert envelope.params == {"SIZE": str(len(message))}
    assert envelope.peer[0] == "127.0.0.1" and envelope.local[0] == "127.0.0.1"
    assert envelope.tls is False
    assert recorder.handlers[0].closed_reason == "QUIT"


async def test_several_messages_on_one_connection(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    client = await session(port)
    for n in range(3):
        assert (await client.command(f"MAIL FROM:<a{n}@example.com>")) == Reply(250, "2.1.0 Ok")
        assert (await client.command("RCPT TO:<b@example.net>")) == Reply(250, "2.1.5 Ok")
        assert (await client.command("DATA")).code == 354
        assert (await client.command(f"message {n}\r\n.")) == Reply(250, "2.0.0 Ok: queued")
    await client.close()
    assert [(e.sender, d) for e, d in recorder.messages] == [
        (f"a{n}@example.com", f"message {n}\r\n".encode()) for n in range(3)]


async def test_empty_message_and_dot_only_lines(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    client = await session(port)
    for body, expected in [(b".\r\n", b""), (b"..\r\n.\r\n", b".\r\n"),
                           (b"a\r\n...\r\n.\r\n", b"a\r\n..\r\n")]:
        await client.send("MAIL FROM:<>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        assert await client.codes(3) == [250, 250, 354]
        await client.send(body)
        assert (await client.reply()).code == 250
        assert recorder.messages[-1][1] == expected
    await client.close()


async def test_sequence_errors(run, smtp_servers):
    _, port = smtp_servers.start(Recorder())
    client = await session(port)
    assert (await client.command("RCPT TO:<b@example.net>")) == Reply(503, "5.5.1 Need MAIL command")
    assert (await client.command("DATA")).code == 503
    assert (await client.command("MAIL FROM:<a@example.com>")).code == 250
    assert (await client.command("MAIL FROM:<a@example.com>")) == Reply(
        503, "5.5.1 Nested MAIL command")
    assert (await client.command("DATA")) == Reply(554, "5.5.1 No valid recipients")
    assert (await client.command("STARTTLS")).code == 502  # no TLS configured
    assert (await client.command("RSET")) == Reply(250, "2.0.0 Ok")
    assert (await client.command("RCPT TO:<b@example.net>")).code == 503  # RSET ended it
    await client.close()


async def test_rset_and_ehlo_abandon_the_transaction(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nRSET\r\n")
    assert await client.codes(3) == [250, 250, 250]
    await client.send("MAIL FROM:<a@example.com>\r\nEHLO again.test\r\n")
    assert await client.codes(2) == [250, 250]
    assert (await client.command("RCPT TO:<b@example.net>")).code == 503
    await client.close()
    assert recorder.events.count(("reset",)) == 2


async def test_other_commands(run, smtp_servers):
    _, port = smtp_servers.start(Recorder())
    client = await RawClient.connect(port)
    assert (await client.command("VRFY someone")).code == 252
    assert (await client.command("VRFY")).code == 501
    assert (await client.command("EXPN list")).code == 502
    help_reply = await client.command("HELP")
    assert help_reply.code == 214 and "EHLO" in help_reply.text
    assert (await client.command("noop")).code == 250  # verbs are case-insensitive
    assert (await client.command("QUIT")) == Reply(221, "2.0.0 Bye")
    assert await client.closed()
    await client.close()


@pytest.mark.parametrize(("command", "reply"), [
    ("MAIL FROM:a@example.com", 250),  # no angle brackets: accepted, as real servers do
    ("MAIL FROM: <a@example.com>", 250),
    ("MAIL FROM:<@relay.example:a@example.com>", 250),  # source route ignored
    ("MAIL FROM:<> BODY=8BITMIME SIZE=100", 250),
    ("MAIL FROM:<a@example.com> BODY=7BIT", 250),
    ("MAIL FROM:<a@example.com> BODY=BINARYMIME", 501),
    ("MAIL FROM:<a@example.com> SIZE=big", 501),
    ("MAIL FROM:<a@example.com> SIZE=100001", 552),
    ("MAIL FROM:<a@example.com> SMTPUTF8", 555),
    ("MAIL FROM:<a@example.com", 501),
    ("MAIL FROM:<a@example.com>x", 501),
    ("MAIL TO:<a@example.com>", 501),
    ("MAIL FROM:<no-domain>", 501),
    ("MAIL FROM:<jörg@example.com>", 553),
    ('MAIL FROM:<"john doe"@example.com>', 250),
    ("MAIL FROM:<a@[192.0.2.1]>", 250),
    ("MAIL FROM:<a@[IPv6:2001:db8::1]>", 250),
    ("MAIL FROM:<a..b@example.com>", 501),
    ("MAIL FROM:<a@exa mple.com>", 501),
    ("MAIL FROM:<a@example.com>  SIZE=100", 250),
    ("MAIL FROM:<a@example.com> SIZE=", 501),
])
async def test_mail_from_syntax(run, smtp_servers, command, reply):
    _, port = smtp_servers.start(Recorder(), max_message_size=100000)
    client = await session(port)
    await client.send(command.encode("utf-8") + b"\r\n")
    assert (await client.reply()).code == reply
    await client.close()


@pytest.mark.parametrize(("command", "reply"), [
    ("RCPT TO:<b@example.net>", 250),
    ("RCPT TO:<postmaster>", 250),
    ("RCPT TO:<>", 501),
    ("RCPT TO:<b@example.net> NOTIFY=NEVER", 555),
    ("RCPT FROM:<b@example.net>", 501),
])
async def test_rcpt_to_syntax(run, smtp_servers, command, reply):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    client = await session(port)
    assert (await client.command("MAIL FROM:<a@example.com>")).code == 250
    assert (await client.command(command)).code == reply
    await client.close()


#: Control characters an unauthenticated client may try to put into the log and onto an
#: operator's terminal: a terminal title escape with BEL, clear screen, NUL, DEL, a C1 CSI.
HOSTILE = ["a\x1b]0;PWNED\x07b", "a\x1b[2Jb", "a\x00b", "a\x7fb", "a\x9bb", "a\rb"]
_NON_ASCII = Reply(553, "5.6.7 Non-ASCII addresses are not permitted")


@pytest.mark.parametrize("bad", HOSTILE, ids=[repr(b) for b in HOSTILE])
async def test_control_characters_in_arguments_are_refused(run, smtp_servers, bad):
    """Refused with the reply the same command gets for any other bad syntax, the handler
    never hears of it, and the session goes on."""
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    client = await RawClient.connect(port)
    wire = bad.encode("latin-1")  # each character one byte, as a client would send it
    for verb in (b"EHLO", b"HELO"):
        await client.send(verb + b" client" + wire + b".example.org\r\n")
        assert await client.reply() == Reply(501, f"5.5.4 Syntax: {verb.decode()} hostname")
    assert (await client.command("MAIL FROM:<a@example.com>")).code == 503  # not greeted
    await client.ehlo()
    refusals = {
        b"MAIL FROM:<" + wire + b"@example.org>": Reply(501, "5.1.7 Bad sender address syntax"),
        b"MAIL FROM:<\"" + wire + b"\"@example.org>": Reply(501, "5.1.7 Bad sender address syntax"),
        b"MAIL FROM:<a@example.org> SIZE=1" + wire: Reply(501, "5.5.4 Syntax: MAIL FROM:<address>"),
        b"MAIL FROM:<a@example.org> X" + wire + b"=1": Reply(501, "5.5.4 Syntax: MAIL FROM:<address>"),
        b"MAIL FROM:<@rel" + wire + b"ay.example:a@example.org>": Reply(
            501, "5.1.7 Bad sender address syntax"),
    }
    if bad.isascii():
        for command, reply in refusals.items():
            await client.send(command + b"\r\n")
            assert await client.reply() == reply, command
    else:  # a byte above 0x7F is no ASCII: SMTPUTF8 is not offered
        await client.send(b"MAIL FROM:<" + wire + b"@example.org>\r\n")
        assert await client.reply() == _NON_ASCII
    assert (await client.command("MAIL FROM:<a@example.com>")).code == 250
    refused = Reply(501, "5.1.3 Bad recipient address syntax") if bad.isascii() else _NON_ASCII
    for recipient in (wire + b"@example.net", b"b@exam" + wire + b"ple.net"):
        await client.send(b"RCPT TO:<" + recipient + b">\r\n")
        assert await client.reply() == refused, recipient
    assert (await client.command("RCPT TO:<b@example.net>")).code == 250
    assert (await client.command("DATA")).code == 354
    assert (await client.command("x\r\n.")).code == 250
    await client.close()
    events = recorder.handlers[0].events
    assert [e[:2] for e in events if e[0] in ("ehlo", "mail", "rcpt")] == [
        ("ehlo", "client.test"), ("mail", "a@example.com"), ("rcpt", "b@example.net")]


async def test_a_bare_cr_inside_a_command_line_is_no_line_end(run, smtp_servers):
    """``MAIL FROM:<a@example.org>\\rRCPT TO:<x>``: one line, whose address is bad."""
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    client = await session(port)
    await client.send(b"MAIL FROM:<a@example.org>\rRCPT TO:<b@example.net>\r\n")
    assert (await client.reply()).code == 501
    await client.send(b"MAIL FROM:<a@example.org\r>\r\n")
    assert await client.reply() == Reply(501, "5.1.7 Bad sender address syntax")
    await client.close()
    assert not any(e[0] == "mail" for e in recorder.events)


async def test_too_many_recipients(run, smtp_servers):
    _, port = smtp_servers.start(Recorder(), max_recipients=2)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\n" +
                      "".join(f"RCPT TO:<r{n}@example.net>\r\n" for n in range(3)))
    assert await client.codes(4) == [250, 250, 250, 452]
    await client.close()


# ------------------------------------------------------------------------------ pipelining


async def test_pipelined_batch_replies_in_order(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    client = await RawClient.connect(port)
    await client.send(
        "EHLO pipe.test\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\n"
        "RCPT TO:<bad address>\r\nRCPT TO:<c@example.net>\r\nDATA\r\n")
    assert await client.codes(6) == [250, 250, 250, 501, 250, 354]
    await client.send(b"Subject: x\r\n\r\nbody\r\n.\r\nMAIL FROM:<d@example.com>\r\n"
                      b"RCPT TO:<e@example.net>\r\nDATA\r\n")
    assert await client.codes(4) == [250, 250, 250, 354]
    await client.send(b"second\r\n.\r\nRSET\r\nNOOP\r\nQUIT\r\n")
    assert await client.codes(4) == [250, 250, 250, 221]
    assert await client.closed()
    await client.close()
    assert [e.recipients for e, _ in recorder.messages] == [
        ["b@example.net", "c@example.net"], ["e@example.net"]]


async def test_slow_replies_keep_their_order(run, smtp_servers):
    """Awaitable answers that finish out of order still reach the client in command order."""

    class Slow(RecordingHandler):
        async def rcpt_to(self, recipient, params):
            delay = {"slow@example.net": 0.05, "slower@example.net": 0.1}.get(recipient, 0)
            await asyncio.sleep(delay)
            return Reply(550, "5.1.1 No") if recipient.startswith("no") else None

    _, port = smtp_servers.start(Slow)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<slower@example.net>\r\n"
                      "RCPT TO:<no@example.net>\r\nRCPT TO:<slow@example.net>\r\n"
                      "RCPT TO:<fast@example.net>\r\nNOOP\r\n")
    assert await client.codes(6) == [250, 250, 550, 250, 250, 250]
    await client.close()


async def test_250_after_data_waits_for_the_handler(run, smtp_servers):
    """The listener acknowledges only when storage says the message is durable."""
    committed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    arrived = asyncio.Event()

    class Durable(RecordingHandler):
        async def message(self, envelope, data):
            arrived.set()
            await committed
            return Reply(250, "2.0.0 Ok: stored")

    _, port = smtp_servers.start(Durable)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    await client.send(".\r\nNOOP\r\n")
    await arrived.wait()
    for _ in range(10):
        await asyncio.sleep(0)
    assert not client.reader._buffer  # nothing answered while the commit is pending
    committed.set_result(None)
    assert await client.reply() == Reply(250, "2.0.0 Ok: stored")
    assert (await client.reply()).code == 250  # the NOOP held behind it
    await client.close()


async def test_deferred_answers(run, smtp_servers):
    class Twisted(RecordingHandler):
        def mail_from(self, sender, params):
            from twisted.internet import reactor

            d = defer.Deferred()
            reactor.callLater(0.01, d.callback, Reply(250, "2.1.0 Deferred ok"))
            return d

        def rcpt_to(self, recipient, params):
            return defer.succeed(Reply(451, "4.3.0 Try later"))

    _, port = smtp_servers.start(Twisted)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nNOOP\r\n")
    assert await client.codes(3) == [250, 451, 250]
    await client.close()


# ------------------------------------------------------------------------------ malformed input


async def test_over_long_command_line(run, smtp_servers):
    _, port = smtp_servers.start(Recorder())
    client = await session(port)
    fits = "NOOP " + "x" * (2048 - len("NOOP ") - 2)  # 2048 bytes with the CRLF
    assert (await client.command(fits)).code == 250
    assert (await client.command(fits + "x")) == Reply(500, "5.5.2 Line too long")
    # a line longer than the limit arriving in pieces, without its end for a while
    await client.send("NOOP " + "y" * 5000)
    await client.send("z" * 5000 + "\r\nNOOP\r\n")
    assert await client.codes(2) == [500, 250]
    await client.close()
    await still_serving(port)


async def test_bare_lf_in_commands(run, smtp_servers):
    _, port = smtp_servers.start(Recorder())
    client = await session(port)
    await client.send(b"NOOP\nNOOP\r\n")
    first = await client.reply()
    assert first.code == 500 and first.enhanced == "5.5.2"
    assert (await client.reply()).code == 250
    await client.close()


async def test_bare_lf_in_data_refuses_the_message(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    await client.send(b"line one\nline two\r\n.\r\n")
    reply = await client.reply()
    assert reply.code == 550 and reply.enhanced == "5.6.11"
    assert recorder.messages == []
    assert (await client.command("RCPT TO:<b@example.net>")).code == 503  # transaction over
    await client.close()
    await still_serving(port)


async def test_bare_cr_in_data_is_refused_like_a_bare_lf(run, smtp_servers):
    """A lone CR is no more a line end than a lone LF: the same 550, then the same session."""
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    client = await session(port)
    for body in (b"line one\rline two\r\n.\r\n", b"ends with a CR\r\r\n.\r\n",
                 b"\rstarts with a CR\r\n.\r\n", b"line one\nline two\r\n.\r\n"):
        await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        assert await client.codes(3) == [250, 250, 354]
        await client.send(body)
        assert await client.reply() == Reply(
            550, "5.6.11 Bare <CR> or <LF> in message data, lines must end with <CR><LF>")
        assert (await client.command("RCPT TO:<b@example.net>")).code == 503  # transaction over
    assert recorder.messages == []
    assert recorder.handlers[0].events.count(("reset",)) == 4  # the handler forgets each one
    await client.close()
    await still_serving(port)


async def test_smtp_smuggling_is_not_possible(run, smtp_servers):
    """Only CRLF.CRLF ends DATA, and a message holding a smuggled ending ("<LF>.<LF>",
    "<CR>.<CR>", ...) is refused whole: neither it nor the part after the fake end is taken."""
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    client = await session(port)
    for trick in (b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n", b"\r\n.\r", b"\r.\r\n"):
        await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
        assert await client.codes(3) == [250, 250, 354]
        await client.send(b"Subject: one" + trick +
                          b"MAIL FROM:<evil@example.com>\r\nRCPT TO:<victim@example.net>\r\n"
                          b"DATA\r\nSubject: smuggled\r\n\r\n.\r\n")
        reply = await client.reply()
        assert (reply.code, reply.enhanced) == (550, "5.6.11"), trick
    assert (await client.command("NOOP")).code == 250  # nothing else is pending
    await client.close()
    assert recorder.messages == []
    await still_serving(port)


async def test_oversized_message(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, max_message_size=1000)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    for _ in range(50):  # 50 KB in pieces, far over the limit
        await client.send(b"x" * 1022 + b"\r\n")
    await client.send(b".\r\n")
    assert await client.reply() == Reply(
        552, "5.3.4 Message size exceeds fixed maximum message size")
    assert recorder.messages == []
    # exactly at the limit is fine
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    await client.send(b"y" * 998 + b"\r\n.\r\n")
    assert (await client.reply()).code == 250
    assert len(recorder.messages[0][1]) == 1000
    await client.close()


async def test_oversized_message_with_bare_lf_far_before_the_end(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, max_message_size=100)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    await client.send(b"bare\n" + b"x" * 500 + b"\r\n")
    await client.send(b"z" * 500 + b"\r\n.\r\n")
    assert (await client.reply()).code == 550
    await client.close()


async def test_oversized_message_with_bare_cr_far_before_the_end(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, max_message_size=100)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    await client.send(b"bare\r" + b"x" * 500 + b"\r\n")
    await client.send(b"z" * 500 + b"\r\n.\r\n")
    assert (await client.reply()).enhanced == "5.6.11"
    await client.close()


async def test_eight_bit_data_is_kept_byte_for_byte(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    body = bytes(b for b in range(256) if b not in (10, 13)) + b"\r\n\xc3\xa4\xff\x00\r\n"
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com> BODY=8BITMIME\r\nRCPT TO:<b@example.net>\r\n"
                      "DATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    await client.send(body + b".\r\n")
    assert (await client.reply()).code == 250
    [(envelope, data)] = recorder.messages
    assert data == body and envelope.params == {"BODY": "8BITMIME"}
    await client.close()


async def test_unknown_commands_then_421(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, max_unknown_commands=10)
    client = await session(port)
    for _ in range(9):
        assert (await client.command("XYZZY")) == Reply(500, "5.5.1 Command unrecognized")
    reply = await client.command("XYZZY")
    assert reply.code == 421
    assert await client.closed()
    await client.close()
    assert recorder.handlers[0].closed_reason == "too many errors"
    await still_serving(port)


async def test_garbage_bytes(run, smtp_servers):
    import random

    rng = random.Random(5321)
    _, port = smtp_servers.start(Recorder())
    client = await RawClient.connect(port)
    await client.send(bytes(rng.randrange(256) for _ in range(20000)))
    await client.send(b"\r\n" * 12)
    # the server answers every malformed line and gives up on the client with a 421
    codes = []
    while True:
        reply = await client.reply()
        codes.append(reply.code)
        if reply.code == 421:
            break
    assert set(codes[:-1]) <= {500}
    await client.close()
    await still_serving(port)


async def test_disconnect_mid_data(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    await client.send(b"Subject: cut\r\n\r\nhalf a mess")
    await client.close()
    while recorder.handlers[0].closed_reason is None:
        await asyncio.sleep(0.01)
    assert recorder.messages == []
    assert recorder.handlers[0].closed_reason == "closed by the client"
    await still_serving(port)


async def test_idle_timeout(run, smtp_servers):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, timeout=0.2)
    client = await session(port)
    assert await client.reply() == Reply(421, "4.4.2 Timeout exceeded, closing connection")
    assert await client.closed()
    await client.close()
    assert recorder.handlers[0].closed_reason == "timeout"


async def test_a_pending_reply_is_not_idleness(run, smtp_servers):
    """The idle timeout does not run while a handler's reply is pending, however long it
    takes; it runs again, in full, from the reply on."""

    class Slow(RecordingHandler):
        async def message(self, envelope, data):
            await asyncio.sleep(0.5)  # more than two idle timeouts
            return super().message(envelope, data)

    recorder = Recorder(Slow)
    _, port = smtp_servers.start(recorder, timeout=0.2)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    await client.send(b"Subject: slow\r\n\r\nbody\r\n.\r\n")
    assert (await client.reply()).code == 250
    replied = asyncio.get_running_loop().time()
    assert await client.reply() == Reply(421, "4.4.2 Timeout exceeded, closing connection")
    assert asyncio.get_running_loop().time() - replied >= 0.15  # a whole timeout after it
    assert await client.closed()
    await client.close()
    assert len(recorder.messages) == 1 and recorder.handlers[0].closed_reason == "timeout"


# ------------------------------------------------------------------------------ handler faults


async def test_handler_exception_is_a_temporary_failure(run, smtp_servers):
    class Broken(RecordingHandler):
        def mail_from(self, sender, params):
            raise RuntimeError("database is on fire")

        async def rcpt_to(self, recipient, params):
            raise RuntimeError("still on fire")

    _, port = smtp_servers.start(Broken)
    client = await session(port)
    assert (await client.command("MAIL FROM:<a@example.com>")) == Reply(
        451, "4.3.0 Internal error, try again later")
    assert (await client.command("NOOP")).code == 250  # the connection carries on


    class BrokenRcpt(Broken):
        def mail_from(self, sender, params):
            return None

    await client.close()
    _, port = smtp_servers.start(BrokenRcpt)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 451, 554]
    await client.close()


async def test_storage_failure_answers_451_not_5xx(run, smtp_servers):
    class Failing(RecordingHandler):
        async def message(self, envelope, data):
            raise OSError("disk full")

    _, port = smtp_servers.start(Failing)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    assert (await client.command("x\r\n.")).code == 451
    assert (await client.command("MAIL FROM:<a@example.com>")).code == 250  # usable again
    await client.close()


async def test_greeting_failure_and_refusal(run, smtp_servers):
    class Broken(BaseSmtpHandler):
        def connected(self, peer, local):
            raise RuntimeError("no")

    _, port = smtp_servers.start(Broken)
    client = await RawClient.connect(port, greeting=False)
    assert (await client.reply()).code == 421
    assert await client.closed()
    await client.close()

    _, port = smtp_servers.start(lambda: FaultHandler(
        "connected", Reply(554, "5.7.1 Go away")))
    client = await RawClient.connect(port, greeting=False)
    assert await client.reply() == Reply(554, "5.7.1 Go away")
    assert await client.closed()
    await client.close()


async def test_hang_never_answers(run, smtp_servers):
    recorder = Recorder(FaultHandler, stage="rcpt_to", answer=HANG)
    _, port = smtp_servers.start(recorder, timeout=0.3)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nNOOP\r\n")
    assert (await client.reply()).code == 250
    # no reply ever comes; the idle timeout finally drops the connection without a word
    assert await client.closed()
    await client.close()
    assert recorder.handlers[0].closed_reason == "timeout"


async def test_disconnect_instead_of_a_reply(run, smtp_servers):
    recorder = Recorder(FaultHandler, stage="message", answer=DISCONNECT)
    _, port = smtp_servers.start(recorder)
    client = await session(port)
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    await client.send(b"x\r\n.\r\n")
    assert await client.closed()
    await client.close()
    assert len(recorder.messages) == 1  # the handler saw it; the client got no answer


async def test_a_421_reply_closes(run, smtp_servers):
    _, port = smtp_servers.start(lambda: FaultHandler(
        "mail_from", Reply(421, "4.3.2 Shutting down")))
    client = await session(port)
    assert (await client.command("MAIL FROM:<a@example.com>")).code == 421
    assert await client.closed()
    await client.close()


# ------------------------------------------------------------------------------ STARTTLS


def _tls_context(tls_material) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(tls_material.ca_cert))


async def test_starttls_resets_the_session(run, smtp_servers, server_tls, tls_material):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, tls_context=server_tls)
    client = await session(port)
    # a command pipelined after STARTTLS in clear must be thrown away (CVE-2011-0411)
    await client.send("STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n")
    assert await client.reply() == Reply(220, "2.0.0 Ready to start TLS")
    await client.writer.start_tls(_tls_context(tls_material), server_hostname="localhost")
    assert (await client.command("MAIL FROM:<a@example.com>")).code == 503  # EHLO again first
    ehlo = await client.ehlo()
    assert "STARTTLS" not in ehlo.lines
    assert (await client.command("STARTTLS")).code == 503
    await client.send("MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n")
    assert await client.codes(3) == [250, 250, 354]
    assert (await client.command("secret\r\n.")).code == 250
    await client.close()
    [(envelope, data)] = recorder.messages
    assert envelope.sender == "a@example.com" and data == b"secret\r\n"
    assert envelope.tls and envelope.tls_protocol in ("TLSv1.2", "TLSv1.3")
    assert envelope.tls_cipher
    handler = recorder.handlers[0]
    assert handler.tls == (envelope.tls_protocol, envelope.tls_cipher)
    assert ("mail", "injected@example.com", {}) not in handler.events


async def test_smtplib_with_starttls(run, smtp_servers, server_tls, tls_material):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, tls_context=server_tls)
    refused = await asyncio.to_thread(smtplib_send, port, "a@example.com", ["b@example.net"],
                                      MESSAGE, starttls_ca=tls_material.ca_cert)
    assert refused == {}
    [(envelope, data)] = recorder.messages
    assert envelope.tls and data == MESSAGE


async def test_starttls_refused_by_the_handler(run, smtp_servers, server_tls):
    _, port = smtp_servers.start(
        lambda: FaultHandler("starttls", Reply(454, "4.7.0 TLS not available")),
        tls_context=server_tls)
    client = await session(port)
    assert (await client.command("STARTTLS")).code == 454
    assert (await client.command("MAIL FROM:<a@example.com>")).code == 250  # still in clear
    await client.close()


async def test_starttls_needs_ehlo_and_no_transaction(run, smtp_servers, server_tls):
    _, port = smtp_servers.start(Recorder(), tls_context=server_tls)
    client = await RawClient.connect(port)
    assert (await client.command("STARTTLS")).code == 503
    await client.ehlo()
    assert (await client.command("STARTTLS now")).code == 501
    assert (await client.command("MAIL FROM:<a@example.com>")).code == 250
    assert (await client.command("STARTTLS")).code == 503
    await client.close()


# ------------------------------------------------------------------------------ sockets, swaks


async def test_tcp_nodelay_on_accepted_sockets(run, smtp_servers):
    factory, port = smtp_servers.start(Recorder())
    client = await session(port)
    [protocol] = factory.connections
    sock = protocol.transport.getHandle()
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    await client.close()


@pytest.mark.skipif(shutil.which("swaks") is None, reason="swaks is not installed")
async def test_swaks_with_starttls(run, smtp_servers, server_tls, tls_material):
    recorder = Recorder()
    _, port = smtp_servers.start(recorder, tls_context=server_tls, hostname="mx.test")
    command = ["swaks", "--server", "127.0.0.1", "--port", str(port), "--from",
               "a@example.com", "--to", "b@example.net,c@example.net", "--helo", "swaks.test",
               "--tls", "--pipeline", "--body", "8-bit: \xe4\xf6\xfc", "--header", "Subject: swaks"]
    result = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True,
                                     timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    [(envelope, data)] = recorder.messages
    assert envelope.helo == "swaks.test" and envelope.tls
    assert envelope.recipients == ["b@example.net", "c@example.net"]
    assert b"Subject: swaks\r\n" in data


# ------------------------------------------------------------------------------ chunking


SESSION = (
    b"EHLO chunks.test\r\n"
    b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    b".stuffed\r\n..\r\nplain\r\n.\r\n"
    b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    b".\r\n"  # an empty message
    b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    + b"z" * 300 + b"\r\n.\r\n"  # over the 200-byte limit
    b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    b"bare\nlf\r\n.\r\n"
    b"NOOP " + b"n" * 3000 + b"\r\n"  # too long
    b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    b"\r\n.\r.\r\n\xff\r\n.\r\n"  # a bare CR
    b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
    b"\r\n..\r\n\xff\r\n.\r\n"
    b"QUIT\r\n"
)


def feed(chunks: list[bytes]) -> tuple[bytes, list[bytes]]:
    """Drive one protocol instance over an in-memory transport; return (output, messages)."""
    from twisted.internet.testing import StringTransport

    from engine.smtp.server import SmtpServerConfig, SmtpServerFactory

    recorder = Recorder()
    factory = SmtpServerFactory(recorder, SmtpServerConfig(hostname="t", max_message_size=200))
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    for chunk in chunks:
        protocol.dataReceived(chunk)
    protocol.connectionLost(None)
    return transport.value(), [data for _, data in recorder.messages]


def test_any_chunking_gives_the_same_conversation(run):
    """The terminator, CRLFs and long lines may be split anywhere between reads."""
    import random

    whole_output, whole_messages = feed([SESSION])
    codes = [int(line[:3]) for line in whole_output.split(b"\r\n") if line[3:4] == b" "]
    assert codes == [220, 250, 250, 250, 354, 250, 250, 250, 354, 250, 250, 250, 354, 552,
                     250, 250, 354, 550, 500, 250, 250, 354, 550, 250, 250, 354, 250, 221]
    assert whole_messages == [b"stuffed\r\n.\r\nplain\r\n", b"", b"\r\n.\r\n\xff\r\n"]
    byte_by_byte = feed([SESSION[i:i + 1] for i in range(len(SESSION))])
    assert byte_by_byte == (whole_output, whole_messages)
    rng = random.Random(2920)
    for _ in range(20):
        assert feed(random_reads(SESSION, rng, 40)) == (whole_output, whole_messages)


def random_reads(data: bytes, rng, largest: int) -> list[bytes]:
    """*data* cut into reads of 1 to *largest* bytes."""
    reads = []
    while data:
        size = rng.randint(1, largest)
        reads.append(data[:size])
        data = data[size:]
    return reads


_MESSAGE = b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
#: Messages of many lines for the server to take out of its buffer as they come.
LINES_SESSION = (
    b"EHLO lines.test\r\n"
    + _MESSAGE + b".first\r\n" + b"".join(b".%d\r\n..\r\nx\r\n" % n for n in range(12))
    + b"last\r\n.\r\n"
    + _MESSAGE + b"\r\n" * 40 + b".\r\n"
    + _MESSAGE + b"".join(b"line %d\r\n" % n for n in range(40)) + b".\r\n"  # 398 bytes
    + _MESSAGE + b"".join(b"l%d\r\n" % n for n in range(30)) + b"bare\nlf\r\n.\r\n"
    + _MESSAGE + b"bare\rcr\r\n" + b"".join(b"l%d\r\n" % n for n in range(30)) + b".\r\n"
    + _MESSAGE + b"..\r\n" * 30 + b".\r\n"
    + b"QUIT\r\n"
)


@pytest.mark.parametrize("take_from", [1, 5, 17, 64])
def test_lines_taken_as_they_come_give_the_same_conversation(run, monkeypatch, take_from):
    """Issue 14 (big messages): the server takes a big message's complete lines out of
    its buffer as they arrive (from TAKE_LINES_FROM bytes on; here from a few bytes, so
    every read cuts somewhere).  Replies and messages are those of a server that takes the
    whole message at its final dot: stuffed dots, empty lines, the size limit, bare LF
    and CR anywhere, whatever the reads' sizes."""
    import random

    import engine.smtp.server as server_module

    monkeypatch.setattr(server_module, "TAKE_LINES_FROM", 10**9)
    reference = feed([LINES_SESSION])
    codes = [int(line[:3]) for line in reference[0].split(b"\r\n") if line[3:4] == b" "]
    assert codes == [220, 250, *[250, 250, 354, 250] * 2, 250, 250, 354, 552,
                     *[250, 250, 354, 550] * 2, 250, 250, 354, 250, 221]
    assert reference[1][0].startswith(b"first\r\n0\r\n.\r\nx\r\n1\r\n")
    assert reference[1][1:] == [b"\r\n" * 40, b".\r\n" * 30]
    monkeypatch.setattr(server_module, "TAKE_LINES_FROM", take_from)
    assert feed([LINES_SESSION]) == reference
    rng = random.Random(take_from)
    for _ in range(10):
        assert feed(random_reads(LINES_SESSION, rng, 50)) == reference


async def test_input_is_paused_while_a_reply_hangs(run, smtp_servers):
    factory, port = smtp_servers.start(lambda: FaultHandler("mail_from", HANG),
                                       max_held_input=64 * 1024)
    client = await session(port)
    client.writer.write(b"MAIL FROM:<a@example.com>\r\n" + b"NOOP\r\n" * 200_000)
    [protocol] = factory.connections
    for _ in range(500):
        if protocol._paused:
            break
        await asyncio.sleep(0.01)
    assert protocol._paused  # the server stopped reading instead of buffering it all
    assert len(protocol._buffer) < 64 * 1024 + 1024 * 1024
    client.writer.transport.abort()
    await client.close()
