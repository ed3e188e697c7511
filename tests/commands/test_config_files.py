"""showconfig, saveconfig, loadconfig and rollbackconfig through a scripted terminal and a real store."""

from __future__ import annotations

import asyncio
import re
import shlex
import shutil
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from commands.session import CliSession
from engine.appliance import MODEL
from engine.config.changes import ReplaceConfig
from engine.config.files import config_dir
from engine.config.model import Direction, TdcMode
from engine.config.xml_document import from_xml, to_xml
from engine.observe.timestamps import cli_time
from tests.conftest import REPO, ScriptedTerminal, run_session

INTAKE = "33c48e-27xp9-05ecb4@beta.cmd.cisco.com"
EXAMPLE = REPO / "examples" / "minimal-config.xml"
MASK_PROMPT = ("Do you want to mask the passphrase? Files with masked passphrases cannot be "
               "loaded using loadconfig command. [Y]> ")


# -- helpers ---------------------------------------------------------------------------
def _xml_in(text: str) -> str:
    """The one XML document printed in a transcript."""
    start = text.index("<?xml")
    end = text.index("</config>", start) + len("</config>")
    return text[start:end] + "\n"


def _save(appliance, name: str, text: str) -> Path:
    directory = config_dir(appliance.options.data_dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(text)
    return path


def _edited_running(appliance, hostname: str = "gw.example.com") -> str:
    """The running configuration's document with another host name and TDC enabled."""
    text = to_xml(appliance.config)
    text = text.replace("<hostname>mail1.example.com<", f"<hostname>{hostname}<")
    text = text.replace("<tdc_enabled>0</tdc_enabled>", "<tdc_enabled>1</tdc_enabled>")
    return text.replace("<tdc_intake_address />", f"<tdc_intake_address>{INTAKE}</tdc_intake_address>")


def _remote(appliance, lines: list[str]) -> tuple[int, ScriptedTerminal, CliSession]:
    """A session that is not at the local console (as SSH sessions will be)."""
    terminal = ScriptedTerminal(lines)
    session = CliSession(appliance, terminal, local=False)
    return asyncio.run(session.run()), terminal, session


def _commit(appliance, command: str, comment: str, *, user: str = "admin") -> None:
    status, term, _ = run_session(appliance, [command, f'commit "{comment}"'], user=user)
    assert status == 0, term.text


def _files(appliance) -> list[str]:
    directory = config_dir(appliance.options.data_dir)
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# -- showconfig -------------------------------------------------------------------------
def test_showconfig_asks_the_mask_question_and_prints_the_running_config(appliance):
    _commit(appliance, f"tdcconfig enable {INTAKE}", "tdc")
    status, term, _ = run_session(appliance, ["showconfig", ""])
    assert status == 0
    assert MASK_PROMPT in term.prompts
    printed = _xml_in(term.text)
    assert printed == to_xml(appliance.config)
    assert from_xml(printed).tdc.intake_address == INTAKE
    assert "not included" not in term.text


def test_showconfig_excludes_uncommitted_changes_and_says_so(appliance):
    status, term, _ = run_session(appliance, ["sethostname gw.example.com", "showconfig n"])
    assert status == 0
    assert MASK_PROMPT not in term.prompts  # the one-line form asks nothing
    assert "<hostname>mail1.example.com</hostname>" in _xml_in(term.text)
    assert "this session has 1 uncommitted change(s); they are not included" in term.text


@pytest.mark.parametrize("line", ["showconfig maybe", "showconfig y n", "showconfig 1"])
def test_showconfig_bad_arguments(appliance, line):
    status, term, _ = run_session(appliance, [line])
    assert status == 1
    assert "Invalid arguments when processing: usage is showconfig [y|n]" in term.text
    assert "<?xml" not in term.text


# -- saveconfig -------------------------------------------------------------------------
def test_saveconfig_batch_writes_the_running_config(appliance):
    _commit(appliance, "sethostname gw.example.com", "rename")
    before = datetime.now(UTC).replace(microsecond=0)
    status, term, _ = run_session(appliance, ["saveconfig y 1"])
    assert status == 0, term.text
    [name] = _files(appliance)
    match = re.fullmatch(rf"{MODEL}-{re.escape(appliance.serial)}-(\d{{8}}T\d{{6}})\.xml", name)
    assert match, name
    stamp = datetime.strptime(match[1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    assert before <= stamp <= datetime.now(UTC)  # UTC, to the second
    assert f"The file {name} has been saved in the configuration directory." in term.text
    saved = (config_dir(appliance.options.data_dir) / name).read_text()
    assert saved == to_xml(appliance.config)
    assert from_xml(saved).hostname == "gw.example.com"


def test_saveconfig_interactive_excludes_pending_and_shows_host_path_locally(appliance):
    status, term, _ = run_session(appliance, ["sethostname gw.example.com", "saveconfig", "n"])
    assert status == 0
    assert MASK_PROMPT in term.prompts
    [name] = _files(appliance)  # no partial file left behind
    assert "they are not included" in term.text
    assert f"(On this host: {config_dir(appliance.options.data_dir) / name})" in term.text
    assert from_xml((config_dir(appliance.options.data_dir) / name).read_text()).hostname == \
        "mail1.example.com"


def test_saveconfig_remote_session_does_not_show_host_paths(appliance):
    status, term, _ = _remote(appliance, ["saveconfig n"])
    assert status == 0
    assert "has been saved in the configuration directory." in term.text
    assert "On this host" not in term.text


@pytest.mark.parametrize("line", ["saveconfig x", "saveconfig y 2", "saveconfig y 1 z", "saveconfig 1"])
def test_saveconfig_bad_arguments_write_nothing(appliance, line):
    status, term, _ = run_session(appliance, [line])
    assert status == 1
    assert "Invalid arguments when processing: usage is saveconfig [y|n [1]]" in term.text
    assert _files(appliance) == []


# -- loadconfig: success ------------------------------------------------------------------
def test_save_edit_load_commit(appliance):
    run_session(appliance, ["saveconfig y 1"])
    [name] = _files(appliance)
    _save(appliance, name, _edited_running(appliance))
    status, term, session = run_session(appliance, [f"loadconfig {name}", "showchanges"])
    assert status == 0, term.text
    assert "Values have been loaded." in term.text
    assert "Use the commit command to make these changes active." in term.text
    assert [type(c) for c in session.pending.changes] == [ReplaceConfig]
    assert f'Loaded the configuration file "{name}"' in term.text  # showchanges
    assert appliance.config.hostname == "mail1.example.com"  # nothing active before commit
    assert appliance.store.latest_version_id() == 1
    status, term, _ = run_session(appliance, [f"loadconfig {name}", 'commit "loaded"'])
    assert status == 0, term.text
    latest = appliance.store.latest()
    assert (latest.comment, latest.config.hostname) == ("loaded", "gw.example.com")
    assert latest.config.tdc.enabled and latest.config.tdc.intake_address == INTAKE


def _check_example(config) -> None:
    assert config.hostname == "esa1.example.com"
    assert config.tdc.enabled and config.tdc.intake_address == INTAKE
    incoming = config.policies(Direction.INCOMING)
    assert incoming.names == ["sales", "DEFAULT"]
    sales = incoming.get("sales")
    assert sales.recipients == ["@sales.example.com"]
    assert sales.threat_defense.mode is TdcMode.CUSTOM
    assert sales.threat_defense.custom_address != INTAKE
    assert incoming.default.threat_defense.mode is TdcMode.DEFAULT
    assert config.policies(Direction.OUTGOING).names == ["DEFAULT"]


def test_loadconfig_accepts_the_example_from_the_configuration_directory(appliance):
    _save(appliance, "minimal-config.xml", EXAMPLE.read_text())
    status, term, _ = run_session(appliance, ["loadconfig minimal-config.xml", 'commit "example"'])
    assert status == 0, term.text
    assert "Values have been loaded." in term.text
    _check_example(appliance.store.latest().config)


def test_loadconfig_accepts_a_host_path_at_the_local_console(appliance):
    status, term, session = run_session(appliance, [f"loadconfig {EXAMPLE}"])
    assert status == 0, term.text
    _check_example(session.config)


def test_loadconfig_paste_ends_with_a_dot_line(appliance):
    document = to_xml(from_xml(EXAMPLE.read_text())).splitlines()
    status, term, session = run_session(appliance, ["loadconfig", "1", *document, ".", "showchanges"])
    assert status == 0, term.text
    assert "1. Paste via CLI\n2. Load from file\n" in term.text
    assert "[1]> " in term.prompts
    assert "Paste the configuration file now." in term.text
    assert "Loaded a pasted configuration" in term.text
    _check_example(session.config)


def test_loadconfig_paste_ends_with_ctrl_d_and_method_defaults_to_paste(appliance):
    document = EXAMPLE.read_text().splitlines()
    _status, term, session = run_session(appliance, ["loadconfig", "", *document])  # then Ctrl-D
    assert "Values have been loaded." in term.text
    _check_example(session.config)


@pytest.mark.parametrize("answer", ["2", "minimal-config.xml"])
def test_loadconfig_from_file_by_number_or_name(appliance, answer):
    _save(appliance, "minimal-config.xml", EXAMPLE.read_text())
    run_session(appliance, ["saveconfig y"])
    saved = next(n for n in _files(appliance) if n != "minimal-config.xml")
    status, term, session = run_session(appliance, ["loadconfig", "2", answer])
    assert status == 0, term.text
    assert f"Files in the configuration directory:\n1. {saved}\n2. minimal-config.xml\n" in term.text
    assert "Enter the name of the file to import:" in term.text
    [change] = session.pending.changes
    assert change.describe() == 'Loaded the configuration file "minimal-config.xml"'
    _check_example(session.config)


def test_loadconfig_from_file_names_are_case_sensitive(appliance):
    _save(appliance, "minimal-config.xml", EXAMPLE.read_text())
    status, term, session = run_session(appliance, ["loadconfig", "2", "MINIMAL-CONFIG.XML"])
    assert status == 1
    assert 'Error: the file "MINIMAL-CONFIG.XML" does not exist.' in term.text
    assert not session.pending


def test_loadconfig_from_file_blank_name_is_asked_again(appliance):
    _save(appliance, "minimal-config.xml", EXAMPLE.read_text())
    status, term, session = run_session(appliance, ["loadconfig", "2", "", "1"])
    assert status == 1
    assert "You must enter a value." in term.text
    _check_example(session.config)


def test_loadconfig_of_the_current_configuration_detects_no_changes(appliance):
    run_session(appliance, ["saveconfig y 1"])
    [name] = _files(appliance)
    status, term, session = run_session(appliance, [f"loadconfig {name}"])
    assert status == 0  # loading the same configuration again is not an error
    assert "No changes detected." in term.text
    assert "Values have been loaded." not in term.text
    assert not session.pending


# -- loadconfig: uncommitted changes ---------------------------------------------------------
def test_loadconfig_with_pending_changes_default_no_does_nothing(appliance):
    status, term, session = run_session(appliance, ["sethostname gw.example.com", "loadconfig", ""])
    assert status == 0
    assert "You have 1 uncommitted change(s)." in term.text
    assert "Do you want to discard your uncommitted changes? [N]> " in term.prompts
    assert "Paste via CLI" not in term.text
    assert session.config.hostname == "gw.example.com"
    assert len(session.pending.changes) == 1


def test_loadconfig_discarding_pending_changes_leaves_one_replace(appliance):
    status, term, session = run_session(
        appliance, ["sethostname gw.example.com", "loadconfig", "y", "2", str(EXAMPLE)]
    )
    assert status == 0, term.text
    assert [type(c) for c in session.pending.changes] == [ReplaceConfig]
    _check_example(session.config)


def test_loadconfig_refused_document_keeps_pending_changes_even_after_yes(appliance):
    status, term, session = run_session(
        appliance, ["sethostname gw.example.com", "loadconfig", "y", "1", "<config>", "."]
    )
    assert status == 1
    assert "Parsing failed:" in term.text
    assert session.config.hostname == "gw.example.com"
    assert len(session.pending.changes) == 1


def test_loadconfig_discard_then_running_document_leaves_nothing_to_commit(appliance):
    run_session(appliance, ["saveconfig y 1"])
    [name] = _files(appliance)
    status, term, session = run_session(appliance,
                                        ["sethostname gw.example.com", "loadconfig", "y", "2", name])
    assert status == 0, term.text
    assert "the result is the running configuration, so there is nothing to commit" in term.text
    assert not session.pending


def test_loadconfig_batch_with_pending_changes_refuses(appliance):
    status, term, session = run_session(appliance, ["sethostname gw.example.com",
                                                    f"loadconfig {EXAMPLE}"])
    assert status == 1
    assert ("Error: this session has 1 uncommitted change(s). Commit them, or discard them with "
            "clearchanges, then run loadconfig again.") in term.text
    assert session.config.hostname == "gw.example.com"
    assert len(session.pending.changes) == 1


# -- loadconfig: bad input -----------------------------------------------------------------
def test_loadconfig_malformed_xml(appliance):
    _save(appliance, "broken.xml", "<config>\n<hostname>x</hostname>\n<oops>\n</config>\n")
    status, term, session = run_session(appliance, ["loadconfig broken.xml"])
    assert status == 1
    assert "Parsing failed:\n    not well-formed XML at line 4, column 3.\nNothing was loaded." in term.text
    assert not session.pending


def test_loadconfig_lists_every_problem_and_loads_nothing(appliance):
    text = _edited_running(appliance)
    text = text.replace("<tdc_enabled>1", "<tdc_enabled>yes")
    text = text.replace("</config>", "<colour>blue</colour></config>")
    _save(appliance, "bad.xml", text)
    status, term, _ = run_session(appliance, ["loadconfig bad.xml", 'commit "x"'])
    assert status == 1
    assert "Parsing failed:\n" in term.text
    assert "    Unknown element <colour> in <config>.\n" in term.text
    assert "    <tdc_enabled> must be 0 or 1, not 'yes'.\n" in term.text
    assert "There is no data to commit." in term.text
    assert appliance.store.latest_version_id() == 1


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("<hostname>mail1.example.com</hostname>", "<hostname><b>gw.example.com</b></hostname>",
     "<config>/<hostname> must hold a value, not elements (found <b>)."),
    ("<tdc_enabled>0</tdc_enabled>", "<tdc_enabled><x>1</x></tdc_enabled>",
     "<threat_defense_connector>/<tdc_enabled> must hold a value, not elements (found <x>)."),
    ("<tdc_enabled>0</tdc_enabled>", "<tdc_enabled />",
     "<threat_defense_connector>/<tdc_enabled> is empty."),
])
def test_loadconfig_names_a_value_element_that_holds_no_value(appliance, old, new, problem):
    """Such documents once loaded quietly (as "No changes detected", or TDC disabled)."""
    text = to_xml(appliance.config)
    assert old in text
    _save(appliance, "odd.xml", text.replace(old, new))
    status, term, session = run_session(appliance, ["loadconfig odd.xml"])
    assert status == 1
    assert f"Parsing failed:\n    {problem}\nNothing was loaded." in term.text
    assert "No changes detected." not in term.text
    assert not session.pending


def test_loadconfig_semantic_problems(appliance):
    text = to_xml(from_xml(EXAMPLE.read_text())).replace("<policy_name>DEFAULT</policy_name>",
                                                         "<policy_name>other</policy_name>", 1)
    status, term, session = run_session(appliance, ["loadconfig", "1", *text.splitlines(), "."])
    assert status == 1
    assert "Incoming Mail Policies: the DEFAULT policy must be present and last." in term.text
    assert not session.pending


@pytest.mark.parametrize("lines", [["loadconfig", "1", "."], ["loadconfig", "1", "   ", "."]])
def test_loadconfig_empty_paste(appliance, lines):
    status, term, session = run_session(appliance, lines)
    assert status == 1
    assert "No data to load." in term.text
    assert "Parsing failed" not in term.text
    assert not session.pending


def test_loadconfig_empty_file(appliance):
    _save(appliance, "empty.xml", "")
    status, term, _ = run_session(appliance, ["loadconfig empty.xml"])
    assert status == 1
    assert "No data to load." in term.text


def test_loadconfig_missing_file(appliance):
    status, term, session = run_session(appliance, ["loadconfig nope.xml"])
    assert status == 1
    assert 'Error: the file "nope.xml" does not exist.' in term.text
    assert not session.pending


def test_loadconfig_a_directory_is_not_a_file(appliance, tmp_path):
    status, term, _ = run_session(appliance, [f"loadconfig {tmp_path}"])
    assert status == 1
    assert f'Error: "{tmp_path}" is not a regular file.' in term.text


def test_loadconfig_too_many_arguments(appliance):
    status, term, _ = run_session(appliance, ["loadconfig a.xml b.xml"])
    assert status == 1
    assert "Invalid arguments when processing: usage is loadconfig [<file>]" in term.text


def test_loadconfig_bad_method_is_asked_again(appliance):
    status, term, _ = run_session(appliance, ["loadconfig", "3", "1", "."])
    assert status == 1
    assert '"3" is not a valid choice' in term.text
    assert term.prompts.count("[1]> ") == 2


@pytest.mark.parametrize("name", ["../segcli.db", "..", "sub/file.xml", "/etc/hostname", "a\\b.xml"])
def test_remote_session_refuses_paths(appliance, name):
    _save(appliance, "ok.xml", EXAMPLE.read_text())
    status, term, session = _remote(appliance, [f"loadconfig {shlex.quote(name)}"])
    assert status == 1
    assert f'Error: "{name}" is not a file name: only files in the configuration directory' in term.text
    assert not session.pending


def test_remote_session_refuses_links_out_of_the_directory(appliance, tmp_path):
    outside = tmp_path / "outside.xml"
    shutil.copy(EXAMPLE, outside)
    _save(appliance, "placeholder", "")
    (config_dir(appliance.options.data_dir) / "link.xml").symlink_to(outside)
    status, term, session = _remote(appliance, ["loadconfig link.xml"])
    assert status == 1
    assert 'Error: "link.xml" is not a file in the configuration directory.' in term.text
    assert not session.pending
    status, _, session = run_session(appliance, ["loadconfig link.xml"])  # the console may
    assert status == 0
    _check_example(session.config)


def test_remote_session_loads_names_in_the_directory(appliance):
    _save(appliance, "minimal-config.xml", EXAMPLE.read_text())
    status, term, session = _remote(appliance, ["loadconfig minimal-config.xml"])
    assert status == 0, term.text
    _check_example(session.config)


def test_remote_interactive_with_an_empty_directory(appliance):
    status, term, _ = _remote(appliance, ["loadconfig", "2"])
    assert status == 1
    assert "Error: there are no files in the configuration directory." in term.text


# -- rollbackconfig --------------------------------------------------------------------------
def test_rollbackconfig_with_nothing_to_roll_back_to(appliance):
    status, term, _ = run_session(appliance, ["rollbackconfig"])
    assert status == 0
    assert "There are no previous configurations saved for rollback." in term.text
    status, term, session = run_session(appliance, ["rollbackconfig 1"])
    assert status == 1
    assert "Error: There are no previous configurations saved for rollback." in term.text
    assert not session.pending


def _history(appliance) -> None:
    """Factory defaults (1, system), then two commits by different users (2 and 3)."""
    _commit(appliance, f"tdcconfig enable {INTAKE}", "enable TDC", user="alice")
    _commit(appliance, "sethostname gw.example.com", "rename", user="bob")


def test_rollbackconfig_print_lists_previous_commits_newest_first(appliance):
    _history(appliance)
    status, term, _ = run_session(appliance, ["rollbackconfig print"])
    assert status == 0
    v2, v1 = appliance.store.version(2), appliance.store.version(1)
    assert "Previous Commits:" in term.text
    assert f" 1. {cli_time(v2.committed_at):<30}alice         enable TDC\n" in term.text
    assert f" 2. {cli_time(v1.committed_at):<30}system        Factory defaults\n" in term.text
    assert "rename" not in term.text  # the running configuration is not a rollback target


def test_rollbackconfig_interactive_commit_now(appliance):
    _history(appliance)
    v1 = appliance.store.version(1)
    status, term, session = run_session(appliance, ["rollbackconfig", "2", "y"])
    assert status == 0, term.text
    assert "Enter the number of the configuration to revert to." in term.text
    assert "Do you want to commit this configuration now? [N]> " in term.prompts
    assert "Changes committed: " in term.text
    latest = appliance.store.latest()
    assert latest.id == 4
    assert latest.comment == f"Rolled back to the configuration committed {cli_time(v1.committed_at)}"
    assert latest.config == v1.config and latest.rollback
    assert not session.pending


def test_rollbackconfig_interactive_commit_later(appliance):
    _history(appliance)
    v2 = appliance.store.version(2)
    status, term, session = run_session(appliance, ["rollbackconfig", "1", "", "showchanges"])
    assert status == 0, term.text
    assert f"The configuration committed {cli_time(v2.committed_at)} has been loaded." in term.text
    assert "Use the commit command to make these changes active." in term.text
    assert f"Rolled back to the configuration committed {cli_time(v2.committed_at)} by alice" in term.text
    assert session.config == v2.config
    assert appliance.store.latest_version_id() == 3
    assert appliance.config.hostname == "gw.example.com"


def test_rollbackconfig_batch_then_commit(appliance):
    _history(appliance)
    status, term, _ = run_session(appliance, ["rollbackconfig 2", 'commit "back to factory"'])
    assert status == 0, term.text
    latest = appliance.store.latest()
    assert latest.comment == "back to factory"
    assert latest.config == appliance.store.version(1).config


@pytest.mark.parametrize("line,message", [
    ("rollbackconfig 3", "Error: there is no commit number 3: enter a number from 1 to 2"),
    ("rollbackconfig 0", "Error: there is no commit number 0: enter a number from 1 to 2"),
    ("rollbackconfig two", "Invalid arguments when processing: usage is rollbackconfig"),
    ("rollbackconfig -1", "Invalid arguments when processing: usage is rollbackconfig"),
    ("rollbackconfig 1 2", "Invalid arguments when processing: usage is rollbackconfig"),
])
def test_rollbackconfig_bad_batch_input_changes_nothing(appliance, line, message):
    _history(appliance)
    status, term, session = run_session(appliance, [line, 'commit "x"'])
    assert status == 1
    assert message in term.text
    assert not session.pending
    assert appliance.store.latest_version_id() == 3


def test_rollbackconfig_bad_interactive_number_is_asked_again(appliance):
    _history(appliance)
    status, term, session = run_session(appliance, ["rollbackconfig", "5", "x", "1", "n"])
    assert status == 1  # wrong answers are reported to scripts
    assert term.text.count("The value must be an integer from 1 to 2.") == 2
    assert session.config == appliance.store.version(2).config


def test_rollbackconfig_blank_answer_goes_back(appliance):
    _history(appliance)
    status, term, session = run_session(appliance, ["rollbackconfig", ""])
    assert status == 0
    assert not session.pending
    assert "Do you want to commit" not in term.text


def test_rollbackconfig_with_pending_changes(appliance):
    _history(appliance)
    status, term, session = run_session(appliance, ["sethostname other.example.com", "rollbackconfig", ""])
    assert status == 0
    assert "Do you want to discard your uncommitted changes? [N]> " in term.prompts
    assert "Previous Commits:" not in term.text
    assert session.config.hostname == "other.example.com"
    status, term, session = run_session(
        appliance, ["sethostname other.example.com", "rollbackconfig", "y", "2", "n"])
    assert status == 0, term.text
    assert [type(c) for c in session.pending.changes] == [ReplaceConfig]
    assert session.config == appliance.store.version(1).config
    status, term, session = run_session(appliance, ["sethostname other.example.com", "rollbackconfig 1"])
    assert status == 1
    assert "then run rollbackconfig again." in term.text
    assert session.config.hostname == "other.example.com"


def test_rollbackconfig_to_an_identical_configuration(appliance):
    _commit(appliance, "sethostname gw.example.com", "rename")
    _commit(appliance, "sethostname mail1.example.com", "rename back")
    status, term, session = run_session(appliance, ["rollbackconfig 2"])  # factory defaults
    assert status == 0
    assert "No changes detected." in term.text
    assert not session.pending


def test_rollbackconfig_offers_only_rollback_commits_and_at_most_ten(appliance):
    run_session(appliance, ["sethostname a.example.com", "commit", "not saved", "n"])
    for number in range(12):
        _commit(appliance, f"sethostname h{number}.example.com", f"c{number}")
    _status, term, _ = run_session(appliance, ["rollbackconfig print"])
    rows = re.findall(r"^\s*(\d+)\. .* (c\d+)$", term.text, re.M)
    assert rows == [(str(n), f"c{11 - n}") for n in range(1, 11)]  # c11 is running
    assert "not saved" not in term.text and "Factory defaults" not in term.text


def test_rollbackconfig_sees_commits_from_another_process(appliance):
    """The list is read fresh: a commit the poller has not seen yet is the running one."""
    _history(appliance)
    appliance.store.commit_config(lambda c: c, user="carol", comment="elsewhere", rollback=True)
    _status, term, _ = run_session(appliance, ["rollbackconfig print"])
    assert " 1. " in term.text and "bob" in term.text and "elsewhere" not in term.text


# -- help --------------------------------------------------------------------------------
@pytest.mark.parametrize("name,forms", [
    ("showconfig", ["showconfig y|n"]),
    ("saveconfig", ["saveconfig y|n", "saveconfig y 1"]),
    ("loadconfig", ["loadconfig <file>", "Paste via CLI", "Load from file"]),
    ("rollbackconfig", ["rollbackconfig <number>", "rollbackconfig print"]),
])
def test_help_lists_the_batch_forms(appliance, name, forms):
    status, term, _ = run_session(appliance, [f"help {name}"])
    assert status == 0
    for form in forms:
        assert form in term.text


def test_saved_name_uses_utc(appliance, monkeypatch):
    """A zone east of UTC must not leak into the file name."""
    import commands.saveconfig as module

    moment = datetime(2024, 2, 16, 23, 30, 5, tzinfo=UTC).astimezone(timezone(timedelta(hours=5)))
    monkeypatch.setattr(module, "now", lambda: moment)
    run_session(appliance, ["saveconfig y 1"])
    assert _files(appliance) == [f"{MODEL}-{appliance.serial}-20240216T233005.xml"]


def test_loadconfig_of_a_name_too_long(appliance):
    status, terminal, _ = run_session(appliance, ["loadconfig " + "a" * 300 + ".xml"])
    assert status == 1
    assert "too long" in terminal.text and "application fault" not in terminal.text
