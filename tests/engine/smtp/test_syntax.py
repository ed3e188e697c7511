"""RFC 5321 syntax of mailboxes, EHLO arguments and ESMTP parameters (engine.smtp.syntax)."""

from __future__ import annotations

import pytest

from engine.smtp.syntax import is_ehlo_argument, is_mailbox, is_parameter, strip_source_route

#: Every C0 control character, DEL and the C1 controls: none may be in any argument.
CONTROLS = [chr(c) for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))]


@pytest.mark.parametrize("address", [
    "user@example.com",
    "first.last+tag@mail.example.co.uk",
    "!#$%&'*+-/=?^_`{|}~@example.com",
    '"john doe"@example.com',
    '"quoted \\" and \\\\ pair"@example.com',
    '"@"@example.com',
    '""@example.com',
    "user@localhost",
    "user@123.example",
    "user@[192.0.2.1]",
    "user@[IPv6:2001:db8::1]",
    "user@[ipv6:::ffff:192.0.2.1]",
    "user@[x-tag:some.content]",
])
def test_mailboxes_of_rfc_5321(address):
    assert is_mailbox(address)


@pytest.mark.parametrize("address", [
    "a\x1b]0;PWNED\x07@example.org",  # the terminal title escape
    "user@exam\x00ple.com",
    '"a\x1bb"@example.com',  # a quoted string holds printable ASCII only
    '"a\\\x1bb"@example.com',  # and so does a quoted pair
    "user",
    "@example.com",
    "user@",
    "user@@example.com",
    ".user@example.com",
    "user.@example.com",
    "us..er@example.com",
    "us er@example.com",
    '"unclosed@example.com',
    "user@-example.com",
    "user@example-.com",
    "user@example..com",
    "user@example.com.",
    "user@exa_mple.com",
    "user@example com",
    "user@[192.0.2.256]",
    "user@[192.0.2]",
    "user@[IPv6:2001:db8::g]",
    "user@[IPv6:fe80::1%eth0]",
    "user@[x-tag:]",
    "user@[not a literal]",
    "jörg@example.com",
    "user@exämple.com",
])
def test_not_mailboxes(address):
    assert not is_mailbox(address)


@pytest.mark.parametrize("control", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
def test_no_control_character_anywhere_in_a_mailbox(control):
    for address in (f"a{control}b@example.com", f"ab@exa{control}mple.com",
                    f'"a{control}b"@example.com', f'"a\\{control}b"@example.com',
                    f"ab@[x-tag:a{control}b]", f"ab@example.com{control}"):
        assert not is_mailbox(address), repr(address)


def test_source_routes():
    assert strip_source_route("@relay1.example,@relay2.example:user@example.com") == (
        "user@example.com", True)
    assert strip_source_route("user@example.com") == ("user@example.com", True)
    assert strip_source_route("@rel\x1bay.example:user@example.com")[1] is False
    assert strip_source_route("@relay.example,relay2.example:user@example.com")[1] is False


@pytest.mark.parametrize(("keyword", "value", "ok"), [
    ("SIZE", "1000", True),
    ("BODY", "8BITMIME", True),
    ("SMTPUTF8", None, True),
    ("X-FOO", "a+b/c", True),
    ("", "1", False),
    ("-X", "1", False),
    ("SI\x1bZE", "1", False),
    ("SIZE", "1\x1b[2J", False),
    ("SIZE", "", False),
    ("SIZE", "a=b", False),
    ("SIZE", "1\x7f", False),
])
def test_esmtp_parameters(keyword, value, ok):
    assert is_parameter(keyword, value) is ok


@pytest.mark.parametrize(("argument", "ok"), [
    ("client.example.org", True),
    ("[192.0.2.1]", True),
    ("MY_PC", True),  # no domain, but real clients send such names
    ("client.example.org extra words", True),
    ("", False),
    ("client\x1b[2J.example.org", False),
    ("client.example.org\x00", False),
    ("client\texample", False),
    ("clïent.example.org", False),
    ("client\x85.example.org", False),
])
def test_ehlo_arguments(argument, ok):
    assert is_ehlo_argument(argument) is ok
