"""The pause after a wrong SSH password (segcli/ssh_auth.py): it doubles with each
failure from the same source, up to a cap, and a quiet source is forgotten."""

from __future__ import annotations

from segcli.ssh_auth import FailedLogins


def test_the_pause_doubles_per_source_up_to_the_cap():
    now = [0.0]
    failures = FailedLogins(base=1.0, cap=8.0, window=600.0, clock=lambda: now[0])
    assert [failures.record("192.0.2.1") for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert failures.record("192.0.2.2") == 1.0  # another source has its own count


def test_a_source_that_stops_guessing_is_forgotten():
    now = [0.0]
    failures = FailedLogins(base=1.0, cap=16.0, window=600.0, clock=lambda: now[0])
    failures.record("192.0.2.1")
    failures.record("192.0.2.1")
    now[0] = 601.0
    assert failures.record("192.0.2.1") == 1.0
