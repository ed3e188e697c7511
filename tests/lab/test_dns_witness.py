"""The lab zone as a drill's witness and fault source, asked with dnspython over real
sockets: the query log, faults per type and for N queries, records replaced at run time,
sub-domain wildcards, and the black hole that never answers."""

from __future__ import annotations

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import pytest

from segcli.lab.dns_blackhole import DnsBlackhole
from segcli.lab.dns_zone import QUERY_LOG_KEPT, DnsFault, DnsQuery, DnsZone, ZoneFault


async def ask(address: tuple[str, int], name: str, rdtype: str = "MX", *, tcp: bool = False,
              timeout: float = 2.0) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    send = dns.asyncquery.tcp if tcp else dns.asyncquery.udp
    return await send(query, address[0], port=address[1], timeout=timeout)


def rcodes(zone: DnsZone, name: str | None = None) -> list[tuple[str, str, str, int]]:
    return [(q.name, q.rdtype, q.rcode, q.answers) for q in zone.query_log(name)]


async def test_every_rcode_is_logged_with_the_client_and_counted(dns_zone):
    dns_zone.add_mail_domain("example.com")
    await ask(dns_zone.address, "example.com")  # NOERROR, 1 answer
    await ask(dns_zone.address, "nowhere.test")  # NXDOMAIN
    for fault in (DnsFault.SERVFAIL, DnsFault.REFUSED):
        dns_zone.set_fault("example.com", fault, times=1)
        await ask(dns_zone.address, "example.com")
    dns_zone.set_fault("example.com", DnsFault.TIMEOUT, times=1)
    with pytest.raises(dns.exception.Timeout):
        await ask(dns_zone.address, "example.com", timeout=0.3)
    await ask(dns_zone.address, "Example.COM.", "A", tcp=True)  # NODATA over TCP
    assert rcodes(dns_zone) == [
        ("example.com", "MX", "NOERROR", 1), ("nowhere.test", "MX", "NXDOMAIN", 0),
        ("example.com", "MX", "SERVFAIL", 0), ("example.com", "MX", "REFUSED", 0),
        ("example.com", "MX", "TIMEOUT", 0), ("example.com", "A", "NOERROR", 0)]
    first, *_, last = dns_zone.query_log()
    assert isinstance(first, DnsQuery)
    assert first.client.startswith("127.0.0.1:") and first.client.endswith(" udp")
    assert last.client.endswith(" tcp") and last.time >= first.time
    assert dns_zone.query_count() == 6
    assert dns_zone.query_count("EXAMPLE.com.", "mx") == 4
    assert dns_zone.query_count(rcode="nxdomain") == 1
    assert dns_zone.query_count("example.com", rcode="TIMEOUT") == 1
    assert [q.rcode for q in dns_zone.query_log("example.com", "A")] == ["NOERROR"]


async def test_nxdomain_and_nodata_faults_differ_as_the_resolver_sees_them(dns_zone):
    dns_zone.add_mail_domain("example.com")
    dns_zone.set_fault("example.com", DnsFault.NODATA, rdtype="MX")
    nodata = await ask(dns_zone.address, "example.com")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority  # the SOA that says how long to remember the absence
    # the fault is for MX only: the name still exists for other types
    assert (await ask(dns_zone.address, "mx.example.com", "A")).answer
    dns_zone.set_fault("example.com", "NXDOMAIN")  # every type; the MX one still wins for MX
    assert (await ask(dns_zone.address, "example.com", "A")).rcode() == dns.rcode.NXDOMAIN
    assert (await ask(dns_zone.address, "example.com")).rcode() == dns.rcode.NOERROR
    assert {(f.rdtype, f.fault) for f in dns_zone.faults} == {("MX", DnsFault.NODATA),
                                                             (None, DnsFault.NXDOMAIN)}
    dns_zone.set_fault("example.com", None, rdtype="MX")  # clears the MX one only
    assert dns_zone.faults == [ZoneFault("example.com", DnsFault.NXDOMAIN)]
    assert (await ask(dns_zone.address, "example.com")).rcode() == dns.rcode.NXDOMAIN
    dns_zone.set_fault("example.com", None)
    assert dns_zone.faults == []
    assert (await ask(dns_zone.address, "example.com")).answer


async def test_a_fault_for_one_query_is_spent_after_it(dns_zone):
    dns_zone.add_mail_domain("example.com")
    dns_zone.set_fault("example.com", DnsFault.SERVFAIL, rdtype="MX", times=2)
    assert dns_zone.faults[0].remaining == 2
    assert (await ask(dns_zone.address, "example.com", "A")).rcode() == dns.rcode.NOERROR
    assert (await ask(dns_zone.address, "example.com")).rcode() == dns.rcode.SERVFAIL
    assert dns_zone.faults[0].remaining == 1
    assert (await ask(dns_zone.address, "example.com")).rcode() == dns.rcode.SERVFAIL
    assert dns_zone.faults == []
    assert (await ask(dns_zone.address, "example.com")).rcode() == dns.rcode.NOERROR
    assert dns_zone.query_count("example.com", "MX", "SERVFAIL") == 2


