"""``dnsstatus``: the resolver's counters, in the Reset / Uptime / Lifetime columns of
``status``.

segcli keeps no DNS history across restarts, so Lifetime counts since this process
started, like Uptime; Reset counts since the last ``resetcounters``.
"""

from __future__ import annotations

from commands.errors import UsageError
from commands.monitor import live_engine
from commands.registry import command
from commands.session import CliSession
from commands.status import COUNTER_ENDS, Row, table
from engine.mail.mail_engine import DnsCounts
from engine.observe.timestamps import cli_time, now

#: (label, figure): the appliance's rows
_ROWS = [
    ("DNS Requests", lambda c: c.requests),
    ("Network Requests", lambda c: c.network),
    ("Cache Hits", lambda c: c.requests - c.network),
    ("Cache Misses", lambda c: c.network),
    ("Cache Exceptions", lambda c: c.exceptions),
]


@command("dnsstatus", summary="Display DNS statistics", help="""
dnsstatus     the resolver's counters: DNS requests, network requests, cache hits and
              misses, failed lookups (Reset: since resetcounters; Uptime and Lifetime:
              since segcli started)
""")
async def dnsstatus(session: CliSession, args: list[str]) -> None:
    mail = live_engine(session, "dnsstatus")
    if args:
        raise UsageError("Invalid arguments when processing: usage is dnsstatus")
    counts = mail.dns_counts
    reset = counts.since(mail.dns_counts_reset)
    say = session.dialog.say
    say()
    say(f"Status as of:                  {cli_time(now())}")
    say()
    for line in table("Counters:", ("Reset", "Uptime", "Lifetime"), _rows(reset, counts),
                      COUNTER_ENDS):
        say(line)


def _rows(reset: DnsCounts, uptime: DnsCounts) -> list[Row]:
    return [(label, 2, [f"{figure(reset):,}", f"{figure(uptime):,}", f"{figure(uptime):,}"])
            for label, figure in _ROWS]
