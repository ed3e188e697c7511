"""The values of the mail settings, checked the AsyncOS way.

One place for the rules of every value the mail commands take (accepted domains,
SMTP route destinations, DNS servers, sizes, timers, certificates), so that the
configuration's :meth:`~engine.config.model.Config.problems`, the change records and the
commands refuse the same values with the same sentence.  Every check raises
:class:`~engine.config.addresses.InvalidValue` with the message for the person and returns
the value in its canonical form (the form the XML document stores).

Nothing here knows the configuration classes, so both ``engine.config.model`` and the
commands can use it.

Tests: tests/engine/config/test_model.py, test_printable_text.py, and the tests of the
commands that set these values (tests/commands/).
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from engine.config.addresses import InvalidValue, check_domain, check_hostname
from engine.config.text import MAX_TEXT, check_text, is_digits

#: ``smtproutes`` limits (errors "There is a maximum of N routes." and
#: "Routes may not contain more than N destinations.").
MAX_ROUTES = 1000
MAX_ROUTE_DESTINATIONS = 16
ROUTE_ALL = "ALL"
DEV_NULL = "/dev/null"
USEDNS = "USEDNS"

DEFAULT_DESTINATION = "DEFAULT"
DNS_PORT = 53

#: Ranges of the numeric settings: (low, high), inclusive.
MESSAGE_SIZE = (1024, 1024 * 1024 * 1024)
DESTINATION_CONCURRENCY = (1, 1000)
MESSAGES_PER_CONNECTION = (1, 1000)
SYSTEM_CONCURRENCY = (1, 10000)
RETRY_SECONDS = (0.01, 86400.0)
QUEUE_SECONDS = (0.01, 30 * 86400.0)
DNS_TIMEOUT = (0.01, 300.0)
TDC_SECONDS = (0.01, 86400.0)
TDC_RETRY_DELAY = (0.0, 86400.0)
TIME_SCALE = (0.001, 1000.0)
TDC_CONNECTIONS = (1, 1000)
#: ``adminaccessconfig`` TIMEOUT: the CLI session inactivity timeout, in minutes (the
#: appliance takes 5 to 1440; its default is 30).
CLI_TIMEOUT_MINUTES = (5, 1440)
SUBJECT_TAG_MAX = 255
#: One PEM certificate is a few kilobytes; a pasted bundle of them stays well below this.
PEM_MAX = MAX_TEXT

_NUMBER_RE = re.compile(r"^\d+(\.\d+)?$")
_SIZE_RE = re.compile(r"^(\d+)([kKmM]?)$")


# -- numbers -------------------------------------------------------------------------


def check_int(value: int, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidValue(f"The value must be an integer from {low} to {high}.")
    return value


def parse_int(text: str, bounds: tuple[int, int]) -> int:
    """A whole number typed by a person, within *bounds*."""
    text = check_text(text, "value").strip()
    if not is_digits(text):
        low, high = bounds
        raise InvalidValue(f"The value must be an integer from {low} to {high}.")
    return check_int(int(text), bounds)


def check_seconds(value: float, bounds: tuple[float, float]) -> float:
    low, high = bounds
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) \
            or not low <= value <= high:
        raise InvalidValue(f"The value must be a number of seconds from {format_number(low)} "
                           f"to {format_number(high)}.")
    return float(value)


def parse_seconds(text: str, bounds: tuple[float, float]) -> float:
    """Seconds as typed: ``60`` or ``0.5`` (fractions let labs and tests run fast)."""
    text = check_text(text, "value").strip()
    if not _NUMBER_RE.match(text):
        low, high = bounds
        raise InvalidValue(f"The value must be a number of seconds from {format_number(low)} "
                           f"to {format_number(high)}.")
    return check_seconds(float(text), bounds)


def format_number(value: float) -> str:
    """``60`` rather than ``60.0``; fractions as Python writes them (``0.5``)."""
    value = float(value)
    return str(int(value)) if value.is_integer() else repr(value)


def parse_size(text: str) -> int:
    """A message size: bytes, or a number with a trailing ``k`` (KB) or ``M`` (MB)."""
    match = _SIZE_RE.fullmatch(check_text(text, "size").strip())
    if not match:
        raise InvalidValue(
            f'"{text.strip()}" is not a valid size: enter a number of bytes, or add a trailing '
            "k for kilobytes or M for megabytes (e.g. 10M)."
        )
    factor = {"": 1, "k": 1024, "m": 1024 * 1024}[match.group(2).lower()]
    return check_message_size(int(match.group(1)) * factor)


def check_message_size(size: int) -> int:
    low, high = MESSAGE_SIZE
    if not low <= size <= high:
        raise InvalidValue(f"The maximum message size must be from {low} bytes (1k) to "
                           f"{high} bytes (1024M).")
    return size


def format_size(size: int) -> str:
    """``10M``, ``512k`` or a plain byte count, as the size would be typed."""
    for unit, factor in (("M", 1024 * 1024), ("k", 1024)):
        if size % factor == 0:
            return f"{size // factor}{unit}"
    return str(size)


def check_subject_tag(tag: str) -> str:
    """The text prepended to the subject of a delivered positive message (may be empty)."""
    tag = check_text(tag, "subject tag").strip()
    if len(tag) > SUBJECT_TAG_MAX:
        raise InvalidValue(f"The subject tag must be at most {SUBJECT_TAG_MAX} printable "
                           "characters.")
    return tag


# -- hosts, ports, domains -----------------------------------------------------------


def check_port(port: int) -> int:
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidValue("The port must be an integer from 1 to 65535.")
    return port


def check_ip(text: str) -> str:
    """An IPv4 or IPv6 address, in its canonical form."""
    check_text(text, "IP address")
    try:
        return str(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        raise InvalidValue(f'"{text.strip()}" is not a valid IP address.') from None


def check_host(host: str) -> str:
    """An IP address or a host name (lower case)."""
    host = check_text(host, "host").strip()
    try:
        return check_ip(host)
    except InvalidValue:
        pass
    try:
        return check_hostname(host)
    except InvalidValue:
        raise InvalidValue(
            f'"{host}" is not a valid host: enter an IP address or a host name.'
        ) from None


def split_host_port(text: str, *, default_port: int | None) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address.

    The host is returned as written (not checked); the port is checked.  Without a
    port the result carries *default_port*.
    """
    text = check_text(text, "address").strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise InvalidValue(f'"{text}" is not valid: write an IPv6 address as [::1] or [::1]:53.')
        port_text = rest[1:] if rest else ""
        if rest and not port_text:
            raise InvalidValue(f'"{text}" is not valid: a port is missing after ":".')
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        if not port_text:
            raise InvalidValue(f'"{text}" is not valid: a port is missing after ":".')
    else:
        host, port_text = text, ""  # a name, an IPv4 address or a bare IPv6 address
    if not port_text:
        return host, default_port
    if not is_digits(port_text):
        raise InvalidValue(f'"{text}" is not valid: the port must be an integer from 1 to 65535.')
    return host, check_port(int(port_text))


