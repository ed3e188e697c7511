"""A recorder of what the disk is asked to do (fsync, rename), to check that files the
appliance cannot start without are written durably (tests/engine/test_durable.py,
tests/segcli/ssh/test_keys.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

#: What the disk was asked to do, in order: ("fsync", path) and ("replace", target).
Events = list[tuple[str, str]]


@pytest.fixture
def disk(monkeypatch: pytest.MonkeyPatch) -> Iterator[Events]:
    """Record every fsync (by the path of its descriptor) and every rename."""
    events: Events = []
    fsync, replace = os.fsync, os.replace

    def recording_fsync(descriptor: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        fsync(descriptor)

    def recording_replace(source: str | Path, target: str | Path) -> None:
        replace(source, target)
        events.append(("replace", str(target)))

    monkeypatch.setattr(os, "fsync", recording_fsync)
    monkeypatch.setattr(os, "replace", recording_replace)
    yield events


def assert_durable(events: Events, path: Path) -> None:
    """*path* was written durably: its data fsynced (under a temporary name) before it
    was renamed into place, and its directory fsynced after."""
    renamed = events.index(("replace", str(path)))
    assert any(kind == "fsync" and Path(where).parent == path.parent
               and Path(where).name.startswith(f".{path.name}.")
               for kind, where in events[:renamed]), f"{path} was not fsynced before its rename"
    assert ("fsync", str(path.parent)) in events[renamed:], f"{path.parent} was not fsynced"
