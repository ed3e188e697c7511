"""Our ESMTP server protocol on Twisted: the wire side of every SMTP listener.

The gateway's listener, the SETD intake simulator and the lab's sinks all speak SMTP through
this module; what they *decide* (accept a recipient, store a message, inject a fault) lives in
a per-connection **handler**.  The three parts are kept apart as in Twisted's own code:

* :class:`SmtpServerProtocol` — one connection: parses commands, enforces RFC 5321 sequencing,
  pipelining (RFC 2920), SIZE (RFC 1870), 8BITMIME, ENHANCEDSTATUSCODES (RFC 2034) and
  STARTTLS (RFC 3207), receives DATA in bulk, and formats replies.
* :class:`SmtpServerFactory` — the listener's settings (:class:`SmtpServerConfig`) and a
  callable that makes one handler per connection.
* the handler — anything that satisfies :class:`SmtpHandler`; :class:`BaseSmtpHandler` accepts
  everything and is the class to subclass.

Handler interface
-----------------
Every method that answers the client returns one of:

* ``None`` — the standard reply for that command (see each method);
* a :class:`Reply` — sent as given (``text`` may hold ``"\\n"`` for a multi-line reply and
  should start with the enhanced status code, e.g. ``Reply(550, "5.1.1 No such user")``);
  a 421, or a reply made with ``close=True``, closes the connection after it is sent;
* :data:`HANG` — never answer; the connection stays open until the client gives up or the
  server's idle timeout drops it silently (fault injection: "accept then hang");
* :data:`DISCONNECT` — close the connection without a reply (fault injection);
* an awaitable of any of the above: an asyncio coroutine or future, or a Twisted
  ``Deferred``.  While it is pending, the connection holds every later command (and its reply)
  back, so pipelined replies stay in order.  This is how the listener sends ``250`` after
  DATA only once the message is durable, and how the simulator makes replies slow.

A handler that raises (or whose awaitable fails) never takes the connection down: the client
gets ``451 4.3.0`` (``421 4.3.0`` and a close for the greeting) — a temporary failure, never a
5xx for our own fault.

=====================================  =====================================================
``connected(peer, local)``             greeting; ``None`` → ``220 <hostname> ESMTP``.  A
                                       4xx/5xx reply (554, 421) is sent and the connection
                                       closed.
``ehlo(name, extended)``               ``None`` → ``250`` with the extensions (EHLO) or the
                                       host name (HELO).  A 4xx/5xx refuses the greeting.
                                       *name* is printable ASCII (else ``501`` already).
``extensions(in_tls)``                 the EHLO keywords to offer, from
                                       :data:`DEFAULT_EXTENSIONS`; a bare ``SIZE`` gets the
                                       configured limit, ``STARTTLS`` is dropped when TLS is
                                       not configured or already active.  Withholding
                                       ``STARTTLS`` also refuses the command (``502``).
``starttls()``                         ``None`` → ``220 2.0.0 Ready to start TLS``; any other
                                       code refuses it.
``tls_started(protocol, cipher)``      the handshake completed (``"TLSv1.2"``,
                                       ``"ECDHE-RSA-AES128-GCM-SHA256"``).
``mail_from(sender, params)``          ``None`` → ``250 2.1.0 Ok``; *sender* is ``""`` for
                                       the null sender, else an RFC 5321 mailbox in ASCII
                                       (:mod:`engine.smtp.syntax`: no control character);
                                       *params* (upper-case keys) are SIZE and BODY,
                                       already checked.
``rcpt_to(recipient, params)``         ``None`` → ``250 2.1.5 Ok``; *recipient* is a
                                       mailbox as for ``mail_from``, or ``postmaster``.
``data()``                             ``None`` → ``354``; anything but 354 refuses DATA.
``message(envelope, data)``            after the final dot: *data* is the message with dot-
                                       stuffing undone and CRLF line ends.  ``None`` →
                                       ``250 2.0.0 Ok: queued``.
``refused(reply)``                     the message after DATA was refused by the server
                                       itself with *reply* (oversized, a bare CR or LF);
                                       ``reset()`` follows.
``reset()``                            the transaction was abandoned without ``message()``
                                       (RSET, EHLO, a refused oversized message or one with
                                       a bare CR or LF).
``closed(reason)``                     the connection is gone (why, in words).
=====================================  =====================================================

Tests: tests/engine/smtp/test_server.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

from twisted.internet import defer
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Factory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from zope.interface import implementer

from engine.smtp import syntax, tcp_transport

__all__ = [
    "DEFAULT_EXTENSIONS",
    "DISCONNECT",
    "HANG",
    "Answer",
    "BaseSmtpHandler",
    "Envelope",
    "Outcome",
    "Reply",
    "SmtpHandler",
    "SmtpServerConfig",
    "SmtpServerFactory",
    "SmtpServerProtocol",
    "listen_smtp",
]

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Values exchanged with handlers


@dataclass(frozen=True)
class Reply:
    """An SMTP reply: a code and its text (``"\\n"`` separates the lines of a multi-line one).

    ``close=True`` (server side) closes the connection once the reply is sent, instead of
    whatever the reply would normally lead to — e.g. ``Reply(220, "2.0.0 Ready", close=True)``
    from ``starttls()`` aborts the handshake before it starts.  A 421 always closes.
    """

    code: int
    text: str = ""
    close: bool = field(default=False, compare=False)

    @property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    @property
    def enhanced(self) -> str | None:
        """The enhanced status code at the start of the text (``"5.1.1"``), if there is one."""
        head = self.text.split(" ", 1)[0]
        parts = head.split(".")
        if len(parts) == 3 and head[0] in "245" and parts[0].isdigit() \
                and parts[1].isdigit() and parts[2].isdigit():
            return head
        return None

    @property
    def message(self) -> str:
        """The text without the enhanced status code, lines joined by spaces."""
        text = self.text
        text = " ".join(line.strip() for line in self.lines) if "\n" in text else text.strip()
        code = self.enhanced
        return text[len(code):].strip() if code else text

    @property
    def positive(self) -> bool:
        return 200 <= self.code < 400

    def encode(self) -> bytes:
        """The reply on the wire: ``250-first``, …, ``250 last``, CRLF after each line."""
        wire = self.__dict__.get("_wire")  # made once per reply (the standard ones are shared)
        if wire is None:
            lines = [line.replace("\r", "") for line in self.lines]
            last = len(lines) - 1
            wire = "".join(
                f"{self.code}{' ' if i == last else '-'}{line}\r\n" for i, line in enumerate(lines)
            ).encode("utf-8", "replace")
            self.__dict__["_wire"] = wire  # a frozen dataclass: not through __setattr__
        return wire

    def __str__(self) -> str:
        return f"{self.code} {' '.join(line.strip() for line in self.lines)}"


class _Action:
    """A handler's answer that is not a reply (fault injection)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


