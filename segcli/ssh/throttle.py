"""Wrong passwords cost time: per source address and per account, across connections.

One record of recent failures is shared by every connection to the SSH server
(:class:`LoginThrottle`, held by its factory), so opening more connections buys a
guesser nothing:

- **per source** (an IPv4 address, or an IPv6 /64: one host holds a whole /64): each
  failure from a source is refused only after a pause that doubles with its recent
  failures (``base``, 2 x ``base``, ... at most ``cap``), and the refusals of one
  source are sent one after another, so N guesses sent at once take as long as N
  sent in a row.  While a source has recent failures its passwords are checked one
  at a time (a right guess cannot be learnt early by checking many in parallel); a
  source without any may have a few checked at once, as automation logging in to
  one appliance from one host does.
- **per account**: after a failure for an account, its next check (from any
  address) waits until the account's own, shorter, pause has passed.  It delays, it
  never queues: the real owner logging in from elsewhere waits at most
  ``account_cap``, however many others guess.

Memory is bounded: at most ``max_tracked`` sources and as many accounts are kept
(quiet ones forgotten after ``window`` seconds, the least recently used dropped first
when full), and at most ``max_waiting`` attempts wait per source -- more are refused
without being checked (the user-auth service lets each connection have one attempt
under way).  Pauses are timers on the reactor (a ``task.Clock`` in tests),
never sleeps.  The local console has no login and never comes here.
"""

from __future__ import annotations

import ipaddress
import logging
from collections import OrderedDict, deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

from twisted.cred.error import UnauthorizedLogin
from twisted.internet import defer, task
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

log = logging.getLogger(__name__)

T = TypeVar("T")

#: More failures than this in the window change nothing (the pause is capped long
#: before), so no more are remembered per source or account.
MAX_COUNTED = 64
#: Account names longer than this are cut in the record: no account has such a name,
#: and a guesser's 30 kB names must not fill the memory.
MAX_ACCOUNT_KEY = 64
#: Passwords a source without recent failures may have checked at once.
CLEAN_CONCURRENCY = 4


class ConnectionGone(Exception):
    """The connection closed while its attempt waited: nothing was checked, and it
    counts as no failure."""


@dataclass
class _Record:
    """Recent failures of one source or account; for a source, the checks under way
    and the attempts waiting for their turn."""

    failures: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_COUNTED))
    checking: int = 0
    waiting: deque[Deferred[None]] = field(default_factory=deque)
    #: When this source's last refusal is (or was) sent; the next one follows it.
    refusals_until: float = 0.0
    warned: bool = False

    def recent(self, now: float, window: float) -> int:
        """The failures within the last *window* seconds (older ones are dropped)."""
        while self.failures and self.failures[0] <= now - window:
            self.failures.popleft()
        return len(self.failures)

    @property
    def idle(self) -> bool:
        return not self.checking and not self.waiting


class _Records:
    """Records by key, at most *limit* of them, least recently used first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def get(self, key: str) -> _Record:
        record = self._records.get(key)
        if record is None:
            self._make_room()
            record = self._records[key] = _Record()
        self._records.move_to_end(key)
        return record

    def peek(self, key: str) -> _Record | None:
        return self._records.get(key)

    def forget_quiet(self, now: float, window: float) -> None:
        """Drop the oldest records while they hold no recent failure and no attempt."""
        while self._records:
            key, record = next(iter(self._records.items()))
            if not record.idle or record.recent(now, window):
                return
            del self._records[key]

    def _make_room(self) -> None:
        """Drop the least recently used idle record (any, if every one is busy)."""
        if len(self._records) < self.limit:
            return
        for key, record in self._records.items():
            if record.idle:
                del self._records[key]
                return
        self._records.popitem(last=False)


def source_key(host: str) -> str:
    """Who a source is: the IPv4 address, or the /64 an IPv6 address is in."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host[:MAX_ACCOUNT_KEY]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def pause_after(failures: int, base: float, cap: float) -> float:
    """The pause after the *failures*-th recent failure: base, doubling, at most cap."""
    if failures <= 0:
        return 0.0
    return min(cap, base * 2 ** min(failures - 1, MAX_COUNTED))


