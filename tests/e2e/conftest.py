"""Fixtures for end-to-end runs of real ``segcli`` processes under a pty."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.pty_console import Segcli
from tests.e2e.ssh_fixtures import client_key, ssh_appliance  # noqa: F401 - the SSH tests' fixtures


@pytest.fixture
def spawn(data_dir: Path) -> Iterator[Callable[..., Segcli]]:
    """``spawn(*args, data=..., **options)`` starts segcli on the test's data directory
    (or *data*); every process started is stopped at teardown, whatever the outcome."""
    started: list[Segcli] = []

    def start(*args: str, data: Path | None = None, **options) -> Segcli:
        process = Segcli.spawn(data or data_dir, *args, **options)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()
    assert not [p.child.pid for p in started if p.child.isalive()], "a segcli process was left running"
