"""The lab DNS zone over real sockets, and the gateway's resolver against it."""

from __future__ import annotations

import asyncio
import shutil

import dns.asyncquery
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from engine.observe import log_lines as lines
from engine.smtp.resolver import DnsError, DnsHardError, DnsResolver, DnsSoftError, MxHost
from segcli.lab.dns_zone import DEFAULT_TTL, NEGATIVE_TTL, DnsFault, DnsZone


def log_line(error: DnsError) -> str:
    """The mail log line the queues write for *error* (from the one catalogue)."""
    return lines.dns_failure(error.domain, error.rdtype, error.reason, permanent=error.permanent)


class FakeClock:
    """The resolver cache's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def ask(zone: DnsZone, name: str, rdtype: str = "A", *, tcp: bool = False,
              timeout: float = 2.0) -> dns.message.Message:
    """One query straight to the zone with dnspython, no resolver in between."""
    query = dns.message.make_query(name, rdtype)
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    return await send(query, zone.host, port=zone.port, timeout=timeout)


def resolver_for(zone: DnsZone, **kwargs) -> DnsResolver:
    return DnsResolver([zone.address], **kwargs)


# -- the zone, asked directly ------------------------------------------------------------


async def test_zone_answers_mx_with_the_address_as_additional(dns_zone):
    mx_host = dns_zone.add_mail_domain("beta.cmd.cisco.com")
    assert mx_host == "mx.beta.cmd.cisco.com"
    response = await ask(dns_zone, "beta.cmd.cisco.com", "MX")
    assert response.rcode() == dns.rcode.NOERROR
    assert response.flags & dns.flags.AA
    [mx] = response.answer
    assert [r.to_text() for r in mx] == ["10 mx.beta.cmd.cisco.com."]
    assert mx.ttl == 300
    [glue] = response.additional
    assert glue.name.to_text() == "mx.beta.cmd.cisco.com."
    assert [r.to_text() for r in glue] == ["127.0.0.1"]


async def test_zone_answers_over_tcp_on_the_same_port(dns_zone):
    dns_zone.add_a("mx.example.com", "127.0.0.2", ttl=60)
    response = await ask(dns_zone, "MX.Example.COM.", "A", tcp=True)
    [a] = response.answer
    assert [r.to_text() for r in a] == ["127.0.0.2"]
    assert a.ttl == 60


async def test_unknown_names_are_nxdomain_and_known_names_without_the_type_are_nodata(dns_zone):
    dns_zone.add_mail_domain("example.com")
    assert (await ask(dns_zone, "nowhere.example.org", "MX")).rcode() == dns.rcode.NXDOMAIN
    assert (await ask(dns_zone, "sub.example.com", "A")).rcode() == dns.rcode.NXDOMAIN
    nodata = await ask(dns_zone, "example.com", "A")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    # An empty non-terminal exists too: example.com holds nothing but names below it.
    dns_zone.remove("example.com")
    assert (await ask(dns_zone, "example.com", "MX")).rcode() == dns.rcode.NOERROR


async def test_records_added_and_removed_at_runtime(dns_zone):
    assert (await ask(dns_zone, "late.example", "MX")).rcode() == dns.rcode.NXDOMAIN
    dns_zone.add_mail_domain("late.example", "in.late.test", "127.0.0.9")
    response = await ask(dns_zone, "late.example", "MX")
    assert [r.to_text() for r in response.answer[0]] == ["10 in.late.test."]
    assert dns_zone.remove("late.example", "mx") == 1
    assert (await ask(dns_zone, "late.example", "MX")).rcode() == dns.rcode.NXDOMAIN
    assert dns_zone.zone_text() == "in.late.test 300 IN A 127.0.0.9"


@pytest.mark.parametrize(("fault", "rcode"), [(DnsFault.SERVFAIL, dns.rcode.SERVFAIL),
                                              (DnsFault.REFUSED, dns.rcode.REFUSED)])
async def test_faults_on_demand_per_name(dns_zone, fault, rcode):
    dns_zone.add_mail_domain("example.com")
    dns_zone.add_mail_domain("example.net")
    dns_zone.set_fault("example.com", fault)
    assert (await ask(dns_zone, "example.com", "MX")).rcode() == rcode
    assert (await ask(dns_zone, "example.net", "MX")).rcode() == dns.rcode.NOERROR
    dns_zone.set_fault("example.com", None)
    assert (await ask(dns_zone, "example.com", "MX")).rcode() == dns.rcode.NOERROR


async def test_timeout_fault_never_answers(dns_zone):
    dns_zone.add_mail_domain("example.com")
    dns_zone.set_fault("example.com", "timeout")
    with pytest.raises(dns.exception.Timeout):
        await ask(dns_zone, "example.com", "MX", timeout=0.3)
    dns_zone.clear_faults()
    assert (await ask(dns_zone, "example.com", "MX")).rcode() == dns.rcode.NOERROR


async def test_two_zones_get_different_free_ports(dns_zone):
    other = DnsZone()
    try:
        port = other.start()
        assert port not in (0, dns_zone.port)
        with pytest.raises(RuntimeError):
            other.start()
    finally:
        await other.stop()


async def test_a_port_free_for_udp_but_busy_for_tcp_is_given_up_cleanly(monkeypatch):
    """The zone retries with another port and leaves no socket of the first try open."""
    from twisted.internet import reactor
    from twisted.internet.error import CannotListenError

    listen_tcp = reactor.listenTCP
    tries = []

    def busy_once(port, *args, **kwargs):
        tries.append(port)
        if len(tries) == 1:
            raise CannotListenError("127.0.0.1", port, OSError("address in use"))
        return listen_tcp(port, *args, **kwargs)

    monkeypatch.setattr(reactor, "listenTCP", busy_once)
    zone = DnsZone()
    try:
        port = zone.start()
        assert len(tries) >= 2 and port == tries[-1]  # (a real busy port may add a try)
        zone.add_a("mx.example.com")
        assert (await ask(zone, "mx.example.com")).rcode() == dns.rcode.NOERROR
    finally:
        await zone.stop()


@pytest.mark.skipif(shutil.which("dig") is None, reason="dig (dnsutils) is not installed")
async def test_dig_reads_the_zone(dns_zone):
    dns_zone.add_mail_domain("beta.cmd.cisco.com")
    dig = await asyncio.create_subprocess_exec(
        "dig", f"@{dns_zone.host}", "-p", str(dns_zone.port), "+norecurse", "+time=2",
        "+tries=1", "beta.cmd.cisco.com", "MX",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await dig.communicate()
    text = out.decode()
    assert dig.returncode == 0, err.decode()
    assert "status: NOERROR" in text
    assert " aa" in text.split("flags:")[1].split(";")[0]
    assert "beta.cmd.cisco.com.\t300\tIN\tMX\t10 mx.beta.cmd.cisco.com." in text
    assert "mx.beta.cmd.cisco.com.\t300\tIN\tA\t127.0.0.1" in text


# -- the gateway's resolver against the zone ---------------------------------------------


async def test_mx_hosts_in_preference_order_with_addresses(dns_zone):
    dns_zone.add_mx("example.com", "mx3.example.com", 30, ttl=600)
    dns_zone.add_mx("example.com", "mx2.example.com", 10, ttl=600)
    dns_zone.add_mx("example.com", "mx1.example.com", 10, ttl=600)
    dns_zone.add_a("mx1.example.com", "127.0.0.1", ttl=120)
    dns_zone.add_a("mx2.example.com", "127.0.0.2", ttl=900)
    dns_zone.add_a("mx2.example.com", "127.0.0.3", ttl=900)
    dns_zone.add_a("mx3.example.com", "127.0.0.4", ttl=900)
    hosts = await resolver_for(dns_zone).mx_hosts("Example.COM.")
    assert hosts == [
        MxHost(10, "mx1.example.com", ["127.0.0.1"], 120),
        MxHost(10, "mx2.example.com", ["127.0.0.2", "127.0.0.3"], 600),
        MxHost(30, "mx3.example.com", ["127.0.0.4"], 600),
    ]


async def test_mx_hosts_have_their_ipv4_then_their_ipv6_addresses(dns_zone):
    dns_zone.add_mx("example.com", "dual.example.com", 10)
    dns_zone.add_mx("example.com", "six.example.com", 20)
    dns_zone.add_a("dual.example.com", "127.0.0.2")
    dns_zone.add_aaaa("dual.example.com", "::1")
    dns_zone.add_aaaa("six.example.com", "2001:db8::25", ttl=50)
    resolver = resolver_for(dns_zone)
    assert await resolver.mx_hosts("example.com") == [
        MxHost(10, "dual.example.com", ["127.0.0.2", "::1"], DEFAULT_TTL),
        MxHost(20, "six.example.com", ["2001:db8::25"], 50)]
    answer = await resolver.lookup("six.example.com", "AAAA")
    assert answer.records == ["2001:db8::25"] and answer.ttl == 50


def _without_suspending(coroutine):
    """Run *coroutine* to its end in one step; fail if it waits for anything (a loop turn)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise AssertionError("the coroutine suspended: it waited for the event loop")


