"""``adminaccessconfig``: the CLI inactivity timeout, in-process (the SSH sessions it
closes: tests/e2e/test_ssh_idle_timeout.py)."""

from __future__ import annotations

import pytest

from engine.config.model import Config
from engine.config.xml_document import ConfigXmlError, from_xml, to_xml
from tests.commands.mail_helpers import COMMIT, assert_refused, committed
from tests.conftest import run_session


def test_factory_timeout_is_30_minutes(appliance):
    assert committed(appliance).admin_access.cli_timeout == 30
    status, term, _ = run_session(appliance, ["adminaccessconfig print"])
    assert status == 0
    assert "CLI inactivity timeout: 30 minutes" in term.text


def test_timeout_menu_asks_with_the_current_value_and_commits(appliance):
    status, term, _ = run_session(appliance, ["adminaccessconfig", "timeout", "4", "1441",
                                              "12", "", COMMIT])
    assert status == 1, term.text  # two answers out of bounds, asked again
    assert "- TIMEOUT - Configure GUI and CLI session inactivity timeout." in term.text
    assert "Enter CLI inactivity timeout(in minutes):\n[30]> " in term.text
    assert term.text.count("The value must be an integer from 5 to 1440.") == 2
    assert committed(appliance).admin_access.cli_timeout == 12
    # saved in the XML configuration, and read back
    xml = to_xml(committed(appliance))
    assert "<admin_access>\n    <cli_timeout>12</cli_timeout>\n  </admin_access>" in xml
    assert from_xml(xml).admin_access.cli_timeout == 12


def test_other_operations_are_listed_but_not_emulated(appliance):
    status, term, session = run_session(appliance, ["adminaccessconfig", "banner", ""])
    assert status == 0, term.text
    assert "This feature is not emulated by segcli." in term.text
    assert not session.pending


def test_one_line_form_and_its_bounds(appliance):
    status, term, _ = run_session(appliance, ["adminaccessconfig timeout 5", COMMIT])
    assert status == 0, term.text
    assert committed(appliance).admin_access.cli_timeout == 5
    for line in ("adminaccessconfig timeout 4", "adminaccessconfig timeout 1441",
                 "adminaccessconfig timeout x", "adminaccessconfig timeout 1.5"):
        assert_refused(appliance, line, "The value must be an integer from 5 to 1440.")
    assert_refused(appliance, "adminaccessconfig timeout", "usage is adminaccessconfig")


def test_a_document_with_an_out_of_bounds_timeout_is_refused():
    xml = to_xml(Config()).replace("<cli_timeout>30<", "<cli_timeout>2<")
    with pytest.raises(ConfigXmlError, match="cli_timeout"):
        from_xml(xml)
