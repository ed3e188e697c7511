"""``policyconfig`` in the real ``segcli`` process, driven by piped scripts.

What an automation developer relies on: the one-line forms, answers to the
interactive dialog on the following lines, committed policies surviving a restart
on the same data directory, and a non-zero exit status (with nothing changed) when
a line is wrong.
"""

from __future__ import annotations

from tests.conftest import run_segcli

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"
CUSTOM = "77aa01-11xq2-99ffee@beta.cmd.cisco.com"


def test_batch_policies_persist_across_a_restart(data_dir):
    first = run_segcli(data_dir, "\n".join([
        f"tdcconfig enable {INTAKE}",
        "policyconfig incoming new sales @sales.example.com,bob@",
        "policyconfig incoming new legal @legal.example.com",
        "policyconfig incoming edit sales threatdefense default",
        f"policyconfig incoming edit legal threatdefense custom {CUSTOM}",
        "policyconfig incoming move legal 1",
        "policyconfig outgoing new staff @example.com",
        'commit "TDC per policy"',
    ]) + "\n")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Changes committed: " in first.stdout

    second = run_segcli(data_dir, "policyconfig incoming print\npolicyconfig outgoing print\n")
    assert second.returncode == 0, second.stdout + second.stderr
    out = second.stdout
    assert f"{'1. legal':<34}Enabled\n{'2. sales':<34}Enabled\n{'3. DEFAULT':<34}Disabled\n" in out
    assert f"Threat Defense Connector: Custom Message Intake Address: {CUSTOM}" in out
    assert f"Threat Defense Connector: Default Message Intake Address: {INTAKE}" in out
    assert "   Receivers:\n       @sales.example.com\n       bob@\n" in out
    assert "Outgoing Mail Policy Configuration\n\n1. staff\n2. DEFAULT\n" in out


def test_interactive_dialog_answered_from_the_script(data_dir):
    script = "\n".join([
        "policyconfig", "1",
        "new", "sales", "", "", "not-a-member", "@sales.example.com", "3", CUSTOM,
        "",
        'commit "new policy"',
    ]) + "\n"
    result = run_segcli(data_dir, script)
    assert result.returncode == 1  # the wrong member was reported, then re-asked
    assert 'The entry you have entered is invalid: "not-a-member"' in result.stdout
    assert "Enter the receivers for this policy [comma separated]:\n[]> @sales.example.com\n" \
        in result.stdout
    assert "Changes committed: " in result.stdout

    again = run_segcli(data_dir, "policyconfig incoming edit sales print\n")
    assert again.returncode == 0, again.stdout
    assert ("Threat Defense Connector: Not Available (disabled globally; see tdcconfig)\n"
            f"       Policy setting: Custom Message Intake Address: {CUSTOM}") in again.stdout


def test_bad_batch_lines_exit_non_zero_and_change_nothing(data_dir):
    seeded = run_segcli(data_dir, 'policyconfig incoming new sales @sales.example.com\ncommit "s"\n')
    assert seeded.returncode == 0, seeded.stdout
    result = run_segcli(data_dir, "\n".join([
        "policyconfig incoming new other not-a-member",
        "policyconfig incoming edit nope threatdefense default",
        "policyconfig incoming delete DEFAULT",
        "policyconfig incoming move sales 5",
        "policyconfig incoming edit sales threatdefense custom not-an-address",
        'commit "nothing"',
    ]) + "\n")
    assert result.returncode == 1
    out = result.stdout
    assert 'The entry you have entered is invalid: "not-a-member"' in out
    assert 'There is no policy named "nope".' in out
    assert "The DEFAULT policy cannot be deleted." in out
    assert "The position must be between 1 and 1" in out
    assert "An email address is a localname" in out
    assert "There is no data to commit." in out

    after = run_segcli(data_dir, "policyconfig incoming print\n")
    assert after.returncode == 0
    assert f"{'1. sales':<34}Not Available\n{'2. DEFAULT':<34}Not Available\n" in after.stdout
    assert "other" not in after.stdout


def test_help_policyconfig_in_the_real_process(data_dir):
    result = run_segcli(data_dir, "help policyconfig\n")
    assert result.returncode == 0
    assert "policyconfig incoming edit <name> threatdefense custom <address>" in result.stdout