async def test_cached_answers_come_without_a_loop_turn(dns_zone):
    """Once the cache holds the answers, mx_hosts and addresses answer in the same step:
    no task per lookup, so a busy loop does not make hoststatus or a route wait for them.
    Answers without records (AAAA here) and a host without any address come cached too."""
    dns_zone.add_mx("example.com", "mx1.example.com", 10)
    dns_zone.add_mx("example.com", "mx2.example.com", 20)
    dns_zone.add_a("mx1.example.com", "127.0.0.1")
    dns_zone.add_mx("mx2.example.com", "elsewhere.example.com")  # the name exists, no address
    resolver = resolver_for(dns_zone)
    first = await resolver.mx_hosts("example.com")
    assert first == [MxHost(10, "mx1.example.com", ["127.0.0.1"], DEFAULT_TTL)]
    queries = dns_zone.queries
    assert _without_suspending(resolver.mx_hosts("example.com")) == first
    assert _without_suspending(resolver.addresses("mx1.example.com")) == (["127.0.0.1"], DEFAULT_TTL)
    with pytest.raises(DnsHardError) as raised:
        _without_suspending(resolver.addresses("mx2.example.com"))
    assert raised.value.detail == "DNS Hard Error looking up mx2.example.com (A) : NoAnswer"
    assert dns_zone.queries == queries  # nothing asked again


