"""The appliance's side of the local console channel: ``<data>/cli.sock``.

A console started on the data directory of a running appliance connects here and gets the
CLI an SSH shell gets (:mod:`segcli.ssh.shells`): prompt_toolkit at a real terminal, the
plain renderer for a pipe or a ``dumb`` terminal, live counters, ``tail``, dialogs, and
pending changes of its own that die with it.

Who may attach: the socket is mode 0600, made under a temporary name and renamed into
place (never reachable with a wider mode), and the peer's uid (``SO_PEERCRED``) must be
the data directory owner's or root's -- anyone else is refused with a reason.  AsyncOS
has no console users besides its accounts, so an attached console runs as the factory
administrator ``admin``, as the appliance's own console does; its ``Last login:`` line
says ``from local console (uid N)``.

A socket nobody answers on is left over from a process that died, and is replaced; the
socket is removed when the appliance stops (segcli/private_socket.py makes and removes it,
as it does the lab's control socket).

Tests: tests/segcli/attach/test_server.py, tests/e2e/test_attach.py.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, cast

from engine.store.users import Role
from segcli.attach import wire
from segcli.private_socket import PrivateSocket
from segcli.ssh.keys import ssh_dir
from segcli.ssh.session import LastLogins, banner
from segcli.ssh.shells import ChannelCli, Login, PlainCli, PromptCli, Pty

if TYPE_CHECKING:
    from twisted.conch.ssh.session import SSHSessionProcessProtocol

    from engine.appliance import Appliance

__all__ = ["CONSOLE_USER", "SOCKET_NAME", "AttachError", "AttachServer", "may_attach",
           "peer_uid", "socket_path"]

SOCKET_NAME = wire.SOCKET_NAME
CONSOLE_USER = wire.CONSOLE_USER
_log = logging.getLogger(__name__)


class AttachError(Exception):
    """The console socket cannot be made (the text says why)."""


def socket_path(data_dir: Path) -> Path:
    """Where the appliance of *data_dir* takes consoles."""
    return Path(data_dir) / SOCKET_NAME


def peer_uid(sock: socket.socket) -> int:
    """The uid of the process at the other end of a connected Unix socket (the kernel's
    word, ``SO_PEERCRED``: a peer cannot claim another)."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)


def may_attach(uid: int, owner_uid: int) -> bool:
    """The data directory's owner may attach, and root; nobody else."""
    return uid in (owner_uid, 0)


class AttachServer:
    """Serves consoles for *appliance* on ``<data_dir>/cli.sock``.

    *owner_uid* is whose consoles are taken (besides root's); by default the data
    directory's owner.  Tests pass another uid to see a refusal."""

    def __init__(self, appliance: Appliance, *, owner_uid: int | None = None) -> None:
        self.appliance = appliance
        self.data_dir = appliance.options.data_dir
        self.path = socket_path(self.data_dir)
        self._socket = PrivateSocket(self.path, "console socket", AttachError)
        self.owner_uid = os.stat(self.data_dir).st_uid if owner_uid is None else owner_uid
        self.last_logins = LastLogins(ssh_dir(self.data_dir) / "last_logins.json")
        self.consoles: set[ConsoleConnection] = set()
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> Path:
        """Listen; AttachError when another live process answers on the socket or it
        cannot be made."""
        loop = asyncio.get_running_loop()
        self._server = await self._socket.listen(
            lambda sock: loop.create_unix_server(lambda: ConsoleConnection(self), sock=sock),
            busy=f"another process takes consoles on {self.path}")
        return self.path

    async def stop(self) -> None:
        """Stop listening, close every attached console, remove the socket."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        consoles = list(self.consoles)
        for console in consoles:
            console.close("the appliance is stopping")
        # closing a console cancels its session and the command it runs (tail included):
        # each ends within a few turns of the loop
        await asyncio.gather(*(console.finished() for console in consoles))
        await server.wait_closed()
        self._socket.remove()

    async def login(self) -> Login:
        """The console's login: the factory admin (see the module's docstring)."""
        user = await asyncio.to_thread(self.appliance.users.get, CONSOLE_USER)
        role = user.role if user is not None else Role.ADMIN
        return Login(user=CONSOLE_USER, role=role, appliance=self.appliance,
                     history_dir=self.data_dir / "history")


class _ChannelEnd:
    """What :class:`~segcli.ssh.shells.ChannelCli` writes to and closes, in the shape of
    Conch's session protocol (``write``, ``makeConnection``, ``loseConnection`` and the
    ``exit-status`` request of ``session.conn.sendRequest``), over this socket's frames."""

    def __init__(self, connection: ConsoleConnection) -> None:
        self._connection = connection
        self.session = self
        self.conn = self

    def write(self, data: bytes) -> None:
        self._connection.send(wire.frame(wire.DATA, data))

    def makeConnection(self, transport: object) -> None:
        """The client's bytes reach the CLI from :class:`ConsoleConnection` directly."""

    def sendRequest(self, channel: object, request: bytes, data: bytes) -> None:
        if request == b"exit-status":
            self._connection.send(wire.frame(wire.EXIT, data))

    def loseConnection(self) -> None:
        self._connection.hang_up()


