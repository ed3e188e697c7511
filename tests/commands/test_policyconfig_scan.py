"""``policyconfig`` > EDIT > ANTISPAM / ANTIVIRUS, and their one-line forms."""

from __future__ import annotations

import pytest

from commands.registry import suggestions
from engine.config.model import ScanAction, ScanSetting
from tests.commands.mail_helpers import COMMIT, assert_refused, committed, seed
from tests.conftest import run_session


def _scan(appliance, direction: str, name: str, service: str) -> ScanSetting:
    table = committed(appliance).incoming if direction == "incoming" else committed(appliance).outgoing
    return getattr(table.get(name), service)


def test_print_shows_both_services(appliance):
    _, term, _ = run_session(appliance, ["policyconfig incoming edit DEFAULT print"])
    assert ('   Anti-Spam: Enabled; positive messages are delivered with "[SPAM]" added to the '
            "subject\n   Anti-Virus: Enabled; positive messages are dropped\n") in term.text


def test_antispam_submenu_disable_enable_and_edit(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com")
    status, term, _ = run_session(appliance, [
        "policyconfig", "1", "edit", "sales",
        "antispam", "disable",
        "antispam", "enable",
        "antispam", "edit", "1", "y", "[JUNK]",
        "", "", COMMIT,
    ])
    assert status == 0, term.text
    assert "- ANTISPAM - Modify Anti-Spam policy" in term.text
    assert "- ANTIVIRUS - Modify Anti-Virus policy" in term.text
    assert "Current setting for sales: Anti-Spam: Disabled" in term.text
    assert "- EDIT - Choose what happens to spam messages" in term.text
    assert ("What do you want to do with messages identified as spam?\n1. Deliver\n2. Drop\n"
            "3. Bounce\n[1]> 1") in term.text
    assert "Do you want to add text to the subject of these messages? [Y]> y" in term.text
    assert "What text do you want to add?\n[[SPAM]]> [JUNK]" in term.text
    assert _scan(appliance, "incoming", "sales", "antispam") == ScanSetting(
        True, ScanAction.DELIVER, "[JUNK]")


def test_antivirus_on_an_outgoing_default_policy(appliance):
    status, term, _ = run_session(appliance, [
        "policyconfig", "2", "edit", "DEFAULT", "antivirus", "edit", "bounce", "", "", COMMIT,
    ])
    assert status == 0, term.text
    assert "What do you want to do with messages identified as virus positive?" in term.text
    assert _scan(appliance, "outgoing", "DEFAULT", "antivirus").action is ScanAction.BOUNCE


def test_deliver_without_subject_text(appliance):
    status, term, _ = run_session(appliance, [
        "policyconfig incoming", "edit", "DEFAULT", "antivirus", "edit", "deliver", "n", "", "",
        COMMIT,
    ])
    assert status == 0, term.text
    assert _scan(appliance, "incoming", "DEFAULT", "antivirus") == ScanSetting(
        True, ScanAction.DELIVER, "")


def test_unchanged_answers_record_nothing(appliance):
    status, _, session = run_session(appliance, [
        "policyconfig incoming", "edit", "DEFAULT", "antispam", "enable",
        "antispam", "edit", "", "", "", "", "",
    ])
    assert status == 0
    assert not session.pending


def test_wrong_answers_are_asked_again(appliance):
    status, term, session = run_session(appliance, [
        "policyconfig incoming", "edit", "DEFAULT", "antispam", "frob", "edit", "4", "1", "y",
        "x" * 300, "[S]", "", "", "",
    ])
    assert status == 1
    assert "Unknown option: frob" in term.text
    assert '"4" is not a valid choice' in term.text
    assert "The subject tag must be at most 255 printable characters." in term.text
    assert session.config.incoming.default.antispam.subject_tag == "[S]"


def test_batch_forms(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com",
         "policyconfig outgoing new staff @example.com",
         "policyconfig incoming edit sales antispam disable",
         "policyconfig incoming edit sales antivirus action bounce",
         "policyconfig outgoing edit staff antispam action deliver '[Possible Spam]'",
         "policyconfig outgoing edit staff antivirus action deliver",
         "policyconfig incoming edit DEFAULT antispam action deliver ''",
         "policyconfig incoming edit default antispam action drop")
    assert _scan(appliance, "incoming", "sales", "antispam").enabled is False
    assert _scan(appliance, "incoming", "sales", "antivirus").action is ScanAction.BOUNCE
    assert _scan(appliance, "outgoing", "staff", "antispam") == ScanSetting(
        True, ScanAction.DELIVER, "[Possible Spam]")
    assert _scan(appliance, "outgoing", "staff", "antivirus") == ScanSetting(
        True, ScanAction.DELIVER, "[WARNING: VIRUS DETECTED]")
    assert _scan(appliance, "incoming", "DEFAULT", "antispam") == ScanSetting(
        True, ScanAction.DROP, "")


@pytest.mark.parametrize(("line", "message"), [
    ("policyconfig incoming edit DEFAULT antispam", "usage is policyconfig incoming edit <name> "
                                                    "antispam enable|disable"),
    ("policyconfig incoming edit DEFAULT antispam on", "usage is policyconfig"),
    ("policyconfig incoming edit DEFAULT antivirus action quarantine", "usage is policyconfig"),
    ("policyconfig incoming edit DEFAULT antivirus action drop now", "usage is policyconfig"),
    ("policyconfig incoming edit DEFAULT antispam action deliver a b", "usage is policyconfig"),
    ("policyconfig incoming edit DEFAULT antispam action deliver " + "x" * 300,
     "The subject tag must be at most 255"),
    ("policyconfig incoming edit nope antispam disable", 'There is no policy named "nope".'),
])
def test_bad_batch_input_changes_nothing(appliance, line, message):
    assert_refused(appliance, line, message)


def test_completion(appliance):
    _, _, session = run_session(appliance, [])
    words = suggestions(session, ["policyconfig", "outgoing", "edit", "DEFAULT"], "anti")
    assert words == ["antispam", "antivirus"]
    assert suggestions(session, ["policyconfig", "incoming", "edit", "DEFAULT", "antivirus",
                                 "action"], "") == ["bounce", "deliver", "drop"]


def test_scan_default_is_listed_and_not_emulated(appliance):
    status, term, session = run_session(appliance, ["policyconfig incoming", "edit", "DEFAULT",
                                                    "antispam", "default", "", ""])
    assert status == 0
    assert "- DEFAULT - Use the policy table default" in term.text
    assert "This feature is not emulated by segcli." in term.text
    assert not session.pending
