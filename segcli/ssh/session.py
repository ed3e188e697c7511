"""Conch's side of a login, kept in Twisted's own shape (docs/conch/examples/
sshsimpleserver.py): the realm makes one avatar per login, the avatar names the
channels and subsystems it may open, and an :class:`ISession` adapter turns one
session channel's requests (pty-req, window-change, shell, exec) into a CLI on that
channel (:mod:`segcli.ssh.shells`).  A request that cannot be served is refused; the
connection and its other channels carry on.

This module is the top of the package: it chooses what serves a channel (an ``scp``
exec request goes to :mod:`segcli.ssh.scp` before a shell sees it; the ``sftp``
subsystem to :mod:`segcli.ssh.sftp`), and none of those imports it back.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from twisted.conch.avatar import ConchUser
from twisted.conch.interfaces import (
    EnvironmentVariableNotPermitted,
    IConchUser,
    ISession,
    ISessionSetEnv,
)
from twisted.conch.ssh.filetransfer import ISFTPServer
from twisted.conch.ssh.session import SSHSession
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm
from twisted.internet import threads
from twisted.internet.defer import Deferred
from twisted.internet.error import ProcessTerminated
from twisted.python import components
from twisted.python.failure import Failure
from zope.interface import Interface, implementer

from engine.appliance import ASYNCOS_VERSION, MODEL
from segcli.ssh.lines import split_commands
from segcli.ssh.scp import ScpCommand, ScpTransfer
from segcli.ssh.sftp import ConfigurationFiles, ConfigurationTransfer
from segcli.ssh.shells import ChannelCli, Login, PlainCli, PromptCli, Pty

if TYPE_CHECKING:
    from twisted.conch.ssh.session import SSHSessionProcessProtocol

    from engine.appliance import Appliance
    from engine.store.users import User
    from segcli.ssh.auth import Accounts

log = logging.getLogger(__name__)

UNSUPPORTED_SCP = ("segcli: scp copies single files into and out of /configuration "
                   "(no -r: there are no directories to copy).\n")
#: ``ssh -o SetEnv=SEGCLI_PLAIN=1`` asks for the plain renderer even at a real terminal.
PLAIN_ENV = b"SEGCLI_PLAIN"
#: What a realm gives the portal for a login: interface, avatar, logout (typed as IRealm
#: types it).
_Login = tuple[type[Interface], object, Callable[[], None]]


@dataclass
class SshContext:
    """What every login on one server shares."""

    appliance: Appliance
    accounts: Accounts
    last_logins: LastLogins
    #: The CLIs running now, so that a stopping server can end them.
    clis: set[ChannelCli | ScpTransfer] = field(default_factory=set)

    @property
    def data_dir(self) -> Path:
        return self.appliance.options.data_dir


class LastLogins:
    """Each user's previous login (when, from where) for the ``Last login:`` line that
    ends the banner, kept in a small JSON file so that it survives restarts."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock: asyncio.Lock | None = None

    async def swap(self, user: str, source: str) -> tuple[datetime, str] | None:
        """Record this login; return the one before it (None for a first login)."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:  # two logins at once must not lose each other's record
            return await asyncio.to_thread(self._swap, user, source)

    def _swap(self, user: str, source: str) -> tuple[datetime, str] | None:
        try:
            records = json.loads(self._path.read_text(encoding="utf-8"))
            previous = records.get(user)
            previous = (datetime.fromisoformat(previous[0]), str(previous[1])) if previous else None
        except (OSError, ValueError, TypeError, IndexError, AttributeError):
            records, previous = {}, None  # missing or damaged: start again
        if not isinstance(records, dict):
            records = {}
        records[user] = [datetime.now().astimezone().isoformat(), source]
        partial = self._path.with_name(f".{self._path.name}.partial")
        try:
            partial.write_text(json.dumps(records, indent=1), encoding="utf-8")
            os.replace(partial, self._path)
        except OSError:  # a full disk must not keep anyone from logging in
            log.exception("could not record the login of %s", user)
        return previous


def banner(previous: tuple[datetime, str] | None, idle_minutes: int) -> str:
    """The login banner in the appliance's order: ``Last login:`` first (the line automation
    harnesses wait for), then the AsyncOS version, the Welcome line and the NOTE on the
    idle timeout (true: the shell is closed after *idle_minutes* idle) before the prompt."""
    version, _, build = ASYNCOS_VERSION.partition("-")
    if previous is None:
        last = "Last login: never"
    else:
        when, source = previous
        last = f"Last login: {when.astimezone():%a %b %d %H:%M:%S %Y} from {source}"
    return (f"{last}\n"
            f"AsyncOS {version} for Cisco {MODEL} build {build}\n\n"
            f"Welcome to the Cisco {MODEL} Email Security Virtual Appliance\n\n"
            f"NOTE: This session will expire if left idle for {idle_minutes} minutes. Any "
            "uncommitted configuration changes will be lost. Commit the configuration changes "
            "as soon as they are made.\n")


# -- channels -----------------------------------------------------------------------------

class SessionChannel(SSHSession):
    """Conch's session channel, except that a subsystem (SFTP) the client ends says
    "exit status 0" before the channel closes: OpenSSH's scp counts a transfer without
    one as failed."""

    def eofReceived(self) -> None:
        if self.session is None and self.client is not None and self.conn is not None:
            self.conn.sendRequest(self, b"exit-status", struct.pack(">L", 0))
        super().eofReceived()


# -- avatar and realm -------------------------------------------------------------------

class SegcliAvatar(ConchUser):
    """One logged-in user: session channels (shell, exec) and the SFTP subsystem."""

    def __init__(self, user: User, context: SshContext) -> None:
        super().__init__()
        self.user = user
        self.context = context
        self.channelLookup[b"session"] = SessionChannel
        self.subsystemLookup[b"sftp"] = ConfigurationTransfer

    @property
    def data_dir(self) -> Path:
        """The appliance's data directory, whose /configuration SFTP serves this user
        (:class:`~segcli.ssh.sftp.FilesAvatar`)."""
        return self.context.data_dir

    def logout(self) -> None:
        """Nothing to release: each channel's CLI ends when its channel closes."""


