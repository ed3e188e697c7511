"""``policyconfig`` through a scripted terminal and a real store.

Each test drives whole sessions (commands and answers), then checks what was shown
and what the store holds after ``commit`` -- or that nothing changed after bad input.
"""

from __future__ import annotations

import re

import pytest

from commands.registry import REGISTRY, suggestions
from engine.config.changes import AddPolicy
from engine.config.model import Direction, TdcMode
from tests.conftest import CTRL_C, run_session

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"
CUSTOM = "77aa01-11xq2-99ffee@beta.cmd.cisco.com"
COMMIT = 'commit "test"'


def committed(appliance):
    """The configuration as stored by the last commit (read back from the database)."""
    return appliance.store.latest().config


def seed(appliance, *lines: str) -> None:
    """Commit *lines* (batch forms) so a test starts from a known table."""
    status, term, _ = run_session(appliance, [*lines, COMMIT])
    assert status == 0, term.text
    assert "Changes committed: " in term.text


def assert_unchanged(appliance, session, versions: int = 1) -> None:
    """Nothing pending in the session and no new version in the store."""
    assert not session.pending
    assert appliance.store.latest_version_id() == versions


def incoming_names(appliance) -> list[str]:
    return committed(appliance).incoming.names


# -- the top level: direction question, table, menu ------------------------------------


def test_direction_question_table_and_menu(appliance):
    status, term, session = run_session(appliance, ["policyconfig", "", ""])
    assert status == 0
    assert ("Would you like to configure Incoming Mail Policy or Outgoing Mail Policies or "
            "Match Headers Priority?\n1. Incoming Mail Policies\n2. Outgoing Mail Policies\n"
            "3. Match Headers Priority\n[1]> ") in term.text
    assert "Incoming Mail Policy Configuration\n" in term.text
    for line in ("- NEW - Create a new policy", "- EDIT - Edit an existing policy",
                 "- DELETE - Remove a policy", "- PRINT - Print all policies",
                 "- SEARCH - Search for a policy by member",
                 "- MOVE - Move the position of a policy",
                 "- FILTERS - Edit content filters", "- CLEAR - Clear all policies",
                 "- CLUSTERSET - Set how policies are configured in a cluster",
                 "- CLUSTERSHOW - Display how policies are configured in a cluster"):
        assert line in term.text
    # blank at the menu went back to the main prompt
    assert term.prompts[-1] == "mail1.example.com> "
    assert_unchanged(appliance, session)


def test_out_of_range_direction_is_asked_again(appliance):
    status, term, _ = run_session(appliance, ["policyconfig", "4", "2", ""])
    assert status == 1  # a wrong answer was given
    assert '"4" is not a valid choice: enter a number from 1 to 3' in term.text
    assert "Outgoing Mail Policy Configuration" in term.text


def test_incoming_table_shows_not_available_while_tdc_is_disabled(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com",
         "policyconfig incoming edit sales threatdefense default")
    _, term, _ = run_session(appliance, ["policyconfig", "1", ""])
    assert "Threat Defense Connector\n" in term.text
    rows = [line for line in term.text.splitlines() if line.endswith("Not Available")]
    assert rows == [f"{'1. sales':<34}Not Available", f"{'2. DEFAULT':<34}Not Available"]


def test_incoming_table_shows_enabled_and_disabled_aligned(appliance):
    long_name = "a_rather_long_policy_name_for_the_engineering_group"
    seed(appliance, f"tdcconfig enable {INTAKE}",
         "policyconfig incoming new sales @sales.example.com",
         f"policyconfig incoming new {long_name} @eng.example.com",
         "policyconfig incoming edit sales threatdefense default")
    _, term, _ = run_session(appliance, ["policyconfig incoming", ""])
    lines = term.text.splitlines()
    header = next(line for line in lines if line.strip() == "Threat Defense Connector")
    column = header.index("Threat")
    rows = [line for line in lines if re.match(r"\d\. ", line)]
    assert [row[:column].split()[1] for row in rows] == ["sales", long_name, "DEFAULT"]
    assert [row[column:] for row in rows] == ["Enabled", "Disabled", "Disabled"]
    assert all(row[column - 1] == " " for row in rows)


