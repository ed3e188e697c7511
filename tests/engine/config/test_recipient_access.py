"""Who the listener takes mail for: the recipient access table (RAT) and the host access
table's RELAYLIST, entry by entry, with the near misses a suffix or prefix match lets
through (``example.com`` is not ``notexample.com``; ``10.1.1.5`` is not ``10.1.1.50``).

The entries go through the change records (``AddAcceptedDomain``, ``AddRelayHost``), as
``listenerconfig`` makes them, so each case also checks the canonical form an entry is kept
in; one test takes the same table over real SMTP.
"""

from __future__ import annotations

import pytest

from engine.config.changes import (
    AddAcceptedDomain,
    AddRelayHost,
    ConfigError,
    RemoveAcceptedDomain,
    replay,
)
from engine.config.model import Config, Listener
from tests.engine.gateway_lab import until


def _table(*entries: str) -> Listener:
    return replay(Config(), [AddAcceptedDomain(entry) for entry in entries]).listener


# -- the recipient access table --------------------------------------------------------------

#: (entries as typed, recipient, accepted?)
RAT_CASES = [
    # An exact entry: that domain and nothing else.
    (("example.com",), "bob@example.com", True),
    (("example.com",), "bob@notexample.com", False),  # a suffix, not the domain
    (("example.com",), "bob@xexample.com", False),
    (("example.com",), "bob@a.example.com", False),  # sub-domains need .example.com
    (("example.com",), "bob@example.com.au", False),  # a prefix, not the domain
    (("example.com",), "bob@example.co", False),
    (("example.com",), "bob@example.org", False),
    (("example.com",), "example.com@example.org", False),  # the domain is after the last @
    (("example.com",), "bob@example.com@example.org", False),
    # A sub-domain entry: every sub-domain, at any depth, and not the domain itself.
    ((".example.com",), "bob@a.example.com", True),
    ((".example.com",), "bob@a.b.example.com", True),
    ((".example.com",), "bob@example.com", False),
    ((".example.com",), "bob@notexample.com", False),  # ends in example.com, not .example.com
    ((".example.com",), "bob@a.notexample.com", False),
    ((".example.com",), "bob@a.example.com.au", False),
    # Both together, as administrators write it for a domain and its sub-domains.
    (("example.com", ".example.com"), "bob@example.com", True),
    (("example.com", ".example.com"), "bob@mx.example.com", True),
    (("example.com", ".example.com"), "bob@notexample.com", False),
    # Case: entries are kept in lower case; recipients match in any case.
    (("Example.COM",), "bob@EXAMPLE.com", True),
    (("example.com",), "Bob@Example.Com", True),
    ((".EXAMPLE.com",), "bob@Sub.Example.COM", True),
    (("EXAMPLE.com",), "bob@NOTEXAMPLE.COM", False),
    # Trailing dots: an entry typed as an absolute name is the same domain (kept without
    # the dot, as smtproutes keeps its domains) ...
    (("example.com.",), "bob@example.com", True),
    (("example.com.",), "bob@notexample.com", False),
    ((".example.com.",), "bob@a.example.com", True),
    ((".example.com.",), "bob@example.com", False),
    # ... and a recipient written with one is matched by no entry (RFC 5321 has no
    # trailing dot: the address would escape every rule keyed on its domain).
    (("example.com",), "bob@example.com.", False),
    ((".example.com",), "bob@a.example.com.", False),
    (("example.com.",), "bob@example.com.", False),
    # An empty table takes mail for nobody.
    ((), "bob@example.com", False),
]


@pytest.mark.parametrize(("entries", "recipient", "accepted"), RAT_CASES)
def test_the_recipient_access_table_matches_whole_domains(entries, recipient, accepted):
    assert _table(*entries).accepts(recipient) is accepted


def test_recipient_access_entries_are_kept_in_lower_case_without_a_trailing_dot():
    listener = _table("Example.COM.", ".Sub.Example.ORG.", " example.net ")
    assert listener.accepted_domains == ["example.com", ".sub.example.org", "example.net"]


