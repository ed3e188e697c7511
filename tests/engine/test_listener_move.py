"""A committed listener address takes effect at once: the listener moves, open connections
carry on, and an address that cannot be had leaves it where it was."""

from __future__ import annotations

import asyncio
import smtplib
import socket

import pytest
from twisted.internet.error import CannotListenError

from engine.config.model import Endpoint
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _greeting(port: int, host: str = "127.0.0.1") -> bytes:
    with socket.create_connection((host, port), timeout=10) as client:
        return client.recv(1024)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=10).close()
    except ConnectionRefusedError:
        return True
    return False


async def test_the_listener_moves_and_an_open_connection_carries_on(gateway, reserve_port):
    old = await gateway.start()
    client = await asyncio.to_thread(smtplib.SMTP, "127.0.0.1", old, timeout=30)
    new = reserve_port()
    await gateway.engine.listen_on(Endpoint("127.0.0.1", new))
    assert gateway.engine.endpoint == Endpoint("127.0.0.1", new)
    assert (await asyncio.to_thread(_greeting, new)).startswith(b"220 gw.example.com ESMTP")
    assert await asyncio.to_thread(_refused, old)
    msg = "Subject: still here\r\n\r\nsent on the connection opened before the move\r\n"
    await asyncio.to_thread(client.sendmail, "alice@example.org", ["bob@example.com"], msg)
    await asyncio.to_thread(client.quit)
    await until(lambda: len(gateway.sink.messages) == 1)


async def test_the_same_port_on_another_address(gateway):
    port = await gateway.start()
    await gateway.engine.listen_on(Endpoint("0.0.0.0", port))
    assert (await asyncio.to_thread(_greeting, port)).startswith(b"220 ")
    assert gateway.engine.endpoint == Endpoint("0.0.0.0", port)


async def test_an_address_in_use_leaves_the_listener_where_it_was(gateway):
    old = await gateway.start()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        with pytest.raises(CannotListenError):
            await gateway.engine.listen_on(Endpoint("127.0.0.1", taken))
    assert gateway.engine.endpoint == Endpoint("127.0.0.1", old)
    assert (await asyncio.to_thread(_greeting, old)).startswith(b"220 ")


async def test_a_suspended_listener_resumes_on_the_new_address(gateway, reserve_port):
    old = await gateway.start()
    assert await gateway.engine.suspend_listener()
    new = reserve_port()
    await gateway.engine.listen_on(Endpoint("127.0.0.1", new))
    assert await asyncio.to_thread(_refused, new)  # still suspended
    assert gateway.engine.resume_listener()
    assert (await asyncio.to_thread(_greeting, new)).startswith(b"220 ")
    assert await asyncio.to_thread(_refused, old)


async def test_a_new_size_limit_and_hostname_reach_new_connections(gateway):
    port = await gateway.start()
    gateway.config.hostname = "gw2.example.com"
    gateway.config.listener.max_message_size = 4096
    gateway.engine.apply_config(gateway.config)

    def ehlo() -> tuple[bytes, str | None]:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            _, text = client.ehlo()
            return text, client.esmtp_features.get("size")
    text, size = await asyncio.to_thread(ehlo)
    assert text.startswith(b"gw2.example.com") and size == "4096"
