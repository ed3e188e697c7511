"""``tophosts``: the busiest destination hosts, ``the.tdc.queue`` included (ASYNCOS.md §1).

Every figure is read from the live engine's counters; nothing is estimated.
"""

from __future__ import annotations

from collections.abc import Mapping

from commands.errors import CommandError, UsageError
from commands.registry import command
from commands.session import CliSession
from engine.observe.counters import HostCounters
from engine.observe.log_lines import TDC_QUEUE
from engine.observe.timestamps import cli_time, now

SORTS = [
    ("Active Recipients", lambda h: h.active),
    ("Connections Out", lambda h: h.connections_out + h.pending_connections),
    ("Delivered Recipients", lambda h: h.delivered),
    ("Hard Bounced Recipients", lambda h: h.hard_bounced_total),
    ("Soft Bounced Events", lambda h: h.soft_bounced_events),
]
TOP = 20


@command(
    "tophosts",
    summary="Display the top hosts by queue size",
    help="""
tophosts          asks how to sort (1 Active Recipients, 2 Connections Out, 3 Delivered
                  Recipients, 4 Hard Bounced Recipients, 5 Soft Bounced Events; default 1)
tophosts <1-5>    sorts by that column at once

Shows the top 20 destination hosts, the.tdc.queue (the Threat Defense Connector) included.
""",
    grammar={str(n): None for n in range(1, 6)},
)
async def tophosts(session: CliSession, args: list[str]) -> None:
    mail = session.appliance.mail
    if mail is None:
        raise CommandError("Couldn't obtain mail stats: the mail engine runs in another segcli "
                           "process; use tophosts there.")
    if len(args) > 1 or (args and args[0] not in ("1", "2", "3", "4", "5")):
        raise UsageError("Invalid arguments when processing: usage is tophosts [1-5]")
    if args:
        choice = int(args[0]) - 1
    else:
        choice = await session.dialog.choose([name for name, _ in SORTS], "",
                                             default=0, heading="Sort results by:")
    _print(session, ranked(mail.counters.hosts, choice,
                           tdc_enabled=session.appliance.config.tdc.enabled))


def ranked(hosts: Mapping[str, HostCounters], choice: int, *, tdc_enabled: bool
           ) -> list[HostCounters]:
    """The top hosts by ``SORTS[choice]`` (then by name); the.tdc.queue is listed while
    the connector is enabled, with zeros before its first journal copy.  The XML page
    ``/xml/tophosts`` ranks with this too."""
    listed = dict(hosts)
    if tdc_enabled and TDC_QUEUE not in listed:
        listed[TDC_QUEUE] = HostCounters(TDC_QUEUE)
    key = SORTS[choice][1]
    return sorted(listed.values(), key=lambda h: (-key(h), h.host))[:TOP]


def _print(session: CliSession, hosts: list[HostCounters]) -> None:
    say = session.dialog.say
    say()
    say(f"Status as of:                {cli_time(now())}")
    say("Hosts marked with '*' were down as of last delivery attempt.")
    say()
    say("                                   Active   Conn.   Deliv.     Soft     Hard")
    say("  #   Recipient Host               Recip.    Out    Recip.   Bounced  Bounced")
    for rank, host in enumerate(hosts, 1):
        mark = " " if host.up else "*"
        row = row_figures(host)
        say(f"{rank:>3}{mark}  {host.host:<25}{row['active']:>8,}{row['conn_out']:>7,}"
            f"{row['delivered']:>10,}{row['soft_bounced']:>9,}{row['hard_bounced']:>9,}")


def row_figures(host: HostCounters) -> dict[str, int]:
    """One row's figures, by the keys drills use (segcli/drills/checks.py)."""
    return {"active": host.active,
            "conn_out": host.connections_out + host.pending_connections,
            "delivered": host.delivered, "soft_bounced": host.soft_bounced_events,
            "hard_bounced": host.hard_bounced_total}