@pytest.mark.parametrize("duplicate", ["example.com", "EXAMPLE.COM", "example.com."])
def test_an_entry_already_in_the_table_in_another_spelling_is_refused(duplicate):
    with pytest.raises(ConfigError, match="already in the recipient access table"):
        replay(Config(), [AddAcceptedDomain("example.com"), AddAcceptedDomain(duplicate)])


@pytest.mark.parametrize("spelling", ["example.com", "EXAMPLE.com", "example.com."])
def test_an_entry_is_removed_by_any_spelling_of_it(spelling):
    config = replay(Config(), [AddAcceptedDomain("example.com"), AddAcceptedDomain(".example.com"),
                               RemoveAcceptedDomain(spelling)])
    assert config.listener.accepted_domains == [".example.com"]
    assert not config.listener.accepts("bob@example.com")
    assert config.listener.accepts("bob@a.example.com")


# -- the RELAYLIST -----------------------------------------------------------------------------

#: (entries as typed, peer address, the entry it matches or None)
RELAY_CASES = [
    (("10.1.1.5",), "10.1.1.5", "10.1.1.5"),
    (("10.1.1.5",), "10.1.1.50", None),  # a prefix of the address, not the host
    (("10.1.1.5",), "110.1.1.5", None),  # a suffix
    (("10.1.1.5",), "10.1.1.4", None),
    (("10.1.1.5/32",), "10.1.1.5", "10.1.1.5"),  # a lone host is kept without /32
    (("10.1.1.0/24",), "10.1.1.0", "10.1.1.0/24"),  # both ends of the network
    (("10.1.1.0/24",), "10.1.1.255", "10.1.1.0/24"),
    (("10.1.1.0/24",), "10.1.0.255", None),  # one below
    (("10.1.1.0/24",), "10.1.2.0", None),  # one above
    (("10.1.1.7/24",), "10.1.1.200", "10.1.1.0/24"),  # host bits dropped
    (("10.1.1.0/24",), "::ffff:10.1.1.9", "10.1.1.0/24"),  # IPv4 client of a "::" listener
    (("10.1.1.0/24",), "::ffff:10.1.2.9", None),
    (("2001:db8::/64",), "2001:db8::1", "2001:db8::/64"),
    (("2001:db8::/64",), "2001:db8:0:1::1", None),
    (("10.1.1.0/24", "10.0.0.0/8"), "10.1.1.1", "10.1.1.0/24"),  # the first entry that matches
    (("10.1.1.0/24", "10.0.0.0/8"), "10.9.9.9", "10.0.0.0/8"),
    (("10.1.1.0/24",), "not an address", None),
    ((), "127.0.0.1", None),
]


@pytest.mark.parametrize(("entries", "peer", "entry"), RELAY_CASES)
def test_the_relaylist_matches_whole_addresses_and_networks(entries, peer, entry):
    listener = replay(Config(), [AddRelayHost(e) for e in entries]).listener
    assert listener.relay_entry(peer) == entry


# -- over real SMTP ----------------------------------------------------------------------------


@pytest.mark.usefixtures("run")
async def test_an_exact_entry_over_smtp_takes_its_domain_and_refuses_look_alikes(gateway):
    """RCPT TO is answered by the table: 250 for the domain, 550 for the names that only
    end or start with it, and each refusal is logged "Rejected by RAT"."""
    gateway.config.listener = _table("Example.com.")
    await gateway.start()
    look_alikes = ("x@notexample.com", "x@sub.example.com", "x@example.com.au")
    # A trailing dot is no RFC 5321 domain: refused as syntax before the table is asked.
    refused = await gateway.send("exact", recipients=("bob@EXAMPLE.com", *look_alikes,
                                                      "x@example.com."))
    assert refused == {**{address: (550, b"5.1.0 Address rejected.") for address in look_alikes},
                       "x@example.com.": (501, b"5.1.3 Bad recipient address syntax")}
    await until(lambda: len(gateway.sink.messages) == 1)
    assert gateway.sink.messages[0][1] == ["bob@EXAMPLE.com"]
    assert gateway.engine.counters.system.rejected_recipients == len(look_alikes)
    rejected = [line for line in gateway.lines() if line.endswith("Rejected by RAT")]
    assert rejected == [f"MID 1 ICID 1 To: <{address}> Rejected by RAT" for address in look_alikes]
