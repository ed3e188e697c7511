"""``listenerconfig``: the SMTP listener, its host and recipient access tables, in-process."""

from __future__ import annotations

import pytest

from commands.registry import suggestions
from tests.commands.mail_helpers import COMMIT, assert_refused, committed, seed
from tests.conftest import run_session


def test_listing_and_edit_menu(appliance):
    status, term, session = run_session(appliance, ["listenerconfig", "edit", "1", "", ""])
    assert status == 0, term.text
    assert ("Currently configured listeners:\n"
            "1. IncomingMail (on Management, 127.0.0.1) SMTP TCP Port 2525 Public\n") in term.text
    assert "- EDIT - Modify a listener." in term.text
    assert "Enter the name or number of the listener you wish to edit." in term.text
    for line in ("Name: IncomingMail", "Interface: Management (127.0.0.1) TCP Port 2525",
                 "Maximum Message Size: 10M", "TLS: Preferred (STARTTLS offered)",
                 "- NAME - Change the name of the listener.",
                 "- INTERFACE - Change the address and port the listener listens on.",
                 "- LIMITS - Change the injection limits.", "- SETUP - Configure general options.",
                 "- HOSTACCESS - Modify the Host Access Table.",
                 "- RCPTACCESS - Modify the Recipient Access Table."):
        assert line in term.text
    assert not session.pending


def test_interactive_edit_of_every_setting(appliance):
    status, term, _ = run_session(appliance, [
        "listenerconfig", "edit", "IncomingMail",
        "name", "PublicIn",
        "interface", "0.0.0.0:2600",
        "limits", "20M",
        "setup", "n",
        "rcptaccess", "new", "example.com, .example.org", "print", "",
        "", "",
        COMMIT,
    ])
    assert status == 0, term.text
    assert ("Enter the maximum message size. Add a trailing k for kilobytes, M for megabytes, or "
            "no letter for bytes.\n[10M]> 20M") in term.text
    assert "Do you want to offer STARTTLS to connecting hosts? [Y]> n" in term.text
    assert ("Recipient Access Table for PublicIn:\nexample.com         ACCEPT\n"
            ".example.org        ACCEPT\nALL                 REJECT\n") in term.text
    listener = committed(appliance).listener
    assert (listener.name, str(listener.address), listener.max_message_size, listener.offer_tls,
            listener.accepted_domains) == (
        "PublicIn", "0.0.0.0:2600", 20 * 1024 * 1024, False, ["example.com", ".example.org"])


def test_enter_keeps_every_value_and_records_nothing(appliance):
    status, term, session = run_session(appliance, [
        "listenerconfig", "edit", "1", "name", "", "interface", "", "limits", "", "setup", "",
        "", "",
    ])
    assert status == 0, term.text
    assert "[127.0.0.1:2525]> " in term.prompts
    assert not session.pending


def test_wrong_answers_are_asked_again(appliance):
    status, term, session = run_session(appliance, [
        "listenerconfig", "edit", "1",
        "interface", "nowhere", "127.0.0.1:2222", "127.0.0.1:2600",
        "limits", "lots", "12", "1k",
        "rcptaccess", "new", "not a domain", "example.com", "new", "EXAMPLE.com", "example.net",
        "", "", "",
    ])
    assert status == 1  # wrong answers were given
    assert '"nowhere" is not a valid address: use HOST:PORT' in term.text
    assert "127.0.0.1:2222 is the SSH server's address" in term.text
    assert '"lots" is not a valid size' in term.text
    assert "The maximum message size must be from 1024 bytes" in term.text
    assert '"not" is not a valid entry' in term.text
    assert "example.com is already in the recipient access table." in term.text
    listener = session.config.listener
    assert (str(listener.address), listener.max_message_size, listener.accepted_domains) == (
        "127.0.0.1:2600", 1024, ["example.com", "example.net"])


def test_rat_delete_interactively(appliance):
    seed(appliance, "listenerconfig rcptaccess add example.com,example.net")
    status, term, _ = run_session(appliance, [
        "listenerconfig", "edit", "1", "rcptaccess", "delete", "2", "", "", "", COMMIT,
    ])
    assert status == 0, term.text
    assert "example.net is deleted." in term.text
    assert committed(appliance).listener.accepted_domains == ["example.com"]


def test_rat_delete_on_an_empty_table(appliance):
    status, term, session = run_session(appliance, [
        "listenerconfig", "edit", "1", "rcptaccess", "delete", "", "", "",
    ])
    assert status == 1
    assert "The recipient access table has no entries to delete." in term.text
    assert not session.pending


def test_batch_forms_and_commit(appliance):
    status, term, _ = run_session(appliance, [
        "listenerconfig name PublicIn",
        "listenerconfig address 0.0.0.0:25",
        "listenerconfig maxsize 512k",
        "listenerconfig tls off",
        "listenerconfig rcptaccess add example.com .example.org",
        "listenerconfig rcptaccess add example.net",
        "listenerconfig rcptaccess delete example.net",
        "listenerconfig rcptaccess print",
        COMMIT,
        "listenerconfig print",
    ])
    assert status == 0, term.text
    listener = committed(appliance).listener
    assert (listener.name, str(listener.address), listener.max_message_size, listener.offer_tls,
            listener.accepted_domains) == (
        "PublicIn", "0.0.0.0:25", 512 * 1024, False, ["example.com", ".example.org"])
    assert "1. PublicIn (on Management, 0.0.0.0) SMTP TCP Port 25 Public" in term.text
    assert "Maximum Message Size: 512k\nTLS: No\n" in term.text


