"""Live counters: per destination host (``the.tdc.queue`` included) and for the system.

The delivery queues update them as things happen, so ``tophosts`` and ``hoststatus``
read plain numbers instead of counting a queue of 100,000 recipients.  Counters count
events since the last ``resetcounters``; gauges (active recipients, connections)
are the present state and are never reset.  Hard bounces keep their cause, as
``hoststatus`` shows them (DMG73 definitions in ASYNCOS.md §1).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, fields
from enum import StrEnum


class BounceCause(StrEnum):
    DNS = "dns"
    SMTP_5XX = "5xx"
    FILTER = "filter"
    EXPIRED = "expired"
    OTHER = "other"


@dataclass
class HostCounters:
    host: str
    # gauges
    unattempted: int = 0
    attempted: int = 0
    connections_out: int = 0
    pending_connections: int = 0
    # counters
    delivered: int = 0
    soft_bounced_events: int = 0
    deleted: int = 0
    hard_bounced: dict[BounceCause, int] = field(
        default_factory=lambda: dict.fromkeys(BounceCause, 0))
    # state
    up: bool = True
    last_activity: float | None = None
    last_error: str = ""
    last_error_at: float | None = None

    @property
    def active(self) -> int:
        return self.unattempted + self.attempted

    @property
    def hard_bounced_total(self) -> int:
        return sum(self.hard_bounced.values())

    @property
    def completed(self) -> int:
        return self.delivered + self.hard_bounced_total + self.deleted

    # -- what the queues report ------------------------------------------------------
    def queued(self, n: int = 1) -> None:
        self.unattempted += n

    def first_attempt(self, n: int = 1) -> None:
        """Recipients move from unattempted to attempted when first tried."""
        self.unattempted -= n
        self.attempted += n

    def _leave(self, n: int, attempted: bool) -> None:
        if attempted:
            self.attempted -= n
        else:
            self.unattempted -= n
        self.last_activity = time.time()

    def delivered_ok(self, n: int = 1, *, attempted: bool = True) -> None:
        self._leave(n, attempted)
        self.delivered += n
        self.up = True

    def hard_bounce(self, cause: BounceCause, n: int = 1, *, attempted: bool = True) -> None:
        self._leave(n, attempted)
        self.hard_bounced[cause] += n

    def removed(self, n: int = 1, *, attempted: bool = False) -> None:
        """Deleted by an operator (``deleterecipients``)."""
        self._leave(n, attempted)
        self.deleted += n

    def soft_bounce(self, error: str) -> None:
        self.soft_bounced_events += 1
        self.failed(error)

    def failed(self, error: str) -> None:
        self.up = False
        self.last_error = error
        self.last_error_at = time.time()
        self.last_activity = self.last_error_at

    def reset(self) -> None:
        """``resetcounters``: counters to zero, gauges untouched."""
        self.delivered = self.soft_bounced_events = self.deleted = 0
        self.hard_bounced = dict.fromkeys(BounceCause, 0)


@dataclass
class SystemCounters:
    messages_received: int = 0
    recipients_received: int = 0
    rejected_recipients: int = 0
    dropped_messages: int = 0
    connections_in: int = 0
    messages_in_work_queue: int = 0

    def reset(self) -> None:
        for f in fields(self):
            if f.name not in ("connections_in", "messages_in_work_queue"):
                setattr(self, f.name, 0)


class Counters:
    def __init__(self) -> None:
        self.hosts: dict[str, HostCounters] = {}
        self.system = SystemCounters()
        self.started_at = time.time()
        self.reset_at: float | None = None

    def host(self, name: str) -> HostCounters:
        key = name.lower()
        counters = self.hosts.get(key)
        if counters is None:
            counters = self.hosts[key] = HostCounters(key)
        return counters

    def reset(self) -> None:
        self.system.reset()
        for host in self.hosts.values():
            host.reset()
        self.reset_at = time.time()

    # -- system-wide sums --------------------------------------------------------------
    def total(self, attribute: str) -> int:
        return sum(getattr(h, attribute) for h in self.hosts.values())
