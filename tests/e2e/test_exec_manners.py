"""CLI manners seen from scripts: OpenSSH exec requests against a real appliance, and a
script piped into a real ``segcli`` console.  A question left without input says what it
waited for, a typo gets a suggestion, an edit that changes nothing records nothing, and
``segcli --version`` answers."""

from __future__ import annotations

import subprocess

from engine.appliance import ASYNCOS_VERSION, EMULATOR
from tests.conftest import REPO, SEGCLI, run_segcli, segcli_env
from tests.e2e.ssh_fixtures import SshAppliance

TIMEOUT = 60
SORT_UNANSWERED = "tophosts: no answer to 'Sort results by' (the input ended)"


def ssh(appliance: SshAppliance, command: str, key, *, stdin: bytes | None = None
        ) -> tuple[int, str]:
    """``ssh admin@host '<command>'``: its exit status and everything it printed.  No
    *stdin*: ``</dev/null``, as in the issue's report."""
    argv = appliance.openssh(command, key=key)
    result = subprocess.run(argv, input=stdin, stdin=None if stdin is not None else
                            subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT,
                            start_new_session=True)
    return result.returncode, result.stdout.decode() + result.stderr.decode()


def test_a_menu_without_input_in_an_exec_request_says_what_it_waited_for(ssh_appliance,
                                                                         client_key):
    status, output = ssh(ssh_appliance, "status; tophosts", client_key)
    assert status == 1, output
    assert "Status as of:" in output  # status ran first: ';' separates commands
    assert "Sort results by:" in output
    assert output.rstrip().endswith("[1]> \n" + SORT_UNANSWERED), output[-400:]


def test_semicolons_separate_commands_as_appliance_scripts_write_them(ssh_appliance, client_key):
    """Integrations for real appliances send exec requests such as
    ``dictionaryconfig print X;`` or ``... new "v";commit "msg";`` (Splunk SOAR's Cisco
    ESA connector): no space after ``;``, and one at the end."""
    status, output = ssh(ssh_appliance, 'version;sethostname mail1.example.com;'
                                        'commit "nothing to do";tophosts 1;', client_key)
    assert status == 0, output
    assert output.index("Current Version") < output.index("the.tdc.queue")


def test_the_commands_after_an_unanswered_one_still_run(ssh_appliance, client_key):
    status, output = ssh(ssh_appliance, "tophosts; version", client_key)
    assert status == 1, output
    assert SORT_UNANSWERED in output
    assert output.index(SORT_UNANSWERED) < output.index("Current Version")


def test_an_answer_on_stdin_still_answers(ssh_appliance, client_key):
    status, output = ssh(ssh_appliance, "tophosts", client_key, stdin=b"3\n")
    assert status == 0, output
    assert "the.tdc.queue" in output and "no answer" not in output


def test_a_yes_no_question_without_input_names_itself(ssh_appliance, client_key):
    status, output = ssh(ssh_appliance, "saveconfig", client_key)
    assert status == 1, output
    assert "saveconfig: no answer to 'Do you want to mask the passphrase?" in output


def test_a_typo_in_an_exec_request_gets_a_suggestion(ssh_appliance, client_key):
    status, output = ssh(ssh_appliance, "tophost 1", client_key)
    assert status == 1
    assert "Unknown command or missing feature key: tophost\nDid you mean tophosts?\n" in output


def test_an_edit_that_changes_nothing_records_nothing(ssh_appliance, client_key):
    # The lab runs with the connector enabled: enabling it again changes nothing.
    status, output = ssh(ssh_appliance, "tdcconfig enable; sethostname mail1.example.com; "
                                        "showchanges", client_key)
    assert status == 0, output
    assert "No changes have been made since the last commit." in output
    assert "uncommitted changes" not in output  # nothing pending to discard


def test_a_piped_script_gets_the_same_manners(data_dir):
    result = run_segcli(data_dir, "tophost\ntophosts\n")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Unknown command or missing feature key: tophost\nDid you mean tophosts?\n" in output
    assert SORT_UNANSWERED in output


def test_version_flag():
    result = subprocess.run([*SEGCLI, "--version"], capture_output=True, text=True,
                            timeout=TIMEOUT, env=segcli_env(), cwd=REPO,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{EMULATOR} (emulating AsyncOS {ASYNCOS_VERSION})\n"


def test_the_console_suggests_too(spawn):
    """The interactive console on a pty: the same refusal and suggestion."""
    console = spawn().started()
    shown = console.run("tophost")
    assert "Unknown command or missing feature key: tophost" in shown
    assert "Did you mean tophosts?" in shown
    assert shown.index("Unknown command") < shown.index("Did you mean")
    console.command("quit")
    assert console.wait_exit() == 0  # at a terminal, quit ends with 0 whatever failed
