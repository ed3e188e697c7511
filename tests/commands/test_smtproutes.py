"""``smtproutes``: permanent routes, in-process."""

from __future__ import annotations

import pytest

from commands.registry import suggestions
from tests.commands.mail_helpers import COMMIT, assert_refused, committed, seed
from tests.conftest import run_session


def _routes(appliance) -> list[tuple[str, list[str]]]:
    return [(route.domain, route.destinations) for route in committed(appliance).smtp_routes]


def test_empty_table_offers_only_new(appliance):
    status, term, _ = run_session(appliance, ["smtproutes", ""])
    assert status == 0
    assert "There are no routes configured." in term.text
    assert ["NEW"] in term.choices


def test_new_route_interactively_with_asyncos_wording(appliance):
    status, term, _ = run_session(appliance, [
        "smtproutes", "new", ".Example.com", "relay.example.net:2526, 10.0.0.1", "", COMMIT,
    ])
    assert status == 0, term.text
    assert ("Enter the domain for which you want to set up a permanent route.\n"
            'Partial hostnames such as ".example.com" are allowed.\n'
            'Use "ALL" for the default route.\n[]> .Example.com') in term.text
    assert ("Enter the destination hosts, separated by commas, which you want mail for "
            ".example.com to be delivered.\n"
            "Enter USEDNS by itself to use normal DNS resolution for this route.\n"
            "Enter /dev/null by itself if you wish to discard the mail.\n") in term.text
    assert _routes(appliance) == [(".example.com", ["relay.example.net:2526", "10.0.0.1"])]
    assert ("Currently configured routes:\n"
            "1. .example.com             relay.example.net:2526, 10.0.0.1\n") in term.text


def test_duplicate_domain_and_bad_destinations_are_asked_again(appliance):
    seed(appliance, "smtproutes new example.com relay.example.net", "smtproutes new ALL USEDNS")
    status, term, session = run_session(appliance, [
        "smtproutes", "new", "example.com", "all", "bad domain!", "example.org",
        "", "/dev/null, relay.example.net", "bad_host!", "usedns", "",
    ])
    assert status == 1
    assert "The value example.com is already in the routing table." in term.text
    assert "There is already a default route set." in term.text
    assert '"bad domain!" is not a valid domain' in term.text
    assert "You must enter a value." in term.text
    assert "/dev/null must be entered by itself." in term.text
    assert '"bad_host!" is not a valid destination' in term.text
    assert [(r.domain, r.destinations) for r in session.config.smtp_routes][-1] == (
        "example.org", ["USEDNS"])


def test_edit_add_replace_remove(appliance):
    seed(appliance, "smtproutes new example.com a.example.net")
    status, term, _ = run_session(appliance, [
        "smtproutes", "edit", "1", "add", "b.example.net:2526",
        "edit", "example.com", "remove", "1",
        "edit", "example.com", "replace", "c.example.net, d.example.net",
        "edit", "example.com", "remove", "d.example.net",
        "", COMMIT,
    ])
    assert status == 0, term.text
    assert "- ADD - Add new destination hosts." in term.text
    assert "- REPLACE - Specify a new destination or set of destinations." in term.text
    assert "- REMOVE - Remove destination hosts." in term.text
    assert "Destinations for example.com: a.example.net, b.example.net:2526" in term.text
    assert _routes(appliance) == [("example.com", ["c.example.net"])]


def test_edit_cannot_remove_the_last_destination(appliance):
    seed(appliance, "smtproutes new example.com a.example.net")
    status, term, session = run_session(appliance, ["smtproutes", "edit", "1", "remove", ""])
    assert status == 1
    assert "A route must keep at least one destination" in term.text
    assert not session.pending