#: Never answer this command; the client's own timeout is what happens next.
HANG = _Action("HANG")
#: Close the connection instead of answering (earlier replies are still delivered).
DISCONNECT = _Action("DISCONNECT")

Outcome: TypeAlias = Reply | _Action
#: What a handler method may return: a reply, an action, None (standard reply), or an
#: awaitable (asyncio or Deferred) of one of these.
Answer: TypeAlias = Outcome | Awaitable[Outcome | None] | None

#: The EHLO keywords offered unless a handler says otherwise (SIZE gets the limit appended).
DEFAULT_EXTENSIONS: tuple[str, ...] = (
    "PIPELINING", "SIZE", "8BITMIME", "STARTTLS", "ENHANCEDSTATUSCODES",
)


@dataclass
class Envelope:
    """One mail transaction as the handler sees it at ``message()``."""

    helo: str
    sender: str
    peer: tuple[str, int]
    local: tuple[str, int]
    params: dict[str, str] = field(default_factory=dict)
    recipients: list[str] = field(default_factory=list)
    recipient_params: list[dict[str, str]] = field(default_factory=list)
    tls: bool = False
    tls_protocol: str | None = None
    tls_cipher: str | None = None


class SmtpHandler(Protocol):
    """What a connection asks its handler; see the module docstring for the replies."""

    def connected(self, peer: tuple[str, int], local: tuple[str, int]) -> Answer: ...
    def ehlo(self, name: str, extended: bool) -> Answer: ...
    def extensions(self, in_tls: bool) -> list[str]: ...
    def starttls(self) -> Answer: ...
    def tls_started(self, protocol: str, cipher: str) -> None: ...
    def mail_from(self, sender: str, params: dict[str, str]) -> Answer: ...
    def rcpt_to(self, recipient: str, params: dict[str, str]) -> Answer: ...
    def data(self) -> Answer: ...
    def message(self, envelope: Envelope, data: bytes) -> Answer: ...
    def refused(self, reply: Reply) -> None: ...
    def reset(self) -> None: ...
    def closed(self, reason: str) -> None: ...


class BaseSmtpHandler:
    """A handler that accepts everything with the standard replies; subclass what you need."""

    def connected(self, peer: tuple[str, int], local: tuple[str, int]) -> Answer:
        return None

    def ehlo(self, name: str, extended: bool) -> Answer:
        return None

    def extensions(self, in_tls: bool) -> list[str]:
        return list(DEFAULT_EXTENSIONS)

    def starttls(self) -> Answer:
        return None

    def tls_started(self, protocol: str, cipher: str) -> None:
        pass

    def mail_from(self, sender: str, params: dict[str, str]) -> Answer:
        return None

    def rcpt_to(self, recipient: str, params: dict[str, str]) -> Answer:
        return None

    def data(self) -> Answer:
        return None

    def message(self, envelope: Envelope, data: bytes) -> Answer:
        return None

    def refused(self, reply: Reply) -> None:
        pass

    def reset(self) -> None:
        pass

    def closed(self, reason: str) -> None:
        pass


# --------------------------------------------------------------------------------------------
# Settings and factory


@dataclass(frozen=True)
class SmtpServerConfig:
    """A listener's protocol settings.

    ``max_line_length`` counts the CRLF (RFC 5321 allows 512; we allow room for extensions).
    ``timeout`` is the idle time allowed between client bytes; it does not run while a
    handler's reply is pending, except after :data:`HANG`.
    """

    hostname: str = "localhost"
    max_message_size: int = 10 * 1024 * 1024
    max_recipients: int = 1000
    max_line_length: int = 2048
    max_unknown_commands: int = 10
    timeout: float = 300.0
    tls_context: Any = None  # engine.smtp.tls.ServerTls (any IOpenSSLServerConnectionCreator)
    #: Bytes of unprocessed input held while a reply is pending before reading pauses.
    max_held_input: int = 256 * 1024


