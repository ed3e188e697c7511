"""Who may log in over SSH: password and public-key checkers over the appliance's accounts,
and the user-auth service that checks a password only when the server's login throttle
(:mod:`segcli.ssh.throttle`: wrong passwords cost time per source and per account,
across connections) lets it.

The checkers only ask an :class:`Accounts` object (``engine.store.users.Users`` in the
appliance), always in a worker thread: bcrypt is slow on purpose and the store is a
file, and neither may stall the event loop that every session and the mail share.
Nothing is reachable without credentials: the ``none`` method is never offered.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from twisted.conch.error import ValidPublicKey
from twisted.conch.interfaces import IConchUser
from twisted.conch.ssh import keys, userauth
from twisted.conch.ssh.common import getNS
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import (
    ISSHPrivateKey,
    IUsernamePassword,
    SSHPrivateKey,
    UsernamePassword,
)
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, threads
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from zope.interface import implementer

from segcli.ssh.throttle import ConnectionGone, LoginThrottle

if TYPE_CHECKING:
    from twisted.conch.ssh.transport import SSHTransportBase

    from engine.store.users import User


T = TypeVar("T")

#: What a checker answers for accepted credentials, as ICredentialsChecker types it (the
#: empty tuple is Twisted's anonymous avatar; segcli's checkers give a user name).
AvatarId = bytes | tuple[()]


class Accounts(Protocol):
    """What the SSH server needs from the accounts (``engine.store.users.Users`` provides it).
    The methods are synchronous; the server calls them in a thread."""

    def get(self, name: str) -> User | None: ...

    def authenticate(self, name: str, password: str) -> User | None: ...

    def public_keys(self, name: str) -> list[str]: ...


def _text(value: bytes) -> str:
    """A user name or password as sent; bytes that are not UTF-8 can match no account."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise UnauthorizedLogin("not UTF-8") from None


@implementer(ICredentialsChecker)
class PasswordChecker:
    credentialInterfaces = (IUsernamePassword,)

    def __init__(self, accounts: Accounts) -> None:
        self._accounts = accounts

    @defer.inlineCallbacks
    def requestAvatarId(self, credentials: IUsernamePassword
                        ) -> Generator[Deferred[User | None], User | None, AvatarId]:
        name, password = _text(credentials.username), _text(credentials.password)
        user = yield threads.deferToThread(self._accounts.authenticate, name, password)
        if user is None:
            raise UnauthorizedLogin("wrong user name or password")
        return user.name.encode("utf-8")  # avatar IDs are bytes (the realm decodes them)


@implementer(ICredentialsChecker)
class PublicKeyChecker:
    """A key listed for the user, then proof that the client holds its private half.

    A key offered without a signature is answered "acceptable" (ValidPublicKey) only
    when it is one of the user's keys, as OpenSSH's server does: the client signs only
    with a key that can work.
    """

    credentialInterfaces = (ISSHPrivateKey,)

    def __init__(self, accounts: Accounts) -> None:
        self._accounts = accounts

    @defer.inlineCallbacks
    def requestAvatarId(self, credentials: SSHPrivateKey
                        ) -> Generator[Deferred[list[str]], list[str], AvatarId]:
        # Typed as the class Conch's user-auth service makes: the ISSHPrivateKey
        # interface declares none of the attributes its documentation lists.
        name = _text(credentials.username)
        lines = yield threads.deferToThread(self._accounts.public_keys, name)
        if credentials.blob not in {_blob(line) for line in lines}:
            raise UnauthorizedLogin("key not authorized")
        if not credentials.signature:
            raise ValidPublicKey()
        key = keys.Key.fromString(credentials.blob)
        if not key.verify(credentials.signature, credentials.sigData):
            raise UnauthorizedLogin("bad signature")
        return name.encode("utf-8")


def _blob(line: str) -> bytes | None:
    """The wire form of an ``authorized_keys`` line's key (None if it cannot be read)."""
    try:
        return keys.Key.fromString(line.encode("utf-8")).blob()
    except (keys.BadKeyError, ValueError, IndexError):
        return None


class UserAuthServer(userauth.SSHUserAuthServer):
    """Conch's ``ssh-userauth`` service with segcli's limits: a password is checked when
    the server's :class:`~segcli.ssh.throttle.LoginThrottle` (shared by all its
    connections) lets it, and a wrong one is refused after the throttle's pause; at
    most a few tries per connection (like OpenSSH's MaxAuthTries) and two minutes to
    log in (LoginGraceTime)."""

    attemptsBeforeDisconnect = 5  # the sixth wrong try ends the connection
    loginTimeout = 120

    def __init__(self, throttle: LoginThrottle) -> None:
        self.throttle = throttle
        self._stopped = False
        self._password_pending = False

    def auth_password(self, packet: bytes) -> Deferred[Any]:
        """Conch's password method, its check made when the throttle lets it.  One at a
        time per connection (more could wait in the throttle without bound); the
        credentials are taken now, as the client may send its next request meanwhile."""
        if self._password_pending:  # a client may not queue guesses on one connection
            return defer.fail(UnauthorizedLogin("one password at a time"))
        user = self.user or b""
        password = getNS(packet[1:])[0]
        self._password_pending = True
        attempt = self.throttle.attempt(peer_host(self.transport), user.decode("utf-8", "replace"),
                                        lambda: self._check_password(user, password))
        return attempt.addBoth(self._answered)

    def _answered(self, result: T) -> T:
        self._password_pending = False
        return result

    def _check_password(self, user: bytes, password: bytes) -> Deferred[Any]:
        """The portal's check, unless the client left while the attempt waited its turn.
        (Conch's own pause after a failure, one per connection, is not used.)"""
        if self._stopped:
            return defer.fail(ConnectionGone())
        return self.portal.login(UsernamePassword(user, password), None, IConchUser)

    def serviceStopped(self) -> None:
        self._stopped = True
        super().serviceStopped()


def peer_host(transport: SSHTransportBase | None) -> str:
    """The address the client connects from ("" when there is no connection, which a
    running service always has)."""
    connection = transport.transport if transport is not None else None
    address = connection.getPeer() if connection is not None else None
    return address.host if isinstance(address, IPv4Address | IPv6Address) else ""
