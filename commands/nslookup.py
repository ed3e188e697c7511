"""``nslookup``: ask DNS as the gateway does -- its configured servers, through its cache.

The answer is printed the appliance's way, one record a line with what is left of its TTL
(``MX=mx.example.com PREF=10 TTL=5m``); a cached answer shows its TTL counting down, and
``dnsflush`` empties that cache.  A name that does not exist (NXDOMAIN) or a server that
fails (SERVFAIL, REFUSED, no answer) ends the command with a clear error, so a script sees
a failure.
"""

from __future__ import annotations

import ipaddress

import dns.name
import dns.rdata
import dns.rdtypes.mxbase
import dns.rdtypes.nsbase
import dns.reversename

from commands.diagnosis import dns_failure, resolver
from commands.errors import CommandError, UsageError
from commands.registry import command
from commands.session import CliSession
from engine.config.addresses import InvalidValue
from engine.config.text import is_digits
from engine.smtp.resolver import DnsAnswer, DnsError

#: The query types offered, with AsyncOS's descriptions.
TYPES = [
    ("A", "the host's IP address"),
    ("AAAA", "the host's IPv6 address"),
    ("CNAME", "the canonical name for an alias"),
    ("MX", "the mail exchanger"),
    ("NS", "the name server for the named zone"),
    ("PTR", "the hostname if the query is an Internet address, otherwise the pointer to "
            "other information"),
    ("SOA", "the domain's \"start-of-authority\" information"),
    ("TXT", "the text information"),
]
_NAMES = [name for name, _ in TYPES]
USAGE = f"Invalid arguments when processing: usage is nslookup <name> [{'|'.join(_NAMES)}]"

@command(
    "nslookup",
    summary="Query a DNS server",
    help="""
nslookup                  asks for the name and the query type
nslookup <name> [type]    one query; type A (the default), AAAA, CNAME, MX, NS, PTR, SOA
                          or TXT; an IP address alone asks for its PTR record

Asks the DNS servers of dnsconfig, through the gateway's DNS cache: the TTL shown is what
is left of it.  A name that does not exist (NXDOMAIN) or a failing server is an error.
""",
    grammar=None,
)
async def nslookup(session: CliSession, args: list[str]) -> None:
    if len(args) > 2:
        raise UsageError(USAGE)
    if args:
        name = args[0]
        rdtype = _type(args[1]) if len(args) == 2 else _default_type(name)
    else:
        name, rdtype = await _ask(session)
    await _lookup(session, name, rdtype)


def _type(text: str) -> str:
    if text.upper() not in _NAMES:
        raise UsageError(USAGE)
    return text.upper()


def _default_type(name: str) -> str:
    return "PTR" if _is_address(name) else "A"


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


async def _ask(session: CliSession) -> tuple[str, str]:
    dialog = session.dialog
    name = str(await dialog.ask_required("Please enter the host or IP address to resolve."))
    default = _default_type(name)
    dialog.say()
    dialog.say("Choose the query type:")
    for number, (rdtype, description) in enumerate(TYPES, 1):
        dialog.say(f"{number}. {rdtype:<7}{description}")
    rdtype = await dialog.ask("", default=default, validate=_choice, choices=_NAMES)
    return name, str(rdtype)


def _choice(answer: str) -> str:
    if is_digits(answer) and 1 <= int(answer) <= len(TYPES):
        return _NAMES[int(answer) - 1]
    if answer.upper() in _NAMES:
        return answer.upper()
    raise InvalidValue(f'"{answer}" is not a query type: enter a number from 1 to {len(TYPES)} '
                       "or a type from the list.")


async def _lookup(session: CliSession, name: str, rdtype: str) -> None:
    query = name
    if rdtype == "PTR" and _is_address(name):
        query = dns.reversename.from_address(name).to_text()
    try:
        answer = await resolver(session).lookup(query, rdtype)
    except DnsError as error:
        raise CommandError(dns_failure(name, error)) from None
    say = session.dialog.say
    say()
    if not answer.rdata:
        say(f"No {rdtype} records were found for {name}.")
        return
    for line in answer_lines(answer):
        say(line)


def answer_lines(answer: DnsAnswer) -> list[str]:
    """``A=192.0.2.7 TTL=5m``, ``MX=mx.example.com PREF=10 TTL=5m``, one per record."""
    ttl = f"TTL={ttl_text(answer.ttl)}"
    return [f"{_record(answer.rdtype, record)} {ttl}" for record in answer.rdata]


def _record(rdtype: str, record: dns.rdata.Rdata) -> str:
    if rdtype == "MX" and isinstance(record, dns.rdtypes.mxbase.MXBase):
        return f"MX={_name(record.exchange)} PREF={record.preference}"
    if rdtype in ("CNAME", "NS", "PTR") and isinstance(record, dns.rdtypes.nsbase.NSBase):
        return f"{rdtype}={_name(record.target)}"
    return f"{rdtype}={record.to_text()}"


def _name(name: dns.name.Name) -> str:
    return name.to_text().rstrip(".")


def ttl_text(seconds: int) -> str:
    """``300`` -> ``5m``, ``3600`` -> ``1h``, ``3725`` -> ``1h2m5s``, ``0`` -> ``0s``."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
