"""A small authoritative DNS server on loopback, so every drill runs on one machine.

It holds the MX and address (A, AAAA) records of the lab's mail domains (the simulator registers its
intake domains: ``beta.cmd.cisco.com MX 10 mx.beta.cmd.cisco.com`` and
``mx.beta.cmd.cisco.com A 127.0.0.1``), answers NXDOMAIN for every other name, and
fails on demand per name -- SERVFAIL, REFUSED or silence (a timeout) -- so the gateway's
DNS error classes (SPEC.md §4 ruling 5) can be shown.  It answers over UDP and TCP on
the same port; port 0 picks a free one, reported by ``start()``.

Built on twisted.names: the reactor must be running (Twisted on the asyncio loop).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from twisted.internet import defer
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IReactorUDP
from twisted.names import common, dns, server
from twisted.python.failure import Failure

DEFAULT_TTL = 300
#: How long a resolver may remember that a name has no records of a type (RFC 2308: the
#: SOA's minimum, sent with such an answer).  Short, so that a record added in a drill
#: shows soon; ``dnsflush`` at the gateway makes it show at once.
NEGATIVE_TTL = 30

#: The record types this zone holds, by their Twisted type code.
_RECORD_CLASSES = {dns.A: dns.Record_A, dns.AAAA: dns.Record_AAAA, dns.MX: dns.Record_MX}
_TYPE_NAMES = {dns.A: "A", dns.AAAA: "AAAA", dns.MX: "MX"}
_TYPE_CODES = {name: code for code, name in _TYPE_NAMES.items()}


class DnsFault(StrEnum):
    """What the zone does, on demand, instead of answering for a name."""

    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"  # no answer at all: the client's timeout fires


@dataclass(frozen=True)
class ZoneRecord:
    """One record: ``mx.example.com 300 A 127.0.0.1``, ``mx.example.com 300 AAAA ::1`` or
    ``example.com 300 MX 10 mx...``."""

    name: str
    rdtype: str
    ttl: int
    value: str  # the A or AAAA address, or the MX exchange
    preference: int = 0

    def payload(self) -> Any:
        if self.rdtype == "MX":
            return dns.Record_MX(self.preference, self.value, ttl=self.ttl)
        return _RECORD_CLASSES[_TYPE_CODES[self.rdtype]](self.value, ttl=self.ttl)

    def header(self) -> dns.RRHeader:
        return dns.RRHeader(name=self.name, type=_TYPE_CODES[self.rdtype], cls=dns.IN,
                            ttl=self.ttl, payload=self.payload(), auth=True)

    def as_text(self) -> str:
        data = f"{self.preference} {self.value}" if self.rdtype == "MX" else self.value
        return f"{self.name} {self.ttl} IN {self.rdtype} {data}"


class _Fault(Exception):
    """A fault asked for: the server answers with ``rcode`` instead of records."""

    def __init__(self, rcode: int) -> None:
        super().__init__(rcode)
        self.rcode = rcode


class _ZoneAuthority(common.ResolverBase):
    """twisted.names' view of the zone: one lookup -> answers, or a fault."""

    def __init__(self, zone: DnsZone) -> None:
        super().__init__()
        self._zone = zone

    def _lookup(self, name: bytes, cls: int, type: int, timeout: Any) -> defer.Deferred:
        return self._zone._resolve(name.decode("ascii", "replace"), cls, type)


class _ZoneServerFactory(server.DNSServerFactory):
    """DNSServerFactory that answers a fault with its own rcode (Twisted would say
    SERVFAIL and log a traceback for any failure that is not NXDOMAIN)."""

    def gotResolverError(self, failure: Failure,
                         protocol: dns.DNSDatagramProtocol | dns.DNSProtocol,
                         message: dns.Message, address: tuple[str, int] | None) -> None:
        if isinstance(failure.value, _Fault):
            response = self._responseFromMessage(message=message, rCode=failure.value.rcode)
            self.sendReply(protocol, response, address)
            return None
        return super().gotResolverError(failure, protocol, message, address)


