"""``workqueue pause``: the work queue stops taking messages until ``resume``.

While paused, accepted messages are still stored and acknowledged (``250``), but the
work queue does not process them: they stay durably in state ``work`` in the store, no
policy runs, nothing is delivered and no journal copy is made.  The gate holds them in
arrival order; ``resume`` hands them back to the engine.  The pause itself lives in
memory: a restart re-runs the work queue for every message still in state ``work``.

Tests: tests/engine/mail/test_work_pause.py.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class WorkPause:
    """Who paused the work queue, why, and when."""

    user: str
    reason: str
    since: float = field(default_factory=time.time)


class WorkGate(Generic[T]):
    def __init__(self) -> None:
        self.pause: WorkPause | None = None
        self._held: deque[T] = deque()

    @property
    def held(self) -> int:
        return len(self._held)

    def close(self, user: str, reason: str) -> bool:
        """Pause; False (and the first pause kept) when already paused."""
        if self.pause is not None:
            return False
        self.pause = WorkPause(user, reason)
        return True

    def hold(self, item: T) -> bool:
        """Keep *item* while paused; False (not kept) when the work queue runs."""
        if self.pause is None:
            return False
        self._held.append(item)
        return True

    def open(self) -> list[T]:
        """Resume: what was held, oldest first (empty when it was not paused)."""
        self.pause = None
        held, self._held = list(self._held), deque()
        return held
