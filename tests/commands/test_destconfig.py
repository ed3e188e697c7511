"""``destconfig``: the destination control table, in-process."""

from __future__ import annotations

import pytest

from commands.registry import suggestions
from engine.config.model import TlsMode
from tests.commands.mail_helpers import COMMIT, assert_refused, committed, seed
from tests.conftest import run_session


def _table(appliance) -> list[tuple[str, int, int, TlsMode]]:
    return [(d.domain, d.max_concurrency, d.max_messages_per_connection, d.tls)
            for d in committed(appliance).destinations]


def test_menu_and_list(appliance):
    status, term, _ = run_session(appliance, ["destconfig", "list", ""])
    assert status == 0
    assert "There is currently 1 entry configured." in term.text
    for keyword in ("NEW", "EDIT", "DELETE", "DEFAULT", "LIST", "DETAIL"):
        assert f"- {keyword} - " in term.text
    assert "Domain                        Concurrency  Msgs/Conn  TLS\n" in term.text
    assert "Default                               500         50  No\n" in term.text


def test_new_entry_interactively(appliance):
    status, term, _ = run_session(appliance, [
        "destconfig", "new", "Example.net", "", "20", "y", "5", "y", "5", "", COMMIT,
    ])
    assert status == 0, term.text
    assert "Enter the domain you wish to configure.\n[]> Example.net" in term.text
    assert "Do you wish to configure a concurrency limit for example.net? [Y]> " in term.prompts
    assert 'Enter the max concurrency limit for "example.net".\n[500]> 20' in term.text
    assert ("Do you wish to apply a messages-per-connection limit to this domain? [N]> "
            in term.prompts)
    assert "Do you want to use TLS support?\n1. No\n2. Preferred\n3. Required\n" \
           "4. Preferred - Verify\n5. Required - Verify\n[1]> 5" in term.text
    assert "There are currently 2 entries configured." in term.text
    assert _table(appliance) == [("DEFAULT", 500, 50, TlsMode.NO),
                                 ("example.net", 20, 5, TlsMode.REQUIRED_VERIFY)]


def test_new_entry_takes_the_default_values_it_does_not_set(appliance):
    seed(appliance, "destconfig edit default concurrency 40 perconn 7 tls preferred")
    status, term, _ = run_session(appliance, ["destconfig", "new", "example.net", "n", "", "", "",
                                              COMMIT])
    assert status == 0, term.text
    assert _table(appliance)[1] == ("example.net", 40, 7, TlsMode.PREFERRED)


def test_edit_default_and_delete(appliance):
    seed(appliance, "destconfig new example.net concurrency 5")
    status, term, _ = run_session(appliance, [
        "destconfig", "default", "100", "10", "2",
        "edit", "1", "", "8", "", "", "", "",
        "delete", "example.net", "", COMMIT,
    ])
    assert status == 0, term.text
    assert 'Enter the max concurrency limit for "Default".\n[500]> 100' in term.text
    # each limit where the entry differs from the default is offered as its own (Y)
    assert "Do you wish to configure a concurrency limit for example.net? [Y]> " in term.prompts
    assert 'Enter the max concurrency limit for "example.net".\n[5]> 8' in term.text
    assert "Do you wish to apply a specific TLS setting for this domain? [Y]> " in term.prompts
    assert "example.net is deleted." in term.text
    assert _table(appliance) == [("DEFAULT", 100, 10, TlsMode.PREFERRED)]


def test_wrong_answers_are_asked_again(appliance):
    seed(appliance, "destconfig new example.net")
    status, term, session = run_session(appliance, [
        "destconfig", "new", "default", "example.net", "no_domain", "example.org",
        "", "0", "1001", "30", "n", "n", "",
    ])
    assert status == 1
    assert "The DEFAULT entry always exists: change it with DEFAULT." in term.text
    assert "example.net is already in the destination control table." in term.text
    assert '"no_domain" is not a valid domain' in term.text
    assert term.text.count("The value must be an integer from 1 to 1000.") == 2
    assert session.config.destination("example.org").max_concurrency == 30


def test_edit_and_delete_with_no_entries(appliance):
    status, term, session = run_session(appliance, ["destconfig", "edit", "delete", ""])
    assert status == 1
    assert term.text.count("There are no entries other than the default.") == 2
    assert not session.pending


def test_detail(appliance):
    seed(appliance, "destconfig new example.net concurrency 5 tls required")
    status, term, _ = run_session(appliance, ["destconfig", "detail", "nowhere.example", "",
                                              "detail", "example.net", ""])
    assert status == 1  # the unknown domain
    assert "nowhere.example was not found in the destination control table." in term.text
    assert ("example.net\n    Maximum concurrency: 5 (System Wide)\n"
            "    Maximum messages per connection: 50\n    TLS: Required\n") in term.text
    assert "\nDefault\n    Maximum concurrency: 500" in term.text


def test_batch_forms(appliance):
    status, term, _ = run_session(appliance, [
        "destconfig new example.net concurrency 5 perconn 2 tls preferred-verify",
        "destconfig new example.org",
        "destconfig edit example.org tls 'Required - Verify'",
        "destconfig edit default concurrency 200",
        "destconfig new gone.example",
        "destconfig delete gone.example",
        "destconfig list",
        "destconfig detail example.net",
        COMMIT,
    ])
    assert status == 0, term.text
    assert _table(appliance) == [("DEFAULT", 200, 50, TlsMode.NO),
                                 ("example.net", 5, 2, TlsMode.PREFERRED_VERIFY),
                                 ("example.org", 500, 50, TlsMode.REQUIRED_VERIFY)]
    assert "example.net                             5          2  Preferred - Verify" in term.text


@pytest.mark.parametrize(("line", "message"), [
    ("destconfig new", "usage is destconfig"),
    ("destconfig new example.com concurrency", "usage is destconfig new <domain>"),
    ("destconfig new example.com concurrency 5 concurrency 6", "usage is destconfig new"),
    ("destconfig new example.com speed 5", "usage is destconfig new"),
    ("destconfig new example.com concurrency 0", "The value must be an integer from 1 to 1000."),
    ("destconfig new example.com perconn many", "The value must be an integer from 1 to 1000."),
    ("destconfig new example.com tls always", '"always" is not a TLS setting'),
    ("destconfig new existing.example.com", "already in the destination control table"),
    ("destconfig new default", "The DEFAULT entry always exists"),
    ("destconfig new no_domain", "is not a valid domain"),
    ("destconfig edit existing.example.com", "usage is destconfig"),
    ("destconfig edit nowhere.example concurrency 5", "was not found in the destination"),
    ("destconfig delete default", "The DEFAULT entry cannot be deleted."),
    ("destconfig delete nowhere.example", "nowhere.example was not found"),
    ("destconfig detail nowhere.example", "nowhere.example was not found"),
    ("destconfig list all", "usage is destconfig"),
])
def test_bad_batch_input_changes_nothing(appliance, line, message):
    seed(appliance, "destconfig new existing.example.com")
    assert_refused(appliance, line, message)


def test_completion(appliance):
    seed(appliance, "destconfig new example.net")
    _, _, session = run_session(appliance, [])
    assert suggestions(session, ["destconfig"], "") == ["delete", "detail", "edit", "list", "new"]
    assert suggestions(session, ["destconfig", "edit"], "") == ["default", "example.net"]
    assert suggestions(session, ["destconfig", "detail"], "") == ["all", "example.net"]