class DnsZone:
    """The lab's DNS: records and faults that can change while it runs.

    >>> zone = DnsZone(); port = zone.start()       # reactor running
    >>> zone.add_mail_domain("beta.cmd.cisco.com")   # MX + A 127.0.0.1
    >>> zone.set_fault("beta.cmd.cisco.com", DnsFault.SERVFAIL)
    """

    def __init__(self, *, host: str = "127.0.0.1", ttl: int = DEFAULT_TTL) -> None:
        self.host = host
        self.ttl = ttl
        self._records: dict[str, list[ZoneRecord]] = {}
        self._faults: dict[str, DnsFault] = {}
        self._factory = _ZoneServerFactory(authorities=[_ZoneAuthority(self)])
        self._factory.noisy = False
        self._ports: list[IListeningPort] = []
        self.port = 0
        self.queries = 0

    # -- records ------------------------------------------------------------------------

    def add_a(self, name: str, address: str = "127.0.0.1", *, ttl: int | None = None) -> None:
        """``name A address`` (added to the name's other addresses)."""
        self._add(ZoneRecord(_normalise(name), "A", self._ttl(ttl), address))

    def add_aaaa(self, name: str, address: str = "::1", *, ttl: int | None = None) -> None:
        """``name AAAA address`` (added to the name's other addresses)."""
        self._add(ZoneRecord(_normalise(name), "AAAA", self._ttl(ttl), address))

    def add_mx(self, domain: str, exchange: str, preference: int = 10, *,
               ttl: int | None = None) -> None:
        """``domain MX preference exchange``."""
        self._add(ZoneRecord(_normalise(domain), "MX", self._ttl(ttl), _normalise(exchange),
                             preference))

    def add_mail_domain(self, domain: str, mx_host: str | None = None,
                        address: str = "127.0.0.1", *, preference: int = 10,
                        ttl: int | None = None) -> str:
        """A domain that receives mail: MX -> *mx_host* (``mx.<domain>``) -> A *address*.

        Adding a domain that is already there changes nothing; returns the MX host name.
        """
        domain = _normalise(domain)
        mx_host = _normalise(mx_host or f"mx.{domain}")
        if not any(r.rdtype == "MX" and r.value == mx_host for r in self._records.get(domain, [])):
            self.add_mx(domain, mx_host, preference, ttl=ttl)
        if not any(r.rdtype == "A" and r.value == address for r in self._records.get(mx_host, [])):
            self.add_a(mx_host, address, ttl=ttl)
        return mx_host

    def remove(self, name: str, rdtype: str | None = None) -> int:
        """Remove the records of *name* (all, or those of *rdtype*); return how many."""
        name = _normalise(name)
        records = self._records.get(name, [])
        kept = [r for r in records if rdtype is not None and r.rdtype != rdtype.upper()]
        if kept:
            self._records[name] = kept
        else:
            self._records.pop(name, None)
        return len(records) - len(kept)

    def records(self, name: str | None = None) -> list[ZoneRecord]:
        """All records (of *name*), in name order."""
        if name is not None:
            return list(self._records.get(_normalise(name), []))
        return [r for key in sorted(self._records) for r in self._records[key]]

    def zone_text(self) -> str:
        """The zone in master-file form, one record a line, for a dashboard or a log."""
        return "\n".join(r.as_text() for r in self.records())

    def _add(self, record: ZoneRecord) -> None:
        self._records.setdefault(record.name, []).append(record)

    def _ttl(self, ttl: int | None) -> int:
        return self.ttl if ttl is None else ttl

    # -- faults -------------------------------------------------------------------------

    def set_fault(self, name: str, fault: DnsFault | str | None) -> None:
        """From now on answer every query for *name* with *fault* (None: answer again)."""
        name = _normalise(name)
        if fault is None:
            self._faults.pop(name, None)
        else:
            self._faults[name] = DnsFault(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> dict[str, DnsFault]:
        return dict(self._faults)

    # -- answering ----------------------------------------------------------------------

    def _resolve(self, name: str, cls: int, rdtype: int) -> defer.Deferred:
        """(answers, authority, additional) for one question, or a fault, or NXDOMAIN."""
        self.queries += 1
        name = _normalise(name)
        fault = self._faults.get(name)
        if fault is DnsFault.TIMEOUT:
            return defer.Deferred()  # never fires: the client times out
        if fault is not None:
            code = dns.ESERVER if fault is DnsFault.SERVFAIL else dns.EREFUSED
            return defer.fail(_Fault(code))
        if cls != dns.IN or not self._exists(name):
            return defer.fail(dns.AuthoritativeDomainError(name))
        answers = [r for r in self._records.get(name, [])
                   if rdtype in (dns.ALL_RECORDS, _TYPE_CODES[r.rdtype])]
        additional = [a for r in answers if r.rdtype == "MX"
                      for a in self._records.get(r.value, []) if a.rdtype in ("A", "AAAA")]
        authority = [] if answers else [_negative_soa(name)]  # NODATA: how long to remember
        return defer.succeed(([r.header() for r in answers], authority,
                              [a.header() for a in additional]))

    def _exists(self, name: str) -> bool:
        """A name exists when it holds records or has names below it (an empty
        non-terminal answers NOERROR without records, not NXDOMAIN)."""
        return name in self._records or any(key.endswith("." + name) for key in self._records)

    # -- running ------------------------------------------------------------------------

    def start(self, port: int = 0) -> int:
        """Listen on UDP and TCP *port* of ``host`` (0: a free port); return the port."""
        from twisted.internet import reactor

        if self._ports:
            raise RuntimeError("the DNS zone is already running")
        for _ in range(50):  # a free UDP port may be a busy TCP port: try another
            # A protocol per try: the one of a given-up port is detached only later.
            udp_protocol = dns.DNSDatagramProtocol(controller=self._factory)
            # The reactor's type covers TCP only: adapt it to UDP, as Twisted advises.  The
            # interface's signature lacks the defaults, so Twisted's maxPacketSize is given.
            udp = IReactorUDP(reactor).listenUDP(port, udp_protocol, interface=self.host,
                                                 maxPacketSize=8192)
            chosen = _port_number(udp)
            try:
                tcp = reactor.listenTCP(chosen, self._factory, interface=self.host)
            except CannotListenError:
                udp.stopListening()
                if port:
                    raise
                continue
            self._ports = [udp, tcp]
            self.port = chosen
            return chosen
        raise CannotListenError(self.host, port, OSError("no port free for both UDP and TCP"))

    async def stop(self) -> None:
        """Close both sockets (and the TCP connections still open)."""
        ports, self._ports = self._ports, []
        for connection in list(self._factory.connections):
            connection.transport.loseConnection()
        waits = [defer.maybeDeferred(p.stopListening) for p in ports]
        if waits:
            loop = asyncio.get_running_loop()
            await defer.gatherResults(waits).asFuture(loop)

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)``, as ``dnsconfig`` and DnsResolver take it."""
        return (self.host, self.port)


def _port_number(listening: IListeningPort) -> int:
    address = listening.getHost()  # typed IAddress (no port); an IP port's is an IP address
    assert isinstance(address, IPv4Address | IPv6Address), address
    return address.port


def _negative_soa(name: str) -> dns.RRHeader:
    soa = dns.Record_SOA(mname="ns.lab.test", rname="hostmaster.lab.test", serial=1,
                         refresh=3600, retry=600, expire=86400, minimum=NEGATIVE_TTL,
                         ttl=NEGATIVE_TTL)
    return dns.RRHeader(name=name, type=dns.SOA, cls=dns.IN, ttl=NEGATIVE_TTL, payload=soa,
                        auth=True)


def _normalise(name: str) -> str:
    return name.strip().rstrip(".").lower()
