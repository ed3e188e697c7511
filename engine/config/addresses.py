"""E-mail addresses, host names and policy member patterns, checked the AsyncOS way.

The CLI re-asks a question when a value is wrong, so every check raises
:class:`InvalidValue` with the sentence the appliance would print.

Tests: tests/engine/config/test_addresses.py.
"""

from __future__ import annotations

import re

from engine.config.text import InvalidValue as InvalidValue  # its home was here; many import it from here
from engine.config.text import check_text

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_HOSTNAME_RE = re.compile(rf"^{_LABEL}(\.{_LABEL})*$")
_LOCALPART_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$")


def check_hostname(name: str, *, what: str = "hostname") -> str:
    """Return the host name in lower case, or raise with the appliance's wording."""
    name = check_text(name, what).strip().rstrip(".")
    if not name or len(name) > 253 or not _HOSTNAME_RE.fullmatch(name):
        raise InvalidValue(
            f"A {what} must contain only letters, digits, hyphens and dots, "
            "and each part must start and end with a letter or digit."
        )
    return name.lower()


def check_domain(domain: str) -> str:
    """A fully qualified domain: a host name with at least one dot."""
    domain = check_hostname(domain, what="domain")
    if "." not in domain:
        raise InvalidValue(f'"{domain}" is not a fully qualified domain name.')
    return domain


def check_email_address(address: str) -> str:
    """Return a normalised ``local@domain`` address (domain in lower case)."""
    address = check_text(address, "email address").strip()
    if address.startswith("<") and address.endswith(">"):
        address = address[1:-1]
    local, sep, domain = address.rpartition("@")
    if not sep or not local or not _LOCALPART_RE.fullmatch(local) or ".." in local:
        raise InvalidValue(
            f'An email address is a localname, an "@" and a domain, e.g. user@example.com: '
            f'"{address}" is not valid.'
        )
    try:
        domain = check_domain(domain)
    except InvalidValue:
        raise InvalidValue(
            f'An email address is a localname, an "@" and a domain, e.g. user@example.com: '
            f'"{address}" is not valid.'
        ) from None
    return f"{local}@{domain}"


def check_member(pattern: str) -> str:
    """Validate a mail policy member: ``user@example.com``, ``user@``, ``@example.com``
    or ``@.example.com`` (the domain and all its sub-domains).  Matching is
    case-insensitive, so members are kept in lower case."""
    text = check_text(pattern, "member").strip().lower()
    error = InvalidValue(
        f'The entry you have entered is invalid: "{pattern.strip()}". Use user@example.com, '
        "user@, @example.com or @.example.com."
    )
    if text.count("@") != 1:
        raise error
    local, _, domain = text.partition("@")
    if local and (not _LOCALPART_RE.fullmatch(local) or ".." in local):
        raise error
    if not domain:
        if not local:
            raise error
        return text
    bare = domain[1:] if domain.startswith(".") else domain
    try:
        check_hostname(bare)
    except InvalidValue:
        raise error from None
    return text


def member_matches(member: str, address: str) -> bool:
    """True when *address* belongs to the policy member pattern *member*."""
    address = address.lower()
    local, _, domain = address.rpartition("@")
    m_local, _, m_domain = member.partition("@")
    if m_local and m_local != local:
        return False
    if not m_domain:
        return True
    if m_domain.startswith("."):
        return domain.endswith(m_domain)
    return domain == m_domain


def split_members(text: str) -> list[str]:
    """Split a comma separated member list and validate every entry."""
    entries = [part.strip() for part in text.split(",") if part.strip()]
    if not entries:
        raise InvalidValue("You must enter at least one member.")
    return [check_member(entry) for entry in entries]
