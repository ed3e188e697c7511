"""One port number on both UDP and TCP, as a DNS server needs: the lab zone and the
black hole that stands for a DNS server which never answers."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IReactorUDP
from twisted.internet.protocol import DatagramProtocol, ServerFactory

#: A free UDP port may be a busy TCP port: how many ports to try before giving up.
_TRIES = 50


def listen_udp_and_tcp(host: str, port: int, datagrams: Callable[[], DatagramProtocol],
                       factory: ServerFactory) -> tuple[list[IListeningPort], int]:
    """Listen on UDP and TCP *port* of *host* (0: any port free for both); return the two
    listening ports and the number.  *datagrams* makes a UDP protocol per try: the one of
    a given-up port is detached only later."""
    from twisted.internet import reactor

    for _ in range(_TRIES):
        # The reactor's type covers TCP only: adapt it to UDP, as Twisted advises.  The
        # interface's signature lacks the defaults, so Twisted's maxPacketSize is given.
        udp = IReactorUDP(reactor).listenUDP(port, datagrams(), interface=host,
                                             maxPacketSize=8192)
        chosen = port_number(udp)
        try:
            tcp = reactor.listenTCP(chosen, factory, interface=host)
        except CannotListenError:
            udp.stopListening()
            if port:
                raise
            continue
        return [udp, tcp], chosen
    raise CannotListenError(host, port, OSError("no port free for both UDP and TCP"))


async def stop_listening(ports: Sequence[IListeningPort]) -> None:
    """Stop every port of *ports* and wait until they are closed."""
    waits = [defer.maybeDeferred(p.stopListening) for p in ports]
    if waits:
        await defer.gatherResults(waits).asFuture(asyncio.get_running_loop())


def port_number(listening: IListeningPort) -> int:
    address = listening.getHost()  # typed IAddress (no port); an IP port's is an IP address
    assert isinstance(address, IPv4Address | IPv6Address), address
    return address.port
