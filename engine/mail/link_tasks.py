"""The tasks that run a queue's outbound connections: how idle ones wait, how all stop.

Ordinary delivery and the TDC queue each run one task per connection.  Both stop the
same way -- every task cancelled, then each awaited so its own clean-up (closing its
connection, its counters) has run before the engine closes the store -- and their
connections with nothing to send wait the same way (:class:`IdleLinks`); this is where
both are written, once.

Tests: tests/engine/mail/test_tdc_timing.py, tests/engine/mail/test_tdc_queue.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Coroutine
from typing import Any

from engine.mail.clock import Clock, wait_at_most


class LinkTasks:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, link: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run *link* as a task, held until it is done."""
        task = asyncio.ensure_future(link)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def cancel_all(self) -> None:
        """Cancel every task, then wait for each to finish; how one ended is its own
        business (it was cancelled, or failed on its way out)."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def __len__(self) -> int:
        return len(self._tasks)


class IdleLinks:
    """A queue's connections with nothing to send, each waiting for a reason to look again.

    Something new to send wakes one of them, the one idle longest; what concerns them all
    (nothing left or coming any more, so they close; delivery suspended) wakes every one.
    Waking all of them for each message, as an ``asyncio.Event`` does, made all but one
    find nothing and start waiting again, each with a new task and timer: at 240
    messages/s the TDC queue's 20 connections idle between copies all woke for each one
    (about 1.5% of segcli's CPU there, benchmarks/README.md).
    """

    def __init__(self) -> None:
        self._waiting: deque[asyncio.Future[None]] = deque()

    async def wait(self, clock: Clock, timeout: float) -> bool:
        """Until woken or *timeout* seconds of *clock* have passed; True when woken.
        Whatever woke it, the caller looks at its queue again: a copy may be there either
        way, and a woken link may find another link has taken it."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        return await wait_at_most(clock, waiter, timeout)

    def wake(self, everyone: bool = False) -> None:
        """Wake the link idle longest (a waiter timed out or cancelled is skipped), or
        with *everyone* all of them."""
        waiting = self._waiting
        while waiting:
            waiter = waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                if not everyone:
                    return

    def __len__(self) -> int:
        """How many are waiting (those timed out and not yet skipped included)."""
        return len(self._waiting)