def join_host_port(host: str, port: int | None) -> str:
    if port is None:
        return host
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def check_accepted_domain(entry: str) -> str:
    """A recipient access table entry: ``example.com`` or ``.example.com`` (sub-domains),
    kept in lower case and without a trailing dot (``example.com.`` is example.com)."""
    entry = check_text(entry, "domain").strip().lower()
    sub_domains = entry.startswith(".")
    try:
        domain = check_domain(entry[1:] if sub_domains else entry)
    except InvalidValue:
        raise InvalidValue(
            f'"{entry}" is not a valid entry: enter a domain such as example.com, or '
            ".example.com for all of its sub-domains."
        ) from None
    return "." + domain if sub_domains else domain


def check_relay_host(entry: str) -> str:
    """A RELAYLIST entry of the host access table: an IP address (``10.1.1.5``) or a
    network (``10.1.1.0/24``), kept in its canonical form (a lone host without ``/32``)."""
    text = check_text(entry, "RELAYLIST entry").strip()
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise InvalidValue(
            f'"{text}" is not a valid entry: enter an IP address such as 10.1.1.5, or a '
            "network such as 10.1.1.0/24."
        ) from None
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)


def relay_entry_for(entries: list[str], address: str) -> str | None:
    """The first RELAYLIST entry that *address* (a peer IP) falls in, if any."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    if ip.version == 6 and ip.ipv4_mapped:  # an IPv4 client of a listener on "::"
        ip = ip.ipv4_mapped
    for entry in entries:
        if ip in ipaddress.ip_network(entry, strict=False):
            return entry
    return None


def check_route_domain(domain: str) -> str:
    """An SMTP route's domain: ``example.com``, ``.example.com`` or ``ALL`` (the default)."""
    domain = check_text(domain, "domain").strip()
    if domain.upper() == ROUTE_ALL:
        return ROUTE_ALL
    bare = domain[1:] if domain.startswith(".") else domain
    try:
        check_hostname(bare, what="domain")
    except InvalidValue:
        raise InvalidValue(
            f'"{domain}" is not a valid domain: enter a domain such as example.com, a partial '
            'domain such as .example.com, or "ALL" for the default route.'
        ) from None
    return domain.lower().rstrip(".")