class SmtpServerFactory(Factory["SmtpServerProtocol"]):
    """Makes one :class:`SmtpServerProtocol` per connection, each with its own handler."""

    def __init__(self, handler_factory: Callable[[], SmtpHandler],
                 config: SmtpServerConfig | None = None) -> None:
        self.handler_factory = handler_factory
        self.config = config or SmtpServerConfig()
        self.connections: set[SmtpServerProtocol] = set()

    def buildProtocol(self, addr: Any) -> SmtpServerProtocol:
        protocol = SmtpServerProtocol(self.handler_factory(), self.config)
        protocol.factory = self
        return protocol

    def close_all(self) -> None:
        """Drop every open connection (stopping a listener for good)."""
        for protocol in list(self.connections):
            protocol.transport.abortConnection()


def listen_smtp(factory: SmtpServerFactory, port: int, interface: str = "127.0.0.1",
                backlog: int = 128) -> tcp_transport.Port:
    """Listen on *interface*:*port* (0 = any free port; ask ``getHost().port``).

    The port is typed as itself, not as the IListeningPort it provides: that interface's
    ``getHost()`` promises only an IAddress, which has no port number."""
    from twisted.internet import reactor  # installed by whoever runs the loop

    return tcp_transport.listen(reactor, port, factory, backlog=backlog, interface=interface)


# --------------------------------------------------------------------------------------------
# The protocol

_TERMINATOR = b"\r\n.\r\n"
#: From this much of a message in the buffer on, its complete lines are taken out of it
#: (:meth:`SmtpServerProtocol._take_lines`).
TAKE_LINES_FROM = 256 * 1024
#: From this size on, a message's pieces are joined off the loop (:func:`join_pieces`).
JOIN_OFF_LOOP_FROM = 1024 * 1024
_CRLF = b"\r\n"

_R_OK = Reply(250, "2.0.0 Ok")
_R_MAIL_OK = Reply(250, "2.1.0 Ok")
_R_RCPT_OK = Reply(250, "2.1.5 Ok")
_R_DATA = Reply(354, "End data with <CR><LF>.<CR><LF>")
_R_QUEUED = Reply(250, "2.0.0 Ok: queued")
_R_STARTTLS = Reply(220, "2.0.0 Ready to start TLS")
_R_BYE = Reply(221, "2.0.0 Bye")
_R_VRFY = Reply(252, "2.5.2 Cannot VRFY user, but will accept message and attempt delivery")
_R_INTERNAL = Reply(451, "4.3.0 Internal error, try again later")
_R_INTERNAL_GREETING = Reply(421, "4.3.0 Internal error, closing connection")
_R_TOO_LONG = Reply(500, "5.5.2 Line too long")
_R_BARE_LF = Reply(500, "5.5.2 Bare <LF> received, lines must end with <CR><LF>")
_R_UNKNOWN = Reply(500, "5.5.1 Command unrecognized")
_R_TOO_MANY_ERRORS = Reply(421, "4.7.0 Too many errors, closing connection")
_R_TIMEOUT = Reply(421, "4.4.2 Timeout exceeded, closing connection")
_R_NOT_IMPLEMENTED = Reply(502, "5.5.1 Command not implemented")
_R_NEED_HELO = Reply(503, "5.5.1 Send EHLO or HELO first")
_R_NEED_MAIL = Reply(503, "5.5.1 Need MAIL command")
_R_NESTED_MAIL = Reply(503, "5.5.1 Nested MAIL command")
_R_IN_TRANSACTION = Reply(503, "5.5.1 Mail transaction in progress")
_R_TLS_ACTIVE = Reply(503, "5.5.1 TLS already active")
_R_NO_RECIPIENTS = Reply(554, "5.5.1 No valid recipients")
_R_TOO_MANY_RCPTS = Reply(452, "4.5.3 Too many recipients")
_R_TOO_BIG = Reply(552, "5.3.4 Message size exceeds fixed maximum message size")
_R_BARE_LINE_END_DATA = Reply(
    550, "5.6.11 Bare <CR> or <LF> in message data, lines must end with <CR><LF>")
_R_NON_ASCII = Reply(553, "5.6.7 Non-ASCII addresses are not permitted")
_R_HELP = Reply(214, "2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP STARTTLS\n"
                     "2.0.0 End of HELP info")


def _syntax(usage: str) -> Reply:
    return Reply(501, f"5.5.4 Syntax: {usage}")


class _ReplyError(Exception):
    """A command cannot go further: answer with ``reply`` (used while parsing arguments)."""

    def __init__(self, reply: Reply) -> None:
        super().__init__(str(reply))
        self.reply = reply