@implementer(IRealm)
class SegcliRealm:
    """Makes an avatar for a user the checkers accepted, reading the account (role,
    full name) afresh in a thread: it may have changed since the last login."""

    def __init__(self, context: SshContext) -> None:
        self._context = context

    def requestAvatar(self, avatarId: bytes | tuple[()], mind: object,
                      *interfaces: type[Interface]) -> Deferred[_Login]:
        if IConchUser not in interfaces:
            raise NotImplementedError("segcli serves SSH logins only")
        if not isinstance(avatarId, bytes):  # the anonymous avatar: no checker makes it
            raise UnauthorizedLogin("no anonymous logins")
        name = avatarId.decode("utf-8")

        def made(user: User | None) -> _Login:
            if user is None:  # deleted between the password check and now
                raise UnauthorizedLogin("no such user")
            avatar = SegcliAvatar(user, self._context)
            return IConchUser, avatar, avatar.logout

        return threads.deferToThread(self._context.accounts.get, name).addCallback(made)


# -- the requests on one session channel ----------------------------------------------------

@implementer(ISession, ISessionSetEnv)
class SessionRequests:
    """One session channel: a pty (optional, resizable), then one shell or exec."""

    def __init__(self, avatar: SegcliAvatar) -> None:
        self.avatar = avatar
        self.pty: Pty | None = None
        self.plain = False
        self.cli: ChannelCli | ScpTransfer | None = None

    def getPty(self, term: bytes, windowSize: tuple[int, int, int, int],
               modes: list[tuple[int, int]]) -> None:
        rows, columns = windowSize[0], windowSize[1]
        self.pty = Pty(term.decode("ascii", "replace"), rows, columns)

    def windowChanged(self, newWindowSize: tuple[int, int, int, int]) -> None:
        if self.pty is None:
            raise ValueError("window change without a pty")
        self.pty.resize(newWindowSize[0], newWindowSize[1])
        if self.cli is not None:
            self.cli.resized()

    def setEnv(self, name: bytes, value: bytes) -> None:
        if name != PLAIN_ENV:
            raise EnvironmentVariableNotPermitted(name)
        self.plain = value not in (b"", b"0", b"no")

    def openShell(self, proto: SSHSessionProcessProtocol) -> None:
        if self.pty is not None and not (self.pty.wants_plain or self.plain):
            self._start(PromptCli(self._login(), proto, self.pty), proto, greet=True)
        else:
            self._start(PlainCli(self._login(), proto, self.pty), proto, greet=True)

    def execCommand(self, proto: SSHSessionProcessProtocol, command: bytes) -> None:
        text = command.decode("utf-8", "replace")
        if text.split(maxsplit=1)[:1] == ["scp"]:
            self._scp(proto, text)
            return
        self._start(PlainCli(self._login(), proto, self.pty, split_commands(text)), proto,
                    greet=False)

    def eofReceived(self) -> None:
        if self.cli is not None:
            self.cli.end_of_input()

    def closed(self) -> None:
        if self.cli is not None:
            self.cli.channel_closed()

    # -- helpers ---------------------------------------------------------------------------
    def _scp(self, proto: SSHSessionProcessProtocol, text: str) -> None:
        """The legacy SCP protocol (``scp -O``, paramiko's scp module), as the appliance
        serves /configuration to it."""
        command = ScpCommand.parse(text)
        if command is None:
            _refuse(proto, UNSUPPORTED_SCP)
            return
        context = self.avatar.context
        transfer = ScpTransfer(command, proto, context.data_dir,
                               may_write=str(self.avatar.user.role) != "readonly")
        self.cli = transfer
        context.clis.add(transfer)
        transfer.start(on_end=lambda: context.clis.discard(transfer))

    def _login(self) -> Login:
        context = self.avatar.context
        return Login(user=self.avatar.user.name, role=self.avatar.user.role,
                     appliance=context.appliance, history_dir=context.data_dir / "history")

    def _start(self, cli: ChannelCli, proto: SSHSessionProcessProtocol, *, greet: bool) -> None:
        """Run *cli*; its banner (shells only) ends with this user's previous login."""
        context = self.avatar.context
        source = proto.getPeer().address.host
        self.cli = cli
        context.clis.add(cli)
        # A shell gets the idle timeout in force at login, and its banner says it.
        minutes = context.appliance.config.admin_access.cli_timeout
        if greet:
            cli.idle_minutes = minutes

        async def greeting() -> str:
            previous = await context.last_logins.swap(self.avatar.user.name, source)
            return banner(previous, minutes) if greet else ""

        cli.start(greeting, on_end=lambda: context.clis.discard(cli))


class _Discard:
    """The client's bytes for an exec request that was refused: dropped."""

    def write(self, data: bytes) -> None:
        pass

    def loseConnection(self) -> None:
        pass


def _refuse(proto: SSHSessionProcessProtocol, message: str) -> None:
    """End an exec request at once: *message* on stderr, exit status 1.  What the client
    still sends is dropped."""
    proto.makeConnection(_Discard())
    proto.errReceived(message.encode("utf-8"))
    proto.processEnded(Failure(ProcessTerminated(exitCode=1)))


components.registerAdapter(SessionRequests, SegcliAvatar, ISession)
components.registerAdapter(ConfigurationFiles, SegcliAvatar, ISFTPServer)