class LoginThrottle:
    """The failed passwords of one server (see the module's docstring): the SSH server's,
    or the web interface's login (segcli/web/app.py), each with its own record."""

    def __init__(self, *, clock: IReactorTime | None = None, base: float = 1.0,
                 cap: float = 16.0, account_base: float = 1.0, account_cap: float = 4.0,
                 window: float = 600.0, max_tracked: int = 4096, max_waiting: int = 256,
                 service: str = "SSH") -> None:
        if clock is None:
            from twisted.internet import reactor

            clock = IReactorTime(reactor)
        self._clock = clock
        #: who is throttled, in the log's warning: "SSH", or "web interface" (segcli/web/)
        self.service = service
        self.base, self.cap, self.window = base, cap, window
        self.account_base, self.account_cap = account_base, account_cap
        self.max_waiting = max_waiting
        self.sources = _Records(max_tracked)
        self.accounts = _Records(max_tracked)

    def attempt(self, source: str, account: str, check: Callable[[], Deferred[T]]) -> Deferred[T]:
        """Run *check* (a password check) when this source and account may have their
        next one; a failed check fails only after the source's pause."""
        coroutine: Coroutine[Any, Any, T] = self._attempt(
            source_key(source), account[:MAX_ACCOUNT_KEY], check)
        return Deferred.fromCoroutine(coroutine)

    async def _attempt(self, source: str, account: str, check: Callable[[], Deferred[T]]) -> T:
        now = self._clock.seconds()
        self.sources.forget_quiet(now, self.window)
        self.accounts.forget_quiet(now, self.window)
        record = self.sources.get(source)
        if len(record.waiting) >= self.max_waiting:
            raise UnauthorizedLogin("too many logins under way from this address")
        await self._turn(record)
        try:
            await self._sleep(self._account_wait(account))
            try:
                return await check()
            except ConnectionGone:
                raise
            except Exception:
                await self._sleep(self._failed(source, record, account))
                raise
        finally:
            self._done(record)

    # -- the source's turn ---------------------------------------------------------------
    def _capacity(self, record: _Record) -> int:
        recent = record.recent(self._clock.seconds(), self.window)
        return 1 if recent else CLEAN_CONCURRENCY

    def _turn(self, record: _Record) -> Deferred[None]:
        """Fires when this source may have one more password checked."""
        if not record.waiting and record.checking < self._capacity(record):
            record.checking += 1
            return defer.succeed(None)
        turn: Deferred[None] = Deferred()
        record.waiting.append(turn)
        return turn

    def _done(self, record: _Record) -> None:
        record.checking -= 1
        while record.waiting and record.checking < self._capacity(record):
            record.checking += 1
            record.waiting.popleft().callback(None)

    # -- failures --------------------------------------------------------------------------
    def _account_wait(self, account: str) -> float:
        """How long the account's last failure still holds its next check."""
        record = self.accounts.peek(account)
        if record is None:
            return 0.0
        now = self._clock.seconds()
        recent = record.recent(now, self.window)
        if not recent:
            return 0.0
        ready = record.failures[-1] + pause_after(recent, self.account_base, self.account_cap)
        return max(0.0, ready - now)

    def _failed(self, source: str, record: _Record, account: str) -> float:
        """Count a failure; return how long its refusal waits (after the source's
        previous refusal, plus this failure's pause)."""
        now = self._clock.seconds()
        self.accounts.get(account).failures.append(now)
        record.failures.append(now)
        pause = pause_after(record.recent(now, self.window), self.base, self.cap)
        record.refusals_until = max(now, record.refusals_until) + pause
        if pause >= self.cap and not record.warned:
            record.warned = True
            log.warning("%s: repeated wrong passwords from %s; each refusal now waits %g s",
                        self.service, source, pause)
        return record.refusals_until - now

    def _sleep(self, seconds: float) -> Deferred[None]:
        if seconds <= 0:
            return defer.succeed(None)
        return task.deferLater(self._clock, seconds, lambda: None)
