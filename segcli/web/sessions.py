"""Logged-in web sessions: a server-side table keyed by a random token.

The browser holds only the token, in a cookie marked ``Secure; HttpOnly; SameSite=Strict``
(set and read with twisted.web's ``addCookie``/``getCookie``: no cookie parsing here).
Each session has its own CSRF token and its own pending changes -- the same
:class:`commands.session.PendingChanges` a CLI session keeps, committed by the same
:meth:`engine.appliance.Appliance.commit`, so a commit from the GUI or the CLI reaches
the other at once.  A session left alone longer than the WebUI inactivity timeout
(``adminaccessconfig``'s, in minutes) is gone; its uncommitted changes with it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from commands.session import PendingChanges
from engine.appliance import Appliance
from engine.store.users import Role

#: Seconds in a minute of the inactivity timeout.  Tests shorten it in their own appliance
#: process only (tests/e2e/web_test_app.py), so the configured minutes still decide.
MINUTE = 60.0
COOKIE = b"segcli_session"
#: The most sessions kept at once: the oldest is dropped when a login would exceed it.
MAX_SESSIONS = 1024


@dataclass
class WebSession:
    """One logged-in browser."""

    token: str
    user: str
    role: Role
    pending: PendingChanges
    csrf_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=time.monotonic)

    @property
    def can_change(self) -> bool:
        """Whether this role may change the configuration (as ``changes_config`` commands)."""
        return self.role.includes(Role.OPERATOR)


class SessionTable:
    """The sessions of one web server."""

    def __init__(self, appliance: Appliance, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.appliance = appliance
        self._clock = clock
        self._sessions: dict[str, WebSession] = {}

    def timeout_seconds(self) -> float:
        """The configured inactivity timeout, read at every request (a commit applies at once)."""
        return self.appliance.config.admin_access.cli_timeout * MINUTE

    def create(self, user: str, role: Role) -> WebSession:
        """A new session for *user* (after a successful login)."""
        self._forget_expired()
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        session = WebSession(secrets.token_urlsafe(32), user, role,
                             PendingChanges(self.appliance.running), last_seen=self._clock())
        self._sessions[session.token] = session
        return session

    def find(self, token: str | None) -> WebSession | None:
        """The live session of *token* (its inactivity clock restarted), or None."""
        if not token:
            return None
        session = self._sessions.get(token)
        if session is None:
            return None
        now = self._clock()
        if now - session.last_seen > self.timeout_seconds():
            del self._sessions[token]
            return None
        session.last_seen = now
        return session

    def end(self, token: str) -> None:
        self._sessions.pop(token, None)

    def _forget_expired(self) -> None:
        now, limit = self._clock(), self.timeout_seconds()
        for token in [t for t, s in self._sessions.items() if now - s.last_seen > limit]:
            del self._sessions[token]
