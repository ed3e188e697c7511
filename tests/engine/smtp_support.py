"""Test helpers for the SMTP layer: a raw line client and handlers that record or misbehave."""

from __future__ import annotations

import asyncio
import contextlib
import smtplib
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.smtp.server import BaseSmtpHandler, Envelope, Reply

#: How long a raw client waits for a reply before the test fails (not a measurement).
REPLY_WAIT = 10.0


class RawClient:
    """A plain socket client that writes exact bytes and reads whole replies.

    Runs on the test's event loop (asyncio streams), so it never blocks the server.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, *, greeting: bool = True) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        client = cls(reader, writer)
        if greeting:
            reply = await client.reply()
            assert reply.code == 220, reply
        return client

    async def send(self, data: bytes | str) -> None:
        self.writer.write(data.encode() if isinstance(data, str) else data)
        await self.writer.drain()

    async def reply(self) -> Reply:
        """The next (possibly multi-line) reply."""
        lines: list[str] = []
        while True:
            raw = await asyncio.wait_for(self.reader.readline(), REPLY_WAIT)
            if not raw:
                raise ConnectionError(f"closed by the server after {lines!r}")
            assert raw.endswith(b"\r\n"), raw
            text = raw[:-2].decode()
            lines.append(text[4:])
            if text[3:4] != "-":
                return Reply(int(text[:3]), "\n".join(lines))

    async def command(self, line: str) -> Reply:
        await self.send(line + "\r\n")
        return await self.reply()

    async def codes(self, count: int) -> list[int]:
        return [(await self.reply()).code for _ in range(count)]

    async def ehlo(self, name: str = "client.test") -> Reply:
        reply = await self.command(f"EHLO {name}")
        assert reply.code == 250, reply
        return reply

    async def closed(self) -> bool:
        """True when the server has closed the connection (reads EOF)."""
        data = await asyncio.wait_for(self.reader.read(), REPLY_WAIT)
        return data == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()


class RecordingHandler(BaseSmtpHandler):
    """Accepts everything and remembers what happened, in order."""

    def __init__(self, log: list[Any] | None = None) -> None:
        self.events: list[Any] = [] if log is None else log
        self.messages: list[tuple[Envelope, bytes]] = []
        self.closed_reason: str | None = None
        self.tls: tuple[str, str] | None = None

    def connected(self, peer, local):
        self.events.append(("connected", peer[0]))

    def ehlo(self, name, extended):
        self.events.append(("ehlo", name, extended))

    def tls_started(self, protocol, cipher):
        self.tls = (protocol, cipher)
        self.events.append(("tls", protocol))

    def mail_from(self, sender, params):
        self.events.append(("mail", sender, dict(params)))

    def rcpt_to(self, recipient, params):
        self.events.append(("rcpt", recipient))

    def data(self):
        self.events.append(("data",))

    def message(self, envelope, data):
        self.messages.append((envelope, data))
        self.events.append(("message", len(data)))

    def reset(self):
        self.events.append(("reset",))

    def closed(self, reason):
        self.closed_reason = reason
        self.events.append(("closed", reason))


class Recorder:
    """A handler factory whose handlers share one record (one per connection, in order)."""

    def __init__(self, handler_class: type[RecordingHandler] = RecordingHandler, **kwargs: Any):
        self.handler_class = handler_class
        self.kwargs = kwargs
        self.handlers: list[RecordingHandler] = []

    def __call__(self) -> RecordingHandler:
        handler = self.handler_class(**self.kwargs)
        self.handlers.append(handler)
        return handler

    @property
    def messages(self) -> list[tuple[Envelope, bytes]]:
        return [m for h in self.handlers for m in h.messages]

    @property
    def events(self) -> list[Any]:
        return [e for h in self.handlers for e in h.events]


class FaultHandler(RecordingHandler):
    """Answers one stage with a given answer (a Reply, HANG, DISCONNECT, a callable...).

    *stage* is a handler method name: connected, ehlo, starttls, mail_from, rcpt_to, data,
    message.  A callable answer is called with the method's arguments.
    """

    def __init__(self, stage: str, answer: Any, log: list[Any] | None = None) -> None:
        super().__init__(log)
        self.stage = stage
        self.answer = answer

    def _fault(self, stage: str, default: Callable[..., Any], *args: Any) -> Any:
        default(*args)
        if stage != self.stage:
            return None
        return self.answer(*args) if callable(self.answer) else self.answer

    def connected(self, peer, local):
        return self._fault("connected", super().connected, peer, local)

    def ehlo(self, name, extended):
        return self._fault("ehlo", super().ehlo, name, extended)

    def starttls(self):
        return self._fault("starttls", lambda: None)

    def mail_from(self, sender, params):
        return self._fault("mail_from", super().mail_from, sender, params)

    def rcpt_to(self, recipient, params):
        return self._fault("rcpt_to", super().rcpt_to, recipient, params)

    def data(self):
        return self._fault("data", super().data)

    def message(self, envelope, data):
        return self._fault("message", super().message, envelope, data)


def smtplib_send(port: int, sender: str, recipients: list[str], message: bytes, *,
                 starttls_ca: Path | None = None) -> dict[str, tuple[int, bytes]]:
    """Send one message with Python's smtplib (blocking: run it in a thread)."""
    with smtplib.SMTP("127.0.0.1", port, local_hostname="smtplib.test", timeout=REPLY_WAIT
                      ) as client:
        client.ehlo()
        if starttls_ca is not None:
            # verified against 127.0.0.1, which the test certificate names as an IP address
            context = ssl.create_default_context(cafile=str(starttls_ca))
            client.starttls(context=context)
            client.ehlo()
        return client.sendmail(sender, recipients, message)
