"""Which SSH services a connection may ask for (segcli/ssh/server.py ``getService``).

Conch imports the reactor: it is imported in the tests, never at collection (which would
install Twisted's default reactor before tests/reactor.py installs the asyncio one)."""

from __future__ import annotations

from typing import Any


class _Transport:
    """What getService looks at: whether the client has logged in (an avatar)."""


def _factory() -> Any:
    from twisted.cred.portal import Portal

    from segcli.ssh.server import SegcliSSHFactory
    from segcli.ssh.throttle import LoginThrottle

    return SegcliSSHFactory(Portal(None), {}, LoginThrottle())


def test_before_login_only_user_auth_is_offered():
    from segcli.ssh.auth import UserAuthServer

    factory, transport = _factory(), _Transport()
    made = factory.getService(transport, b"ssh-userauth")
    assert made is not None and made.func is UserAuthServer
    assert factory.getService(transport, b"ssh-connection") is None


def test_after_login_an_unknown_service_is_none_not_a_key_error():
    """Conch's own lookup raises KeyError for a name it lacks once the client has an
    avatar; the server answers "service not available" instead."""
    from twisted.conch.ssh.connection import SSHConnection

    factory, transport = _factory(), _Transport()
    transport.avatar = object()  # type: ignore[attr-defined]
    assert factory.getService(transport, b"ssh-connection") is SSHConnection
    assert factory.getService(transport, b"no-such-service") is None
