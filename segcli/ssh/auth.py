"""Who may log in over SSH: password and public-key checkers over the appliance's accounts,
and the pause after a wrong password that grows with every failure from the same place.

The checkers only ask an :class:`Accounts` object (``engine.store.users.Users`` in the
appliance), always in a worker thread: bcrypt is slow on purpose and the store is a
file, and neither may stall the event loop that every session and the mail share.
Nothing is reachable without credentials: the ``none`` method is never offered.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Protocol

from twisted.conch.error import ValidPublicKey
from twisted.conch.ssh import keys, userauth
from twisted.cred.checkers import ICredentialsChecker
from twisted.cred.credentials import ISSHPrivateKey, IUsernamePassword, SSHPrivateKey
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, threads
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from zope.interface import implementer

if TYPE_CHECKING:
    from twisted.conch.ssh.transport import SSHTransportBase
    from twisted.python.failure import Failure

    from engine.store.users import User


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


class FailedLogins:
    """Failed passwords per source address over a sliding window.

    Each failure from a source doubles the pause before the refusal is sent
    (1, 2, 4, ... seconds, at most *cap*), whether the guesses come over one
    connection or many; a source that stops guessing for *window* seconds is
    forgotten.  The pause is a timer, never a sleep: other sessions run meanwhile.
    """

    def __init__(self, *, base: float = 1.0, cap: float = 16.0, window: float = 600.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base, self.cap, self.window = base, cap, window
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}

    def record(self, source: str) -> float:
        """Count a failure from *source*; return the pause before refusing it."""
        now = self._clock()
        self._forget_before(now - self.window)
        failures = self._failures.setdefault(source, deque())
        failures.append(now)
        return min(self.cap, self.base * 2 ** (len(failures) - 1))

    def _forget_before(self, moment: float) -> None:
        for source in list(self._failures):
            failures = self._failures[source]
            while failures and failures[0] < moment:
                failures.popleft()
            if not failures:
                del self._failures[source]


class UserAuthServer(userauth.SSHUserAuthServer):
    """Conch's ``ssh-userauth`` service with segcli's limits: a growing pause after a
    wrong password (see :class:`FailedLogins`, shared by every connection to the
    server), at most a few tries per connection (like OpenSSH's MaxAuthTries) and two
    minutes to log in (LoginGraceTime)."""

    attemptsBeforeDisconnect = 5  # the sixth wrong try ends the connection
    loginTimeout = 120

    def __init__(self, failed_logins: FailedLogins) -> None:
        self.failed_logins = failed_logins

    def _ebPassword(self, f: Failure) -> Deferred[Failure]:
        pause = self.failed_logins.record(peer_host(self.transport))
        refused: Deferred[Failure] = defer.Deferred()
        self.clock.callLater(pause, refused.callback, f)
        return refused


def peer_host(transport: SSHTransportBase | None) -> str:
    """The address the client connects from ("" when there is no connection, which a
    running service always has)."""
    connection = transport.transport if transport is not None else None
    address = connection.getPeer() if connection is not None else None
    return address.host if isinstance(address, IPv4Address | IPv6Address) else ""
