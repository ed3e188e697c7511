"""The gateway's DNS client: MX then A, with AsyncOS's error classes and a TTL cache.

Delivery (ordinary destinations and ``the.tdc.queue``) needs three answers from DNS:
where to connect (MX hosts and their addresses, in preference order), whether a failure
is permanent (NXDOMAIN: hard bounce, SPEC.md §4 ruling 5) or temporary (SERVFAIL, REFUSED,
timeouts, no nameserver answering: one retry with a fresh lookup), and the exact text the
mail log writes for it (SPEC.md §2).  The resolver is dnspython's asyncio resolver pointed
at the servers ``dnsconfig`` names -- host *and* port, so a lab's DNS zone on a loopback
port works -- or, when none are named, at the host's own resolver configuration.

Await the coroutines from an asyncio task (``asyncio.ensure_future`` /
``Deferred.fromFuture``), not from a coroutine driven by ``Deferred.fromCoroutine``:
dnspython awaits asyncio futures.

Tests: tests/engine/smtp/test_resolver.py.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar, NamedTuple

import dns.asyncbackend
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.nameserver
import dns.rdata
import dns.rdatatype
import dns.rdtypes.mxbase
import dns.resolver

from engine.observe import log_lines as lines

if TYPE_CHECKING:
    from engine.config.model import DnsSettings

#: dnspython's rcode names -> the spelling AsyncOS logs (``... MX - ServFail``).
_RCODE_REASONS = {
    "SERVFAIL": "ServFail",
    "REFUSED": "Refused",
    "NOTIMP": "NotImp",
    "FORMERR": "FormErr",
}
TIMEOUT = "Timeout"
NXDOMAIN = "NXDomain"
NO_NAMESERVERS = "NoNameservers"


class DnsError(Exception):
    """A lookup failed; delivery code tells hard from soft by the subclass (``permanent``).

    ``domain`` is the name looked up (lower case, no trailing dot), ``rdtype`` the record
    type (``"MX"``, ``"A"``) and ``reason`` AsyncOS's word for the failure (``NXDomain``,
    ``ServFail``, ``Refused``, ``Timeout``, ``NoNameservers``).  ``str()`` is the text that
    goes inside a bounce or delay reason; the mail log line of the failure itself is
    :func:`engine.observe.log_lines.dns_failure`'s (both live in that catalogue).
    """

    permanent: ClassVar[bool]

    def __init__(self, domain: str, rdtype: str, reason: str) -> None:
        self.domain = domain
        self.rdtype = rdtype
        self.reason = reason
        super().__init__(self.detail)

    @property
    def detail(self) -> str:
        """``DNS Hard Error looking up esa.example.com (MX) : NXDomain`` or
        ``DNS Temporary Failure looking up example.com (MX) : ServFail``."""
        return lines.dns_failure_text(self.domain, self.rdtype, self.reason,
                                      permanent=self.permanent)

    def __str__(self) -> str:
        return self.detail


class DnsHardError(DnsError):
    """A permanent failure (NXDOMAIN): the message bounces, it is not retried."""

    permanent = True


class DnsSoftError(DnsError):
    """A temporary failure (SERVFAIL, REFUSED, timeout, no server): retry later."""

    permanent = False


@dataclass(frozen=True)
class DnsAnswer:
    """The records of one name and type, as ``nslookup`` shows them.

    ``ttl`` is what is left of the record's TTL (a cached answer ages); ``rdata`` holds
    dnspython's records (empty when the name exists without records of this type);
    ``server`` is the ``host#port`` that gave the answer.
    """

    name: str
    rdtype: str
    ttl: int
    rdata: tuple[dns.rdata.Rdata, ...]
    server: str = ""

    @property
    def records(self) -> list[str]:
        """The records in presentation form, e.g. ``10 mx.example.com.``."""
        return [r.to_text() for r in self.rdata]


class MxHost(NamedTuple):
    """One place to deliver a domain's mail: ``(preference, hostname, addresses, ttl)``."""

    preference: int
    hostname: str
    addresses: list[str]
    ttl: int


