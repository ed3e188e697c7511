"""What every service on one SSH session channel shares, whether it is a CLI
(:mod:`segcli.ssh.shells`) or an SCP transfer (:mod:`segcli.ssh.scp`): the client's
bytes handed to it, and the exit status that ends the request.

It sits below both so that neither has to import the other; the session adapter
(:mod:`segcli.ssh.session`) is the one that chooses between them.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from twisted.conch.ssh.session import SSHSessionProcessProtocol

log = logging.getLogger(__name__)


class ChannelService(Protocol):
    """What serves one session channel: it is given what the client sends and told when
    the channel closes."""

    def data_received(self, data: bytes) -> None: ...

    def channel_closed(self) -> None: ...


class ClientBytes:
    """The "transport" Conch writes the client's bytes into (SSHSession.dataReceived), for
    whatever serves the channel (a CLI, an SCP transfer)."""

    def __init__(self, cli: ChannelService) -> None:
        self._cli = cli

    def write(self, data: bytes) -> None:
        self._cli.data_received(data)

    def writeSequence(self, data: Sequence[bytes]) -> None:
        self._cli.data_received(b"".join(data))

    def loseConnection(self) -> None:
        self._cli.channel_closed()


def exit_status_of(task: asyncio.Task[int], what: str) -> int:
    """What a channel's task ended with: its result, or 255 when it was cancelled (the
    client went away) or failed (logged as *what* failing)."""
    if task.cancelled():
        return 255
    error = task.exception()
    if error is not None:
        log.error("%s failed", what, exc_info=error)
        return 255
    return task.result()


def send_exit_status(proto: SSHSessionProcessProtocol, status: int) -> None:
    """End an exec or shell request: its exit status, then the channel closes."""
    channel = proto.session
    channel.conn.sendRequest(channel, b"exit-status", struct.pack(">L", status))
    proto.loseConnection()
