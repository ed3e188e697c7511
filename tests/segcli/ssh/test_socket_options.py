"""The SSH server's sockets send at once (segcli/ssh/server.py ``ServerTransport``): with
Nagle's algorithm on, every command over a shell waited 40 ms for the client's delayed
acknowledgement.  How long a round trip takes is measured by benchmarks/ssh_roundtrip.py,
not here (no timed assertions); this checks the option on a real connection."""

from __future__ import annotations

import asyncio
import socket

from engine.appliance import Appliance, StartOptions
from engine.config.model import Endpoint


async def test_a_connection_has_nagle_off(tmp_path):
    from segcli.ssh.server import SshServer

    appliance = Appliance.open(StartOptions(data_dir=tmp_path / "data",
                                            ssh=Endpoint("127.0.0.1", 0)))
    server = SshServer(appliance, appliance.users)
    try:
        port = await server.start()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            assert (await asyncio.wait_for(reader.readline(), 30)).startswith(b"SSH-2.0-segcli")
            assert server.factory is not None
            [connection] = server.factory.connections
            handle = connection.transport.getHandle()
            assert handle.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            writer.close()
            await writer.wait_closed()
    finally:
        await server.stop()
        await appliance.stop()
