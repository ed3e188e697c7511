"""A small authoritative DNS server on loopback, so every drill runs on one machine.

It holds the MX and address (A, AAAA) records of the lab's mail domains (the simulator registers its
intake domains: ``beta.cmd.cisco.com MX 10 mx.beta.cmd.cisco.com`` and
``mx.beta.cmd.cisco.com A 127.0.0.1``), answers NXDOMAIN for every other name, and
fails on demand per name (and record type, for the next N queries or until cleared) --
SERVFAIL, REFUSED, silence (a timeout), NXDOMAIN or NODATA -- so the gateway's DNS error
classes (SPEC.md §4 ruling 5) can be shown.  A mail domain may answer for every name
below it (a wildcard ``*.domain MX``), so a policy for a new sub-domain does not bounce.
Every query is logged (a bounded log, and totals that are never capped): the drills'
independent witness of what the gateway asked.  It answers over UDP and TCP on the same
port; port 0 picks a free one, reported by ``start()``.

Built on twisted.names: the reactor must be running (Twisted on the asyncio loop).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections import Counter, deque
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
#: How many queries the log keeps (the counts behind ``query_count`` are never capped).
QUERY_LOG_KEPT = 10_000

#: The record types this zone holds, by their Twisted type code.
_RECORD_CLASSES = {dns.A: dns.Record_A, dns.AAAA: dns.Record_AAAA, dns.MX: dns.Record_MX}
_TYPE_NAMES = {dns.A: "A", dns.AAAA: "AAAA", dns.MX: "MX"}
_TYPE_CODES = {name: code for code, name in _TYPE_NAMES.items()}


class DnsFault(StrEnum):
    """What the zone does, on demand, instead of answering for a name."""

    SERVFAIL = "servfail"
    REFUSED = "refused"
    TIMEOUT = "timeout"  # no answer at all: the client's timeout fires
    NXDOMAIN = "nxdomain"  # the name does not exist (whatever the zone holds)
    NODATA = "nodata"  # the name exists, without records of the type asked (NOERROR, empty)


#: The rcodes of the query log: the DNS rcodes the zone sends, and TIMEOUT for no answer.
RCODES = ("NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "TIMEOUT")
_FAULT_RCODES = {DnsFault.SERVFAIL: "SERVFAIL", DnsFault.REFUSED: "REFUSED",
                 DnsFault.TIMEOUT: "TIMEOUT", DnsFault.NXDOMAIN: "NXDOMAIN",
                 DnsFault.NODATA: "NOERROR"}


@dataclass(frozen=True)
class DnsQuery:
    """One query the zone received, and how it answered: ``rcode`` is NOERROR, NXDOMAIN,
    SERVFAIL, REFUSED, or TIMEOUT when no answer was sent; ``answers`` counts the records
    of the answer section (0 for NODATA)."""

    time: float  # time.time() when the query arrived
    client: str  # "127.0.0.1:53211 udp"
    name: str
    rdtype: str
    rcode: str
    answers: int


@dataclass(frozen=True)
class ZoneFault:
    """A fault in force: *fault* for queries of *name* (of *rdtype*, or of every type when
    None); ``remaining`` is how many more queries it hits (None: until cleared)."""

    name: str
    fault: DnsFault
    rdtype: str | None = None
    remaining: int | None = None

    def describe(self) -> str:
        what = f"{self.name} {self.rdtype or 'any type'}: {self.fault.value}"
        return what + ("" if self.remaining is None else f" (next {self.remaining} queries)")


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

    def header(self, owner: str | None = None) -> dns.RRHeader:
        """The record as sent; *owner* is the name asked, for a record a wildcard made."""
        return dns.RRHeader(name=owner or self.name, type=_TYPE_CODES[self.rdtype], cls=dns.IN,
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
    SERVFAIL and log a traceback for any failure that is not NXDOMAIN), and tells the zone
    who asks (the resolver interface has no room for the client, which the query log names)."""

    def __init__(self, zone: DnsZone) -> None:
        super().__init__(authorities=[_ZoneAuthority(zone)])
        self._zone = zone

    def handleQuery(self, message: dns.Message,
                    protocol: dns.DNSDatagramProtocol | dns.DNSProtocol,
                    address: tuple[str, int] | None) -> defer.Deferred:
        # The resolver chain calls the zone synchronously, inside this call.
        self._zone._client = _client_of(protocol, address)
        try:
            return super().handleQuery(message, protocol, address)
        finally:
            self._zone._client = ""

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
        self._faults: dict[tuple[str, str | None], ZoneFault] = {}
        self._factory = _ZoneServerFactory(self)
        self._factory.noisy = False
        self._ports: list[IListeningPort] = []
        self.port = 0
        self.queries = 0
        self._log: deque[DnsQuery] = deque(maxlen=QUERY_LOG_KEPT)
        self._counts: Counter[tuple[str, str, str]] = Counter()  # (name, rdtype, rcode)
        self._client = ""  # who asks the query being answered (set by the factory)

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
                        ttl: int | None = None, subdomains: bool = False) -> str:
        """A domain that receives mail: MX -> *mx_host* (``mx.<domain>``) -> A *address*.

        *subdomains*: every name below *domain* that holds no records of its own answers
        MX with the same host too (a wildcard ``*.domain MX``), so mail for a new
        sub-domain (a policy for ``@sales.example.com``) is not bounced with NXDOMAIN.
        Adding what is already there changes nothing; returns the MX host name.
        """
        domain = _normalise(domain)
        mx_host = _normalise(mx_host or f"mx.{domain}")
        owners = [domain, f"*.{domain}"] if subdomains else [domain]
        for owner in owners:
            if not any(r.rdtype == "MX" and r.value == mx_host
                       for r in self._records.get(owner, [])):
                self.add_mx(owner, mx_host, preference, ttl=ttl)
        if not any(r.rdtype == "A" and r.value == address for r in self._records.get(mx_host, [])):
            self.add_a(mx_host, address, ttl=ttl)
        return mx_host

    def set_records(self, name: str, rdtype: str, values: list[str], *,
                    ttl: int | None = None) -> None:
        """Replace *name*'s records of *rdtype* (A, AAAA or MX) with *values*, at run time.

        A value is an address for A and AAAA, ``"10 mx1.example.test"`` (preference and
        host) for MX; an empty list leaves the name without records of the type.  A bad
        value raises ValueError naming it, and nothing changes.
        """
        owner = _checked_name(name)
        kind = rdtype.strip().upper()
        if kind not in _TYPE_CODES:
            raise ValueError(f"record type {rdtype!r}: the lab zone holds "
                             f"{', '.join(_TYPE_CODES)} records only")
        if isinstance(values, str):
            raise ValueError("values must be a list of strings, not one string")
        records = [_parse_value(owner, kind, value, self._ttl(ttl)) for value in values]
        kept = [r for r in self._records.get(owner, []) if r.rdtype != kind]
        if kept or records:
            self._records[owner] = kept + records
        else:
            self._records.pop(owner, None)

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

    def set_fault(self, name: str, fault: DnsFault | str | None, rdtype: str | None = None,
                  times: int | None = None) -> None:
        """Answer queries for *name* (of *rdtype*, or of every type) with *fault*, for the
        next *times* queries (then the fault is spent) or until cleared.

        *fault* None clears the fault of *name* and *rdtype* (with *rdtype* None: every
        fault of *name*).  A fault for one type wins over one for every type.  Bad values
        raise ValueError and change nothing.
        """
        owner = _checked_name(name)
        kind = _checked_type(rdtype)
        if fault is None:
            for key in [k for k in self._faults if k[0] == owner and kind in (None, k[1])]:
                del self._faults[key]
            return
        try:
            chosen = DnsFault(str(fault).lower())
        except ValueError:
            raise ValueError(f"DNS fault {fault!r}: one of "
                             f"{', '.join(f.value for f in DnsFault)}") from None
        if times is not None and (isinstance(times, bool) or not isinstance(times, int)
                                  or times < 1):
            raise ValueError(f"times {times!r}: a whole number of queries, at least 1 "
                             "(or None: until cleared)")
        self._faults[(owner, kind)] = ZoneFault(owner, chosen, kind, times)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[ZoneFault]:
        """The faults in force, in name order."""
        return sorted(self._faults.values(), key=lambda f: (f.name, f.rdtype or ""))

    def _take_fault(self, name: str, rdtype: str) -> DnsFault | None:
        """The fault due for this query (counting it against a limited one), or None."""
        key = (name, rdtype) if (name, rdtype) in self._faults else (name, None)
        rule = self._faults.get(key)
        if rule is None:
            return None
        if rule.remaining is not None:
            if rule.remaining <= 1:
                del self._faults[key]
            else:
                self._faults[key] = ZoneFault(rule.name, rule.fault, rule.rdtype,
                                              rule.remaining - 1)
        return rule.fault

    # -- the query log ------------------------------------------------------------------

    def query_log(self, name: str | None = None, rdtype: str | None = None) -> list[DnsQuery]:
        """The latest queries (up to QUERY_LOG_KEPT), oldest first, of *name* / *rdtype*."""
        wanted_name = None if name is None else _normalise(name)
        wanted_type = None if rdtype is None else rdtype.strip().upper()
        return [q for q in self._log if wanted_name in (None, q.name)
                and wanted_type in (None, q.rdtype)]

    def query_count(self, name: str | None = None, rdtype: str | None = None,
                    rcode: str | None = None) -> int:
        """How many queries (of *name*, *rdtype*, answered *rcode*) arrived since the zone
        was made: never capped, whatever the log still holds."""
        wanted = (None if name is None else _normalise(name),
                  None if rdtype is None else rdtype.strip().upper(),
                  None if rcode is None else rcode.strip().upper())
        return sum(count for key, count in self._counts.items()
                   if all(w in (None, k) for w, k in zip(wanted, key, strict=True)))

    def _note(self, name: str, rdtype: str, rcode: str, answers: int) -> None:
        self._log.append(DnsQuery(time.time(), self._client, name, rdtype, rcode, answers))
        self._counts[(name, rdtype, rcode)] += 1

    # -- answering ----------------------------------------------------------------------

    def _resolve(self, name: str, cls: int, rdtype: int) -> defer.Deferred:
        """(answers, authority, additional) for one question, or a fault, or NXDOMAIN;
        noted in the query log either way."""
        self.queries += 1
        name = _normalise(name)
        type_name = _type_name(rdtype)
        fault = self._take_fault(name, type_name)
        if fault is DnsFault.TIMEOUT:
            self._note(name, type_name, "TIMEOUT", 0)
            return defer.Deferred()  # never fires: the client times out
        if fault in (DnsFault.SERVFAIL, DnsFault.REFUSED):
            self._note(name, type_name, _FAULT_RCODES[fault], 0)
            return defer.fail(_Fault(dns.ESERVER if fault is DnsFault.SERVFAIL
                                     else dns.EREFUSED))
        if fault is DnsFault.NODATA:
            self._note(name, type_name, "NOERROR", 0)
            return defer.succeed(([], [_negative_soa(name)], []))
        owner, records = self._records_for(name)
        if fault is DnsFault.NXDOMAIN or cls != dns.IN or owner is None:
            self._note(name, type_name, "NXDOMAIN", 0)
            return defer.fail(dns.AuthoritativeDomainError(name))
        answers = [r for r in records if rdtype in (dns.ALL_RECORDS, _TYPE_CODES[r.rdtype])]
        additional = [a for r in answers if r.rdtype == "MX"
                      for a in self._records.get(r.value, []) if a.rdtype in ("A", "AAAA")]
        authority = [] if answers else [_negative_soa(name)]  # NODATA: how long to remember
        self._note(name, type_name, "NOERROR", len(answers))
        return defer.succeed(([r.header(name) for r in answers], authority,
                              [a.header() for a in additional]))

    def _records_for(self, name: str) -> tuple[str | None, list[ZoneRecord]]:
        """The records that answer for *name*: its own, or a wildcard's above it (only for
        a name holding none of its own: explicit records win); owner None: no such name."""
        if name in self._records:
            return name, self._records[name]
        labels = name.split(".")
        for start in range(1, len(labels)):  # the closest wildcard first
            wildcard = "*." + ".".join(labels[start:])
            if wildcard in self._records:
                return wildcard, self._records[wildcard]
        return (name, []) if self._exists(name) else (None, [])

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


