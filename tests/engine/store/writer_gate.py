"""A gate for the group-commit writer: a job that holds the writer inside its transaction.

Tests submit work while the writer waits in the gate, then open it: which work makes that
transaction's commit is then fixed, whatever the threads' timing.
"""

from __future__ import annotations

import threading

from sqlalchemy import Connection

from engine.store.group_commit import GroupCommitWriter

#: Longest a test waits for the writer's thread (it does not wait at all when all is well).
WAIT = 10.0


class Gate:
    """A job that holds the writer inside its transaction until :meth:`open`."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self._open = threading.Event()

    def __call__(self, _connection: Connection) -> None:
        self.entered.set()
        assert self._open.wait(WAIT), "the test never opened the gate"

    def hold(self, writer: GroupCommitWriter) -> None:
        """Submit the gate and wait until the writer is inside it."""
        writer.submit_nowait(self)
        writer.hand_over()  # now: this thread may be the loop's, which the test blocks
        assert self.entered.wait(WAIT)

    def open(self) -> None:
        self._open.set()
