"""Fixtures for end-to-end runs of real ``segcli`` processes under a pty."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.pty_console import Segcli


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