@pytest.mark.parametrize(("args", "message"), [
    (("example.com", "bogus"), "DNS fault 'bogus'"),
    (("example.com", "servfail", "NOPE"), "not a DNS record type"),
    (("example.com", "servfail", None, 0), "at least 1"),
    (("bad name.com", "servfail"), "not a domain name"),
])
async def test_bad_faults_are_refused_and_change_nothing(dns_zone, args, message):
    dns_zone.set_fault("example.com", DnsFault.REFUSED)
    with pytest.raises(ValueError, match=message):
        dns_zone.set_fault(*args)
    assert dns_zone.faults == [ZoneFault("example.com", DnsFault.REFUSED)]


async def test_records_replaced_at_run_time(dns_zone):
    dns_zone.add_mail_domain("beta.setd.test", "mx.beta.setd.test")
    dns_zone.set_records("beta.setd.test", "mx", ["20 mx2.beta.setd.test", "10 mx1.beta.setd.test"])
    dns_zone.set_records("mx1.beta.setd.test", "A", ["127.0.0.5"])
    dns_zone.set_records("mx1.beta.setd.test", "AAAA", ["::1"])
    response = await ask(dns_zone.address, "beta.setd.test")
    assert sorted(r.to_text() for r in response.answer[0]) == [
        "10 mx1.beta.setd.test.", "20 mx2.beta.setd.test."]
    assert sorted(r.to_text() for rrset in response.additional for r in rrset) == [
        "127.0.0.5", "::1"]
    dns_zone.set_records("beta.setd.test", "MX", [])  # names below it: it stays, as NODATA
    nodata = await ask(dns_zone.address, "beta.setd.test")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert dns_zone.records("beta.setd.test") == []
    assert dns_zone.remove("mx1.beta.setd.test", "AAAA") == 1


@pytest.mark.parametrize(("rdtype", "values", "message"), [
    ("A", ["10.0.0.300"], "not an IPv4 address"),
    ("AAAA", ["127.0.0.1"], "not an IPv6 address"),
    ("MX", ["mx1.example.test"], "not 'preference host'"),
    ("MX", ["70000 mx1.example.test"], "not 'preference host'"),
    ("MX", ["10 bad host"], "not a domain name"),
    ("TXT", ["hello"], "A, AAAA, MX records only"),
    ("A", "127.0.0.1", "a list of strings"),
])
async def test_bad_records_are_refused_and_change_nothing(dns_zone, rdtype, values, message):
    dns_zone.add_mail_domain("example.com")
    before = dns_zone.zone_text()
    with pytest.raises(ValueError, match=message):
        dns_zone.set_records("example.com", rdtype, ["10 mx.example.com", *values]
                             if rdtype == "MX" else values)
    assert dns_zone.zone_text() == before


async def test_sub_domains_answer_mx_through_the_wildcard_and_explicit_records_win(dns_zone):
    dns_zone.add_mail_domain("example.com", "mx.example.com", subdomains=True)
    dns_zone.add_mail_domain("partners.example.com", "in.partners.test")
    for name in ("sales.example.com", "a.b.example.com"):
        response = await ask(dns_zone.address, name)
        [mx] = response.answer
        assert mx.name.to_text() == f"{name}."  # the name asked, not "*.example.com"
        assert [r.to_text() for r in mx] == ["10 mx.example.com."]
        assert [r.to_text() for rrset in response.additional for r in rrset] == ["127.0.0.1"]
    explicit = await ask(dns_zone.address, "partners.example.com")
    assert [r.to_text() for r in explicit.answer[0]] == ["10 in.partners.test."]
    # the MX host holds an A record of its own: the wildcard does not add an MX to it
    assert not (await ask(dns_zone.address, "mx.example.com")).answer
    assert (await ask(dns_zone.address, "sales.example.org")).rcode() == dns.rcode.NXDOMAIN
    assert "*.example.com 300 IN MX 10 mx.example.com" in dns_zone.zone_text()
    dns_zone.add_mail_domain("example.com", "mx.example.com", subdomains=True)  # no doubles
    assert len(dns_zone.records("*.example.com")) == 1


async def test_the_log_keeps_the_latest_queries_and_the_counts_go_on(dns_zone, monkeypatch):
    import segcli.lab.dns_zone as module

    monkeypatch.setattr(module, "QUERY_LOG_KEPT", 3)
    zone = DnsZone()  # the log's size is read when the zone is made
    zone.start()
    try:
        for n in range(5):
            await ask(zone.address, f"n{n}.test")
        assert [q.name for q in zone.query_log()] == ["n2.test", "n3.test", "n4.test"]
        assert zone.query_count(rcode="NXDOMAIN") == 5
    finally:
        await zone.stop()
    assert QUERY_LOG_KEPT == 10_000


async def test_the_black_hole_reads_and_never_answers(run):
    hole = DnsBlackhole()
    port = hole.start()
    try:
        assert port and hole.address == ("127.0.0.1", port)
        with pytest.raises(dns.exception.Timeout):
            await ask(hole.address, "beta.setd.test", timeout=0.3)
        with pytest.raises(dns.exception.Timeout):
            await ask(hole.address, "beta.setd.test", tcp=True, timeout=0.3)
        assert (hole.datagrams, hole.connections) == (1, 1)
        with pytest.raises(RuntimeError):
            hole.start()
    finally:
        await hole.stop()
