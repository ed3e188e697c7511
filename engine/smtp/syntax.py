"""The RFC 5321 syntax of what an SMTP client names: mailboxes, domains, EHLO arguments and
ESMTP parameters.

Everything here arrives from an unauthenticated client and goes on into the mail log,
the ``Received:`` header we add, the envelope we relay and, through ``tail``, ``grep`` and
``findevent``, onto operators' terminals.  So an argument is held to the grammar, which
also means it holds no control character: ``MAIL FROM:<a\\x1b]0;PWNED\\x07@example.org>``
is bad syntax, not an address.

- Mailbox (§4.1.2) = Local-part "@" ( Domain / address-literal ), where Local-part is a
  Dot-string of atoms or a Quoted-string of printable ASCII (qtextSMTP, and quoted pairs of
  printable ASCII); a Domain is dot-separated letter-digit-hyphen labels; an address
  literal is ``[192.0.2.1]``, ``[IPv6:2001:db8::1]`` or ``[tag:content]`` (§4.1.3).
- ASCII only: SMTPUTF8 (RFC 6531) is not offered, so a UTF-8 mailbox is refused
  (the server answers ``553 5.6.7`` for it before asking this module).
- An ESMTP parameter (§4.1.2) is ``keyword[=value]``: a keyword of letters, digits and
  hyphens, a value of printable ASCII without ``=`` or spaces.
- The EHLO/HELO argument is held only to printable ASCII: real clients send names that are
  no domain (``EHLO MY_PC``), and refusing them would refuse their mail for nothing.

Tests: tests/engine/smtp/test_syntax.py, tests/engine/smtp/test_server.py.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["is_domain", "is_ehlo_argument", "is_mailbox", "is_parameter", "strip_source_route"]

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_STRING = rf"{_ATOM}(?:\.{_ATOM})*"
#: qtextSMTP (printable ASCII but ``"`` and ``\``) or a quoted pair of printable ASCII.
_QUOTED_STRING = r'"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"'
_MAILBOX = re.compile(rf"(?:{_DOT_STRING}|{_QUOTED_STRING})@(?P<domain>.+)", re.DOTALL)

_LDH_STR = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LDH_STR}(?:\.{_LDH_STR})*")
#: General-address-literal: Standardized-tag ":" 1*dcontent (printable ASCII but [ \ ]).
_GENERAL_LITERAL = re.compile(rf"{_LDH_STR}:[\x21-\x5a\x5e-\x7e]+")
_IPV4 = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")

_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
#: esmtp-value: printable ASCII but ``=`` (and no space: parameters are split at spaces).
_VALUE = re.compile(r"[\x21-\x3c\x3e-\x7e]+")
_PRINTABLE = re.compile(r"[\x21-\x7e]+(?: +[\x21-\x7e]+)*")


def is_mailbox(address: str) -> bool:
    """``user@example.com``, ``"john doe"@example.com``, ``user@[192.0.2.1]``: a Mailbox
    of RFC 5321 in ASCII, nothing before or after it."""
    match = _MAILBOX.fullmatch(address)
    return match is not None and _is_domain_or_literal(match.group("domain"))


def is_domain(name: str) -> bool:
    """A Domain of RFC 5321: labels of letters, digits and inner hyphens, joined by dots."""
    return _DOMAIN.fullmatch(name) is not None


def _is_domain_or_literal(text: str) -> bool:
    if text.startswith("[") and text.endswith("]"):
        return _is_address_literal(text[1:-1])
    return is_domain(text)


def _is_address_literal(inside: str) -> bool:
    """What stands between the brackets of an address literal (RFC 5321 §4.1.3)."""
    if inside[:5].upper() == "IPV6:":
        return _is_ipv6(inside[5:])
    if _IPV4.fullmatch(inside):
        return all(int(part) <= 255 for part in inside.split("."))
    return _GENERAL_LITERAL.fullmatch(inside) is not None


def _is_ipv6(text: str) -> bool:
    """The IPv6 forms of §4.1.3 (full, compressed, with a trailing IPv4 address); not a
    scoped address (``fe80::1%eth0``), which the standard library would also take."""
    if not text.isascii() or "%" in text:
        return False
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def strip_source_route(path: str) -> tuple[str, bool]:
    """``@relay1,@relay2:user@host`` → (``user@host``, True): RFC 5321 says to ignore the
    route, but it must still be one (At-domains, each ``@`` and a Domain), else False."""
    if not path.startswith("@") or ":" not in path:
        return path, True
    route, _, mailbox = path.partition(":")
    hops = route.split(",")
    return mailbox, all(hop.startswith("@") and is_domain(hop[1:]) for hop in hops)


def is_parameter(keyword: str, value: str | None) -> bool:
    """An ESMTP parameter of MAIL or RCPT: ``SIZE=1000`` (value ``"1000"``), ``SMTPUTF8``
    (value None)."""
    if _KEYWORD.fullmatch(keyword) is None:
        return False
    return value is None or _VALUE.fullmatch(value) is not None


def is_ehlo_argument(text: str) -> bool:
    """Words of printable ASCII separated by spaces: no control character, nothing
    outside ASCII (the name goes into the ``Received:`` header and the mail flow)."""
    return _PRINTABLE.fullmatch(text) is not None
