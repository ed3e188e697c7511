"""Which process runs the appliance of a data directory.

One process is one appliance: the first ``segcli`` on a data directory takes this
lock and runs the services; later ones attach to the same store as extra consoles
(their commits reach the running appliance through the store).

Tests: tests/e2e/test_console.py.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_FILE = "segcli.pid"


class InstanceLock:
    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return True

    def holder(self) -> int | None:
        """The pid of the process running the appliance, if it wrote one."""
        try:
            text = self.path.read_text().strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
