"""``topin``: the remote hosts connected to the listener now (ASYNCOS.md §3, UG98).

One row per (remote IP, listener) with its current inbound connections, most first.
The host name comes from reverse DNS through the configured DNS servers, kept only
when a forward lookup of that name gives the IP back; otherwise the IP is shown.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import dns.reversename

from commands.errors import UsageError
from commands.monitor import live_engine
from commands.registry import command
from commands.session import CliSession
from engine.observe.timestamps import cli_time, now
from engine.smtp.resolver import DnsError, DnsResolver

TOP = 20
LOOKUP_TIMEOUT = 3.0  # seconds for each name; topin never waits long for DNS


@command(
    "topin",
    summary="Display the top hosts by number of incoming connections",
    help="""
topin     one row per remote IP address and listener with its current inbound connections
          (top 20, most first); the host name from reverse DNS when it is confirmed by a
          forward lookup, else the IP address
""",
)
async def topin(session: CliSession, args: list[str]) -> None:
    mail = live_engine(session, "topin")
    if args:
        raise UsageError("Invalid arguments when processing: usage is topin")
    listener = session.appliance.config.listener.name
    counts = Counter((ip, listener) for ip in mail.inbound_peers())
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:TOP]
    names = await asyncio.gather(*(hostname(mail.resolver, ip) for (ip, _), _ in ranked))
    say = session.dialog.say
    say()
    say(f"{'Status as of:':<32}{cli_time(now())}")
    say(f"{'#':<3}{'Remote hostname':<27}{'Remote IP addr.':<18}{'listener':<16}Conn. In")
    for rank, (((ip, name), connections), host) in enumerate(zip(ranked, names, strict=True), 1):
        say(f"{rank:<3}{host:<26} {ip:<17} {name:<15}{connections:>9}")


async def hostname(resolver: DnsResolver, ip: str) -> str:
    """The verified reverse DNS name of *ip*, else *ip* itself."""
    try:
        reverse = dns.reversename.from_address(ip).to_text()
        answer = await asyncio.wait_for(resolver.lookup(reverse, "PTR"), LOOKUP_TIMEOUT)
        for record in answer.records:
            name = record.rstrip(".")
            rdtype = "AAAA" if ":" in ip else "A"
            forward = await asyncio.wait_for(resolver.lookup(name, rdtype), LOOKUP_TIMEOUT)
            if ip in forward.records:
                return name
    except (DnsError, ValueError, TimeoutError):
        pass
    return ip
