"""The tasks that run a queue's outbound connections, and how they stop.

Ordinary delivery and the TDC queue each run one task per connection.  Both stop the
same way -- every task cancelled, then each awaited so its own clean-up (closing its
connection, its counters) has run before the engine closes the store -- and this is
where that is written, once.

Tests: tests/engine/mail/test_tdc_timing.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


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
