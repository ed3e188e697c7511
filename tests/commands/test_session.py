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
                                                    "clearchanges", "", "showchanges"])
    assert status == 0
    assert ("Are you sure you want to clear all changes since the last commit? [Y]> "
            in term.prompts)  # in a script too, as the appliance asks
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


def test_ctrl_c_during_commit_cannot_split_it(appliance):
    """Ctrl-C while the store is writing: the commit runs to the end and the session
    does not keep the committed changes pending."""
    import asyncio
    import threading

    from commands.session import CliSession
    from tests.conftest import ScriptedTerminal

    real_commit = appliance.store.commit_config
    writing, proceed = threading.Event(), threading.Event()

    def gated_commit(*args, **kwargs):
        writing.set()
        proceed.wait(10)
        return real_commit(*args, **kwargs)

    appliance.store.commit_config = gated_commit

    async def scenario():
        session = CliSession(appliance, ScriptedTerminal())
        await session.execute(f"tdcconfig enable {INTAKE}")
        task = asyncio.ensure_future(session.execute('commit "racing ctrl-c"'))
        while not writing.is_set():
            await asyncio.sleep(0.01)
        assert session.interrupt()  # Ctrl-C while the write is in progress
        proceed.set()
        return await task, session

    ok, session = asyncio.run(scenario())
    assert not ok
    assert appliance.store.latest().comment == "racing ctrl-c"
    assert not session.pending


def test_tdcconfig_setup_one_line(appliance):
    status, term, _ = run_session(appliance, ["tdcconfig setup", "y", INTAKE, 'commit "s"'])
    assert status == 0, term.text
    assert appliance.store.latest().config.tdc.intake_address == INTAKE


def test_config_watchers_can_stop(appliance):
    import asyncio

    seen: list[int] = []
    stop = appliance.on_config_change(lambda v: seen.append(v.id))

    async def commit(name):
        from engine.config.changes import SetHostname

        await appliance.commit([SetHostname(name)], user="t", comment="", rollback=False)

    asyncio.run(commit("a.example.com"))
    stop()
    asyncio.run(commit("b.example.com"))
    assert seen == [2]


def test_clearchanges_answered_no_keeps_the_changes(appliance):
    status, term, session = run_session(appliance, [f"tdcconfig enable {INTAKE}",
                                                    "clearchanges", "n", "showchanges"])
    assert status == 0
    assert "Changes cleared" not in term.text
    assert session.pending


def test_clearchanges_with_nothing_pending_asks_nothing(appliance):
    status, term, _ = run_session(appliance, ["clearchanges"])
    assert status == 0
    assert not any("Are you sure" in prompt for prompt in term.prompts)
    assert "No changes have been made since the last commit." in term.text
