"""Helpers for the in-process tests of the mail configuration commands."""

from __future__ import annotations

from engine.config.model import Config
from tests.conftest import run_session

COMMIT = 'commit "test"'


def committed(appliance) -> Config:
    """The configuration as stored by the last commit (read back from the database)."""
    return appliance.store.latest().config


def seed(appliance, *lines: str) -> None:
    """Commit *lines* (one-line forms) so a test starts from a known configuration."""
    status, term, _ = run_session(appliance, [*lines, COMMIT])
    assert status == 0, term.text
    assert "Changes committed: " in term.text


def run_and_commit(appliance, lines: list[str]) -> tuple[int, str]:
    """Run *lines* then commit; the exit status and the transcript."""
    status, term, _ = run_session(appliance, [*lines, COMMIT])
    return status, term.text


def assert_refused(appliance, line: str, message: str) -> None:
    """A one-line form that fails with *message*, leaves nothing pending and commits nothing."""
    before = appliance.store.latest_version_id()
    status, term, session = run_session(appliance, [line])
    assert status == 1, term.text
    assert message in term.text, term.text
    assert not session.pending
    assert appliance.store.latest_version_id() == before