class _TtlCache:
    """Answers kept for their TTL, so a queue of copies for one domain asks DNS once.

    Only answers are kept, not failures: when a trainer repairs the zone during a drill,
    the retry sees the repair (AsyncOS's own negative caching is not emulated).  An
    answer without records ("the name has none of this type") is an answer: kept for the
    time its SOA allows (RFC 2308), not at all without one.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, str], tuple[float, DnsAnswer]] = {}

    def get(self, key: tuple[str, str]) -> DnsAnswer | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, answer = entry
        left = expires - self._clock()
        if left <= 0:
            del self._entries[key]
            return None
        return replace(answer, ttl=math.ceil(left))

    def put(self, key: tuple[str, str], answer: DnsAnswer) -> None:
        if answer.ttl > 0:  # "no records of this type" too, for as long as its SOA allows
            self._entries[key] = (self._clock() + answer.ttl, answer)

    def flush(self) -> int:
        """Forget everything; return how many entries there were."""
        count = len(self._entries)
        self._entries.clear()
        return count

    def __len__(self) -> int:
        return len(self._entries)


class DnsResolver:
    """The gateway's resolver: ``mx_hosts`` for delivery, ``lookup`` for ``nslookup``.

    ``servers`` are ``(host, port)`` pairs with numeric addresses (``dnsconfig``); empty
    means the host's own configuration (``/etc/resolv.conf``).  ``timeout`` bounds each
    lookup as a whole.  ``clock`` is the cache's clock, replaceable in tests.
    """

    def __init__(self, servers: Iterable[tuple[str, int]] = (), *, timeout: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._cache = _TtlCache(clock)
        self._inflight: dict[tuple[str, str], asyncio.Future[DnsAnswer]] = {}
        #: Every query still running, shared or left behind by ``configure``: ``close``
        #: ends them all.
        self._running: set[asyncio.Future[DnsAnswer]] = set()
        self._closed = False
        self._backend = dns.asyncbackend.get_backend("asyncio")
        self.configure(servers, timeout=timeout)

    @classmethod
    def from_settings(cls, settings: DnsSettings, **kwargs) -> DnsResolver:
        """A resolver for the committed ``dnsconfig`` settings."""
        return cls([(s.host, s.port) for s in settings.servers], timeout=settings.timeout, **kwargs)

    # -- configuration ------------------------------------------------------------------

    def configure(self, servers: Iterable[tuple[str, int]], *, timeout: float | None = None) -> None:
        """Use other servers (a ``dnsconfig`` commit); the cache is flushed with them."""
        self._servers: list[tuple[str, int]] = [(host, int(port)) for host, port in servers]
        if timeout is not None:
            if timeout <= 0:
                raise ValueError("the DNS timeout must be positive")
            self._timeout = float(timeout)
        self._resolver = self._build()
        self._inflight = {}
        self._cache.flush()

    @property
    def servers(self) -> list[tuple[str, int]]:
        """The configured ``(host, port)`` pairs (empty: the host's resolvers)."""
        return list(self._servers)

    @property
    def timeout(self) -> float:
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self.configure(self._servers, timeout=seconds)

    def _build(self) -> dns.asyncresolver.Resolver | None:
        """A dnspython resolver for the settings; None when the host has no resolvers."""
        if self._servers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            resolver.nameservers = [dns.nameserver.Do53Nameserver(host, port)
                                    for host, port in self._servers]
        else:
            try:
                resolver = dns.asyncresolver.Resolver(configure=True)
            except dns.resolver.NoResolverConfiguration:
                return None
        # The timeout bounds the whole lookup; each server gets its share of it, so that
        # a dead first server (UDP gives no error, only silence) leaves time for the next.
        resolver.lifetime = self._timeout
        resolver.timeout = max(self._timeout / max(len(resolver.nameservers), 1), 0.05)
        resolver.retry_servfail = False  # a SERVFAIL is an answer: soft error, retried by delivery
        resolver.cache = None  # ours (flushable, ages TTLs) takes its place
        return resolver

    async def close(self) -> None:
        """Cancel the queries still in flight and wait for them to end.

        A query outlives the delivery that asked for it (its waiters are shielded from
        each other), so without this an engine that stops leaves a UDP socket waiting for
        an answer until the timeout runs out.  A lookup asked afterwards -- a task made
        just before, whose first step runs after -- is abandoned as if it had been
        cancelled with the rest: its socket would outlive the engine too.
        """
        self._closed = True
        running = list(self._running)
        for query in running:
            query.cancel()
        if running:
            await asyncio.wait(running)

    # -- cache --------------------------------------------------------------------------

    def flush(self) -> int:
        """Empty the cache (``dnsflush``); return how many answers were dropped."""
        return self._cache.flush()

    @property
    def cached(self) -> int:
        """How many answers the cache holds."""
        return len(self._cache)

    # -- lookups ------------------------------------------------------------------------

    async def lookup(self, name: str, rdtype: str = "A") -> DnsAnswer:
        """The records of *name* and *rdtype*, from the cache or from the servers.

        Concurrent lookups of the same name and type share one query.  Raises
        DnsHardError (NXDOMAIN) or DnsSoftError; an unknown *rdtype* is a ValueError.
        """
        key = (_normalise(name), _rdtype_text(rdtype))
        if self._closed:  # a lookup gathered just before the engine stopped: abandon it
            raise asyncio.CancelledError(f"the resolver is closed: {name} {rdtype} not asked")
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        pending = self._inflight.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._query(*key))
            self._inflight[key] = pending
            self._running.add(pending)
            pending.add_done_callback(lambda done: self._settled(key, done))
        # One waiter giving up (its delivery was aborted) must not cancel the others' query.
        return await asyncio.shield(pending)

    def _settled(self, key: tuple[str, str], done: asyncio.Future[DnsAnswer]) -> None:
        """Cache the answer -- unless the servers changed meanwhile (``configure``)."""
        self._running.discard(done)
        current = self._inflight.get(key) is done
        if current:
            del self._inflight[key]
        failed = done.cancelled() or done.exception() is not None  # (marks it retrieved)
        if current and not failed:
            self._cache.put(key, done.result())

    async def _query(self, name: str, rdtype: str) -> DnsAnswer:
        if self._resolver is None:
            raise DnsSoftError(name, rdtype, NO_NAMESERVERS)
        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException:
            raise DnsHardError(name, rdtype, "BadName") from None
        try:
            answer = await self._resolver.resolve(
                qname, rdtype, search=False, raise_on_no_answer=False, backend=self._backend)
        except dns.exception.DNSException as exc:
            raise _classify(exc, name, rdtype) from exc
        rrset = answer.rrset
        return DnsAnswer(
            name=name, rdtype=rdtype,
            ttl=rrset.ttl if rrset is not None else _negative_ttl(answer.response),
            rdata=tuple(rrset) if rrset is not None else (),
            server=f"{answer.nameserver}#{answer.port}",
        )

    async def mx_hosts(self, domain: str) -> list[MxHost]:
        """Where to deliver mail for *domain*: MX hosts by preference, each with addresses.

        No MX records but an address record: the domain itself is the implicit MX
        (RFC 5321 §5.1), with preference 0.  Exchangers without addresses are left out;
        when none is left, the error of their lookups is raised (a soft one if any was
        soft).  A null MX (RFC 7505) is a hard error.  Equal preferences are ordered by
        name, so the result is reproducible; the delivery code may shuffle them.
        """
        domain = _normalise(domain)
        mx = await self.lookup(domain, "MX")
        if not mx.rdata:
            return [await self._implicit_mx(domain, mx)]
        records = [r for r in mx.rdata if isinstance(r, dns.rdtypes.mxbase.MXBase)]
        exchangers = sorted(
            {(int(r.preference), _normalise(r.exchange.to_text())) for r in records
             if r.exchange != dns.name.root}
        )
        if not exchangers:
            raise DnsHardError(domain, "MX", "NullMX")
        found = self._cached_addresses([host for _, host in exchangers])
        if found is None:
            found = await asyncio.gather(*(self.addresses(host) for _, host in exchangers),
                                         return_exceptions=True)
        hosts = [MxHost(pref, host, result[0], min(mx.ttl, result[1]))
                 for (pref, host), result in zip(exchangers, found, strict=True)
                 if not isinstance(result, BaseException)]
        if hosts:
            return hosts
        raise _worst(found, exchangers[0][1])

    async def addresses(self, host: str) -> tuple[list[str], int]:
        """*host*'s IPv4 then IPv6 addresses (A and AAAA, asked at once) and their TTL.

        One type failing does not matter when the other answers; when neither has an
        address, the worse error is raised (a soft one before a hard one), or a hard
        ``NoAnswer`` for the A records when the name simply has none."""
        cached = self._cached_pair(host)
        if cached is not None:
            return _addresses_of(cached, host)
        found = await asyncio.gather(self.lookup(host, "A"), self.lookup(host, "AAAA"),
                                     return_exceptions=True)
        return _addresses_of(found, host)

    def _cached_pair(self, host: str) -> list[DnsAnswer] | None:
        """*host*'s A and AAAA answers when the cache holds both, else None."""
        name = _normalise(host)
        a, aaaa = self._cache.get((name, "A")), self._cache.get((name, "AAAA"))
        return None if a is None or aaaa is None else [a, aaaa]

    def _cached_addresses(self, hosts: Sequence[str]) -> list[tuple[list[str], int] | BaseException] | None:
        """What :meth:`addresses` gives for each of *hosts*, when the cache answers them all.

        From the cache, without ``asyncio.gather``: gathering wraps each lookup in a task,
        so even cached answers cost the caller loop turns, and a busy loop makes those long
        (``hoststatus`` and every delivery's route ask for them)."""
        results: list[tuple[list[str], int] | BaseException] = []
        for host in hosts:
            pair = self._cached_pair(host)
            if pair is None:
                return None
            try:
                results.append(_addresses_of(pair, host))
            except DnsError as error:
                results.append(error)
        return results

    async def _implicit_mx(self, domain: str, mx: DnsAnswer) -> MxHost:
        try:
            addresses, ttl = await self.addresses(domain)
        except DnsHardError as error:
            if error.reason != "NoAnswer":
                raise
            raise DnsHardError(domain, "MX", "NoAnswer") from None
        return MxHost(0, domain, addresses, min(mx.ttl, ttl) if mx.ttl else ttl)


