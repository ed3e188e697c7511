"""The time the queues live by: wall time, monotonic time and timers, injectable.

The TDC queue's rules are timings (SPEC.md §4 rulings 2 and 3: one retry ``retry_delay``
after a failure, a hard limit at enqueue + ``queue_limit``, idle connections closing),
and so are ordinary delivery's retries and expiry.  The queues read time only through a
:class:`Clock`, so a test can run them on a fake one and check those timings exactly,
the way Twisted's ``MXCalculator(resolver, clock)`` and :class:`engine.observe.rates.EventRate`
take theirs.  :data:`LOOP_CLOCK`, the default, is the real time of the running asyncio loop.

Tests: tests/engine/mail/test_clock.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol


class Timer(Protocol):
    """A scheduled call; ``cancel()`` may be called any number of times, also after it ran."""

    def cancel(self) -> None: ...


class Clock(Protocol):
    def time(self) -> float:
        """Wall time in seconds since the epoch (what the store and the log show)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back (for durations)."""
        ...

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        """Call ``callback(*args)`` after *delay* seconds of this clock."""
        ...


class LoopClock:
    """Real time: ``time.time()``, ``time.monotonic()`` and the running loop's timers."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> Timer:
        return asyncio.get_running_loop().call_later(delay, callback, *args)


LOOP_CLOCK = LoopClock()


async def wait_at_most(clock: Clock, awaitable: Awaitable[Any], timeout: float) -> bool:
    """Wait for *awaitable*, but no longer than *timeout* seconds of *clock*; True when it
    finished in time.  Like ``asyncio.wait_for`` with the timeout on *clock*: on timeout the
    awaitable is cancelled, and cancelling the caller cancels both."""
    waiter = asyncio.ensure_future(awaitable)
    outcome: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    def settle(in_time: bool) -> None:
        if not outcome.done():
            outcome.set_result(in_time)

    timer = clock.call_later(timeout, settle, False)
    waiter.add_done_callback(lambda _done: settle(True))
    try:
        if not await outcome:
            return False
        waiter.result()  # its exception, if it raised one
        return True
    finally:
        timer.cancel()
        waiter.cancel()
