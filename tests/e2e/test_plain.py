"""The real ``segcli`` process with a script piped into it: the scripting contract.

Literal prompts, no escape sequences, questions answered from the following lines,
exit status 0 only when every command succeeded, and state that survives restarts.
"""

from __future__ import annotations

import re
import subprocess

from tests.conftest import REPO, SEGCLI, run_segcli, segcli_env

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"
ANSI = re.compile(r"\x1b[\[\]()>=]")


def test_piped_tdcconfig_print(data_dir):
    result = run_segcli(data_dir, "tdcconfig print\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("mail1.example.com> tdcconfig print\n")
    assert "Threat Defense Connector:         Disabled" in result.stdout
    assert result.stdout.endswith("mail1.example.com> \n")
    assert not ANSI.search(result.stdout)


def test_committed_config_survives_restart_and_pending_does_not(data_dir):
    first = run_segcli(data_dir, f'tdcconfig enable {INTAKE}\ncommit "enable TDC"\n'
                                 "sethostname gw.example.com\n")
    assert first.returncode == 0, first.stdout
    assert "Changes committed: " in first.stdout
    assert "uncommitted changes; they were discarded" in first.stdout
    second = run_segcli(data_dir, "tdcconfig print\n")
    assert f"Default Message Intake Address:   {INTAKE}" in second.stdout
    assert "Threat Defense Connector:         Enabled" in second.stdout
    assert second.stdout.startswith("mail1.example.com> ")  # the hostname was never committed


def test_questions_are_answered_from_the_following_lines(data_dir):
    script = "sethostname\ngw.example.com\ncommit\nrename the gateway\nN\n"
    result = run_segcli(data_dir, script)
    assert result.returncode == 0, result.stdout
    assert "Enter the new hostname.\n[]> gw.example.com\n" in result.stdout
    assert "Do you want to save the current configuration for rollback? [Y]> N\n" in result.stdout
    assert result.stdout.rstrip().endswith("gw.example.com>")


def test_any_failed_command_makes_the_exit_status_non_zero(data_dir):
    result = run_segcli(data_dir, "version\nnosuchcommand\nversion\n")
    assert result.returncode == 1
    assert "Unknown command or missing feature key: nosuchcommand" in result.stdout
    assert result.stdout.count("Current Version") == 2  # the script goes on after an error


def test_bad_batch_input_fails_and_changes_nothing(data_dir):
    result = run_segcli(data_dir, 'tdcconfig enable not-an-address\ncommit "x"\n')
    assert result.returncode == 1
    assert "An email address is a localname" in result.stdout
    assert "There is no data to commit." in result.stdout
    assert "Disabled" in run_segcli(data_dir, "tdcconfig print\n").stdout


def test_bad_usage_fails(data_dir):
    result = run_segcli(data_dir, "tdcconfig frobnicate\nsethostname a b\n")
    assert result.returncode == 1
    assert result.stdout.count("Invalid arguments when processing") == 2


def test_unbalanced_quotes_are_refused(data_dir):
    result = run_segcli(data_dir, 'commit "unfinished\n')
    assert result.returncode == 1
    assert "Invalid arguments when processing" in result.stdout


def test_input_ending_inside_a_question_fails(data_dir):
    result = run_segcli(data_dir, "sethostname\n")
    assert result.returncode == 1
    # The script learns why, and ends at the prompt as any script does.
    assert result.stdout.endswith(
        "[]> \nsethostname: no answer to 'Enter the new hostname.' (the input ended)\n"
        "mail1.example.com> \n")


def test_windows_line_ends_are_accepted(data_dir):
    result = run_segcli(data_dir, "sethostname gw.example.com\r\ncommit \"crlf\"\r\n")
    assert result.returncode == 0, result.stdout
    assert run_segcli(data_dir, "").stdout.startswith("gw.example.com> ")


def test_wrong_answer_is_asked_again_and_reported(data_dir):
    result = run_segcli(data_dir, "sethostname\nnot valid!\ngw.example.com\nshowchanges\n")
    assert result.returncode == 1
    assert "A hostname must contain only letters" in result.stdout
    assert "hostname: gw.example.com" in result.stdout


def test_help_lists_commands_and_batch_forms(data_dir):
    result = run_segcli(data_dir, "help\nhelp tdcconfig\nhelp nosuch\n")
    assert re.search(r"^tdcconfig +Configure the Threat Defense Connector$", result.stdout, re.M)
    assert "tdcconfig enable <intake address>" in result.stdout
    assert "help is not available for nosuch" in result.stdout
    assert result.returncode == 1


def test_listening_address_flags(data_dir):
    ok = run_segcli(data_dir, "version\n", "--smtp", "127.0.0.1:0", "--ssh", "[::1]:0")
    assert ok.returncode == 0
    bad = subprocess.run([*SEGCLI, "--data", str(data_dir), "--smtp", "localhost"], input="",
                         capture_output=True, text=True, env=segcli_env(), cwd=REPO, timeout=60)
    assert bad.returncode == 2
    assert "use HOST:PORT" in bad.stderr


def test_default_data_dir_comes_from_the_environment(tmp_path):
    env = segcli_env()
    env["SEGCLI_DATA"] = str(tmp_path / "from-env")
    result = subprocess.run([*SEGCLI], input="sethostname e.example.com\ncommit \"c\"\n",
                            capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "from-env" / "segcli.db").exists()
