"""Our outbound ESMTP client on Twisted, for the delivery queues (ordinary and the TDC queue).

Twisted's own ``ESMTPSender`` does not fit a mail gateway: it sends RSET after every message,
does not pipeline, leaves Nagle on and retries on its own.  This client does one thing per call
and says exactly what went wrong, so that the queue's retry logic (SPEC.md: 4xx, 503 and 552
retry once; other 5xx and TLS errors never; network errors once) can classify each failure:

* :class:`SmtpReplyError` — the server answered 4xx/5xx; ``code``, ``enhanced``, ``text`` and
  the ``stage`` (greeting, ehlo, starttls, rset, mail, rcpt, data, eom).
* :class:`SmtpTlsError` — STARTTLS not offered, refused, the handshake failed, the certificate
  or its name did not verify, or the protocol was older than allowed (``kind`` says which).
* :class:`SmtpTimeoutError` — no reply within the per-reply timeout (``stage``).
* :class:`SmtpConnectionError` — refused, reset or closed connections, including a close after
  the final dot without a reply.

Usage (one coroutine per step; every wait is bounded by *timeout*)::

    conn = await SmtpClient.connect("192.0.2.7", 25, local_name="mail.example.com", timeout=60)
    await conn.ehlo()
    protocol, cipher = await conn.starttls(client_context([ca_pem]), "mx.setd.example")
    await conn.ehlo()                      # RFC 3207: forget everything learnt before TLS
    result = await conn.send("a@example.com", ["b@example.net"], message_bytes)
    result = await conn.send(...)          # more messages on the same connection
    await conn.quit()

With PIPELINING offered, ``send`` writes MAIL, every RCPT and DATA in one go and then reads
the replies in order.  A successful transaction is followed directly by the next MAIL; only a
failed one is cleared with RSET (sent in the same batch as the next MAIL).  Nothing is ever
retried here.  Cancelling a call aborts the connection, since its state is then unknown.

Tests: tests/engine/smtp/test_client.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import re
import socket
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from OpenSSL import SSL
from twisted.internet import error as twisted_errors
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import ClientFactory, Protocol
from twisted.python.failure import Failure
from zope.interface import implementer

from engine.config.text import is_digits
from engine.smtp import tcp_transport
from engine.smtp.server import Reply
from engine.smtp.tls import ClientTls

__all__ = [
    "RecipientResult",
    "SendResult",
    "SmtpClient",
    "SmtpConnectionError",
    "SmtpError",
    "SmtpReplyError",
    "SmtpTimeoutError",
    "SmtpTlsError",
    "Stage",
    "TlsFailure",
]

#: A reply line longer than this (without a line end) is a protocol violation.
_MAX_REPLY_LINE = 64 * 1024
_REPLY_LINE = re.compile(rb"^(\d{3})([ -]|$)(.*)$", re.DOTALL)
_BARE_LF = re.compile(rb"(?<!\r)\n")
#: A message to send: its bytes, or its pieces in order (a journal copy is its head, the
#: original it carries and its tail: the original is not copied to be sent).
MessageData = bytes | tuple[bytes, ...]


class Stage(enum.StrEnum):
    """Where in the conversation something happened (equal to its lower-case name)."""

    CONNECT = "connect"
    GREETING = "greeting"
    EHLO = "ehlo"
    STARTTLS = "starttls"
    RSET = "rset"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"
    EOM = "eom"
    NOOP = "noop"
    QUIT = "quit"


class TlsFailure(enum.StrEnum):
    """Why STARTTLS did not give a usable encrypted channel."""

    NOT_OFFERED = "not-offered"
    REFUSED = "refused"
    HANDSHAKE = "handshake"
    VERIFICATION = "verification"
    PROTOCOL = "protocol"


# --------------------------------------------------------------------------------------------
# Results and errors


@dataclass(frozen=True)
class RecipientResult:
    """The server's answer to one RCPT TO."""

    recipient: str
    code: int
    enhanced: str | None
    text: str

    @property
    def accepted(self) -> bool:
        return 200 <= self.code < 300