def check_route_destination(text: str) -> str:
    """One destination of a route: ``host``, ``host:port``, ``/dev/null`` or ``USEDNS``."""
    text = check_text(text, "destination").strip()
    if text.lower() == DEV_NULL:
        return DEV_NULL
    if text.upper() == USEDNS:
        return USEDNS
    try:
        host, port = split_host_port(text, default_port=None)
        return join_host_port(check_host(host), port)
    except InvalidValue:
        raise InvalidValue(
            f'"{text}" is not a valid destination: enter a host name or IP address, '
            'optionally followed by ":port", or USEDNS, or /dev/null.'
        ) from None


def check_route_destinations(entries: list[str] | tuple[str, ...]) -> list[str]:
    """A route's destination list: at least one, no repeats, USEDNS and /dev/null alone."""
    destinations = [check_route_destination(entry) for entry in entries if entry.strip()]
    if not destinations:
        raise InvalidValue("You must enter at least one destination host.")
    if len(destinations) > MAX_ROUTE_DESTINATIONS:
        raise InvalidValue(f"Routes may not contain more than {MAX_ROUTE_DESTINATIONS} destinations.")
    for special in (DEV_NULL, USEDNS):
        if special in destinations and len(destinations) > 1:
            raise InvalidValue(f"{special} must be entered by itself.")
    repeated = sorted({d for d in destinations if destinations.count(d) > 1})
    if repeated:
        raise InvalidValue(f"The destination {repeated[0]} is entered more than once.")
    return destinations


def split_list(text: str) -> list[str]:
    """Comma (or space) separated entries, blanks dropped.  Only ASCII white space
    separates: a U+0085 or U+2028 inside an entry stays there, to be refused."""
    return [part for part in re.split(r"[,\s]+", text.strip(" \t\r\n"), flags=re.ASCII) if part]


def check_destination_domain(domain: str) -> str:
    """A destination control entry: a fully qualified domain (``DEFAULT`` is the default row)."""
    domain = check_text(domain, "domain").strip()
    if domain.upper() == DEFAULT_DESTINATION:
        return DEFAULT_DESTINATION
    try:
        return check_domain(domain)
    except InvalidValue:
        raise InvalidValue(
            f'"{domain}" is not a valid domain: enter a fully qualified domain such as example.com.'
        ) from None


def check_dns_server(text: str) -> tuple[str, int]:
    """A DNS server: an IP address with an optional port (53 when left out)."""
    check_text(text, "DNS server")
    try:
        host, port = split_host_port(text, default_port=DNS_PORT)
        return check_ip(host), port or DNS_PORT
    except InvalidValue:
        raise InvalidValue(
            f'"{text.strip()}" is not a valid DNS server: enter an IP address, optionally with a '
            "port (127.0.0.1:5353, [::1]:5353); the port is 53 when left out."
        ) from None


def check_lab_host(host: str) -> str:
    """A host name given a lab port (lower case, no trailing dot)."""
    return check_hostname(host, what="host name")


# -- certificates ----------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateInfo:
    """What ``certconfig`` shows of a trusted certificate authority."""

    subject: str
    issuer: str
    not_after: datetime
    fingerprint: str  # SHA-256, colon separated hex
    is_ca: bool


def parse_certificates(text: str) -> list[str]:
    """Every certificate in PEM *text*, each as canonical PEM (no trailing newline).

    Anything that is not a well-formed PEM certificate is refused as a whole; line
    breaks are the only control characters PEM text may hold.
    """
    check_text(text, "certificate", max_length=PEM_MAX, allow="\r\n")
    if "-----BEGIN CERTIFICATE-----" not in text:
        raise InvalidValue("No certificate was found: paste PEM text starting with "
                           '"-----BEGIN CERTIFICATE-----".')
    try:
        certificates = x509.load_pem_x509_certificates(text.strip().encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise InvalidValue(f"The certificate could not be read: {exc}.") from None
    return [_pem(certificate) for certificate in certificates]


def check_certificate(text: str) -> str:
    """Exactly one PEM certificate, returned in canonical form."""
    certificates = parse_certificates(text)
    if len(certificates) != 1:
        raise InvalidValue(f"Expected one certificate, found {len(certificates)}.")
    return certificates[0]


def certificate_info(pem: str) -> CertificateInfo:
    certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    digest = certificate.fingerprint(hashes.SHA256()).hex().upper()
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        is_ca = constraints.value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    return CertificateInfo(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        not_after=certificate.not_valid_after_utc,
        fingerprint=":".join(digest[i:i + 2] for i in range(0, len(digest), 2)),
        is_ca=is_ca,
    )


def _pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii").strip()
