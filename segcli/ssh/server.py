"""The appliance's SSH server (Twisted Conch), in the process that runs the appliance.

Kept in Twisted's shape: the transport protocol and its factory here, credential
checkers in :mod:`segcli.ssh.auth`, the realm, avatar and session adapter in
:mod:`segcli.ssh.session`, the CLIs on channels in :mod:`segcli.ssh.shells`, SFTP in
:mod:`segcli.ssh.sftp` and legacy SCP in :mod:`segcli.ssh.scp` (both over
:mod:`segcli.ssh.virtual_tree`; what a channel's CLI and transfer share is in
:mod:`segcli.ssh.channel`).  :class:`SshServer` is what ``segcli.main`` starts after the
mail engine and stops before the appliance closes its store.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from twisted.conch.ssh.connection import SSHConnection
from twisted.conch.ssh.factory import SSHFactory
from twisted.conch.ssh.keys import Key
from twisted.conch.ssh.service import SSHService
from twisted.conch.ssh.transport import SSHServerTransport
from twisted.cred.portal import Portal
from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.interfaces import ISystemHandle
from twisted.internet.protocol import ServerFactory

from segcli.ssh.auth import Accounts, PasswordChecker, PublicKeyChecker, UserAuthServer
from segcli.ssh.keys import fingerprints, load_host_keys, ssh_dir
from segcli.ssh.session import LastLogins, SegcliRealm, SshContext
from segcli.ssh.throttle import LoginThrottle

if TYPE_CHECKING:
    from twisted.internet.interfaces import IListeningPort
    from twisted.python.failure import Failure

    from engine.appliance import Appliance

log = logging.getLogger(__name__)

#: How long a stopping server waits for its sessions to wind down.
STOP_GRACE_SECONDS = 5.0
#: Linux only: ask the kernel to acknowledge what was read at once (None elsewhere).
TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


def _tcp_socket(transport: object) -> socket.socket | None:
    """The TCP socket under a Twisted transport (None for anything else, as in tests
    that drive the protocol over a fake transport)."""
    handle = ISystemHandle(transport).getHandle() if ISystemHandle.providedBy(transport) else None
    return handle if isinstance(handle, socket.socket) else None


class ServerTransport(SSHServerTransport):
    """Conch's server transport, known to its factory while connected (so that a
    stopping server can close every connection).

    Its socket sends at once and acknowledges at once.  An answer goes out in several
    small writes (the echo, the output, the prompt), made in different loop turns:
    with Nagle's algorithm the second waited for the client's acknowledgement, which the
    client delays by 40 ms (delayed ACK), so every command took 44 ms (TCP_NODELAY).
    The same stall happens the other way round with a client that keeps Nagle on
    (paramiko does): a request written right after one the server did not answer (a
    channel close, then the next channel's open) waited for the server's delayed
    acknowledgement, so the server acknowledges each read at once (TCP_QUICKACK, which
    Linux clears after a while: it is set again after every read).  Figures:
    benchmarks/README.md, "SSH round trip".
    """

    ourVersionString = b"SSH-2.0-segcli"
    factory: SegcliSSHFactory
    _socket: socket.socket | None = None

    def connectionMade(self) -> None:
        self.factory.connections.add(self)
        self._socket = _tcp_socket(self.transport)
        if self._socket is not None:
            self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connectionMade()

    def dataReceived(self, data: bytes) -> None:
        super().dataReceived(data)
        if self._socket is not None and TCP_QUICKACK is not None:
            with contextlib.suppress(OSError):  # the connection is gone already
                self._socket.setsockopt(socket.IPPROTO_TCP, TCP_QUICKACK, 1)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self.factory.connections.discard(self)
        super().connectionLost(reason)


class SegcliSSHFactory(SSHFactory, ServerFactory):
    """Host keys, the portal and the services every connection uses.

    A server factory (the reactor's ``listenTCP`` is typed to take one), as Conch's
    SSHFactory is in fact: it builds server transports only."""

    protocol = ServerTransport
    services = {b"ssh-connection": SSHConnection}  # user auth: see getService

    def __init__(self, portal: Portal, host_keys: dict[bytes, Key], throttle: LoginThrottle
                 ) -> None:
        self.portal = portal
        self.privateKeys = host_keys
        self.publicKeys = {kind: key.public() for kind, key in host_keys.items()}
        self.throttle = throttle
        self.connections: set[ServerTransport] = set()

    def getService(self, transport: SSHServerTransport, service: bytes
                   ) -> Callable[[], SSHService] | None:
        """Conch's lookup, except that the user-auth service is made with this server's
        login throttle (shared by all its connections), and a service this server does
        not have is None (Conch then disconnects with "service not available") rather
        than the KeyError of Conch's own lookup once a client has logged in."""
        if service == b"ssh-userauth":
            return partial(UserAuthServer, self.throttle)
        if not hasattr(transport, "avatar"):
            return None
        return self.services.get(service)


class SshServer:
    """Listen on the appliance's SSH address; every login gets its own CLI session."""

    def __init__(self, appliance: Appliance, accounts: Accounts, *,
                 throttle: LoginThrottle | None = None) -> None:
        self.appliance = appliance
        self.accounts = accounts
        #: Wrong passwords cost time, per source and per account (defaults unless a test
        #: gives shorter pauses or a clock of its own).
        self.throttle = throttle if throttle is not None else LoginThrottle()
        self.context = SshContext(
            appliance, accounts, LastLogins(ssh_dir(appliance.options.data_dir) / "last_logins.json"))
        self.factory: SegcliSSHFactory | None = None
        self.host_key_fingerprints: list[str] = []
        self._port: IListeningPort | None = None

    async def start(self) -> int:
        """Listen (CannotListenError if the address is taken); return the port.

        Host keys are made on the first start (an RSA key takes a moment: in a thread)."""
        from twisted.internet import reactor

        host_keys = await asyncio.to_thread(load_host_keys, self.appliance.options.data_dir)
        self.host_key_fingerprints = fingerprints(host_keys)
        portal = Portal(SegcliRealm(self.context),
                        [PasswordChecker(self.accounts), PublicKeyChecker(self.accounts)])
        self.factory = SegcliSSHFactory(portal, host_keys, self.throttle)
        endpoint = self.appliance.ssh_endpoint
        self._port = reactor.listenTCP(endpoint.port, self.factory, interface=endpoint.host)
        address = self._port.getHost()  # typed IAddress (no port); a TCP port's is an IP address
        assert isinstance(address, IPv4Address | IPv6Address), address
        return address.port

    async def stop(self) -> None:
        """Stop listening, close every connection and let the sessions end (their
        pending changes are dropped, as at a disconnect)."""
        if self._port is not None:
            await defer.maybeDeferred(self._port.stopListening).asFuture(
                asyncio.get_running_loop())
            self._port = None
        if self.factory is not None:
            for transport in list(self.factory.connections):
                transport.loseConnection()
        for cli in list(self.context.clis):
            cli.channel_closed()
        sessions = [cli.finished() for cli in list(self.context.clis)]
        if sessions:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*sessions), STOP_GRACE_SECONDS)

