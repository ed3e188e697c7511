"""Live counters: per destination host (``the.tdc.queue`` included) and for the system.

The delivery queues update them as things happen, so ``tophosts`` and ``hoststatus``
read plain numbers instead of counting a queue of 100,000 recipients.  Counters count
events since the last ``resetcounters``; gauges (active recipients, connections)
are the present state and are never reset.  Hard bounces keep their cause, as
``hoststatus`` shows them (DMG73 definitions in ASYNCOS.md §1).

``status`` shows every counter in three columns (:class:`Column`): since
``resetcounters``, since this process started, and over the appliance's lifetime.  The
live fields stay "since reset in this process" (what ``tophosts`` reads); what a reset
zeroed is kept in ``before_reset`` for the Uptime column, and what earlier processes
counted comes from the store (:mod:`engine.observe.counter_store`) as ``carried`` (since the
last reset) and ``lifetime_before``.  System totals of delivery counters are the sums
over the hosts, never counted twice.

Tests: tests/engine/observe/test_counter_columns.py, test_counters_under_load.py,
test_tophosts_live.py, test_hoststatus_live.py.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum

from engine.observe.rates import Rates


class BounceCause(StrEnum):
    DNS = "dns"
    SMTP_5XX = "5xx"
    FILTER = "filter"
    EXPIRED = "expired"
    OTHER = "other"


#: The counters of a host, by the names the store and ``status`` use.
HOST_KEYS = ("delivered", "soft_bounced_events", "deleted", *(f"hard_{c}" for c in BounceCause))
#: The system's own counters (the delivery counters are sums over the hosts).
SYSTEM_KEYS = ("messages_received", "recipients_received", "rejected_recipients",
               "dropped_messages", "generated_bounces", "generated_journals")
#: The scope of the system's own counters in ``carried``/``lifetime_before`` and the store.
SYSTEM = ""


@dataclass(frozen=True)
class Column:
    """One counter as ``status`` shows it: since resetcounters, since start, lifetime."""

    reset: int = 0
    uptime: int = 0
    lifetime: int = 0

    def __add__(self, other: Column) -> Column:
        return Column(self.reset + other.reset, self.uptime + other.uptime,
                      self.lifetime + other.lifetime)


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
    # history: what resetcounters zeroed in this process (Uptime still counts it)
    before_reset: dict[str, int] = field(default_factory=dict, repr=False, compare=False)
    #: the system-wide rates this host's events feed (set by Counters.host)
    rates: Rates | None = field(default=None, repr=False, compare=False)

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
        if self.rates:
            self.rates.delivered.add(n)
            self.rates.completed.add(n)

    def hard_bounce(self, cause: BounceCause, n: int = 1, *, attempted: bool = True) -> None:
        self._leave(n, attempted)
        self.hard_bounced[cause] += n
        if self.rates:
            self.rates.hard_bounced.add(n)
            self.rates.completed.add(n)

    def removed(self, n: int = 1, *, attempted: bool = False) -> None:
        """Deleted by an operator (``deleterecipients``)."""
        self._leave(n, attempted)
        self.deleted += n
        if self.rates:
            self.rates.completed.add(n)

    def soft_bounce(self, error: str) -> None:
        self.soft_bounced_events += 1
        self.failed(error)
        if self.rates:
            self.rates.soft_bounced.add()

    def failed(self, error: str) -> None:
        self.up = False
        self.last_error = error
        self.last_error_at = time.time()
        self.last_activity = self.last_error_at

    def counts(self) -> dict[str, int]:
        """The counters since the last reset in this process, by HOST_KEYS."""
        values = {"delivered": self.delivered, "soft_bounced_events": self.soft_bounced_events,
                  "deleted": self.deleted}
        values.update({f"hard_{cause}": n for cause, n in self.hard_bounced.items()})
        return values

    def uptime_counts(self) -> dict[str, int]:
        """The counters since this process started."""
        return _plus(self.counts(), self.before_reset)

    def reset(self) -> None:
        """``resetcounters``: counters to zero, gauges untouched."""
        self.before_reset = self.uptime_counts()
        self.delivered = self.soft_bounced_events = self.deleted = 0
        self.hard_bounced = dict.fromkeys(BounceCause, 0)


@dataclass
class SystemCounters:
    messages_received: int = 0
    recipients_received: int = 0
    rejected_recipients: int = 0
    dropped_messages: int = 0
    #: recipients of the bounce messages (DSNs) the gateway generated
    generated_bounces: int = 0
    #: journal copies the gateway generated for the.tdc.queue (one recipient each): with
    #: the bounces they balance the columns, received + generated = completed + active
    generated_journals: int = 0
    connections_in: int = 0
    messages_in_work_queue: int = 0
    before_reset: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def counts(self) -> dict[str, int]:
        return {key: getattr(self, key) for key in SYSTEM_KEYS}

    def uptime_counts(self) -> dict[str, int]:
        return _plus(self.counts(), self.before_reset)

    def reset(self) -> None:
        """Counters to zero (what they held stays in the Uptime column); gauges untouched."""
        self.before_reset = self.uptime_counts()
        for key in SYSTEM_KEYS:
            setattr(self, key, 0)


class Counters:
    def __init__(self) -> None:
        self.hosts: dict[str, HostCounters] = {}
        self.system = SystemCounters()
        self.started_at = time.time()
        self.reset_at: float | None = None
        self.rates = Rates()
        #: per scope (SYSTEM or a host): counts since the last reset made by earlier processes
        self.carried: dict[str, dict[str, int]] = {}
        #: per scope: the lifetime counts when this process started
        self.lifetime_before: dict[str, dict[str, int]] = {}

    def host(self, name: str) -> HostCounters:
        key = name.lower()
        counters = self.hosts.get(key)
        if counters is None:
            counters = self.hosts[key] = HostCounters(key, rates=self.rates)
        return counters

    def received(self, recipients: int) -> None:
        """A message was accepted (stored) with *recipients* recipients."""
        self.system.messages_received += 1
        self.system.recipients_received += recipients
        self.rates.messages_received.add()
        self.rates.recipients_received.add(recipients)

    def reset(self) -> None:
        self.system.reset()
        for host in self.hosts.values():
            host.reset()
        self.carried.clear()
        self.reset_at = time.time()

    # -- Reset / Uptime / Lifetime ----------------------------------------------------------
    def restore(self, saved: dict[str, dict[str, tuple[int, int]]], reset_at: float | None) -> None:
        """What earlier processes counted, ``{scope: {key: (lifetime, since_reset)}}``."""
        self.lifetime_before = {scope: {k: v[0] for k, v in values.items()}
                                for scope, values in saved.items()}
        self.carried = {scope: {k: v[1] for k, v in values.items()}
                        for scope, values in saved.items()}
        self.reset_at = reset_at

    def scopes(self) -> set[str]:
        """Every scope with counts: the system, and each host seen now or before."""
        return {SYSTEM, *self.hosts, *self.carried, *self.lifetime_before}

    def columns(self, scope: str) -> dict[str, Column]:
        """The three columns of each counter of one scope (SYSTEM or a host)."""
        live_counters = self.system if scope == SYSTEM else self.hosts.get(scope)
        live = live_counters.counts() if live_counters else {}
        uptime = live_counters.uptime_counts() if live_counters else {}
        carried = self.carried.get(scope, {})
        before = self.lifetime_before.get(scope, {})
        return {key: Column(carried.get(key, 0) + live.get(key, 0), uptime.get(key, 0),
                            before.get(key, 0) + uptime.get(key, 0))
                for key in (SYSTEM_KEYS if scope == SYSTEM else HOST_KEYS)}

    def totals(self) -> dict[str, Column]:
        """System-wide columns: the system's counters, the sums over every host, and the
        derived ``hard_bounced`` (all causes) and ``completed`` (delivered, hard bounced
        or deleted)."""
        totals = self.columns(SYSTEM)
        sums = dict.fromkeys(HOST_KEYS, Column())
        for scope in self.scopes() - {SYSTEM}:
            for key, column in self.columns(scope).items():
                sums[key] += column
        totals.update(sums)
        totals["hard_bounced"] = sum((sums[f"hard_{c}"] for c in BounceCause), Column())
        totals["completed"] = sums["delivered"] + totals["hard_bounced"] + sums["deleted"]
        return totals

    # -- system-wide sums --------------------------------------------------------------
    def total(self, attribute: str) -> int:
        return sum(getattr(h, attribute) for h in self.hosts.values())


def _plus(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {key: a.get(key, 0) + b.get(key, 0) for key in a.keys() | b.keys()}