def test_tls_on_again(appliance):
    seed(appliance, "listenerconfig tls off")
    seed(appliance, "listenerconfig tls on")
    assert committed(appliance).listener.offer_tls is True


@pytest.mark.parametrize(("line", "message"), [
    ("listenerconfig address 2525", '"2525" is not a valid address'),
    ("listenerconfig address bad_host!:25", "is not a valid host"),
    ("listenerconfig address 127.0.0.1:2222", "SSH server's address"),
    ("listenerconfig maxsize 10G", '"10G" is not a valid size'),
    ("listenerconfig maxsize 2000M", "The maximum message size must be"),
    ("listenerconfig tls maybe", '"maybe" is not valid: enter on or off.'),
    ("listenerconfig name 'two words'", "Valid characters are"),
    ("listenerconfig rcptaccess add ALL", '"all" is not a valid entry'),
    ("listenerconfig rcptaccess add example.com,bad_domain", '"bad_domain" is not a valid entry'),
    ("listenerconfig rcptaccess add example.com,EXAMPLE.COM", "already in the recipient access"),
    ("listenerconfig rcptaccess delete example.com", "example.com is not in the recipient access"),
    ("listenerconfig rcptaccess frob", "usage is listenerconfig rcptaccess add"),
    ("listenerconfig hostaccess add 10.1.1.300", '"10.1.1.300" is not a valid entry'),
    ("listenerconfig hostaccess add relay.example.com", "enter an IP address such as 10.1.1.5"),
    ("listenerconfig hostaccess add 10.1.1.5,10.1.1.5/32", "10.1.1.5 is already in the RELAYLIST"),
    ("listenerconfig hostaccess delete 10.9.9.9", "10.9.9.9 is not in the RELAYLIST"),
    ("listenerconfig hostaccess delete", "usage is listenerconfig hostaccess add"),
    ("listenerconfig frobnicate", "Invalid arguments when processing: usage is listenerconfig"),
    ("listenerconfig print extra", "usage is listenerconfig"),
])
def test_bad_batch_input_changes_nothing(appliance, line, message):
    assert_refused(appliance, line, message)


def test_one_bad_entry_refuses_the_whole_list(appliance):
    assert_refused(appliance, "listenerconfig rcptaccess add example.com,example.net,nope!",
                   '"nope!" is not a valid entry')
    assert committed(appliance).listener.accepted_domains == []


def test_completion(appliance):
    seed(appliance, "listenerconfig rcptaccess add example.com")
    _, _, session = run_session(appliance, [])
    assert suggestions(session, ["listenerconfig"], "") == [
        "address", "hostaccess", "maxsize", "name", "print", "rcptaccess", "tls"]
    assert suggestions(session, ["listenerconfig", "rcptaccess", "delete"], "") == ["example.com"]
    assert suggestions(session, ["listenerconfig", "tls"], "o") == ["off", "on"]


def test_help_lists_the_batch_forms(appliance):
    _, term, _ = run_session(appliance, ["help listenerconfig"])
    assert "listenerconfig rcptaccess add <domain>[,<domain>...]" in term.text
    assert "listenerconfig address <host:port>" in term.text


def test_hostaccess_batch_forms_canonical_entries_and_print(appliance):
    status, term, _ = run_session(appliance, [
        "listenerconfig hostaccess add 10.1.1.5, 10.2.0.0/16 2001:DB8::/32",
        "listenerconfig hostaccess add 192.168.7.9/24",
        "listenerconfig hostaccess delete 10.2.0.0/16",
        COMMIT,
        "listenerconfig hostaccess print",
    ])
    assert status == 0, term.text
    assert committed(appliance).listener.relay_hosts == ["10.1.1.5", "2001:db8::/32",
                                                         "192.168.7.0/24"]
    assert ("Host Access Table for IncomingMail:\n"
            "RELAYLIST (policy RELAYED: may relay to any domain; outgoing mail policies)\n"
            "    10.1.1.5\n    2001:db8::/32\n    192.168.7.0/24\n"
            "ALL (sender group UNKNOWNLIST, policy ACCEPTED: recipient access table; "
            "incoming mail policies)\n") in term.text


def test_hostaccess_interactively_with_a_wrong_answer_asked_again(appliance):
    status, term, session = run_session(appliance, [
        "listenerconfig", "edit", "1", "hostaccess",
        "new", "10.1.1.0/33", "10.1.1.0/24, 127.0.0.2",
        "delete", "2", "print", "", "", "",
    ])
    assert status == 1  # one wrong answer was given
    assert "Enter the hosts that may relay mail through this listener." in term.text
    assert '"10.1.1.0/33" is not a valid entry' in term.text
    assert "127.0.0.2 is deleted." in term.text
    assert session.config.listener.relay_hosts == ["10.1.1.0/24"]
    assert committed(appliance).listener.relay_hosts == []  # pending until commit


def test_hostaccess_delete_on_an_empty_group(appliance):
    status, term, session = run_session(appliance, [
        "listenerconfig", "edit", "1", "hostaccess", "delete", "", "", "",
    ])
    assert status == 1
    assert "The RELAYLIST sender group has no hosts to delete." in term.text
    assert "    (no hosts)" in term.text
    assert not session.pending