@dataclass(frozen=True)
class SendResult:
    """One transaction: each recipient's RCPT reply and, when DATA ran, the final reply."""

    recipients: tuple[RecipientResult, ...]
    reply: Reply | None = None

    @property
    def accepted(self) -> list[RecipientResult]:
        return [r for r in self.recipients if r.accepted]

    @property
    def refused(self) -> list[RecipientResult]:
        return [r for r in self.recipients if not r.accepted]


class SmtpError(Exception):
    """Base of the client's failures; ``stage`` is where it happened."""

    stage: Stage | None = None


class SmtpReplyError(SmtpError):
    """The server answered with a 4xx or 5xx reply at *stage*.

    ``result`` holds the per-recipient replies when the failure came after RCPT (all refused,
    DATA refused, or the final reply refused).
    """

    def __init__(self, code: int, enhanced: str | None, text: str, stage: Stage | str,
                 result: SendResult | None = None) -> None:
        self.code = code
        self.enhanced = enhanced
        self.text = text
        self.stage = Stage(stage)
        self.result = result
        super().__init__(f"{stage}: {code} {f'{enhanced} ' if enhanced else ''}{text}".rstrip())

    @classmethod
    def from_reply(cls, reply: Reply, stage: Stage, result: SendResult | None = None
                   ) -> SmtpReplyError:
        return cls(reply.code, reply.enhanced, reply.message, stage, result)

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    @property
    def temporary(self) -> bool:
        return 400 <= self.code < 500


class SmtpTlsError(SmtpError):
    """TLS could not be established as required (never retried: SPEC.md §4 ruling 4)."""

    def __init__(self, reason: str, kind: TlsFailure, reply: Reply | None = None) -> None:
        self.reason = reason
        self.kind = kind
        self.reply = reply
        self.stage = Stage.STARTTLS
        super().__init__(reason)


class SmtpTimeoutError(SmtpError):
    """No reply (or no connection) within the timeout at *stage*."""

    def __init__(self, stage: Stage | str, timeout: float | None = None) -> None:
        self.stage = Stage(stage)
        self.timeout = timeout
        after = f" after {timeout:g} s" if timeout is not None else ""
        super().__init__(f"timeout at {self.stage}{after}")


class SmtpConnectionError(SmtpError):
    """The connection was refused, reset or closed (``details`` in words) at *stage*."""

    def __init__(self, details: str, stage: Stage | str | None = None) -> None:
        self.details = details
        self.stage = Stage(stage) if stage is not None else None
        super().__init__(f"{details} ({self.stage})" if self.stage else details)


# --------------------------------------------------------------------------------------------
# The wire: reply parsing and connection events


