"""The queues' clock: the loop clock behaves as the loop does (cancel is idempotent), and
``wait_at_most`` times out on the clock it is given, real or fake."""

from __future__ import annotations

import asyncio
import time

import pytest

from engine.mail.clock import LOOP_CLOCK, wait_at_most
from tests.engine.mail.fake_clock import EPOCH, FakeClock

pytestmark = pytest.mark.usefixtures("run")


async def test_the_loop_clock_is_real_time_and_the_loops_timers():
    called: list[str] = []
    before = time.time()
    assert before - 1 <= LOOP_CLOCK.time() <= time.time()
    assert abs(LOOP_CLOCK.monotonic() - asyncio.get_running_loop().time()) < 0.5
    timer = LOOP_CLOCK.call_later(0.01, called.append, "ran")
    cancelled = LOOP_CLOCK.call_later(0.01, called.append, "cancelled")
    cancelled.cancel()
    cancelled.cancel()  # idempotent, as asyncio's is
    await asyncio.sleep(0.05)
    timer.cancel()  # after it ran: nothing happens
    assert called == ["ran"]


async def test_wait_at_most_on_the_loop_clock():
    event = asyncio.Event()
    started = time.monotonic()
    assert not await wait_at_most(LOOP_CLOCK, event.wait(), 0.05)
    assert time.monotonic() - started >= 0.04
    asyncio.get_running_loop().call_later(0.01, event.set)
    assert await wait_at_most(LOOP_CLOCK, event.wait(), 5)


async def test_wait_at_most_times_out_on_the_fake_clock_only():
    clock = FakeClock()
    event = asyncio.Event()
    waiting = asyncio.ensure_future(wait_at_most(clock, event.wait(), 5))
    await asyncio.sleep(0.02)
    clock.advance(4.999)
    await asyncio.sleep(0.02)
    assert not waiting.done()  # real time passed, not the clock's
    clock.advance(0.001)
    assert await waiting is False
    assert not clock.pending()


async def test_wait_at_most_returns_when_the_awaitable_finishes_and_drops_its_timer():
    clock = FakeClock()
    future = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(wait_at_most(clock, future, 5))
    await asyncio.sleep(0)
    future.set_result(None)
    assert await waiting is True
    assert not clock.pending()


async def test_cancelling_the_waiter_cancels_the_awaitable_and_the_timer():
    clock = FakeClock()
    future = asyncio.get_running_loop().create_future()
    waiting = asyncio.ensure_future(wait_at_most(clock, future, 5))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert future.cancelled() and not clock.pending()


def test_the_fake_clock_runs_timers_in_order_at_their_own_time():
    clock = FakeClock()
    seen: list[tuple[str, float]] = []
    clock.call_later(10, lambda: seen.append(("b", clock.monotonic())))
    first = clock.call_later(5, lambda: seen.append(("a", clock.monotonic())))
    clock.call_later(7, lambda: clock.call_later(1, lambda: seen.append(("c", clock.monotonic()))))
    clock.advance(9.999)
    assert seen == [("a", 5.0), ("c", 8.0)]
    first.cancel()  # after it ran: nothing happens
    clock.advance(0.001)
    assert seen[-1] == ("b", 10.0) and clock.time() == EPOCH + 10
