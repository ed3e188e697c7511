"""``labconfig`` (segcli only): lab host name -> loopback port, in-process."""

from __future__ import annotations

import pytest

from commands.registry import suggestions
from tests.commands.mail_helpers import COMMIT, assert_refused, committed, seed
from tests.conftest import run_session


def test_help_says_it_is_segcli_specific(appliance):
    _, term, _ = run_session(appliance, ["help labconfig", "help"])
    assert "labconfig is specific to segcli; the appliance has no such command." in term.text
    assert "labconfig hostport <host> <port>" in term.text
    assert "Configure lab addressing (segcli only, not an AsyncOS command)" in term.text


def test_new_and_delete_interactively(appliance):
    status, term, _ = run_session(appliance, [
        "labconfig", "new", "bad host", "Beta.CMD.cisco.com", "0", "2601",
        "new", "mx.example.net", "2602", "delete", "mx.example.net", "", COMMIT,
    ])
    assert status == 1  # the bad host name and port were asked again
    assert "No lab host ports are configured" in term.text
    assert "A host name must contain only letters" in term.text
    assert "The value must be an integer from 1 to 65535." in term.text
    assert ("Lab host ports (deliveries to these hosts go to this loopback port):\n"
            "1. beta.cmd.cisco.com         2601\n2. mx.example.net             2602\n") in term.text
    assert committed(appliance).host_ports == {"beta.cmd.cisco.com": 2601}


def test_new_for_an_existing_host_offers_its_port(appliance):
    seed(appliance, "labconfig hostport mx.example.net 2602")
    status, term, session = run_session(appliance, ["labconfig", "new", "mx.example.net", "", ""])
    assert status == 0
    assert "[2602]> " in term.prompts
    assert not session.pending


def test_batch_forms(appliance):
    seed(appliance, "labconfig hostport beta.cmd.cisco.com 2601",
         "labconfig hostport mx.example.net 2602", "labconfig hostport MX.example.net 2603",
         "labconfig delete beta.cmd.cisco.com")
    assert committed(appliance).host_ports == {"mx.example.net": 2603}
    _, term, _ = run_session(appliance, ["labconfig print"])
    assert "1. mx.example.net             2603" in term.text


@pytest.mark.parametrize(("line", "message"), [
    ("labconfig hostport mx.example.net", "usage is labconfig"),
    ("labconfig hostport mx.example.net 70000", "The value must be an integer from 1 to 65535."),
    ("labconfig hostport bad_host 2601", "A host name must contain only letters"),
    ("labconfig delete mx.example.net", "mx.example.net has no lab port."),
    ("labconfig frob", "usage is labconfig"),
])
def test_bad_batch_input_changes_nothing(appliance, line, message):
    assert_refused(appliance, line, message)


def test_completion(appliance):
    seed(appliance, "labconfig hostport mx.example.net 2602")
    _, _, session = run_session(appliance, [])
    assert suggestions(session, ["labconfig", "delete"], "") == ["mx.example.net"]