@implementer(IHandshakeListener)
class _ClientProtocol(Protocol):
    """Parses replies and hands them to waiters in order; knows nothing of SMTP's sequence."""

    factory: _ClientFactory
    transport: Any  # a TCP transport: ITCPTransport, ITLSTransport

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._lines: list[str] = []  # lines of a multi-line reply so far
        self._waiters: deque[asyncio.Future[Reply]] = deque()
        self._early: deque[Reply] = deque()  # replies nobody asked for yet
        self.lost: str | None = None  # why the connection ended, once it has
        self.lost_failure: Failure | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._handshake: asyncio.Future[None] | None = None
        #: the transport's buffer is full (it paused us as its producer: a big message)
        self.paused = False
        self._drained: asyncio.Future[None] | None = None

    # events from Twisted

    def connectionMade(self) -> None:
        with contextlib.suppress(OSError, AttributeError):
            self.transport.setTcpNoDelay(True)
        connected = self.factory.connected
        if connected.done():  # the caller gave up while we were connecting
            self.transport.abortConnection()
        else:
            connected.set_result(self)

    def dataReceived(self, data: bytes) -> None:
        self._buffer += data
        while self.lost is None:
            newline = self._buffer.find(b"\n")
            if newline < 0:
                if len(self._buffer) > _MAX_REPLY_LINE:
                    self._violation("reply line too long")
                return
            line = bytes(self._buffer[:newline]).rstrip(b"\r")
            del self._buffer[: newline + 1]
            self._line(line)

    def handshakeCompleted(self) -> None:
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_result(None)

    # flow control: the producer of a big message's slices (SmtpClient._write_message)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        if self._drained is not None and not self._drained.done():
            self._drained.set_result(None)

    def stopProducing(self) -> None:
        self.resumeProducing()  # the connection is going: the next write says so

    def drained(self) -> asyncio.Future[None]:
        """Resolves once the transport has taken what it buffered (at once if not paused)."""
        if self._drained is None or self._drained.done():
            self._drained = asyncio.get_running_loop().create_future()
        if not self.paused:
            self._drained.set_result(None)
        return self._drained

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.resumeProducing()
        self.lost = self.lost or _describe_loss(reason)
        self.lost_failure = reason
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_exception(SmtpConnectionError(self.lost))
        self._waiters.clear()
        if self._handshake is not None and not self._handshake.done():
            self._handshake.set_exception(SmtpConnectionError(self.lost))
        if not self.closed.done():
            self.closed.set_result(None)

    # replies

    def _line(self, line: bytes) -> None:
        match = _REPLY_LINE.match(line)
        if match is None:
            self._violation(f"malformed reply line {line[:80]!r}")
            return
        code, separator, text = match.groups()
        self._lines.append(text.decode("utf-8", "replace"))
        if separator != b"-":
            reply = Reply(int(code), "\n".join(self._lines))
            self._lines = []
            self._deliver(reply)

    def _deliver(self, reply: Reply) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(reply)
                return
        self._early.append(reply)

    def _violation(self, what: str) -> None:
        self.lost = f"protocol violation: {what}"
        self.transport.abortConnection()

    # for SmtpClient

    def next_reply(self) -> asyncio.Future[Reply]:
        """A future for the next reply not yet handed to anyone."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        if self._early:
            future.set_result(self._early.popleft())
        elif self.lost is not None:
            future.set_exception(SmtpConnectionError(self.lost))
        else:
            self._waiters.append(future)
        return future

    def start_tls(self, creator: Any) -> asyncio.Future[None]:
        self._handshake = asyncio.get_running_loop().create_future()
        if self.lost is not None:  # closed right after its 220: the handshake never starts
            self._handshake.set_exception(SmtpConnectionError(self.lost))
        else:
            self.transport.startTLS(creator)
        return self._handshake


class _ClientFactory(ClientFactory[_ClientProtocol]):
    protocol = _ClientProtocol

    def __init__(self, connected: asyncio.Future[_ClientProtocol]) -> None:
        self.connected = connected

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        if not self.connected.done():
            self.connected.set_exception(_connect_error(reason))


#: The ``details`` of a connection the server refused, closed or reset (outbound.py gives
#: the appliance's words for them).
REFUSED = "connection refused"
CLOSED = "connection closed by the server"
RESET = "connection reset by the server"


def _connect_error(reason: Failure) -> SmtpError:
    if reason.check(twisted_errors.TimeoutError):
        return SmtpTimeoutError(Stage.CONNECT)
    if reason.check(twisted_errors.ConnectionRefusedError):
        return SmtpConnectionError(REFUSED, Stage.CONNECT)
    return SmtpConnectionError(reason.getErrorMessage() or "cannot connect", Stage.CONNECT)


def _describe_loss(reason: Failure | None) -> str:
    if reason is None or reason.check(twisted_errors.ConnectionDone):
        return CLOSED
    if reason.check(twisted_errors.ConnectionLost) and \
            not reason.check(twisted_errors.ConnectionAborted):  # aborted here: not a reset
        return RESET
    if reason.check(SSL.Error):
        return f"TLS error: {_ssl_error_text(reason.value)}"
    text = reason.getErrorMessage()
    return f"connection lost: {text}" if text else "connection lost"


def _ssl_error_text(exc: BaseException | None) -> str:
    """pyOpenSSL's error list ``[(lib, func, reason), ...]`` as a short sentence."""
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], list):
        reasons = [item[-1] for item in args[0] if isinstance(item, tuple) and item[-1]]
        if reasons:
            return "; ".join(reasons)
    return str(exc) or type(exc).__name__


