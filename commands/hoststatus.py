"""``hoststatus <host>``: one destination's counters, gauges and addresses (ASYNCOS.md §2).

``the.tdc.queue`` is a host like any other here: its counters are the SETD transfers.
"""

from __future__ import annotations

import asyncio
import ipaddress
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from commands.errors import CommandError, UsageError
from commands.registry import Names, SessionView, command
from commands.session import CliSession
from engine.observe.counters import BounceCause, HostCounters
from engine.observe.log_lines import TDC_QUEUE
from engine.observe.timestamps import cli_time, now
from engine.smtp.outbound import route_for
from engine.smtp.resolver import DnsError
from engine.store import queue_store

# The interface segcli delivers from (``listenerconfig`` names it the same way).
DELIVERY_INTERFACE = "Management"

if TYPE_CHECKING:
    from engine.mail.mail_engine import MailEngine


def _known_hosts(session: SessionView) -> list[str]:
    mail = session.appliance.mail
    return sorted(mail.counters.hosts) if mail is not None else []


@command(
    "hoststatus",
    summary="Get the status of the given hostname",
    help="""
hoststatus            asks for the recipient host
hoststatus <host>     shows its counters, gauges, oldest message, last activity, up/down,
                      the Virtual Gateway(tm) block, its SMTP route and the ordered
                      addresses delivery uses (the.tdc.queue: those of the intake domain)
""",
    grammar=Names(_known_hosts),
)
async def hoststatus(session: CliSession, args: list[str]) -> None:
    mail = session.appliance.mail
    if mail is None:
        raise CommandError("Couldn't obtain mail stats: the mail engine runs in another segcli "
                           "process; use hoststatus there.")
    if len(args) > 1:
        raise UsageError("Invalid arguments when processing: usage is hoststatus <host>")
    host = (args[0] if args else await session.dialog.ask_required("Recipient host:")).lower()
    counters = mail.counters.hosts.get(host)
    if counters is None:
        raise CommandError(f"No record of host: {host}")
    oldest = await _oldest(mail, host)
    _report(session, counters, oldest)
    _virtual_gateway(session, counters)
    await _addresses(session, mail, host)


async def _oldest(mail: MailEngine, host: str) -> float | None:
    """When the oldest message queued for *host* was received.  The TDC queue knows it in
    memory; asking the store means a thread, which a busy loop makes slow to answer."""
    if host == TDC_QUEUE:
        return mail.tdc.oldest_enqueued()
    return await asyncio.to_thread(queue_store.oldest_active, mail.store.engine, host)


def _report(session: CliSession, h: HostCounters, oldest: float | None) -> None:
    say = session.dialog.say
    say()
    say(f"Host mail status for: '{h.host}'")
    say(f"Status as of:         {cli_time(now())}")
    say(f"Host up/down:         {'up' if h.up else 'down'}")
    say()
    rows = report_rows(h)
    for label, value, indent in rows:
        text = " " * indent + label
        say(text if value is None else f"{text:<40}{value:>10,}")
    say()
    say(f"Oldest Message         {_when(oldest) or 'No Messages'}")
    say(f"Last Activity          {_when(h.last_activity) or 'Never'}")


def report_rows(h: HostCounters) -> list[tuple[str, int | None, int]]:
    """The counter and gauge rows as hoststatus prints them: (label, value, indent); a
    heading has no value.  Drills read the figures from here (segcli/drills/checks.py)."""
    return [
        ("Counters:", None, 0),
        ("Queue", None, 2), ("Soft Bounced Events", h.soft_bounced_events, 4),
        ("Completion", None, 2), ("Completed Recipients", h.completed, 4),
        ("Hard Bounced Recipients", h.hard_bounced_total, 6),
        ("DNS Hard Bounces", h.hard_bounced[BounceCause.DNS], 8),
        ("5XX Hard Bounces", h.hard_bounced[BounceCause.SMTP_5XX], 8),
        ("Filter Hard Bounces", h.hard_bounced[BounceCause.FILTER], 8),
        ("Expired Hard Bounces", h.hard_bounced[BounceCause.EXPIRED], 8),
        ("Other Hard Bounces", h.hard_bounced[BounceCause.OTHER], 8),
        ("Delivered Recipients", h.delivered, 6),
        ("Deleted Recipients", h.deleted, 6),
        ("", None, 0),
        ("Gauges:", None, 0),
        ("Queue", None, 2), ("Active Recipients", h.active, 4),
        ("Unattempted Recipients", h.unattempted, 6), ("Attempted Recipients", h.attempted, 6),
        ("Connections", None, 2), ("Current Outbound Connections", h.connections_out, 4),
        ("Pending Outbound Connections", h.pending_connections, 4),
    ]


def _when(timestamp: float | None) -> str:
    return cli_time(datetime.fromtimestamp(timestamp, UTC)) if timestamp else ""


def _virtual_gateway(session: CliSession, h: HostCounters) -> None:
    """The appliance's per-interface block: segcli delivers from one, ``Management``."""
    say = session.dialog.say
    rule = "=" * 51
    say()
    say("Virtual Gateway(tm) information:")
    say(rule)
    say(f"{session.appliance.config.hostname} ({DELIVERY_INTERFACE}):")
    say(f"    Host up/down:          {'up' if h.up else 'down'}")
    say(f"    Last Activity          {_when(h.last_activity) or 'Never'}")
    say(f"    Active Recipients      {h.active:,}")
    say(rule)


def _route_domain(session: CliSession, host: str) -> str | None:
    """The domain whose route delivery uses: the host's own, or for the.tdc.queue the
    default intake address's domain (none while no intake address is set)."""
    if host != TDC_QUEUE:
        return host
    intake = session.appliance.config.tdc.intake_address
    return intake.rpartition("@")[2].lower() if intake else None


async def _addresses(session: CliSession, mail: MailEngine, host: str) -> None:
    """How delivery reaches the host: its SMTP route, then the ordered addresses and when
    the DNS answers they come from expire."""
    domain = _route_domain(session, host)
    if domain is None:
        return
    say = session.dialog.say
    config = session.appliance.config
    route = config.route_for(domain)
    if route is not None and route.destinations:
        say()
        say("SMTP routes for this host:")
        for destination in route.destinations:
            say(f"    {destination}")
    try:
        resolved = await route_for(domain, config, mail.resolver)
        ttl = await _ttl(domain, route.destinations if route else [], mail)
    except DnsError as exc:
        say()
        say(f"Ordered IP addresses: {exc}")
        return
    expiring = f" (expiring at {cli_time(now() + timedelta(seconds=ttl))})" if ttl else ""
    say()
    say(f"Ordered IP addresses:{expiring}")
    say("Preference  IPs")
    for target in resolved.targets:
        say(f"{target.preference:<12}{target.address} ({target.hostname} port {target.port})")


async def _ttl(domain: str, destinations: list[str], mail: MailEngine) -> int | None:
    """The shortest TTL left of the DNS answers the addresses come from (cached answers,
    so asking again costs nothing); None when they are all IP literals."""
    ttls: list[int] = []
    names = destinations or ["USEDNS"]
    for name in names:
        if name.upper() == "USEDNS":
            ttls += [mx.ttl for mx in await mail.resolver.mx_hosts(domain)]
        elif name != "/dev/null":
            host = name.rpartition(":")[0] if ":" in name else name
            if not _is_ip(host.strip("[]")):
                ttls.append((await mail.resolver.addresses(host))[1])
    positive = [ttl for ttl in ttls if ttl > 0]
    return min(positive) if positive else None


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