async def test_an_exchanger_without_any_address_is_a_hard_no_answer(dns_zone):
    dns_zone.add_mx("example.com", "nowhere.example.com")
    dns_zone.add_mx("nowhere.example.com", "other.example.com")  # the name exists, no address
    with pytest.raises(DnsHardError) as raised:
        await resolver_for(dns_zone).mx_hosts("example.com")
    assert raised.value.detail == "DNS Hard Error looking up nowhere.example.com (A) : NoAnswer"


async def test_a_record_without_mx_is_the_implicit_mx(dns_zone):
    dns_zone.add_a("bare.example", "127.0.0.5", ttl=42)
    # valid while both answers are: "no MX" for the negative TTL, the address for 42 s
    assert await resolver_for(dns_zone).mx_hosts("bare.example") == [
        MxHost(0, "bare.example", ["127.0.0.5"], min(42, NEGATIVE_TTL))]


async def test_nxdomain_is_a_hard_error_with_the_spec_texts(dns_zone):
    with pytest.raises(DnsHardError) as raised:
        await resolver_for(dns_zone).mx_hosts("esa.example.com")
    error = raised.value
    assert (error.domain, error.rdtype, error.reason) == ("esa.example.com", "MX", "NXDomain")
    assert log_line(error) == "DNS Error esa.example.com MX - NXDomain"
    assert str(error) == "DNS Hard Error looking up esa.example.com (MX) : NXDomain"


async def test_servfail_and_refused_are_soft_errors(dns_zone):
    dns_zone.add_mail_domain("example.com")
    resolver = resolver_for(dns_zone)
    dns_zone.set_fault("example.com", DnsFault.SERVFAIL)
    with pytest.raises(DnsSoftError) as raised:
        await resolver.mx_hosts("example.com")
    assert log_line(raised.value) == "DNS Temporary Failure example.com MX - ServFail"
    assert str(raised.value) == "DNS Temporary Failure looking up example.com (MX) : ServFail"
    dns_zone.set_fault("example.com", DnsFault.REFUSED)
    with pytest.raises(DnsSoftError) as raised:
        await resolver.mx_hosts("example.com")
    assert raised.value.reason == "Refused"
    dns_zone.set_fault("example.com", None)  # failures are not cached: the fix shows at once
    assert [h.hostname for h in await resolver.mx_hosts("example.com")] == ["mx.example.com"]


async def test_a_zone_that_stays_silent_is_a_soft_timeout(dns_zone):
    dns_zone.add_mail_domain("example.com")
    dns_zone.set_fault("example.com", DnsFault.TIMEOUT)
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(DnsSoftError) as raised:
        await resolver_for(dns_zone, timeout=0.4).mx_hosts("example.com")
    assert raised.value.reason == "Timeout"
    assert loop.time() - started < 2