@implementer(IHandshakeListener)
class SmtpServerProtocol(TwistedProtocol, TimeoutMixin):
    """One ESMTP server connection.

    Input is kept in one buffer.  In command mode complete lines are taken off it one by one;
    in DATA mode the buffer is searched in bulk for CRLF.CRLF.  Only that sequence ends a
    message, and a message holding a CR or an LF that is not part of a CRLF is refused whole
    (550 5.6.11): what we relay can never end early at a server that takes ``<LF>.<LF>`` or
    ``<CR>.<CR>`` for the end (SMTP smuggling).  Whenever a handler's
    reply is pending the loop stops (``_busy``) and resumes when it resolves, so replies leave
    in command order however the client pipelines.
    """

    factory: SmtpServerFactory
    transport: Any  # a TCP transport: ITCPTransport, ITLSTransport, IProducer

    def __init__(self, handler: SmtpHandler, config: SmtpServerConfig) -> None:
        self.handler = handler
        self.config = config
        self._buffer = bytearray()
        self._out: list[bytes] = []
        self._busy = False  # a handler's reply is pending: hold input
        self._pumping = False  # inside _pump (an answer resolved synchronously must not recurse)
        self._closing = False  # we asked the transport to close: ignore further input
        self._hung = False
        self._close_reason: str | None = None
        self._discarding = False  # inside an over-long command line
        self._unknown = 0
        self._paused = False
        self._abort_later: Any = None  # IDelayedCall that aborts a close that never finishes
        self._pending: asyncio.Future[Any] | None = None  # a handler's answer being awaited
        # session
        self.peer: tuple[str, int] = ("", 0)
        self.local: tuple[str, int] = ("", 0)
        self._helo: str | None = None
        self._advertised: set[str] = set()
        self._tls = False
        self._tls_protocol: str | None = None
        self._tls_cipher: str | None = None
        self._envelope: Envelope | None = None
        # DATA state
        self._in_data = False
        self._prefix = 0
        self._scan_from = 0
        self._dropped = 0  # bytes of an oversized message thrown away
        self._bare_line_end = False  # a CR or LF outside CRLF in what was thrown away or taken
        #: a big message's lines taken out of the buffer as they came, unstuffed
        self._chunks: list[bytes] = []
        self._taken = 0  # their size as they came (dot-stuffed)

    # ----------------------------------------------------------------- connection lifecycle

    def connectionMade(self) -> None:
        self.factory.connections.add(self)
        self._set_nodelay()
        self.peer = _address(self.transport.getPeer())
        self.local = _address(self.transport.getHost())
        self.setTimeout(self.config.timeout)
        self._answer("connected", (self.peer, self.local), self._greeting, self._after_greeting,
                     failure_reply=_R_INTERNAL_GREETING)
        self._flush()

    def _set_nodelay(self) -> None:
        """Replies are small and latency-bound: Twisted leaves Nagle on, we turn it off."""
        set_nodelay = getattr(self.transport, "setTcpNoDelay", None)
        if set_nodelay is not None:
            with contextlib.suppress(OSError):  # not a TCP socket (other transports)
                set_nodelay(True)

    def _greeting(self) -> Reply:
        return Reply(220, f"{self.config.hostname} ESMTP")

    def _after_greeting(self, reply: Reply) -> None:
        if not reply.positive:
            self._close(f"greeting refused: {reply.code}")

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.factory.connections.discard(self)
        self.setTimeout(None)
        if self._abort_later is not None and self._abort_later.active():
            self._abort_later.cancel()
        self._closing = True
        why = self._close_reason or _describe_loss(reason)
        try:
            self.handler.closed(why)
        except Exception:
            log.exception("SMTP handler closed() failed")

    def timeoutConnection(self) -> None:
        """Idle too long: 421 and close — silently if we were told to hang.  While a
        handler's reply is pending the client is not idle: the timer runs again (it is
        left running while replies are awaited, not cancelled and made anew each time)."""
        if self._busy and not self._hung and not self._closing:
            self.setTimeout(self.config.timeout)
            return
        if not self._hung:
            self._send(_R_TIMEOUT)
        self._close("timeout")

    def handshakeCompleted(self) -> None:
        handle = self.transport.getHandle()
        self._tls_protocol = handle.get_protocol_version_name()
        self._tls_cipher = handle.get_cipher_name()
        self._tls = True
        try:
            self.handler.tls_started(self._tls_protocol, self._tls_cipher)
        except Exception:
            log.exception("SMTP handler tls_started() failed")

    def _close(self, reason: str) -> None:
        """Flush what is queued and close after it; no more input is read."""
        if self._closing:
            return
        self._close_reason = reason
        self._closing = True
        self.setTimeout(None)
        self._flush()
        self.transport.loseConnection()
        # a client that never reads would keep a half-closed connection forever
        self._abort_later = self.callLater(self.config.timeout, self.transport.abortConnection)

    # ----------------------------------------------------------------- input

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        self.resetTimeout()
        self._buffer += data
        self._pump()

    def _pump(self) -> None:
        """Process buffered input until it runs out, a reply is pending, or we close."""
        self._pumping = True
        try:
            while not self._busy and not self._closing:
                if self._in_data:
                    if not self._take_message():
                        break
                else:
                    line = self._take_line()
                    if line is None:
                        break
                    if isinstance(line, Reply):
                        self._bad_command(line)
                    else:
                        self._dispatch(line)
        finally:
            self._pumping = False
        self._flush()
        self._hold_input(self._busy and len(self._buffer) > self.config.max_held_input)

    def _hold_input(self, hold: bool) -> None:
        """Back-pressure: stop reading while a reply is pending and too much input waits."""
        if hold != self._paused and not self._closing:
            self._paused = hold
            if hold:
                self.transport.pauseProducing()
            else:
                self.transport.resumeProducing()

    def _take_line(self) -> bytes | Reply | None:
        """The next command line without its CRLF; a Reply for a malformed one; None: wait."""
        buf = self._buffer
        newline = buf.find(b"\n")
        if self._discarding:
            if newline < 0:
                buf.clear()
                return None
            del buf[: newline + 1]
            self._discarding = False
            return _R_TOO_LONG
        if newline < 0:
            if len(buf) >= self.config.max_line_length:
                self._discarding = True
                buf.clear()
            return None
        line = bytes(buf[:newline])
        del buf[: newline + 1]
        if newline + 1 > self.config.max_line_length:
            return _R_TOO_LONG
        if not line.endswith(b"\r"):
            return _R_BARE_LF
        return line[:-1]

    def _bad_command(self, reply: Reply) -> None:
        """Unknown or malformed input: answer, and give up on a client that keeps at it."""
        self._unknown += 1
        if self._unknown >= self.config.max_unknown_commands:
            self._send(_R_TOO_MANY_ERRORS)
            self._close("too many errors")
        else:
            self._send(reply)

    def _dispatch(self, line: bytes) -> None:
        text = line.decode("latin-1")
        verb, _, arg = text.partition(" ")
        command = _COMMANDS.get(verb.upper())
        if command is None:
            self._bad_command(_R_UNKNOWN)
            return
        try:  # only blanks are trimmed: any other control character is the argument's
            command(self, arg.strip(" \t"))
        except _ReplyError as refused:
            self._send(refused.reply)

    # ----------------------------------------------------------------- answers

    def _answer(self, method: str, args: tuple[Any, ...], default: Callable[[], Reply],
                then: Callable[[Reply], None] | None = None, *,
                failure_reply: Reply = _R_INTERNAL) -> None:
        """Ask the handler, then send its answer (now, or when its awaitable resolves).

        *default* makes the standard reply for ``None``; *then* does the bookkeeping for the
        reply actually sent (e.g. add the recipient when it was accepted).
        """
        try:
            answer = getattr(self.handler, method)(*args)
        except Exception:
            log.exception("SMTP handler %s() failed", method)
            answer = failure_reply
        if isinstance(answer, defer.Deferred) or inspect.isawaitable(answer):
            self._await(method, answer, default, then, failure_reply)
        else:
            self._conclude(method, answer, default, then, failure_reply)

    def _await(self, method: str, answer: Any, default: Callable[[], Reply],
               then: Callable[[Reply], None] | None, failure_reply: Reply) -> None:
        self._busy = True  # our own delay is not the client's idleness: see timeoutConnection

        def resolved(outcome: Any) -> None:
            self._pending = None
            self._busy = False
            if self._closing:
                return
            self.resetTimeout()
            self._conclude(method, outcome, default, then, failure_reply)
            if not self._pumping:
                self._pump()

        def failed(why: str) -> None:
            log.error("SMTP handler %s() failed: %s", method, why)
            resolved(failure_reply)

        def done(future: asyncio.Future[Any]) -> None:
            if future.cancelled():
                failed("cancelled")
            elif future.exception() is not None:
                failed("".join(traceback.format_exception(future.exception())))
            else:
                resolved(future.result())

        if isinstance(answer, defer.Deferred):
            answer.addCallbacks(resolved, lambda failure: failed(failure.getTraceback()))
        else:  # an asyncio awaitable: followed directly, without a Deferred in between
            self._pending = asyncio.ensure_future(answer)  # held until it is done
            self._pending.add_done_callback(done)

    def _conclude(self, method: str, outcome: Any, default: Callable[[], Reply],
                  then: Callable[[Reply], None] | None, failure_reply: Reply) -> None:
        if outcome is None:
            outcome = default()
        if outcome is HANG:
            self._hang()
            return
        if outcome is DISCONNECT:
            self._close(f"disconnected by the handler at {method}")
            return
        if not isinstance(outcome, Reply):
            log.error("SMTP handler %s() returned %r, not a Reply", method, outcome)
            outcome = failure_reply
        self._send(outcome)
        if outcome.close or outcome.code == 421:
            self._close(f"closed after {outcome.code} at {method}")
        elif then is not None:
            then(outcome)

    def _hang(self) -> None:
        """Stop answering for good; only the idle timeout (silent) or the client ends it."""
        self._hung = True
        self._busy = True
        self.setTimeout(self.config.timeout)

    def _send(self, reply: Reply) -> None:
        self._out.append(reply.encode())

    def _flush(self) -> None:
        if self._out and self.transport is not None:
            self.transport.writeSequence(self._out)
            self._out = []

    # ----------------------------------------------------------------- commands

    def smtp_EHLO(self, arg: str) -> None:
        self._greet(arg, extended=True)

    def smtp_HELO(self, arg: str) -> None:
        self._greet(arg, extended=False)

    def _greet(self, arg: str, *, extended: bool) -> None:
        # The name goes into the Received: header of every message of the session.
        if not syntax.is_ehlo_argument(arg):
            raise _ReplyError(_syntax("EHLO hostname" if extended else "HELO hostname"))
        arg = arg.split()[0]
        self._abandon_transaction()
        extensions = self._extensions()

        def standard() -> Reply:
            lines = [self.config.hostname, *extensions] if extended else [self.config.hostname]
            return Reply(250, "\n".join(lines))

        def greeted(reply: Reply) -> None:
            if reply.positive:
                self._helo = arg
                self._advertised = {e.split()[0].upper() for e in extensions} if extended else set()

        self._answer("ehlo", (arg, extended), standard, greeted)

    def _extensions(self) -> list[str]:
        """The handler's choice of EHLO keywords, completed and filtered by what we can do."""
        try:
            wanted = list(self.handler.extensions(self._tls))
        except Exception:
            log.exception("SMTP handler extensions() failed")
            wanted = list(DEFAULT_EXTENSIONS)
        offered = []
        for keyword in wanted:
            name = keyword.split()[0].upper() if keyword.strip() else ""
            if name == "STARTTLS" and (self._tls or self.config.tls_context is None):
                continue
            if keyword.strip().upper() == "SIZE":
                keyword = f"SIZE {self.config.max_message_size}"
            if name:
                offered.append(keyword)
        return offered

    def smtp_MAIL(self, arg: str) -> None:
        if self._helo is None:
            raise _ReplyError(_R_NEED_HELO)
        if self._envelope is not None:
            raise _ReplyError(_R_NESTED_MAIL)
        sender, params = _parse_path(arg, "FROM", "MAIL FROM:<address>", null_ok=True)
        self._check_mail_params(params)

        def accepted(reply: Reply) -> None:
            if reply.positive:
                self._envelope = Envelope(
                    helo=self._helo or "", sender=sender, peer=self.peer, local=self.local,
                    params=params, tls=self._tls, tls_protocol=self._tls_protocol,
                    tls_cipher=self._tls_cipher,
                )

        self._answer("mail_from", (sender, params), lambda: _R_MAIL_OK, accepted)

    def _check_mail_params(self, params: dict[str, str]) -> None:
        for key, value in params.items():
            if key == "SIZE":
                if not value.isdigit():
                    raise _ReplyError(_syntax("SIZE=<number>"))
                if int(value) > self.config.max_message_size:
                    raise _ReplyError(_R_TOO_BIG)
            elif key == "BODY":
                if value.upper() not in ("7BIT", "8BITMIME"):
                    raise _ReplyError(_syntax("BODY=7BIT or BODY=8BITMIME"))
            else:
                raise _ReplyError(Reply(555, f"5.5.4 Unsupported parameter {key}"))

    def smtp_RCPT(self, arg: str) -> None:
        if self._helo is None:
            raise _ReplyError(_R_NEED_HELO)
        envelope = self._envelope
        if envelope is None:
            raise _ReplyError(_R_NEED_MAIL)
        recipient, params = _parse_path(arg, "TO", "RCPT TO:<address>", null_ok=False)
        for key in params:
            raise _ReplyError(Reply(555, f"5.5.4 Unsupported parameter {key}"))
        if len(envelope.recipients) >= self.config.max_recipients:
            raise _ReplyError(_R_TOO_MANY_RCPTS)

        def accepted(reply: Reply) -> None:
            if reply.positive and self._envelope is envelope:
                envelope.recipients.append(recipient)
                envelope.recipient_params.append(params)

        self._answer("rcpt_to", (recipient, params), lambda: _R_RCPT_OK, accepted)

    def smtp_DATA(self, arg: str) -> None:
        if arg:
            raise _ReplyError(_syntax("DATA"))
        if self._helo is None:
            raise _ReplyError(_R_NEED_HELO)
        if self._envelope is None:
            raise _ReplyError(_R_NEED_MAIL)
        if not self._envelope.recipients:
            raise _ReplyError(_R_NO_RECIPIENTS)

        def go_ahead(reply: Reply) -> None:
            if reply.code == 354:
                self._begin_message()

        self._answer("data", (), lambda: _R_DATA, go_ahead)

    def smtp_RSET(self, arg: str) -> None:
        if arg:
            raise _ReplyError(_syntax("RSET"))
        self._envelope = None
        self._call_quietly("reset")
        self._send(_R_OK)

    def smtp_NOOP(self, arg: str) -> None:
        self._send(_R_OK)

    def smtp_QUIT(self, arg: str) -> None:
        self._send(_R_BYE)
        self._close("QUIT")

    def smtp_VRFY(self, arg: str) -> None:
        if not arg:
            raise _ReplyError(_syntax("VRFY address"))
        self._send(_R_VRFY)

    def smtp_EXPN(self, arg: str) -> None:
        self._send(_R_NOT_IMPLEMENTED)

    def smtp_HELP(self, arg: str) -> None:
        self._send(_R_HELP)

    def smtp_STARTTLS(self, arg: str) -> None:
        if self._tls:
            raise _ReplyError(_R_TLS_ACTIVE)
        if self.config.tls_context is None or "STARTTLS" not in self._advertised:
            raise _ReplyError(_R_NOT_IMPLEMENTED if self._helo else _R_NEED_HELO)
        if arg:
            raise _ReplyError(_syntax("STARTTLS"))
        if self._envelope is not None:
            raise _ReplyError(_R_IN_TRANSACTION)

        def ready(reply: Reply) -> None:
            if reply.code == 220:
                self._start_tls()

        self._answer("starttls", (), lambda: _R_STARTTLS, ready)

    def _start_tls(self) -> None:
        """Send the 220 in clear, then switch; forget the session as RFC 3207 requires.

        Anything the client pipelined after STARTTLS was sent in clear and is thrown away
        (CVE-2011-0411: command injection across the TLS boundary).
        """
        self._flush()
        self._buffer.clear()
        self._helo = None
        self._advertised = set()
        self.transport.startTLS(self.config.tls_context)

    def _abandon_transaction(self) -> None:
        if self._envelope is not None:
            self._envelope = None
            self._call_quietly("reset")

    def _call_quietly(self, method: str, *args: object) -> None:
        """A notification to the handler: its failure is logged, never the client's problem."""
        try:
            getattr(self.handler, method)(*args)
        except Exception:
            log.exception("SMTP handler %s() failed", method)

    # ----------------------------------------------------------------- DATA

    def _begin_message(self) -> None:
        # A virtual CRLF before the first line lets one search find "." on the first line
        # (an empty message) exactly like on any later one.
        self._buffer[0:0] = _CRLF
        self._in_data = True
        self._prefix = len(_CRLF)  # the virtual CRLF still at the front of the buffer
        self._scan_from = 0
        self._dropped = 0
        self._bare_line_end = False
        self._chunks = []
        self._taken = 0

    def _take_message(self) -> bool:
        """Look for the end of DATA in the buffer; True when the message is complete."""
        buf = self._buffer
        end = buf.find(_TERMINATOR, self._scan_from)
        if end < 0:
            self._scan_from = max(0, len(buf) - len(_TERMINATOR) + 1)
            if self._dropped or self._taken + len(buf) - self._prefix > self.config.max_message_size:
                self._drop_oversized()
            elif len(buf) - self._prefix >= TAKE_LINES_FROM:
                self._take_lines()
            return False
        with memoryview(buf) as view:  # one copy out of the buffer, then drop it from there
            data = bytes(view[self._prefix: end + len(_CRLF)])
        del buf[: end + len(_TERMINATOR)]
        self._in_data = False
        self._end_of_data(data)
        return True

    def _take_lines(self) -> None:
        """A big message's complete lines leave the buffer as they come, checked and
        unstuffed a piece at a time: at the final dot only the rest is left to do, so a
        50 MB message does not hold the loop for all of it at once (issue 14).  The cut is
        just before the buffer's last CRLF, which stays: the terminator's search needs it,
        and no CRLF or stuffed dot is ever cut in two."""
        buf = self._buffer
        cut = buf.rfind(_CRLF, self._prefix)
        if cut <= self._prefix:
            return  # one long line so far: it waits for its end (the size limit bounds it)
        with memoryview(buf) as view:
            lines = bytes(view[self._prefix: cut])
        del buf[:cut]
        self._prefix = 0
        self._scan_from = 0
        self._taken += len(lines)
        if _has_bare_line_end(lines):
            self._bare_line_end = True
        self._chunks.append(_unstuffed(lines))

    def _drop_oversized(self) -> None:
        """Too big already: keep only the tail that may hold the start of the terminator."""
        if self._chunks:
            self._dropped += self._taken
            self._chunks, self._taken = [], 0
        buf = self._buffer
        cut = len(buf) - len(_TERMINATOR)
        if cut > 0 and buf[cut - 1] == 0x0D:  # never separate a CR from its LF
            cut -= 1
        if cut <= 0:
            return
        if _has_bare_line_end(buf[:cut]):
            self._bare_line_end = True
        self._dropped += cut - self._prefix
        self._prefix = 0
        del buf[:cut]
        self._scan_from = 0

    def _end_of_data(self, data: bytes) -> None:
        """The final dot arrived: refuse a bad message, or hand a good one to the handler.

        *data* is everything up to the CRLF before the final dot, still dot-stuffed.
        """
        envelope = self._envelope
        self._envelope = None
        chunks, self._chunks = self._chunks, []
        size = self._dropped + self._taken + len(data)
        bare = self._bare_line_end or _has_bare_line_end(data)
        if bare or size > self.config.max_message_size or envelope is None:
            refusal = _R_BARE_LINE_END_DATA if bare else _R_TOO_BIG
            self._send(refusal)
            self._call_quietly("refused", refusal)
            self._call_quietly("reset")
            return
        pieces = [*chunks, _unstuffed(data)]
        del chunks, data
        if sum(map(len, pieces)) < JOIN_OFF_LOOP_FROM:
            self._answer("message", (envelope, b"".join(pieces)), lambda: _R_QUEUED)
        else:
            self._await("message", self._message_of(envelope, pieces), lambda: _R_QUEUED, None,
                        _R_INTERNAL)

    async def _message_of(self, envelope: Envelope, pieces: list[bytes]) -> Any:
        """Hand a big message to the handler once its pieces are one ``bytes``, joined off
        the loop (:func:`join_pieces`); the pieces go as soon as they are joined, so the
        message is held twice only during the copy."""
        data = await join_pieces(pieces)
        pieces.clear()
        answer = self.handler.message(envelope, data)
        del data
        if isinstance(answer, defer.Deferred):
            return await answer.asFuture(asyncio.get_running_loop())
        if inspect.isawaitable(answer):
            return await answer
        return answer


