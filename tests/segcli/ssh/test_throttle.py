"""The login throttle (segcli/ssh/throttle.py) on a clock the test moves: pauses per
source that follow one another, checks one at a time once a source has failed, an
account's pause that delays but never queues, and bounded memory.

Each "check" is a Deferred the test fires, standing for the portal's password check.
"""

from __future__ import annotations

import pytest
from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, task

from segcli.ssh.throttle import CLEAN_CONCURRENCY, ConnectionGone, LoginThrottle, source_key

BASE, CAP, ACCOUNT_BASE, ACCOUNT_CAP = 1.0, 8.0, 1.0, 4.0


class Attempt:
    """One login attempt through the throttle; its check is answered by the test."""

    def __init__(self, throttle: LoginThrottle, source: str, account: str = "admin") -> None:
        self.check: defer.Deferred[str] | None = None
        self.outcome: list[object] = []
        throttle.attempt(source, account, self._check).addBoth(self.outcome.append)

    def _check(self) -> defer.Deferred[str]:
        self.check = defer.Deferred()
        return self.check

    @property
    def checking(self) -> bool:
        return self.check is not None and not self.check.called

    def wrong(self) -> None:
        assert self.check is not None, "not checked yet"
        self.check.errback(UnauthorizedLogin("wrong password"))

    def right(self) -> None:
        assert self.check is not None, "not checked yet"
        self.check.callback("admin")

    @property
    def refused(self) -> bool:
        return bool(self.outcome) and getattr(self.outcome[0], "check", None) is not None \
            and self.outcome[0].check(UnauthorizedLogin) is not None


@pytest.fixture
def clock() -> task.Clock:
    return task.Clock()


@pytest.fixture
def throttle(clock: task.Clock) -> LoginThrottle:
    return LoginThrottle(clock=clock, base=BASE, cap=CAP, account_base=ACCOUNT_BASE,
                         account_cap=ACCOUNT_CAP)


def fail_all_when_checked(attempts: list[Attempt], clock: task.Clock) -> list[float]:
    """Answer every check "wrong" as soon as it is made; the times of the refusals."""
    refused_at: dict[int, float] = {}
    while len(refused_at) < len(attempts):
        for number, attempt in enumerate(attempts):
            if attempt.checking:
                attempt.wrong()
            if attempt.outcome and number not in refused_at:
                refused_at[number] = clock.seconds()
        if len(refused_at) < len(attempts):
            clock.advance(0.25)
    return sorted(refused_at.values())


def test_guesses_sent_at_once_are_refused_one_pause_after_another(throttle, clock):
    attempts = [Attempt(throttle, "192.0.2.1") for _ in range(6)]
    refused = fail_all_when_checked(attempts, clock)
    assert all(attempt.refused for attempt in attempts)
    # 1, 2, 4, 8, 8, 8 seconds, each after the one before: 31 s for six guesses.
    assert refused == [1.0, 3.0, 7.0, 15.0, 23.0, 31.0]


def test_a_source_that_failed_has_one_check_at_a_time(throttle, clock):
    clean = [Attempt(throttle, "192.0.2.1") for _ in range(CLEAN_CONCURRENCY + 1)]
    assert sum(a.checking for a in clean) == CLEAN_CONCURRENCY  # automation may log in at once
    for attempt in clean[:CLEAN_CONCURRENCY]:
        attempt.right()
    assert clean[-1].checking
    clean[-1].wrong()
    clock.advance(BASE)
    after = [Attempt(throttle, "192.0.2.1", account=f"user{n}") for n in range(3)]
    assert [a.checking for a in after] == [True, False, False]


def test_the_owner_from_elsewhere_waits_only_the_account_pause(throttle, clock):
    guesses = [Attempt(throttle, "192.0.2.1") for _ in range(4)]
    for guess in guesses:
        guess.wrong()  # four failures for admin: the account's pause is at its cap
    owner = Attempt(throttle, "198.51.100.7")
    assert not owner.checking
    clock.advance(ACCOUNT_CAP - 0.01)
    assert not owner.checking
    clock.advance(0.01)
    assert owner.checking  # not behind the guesser's refusals, which take 1+2+4+8 s
    owner.right()
    assert owner.outcome == ["admin"]


def test_a_right_password_after_the_pauses_is_not_held(throttle, clock):
    first = Attempt(throttle, "192.0.2.1")
    first.wrong()
    clock.advance(BASE)
    assert first.refused
    second = Attempt(throttle, "192.0.2.1")
    assert second.checking  # the account's pause (1 s) has passed too
    second.right()
    assert second.outcome == ["admin"]


def test_quiet_sources_and_accounts_are_forgotten(throttle, clock):
    Attempt(throttle, "192.0.2.1", account="guessed").wrong()
    clock.advance(throttle.window + 1)
    later = Attempt(throttle, "192.0.2.2", account="other")
    assert later.checking
    assert len(throttle.sources) == 1 and len(throttle.accounts) == 0
    later.wrong()
    clock.advance(BASE)
    assert later.refused  # the pause of a first failure: nothing older counts


def test_memory_is_bounded_however_many_sources_guess(clock):
    throttle = LoginThrottle(clock=clock, base=BASE, cap=CAP, max_tracked=50)
    for number in range(500):
        Attempt(throttle, f"10.0.{number // 250}.{number % 250}", account=f"u{number}").wrong()
        clock.advance(BASE)
    assert len(throttle.sources) <= 50 and len(throttle.accounts) <= 50


def test_too_many_waiting_attempts_from_one_source_are_refused_unchecked(clock):
    throttle = LoginThrottle(clock=clock, base=BASE, cap=CAP, max_waiting=3)
    first = Attempt(throttle, "192.0.2.1")
    first.wrong()
    waiting = [Attempt(throttle, "192.0.2.1") for _ in range(3)]
    extra = Attempt(throttle, "192.0.2.1")
    assert extra.refused and extra.check is None
    assert not any(a.outcome for a in waiting)


def test_an_attempt_whose_connection_left_counts_for_nothing(throttle, clock):
    def gone() -> defer.Deferred[str]:
        return defer.fail(ConnectionGone())

    outcome: list[object] = []
    throttle.attempt("192.0.2.1", "admin", gone).addErrback(outcome.append)
    assert outcome and outcome[0].check(ConnectionGone)
    assert Attempt(throttle, "192.0.2.1").checking  # no pause, no failure recorded


def test_an_ipv6_host_is_its_slash_64():
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::2")
    assert source_key("2001:db8:1:3::1") != source_key("2001:db8:1:2::1")
    assert source_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert source_key("192.0.2.1") == "192.0.2.1"