def test_outgoing_table_has_no_tdc_column(appliance):
    seed(appliance, "policyconfig outgoing new staff @example.com")
    _, term, _ = run_session(appliance, ["policyconfig", "2", ""])
    assert "Outgoing Mail Policy Configuration\n\n1. staff\n2. DEFAULT\n" in term.text
    assert "Threat Defense Connector" not in term.text


def test_unknown_menu_option_is_refused_and_the_menu_shown_again(appliance):
    status, term, session = run_session(appliance, ["policyconfig incoming", "frob", ""])
    assert status == 1
    assert "Unknown option: frob" in term.text
    assert term.text.count("Choose the operation you want to perform:") == 2
    assert_unchanged(appliance, session)


# -- NEW ---------------------------------------------------------------------------------


def test_new_incoming_policy_interactively(appliance):
    seed(appliance, f"tdcconfig enable {INTAKE}", "policyconfig incoming new first @first.example.com")
    status, term, _ = run_session(appliance, [
        "policyconfig", "1", "new", "sales", "", "", "@sales.example.com, bob@", "2", "", COMMIT,
    ])
    assert status == 0, term.text
    assert "Enter the name for this policy:\n[]> sales" in term.text
    assert "Add senders for this policy? [N]> " in term.prompts
    assert "Add receivers for this policy? [Y]> " in term.prompts
    assert "Enter the receivers for this policy [comma separated]:" in term.text
    assert ("Choose the Threat Defense Connector setting for this policy:\n1. Disabled\n"
            "2. Default Message Intake Address\n3. Custom Message Intake Address\n[1]> ") in term.text
    config = committed(appliance)
    assert config.incoming.names == ["first", "sales", "DEFAULT"]  # just above DEFAULT
    sales = config.incoming.get("sales")
    assert (sales.senders, sales.recipients) == ([], ["@sales.example.com", "bob@"])
    assert sales.threat_defense.mode is TdcMode.DEFAULT
    # the table shown after the operation has the new policy, enabled
    assert f"{'2. sales':<34}Enabled" in term.text


