"""``dnsconfig``: the DNS servers and the query timeout, in-process."""

from __future__ import annotations

import pytest

from tests.commands.mail_helpers import COMMIT, assert_refused, committed, seed
from tests.conftest import run_session


def _servers(appliance) -> list[str]:
    return [str(server) for server in committed(appliance).dns.servers]


def test_factory_settings_use_the_host_resolvers(appliance):
    status, term, _ = run_session(appliance, ["dnsconfig", ""])
    assert status == 0
    assert ("Current DNS Configuration:\nUsing this host's resolvers (/etc/resolv.conf).\n"
            "Timeout for DNS queries: 5 seconds\n") in term.text
    assert ["NEW", "SETUP"] in term.choices  # nothing to DELETE yet


def test_setup_own_servers_and_timeout(appliance):
    status, term, _ = run_session(appliance, [
        "dnsconfig", "setup", "2", "127.0.0.1:5353, ::1", "1.5", "", COMMIT,
    ])
    assert status == 0, term.text
    assert ("Do you want to use this host's resolvers or your own DNS servers?\n"
            "1. Use this host's resolvers (/etc/resolv.conf)\n2. Use own DNS servers\n[1]> 2"
            ) in term.text
    assert "Please enter the IP address of your DNS server." in term.text
    assert _servers(appliance) == ["127.0.0.1:5353", "[::1]:53"]
    assert committed(appliance).dns.timeout == 1.5
    assert "Using these DNS servers:\n1. 127.0.0.1:5353\n2. [::1]:53\n" in term.text


def test_setup_back_to_the_host_resolvers(appliance):
    seed(appliance, "dnsconfig servers 127.0.0.1:5353")
    status, term, _ = run_session(appliance, ["dnsconfig", "setup", "1", "", "", COMMIT])
    assert status == 0, term.text
    assert "[2]> " in term.prompts  # the current choice is the default
    assert _servers(appliance) == []


def test_setup_enter_keeps_everything(appliance):
    seed(appliance, "dnsconfig servers 127.0.0.1:5353")
    status, term, session = run_session(appliance, ["dnsconfig", "setup", "", "", "", ""])
    assert status == 0, term.text
    assert "[127.0.0.1:5353]> " in term.prompts and "[5]> " in term.prompts
    assert not session.pending


def test_new_and_delete(appliance):
    seed(appliance, "dnsconfig servers 10.0.0.1")
    status, term, _ = run_session(appliance, [
        "dnsconfig", "new", "10.0.0.1", "not-an-ip", "10.0.0.2:5353",
        "delete", "1", "delete", "1", "", COMMIT,
    ])
    assert status == 1  # two wrong answers
    assert "The DNS server 10.0.0.1:53 is entered more than once." in term.text
    assert '"not-an-ip" is not a valid DNS server' in term.text
    assert "No DNS servers remain: this host's resolvers will be used." in term.text
    assert "Changes committed: " in term.text
    assert _servers(appliance) == []


def test_bad_setup_answers_are_asked_again(appliance):
    status, term, session = run_session(appliance, [
        "dnsconfig", "setup", "2", "dns.example.com", "10.0.0.1,10.0.0.1:53", "10.0.0.1",
        "0", "soon", "2", "",
    ])
    assert status == 1
    assert '"dns.example.com" is not a valid DNS server' in term.text
    assert "The DNS server 10.0.0.1:53 is entered more than once." in term.text
    assert term.text.count("The value must be a number of seconds from 0.01 to 300.") == 2
    assert [str(s) for s in session.config.dns.servers] == ["10.0.0.1:53"]
    assert session.config.dns.timeout == 2


def test_batch_forms(appliance):
    status, term, _ = run_session(appliance, [
        "dnsconfig servers 127.0.0.1:5353 10.0.0.1", "dnsconfig timeout 0.25", "dnsconfig print",
        COMMIT,
    ])
    assert status == 0, term.text
    assert _servers(appliance) == ["127.0.0.1:5353", "10.0.0.1:53"]
    assert committed(appliance).dns.timeout == 0.25
    assert "Timeout for DNS queries: 0.25 seconds" in term.text
    seed(appliance, "dnsconfig system")
    assert _servers(appliance) == []


@pytest.mark.parametrize(("line", "message"), [
    ("dnsconfig servers", "usage is dnsconfig"),
    ("dnsconfig servers dns.example.com", '"dns.example.com" is not a valid DNS server'),
    ("dnsconfig servers 10.0.0.1:0", "is not a valid DNS server"),
    ("dnsconfig servers 10.0.0.1,10.0.0.1:53", "is entered more than once"),
    ("dnsconfig timeout 0", "The value must be a number of seconds from 0.01 to 300."),
    ("dnsconfig timeout ten", "The value must be a number of seconds"),
    ("dnsconfig system now", "usage is dnsconfig"),
    ("dnsconfig frob", "usage is dnsconfig"),
])
def test_bad_batch_input_changes_nothing(appliance, line, message):
    assert_refused(appliance, line, message)
