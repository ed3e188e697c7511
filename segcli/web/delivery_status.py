"""Reporting > Delivery Status: the destination domains, ``the.tdc.queue`` among them, with the
figures of ``tophosts``; and a domain's host status, with the figures of ``hoststatus``.

The figures come from the same functions the commands print from (``row_figures`` of
commands/tophosts.py, ``report_rows`` of commands/hoststatus.py), read from the live
engine's counters: the page and the CLI can never disagree, and nothing is counted on
demand (a row costs the same with 10 or 100,000 recipients queued).

No HTTP here: the pages (segcli/web/pages/reporting.py) render these rows.
Tests: tests/segcli/web/test_delivery_status.py (live engine).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from commands.hoststatus import report_rows
from commands.tophosts import row_figures
from engine.observe.counters import HostCounters
from engine.observe.log_lines import TDC_QUEUE
from engine.store import queue_store

if TYPE_CHECKING:
    from engine.mail.mail_engine import MailEngine


@dataclass(frozen=True)
class Column:
    key: str
    label: str


#: The table's columns, as on the appliance's page; every one sorts.
COLUMNS = (
    Column("host", "Destination Domain"),
    Column("active", "Active Recipients"),
    Column("conn_out", "Connections Out"),
    Column("delivered", "Delivered Recipients"),
    Column("soft_bounced", "Soft Bounced Events"),
    Column("hard_bounced", "Hard Bounced Recipients"),
)
KEYS = tuple(column.key for column in COLUMNS)


class BadSort(ValueError):
    """A sort the page does not offer (a hand-made query string)."""


@dataclass(frozen=True)
class Sort:
    """Which column orders the rows; figures sort largest first by default, names A to Z."""

    column: str = "active"
    descending: bool = True

    @classmethod
    def parse(cls, column: str | None, order: str | None) -> Sort:
        """From the query string (``?sort=delivered&order=asc``); missing parts take the
        defaults, anything else is :class:`BadSort`."""
        column = column or "active"
        if column not in KEYS:
            raise BadSort(f"Unknown column to sort by: {column!r}; one of {', '.join(KEYS)}.")
        if order not in (None, "", "asc", "desc"):
            raise BadSort(f"Unknown sort order: {order!r}; asc or desc.")
        descending = order == "desc" if order else column != "host"
        return cls(column, descending)

    @property
    def order(self) -> str:
        return "desc" if self.descending else "asc"

    def toggled(self, column: str) -> Sort:
        """The sort a click on *column*'s header asks for: the other order of the same
        column, or that column in its default order."""
        if column == self.column:
            return Sort(column, not self.descending)
        return Sort.parse(column, None)


@dataclass(frozen=True)
class HostRow:
    """One row of the table: ``up`` is the Latest Host Status (False: down at the last
    delivery attempt, ``*`` in ``tophosts``)."""

    host: str
    up: bool
    active: int
    conn_out: int
    delivered: int
    soft_bounced: int
    hard_bounced: int

    def as_json(self) -> dict[str, object]:
        return asdict(self)


def host_row(counters: HostCounters) -> HostRow:
    figures = row_figures(counters)
    return HostRow(counters.host, counters.up, figures["active"], figures["conn_out"],
                   figures["delivered"], figures["soft_bounced"], figures["hard_bounced"])


def delivery_rows(mail: MailEngine, tdc_enabled: bool, sort: Sort = Sort()) -> list[HostRow]:
    """Every destination domain, ``the.tdc.queue`` among them while the connector is
    enabled (with zeros before its first copy, as ``tophosts`` shows it), sorted by *sort*
    (ties by name).  Runs on the event loop: it only reads the live counters."""
    hosts = dict(mail.counters.hosts)
    if tdc_enabled and TDC_QUEUE not in hosts:
        hosts[TDC_QUEUE] = HostCounters(TDC_QUEUE)
    rows = [host_row(counters) for counters in hosts.values()]
    rows.sort(key=lambda row: row.host)
    if sort.column == "host":
        rows.sort(key=lambda row: row.host, reverse=sort.descending)
    else:
        figure: Callable[[HostRow], int] = lambda row: getattr(row, sort.column)  # noqa: E731
        rows.sort(key=figure, reverse=sort.descending)  # stable: ties stay by name
    return rows


# -- one host ----------------------------------------------------------------------------
@dataclass(frozen=True)
class HostLine:
    """A line of the host status: a heading (``value`` None) or a figure, indented as
    ``hoststatus`` prints it (``indent`` spaces)."""

    label: str
    value: int | None
    indent: int


@dataclass(frozen=True)
class HostStatus:
    host: str
    up: bool
    lines: list[HostLine]
    #: When the oldest message still queued for the host was received (epoch seconds).
    oldest: float | None
    last_activity: float | None
    row: HostRow


def known_host(mail: MailEngine, tdc_enabled: bool, host: str) -> bool:
    return host.lower() in mail.counters.hosts or (tdc_enabled and host.lower() == TDC_QUEUE)


async def host_status(mail: MailEngine, tdc_enabled: bool, host: str) -> HostStatus | None:
    """*host*'s status (the figures of ``hoststatus``); None for a host the appliance has no
    record of.  The oldest queued message is read from the store in a thread."""
    host = host.lower()
    if not known_host(mail, tdc_enabled, host):
        return None
    counters = mail.counters.hosts.get(host) or HostCounters(host)
    oldest = await asyncio.to_thread(queue_store.oldest_active, mail.store.engine, host)
    lines = [HostLine(label, value, indent) for label, value, indent in report_rows(counters)]
    return HostStatus(host, counters.up, lines, oldest, counters.last_activity or None,
                      host_row(counters))
