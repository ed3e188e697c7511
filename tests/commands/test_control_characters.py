"""Control characters typed into any command: refused with an AsyncOS-style message that
does not quote them, nothing recorded, nothing committed, and the appliance goes on
committing.

The issue: ``policyconfig incoming new p\\x01x @x.example.com`` then ``commit`` (over SSH
exec) committed a document XML cannot hold; every later commit failed with an
application fault and segcli could not start on that data directory again.
"""

from __future__ import annotations

import pytest

from tests.commands.test_policyconfig import COMMIT, committed, seed
from tests.conftest import run_session

#: NUL, SOH, ESC, DEL and an unpaired surrogate; a C1 control and a line separator too.
BAD = ["\x00", "\x01", "\x1b", "\x7f", "\ud800", "\x85", "\u2028"]
PASSWORD = "s3cret-Passw0rd"

#: (one-line form with {bad} where the character goes, the field the refusal names)
LINES = [
    ("policyconfig incoming new p{bad}x @x.example.com", "The policy name"),
    ("policyconfig outgoing new staff @ex{bad}ample.com", "The member"),
    ("policyconfig incoming edit sales name n{bad}", "The policy name"),
    ("policyconfig incoming edit sales new sender boss{bad}@", "The member"),
    ("policyconfig incoming edit sales threatdefense custom a{bad}b@beta.cmd.cisco.com",
     "The Custom Message Intake Address"),
    ("policyconfig incoming edit sales antispam action deliver '[S{bad}]'", "The subject tag"),
    ("listenerconfig name a{bad}b", "The listener name"),
    ("listenerconfig address 127.0.0.1{bad}:2626", "The address"),
    ("listenerconfig rcptaccess add ex{bad}ample.org", "The domain"),
    ("listenerconfig hostaccess add 10.1.{bad}1.1", "The RELAYLIST entry"),
    ("sethostname gw{bad}.example.com", "The hostname"),
    ("tdcconfig enable a{bad}b@beta.cmd.cisco.com",
     "The Default Message Intake Address"),
    ("smtproutes new ex{bad}ample.org mx.example.net", "The domain"),
    ("smtproutes new example.org mx{bad}.example.net", "The destination"),
    ("destconfig new ex{bad}ample.net", "The domain"),
    ("destconfig new example.net concurrency 1{bad}0", "The value"),
    ("destconfig new example.net tls pre{bad}ferred", "The TLS setting"),
    ("dnsconfig servers 127.0.0.1{bad}", "The DNS server"),
    ("labconfig hostport mx{bad}.example.org 2526", "The host"),
    (f"userconfig add b{{bad}}ob 'Bob Example' operator {PASSWORD}", "The user name"),
    (f"userconfig add bob 'Bob{{bad}} Example' operator {PASSWORD}", "The full name"),
    ("userconfig edit admin fullname 'Ad{bad}min'", "The full name"),
    ("loadconfig saved{bad}.xml", "a file name cannot contain"),
    # names that only look something up are checked before they are quoted back
    ("policyconfig incoming edit p{bad}x print", "The policy name"),
    ("policyconfig incoming delete p{bad}x", "The policy name"),
    ("smtproutes delete ex{bad}ample.com", "The domain"),
    ("listenerconfig rcptaccess delete ex{bad}ample.com", "The domain"),
    ("labconfig delete mx{bad}.example.org", "The host"),
    ("userconfig delete b{bad}ob", "The user name"),
    ("userconfig sshkey print b{bad}ob", "The user name"),
    ("passwd b{bad}ob", "The user name"),
    ("certconfig import /tmp/ca{bad}.pem", "a file name cannot contain"),
]


@pytest.fixture
def ready(appliance):
    """A policy to edit and the factory administrator (bcrypt at its lowest cost)."""
    appliance.users.rounds = 4
    appliance.users.ensure_factory_admin()
    seed(appliance, "policyconfig incoming new sales @sales.example.com")
    return appliance


@pytest.mark.parametrize("bad", BAD, ids=[f"U+{ord(c):04X}" for c in BAD])
@pytest.mark.parametrize(("line", "field"), LINES, ids=[line.split("{")[0] for line, _ in LINES])
def test_a_control_character_is_refused_and_nothing_changes(ready, line, field, bad):
    before = committed(ready)
    versions = ready.store.latest_version_id()
    status, term, session = run_session(ready, [line.format(bad=bad), 'commit "x"'])
    assert status == 1, term.text
    refusal = next(out for out in term.out if field in out)
    assert f"U+{ord(bad):04X}" in refusal
    assert bad not in refusal
    assert "There is no data to commit." in term.text
    assert not session.pending
    assert ready.store.latest_version_id() == versions
    assert committed(ready) == before


def test_the_issue_s_session_leaves_the_appliance_committing(appliance):
    status, term, _ = run_session(appliance, [
        "policyconfig incoming new p\x01x @x.example.com", COMMIT,
        "listenerconfig name a\x00b", COMMIT,
        "policyconfig incoming new px @x.example.com", COMMIT,
    ])
    assert status == 1
    assert "An application fault occurred" not in term.text
    assert term.text.count("Changes committed: ") == 1
    assert committed(appliance).incoming.names == ["px", "DEFAULT"]
    assert committed(appliance).listener.name == "IncomingMail"


@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\ud800"])
def test_a_commit_comment_is_checked_too(appliance, bad):
    status, term, session = run_session(appliance, ["sethostname gw.example.com",
                                                    f'commit "done{bad}"'])
    assert status == 1
    assert "The comment cannot contain the control character" in term.text \
        or "The comment cannot contain the unpaired surrogate" in term.text
    assert appliance.store.latest_version_id() == 1
    assert session.pending  # the change waits for a commit with a good comment


def test_a_commit_comment_asked_for_is_asked_again(appliance):
    status, term, _ = run_session(appliance, ["sethostname gw.example.com", "commit",
                                              "bad\x1b[2J", "renamed", "Y"])
    assert status == 1  # a wrong answer was given
    assert "The comment cannot contain the control character U+001B at position 4" in term.text
    assert appliance.store.latest().comment == "renamed"


def test_a_dialog_asks_again_for_a_name_with_a_control_character(appliance):
    status, term, _ = run_session(appliance, [
        "policyconfig incoming", "new", "p\x01x", "legal", "", "", "@legal.example.com", "", "",
        COMMIT,
    ])
    assert status == 1
    assert "The policy name cannot contain the control character U+0001 at position 2" in term.text
    assert committed(appliance).incoming.names == ["legal", "DEFAULT"]
