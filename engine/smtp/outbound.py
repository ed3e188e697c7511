"""Where an outbound connection goes, and what its failures mean, shared by ordinary
delivery and the TDC queue.

A destination is reached through its SMTP route (``smtproutes``) or its MX hosts,
in preference order.  In a lab, a host name with an assigned loopback port is
reached on that port instead of 25 (SPEC.md §4 ruling 7), and the log lines then
show that real port.

:func:`verdict` is the retry table (SPEC.md §1) as a pure function: the queues decide
*what* a failure means here, and act on it (log lines, counters, retries) themselves.
The steps both queues take on the way out are here too, written once so that the two
paths cannot drift: trying a route's hosts in turn (:func:`connect_first`) and the
fields of a ``Connection Error`` line (:func:`connection_fault`).

Tests: tests/engine/smtp/test_outbound.py.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from engine.config.addresses import InvalidValue
from engine.config.model import Config
from engine.config.values import split_host_port
from engine.observe import log_lines as lines
from engine.smtp import client as smtp_client
from engine.smtp.client import (
    SmtpClient,
    SmtpConnectionError,
    SmtpReplyError,
    SmtpTimeoutError,
    SmtpTlsError,
)
from engine.smtp.resolver import DnsHardError, DnsResolver, MxHost

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


class Verdict(enum.Enum):
    """What a failed attempt means for the mail it was carrying."""

    HARD = "hard"  # permanent (a 5xx reply, NXDOMAIN): bounce, never retried
    RETRY = "retry"  # temporary (a 4xx reply, network, timeout, SERVFAIL): try again later
    TLS = "tls"  # TLS could not be had as required (SPEC.md §4 ruling 4)


#: The 5xx replies the TDC queue retries like a 4xx (SPEC.md §1: "SMTP 4xx (and 503, 552)").
TDC_RETRYABLE_5XX = frozenset({503, 552})


def reply_verdict(code: int, *, retryable_5xx: Container[int] = ()) -> Verdict:
    """A refusing reply: 5xx is permanent unless its code is in *retryable_5xx*; anything
    else (4xx) is temporary."""
    return Verdict.HARD if code >= 500 and code not in retryable_5xx else Verdict.RETRY


def verdict(error: Exception, *, retryable_5xx: Container[int] = ()) -> Verdict:
    """The retry table for one failure.  Ordinary delivery uses it as it is; the TDC queue
    passes ``retryable_5xx=TDC_RETRYABLE_5XX``.  What is not a reply, a TLS failure or
    NXDOMAIN -- refused or lost connections, timeouts, temporary DNS failures -- is retried."""
    if isinstance(error, SmtpTlsError):
        return Verdict.TLS
    if isinstance(error, SmtpReplyError):
        return reply_verdict(error.code, retryable_5xx=retryable_5xx)
    if isinstance(error, DnsHardError):
        return Verdict.HARD
    return Verdict.RETRY


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
    """Resolve the hosts for *domain*; DNS errors propagate (the caller classifies them).

    A destination that names a machine rather than a mail domain -- an IP address, or a
    host with a port (what ``redirectrecipients`` sends the queue to) -- is that machine."""
    machine = _machine(domain)
    if machine is not None:
        name, given_port = machine
        port_number = given_port or config.host_ports.get(name.lower(), SMTP_PORT)
        return Route(tuple(Target(name, address, port_number)
                           for address in await _addresses(name, resolver)))
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


def _machine(destination: str) -> tuple[str, int | None] | None:
    """``(host, port)`` when *destination* is an IP address (``192.0.2.1``, ``[::1]``) or
    a ``host:port``; None for a mail domain."""
    try:
        host, port = split_host_port(destination, default_port=None)
    except InvalidValue:
        return None
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return (host, port) if port is not None else None
    return host, port


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


# -- the steps of an outbound connection -----------------------------------------------------
@dataclass(frozen=True)
class Connected:
    """A host of the route greeted: the connection to carry mail over."""

    client: SmtpClient
    target: Target


@dataclass(frozen=True)
class NotReached:
    """No host of the route could be had."""

    target: Target | None  # the last host tried (None: the route had no hosts)
    error: Exception  # why it failed


def _ignore(_target: Target) -> None:
    return None


async def connect_first(targets: Sequence[Target], *, local_name: str, timeout: float,
                        no_hosts: str, trying: Callable[[Target], None] = _ignore
                        ) -> Connected | NotReached:
    """Connect to the first of *targets* (in preference order) that greets: a refused or
    lost connection, a timeout or a refusing greeting moves on to the next.  *trying* is
    told of each host before it is tried (an attempt cut short names the host it was on);
    with no hosts at all the error is *no_hosts*, a connection error."""
    error: Exception = SmtpConnectionError(no_hosts, "connect")
    target: Target | None = None
    for target in targets:
        trying(target)
        try:
            client = await SmtpClient.connect(target.address, target.port, local_name=local_name,
                                              timeout=timeout)
            return Connected(client, target)
        except (SmtpConnectionError, SmtpTimeoutError, SmtpReplyError) as failure:
            error = failure
    return NotReached(target, error)


class ConnectionFault(NamedTuple):
    """The fields of a ``Connection Error`` line that say where and what (SPEC.md §2)."""

    ip: str
    port: int
    details: str
    reason: str


def _where(target: Target | None) -> tuple[str, int]:
    """The host's address and port, or ``0.0.0.0`` port 0 when none was tried."""
    return (target.address, target.port) if target else ("0.0.0.0", 0)


def timeout_fault(target: Target | None) -> ConnectionFault:
    """An attempt on *target* that timed out, or that a queue's own limit cut short."""
    return ConnectionFault(*_where(target), lines.TIMEOUT_DETAILS, lines.TIMEOUT_REASON)


#: The client's words for a refused, closed or reset connection, and the appliance's.
_APPLIANCE_DETAILS = {
    smtp_client.REFUSED: lines.REFUSED_DETAILS,
    smtp_client.CLOSED: lines.EOF_DETAILS,
    smtp_client.RESET: lines.RESET_DETAILS,
}


def connection_fault(target: Target | None, error: Exception) -> ConnectionFault:
    """A connection to *target* failed with *error*: a timeout, or a network error -- in
    the appliance's words when it has them (``EOF``, ``[Errno 111] Connection refused``),
    else in the error's own."""
    if isinstance(error, SmtpTimeoutError):
        return timeout_fault(target)
    details = str(error)
    if isinstance(error, SmtpConnectionError):
        details = _APPLIANCE_DETAILS.get(error.details, details)
    return ConnectionFault(*_where(target), details, lines.NETWORK_ERROR_REASON)