def test_new_policy_re_asks_every_bad_answer(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com")
    status, term, _ = run_session(appliance, [
        "policyconfig incoming", "new",
        "", "SALES", "bad name", "legal",              # blank, duplicate, invalid name
        "n", "n",                                      # no members at all
        "y", "not-a-member, @legal.example.com", "@legal.example.com,@.legal.example.com",
        "n",
        "9", "3", "not an address", CUSTOM,            # out of range, custom, invalid address
        "", COMMIT,
    ])
    assert status == 1  # wrong answers were given, even though the result is right
    text = term.text
    assert "You must enter a value." in text
    assert 'There is already a policy named "sales".' in text
    assert "Valid characters are letters, digits" in text
    assert "You must enter at least one member." in text
    assert 'The entry you have entered is invalid: "not-a-member".' in text
    assert '"9" is not a valid choice: enter a number from 1 to 3' in text
    assert 'An email address is a localname, an "@" and a domain' in text
    legal = committed(appliance).incoming.get("legal")
    assert legal.senders == ["@legal.example.com", "@.legal.example.com"]
    assert legal.recipients == []
    assert (legal.threat_defense.mode, legal.threat_defense.custom_address) == (TdcMode.CUSTOM, CUSTOM)
    assert committed(appliance).incoming.names == ["sales", "legal", "DEFAULT"]


def test_new_outgoing_policy_asks_senders_first_and_no_tdc(appliance):
    status, term, _ = run_session(appliance, [
        "policyconfig", "2", "new", "staff", "", "@example.com", "", "", COMMIT,
    ])
    assert status == 0, term.text
    assert "Add senders for this policy? [Y]> " in term.prompts
    assert "Add receivers for this policy? [N]> " in term.prompts
    assert "Threat Defense Connector" not in term.text
    staff = committed(appliance).outgoing.get("staff")
    assert (staff.senders, staff.recipients) == (["@example.com"], [])


def test_new_policy_mentions_tdc_disabled_globally(appliance):
    _, term, _ = run_session(appliance, ["policyconfig incoming", "new", "p", "", "", "a@", ""])
    assert "the Threat Defense Connector is disabled globally" in term.text


def test_ctrl_c_during_new_records_nothing(appliance):
    status, term, session = run_session(appliance, [
        "policyconfig incoming", "new", "sales", "", "", "@sales.example.com", CTRL_C,
    ])
    assert status == 1  # an interrupted command counts as not done
    assert "Choose the Threat Defense Connector setting" in term.text
    assert_unchanged(appliance, session)


# -- EDIT --------------------------------------------------------------------------------


def test_edit_rename_with_duplicate_re_asked(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com",
         "policyconfig incoming new legal @legal.example.com")
    status, term, _ = run_session(appliance, [
        "policyconfig incoming", "edit", "sales", "name", "legal", "sales_team", "", "", COMMIT,
    ])
    assert status == 1
    assert "Enter the new name for this policy:\n[sales]> " in term.text
    assert 'There is already a policy named "legal".' in term.text
    assert "Policy: sales_team" in term.text  # the sub-menu follows the new name
    assert incoming_names(appliance) == ["sales_team", "legal", "DEFAULT"]


def test_edit_by_number_add_sender_and_receiver(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com")
    status, term, _ = run_session(appliance, [
        "policyconfig incoming", "edit", "1",
        "new", "1", "boss@corp.example.com",
        "NEW", "", "@.sales.example.com, @SALES.example.com",  # an existing member: re-asked
        "@.sales.example.com",
        "", "", COMMIT,
    ])
    assert status == 1
    assert "Would you like to add senders or receivers?\n1. Sender\n2. Receiver\n[2]> " in term.text
    assert "@sales.example.com is already a member of this policy." in term.text
    sales = committed(appliance).incoming.get("sales")
    assert sales.senders == ["boss@corp.example.com"]
    assert sales.recipients == ["@sales.example.com", "@.sales.example.com"]


def test_edit_delete_member_and_last_member_refused(appliance):
    seed(appliance, "policyconfig outgoing new staff @example.com,boss@")
    status, term, _ = run_session(appliance, [
        "policyconfig outgoing", "edit", "staff", "delete", "5", "boss@",
        "delete", "", "", COMMIT,
    ])
    assert status == 1  # "5" was out of range, and the last member was refused
    assert "1. @example.com\n2. boss@\nEnter the number or the member you wish to remove." in term.text
    assert "There is only one member in the policy." in term.text
    assert committed(appliance).outgoing.get("staff").senders == ["@example.com"]


def test_default_policy_offers_no_name_or_member_edits(appliance):
    status, term, _ = run_session(appliance, ["policyconfig incoming", "edit", "DEFAULT", "", ""])
    assert status == 0
    assert ["PRINT", "ANTISPAM", "ANTIVIRUS", "ADVANCEDMALWARE", "OUTBREAK", "GRAYMAIL",
            "FILTERS", "ASSIGN", "ADVANCEDPHISHING", "THREATDEFENSE"] in term.choices
    _, term, _ = run_session(appliance, ["policyconfig outgoing", "edit", "1", "name", "", ""])
    assert ["PRINT", "ANTISPAM", "ANTIVIRUS", "ADVANCEDMALWARE", "OUTBREAK", "GRAYMAIL",
            "FILTERS", "ASSIGN"] in term.choices
    assert "Unknown option: name" in term.text
    assert "THREATDEFENSE" not in term.text


def test_edit_threatdefense_menu_default_custom_disable(appliance):
    seed(appliance, f"tdcconfig enable {INTAKE}", "policyconfig incoming new sales @sales.example.com")
    status, term, _ = run_session(appliance, [
        "policyconfig incoming", "edit", "sales",
        "threatdefense", "custom", "bad@", CUSTOM,
        "threatdefense", "custom", "",        # blank keeps the current custom address
        "", "", COMMIT,
    ])
    assert status == 1  # "bad@" was refused
    assert ("- DISABLE - Disable the Threat Defense Connector for this policy\n"
            "- DEFAULT - Use the Default Message Intake Address\n"
            "- CUSTOM - Use a Custom Message Intake Address\n") in term.text
    assert "Current setting for sales: Disabled" in term.text
    assert f"Current setting for sales: Custom Message Intake Address: {CUSTOM}" in term.text
    assert f"[{CUSTOM}]> " in term.prompts
    td = committed(appliance).incoming.get("sales").threat_defense
    assert (td.mode, td.custom_address) == (TdcMode.CUSTOM, CUSTOM)

    status, term, _ = run_session(appliance, [
        "policyconfig incoming", "edit", "sales", "threatdefense", "DISABLE",
        "threatdefense", "", "", "", COMMIT,  # blank at the sub-menu: back, nothing changes
    ])
    assert status == 0, term.text
    assert committed(appliance).incoming.get("sales").threat_defense.mode is TdcMode.DISABLED


def test_edit_default_policy_threatdefense_and_print(appliance):
    seed(appliance, f"tdcconfig enable {INTAKE}")
    status, term, _ = run_session(appliance, [
        "policyconfig incoming", "edit", "default", "threatdefense", "default", "print", "", "",
        COMMIT,
    ])
    assert status == 0, term.text
    assert f"Threat Defense Connector: Default Message Intake Address: {INTAKE}" in term.text
    assert committed(appliance).incoming.default.threat_defense.mode is TdcMode.DEFAULT


def test_edit_unknown_or_out_of_range_policy_is_re_asked(appliance):
    status, term, session = run_session(appliance, ["policyconfig incoming", "edit", "2", "nope",
                                                    "", ""])
    assert status == 1
    assert '"2" is not a valid choice' in term.text
    assert '"nope" is not a valid choice' in term.text
    assert_unchanged(appliance, session)


# -- DELETE, MOVE, PRINT, SEARCH ------------------------------------------------------------


def test_delete_asks_default_no_then_deletes(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com")
    status, term, session = run_session(appliance, ["policyconfig incoming", "delete", "sales",
                                                     "", ""])
    assert "Are you sure you want to delete sales? [N]> " in term.prompts
    assert status == 0
    assert_unchanged(appliance, session, versions=2)

    status, term, _ = run_session(appliance, ["policyconfig incoming", "delete", "1", "y", "",
                                              COMMIT])
    assert status == 0, term.text
    assert "sales is deleted." in term.text
    assert incoming_names(appliance) == ["DEFAULT"]


def test_delete_default_is_refused(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com")
    status, term, session = run_session(appliance, ["policyconfig incoming", "delete", "DEFAULT", ""])
    assert status == 1
    assert "The DEFAULT policy cannot be deleted." in term.text
    assert "Are you sure" not in term.text
    assert_unchanged(appliance, session, versions=2)
    assert incoming_names(appliance) == ["sales", "DEFAULT"]


def test_move_with_out_of_range_position_re_asked(appliance):
    seed(appliance, *(f"policyconfig incoming new p{n} @p{n}.example.com" for n in (1, 2, 3)))
    status, term, _ = run_session(appliance, [
        "policyconfig incoming", "move", "p3", "4", "0", "x", "1", "", COMMIT,
    ])
    assert status == 1
    assert "Enter the new position of p3 (1 to 3):\n[3]> " in term.text
    assert term.text.count("The value must be an integer from 1 to 3.") == 3
    assert incoming_names(appliance) == ["p3", "p1", "p2", "DEFAULT"]


def test_move_default_is_refused(appliance):
    seed(appliance, "policyconfig incoming new p1 @p1.example.com")
    status, term, session = run_session(appliance, ["policyconfig incoming", "move", "2", ""])
    assert status == 1
    assert "The DEFAULT policy cannot be moved" in term.text
    assert_unchanged(appliance, session, versions=2)


def test_print_lists_members_and_tdc_settings(appliance):
    seed(appliance, f"tdcconfig enable {INTAKE}",
         "policyconfig incoming new sales @sales.example.com,bob@",
         "policyconfig incoming edit sales new sender ceo@example.com",
         "policyconfig incoming new legal @legal.example.com",
         f"policyconfig incoming edit legal threatdefense custom {CUSTOM}",
         "policyconfig incoming edit default threatdefense default")
    status, term, _ = run_session(appliance, ["policyconfig incoming", "print", ""])
    assert status == 0
    assert ("1. sales\n   Senders:\n       ceo@example.com\n   Receivers:\n"
            "       @sales.example.com\n       bob@\n"
            "   Threat Defense Connector: Disabled\n") in term.text
    assert f"   Threat Defense Connector: Custom Message Intake Address: {CUSTOM}\n" in term.text
    assert ("3. DEFAULT\n   Members: all mail that no policy above matches\n"
            f"   Threat Defense Connector: Default Message Intake Address: {INTAKE}\n") in term.text


def test_print_notes_not_available_when_tdc_disabled_globally(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com",
         "policyconfig incoming edit sales threatdefense default")
    _, term, _ = run_session(appliance, ["policyconfig incoming print"])
    assert ("   Threat Defense Connector: Not Available (disabled globally; see tdcconfig)\n"
            "       Policy setting: Default Message Intake Address: (not set)\n") in term.text


def test_search_shows_first_match_and_matching_members(appliance):
    seed(appliance, "policyconfig incoming new execs ceo@",
         "policyconfig incoming new sales @.example.com",
         "policyconfig incoming edit sales new sender @example.com")
    status, term, _ = run_session(appliance, [
        "policyconfig incoming", "search", "not an address", "ceo@example.com", "",
    ])
    assert status == 1  # the first answer was refused
    assert "An email address is a localname" in term.text
    assert ("ceo@example.com is matched first (first match wins, DEFAULT last):\n"
            "    as a sender:    sales\n    as a receiver:  execs\n") in term.text
    assert ("Policies with a member matching ceo@example.com:\n"
            "    1. execs: receiver ceo@\n    2. sales: sender @example.com\n") in term.text
    _, term, _ = run_session(appliance, ["policyconfig incoming search someone@other.example.org"])
    assert "as a sender:    DEFAULT\n    as a receiver:  DEFAULT\n" in term.text
    assert "No policy has a member matching someone@other.example.org." in term.text


# -- one-line (batch) forms ------------------------------------------------------------------


def test_batch_new_incoming_receivers_outgoing_senders(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com,bob@",
         "policyconfig outgoing new staff @example.com, boss@corp.example.com")
    config = committed(appliance)
    assert config.incoming.get("sales").recipients == ["@sales.example.com", "bob@"]
    assert config.incoming.get("sales").senders == []
    assert config.outgoing.get("staff").senders == ["@example.com", "boss@corp.example.com"]


def test_batch_keywords_and_names_are_case_insensitive(appliance):
    seed(appliance, f"tdcconfig enable {INTAKE}",
         "POLICYCONFIG Incoming NEW sales @sales.example.com",
         "policyconfig INCOMING Edit SALES ThreatDefense Custom " + CUSTOM)
    td = committed(appliance).incoming.get("sales").threat_defense
    assert (td.mode, td.custom_address) == (TdcMode.CUSTOM, CUSTOM)


def test_batch_threatdefense_default_and_disable(appliance):
    seed(appliance, f"tdcconfig enable {INTAKE}", "policyconfig incoming new sales @sales.example.com",
         "policyconfig incoming edit sales threatdefense default")
    assert committed(appliance).incoming.get("sales").threat_defense.mode is TdcMode.DEFAULT
    seed(appliance, "policyconfig incoming edit sales threatdefense disable")
    assert committed(appliance).incoming.get("sales").threat_defense.mode is TdcMode.DISABLED


def test_batch_rename_move_delete(appliance):
    seed(appliance, *(f"policyconfig outgoing new p{n} @p{n}.example.com" for n in (1, 2)),
         "policyconfig outgoing edit p2 name second", "policyconfig outgoing move second 1",
         "policyconfig outgoing delete p1")
    assert committed(appliance).outgoing.names == ["second", "DEFAULT"]


def test_batch_edit_members(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com,bob@",
         "policyconfig incoming edit sales new sender a@x.example.com,b@x.example.com",
         "policyconfig incoming edit sales delete BOB@")
    sales = committed(appliance).incoming.get("sales")
    assert (sales.senders, sales.recipients) == (["a@x.example.com", "b@x.example.com"],
                                                 ["@sales.example.com"])


def test_batch_print_and_edit_print(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com")
    status, term, _ = run_session(appliance, ["policyconfig incoming print",
                                              "policyconfig incoming edit sales print"])
    assert status == 0
    assert "Incoming Mail Policy Configuration" in term.text
    assert f"{'1. sales':<34}Not Available" in term.text
    assert term.text.count("1. sales\n   Senders:\n       (none)\n") == 2


@pytest.mark.parametrize(("line", "message"), [
    ("policyconfig incoming new sales not-a-member", 'The entry you have entered is invalid: "not-a-member"'),
    ("policyconfig incoming new sales @ok.example.com,bad", 'The entry you have entered is invalid: "bad"'),
    ("policyconfig incoming new Existing @x.example.com", 'There is already a policy named "existing".'),
    ("policyconfig incoming new default @x.example.com", 'There is already a policy named "DEFAULT".'),
    ("policyconfig incoming new bad,name @x.example.com", "Valid characters are"),
    ("policyconfig incoming new lonely", "usage is policyconfig incoming new <name> <member>"),
    ("policyconfig incoming edit nope threatdefense default", 'There is no policy named "nope".'),
    ("policyconfig incoming delete nope", 'There is no policy named "nope".'),
    ("policyconfig incoming move nope 1", 'There is no policy named "nope".'),
    ("policyconfig incoming delete DEFAULT", "The DEFAULT policy cannot be deleted."),
    ("policyconfig incoming move default 1", "The DEFAULT policy cannot be moved"),
    ("policyconfig incoming move existing 2", "The position must be between 1 and 1"),
    ("policyconfig incoming move existing 0", "The position must be between 1 and 1"),
    ("policyconfig incoming move existing first", '"first" is not a valid position'),
    ("policyconfig incoming edit existing threatdefense custom not-an-address",
     "An email address is a localname"),
    ("policyconfig incoming edit existing threatdefense custom", "usage is policyconfig incoming edit"),
    ("policyconfig incoming edit existing threatdefense sometimes", "usage is policyconfig incoming edit"),
    ("policyconfig outgoing edit staff threatdefense default", "journals incoming mail only"),
    ("policyconfig incoming edit existing name DEFAULT", 'There is already a policy named "DEFAULT".'),
    ("policyconfig incoming edit default name other", "The DEFAULT policy cannot be renamed."),
    ("policyconfig incoming edit existing delete @existing.example.com",
     "There is only one member in the policy."),
    ("policyconfig incoming edit existing delete nobody@", "nobody@ is not a member of this policy."),
    ("policyconfig incoming edit existing new sender ok@x.example.com,@existing.example.com",
     "@existing.example.com is already a member of this policy."),
    ("policyconfig incoming edit default new receiver a@", "The DEFAULT policy has no members"),
    ("policyconfig incoming edit existing frob", "usage is policyconfig incoming edit <name>"),
    ("policyconfig incoming search not-an-address", "An email address is a localname"),
    ("policyconfig incoming frob", "usage is policyconfig incoming new|edit|delete"),
    ("policyconfig sideways print", "usage is policyconfig [incoming|outgoing]"),
    ("policyconfig incoming print extra", "usage is policyconfig incoming print"),
])
def test_bad_batch_lines_fail_and_change_nothing(appliance, line, message):
    seed(appliance, "policyconfig incoming new existing @existing.example.com",
         "policyconfig outgoing new staff @example.com")
    before = committed(appliance)
    status, term, session = run_session(appliance, [line, COMMIT])
    assert status == 1
    assert message in term.text
    if message.startswith("usage"):
        assert f"Invalid arguments when processing: {message}" in term.text
    assert "There is no data to commit." in term.text
    assert_unchanged(appliance, session, versions=2)
    assert committed(appliance) == before


# -- registry: help, completion, flags -------------------------------------------------


def test_help_prints_the_batch_forms(appliance):
    _, term, _ = run_session(appliance, ["help policyconfig"])
    for form in ("policyconfig incoming|outgoing new <name> <member>[,<member>...]",
                 "policyconfig incoming edit <name> threatdefense default",
                 "policyconfig incoming edit <name> threatdefense custom <address>",
                 "policyconfig incoming edit <name> threatdefense disable",
                 "policyconfig incoming|outgoing print",
                 "policyconfig incoming|outgoing delete <name>",
                 "policyconfig incoming|outgoing move <name> <position>",
                 "policyconfig incoming|outgoing edit <name> name <new name>",
                 "policyconfig incoming|outgoing search <address>"):
        assert form in term.text


def test_command_is_marked_as_changing_config():
    assert REGISTRY.get("policyconfig").changes_config


def test_completion_grammar(appliance):
    seed(appliance, "policyconfig incoming new sales @sales.example.com",
         "policyconfig outgoing new staff @example.com")
    _, _, session = run_session(appliance, [])
    assert suggestions(session, ["policyconfig"], "") == ["incoming", "outgoing"]
    assert suggestions(session, ["policyconfig", "incoming"], "") == [
        "delete", "edit", "move", "new", "print", "search"]
    assert suggestions(session, ["policyconfig", "incoming", "edit"], "") == ["DEFAULT", "sales"]
    assert suggestions(session, ["policyconfig", "outgoing", "move"], "s") == ["staff"]
    assert suggestions(session, ["policyconfig", "incoming", "delete"], "") == ["DEFAULT", "sales"]
    assert "threatdefense" in suggestions(session, ["policyconfig", "incoming", "edit", "sales"], "")
    assert "threatdefense" not in suggestions(session, ["policyconfig", "outgoing", "edit", "staff"], "")
    assert suggestions(session, ["policyconfig", "incoming", "edit", "sales", "threatdefense"], "") == [
        "custom", "default", "disable"]
    # names come from the session's own view, pending changes included
    session.record(AddPolicy(Direction.INCOMING, "pending", recipients=("p@",)))
    assert "pending" in suggestions(session, ["policyconfig", "incoming", "edit"], "")


# -- the appliance's menus in full; what segcli does not emulate says so ------------------


def test_match_headers_priority_is_listed_and_not_emulated(appliance):
    status, term, session = run_session(appliance, ["policyconfig", "3"])
    assert status == 0
    assert "\nThis feature is not emulated by segcli.\n" in term.text
    assert "Mail Policy Configuration" not in term.text
    assert_unchanged(appliance, session)


@pytest.mark.parametrize("keyword", ["filters", "CLEAR", "clusterset", "clustershow"])
def test_table_operations_not_emulated_say_so(appliance, keyword):
    status, term, session = run_session(appliance, ["policyconfig incoming", keyword, ""])
    assert status == 0
    assert "This feature is not emulated by segcli." in term.text
    assert term.text.count("Choose the operation you want to perform:") == 2  # back to the menu
    assert_unchanged(appliance, session)


@pytest.mark.parametrize("keyword", ["advancedmalware", "OUTBREAK", "graymail", "filters",
                                     "assign", "advancedphishing"])
def test_policy_services_not_emulated_say_so(appliance, keyword):
    status, term, session = run_session(appliance, ["policyconfig incoming", "edit", "DEFAULT",
                                                    keyword, "", ""])
    assert status == 0
    assert "This feature is not emulated by segcli." in term.text
    assert_unchanged(appliance, session)


def test_outgoing_policies_offer_no_advanced_phishing(appliance):
    status, term, _ = run_session(appliance, ["policyconfig outgoing", "edit", "DEFAULT",
                                              "advancedphishing", "", "", ""])
    assert status == 1  # an unknown option is a wrong answer
    assert "Unknown option: advancedphishing" in term.text
