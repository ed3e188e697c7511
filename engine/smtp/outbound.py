"""Where an outbound connection goes, shared by ordinary delivery and the TDC queue.

A destination is reached through its SMTP route (``smtproutes``) or its MX hosts,
in preference order.  In a lab, a host name with an assigned loopback port is
reached on that port instead of 25 (SPEC.md §4 ruling 7), and the log lines then
show that real port.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from engine.config.model import Config
from engine.smtp.resolver import DnsResolver, MxHost

SMTP_PORT = 25

#: Enhanced status codes and the phrases AsyncOS logs with them (RFC 3463 subjects).
_REASONS = {
    "5.1.1": "Bad destination mailbox address",
    "5.1.2": "Bad destination host",
    "5.1.0": "Other address status",
    "5.2.2": "Mailbox full",
    "5.3.4": "Message too big for system",
    "5.4.7": "Delivery expired (message too old)",
    "5.5.1": "Invalid command",
    "5.6.0": "Other or undefined media error",
    "5.7.1": "Delivery not authorized, message refused",
    "4.3.2": "Not accepting messages at this time",
    "4.4.0": "Other network problem",
    "4.2.2": "Mailbox full",
}


def reason_for(status: str) -> str:
    """The phrase for an enhanced status code (``5.1.1`` → ``Bad destination mailbox address``)."""
    if status in _REASONS:
        return _REASONS[status]
    return "Other or undefined mail system status" if status[:1] in "45" else "Unknown"


def status_for(code: int, enhanced: str | None) -> str:
    """The enhanced status of a reply, or one made from its basic code (``550`` → ``5.0.0``)."""
    return enhanced or f"{code // 100}.0.0"


@dataclass(frozen=True)
class Target:
    hostname: str
    address: str
    port: int
    preference: int = 0


@dataclass(frozen=True)
class Route:
    """How to reach one destination: hosts to try in order (or nowhere: /dev/null)."""

    targets: tuple[Target, ...]
    discard: bool = False


async def route_for(domain: str, config: Config, resolver: DnsResolver) -> Route:
    """Resolve the hosts for *domain*; DNS errors propagate (the caller classifies them)."""
    route = config.route_for(domain)
    if route is None or not route.destinations or route.destinations == ["USEDNS"]:
        return Route(_targets(await resolver.mx_hosts(domain), config))
    if route.destinations == ["/dev/null"]:
        return Route((), discard=True)
    targets: list[Target] = []
    for destination in route.destinations:
        if destination.upper() == "USEDNS":
            targets += _targets(await resolver.mx_hosts(domain), config)
            continue
        host, _, port = destination.rpartition(":") if ":" in destination else (destination, "", "")
        port_number = int(port) if port.isdigit() else config.host_ports.get(host.lower(), SMTP_PORT)
        targets += [Target(host, address, port_number) for address in await _addresses(host, resolver)]
    return Route(tuple(targets))


async def _addresses(host: str, resolver: DnsResolver) -> list[str]:
    """A route host's addresses: an IP literal as it is, a name by its A and AAAA records."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        return [host.strip("[]")]
    except ValueError:
        return (await resolver.addresses(host))[0]


def _targets(hosts: list[MxHost], config: Config) -> tuple[Target, ...]:
    return tuple(
        Target(mx.hostname, address, config.host_ports.get(mx.hostname.lower(), SMTP_PORT),
               mx.preference)
        for mx in hosts for address in mx.addresses
    )
