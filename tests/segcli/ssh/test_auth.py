"""The pause after a wrong SSH password (segcli/ssh/auth.py): it doubles with each
failure from the same source, up to a cap, and a quiet source is forgotten.

segcli.ssh.auth imports Conch, which imports the reactor: it is imported once the asyncio
reactor is installed (the ``reactor_loop`` fixture), never at collection time.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def failed_logins(reactor_loop):
    from segcli.ssh.auth import FailedLogins

    now = [0.0]
    failures = FailedLogins(base=1.0, cap=8.0, window=600.0, clock=lambda: now[0])
    return failures, now


def test_the_pause_doubles_per_source_up_to_the_cap(failed_logins):
    failures, _ = failed_logins
    assert [failures.record("192.0.2.1") for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert failures.record("192.0.2.2") == 1.0  # another source has its own count


def test_a_source_that_stops_guessing_is_forgotten(failed_logins):
    failures, now = failed_logins
    failures.record("192.0.2.1")
    failures.record("192.0.2.1")
    now[0] = 601.0
    assert failures.record("192.0.2.1") == 1.0