# --------------------------------------------------------------------------------------------
# The client


@dataclass
class _Transaction:
    """The commands of one ``send`` and the replies they got."""

    commands: list[tuple[bytes, Stage]] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)


class SmtpClient:
    """One outbound SMTP connection.  Make it with :meth:`connect`."""

    def __init__(self, protocol: _ClientProtocol, *, local_name: str, timeout: float) -> None:
        self._protocol = protocol
        self.local_name = local_name
        self.timeout = timeout
        self.local = _address(protocol.transport.getHost())
        self.peer = _address(protocol.transport.getPeer())
        self.greeting: Reply | None = None
        self.ehlo_reply: Reply | None = None
        #: EHLO keywords (upper case) → their parameters, e.g. ``{"SIZE": "10485760"}``.
        self.extensions: dict[str, str] = {}
        self.tls = False
        self.tls_protocol: str | None = None
        self.tls_cipher: str | None = None
        self._needs_rset = False
        self._greeted = False
        self._finished = False  # quit() or abort() was called: unusable from now on
        #: after STARTTLS: where its session is kept (TLS 1.3 sends its ticket after the
        #: handshake, so the session is kept again when the connection ends well)
        self._session_keeper: tuple[ClientTls, str] | None = None
        self._waiting: asyncio.Future[Any] | None = None  # the wait the watchdog guards
        self._waiting_since = 0.0  # when it began (the loop's clock)
        self._watchdog: asyncio.TimerHandle | None = None

    # ----------------------------------------------------------------- connecting

    @classmethod
    async def connect(cls, host: str, port: int, *, local_name: str, timeout: float,
                      bind: str | tuple[str, int] | None = None) -> SmtpClient:
        """Connect and read the greeting (a 4xx/5xx greeting raises SmtpReplyError)."""
        from twisted.internet import reactor as _reactor

        reactor: Any = _reactor
        address = await _resolve(host, port, bind)
        connected: asyncio.Future[_ClientProtocol] = asyncio.get_running_loop().create_future()
        bind_address = (bind, 0) if isinstance(bind, str) else bind
        connector = tcp_transport.connect(reactor, address, port, _ClientFactory(connected),
                                          timeout=timeout, bind_address=bind_address)
        try:
            protocol = await connected
        except asyncio.CancelledError:
            connector.disconnect()
            raise
        client = cls(protocol, local_name=local_name, timeout=timeout)
        greeting = await client._reply(Stage.GREETING)
        client.greeting = greeting
        if greeting.code != 220:
            client._finished = True
            client._protocol.transport.loseConnection()
            raise SmtpReplyError.from_reply(greeting, Stage.GREETING)
        return client

    # ----------------------------------------------------------------- state

    @property
    def closed(self) -> bool:
        """No longer usable: closed by either side, or being closed (quit, abort)."""
        return self._finished or self._protocol.lost is not None

    def has_extension(self, keyword: str) -> bool:
        return keyword.upper() in self.extensions

    @property
    def max_size(self) -> int | None:
        """The server's SIZE limit, when it announced one (0 means no limit).  A value
        that is not a plain number ("²", thousands of digits) is no limit announced."""
        value = self.extensions.get("SIZE", "")
        return int(value) if is_digits(value) else None

    async def wait_closed(self) -> None:
        await asyncio.shield(self._protocol.closed)

    # ----------------------------------------------------------------- commands

    async def ehlo(self) -> Reply:
        """EHLO (HELO if the server does not know EHLO); learns the extensions."""
        reply = await self._command(f"EHLO {self.local_name}", Stage.EHLO)
        extended = True
        if reply.code in (500, 502):
            reply = await self._command(f"HELO {self.local_name}", Stage.EHLO)
            extended = False
        if reply.code != 250:
            raise SmtpReplyError.from_reply(reply, Stage.EHLO)
        self.ehlo_reply = reply
        self.extensions = _parse_extensions(reply.lines[1:]) if extended else {}
        self._greeted = True
        return reply

    async def starttls(self, client_tls: ClientTls, server_hostname: str) -> tuple[str, str]:
        """STARTTLS and the handshake; returns ``(protocol, cipher)`` as OpenSSL names them.

        Afterwards the session starts over (RFC 3207): call :meth:`ehlo` again.
        """
        if self.tls:
            raise RuntimeError("TLS is already active on this connection")
        if not self.has_extension("STARTTLS"):
            raise SmtpTlsError("the server does not offer STARTTLS", TlsFailure.NOT_OFFERED)
        reply = await self._command("STARTTLS", Stage.STARTTLS)
        if reply.code != 220:
            raise SmtpTlsError(f"STARTTLS refused: {reply}", TlsFailure.REFUSED, reply)
        creator = client_tls.connection_creator(server_hostname)
        handshake = self._protocol.start_tls(creator)
        try:
            await self._bounded(handshake, Stage.STARTTLS)
        except SmtpConnectionError as lost:
            client_tls.forget(server_hostname)
            raise _tls_failure(lost.details, creator.state.error) from None
        handle = self._protocol.transport.getHandle()
        client_tls.remember(server_hostname, handle)
        self._session_keeper = (client_tls, server_hostname)
        self.tls = True
        self.tls_protocol = handle.get_protocol_version_name()
        self.tls_cipher = handle.get_cipher_name()
        self.extensions = {}
        self.ehlo_reply = None
        self._greeted = False
        return self.tls_protocol, self.tls_cipher

    async def send(self, sender: str, recipients: Sequence[str], data: MessageData) -> SendResult:
        """One mail transaction; returns the per-recipient and final replies.  *data* is the
        message, or its pieces in order (sent one after the other, never joined).

        Raises :class:`SmtpReplyError` when MAIL is refused, every recipient is refused,
        DATA is refused or the final reply is 4xx/5xx.  Recipients refused while others were
        accepted are reported in the result, not raised.
        """
        if not self._greeted:
            raise RuntimeError("send() before ehlo() (after STARTTLS, EHLO must be repeated)")
        if not recipients:
            raise ValueError("a message needs at least one recipient")
        transaction = self._transaction(sender, recipients, data)
        self._needs_rset = True  # cleared only when this transaction succeeds
        if self.has_extension("PIPELINING"):
            await self._pipelined(transaction)
        else:
            await self._lockstep(transaction)
        result = await self._finish(transaction, recipients, data)
        self._needs_rset = False
        return result

    async def rset(self) -> Reply:
        reply = await self._command("RSET", Stage.RSET)
        if reply.code != 250:
            raise SmtpReplyError.from_reply(reply, Stage.RSET)
        self._needs_rset = False
        return reply

    async def noop(self) -> Reply:
        """NOOP (is an idle connection still alive?); any reply is returned, none raises."""
        return await self._command("NOOP", Stage.NOOP)

    async def quit(self) -> None:
        """QUIT politely and wait for the close; never raises (the connection is done)."""
        if not self.closed:
            if self._session_keeper is not None:
                keeper, hostname = self._session_keeper
                keeper.remember(hostname, self._protocol.transport.getHandle())
            with contextlib.suppress(SmtpError):
                await self._command("QUIT", Stage.QUIT)
            self._finished = True
            if self._protocol.lost is None:
                self._protocol.transport.loseConnection()
        self._disarm()
        try:
            await asyncio.wait_for(self.wait_closed(), self.timeout)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        """Drop the connection at once (a hard deadline, or a timeout left it out of step)."""
        self._finished = True
        self._disarm()
        if self._protocol.lost is None:
            self._protocol.transport.abortConnection()

    # ----------------------------------------------------------------- the transaction

    def _transaction(self, sender: str, recipients: Sequence[str], data: MessageData
                     ) -> _Transaction:
        mail = f"MAIL FROM:<{sender}>"
        pieces = _pieces(data)
        if self.has_extension("SIZE"):
            mail += f" SIZE={sum(len(piece) for piece in pieces)}"
        if self.has_extension("8BITMIME") and not all(piece.isascii() for piece in pieces):
            mail += " BODY=8BITMIME"
        transaction = _Transaction()
        if self._needs_rset:
            transaction.commands.append((b"RSET", Stage.RSET))
        transaction.commands.append((mail.encode(), Stage.MAIL))
        transaction.commands += [(f"RCPT TO:<{r}>".encode(), Stage.RCPT) for r in recipients]
        transaction.commands.append((b"DATA", Stage.DATA))
        return transaction

    async def _pipelined(self, transaction: _Transaction) -> None:
        """RFC 2920: write the whole group, then read every reply in order."""
        first_stage = transaction.commands[0][1]
        self._write(b"".join(command + b"\r\n" for command, _ in transaction.commands),
                    first_stage)
        for _, stage in transaction.commands:
            transaction.replies.append(await self._reply(stage))

    async def _lockstep(self, transaction: _Transaction) -> None:
        """One command at a time; stop before RCPT when MAIL fails, before DATA without
        recipients (the missing replies are left out)."""
        accepted = 0
        for command, stage in transaction.commands:
            if stage is Stage.DATA and accepted == 0:
                return
            self._write(command + b"\r\n", stage)
            reply = await self._reply(stage)
            transaction.replies.append(reply)
            if stage in (Stage.RSET, Stage.MAIL) and reply.code != 250:
                return
            if stage is Stage.RCPT and reply.positive:
                accepted += 1

    async def _finish(self, transaction: _Transaction, recipients: Sequence[str],
                      data: MessageData) -> SendResult:
        """Judge the replies in command order; send the message when DATA was accepted."""
        replies = iter(transaction.replies)
        stages = [stage for _, stage in transaction.commands]
        data_reply = transaction.replies[-1] if len(transaction.replies) == len(stages) else None
        if stages[0] is Stage.RSET:
            reply = next(replies)
            if reply.code != 250:
                await self._close_data_phase(data_reply)
                raise SmtpReplyError.from_reply(reply, Stage.RSET)
        mail = next(replies)
        if not mail.positive:
            await self._close_data_phase(data_reply)
            raise SmtpReplyError.from_reply(mail, Stage.MAIL)
        results = tuple(
            RecipientResult(recipient, reply.code, reply.enhanced, reply.message)
            for recipient, reply in zip(recipients, replies, strict=False)
        )
        partial = SendResult(results)
        refused = partial.refused
        if not partial.accepted:
            await self._close_data_phase(data_reply)
            first = refused[0]
            raise SmtpReplyError(first.code, first.enhanced, first.text, Stage.RCPT, partial)
        if data_reply is None or data_reply.code != 354:
            reply = data_reply or Reply(554, "5.5.1 DATA not sent")
            raise SmtpReplyError.from_reply(reply, Stage.DATA, partial)
        await self._write_message(data)
        final = await self._reply(Stage.EOM)
        result = SendResult(results, final)
        if final.code != 250:
            raise SmtpReplyError.from_reply(final, Stage.EOM, result)
        return result

    async def _write_message(self, data: MessageData) -> None:
        """Write the message as DATA carries it.  Most mail is a write or a few.  A big one
        is prepared and written a slice at a time, the loop free for other connections
        between slices (a 50 MB message is a second of dot-stuffing, TLS and copying), and
        no faster than the connection takes it: the transport pauses the protocol when its
        buffer is full (Twisted's producer API), so the bytes waiting are a slice or two,
        not the whole message (issue 14, big messages)."""
        if sum(map(len, _pieces(data))) < WRITE_IN_SLICES_FROM:
            for piece in _wire_data(data):
                self._write(piece, Stage.EOM)
            return
        protocol = self._protocol
        protocol.transport.registerProducer(protocol, True)
        try:
            for piece in _wire_slices(data, _SLICE):
                self._write(piece, Stage.EOM)
                if protocol.paused:
                    await self._bounded(protocol.drained(), Stage.EOM)
                else:
                    await asyncio.sleep(0)  # a turn of the loop for the others
        finally:
            if protocol.lost is None:
                protocol.transport.unregisterProducer()

    async def _close_data_phase(self, data_reply: Reply | None) -> None:
        """A server that said 354 although the transaction failed gets an empty message."""
        if data_reply is not None and data_reply.code == 354:
            self._write(b".\r\n", Stage.EOM)
            await self._reply(Stage.EOM)

    # ----------------------------------------------------------------- plumbing

    def _write(self, data: bytes, stage: Stage) -> None:
        if self._protocol.lost is not None:
            raise SmtpConnectionError(self._protocol.lost, stage)
        if self._finished:
            raise SmtpConnectionError("connection closed by the client", stage)
        self._protocol.transport.write(data)

    async def _command(self, line: str, stage: Stage) -> Reply:
        self._write(line.encode("utf-8") + b"\r\n", stage)
        return await self._reply(stage)

    async def _reply(self, stage: Stage) -> Reply:
        return await self._bounded(self._protocol.next_reply(), stage)

    async def _bounded(self, future: asyncio.Future[Any], stage: Stage) -> Any:
        """Wait for *future* at most ``timeout``; a timeout or cancel aborts the connection.

        The waits of a connection come one after the other, so one watchdog timer serves
        them all (:meth:`_watch`): it is armed when none is, and when it fires it fails the
        wait that has lasted ``timeout``, or sets itself for the end of the current one.  A
        timer per reply cost an insertion into the loop's heap and a cancel for each of the
        dozen replies of a delivery.  A wait that overlaps another (never done here) gets a
        timer of its own."""
        timer = None
        if not future.done():
            loop = asyncio.get_running_loop()
            if self._waiting is None or self._waiting.done():
                self._waiting, self._waiting_since = future, loop.time()
                if self._watchdog is None:
                    self._watchdog = loop.call_at(self._waiting_since + self.timeout, self._watch)
            else:
                timer = loop.call_later(self.timeout, _expire, future)
        try:
            return await future
        except _Expired:
            self.abort()
            raise SmtpTimeoutError(stage, self.timeout) from None
        except asyncio.CancelledError:
            self.abort()
            raise
        except SmtpConnectionError as lost:
            raise SmtpConnectionError(lost.details, stage) from None
        finally:
            if timer is not None:
                timer.cancel()
            if self._waiting is future:
                self._waiting = None
            if self._protocol.lost is not None:
                self._disarm()  # nothing more to wait for on this connection

    def _disarm(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    def _watch(self) -> None:
        """The watchdog fired: fail the current wait if it is due, else wait for its end."""
        self._watchdog = None
        waiting = self._waiting
        if waiting is None or waiting.done():
            return  # idle: the next wait arms it again
        loop = asyncio.get_running_loop()
        due = self._waiting_since + self.timeout
        if loop.time() >= due:
            _expire(waiting)
        else:
            self._watchdog = loop.call_at(due, self._watch)


class _Expired(Exception):
    """The wait's timer fired before the future was done."""


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_exception(_Expired())


# --------------------------------------------------------------------------------------------
# Helpers


async def _resolve(host: str, port: int, bind: str | tuple[str, int] | None) -> str:
    """An address literal as is; a name through the system resolver (off the loop thread),
    in the address family of *bind* when there is one."""
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    family = socket.AF_UNSPEC
    if bind is not None:
        bind_host = bind if isinstance(bind, str) else bind[0]
        family = socket.AF_INET6 if ipaddress.ip_address(bind_host).version == 6 else socket.AF_INET
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, family=family, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise SmtpConnectionError(f"cannot resolve {host}: {exc}", Stage.CONNECT) from None
    return str(infos[0][4][0])


def _parse_extensions(lines: Sequence[str]) -> dict[str, str]:
    extensions = {}
    for line in lines:
        keyword, _, params = line.strip().partition(" ")
        if keyword:
            extensions[keyword.upper()] = params.strip()
    return extensions


#: Up to this size a message goes out in one write with its final dot: one send (one TLS
#: record) instead of two.  A bigger one is not copied just to add the dot.
_JOIN_BELOW = 64 * 1024
#: A message from this size on is written a slice at a time (:meth:`SmtpClient._write_message`).
WRITE_IN_SLICES_FROM = 1024 * 1024
_SLICE = 256 * 1024


def _pieces(data: MessageData) -> tuple[bytes, ...]:
    return (data,) if isinstance(data, bytes) else data


def _wire_data(data: MessageData) -> list[bytes]:
    """The message as DATA carries it: CRLF line ends, dot-stuffed, ending in CRLF.CRLF.

    A small message is one write with its final dot (one send, one TLS record).  A bigger
    one goes in pieces, written one after the other: it is not copied just to add the
    final dot (``replace`` returns a piece itself when it has no line to dot-stuff), nor
    a message given in pieces joined."""
    wire: list[bytes] = []
    line_start = True
    for piece in _pieces(data):
        if piece:
            line_start = _stuff(piece, line_start, wire)
    wire.append(b".\r\n" if line_start else b"\r\n.\r\n")
    if sum(map(len, wire)) < _JOIN_BELOW:
        return [b"".join(wire)]
    return wire


def _wire_slices(data: MessageData, size: int | None) -> Iterator[bytes]:
    """What :func:`_wire_data` writes, made a slice of at most about *size* bytes at a
    time (None: each piece whole), each cut after a line end where the slice has one.
    A piece or slice starts a line when the one before ended one (pieces are cut after a
    line end, as a journal copy is around its original)."""
    line_start = True
    for piece in _pieces(data):
        for part in _slices(piece, size):
            wire: list[bytes] = []
            line_start = _stuff(part, line_start, wire)
            yield from wire
    yield b".\r\n" if line_start else b"\r\n.\r\n"


def _stuff(part: bytes, line_start: bool, wire: list[bytes]) -> bool:
    """Append *part* to *wire* with CRLF line ends and its dots stuffed (*line_start*: it
    starts a line); returns whether the next part starts one."""
    if part.count(b"\n") != part.count(b"\r\n"):
        part = _BARE_LF.sub(b"\r\n", part)
    if line_start and part.startswith(b"."):
        wire.append(b".")
    wire.append(part.replace(b"\r\n.", b"\r\n.."))
    return part.endswith(b"\n")


def _slices(piece: bytes, size: int | None) -> Iterator[bytes]:
    """*piece* in slices of at most *size* bytes, cut after the last LF of each; never
    between a CR and its LF (a line with no LF in *size* bytes is cut where it must be)."""
    if size is None or len(piece) <= size:
        if piece:
            yield piece
        return
    at = 0
    while at < len(piece):
        end = min(at + size, len(piece))
        if end < len(piece):
            cut = piece.rfind(b"\n", at, end)
            if cut >= 0:
                end = cut + 1
            elif piece[end - 1] == 0x0D and end - 1 > at:
                end -= 1
        yield piece[at:end]
        at = end


def _tls_failure(details: str, verification_error: str | None) -> SmtpTlsError:
    """Classify a connection that ended during the handshake."""
    if verification_error:
        return SmtpTlsError(verification_error, TlsFailure.VERIFICATION)
    lowered = details.lower()
    if "protocol version" in lowered or "unsupported protocol" in lowered \
            or "no protocols available" in lowered:
        return SmtpTlsError(f"TLS protocol not acceptable: {details}", TlsFailure.PROTOCOL)
    return SmtpTlsError(f"TLS handshake failed: {details}", TlsFailure.HANDSHAKE)


def _address(address: Any) -> tuple[str, int]:
    return (getattr(address, "host", ""), getattr(address, "port", 0))