_COMMANDS: dict[str, Callable[[SmtpServerProtocol, str], None]] = {
    name[len("smtp_"):]: method
    for name, method in vars(SmtpServerProtocol).items() if name.startswith("smtp_")
}


# --------------------------------------------------------------------------------------------
# Parsing helpers


def _parse_path(arg: str, keyword: str, usage: str, *, null_ok: bool
                ) -> tuple[str, dict[str, str]]:
    """``FROM:<a@b> SIZE=10`` → ``("a@b", {"SIZE": "10"})``; raises _ReplyError for bad syntax.

    Lenient where real clients are (a space after the colon, no angle brackets), strict
    where it matters: one address in RFC 5321 syntax (engine.smtp.syntax: no control
    character reaches the log, a header or a terminal), ASCII only (SMTPUTF8 is not
    offered): ``553 5.6.7``, then parameters (``501 5.5.4``), then the address
    (``501 5.1.7`` for a sender, ``501 5.1.3`` for a recipient).
    """
    head, colon, rest = arg.partition(":")
    if not colon or head.strip(" ").upper() != keyword:
        raise _ReplyError(_syntax(usage))
    rest = rest.lstrip(" ")
    if rest.startswith("<"):
        close = _closing_bracket(rest)
        if close < 0:
            raise _ReplyError(_syntax(usage))
        address, tail = rest[1:close], rest[close + 1:]
    else:
        address, _, tail = rest.partition(" ")
        tail = " " + tail if tail else ""
    if tail and not tail.startswith(" "):
        raise _ReplyError(_syntax(usage))
    if not address.isascii() or not tail.isascii():
        raise _ReplyError(_R_NON_ASCII)
    params = _parse_params(tail, usage)
    address, route_ok = syntax.strip_source_route(address.strip(" "))
    if not route_ok or not _address_ok(address, null_ok=null_ok):
        what = "sender" if keyword == "FROM" else "recipient"
        code = "5.1.7" if keyword == "FROM" else "5.1.3"
        raise _ReplyError(Reply(501, f"{code} Bad {what} address syntax"))
    return address, params


