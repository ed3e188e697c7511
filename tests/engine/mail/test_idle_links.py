"""Idle connections of a queue (engine/mail/link_tasks.py: IdleLinks): something new wakes
the one idle longest, a change for all wakes every one, a waiter that timed out is skipped."""

from __future__ import annotations

import asyncio

import pytest

from engine.mail.link_tasks import IdleLinks
from tests.engine.mail.fake_clock import FakeClock

pytestmark = pytest.mark.usefixtures("run")


async def _waiting(idle: IdleLinks, clock: FakeClock, count: int, timeout: float = 60.0
                   ) -> list[asyncio.Task[bool]]:
    tasks = []
    for _ in range(count):  # one after another: the first is the one idle longest
        tasks.append(asyncio.ensure_future(idle.wait(clock, timeout)))
        await asyncio.sleep(0)
    return tasks


async def test_something_new_wakes_the_link_idle_longest_and_no_other():
    idle, clock = IdleLinks(), FakeClock()
    first, second, third = await _waiting(idle, clock, 3)
    idle.wake()
    assert await first is True
    await asyncio.sleep(0)
    assert not second.done() and not third.done() and len(idle) == 2
    idle.wake()
    assert await second is True
    assert not third.done()
    idle.wake(everyone=True)
    assert await third is True and len(idle) == 0


async def test_a_change_for_all_wakes_every_idle_link():
    idle, clock = IdleLinks(), FakeClock()
    tasks = await _waiting(idle, clock, 4)
    idle.wake(everyone=True)
    assert await asyncio.gather(*tasks) == [True] * 4


async def test_a_link_whose_wait_timed_out_is_skipped_and_the_next_one_woken():
    idle, clock = IdleLinks(), FakeClock()
    short = asyncio.ensure_future(idle.wait(clock, 1.0))
    await asyncio.sleep(0)
    (long,) = await _waiting(idle, clock, 1, timeout=60.0)
    clock.advance(2.0)
    assert await short is False  # timed out, still in the line until skipped
    idle.wake()
    assert await long is True  # the wake-up was not spent on the link that had gone
    idle.wake()  # nobody waits: nothing happens
    assert len(idle) == 0
