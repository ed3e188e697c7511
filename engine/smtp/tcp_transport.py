"""TCP transports that send at once: what the SMTP listener and client run on.

Twisted's TCP transport queues every ``write`` and registers the socket with the reactor
for writability; the bytes go out on the next turn of the loop, which then unregisters
it again -- two ``epoll_ctl`` calls and a loop turn for every reply and every message.
asyncio's own transports instead try ``send`` right away when nothing is queued; these
do the same: when the connection is open and reading, not closing, and nothing is waiting
to be written, a write is sent at once, and only what the socket does not take waits for
the reactor as before.  Everything else (closing, aborting, half-closing, TLS, producers,
partial sends, errors) takes Twisted's own path, unchanged.

:func:`listen` and :func:`connect` are ``reactor.listenTCP`` and ``reactor.connectTCP``
with these transports.

Tests: tests/engine/smtp/test_tcp_transport.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from twisted.internet import tcp

if TYPE_CHECKING:
    _Transport = tcp.Connection  # what the mixin is always mixed into
else:
    _Transport = object


class _SendsAtOnce(_Transport):
    """Mixed into Twisted's tcp.Server and tcp.Client (see the module docstring)."""

    _reading = False  # registered for reading (a loseConnection stops reading first)
    _writer_registered = False  # the reactor will call doWrite
    _writing_now = False

    def startReading(self) -> None:
        self._reading = True
        super().startReading()

    def stopReading(self) -> None:
        self._reading = False
        super().stopReading()

    def stopWriting(self) -> None:
        self._writer_registered = False
        super().stopWriting()

    def startWriting(self) -> None:
        if (self._writer_registered or self._writing_now or not self._reading
                or not self.connected or self.disconnecting or self._aborting
                or self._writeDisconnecting):
            self._writer_registered = True
            super().startWriting()
            return
        self._writing_now = True
        try:
            outcome = self.doWrite()  # sends what is queued; stops writing when done
        finally:
            self._writing_now = False
        if outcome is not None or self._tempDataLen \
                or self.offset < len(self.dataBuffer):
            self._writer_registered = True  # the rest (or the error) for the reactor
            super().startWriting()


class Server(_SendsAtOnce, tcp.Server):
    pass


class Client(_SendsAtOnce, tcp.Client):
    pass


class Port(tcp.Port):
    transport = Server


class Connector(tcp.Connector):
    def _makeTransport(self) -> Client:
        return Client(self.host, self.port, self.bindAddress, self, self.reactor)


def listen(reactor: Any, port: int, factory: Any, *, backlog: int = 50,
           interface: str = "") -> Port:
    """``reactor.listenTCP`` with transports that send at once."""
    listening = Port(port, factory, backlog, interface, reactor)
    listening.startListening()
    return listening


def connect(reactor: Any, host: str, port: int, factory: Any, *, timeout: float = 30.0,
            bind_address: Any = None) -> Connector:
    """``reactor.connectTCP`` with transports that send at once."""
    connector = Connector(host, port, factory, timeout, bind_address, reactor)
    connector.connect()
    return connector