def _closing_bracket(text: str) -> int:
    """Index of the ``>`` that closes ``<…>``, skipping quoted local parts."""
    if '"' not in text and "\\" not in text:  # nothing quoted or escaped: the first ">"
        return text.find(">")
    quoted = False
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            return index
    return -1


def _parse_params(tail: str, usage: str) -> dict[str, str]:
    """`` SIZE=10 BODY=8BITMIME`` → ``{"SIZE": "10", "BODY": "8BITMIME"}`` (a keyword
    without ``=`` has the value ``""``); 501 for a parameter that is not ``keyword[=value]``,
    before a later reply could quote its keyword back."""
    params: dict[str, str] = {}
    for token in tail.split(" "):
        if not token:
            continue
        key, equals, value = token.partition("=")
        if not syntax.is_parameter(key, value if equals else None):
            raise _ReplyError(_syntax(usage))
        params[key.upper()] = value
    return params


def _address_ok(address: str, *, null_ok: bool) -> bool:
    """The null sender (MAIL only), ``postmaster`` (RCPT only), or an RFC 5321 Mailbox."""
    if not address:
        return null_ok
    if address.lower() == "postmaster":
        return not null_ok  # RCPT TO:<postmaster> is allowed without a domain
    return syntax.is_mailbox(address)


