"""The session loop and commit model, through a scripted terminal and a real store."""

from __future__ import annotations

from tests.conftest import CTRL_C, run_session

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"


def test_unknown_command_fails_and_changes_nothing(appliance):
    status, term, _ = run_session(appliance, ["frobnicate"])
    assert status == 1
    assert "Unknown command or missing feature key: frobnicate" in term.text
    assert appliance.store.latest_version_id() == 1


def test_changes_stay_pending_until_commit(appliance):
    status, term, session = run_session(appliance, [f"tdcconfig enable {INTAKE}"])
    assert status == 0
    assert session.config.tdc.enabled  # the session sees its own change
    assert not appliance.config.tdc.enabled  # the running configuration does not
    assert "uncommitted changes; they were discarded" in term.text
    assert appliance.store.latest_version_id() == 1


def test_commit_interactive_asks_comment_and_rollback(appliance):
    status, term, _ = run_session(appliance, [f"tdcconfig enable {INTAKE}", "commit",
                                              "turn on TDC", "n"])
    assert status == 0
    assert "Please enter some comments describing your changes:\n[]> " in term.text
    assert "Do you want to save the current configuration for rollback? [Y]> " in term.prompts
    assert "Changes committed: " in term.text
    latest = appliance.store.latest()
    assert (latest.comment, latest.user, latest.rollback) == ("turn on TDC", "admin", False)
    assert latest.config.tdc.intake_address == INTAKE


def test_commit_with_nothing_pending(appliance):
    status, term, _ = run_session(appliance, ['commit "nothing"'])
    assert status == 0
    assert "no data to commit." in term.text
    assert appliance.store.latest_version_id() == 1


def test_clearchanges_discards(appliance):
    status, term, session = run_session(appliance, [f"tdcconfig enable {INTAKE}",
                                                    "clearchanges", "showchanges"])
    assert status == 0
    assert "Changes cleared: " in term.text
    assert "No changes have been made since the last commit." in term.text
    assert not session.pending


def test_two_sessions_do_not_see_each_other_and_both_commit(appliance):
    import asyncio

    from commands.session import CliSession
    from tests.conftest import ScriptedTerminal

    async def scenario():
        a = CliSession(appliance, ScriptedTerminal())
        b = CliSession(appliance, ScriptedTerminal())
        await a.execute(f"tdcconfig enable {INTAKE}")
        await b.execute("sethostname gw2.example.com")
        assert not b.config.tdc.enabled and a.config.hostname == "mail1.example.com"
        assert await a.execute('commit "a"')
        assert await b.execute('commit "b"')
        return appliance.config

    config = asyncio.run(scenario())
    assert config.tdc.enabled and config.hostname == "gw2.example.com"


def test_quit_with_pending_changes_asks_default_no(appliance):
    _status, term, session = run_session(
        appliance, ["sethostname gw.example.com", "quit", "", "quit", "y", "version"]
    )
    assert "Are you sure you wish to exit? [N]> " in term.prompts
    assert session.finished
    assert "Current Version" not in term.text  # the session ended at the second quit


def test_ctrl_c_abandons_the_dialog(appliance):
    _status, term, session = run_session(appliance, ["sethostname", CTRL_C, "showchanges"],
                                        interactive=True)
    assert "No changes have been made since the last commit." in term.text
    assert not session.pending


def test_invalid_answer_is_asked_again_and_marks_failure(appliance):
    status, term, session = run_session(appliance, ["sethostname", "bad_name!", "gw.example.com"])
    assert term.prompts.count("[]> ") == 2
    assert "A hostname must contain only letters" in term.text
    assert session.config.hostname == "gw.example.com"
    assert status == 1  # a script that gave a wrong answer is told so
