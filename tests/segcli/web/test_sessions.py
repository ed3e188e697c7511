"""The web interface's session table: random tokens, one CSRF token and one pending-changes
view per session, expiry after the configured inactivity (on a clock the test moves), and
the login's ``next`` that never leaves the server."""

from __future__ import annotations

from engine.config.changes import SetCliTimeout
from engine.store.users import Role
from segcli.web.app import _safe_next
from segcli.web.sessions import MINUTE, SessionTable


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_sessions_have_their_own_tokens_and_expire_after_the_configured_idle_time(appliance):
    clock = Clock()
    table = SessionTable(appliance, clock=clock)
    admin, viewer = table.create("admin", Role.ADMIN), table.create("viewer", Role.READONLY)
    assert len({admin.token, viewer.token, admin.csrf_token, viewer.csrf_token}) == 4
    assert (admin.can_change, viewer.can_change) == (True, False)
    assert admin.pending is not viewer.pending and not admin.pending

    minutes = appliance.config.admin_access.cli_timeout
    clock.now += minutes * MINUTE - 1
    assert table.find(admin.token) is admin  # still alive: its clock starts again
    clock.now += minutes * MINUTE - 1
    assert table.find(admin.token) is admin
    assert table.find(viewer.token) is None  # idle longer than the timeout: gone for good
    clock.now -= 10 * MINUTE
    assert table.find(viewer.token) is None
    assert table.find("") is None and table.find("made-up") is None


def test_a_committed_timeout_applies_to_live_sessions_at_once(appliance):
    import asyncio

    clock = Clock()
    table = SessionTable(appliance, clock=clock)
    session = table.create("admin", Role.ADMIN)
    asyncio.run(appliance.commit([SetCliTimeout(5)], user="admin", comment="", rollback=True))
    clock.now += 6 * MINUTE
    assert table.find(session.token) is None


def test_logging_out_ends_the_session(appliance):
    table = SessionTable(appliance)
    session, other = table.create("admin", Role.ADMIN), table.create("admin", Role.ADMIN)
    table.end(session.token)
    assert table.find(session.token) is None
    assert table.find(other.token) is other


def test_after_login_only_a_path_of_this_server():
    assert _safe_next("/security/tdc") == "/security/tdc"
    for elsewhere in ("https://evil.example/", "//evil.example/", "/\\evil.example", "", "tdc"):
        assert _safe_next(elsewhere) == ""
