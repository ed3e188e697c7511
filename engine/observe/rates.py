"""Event rates for ``status detail``: events per hour over the last 1, 5 and 15 minutes.

AsyncOS extrapolates each window to an hour (ASYNCOS.md §3: 100 recipients in one
minute give 6,000/h, 1,200/h and 400/h).  A ring of per-second buckets covering 15
minutes keeps that exact with O(1) work per event; reading sums at most 900 buckets,
which only ``status detail`` does.  The clock is monotonic, so a change of the wall
clock neither loses nor invents events.

Tests: tests/engine/observe/test_rates.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

WINDOWS_MINUTES = (1, 5, 15)
_SPAN = max(WINDOWS_MINUTES) * 60

Clock = Callable[[], float]


class EventRate:
    """Counts of one kind of event per second, for the last 15 minutes."""

    def __init__(self, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._counts = [0] * _SPAN
        self._seconds = [-1] * _SPAN  # which second each bucket holds now

    def add(self, n: int = 1) -> None:
        second = int(self._clock())
        index = second % _SPAN
        if self._seconds[index] != second:  # the bucket held a second older than 15 minutes
            self._seconds[index] = second
            self._counts[index] = 0
        self._counts[index] += n

    def count(self, minutes: int) -> int:
        """Events in the last *minutes* minutes (the current second included)."""
        now = int(self._clock())
        oldest = now - minutes * 60
        return sum(count for count, second in zip(self._counts, self._seconds, strict=True)
                   if oldest < second <= now)

    def per_hour(self, minutes: int) -> int:
        """The events of the last *minutes* minutes extrapolated to an hour."""
        return self.count(minutes) * 60 // minutes

    def per_hour_windows(self) -> tuple[int, ...]:
        """Events per hour over 1, 5 and 15 minutes, as ``status detail`` shows them."""
        return tuple(self.per_hour(minutes) for minutes in WINDOWS_MINUTES)


@dataclass
class Rates:
    """The system-wide rates of ``status detail`` (ASYNCOS.md §3, Rates section)."""

    clock: Clock = time.monotonic
    messages_received: EventRate = field(init=False)
    recipients_received: EventRate = field(init=False)
    soft_bounced: EventRate = field(init=False)
    completed: EventRate = field(init=False)
    hard_bounced: EventRate = field(init=False)
    delivered: EventRate = field(init=False)

    def __post_init__(self) -> None:
        for name in ("messages_received", "recipients_received", "soft_bounced", "completed",
                     "hard_bounced", "delivered"):
            setattr(self, name, EventRate(self.clock))