class ConsoleConnection(asyncio.Protocol):
    """One attached console: the peer checked, its hello read, then one CLI."""

    def __init__(self, server: AttachServer) -> None:
        self.server = server
        self.cli: ChannelCli | None = None
        self.pty: Pty | None = None
        self._transport: asyncio.Transport | None = None
        self._frames = wire.FrameReader(wire.CLIENT_KINDS, wire.MAX_CLIENT_FRAME)
        self._starting = False
        #: Frames that came before the CLI was made (while the account was looked up).
        self._early: list[tuple[bytes, bytes]] = []
        self.uid = -1
        self._refused = False
        self._beginning: asyncio.Future[None] | None = None
        self._done = asyncio.get_running_loop().create_future()

    # -- asyncio's events ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self.server.consoles.add(self)
        sock = transport.get_extra_info("socket")
        self.uid = uid = peer_uid(sock) if sock is not None else -1
        if not may_attach(uid, self.server.owner_uid):
            _log.warning("console refused: uid %s does not own %s", uid, self.server.data_dir)
            self.refuse(f"uid {uid} may not attach to the appliance of "
                        f"{self.server.data_dir}: only its owner (uid "
                        f"{self.server.owner_uid}) and root may")

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        try:
            frames = self._frames.feed(data)
        except wire.FrameError as exc:
            self.refuse(f"not a segcli console: {exc}")
            return
        for kind, payload in frames:
            try:
                self._take(kind, payload)
            except wire.FrameError as exc:
                self.refuse(f"not a segcli console: {exc}")
                return

    def eof_received(self) -> bool:
        """The console hung up.  It says the end of its input with an ``E`` frame and
        shuts its socket only when it ends, so nobody reads what would still be written:
        the CLI's session and the command it runs (``tail`` follows the log forever) are
        cancelled now, not at the next line written into the closed socket."""
        self.hang_up()
        if self.cli is not None:
            self.cli.channel_closed()
        return True  # hang_up has closed the transport already

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if self.cli is not None:
            self.cli.channel_closed()  # the console ends when its session has
        else:
            self._finish()

    # -- frames ----------------------------------------------------------------------------
    def _take(self, kind: bytes, payload: bytes) -> None:
        if kind == wire.HELLO:
            if self._starting:
                raise wire.FrameError("a second hello")
            self._start(wire.parse_hello(payload))
            return
        if not self._starting:
            raise wire.FrameError("no hello first")
        if kind == wire.WINDOW:
            rows, columns = wire.parse_window(payload)
            if self.pty is not None:
                self.pty.resize(rows, columns)
                if self.cli is not None:
                    self.cli.resized()
        elif self.cli is None:
            self._early.append((kind, payload))
        elif kind == wire.DATA:
            self.cli.data_received(payload)
        elif kind == wire.EOF:
            self.cli.end_of_input()

    def _start(self, hello: wire.Hello) -> None:
        self._starting = True
        self.pty = Pty(hello.term, hello.rows, hello.columns) if hello.pty else None
        self._beginning = asyncio.ensure_future(self._begin())

    async def _begin(self) -> None:
        """Run the CLI: prompt_toolkit for a real terminal, the plain renderer otherwise."""
        try:
            login = await self.server.login()
        except Exception:
            _log.exception("an attached console could not log in")
            self.refuse("the appliance could not open a console (see logs/segcli.log)")
            return
        if self._refused or self._transport is None or self._transport.is_closing():
            # gone (or the appliance stopping) while the account was looked up
            self._finish()
            return
        end = cast("SSHSessionProcessProtocol", _ChannelEnd(self))
        pty = self.pty
        cli: ChannelCli
        if pty is not None and not pty.wants_plain:
            cli = PromptCli(login, end, pty)
        else:
            cli = PlainCli(login, end, pty)
        self.cli = cli
        if pty is not None:  # a person: the banner and the idle timeout, as an SSH shell
            cli.idle_minutes = self.server.appliance.config.admin_access.cli_timeout
        cli.start(self._greeting(login, cli.idle_minutes), on_end=self._finish)
        early, self._early = self._early, []
        for kind, payload in early:
            self._take(kind, payload)

    def _greeting(self, login: Login, minutes: int | None) -> Callable[[], Awaitable[str]]:
        """A pipe gets no banner (its transcript is the local console's); a terminal gets
        the SSH shell's, its ``Last login:`` naming the local console and the peer's uid."""
        source = f"local console (uid {self.uid})"

        async def greeting() -> str:
            if minutes is None:
                return ""
            previous = await self.server.last_logins.swap(login.user, source)
            return banner(previous, minutes)

        return greeting

    # -- the way out -----------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def hang_up(self) -> None:
        """Close after what is written has gone out."""
        if self._transport is not None:
            self._transport.close()

    def refuse(self, reason: str) -> None:
        """Say why, and close; whatever runs is cancelled."""
        self._refused = True
        self.send(wire.frame(wire.REFUSED, reason.encode("utf-8", "replace")))
        self.hang_up()
        if self.cli is not None:
            self.cli.channel_closed()

    def close(self, reason: str) -> None:
        """The appliance stops: say so and end the CLI (its pending changes go with it)."""
        self.refuse(reason)

    def _finish(self) -> None:
        self.server.consoles.discard(self)
        if not self._done.done():
            self._done.set_result(None)

    async def finished(self) -> None:
        """Wait until the console's CLI has ended."""
        if self.cli is not None:
            await self.cli.finished()
        if self._transport is None or self.cli is None:
            self._finish()
        await asyncio.shield(self._done)
