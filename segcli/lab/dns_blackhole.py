"""A DNS server that never answers: the lab's "wrong DNS server" (drill ``dns-wrong-server``).

It listens on UDP and TCP on one loopback port, reads every query and says nothing, so a
resolver pointed at it waits for its full timeout, retransmits, and gives up: the
gateway's ``Timeout`` DNS error.  A closed port would not do: a UDP query to it fails at
once (ICMP port unreachable) and teaches something else.  It counts what it was sent, the
drill's witness that the gateway asked here and not the lab zone.

Built on Twisted like the zone: the reactor must be running (Twisted on the asyncio loop).
"""

from __future__ import annotations

import asyncio
from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IReactorUDP
from twisted.internet.protocol import DatagramProtocol, Protocol, ServerFactory


class _Swallow(DatagramProtocol):
    """Counts each datagram and drops it."""

    def __init__(self, hole: DnsBlackhole) -> None:
        self._hole = hole

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:  # Twisted's name
        self._hole.datagrams += 1


class _Silent(Protocol):
    """A TCP connection that is read and never answered (kept until the client or
    ``stop()`` closes it)."""

    def __init__(self, hole: DnsBlackhole) -> None:
        self._hole = hole

    def connectionMade(self) -> None:
        self._hole.connections += 1
        self._hole._open.add(self)

    def dataReceived(self, data: bytes) -> None:
        pass

    def connectionLost(self, reason: Any = None) -> None:
        self._hole._open.discard(self)


class _SilentFactory(ServerFactory):
    noisy = False

    def __init__(self, hole: DnsBlackhole) -> None:
        self._hole = hole

    def buildProtocol(self, addr: Any) -> _Silent:
        return _Silent(self._hole)


class DnsBlackhole:
    """UDP and TCP on ``host:port`` that read DNS queries and never answer.

    >>> hole = DnsBlackhole(); port = hole.start()   # reactor running
    >>> hole.datagrams, hole.connections              # what arrived so far
    """

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self.port = 0
        self.datagrams = 0  # UDP queries received
        self.connections = 0  # TCP connections accepted
        self._ports: list[IListeningPort] = []
        self._open: set[_Silent] = set()

    def start(self, port: int = 0) -> int:
        """Listen on UDP and TCP *port* of ``host`` (0: a free port); return the port."""
        from twisted.internet import reactor

        if self._ports:
            raise RuntimeError("the DNS black hole is already running")
        for _ in range(50):  # a free UDP port may be a busy TCP port: try another
            udp = IReactorUDP(reactor).listenUDP(port, _Swallow(self), interface=self.host,
                                                 maxPacketSize=8192)
            chosen = _port_number(udp)
            try:
                tcp = reactor.listenTCP(chosen, _SilentFactory(self), interface=self.host)
            except CannotListenError:
                udp.stopListening()
                if port:
                    raise
                continue
            self._ports = [udp, tcp]
            self.port = chosen
            return chosen
        raise CannotListenError(self.host, port, OSError("no port free for both UDP and TCP"))

    async def stop(self) -> None:
        """Close both sockets and the TCP connections still open."""
        ports, self._ports = self._ports, []
        for connection in list(self._open):
            abort = getattr(connection.transport, "abortConnection", None)
            if abort is not None:
                abort()
        waits = [defer.maybeDeferred(p.stopListening) for p in ports]
        if waits:
            await defer.gatherResults(waits).asFuture(asyncio.get_running_loop())

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, as ``dnsconfig`` and DnsResolver take it."""
        return (self.host, self.port)


def _port_number(listening: IListeningPort) -> int:
    address = listening.getHost()
    assert isinstance(address, IPv4Address | IPv6Address), address
    return address.port