async def test_exchangers_without_addresses_are_left_out(dns_zone):
    dns_zone.add_mx("example.com", "gone.example.com", 5)
    dns_zone.add_mail_domain("example.com", "mx.example.com")
    hosts = await resolver_for(dns_zone).mx_hosts("example.com")
    assert [h.hostname for h in hosts] == ["mx.example.com"]


async def test_no_exchanger_with_an_address_raises_its_error(dns_zone):
    dns_zone.add_mx("example.com", "gone.example.com", 5)
    resolver = resolver_for(dns_zone)
    with pytest.raises(DnsHardError) as raised:
        await resolver.mx_hosts("example.com")
    assert str(raised.value) == "DNS Hard Error looking up gone.example.com (A) : NXDomain"
    dns_zone.add_a("gone.example.com")
    dns_zone.set_fault("gone.example.com", DnsFault.SERVFAIL)
    with pytest.raises(DnsSoftError):
        await resolver.mx_hosts("example.com")


async def test_null_mx_and_a_name_without_records_are_hard_errors(dns_zone):
    dns_zone.add_mx("nomail.example", ".", 0)
    dns_zone.add_a("host.empty.example")
    resolver = resolver_for(dns_zone)
    with pytest.raises(DnsHardError, match=r"\(MX\) : NullMX"):
        await resolver.mx_hosts("nomail.example")
    with pytest.raises(DnsHardError, match=r"empty.example \(MX\) : NoAnswer"):
        await resolver.mx_hosts("empty.example")


async def test_answers_are_cached_for_their_ttl_and_flushed_on_demand(dns_zone):
    dns_zone.add_mail_domain("example.com", ttl=60)
    clock = FakeClock()
    resolver = resolver_for(dns_zone, clock=clock)
    first = await resolver.mx_hosts("example.com")
    asked = dns_zone.queries
    assert asked == 3 and resolver.cached == 3  # MX, then A and AAAA (none) of the exchanger

    dns_zone.remove("mx.example.com")
    dns_zone.add_a("mx.example.com", "127.0.0.7", ttl=60)
    clock.now += NEGATIVE_TTL - 0.5
    again = await resolver.mx_hosts("example.com")
    assert [h.addresses for h in again] == [h.addresses for h in first] == [["127.0.0.1"]]
    assert again[0].ttl == 31  # what is left of the MX and the A record
    assert dns_zone.queries == asked

    clock.now += 1  # the "no AAAA" answer expired: asked again, the rest still kept
    assert (await resolver.mx_hosts("example.com"))[0].addresses == ["127.0.0.1"]
    assert dns_zone.queries == asked + 1

    clock.now += 60  # all expired: asked again
    assert (await resolver.mx_hosts("example.com"))[0].addresses == ["127.0.0.7"]
    assert dns_zone.queries == asked + 4

    dns_zone.remove("mx.example.com")
    dns_zone.add_a("mx.example.com", "127.0.0.8")
    assert resolver.flush() == 3 and resolver.cached == 0
    assert (await resolver.mx_hosts("example.com"))[0].addresses == ["127.0.0.8"]


async def test_concurrent_lookups_of_one_name_share_a_query(dns_zone):
    dns_zone.add_mail_domain("example.com")
    resolver = resolver_for(dns_zone)
    results = await asyncio.gather(*(resolver.mx_hosts("example.com") for _ in range(20)))
    assert all(r == results[0] for r in results)
    assert dns_zone.queries == 3  # MX, A, AAAA: once each


async def test_lookup_gives_records_with_ttls_for_nslookup(dns_zone):
    dns_zone.add_mail_domain("example.com", ttl=77)
    answer = await resolver_for(dns_zone).lookup("example.com", "mx")
    assert (answer.name, answer.rdtype, answer.ttl) == ("example.com", "MX", 77)
    assert answer.records == ["10 mx.example.com."]
    assert answer.server == f"127.0.0.1#{dns_zone.port}"
    empty = await resolver_for(dns_zone).lookup("example.com", "TXT")
    assert empty.records == [] and empty.ttl == NEGATIVE_TTL  # the SOA's minimum (RFC 2308)


async def test_second_server_answers_when_the_first_is_gone(dns_zone):
    """A configured server that does not answer is skipped, not fatal."""
    import socket

    from tests.ports import hold_port

    dns_zone.add_mail_domain("example.com")
    with hold_port(kind=socket.SOCK_DGRAM) as silent:  # takes the query, never answers
        resolver = DnsResolver([silent.getsockname(), dns_zone.address], timeout=0.6)
        hosts = await resolver.mx_hosts("example.com")
    assert hosts[0].addresses == ["127.0.0.1"]