async def join_pieces(pieces: Sequence[bytes]) -> bytes:
    """*pieces* as one ``bytes``; from :data:`JOIN_OFF_LOOP_FROM` bytes on the copy is made
    in a thread.  CPython's ``bytes.join`` lets go of the interpreter lock for a copy that
    big, so the loop serves the other connections meanwhile: 20 messages of 50 MB ending
    at once made copies of 100-200 ms each on the loop, one after another; off it, small
    mail's longest wait beside them fell from 0.6-1.7 s to 0.2-0.4 s (benchmarks/README.md,
    "Big messages: the scanner in a process of its own").  Small ones are joined at once:
    a thread's round trip costs more."""
    if sum(map(len, pieces)) < JOIN_OFF_LOOP_FROM:
        return b"".join(pieces)
    return await asyncio.to_thread(b"".join, pieces)


def _unstuffed(lines: bytes) -> bytes:
    """DATA's lines without the dot a sender put before each line starting with one.  A
    piece of a message starts at its first line or with the CRLF ending a line (the cut
    of :meth:`SmtpServerProtocol._take_lines`), so a dot at its very start is stuffed."""
    if lines.startswith(b"."):
        lines = lines[1:]
    return lines.replace(b"\r\n.", _CRLF)


def _has_bare_line_end(data: bytes | bytearray) -> bool:
    """True when *data* holds a CR or an LF that is not part of a CRLF.

    Both are refused alike: some servers end a line (and so DATA) at a lone LF, others at a
    lone CR, so relaying either would let a client smuggle a second message past us.
    *data* never ends between a CR and its LF: the callers never cut a CRLF in two.
    """
    crlf = data.count(_CRLF)
    return data.count(b"\r") != crlf or data.count(b"\n") != crlf


def _address(address: Any) -> tuple[str, int]:
    return (getattr(address, "host", ""), getattr(address, "port", 0))


def _describe_loss(reason: Failure | None) -> str:
    if reason is None or reason.check(ConnectionDone):
        return "closed by the client"
    text = reason.getErrorMessage()
    return f"connection lost: {text}" if text else "connection lost"