def _addresses_of(found: Sequence[DnsAnswer | BaseException], host: str) -> tuple[list[str], int]:
    """The addresses of *host* from its A and AAAA answers (or their errors), and their TTL."""
    answers = [a for a in found if isinstance(a, DnsAnswer) and a.rdata]
    if answers:
        return [r for a in answers for r in _addresses(a)], min(a.ttl for a in answers)
    raise _worst(found, _normalise(host))


def _negative_ttl(response: dns.message.Message | None) -> int:
    """RFC 2308: how long an answer without records may be kept, from the SOA that came
    with it (the smaller of its TTL and its minimum); 0 without one."""
    for rrset in getattr(response, "authority", ()):
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return min(rrset.ttl, rrset[0].minimum)
    return 0


def _normalise(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _rdtype_text(rdtype: str) -> str:
    """``"mx"`` -> ``"MX"``; ValueError for a type DNS does not know."""
    try:
        return dns.rdatatype.to_text(dns.rdatatype.from_text(rdtype.upper()))
    except dns.rdatatype.UnknownRdatatype:
        raise ValueError(f"unknown DNS record type: {rdtype}") from None


def _addresses(answer: DnsAnswer) -> list[str]:
    return [r.to_text() for r in answer.rdata]


def _classify(exc: dns.exception.DNSException, name: str, rdtype: str) -> DnsError:
    """dnspython's exception -> AsyncOS's hard/soft error with its reason word."""
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return DnsHardError(name, rdtype, NXDOMAIN)
    if isinstance(exc, dns.resolver.YXDOMAIN):
        return DnsHardError(name, rdtype, "YXDomain")
    if isinstance(exc, dns.exception.Timeout):
        return DnsSoftError(name, rdtype, TIMEOUT)
    if isinstance(exc, dns.resolver.NoNameservers):
        return DnsSoftError(name, rdtype, _server_failure(exc.kwargs.get("errors", [])))
    return DnsSoftError(name, rdtype, type(exc).__name__)


def _server_failure(errors: Sequence[tuple]) -> str:
    """The reason word for "every server failed": the first rcode a server answered
    (``ServFail``, ``Refused``), else ``Timeout`` when one timed out, else ``NoNameservers``
    (nobody answered at all, e.g. a closed port)."""
    problems = [entry[3] for entry in errors if len(entry) > 3]
    for problem in problems:
        if isinstance(problem, str):
            return _RCODE_REASONS.get(problem, problem.title())
    if any(isinstance(problem, dns.exception.Timeout) for problem in problems):
        return TIMEOUT
    return NO_NAMESERVERS


def _worst(found: Sequence[object], name: str) -> BaseException:
    """The error to raise when no lookup gave an address: soft beats hard (it may heal),
    hard beats "no address records"."""
    errors = [f for f in found if isinstance(f, BaseException)]
    for error in errors:
        if isinstance(error, DnsSoftError):
            return error
    for error in errors:
        if not isinstance(error, DnsError):
            return error  # a bug, not a DNS answer: let it show
    if errors:
        return errors[0]
    return DnsHardError(name, "A", "NoAnswer")
