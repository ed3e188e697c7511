"""The lab's delivery sink: where ordinary delivery (``example.com``) ends up.

It accepts every message and keeps it as ``<n>.eml`` in a directory, so an engineer
can look at what the gateway delivered (with its ``Received`` header and, for spam
that a policy delivers, its ``[SPAM]`` tag).
"""

from __future__ import annotations

import itertools
from pathlib import Path

from engine.smtp import tcp_transport
from engine.smtp.server import (
    BaseSmtpHandler,
    Envelope,
    SmtpServerConfig,
    SmtpServerFactory,
    listen_smtp,
)


class DeliverySink:
    def __init__(self, directory: Path, *, host: str = "127.0.0.1") -> None:
        self.directory = directory
        self.host = host
        directory.mkdir(parents=True, exist_ok=True)
        start = max((int(p.stem) for p in directory.glob("*.eml") if p.stem.isdigit()), default=0)
        self._numbers = itertools.count(start + 1)
        self.received = 0
        self._port: tcp_transport.Port | None = None
        self._factory: SmtpServerFactory | None = None

    def store(self, envelope: Envelope, data: bytes) -> Path:
        path = self.directory / f"{next(self._numbers)}.eml"
        trace = (f"X-Lab-Envelope-From: <{envelope.sender}>\r\n"
                 f"X-Lab-Envelope-To: {', '.join(f'<{r}>' for r in envelope.recipients)}\r\n")
        path.write_bytes(trace.encode() + data)
        self.received += 1
        return path

    def start(self, port: int = 0) -> int:
        sink = self

        class Handler(BaseSmtpHandler):
            def message(self, envelope: Envelope, data: bytes) -> None:
                sink.store(envelope, data)
                return None

        self._factory = SmtpServerFactory(Handler, SmtpServerConfig(hostname="sink.lab"))
        self._port = listen_smtp(self._factory, port, interface=self.host)
        return self._port.getHost().port

    async def stop(self) -> None:
        import asyncio

        from twisted.internet import defer

        if self._port is not None:
            await defer.maybeDeferred(self._port.stopListening).asFuture(asyncio.get_running_loop())
            self._port = None
        if self._factory is not None:
            self._factory.close_all()
