"""CLI manners in the command engine, through a scripted terminal and a real store: a
typo's suggestion, a question that meets the end of input naming what it waited for, and
edits that change nothing recording nothing."""

from __future__ import annotations

from commands.registry import REGISTRY
from commands.session import unknown_command
from engine.store.users import Role
from tests.conftest import run_session

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"
NOTHING_PENDING = "No changes have been made since the last commit."


# -- a typo ------------------------------------------------------------------------------

def test_a_typo_gets_the_appliance_refusal_then_a_suggestion(appliance):
    status, term, _ = run_session(appliance, ["tophost", "TDCCONFG print"])
    assert status == 1
    assert ("Unknown command or missing feature key: tophost\nDid you mean tophosts?\n"
            in term.text)
    assert ("Unknown command or missing feature key: TDCCONFG\nDid you mean tdcconfig?\n"
            in term.text)


def test_a_word_like_no_command_gets_no_suggestion(appliance):
    status, term, _ = run_session(appliance, ["frobnicate", "xyz"])
    assert status == 1
    assert "Unknown command or missing feature key: frobnicate\n" in term.text
    assert "Did you mean" not in term.text


def test_suggestions_name_only_commands_the_role_may_run():
    assert REGISTRY.get("tdcconfig") is not None
    assert "Did you mean tdcconfig?" in unknown_command("tdcconfi", Role.OPERATOR)
    assert unknown_command("tdcconfi", Role.READONLY) == (
        "Unknown command or missing feature key: tdcconfi")


# -- a question without an answer ---------------------------------------------------------

def test_a_question_at_the_end_of_input_says_what_it_waited_for(appliance):
    # (A real terminal ends the prompt's line when the input ends; this scripted one not.)
    status, term, session = run_session(appliance, ["sethostname"])
    assert status == 1
    assert term.text.endswith(
        "[]> sethostname: no answer to 'Enter the new hostname.' (the input ended)\n"
        "mail1.example.com> ")
    assert not session.pending


def test_every_kind_of_question_names_itself(appliance):
    """A menu (its heading), a yes/no question, a numbered choice (its heading), a
    question inside a dialog (commit's comment)."""
    cases = {
        "policyconfig incoming": "policyconfig: no answer to 'Choose the operation you want "
                                 "to perform' (the input ended)",
        "saveconfig": "saveconfig: no answer to 'Do you want to mask the passphrase? Files with "
                      "masked passphrases cannot be loaded using loadconfig command.' "
                      "(the input ended)",
        "policyconfig": "policyconfig: no answer to 'Would you like to configure Incoming "
                        "Mail Policy or Outgoing Mail Policies or Match Headers Priority?' "
                        "(the input ended)",
        "commit": "commit: no answer to 'Please enter some comments describing your changes' "
                  "(the input ended)",
    }
    for line, message in cases.items():
        status, term, _ = run_session(appliance, [f"sethostname gw{len(line)}.example.com",
                                                  line])
        assert status == 1, line
        assert f"]> {message}\n" in term.text, (line, term.text[-300:])


def test_a_script_that_ends_mid_dialog_still_warns_about_its_changes(appliance):
    status, term, _ = run_session(appliance, [f"tdcconfig enable {INTAKE}", "commit"])
    assert status == 1
    assert "commit: no answer to 'Please enter some comments describing your changes'" in (
        term.text)
    assert term.text.endswith("uncommitted changes; they were discarded.\n")
    assert appliance.store.latest_version_id() == 1


def test_ctrl_d_at_a_terminal_needs_no_explanation(appliance):
    status, term, _ = run_session(appliance, ["sethostname"], interactive=True)
    assert status == 1
    assert "no answer" not in term.text


# -- edits that change nothing ----------------------------------------------------------------

def showchanges_after(appliance, *lines: str) -> str:
    status, term, _ = run_session(appliance, [*lines, "showchanges"])
    assert status == 0, term.text
    return term.text.rsplit("showchanges", 1)[1]


def test_setting_what_is_already_set_records_nothing(appliance):
    hostname = appliance.config.hostname
    assert NOTHING_PENDING in showchanges_after(appliance, f"sethostname {hostname}")
    assert NOTHING_PENDING in showchanges_after(appliance, "tdcconfig disable")  # it is off
    status, _, _ = run_session(appliance, [
        f"tdcconfig enable {INTAKE}", "policyconfig incoming edit DEFAULT threatdefense default",
        'commit "on"'])
    assert status == 0
    assert NOTHING_PENDING in showchanges_after(appliance, f"tdcconfig enable {INTAKE}")
    assert NOTHING_PENDING in showchanges_after(appliance, "tdcconfig enable")
    assert NOTHING_PENDING in showchanges_after(
        appliance, "policyconfig incoming edit DEFAULT threatdefense default")
    assert NOTHING_PENDING in showchanges_after(
        appliance, "policyconfig incoming edit DEFAULT antivirus enable")
    status, term, _ = run_session(appliance, ['commit "nothing"'])
    assert "no data to commit." in term.text
    assert appliance.store.latest_version_id() == 2


def test_a_real_change_is_still_recorded_and_an_undone_one_stays_listed(appliance):
    shown = showchanges_after(appliance, "sethostname gw1.example.com")
    assert "gw1.example.com" in shown and NOTHING_PENDING not in shown
    # Set twice: the second is a no-op and is not listed again.
    shown = showchanges_after(appliance, "sethostname gw1.example.com",
                              "sethostname gw1.example.com")
    assert shown.count("gw1.example.com") == 1


def test_a_no_op_still_says_what_the_appliance_says(appliance):
    """The dialog runs as ever (the same questions and confirmations); only the
    pending list stays empty."""
    hostname = appliance.config.hostname
    _, changed, _ = run_session(appliance, ["sethostname", "gw1.example.com"])
    _, same, session = run_session(appliance, ["sethostname", hostname])
    assert not session.pending
    assert same.prompts == changed.prompts
    assert same.text.split("\n")[:-1] == [
        line.replace("gw1.example.com", hostname)
        for line in changed.text.split("\n")[:-2]]  # less the discarded-changes warning


def test_a_no_op_is_kept_when_another_session_committed_meanwhile(appliance):
    """Session A's view says the connector is off; B turns it on and commits; A then
    turns it off: kept (A's view is out of date), and A's commit turns it off."""
    import asyncio

    from commands.session import CliSession
    from tests.conftest import ScriptedTerminal

    async def scenario() -> None:
        first = CliSession(appliance, ScriptedTerminal())
        second = CliSession(appliance, ScriptedTerminal())
        assert await first.execute("sethostname gw1.example.com")
        assert await second.execute(f"tdcconfig enable {INTAKE}")
        assert await second.execute('commit "on"')
        assert await first.execute("tdcconfig disable")
        assert len(first.pending.changes) == 2
        assert await first.execute('commit "off again"')

    asyncio.run(scenario())
    assert not appliance.config.tdc.enabled
    assert appliance.config.hostname == "gw1.example.com"
