"""A fake :class:`engine.mail.clock.Clock` for queue tests, in the manner of Twisted's
``task.Clock``: time stands still until the test calls :meth:`FakeClock.advance`, which
runs every timer that has come due, in order of due time."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Any

#: An arbitrary wall time to start from (Tue Nov 14 22:13:20 2023 UTC).
EPOCH = 1_700_000_000.0


class FakeTimer:
    def __init__(self, when: float, callback: Callable[..., Any], args: tuple[Any, ...]) -> None:
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False
        self.called = False

    def cancel(self) -> None:
        """Idempotent, like ``asyncio.TimerHandle.cancel``: also after it ran."""
        self.cancelled = True

    @property
    def pending(self) -> bool:
        return not (self.cancelled or self.called)


class FakeClock:
    def __init__(self, start: float = EPOCH) -> None:
        self._start = start
        self.elapsed = 0.0  # seconds advanced so far
        self._timers: list[tuple[float, int, FakeTimer]] = []
        self._order = itertools.count()

    def time(self) -> float:
        return self._start + self.elapsed

    def monotonic(self) -> float:
        return self.elapsed

    def call_later(self, delay: float, callback: Callable[..., Any], *args: Any) -> FakeTimer:
        timer = FakeTimer(self.elapsed + max(0.0, delay), callback, args)
        heapq.heappush(self._timers, (timer.when, next(self._order), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward by *seconds*, calling each timer due by then at its own time
        (timers those calls set, when due by then, run too)."""
        target = self.elapsed + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self.elapsed = max(self.elapsed, when)
            timer.called = True
            timer.callback(*timer.args)
        self.elapsed = target

    def advance_to(self, elapsed: float) -> None:
        """Advance to *elapsed* seconds after the start."""
        self.advance(elapsed - self.elapsed)

    def pending(self) -> list[FakeTimer]:
        """Timers not yet called nor cancelled, soonest first."""
        return [timer for _, _, timer in sorted(self._timers) if timer.pending]