def _client_of(protocol: Any, address: tuple[str, int] | None) -> str:
    """``host:port udp`` (a datagram names its sender) or ``host:port tcp``."""
    if address is not None:
        return f"{address[0]}:{address[1]} udp"
    transport = getattr(protocol, "transport", None)
    peer = transport.getPeer() if transport is not None else None
    if isinstance(peer, IPv4Address | IPv6Address):
        return f"{peer.host}:{peer.port} tcp"
    return "tcp"


def _type_name(code: int) -> str:
    if code == dns.ALL_RECORDS:
        return "ANY"
    return str(dns.QUERY_TYPES.get(code) or dns.EXT_QUERIES.get(code) or f"TYPE{code}")


def _checked_name(name: str) -> str:
    """*name* normalised, or ValueError for one that is no domain name."""
    if not isinstance(name, str):
        raise ValueError(f"name {name!r}: not a domain name")
    owner = _normalise(name)
    labels = owner.split(".")
    if not owner or len(owner) > 253 or any(
            not label or len(label) > 63 or any(c.isspace() for c in label) for label in labels):
        raise ValueError(f"name {name!r}: not a domain name")
    return owner


def _checked_type(rdtype: str | None) -> str | None:
    """A record type name (``MX``), None for every type, or ValueError."""
    if rdtype is None:
        return None
    kind = str(rdtype).strip().upper()
    if kind != "ANY" and kind not in dns.REV_TYPES:
        raise ValueError(f"record type {rdtype!r}: not a DNS record type")
    return kind


def _parse_value(owner: str, rdtype: str, value: str, ttl: int) -> ZoneRecord:
    """One value of set_records as a record, or ValueError saying what is wrong."""
    if not isinstance(value, str):
        raise ValueError(f"{owner} {rdtype}: {value!r} is not text")
    text = value.strip()
    if rdtype == "MX":
        preference, _, host = text.partition(" ")
        host = host.strip()
        if not preference.isdigit() or not 0 <= int(preference) <= 65535 or not host:
            raise ValueError(f"{owner} MX: {value!r} is not 'preference host' "
                             "(e.g. '10 mx1.example.test')")
        return ZoneRecord(owner, "MX", ttl, _checked_name(host), int(preference))
    family = ipaddress.IPv4Address if rdtype == "A" else ipaddress.IPv6Address
    try:
        address = family(text)
    except ValueError:
        raise ValueError(f"{owner} {rdtype}: {value!r} is not an "
                         f"{'IPv4' if rdtype == 'A' else 'IPv6'} address") from None
    return ZoneRecord(owner, rdtype, ttl, str(address))


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
