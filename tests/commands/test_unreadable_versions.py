"""``commit``, ``showconfig`` and ``rollbackconfig`` on a data directory whose latest
committed version cannot be read (as the old control-character bug left it)."""

from __future__ import annotations

import asyncio

import pytest

from engine.appliance import Appliance, StartOptions
from engine.config.model import Config
from engine.config.xml_document import to_xml
from engine.observe.timestamps import cli_time
from tests.conftest import run_session
from tests.engine.store.unreadable import GOOD_HOSTNAME, brick, insert_version


@pytest.fixture
def bricked(data_dir):
    """An appliance started on versions 1 (factory), 2 (renamed) and 3 (unreadable)."""
    brick(data_dir)
    appliance = Appliance.open(StartOptions(data_dir=data_dir))
    yield appliance
    asyncio.run(appliance.stop())


def _when(appliance: Appliance, version_id: int) -> str:
    return cli_time(appliance.store.version(version_id).committed_at)


def test_showconfig_shows_the_version_that_runs(bricked):
    status, term, _ = run_session(bricked, ["showconfig n"])
    assert status == 0, term.text
    assert f"<hostname>{GOOD_HOSTNAME}</hostname>" in term.text
    assert term.text.startswith(f"{GOOD_HOSTNAME}> ")


def test_commit_works_and_supersedes_the_unreadable_version(bricked):
    status, term, _ = run_session(bricked, ["policyconfig incoming new px @x.example.com",
                                            'commit "after the repair"'])
    assert status == 0, term.text
    assert "An application fault occurred" not in term.text
    latest, skipped = bricked.store.latest_readable()
    assert (latest.id, latest.comment, skipped) == (4, "after the repair", [])
    assert latest.config.hostname == GOOD_HOSTNAME
    assert latest.config.incoming.names == ["px", "DEFAULT"]


def test_rollbackconfig_lists_the_unreadable_version_as_such(bricked):
    status, term, _ = run_session(bricked, ["rollbackconfig print"])
    assert status == 0, term.text
    assert f" 1. {_when(bricked, 3):<30}admin         bricked (cannot be read)\n" in term.text
    assert f" 2. {_when(bricked, 1):<30}system        Factory defaults\n" in term.text


def test_rollbackconfig_refuses_the_unreadable_version_with_the_reason(bricked):
    status, term, _ = run_session(bricked, ["rollbackconfig 1", 'commit "x"'])
    assert status == 1
    assert (f"Error: The configuration committed {_when(bricked, 3)} cannot be read (Parsing "
            "failed: not well-formed XML at line 54, column 21.): choose another one.") in term.text
    assert "There is no data to commit." in term.text
    assert bricked.store.latest_version_id() == 3


def test_rollbackconfig_asks_again_then_rolls_back_to_a_readable_version(bricked):
    status, term, _ = run_session(bricked, ["rollbackconfig", "1", "2", "y"])
    assert status == 1  # a wrong answer was given
    assert "cannot be read (Parsing failed" in term.text
    assert "Changes committed: " in term.text
    latest = bricked.store.latest()
    assert latest.id == 4 and latest.config == bricked.store.version(1).config


def test_a_comment_stored_with_control_characters_is_shown_escaped(data_dir):
    """Commit comments were not checked before: one stored then must not drive the
    terminal of whoever lists the commits."""
    insert_version(data_dir, to_xml(Config()), comment="bad\x1b[2Jcomment")
    insert_version(data_dir, to_xml(Config()), comment="latest")
    appliance = Appliance.open(StartOptions(data_dir=data_dir))
    try:
        _, term, _ = run_session(appliance, ["rollbackconfig print"])
    finally:
        asyncio.run(appliance.stop())
    assert "bad\\x1b[2Jcomment" in term.text
    assert "\x1b" not in term.text
