"""The appliance follows a committed listener address (the move itself is in
test_listener_move.py): an address that cannot be had is reported by ``listenerconfig
print`` until a later commit moves the listener after all."""

from __future__ import annotations

import asyncio
import socket

import pytest

from commands.session import CliSession
from engine.appliance import Appliance, StartOptions
from engine.config.changes import SetListenerAddress
from tests.conftest import ScriptedTerminal
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


async def _commit_address(appliance: Appliance, port: int) -> None:
    await appliance.commit([SetListenerAddress(f"127.0.0.1:{port}")], user="admin",
                           comment="move", rollback=False)


async def _print(appliance: Appliance) -> str:
    terminal = ScriptedTerminal()
    assert await CliSession(appliance, terminal).execute("listenerconfig print")
    return terminal.text


async def test_a_taken_address_is_reported_and_a_later_commit_moves_the_listener(data_dir,
                                                                                  reserve_port):
    appliance = Appliance.open(StartOptions(data_dir=data_dir))
    try:
        await _commit_address(appliance, reserve_port())
        first = await appliance.start_mail()
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", 0))
            squatter.listen()
            taken = squatter.getsockname()[1]
            await _commit_address(appliance, taken)
            await until(lambda: appliance.listener_problem is not None)
            assert appliance.mail.endpoint.port == first
            text = await _print(appliance)
            assert (f"(The listener could not listen on 127.0.0.1:{taken} (Address already in "
                    f"use); it still listens on 127.0.0.1:{first}.)") in text, text
        second = reserve_port()
        await _commit_address(appliance, second)
        await until(lambda: appliance.smtp_port == second)
        assert appliance.listener_problem is None
        assert "could not listen" not in await _print(appliance)
        with socket.create_connection(("127.0.0.1", second), timeout=10) as client:
            assert (await asyncio.to_thread(client.recv, 64)).startswith(b"220 ")
    finally:
        await appliance.stop()