def test_edit_add_refuses_a_repeat_and_asks_again(appliance):
    seed(appliance, "smtproutes new example.com a.example.net")
    status, term, session = run_session(appliance, [
        "smtproutes", "edit", "1", "add", "A.example.net", "b.example.net", "",
    ])
    assert status == 1
    assert "The destination a.example.net is entered more than once." in term.text
    assert session.config.smtp_routes[0].destinations == ["a.example.net", "b.example.net"]


def test_delete_and_clear_interactively(appliance):
    seed(appliance, "smtproutes new example.com a.example.net", "smtproutes new ALL USEDNS")
    status, term, _ = run_session(appliance, ["smtproutes", "delete", "ALL", "", COMMIT])
    assert status == 0, term.text
    assert "The route for ALL is deleted." in term.text
    assert _routes(appliance) == [("example.com", ["a.example.net"])]
    status, term, session = run_session(appliance, ["smtproutes", "clear", "n", "clear", "y", ""])
    assert status == 0
    assert "Are you sure you want to delete all routes? [N]> " in term.prompts
    assert session.config.smtp_routes == []


def test_batch_forms_and_commit(appliance):
    status, term, _ = run_session(appliance, [
        "smtproutes new ALL usedns",
        "smtproutes new .example.com relay1.example.net:2526, relay2.example.net",
        "smtproutes new junk.example.com /dev/null",
        "smtproutes new gone.example.com a.example.net",
        "smtproutes delete gone.example.com",
        "smtproutes edit .example.com add [::1]:2527",
        "smtproutes edit .example.com remove relay2.example.net",
        "smtproutes edit junk.example.com replace usedns",
        "smtproutes print",
        COMMIT,
    ])
    assert status == 0, term.text
    assert _routes(appliance) == [
        ("ALL", ["USEDNS"]),
        (".example.com", ["relay1.example.net:2526", "[::1]:2527"]),
        ("junk.example.com", ["USEDNS"]),
    ]
    assert "2. .example.com             relay1.example.net:2526, [::1]:2527" \
        in term.text
    seed(appliance, "smtproutes clear")
    assert _routes(appliance) == []


@pytest.mark.parametrize(("line", "message"), [
    ("smtproutes new example.com", "usage is smtproutes new <domain>"),
    ("smtproutes new 'bad domain' a.example.net", '"bad domain" is not a valid domain'),
    ("smtproutes new example.com a.example.net,a.example.net", "entered more than once"),
    ("smtproutes new example.com USEDNS,a.example.net", "USEDNS must be entered by itself."),
    ("smtproutes new example.com a.example.net:99999", "not a valid destination"),
    ("smtproutes new existing.example.com b.example.net",
     "The value existing.example.com is already in the routing table."),
    ("smtproutes new all b.example.net", "There is already a default route set."),
    ("smtproutes delete nowhere.example.com", 'There is no route for "nowhere.example.com".'),
    ("smtproutes edit nowhere.example.com add a.example.net", 'There is no route for'),
    ("smtproutes edit existing.example.com remove a.example.net", "A route must keep at least one"),
    ("smtproutes edit existing.example.com remove z.example.net",
     "z.example.net is not a destination of the route"),
    ("smtproutes edit existing.example.com frob a.example.net", "usage is smtproutes"),
    ("smtproutes print all", "usage is smtproutes"),
])
def test_bad_batch_input_changes_nothing(appliance, line, message):
    seed(appliance, "smtproutes new existing.example.com a.example.net", "smtproutes new ALL USEDNS")
    assert_refused(appliance, line, message)
    assert _routes(appliance) == [("existing.example.com", ["a.example.net"]), ("ALL", ["USEDNS"])]


def test_completion(appliance):
    seed(appliance, "smtproutes new example.com a.example.net")
    _, _, session = run_session(appliance, [])
    assert suggestions(session, ["smtproutes"], "") == ["clear", "delete", "edit", "new", "print"]
    assert suggestions(session, ["smtproutes", "delete"], "") == ["example.com"]
    assert suggestions(session, ["smtproutes", "edit", "example.com"], "r") == ["remove", "replace"]
