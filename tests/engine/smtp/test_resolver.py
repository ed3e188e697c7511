"""The gateway's DNS client on its own: error classes and texts, timeouts against a
server that never answers, configuration.  (Answers from a real zone: tests/lab.)"""

from __future__ import annotations

import asyncio
import socket

import dns.asyncresolver
import dns.resolver
import pytest

from engine.config.model import DnsSettings, Endpoint
from engine.observe import log_lines as lines
from engine.smtp.resolver import DnsError, DnsHardError, DnsResolver, DnsSoftError
from tests.reactor import open_sockets


def log_line(error: DnsError) -> str:
    """The mail log line the queues write for *error* (from the one catalogue)."""
    return lines.dns_failure(error.domain, error.rdtype, error.reason, permanent=error.permanent)


def test_error_texts_are_the_mail_log_shapes():
    hard = DnsHardError("esa.example.com", "MX", "NXDomain")
    assert log_line(hard) == "DNS Error esa.example.com MX - NXDomain"
    assert str(hard) == "DNS Hard Error looking up esa.example.com (MX) : NXDomain"
    soft = DnsSoftError("example.com", "MX", "ServFail")
    assert log_line(soft) == "DNS Temporary Failure example.com MX - ServFail"
    assert str(soft) == "DNS Temporary Failure looking up example.com (MX) : ServFail"
    assert isinstance(hard, DnsError) and isinstance(soft, DnsError)
    assert not isinstance(hard, DnsSoftError)


@pytest.fixture
def silent_udp():
    """A UDP socket that takes queries and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()


def test_a_silent_server_is_a_soft_timeout_ended_by_the_timeout(silent_udp):
    """The configured timeout ends the lookup: not before it, and not at some other limit.

    The proof is a ratio, not a wall-clock bound: two resolvers, with timeouts of 0.3 s and
    3 s, ask the same silent server at the same time.  Each takes at least its own timeout,
    and the short one ends well before the long one (a load that delays one delays both)."""
    short, long = DnsResolver([silent_udp], timeout=0.3), DnsResolver([silent_udp], timeout=3.0)

    async def lookup(resolver: DnsResolver) -> tuple[DnsError, float]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(DnsSoftError) as raised:
            await resolver.mx_hosts("example.com")
        return raised.value, loop.time() - started

    async def both():
        return await asyncio.gather(lookup(short), lookup(long))

    (error, took_short), (_, took_long) = asyncio.run(both())
    assert (error.domain, error.rdtype, error.reason) == ("example.com", "MX", "Timeout")
    assert log_line(error) == "DNS Temporary Failure example.com MX - Timeout"
    assert took_short >= 0.3 * 0.95 and took_long >= 3.0 * 0.95  # never before the timeout
    assert took_short < took_long / 2, (took_short, took_long)


def test_a_waiter_giving_up_does_not_cancel_the_shared_query(silent_udp):
    resolver = DnsResolver([silent_udp], timeout=0.3)

    async def two_waiters():
        impatient = asyncio.ensure_future(resolver.lookup("example.com", "MX"))
        patient = asyncio.ensure_future(resolver.lookup("example.com", "MX"))
        await asyncio.sleep(0.05)
        impatient.cancel()
        with pytest.raises(DnsSoftError):
            await patient
        assert impatient.cancelled()

    asyncio.run(two_waiters())


def test_closing_ends_the_queries_in_flight_and_their_sockets(silent_udp):
    """A stopping engine closes its resolver: a query nobody waits for any more (its
    delivery was cancelled) must not keep its socket open until the timeout."""
    resolver = DnsResolver([silent_udp], timeout=30.0)

    async def stop_while_asking() -> None:
        waiter = asyncio.ensure_future(resolver.lookup("example.com", "MX"))
        before = open_sockets()
        while open_sockets() == before:  # the query has its socket
            await asyncio.sleep(0.01)
        waiter.cancel()
        late = asyncio.ensure_future(resolver.lookup("example.org", "MX"))  # runs after close
        await resolver.close()  # (the 30 s timeout would fail the test's own timeout)
        await asyncio.sleep(0)  # the transport closes its socket on the next turn
        assert open_sockets() <= before
        assert waiter.cancelled() and late.cancelled()

    asyncio.run(stop_while_asking())


def test_bad_names_and_types():
    resolver = DnsResolver([("127.0.0.1", 9)], timeout=0.2)
    with pytest.raises(DnsHardError, match="BadName"):
        asyncio.run(resolver.mx_hosts("a..b"))
    with pytest.raises(ValueError, match="unknown DNS record type"):
        asyncio.run(resolver.lookup("example.com", "NOPE"))


def test_servers_host_and_port_from_dnsconfig():
    settings = DnsSettings(servers=[Endpoint("127.0.0.1", 5353), Endpoint("::1", 53)], timeout=3)
    resolver = DnsResolver.from_settings(settings)
    assert resolver.servers == [("127.0.0.1", 5353), ("::1", 53)]
    assert resolver.timeout == 3
    inner = resolver._resolver
    assert [(ns.address, ns.port) for ns in inner.nameservers] == [("127.0.0.1", 5353), ("::1", 53)]
    assert inner.lifetime == 3 and inner.timeout == 1.5
    resolver.timeout = 1
    assert resolver._resolver.lifetime == 1
    with pytest.raises(ValueError):
        resolver.timeout = 0


def test_without_servers_the_host_configuration_is_used(monkeypatch):
    try:
        system = dns.resolver.Resolver(configure=True).nameservers
    except dns.resolver.NoResolverConfiguration:
        system = None
    resolver = DnsResolver()
    assert resolver.servers == []
    if system is not None:
        assert resolver._resolver.nameservers == system

    def no_configuration(self, *args, **kwargs):
        raise dns.resolver.NoResolverConfiguration

    monkeypatch.setattr(dns.asyncresolver.Resolver, "__init__", no_configuration)
    lost = DnsResolver()
    with pytest.raises(DnsSoftError) as raised:
        asyncio.run(lost.mx_hosts("example.com"))
    assert raised.value.reason == "NoNameservers"
