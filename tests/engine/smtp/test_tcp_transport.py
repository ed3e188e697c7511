"""TCP transports that send at once (engine/smtp/tcp_transport.py): the reactor is only asked
to wait for writability when the socket does not take everything, and closing, aborting
and big writes behave as with Twisted's own transports."""

from __future__ import annotations

import asyncio

import pytest
from twisted.internet import defer, protocol

from engine.smtp import tcp_transport

pytestmark = pytest.mark.usefixtures("run")


class Collect(protocol.Protocol):
    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = asyncio.get_running_loop().create_future()

    def dataReceived(self, data: bytes) -> None:
        self.data += data

    def connectionLost(self, reason=None) -> None:
        if not self.closed.done():
            self.closed.set_result(reason)


class Send(protocol.Protocol):
    """Writes its payload (in pieces) as soon as it is connected, then closes or aborts."""

    def __init__(self, pieces: list[bytes], end: str) -> None:
        self.pieces = pieces
        self.end = end
        self.registered_after_write: bool | None = None

    def connectionMade(self) -> None:
        from twisted.internet import reactor

        for piece in self.pieces:
            self.transport.write(piece)
        self.registered_after_write = self.transport in reactor.getWriters()
        if self.end == "close":
            self.transport.loseConnection()
        elif self.end == "abort":
            self.transport.abortConnection()


async def _exchange(pieces: list[bytes], end: str) -> tuple[Send, Collect]:
    from twisted.internet import reactor  # the tests' asyncio reactor, installed by then

    sender = Send(pieces, end)
    factory = protocol.Factory.forProtocol(lambda: sender)
    port = tcp_transport.listen(reactor, 0, factory, interface="127.0.0.1")
    receiver: Collect | None = None
    connected = asyncio.get_running_loop().create_future()

    class ClientFactory(protocol.ClientFactory):
        def buildProtocol(self, addr):
            nonlocal receiver
            receiver = Collect()
            connected.set_result(None)
            return receiver

    connector = tcp_transport.connect(reactor, "127.0.0.1", port.getHost().port, ClientFactory())
    try:
        await asyncio.wait_for(connected, 10)
        assert receiver is not None
        await asyncio.wait_for(receiver.closed, 10)
    finally:
        connector.disconnect()
        await defer.maybeDeferred(port.stopListening).asFuture(asyncio.get_running_loop())
    return sender, receiver


async def test_a_small_write_goes_out_without_the_reactor_and_the_close_follows():
    sender, receiver = await _exchange([b"220 ready\r\n", b"250 ok\r\n"], "close")
    assert sender.registered_after_write is False  # sent at once, nothing left to wait for
    assert bytes(receiver.data) == b"220 ready\r\n250 ok\r\n"


async def test_a_write_bigger_than_the_socket_takes_is_finished_by_the_reactor():
    payload = bytes(range(256)) * 40_000  # 10 MB: more than any socket buffer
    sender, receiver = await _exchange([payload[:1000], payload[1000:]], "close")
    assert sender.registered_after_write is True
    assert bytes(receiver.data) == payload


async def test_an_abort_drops_the_connection():
    _sender, receiver = await _exchange([b"x" * 100], "abort")
    assert receiver.closed.done()
