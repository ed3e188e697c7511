"""saveconfig / loadconfig / rollbackconfig in a real ``segcli`` process fed by a script:
what a person automating the appliance relies on, across restarts."""

from __future__ import annotations

import re

from engine.config.files import config_dir
from engine.store.database import Store
from tests.conftest import REPO, run_segcli

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"
EXAMPLE = REPO / "examples" / "minimal-config.xml"
SAVED = re.compile(r"The file (\S+\.xml) has been saved in the configuration directory\.")


def _store_state(data_dir) -> tuple[int, str]:
    store = Store.open(data_dir)
    try:
        latest = store.latest()
        return latest.id, latest.config.hostname
    finally:
        store.close()


def test_save_edit_load_commit_restart(data_dir):
    saved = run_segcli(data_dir, "saveconfig y 1\n")
    assert saved.returncode == 0, saved.stdout + saved.stderr
    name = SAVED.search(saved.stdout)[1]
    path = config_dir(data_dir) / name
    text = path.read_text()
    assert "<hostname>mail1.example.com</hostname>" in text
    text = text.replace("<hostname>mail1.example.com<", "<hostname>gw.example.com<")
    text = text.replace("<tdc_enabled>0<", "<tdc_enabled>1<")
    path.write_text(text.replace("<tdc_intake_address />",
                                 f"<tdc_intake_address>{INTAKE}</tdc_intake_address>"))

    loaded = run_segcli(data_dir, f'loadconfig {name}\ncommit "edited offline"\n')
    assert loaded.returncode == 0, loaded.stdout + loaded.stderr
    assert "Values have been loaded." in loaded.stdout
    assert "Changes committed: " in loaded.stdout
    assert loaded.stdout.rstrip().endswith("gw.example.com>")  # the new name is live at once

    after = run_segcli(data_dir, "showconfig n\ntdcconfig print\n")
    assert after.returncode == 0, after.stdout
    assert after.stdout.startswith("gw.example.com> showconfig n\n")
    assert "<hostname>gw.example.com</hostname>" in after.stdout
    assert f"Default Message Intake Address:   {INTAKE}" in after.stdout
    assert _store_state(data_dir) == (2, "gw.example.com")


def test_malformed_file_fails_the_script_and_changes_nothing(data_dir):
    directory = config_dir(data_dir)
    directory.mkdir(parents=True)
    bad = "<config>\n  <hostname>gw.example.com</hostname>\n  <oops>\n</config>\n"
    (directory / "bad.xml").write_text(bad)
    result = run_segcli(data_dir, 'loadconfig bad.xml\ncommit "should not happen"\n')
    assert result.returncode != 0
    assert "Parsing failed:\n    not well-formed XML at line 4" in result.stdout
    assert "Nothing was loaded." in result.stdout
    assert "There is no data to commit." in result.stdout
    assert _store_state(data_dir) == (1, "mail1.example.com")
    again = run_segcli(data_dir, "showconfig n\n")
    assert "<hostname>mail1.example.com</hostname>" in again.stdout


def test_missing_file_fails_the_script(data_dir):
    result = run_segcli(data_dir, "loadconfig nothing-here.xml\n")
    assert result.returncode != 0
    assert 'Error: the file "nothing-here.xml" does not exist.' in result.stdout
    assert _store_state(data_dir) == (1, "mail1.example.com")


def test_paste_via_cli_in_a_script(data_dir):
    script = "loadconfig\n1\n" + EXAMPLE.read_text() + '.\ncommit "pasted"\n'
    result = run_segcli(data_dir, script)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Values have been loaded." in result.stdout
    after = run_segcli(data_dir, "tdcconfig print\n")
    assert after.stdout.startswith("esa1.example.com> ")
    assert "sales: Custom Message Intake Address: 7f2a91-41kd2-0b9e77@beta.cmd.cisco.com" in after.stdout
    assert "DEFAULT: Default Message Intake Address" in after.stdout


def test_example_loads_by_host_path_at_the_console(data_dir):
    result = run_segcli(data_dir, f'loadconfig {EXAMPLE}\ncommit "example"\n')
    assert result.returncode == 0, result.stdout + result.stderr
    assert _store_state(data_dir) == (2, "esa1.example.com")


def test_rollback_in_a_script_survives_restart(data_dir):
    first = run_segcli(data_dir, 'sethostname gw.example.com\ncommit "rename"\n')
    assert first.returncode == 0, first.stdout
    rolled = run_segcli(data_dir, 'rollbackconfig print\nrollbackconfig 1\ncommit "undo rename"\n')
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert " 1. " in rolled.stdout and "Factory defaults" in rolled.stdout
    assert _store_state(data_dir) == (3, "mail1.example.com")
    bad = run_segcli(data_dir, "rollbackconfig 7\n")
    assert bad.returncode != 0
    assert "Error: there is no commit number 7" in bad.stdout
    assert _store_state(data_dir) == (3, "mail1.example.com")
