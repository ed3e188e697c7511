"""The group-commit writer's order: work submitted first makes the commit being built.

Each test holds the writer inside a transaction with a job that waits on a gate
(tests/engine/store/writer_gate.py), submits work while it waits, then opens the gate:
what runs in which commit is then fixed, whatever the threads' timing.  A job notes ``writer.batches`` (the
commits so far) when it runs, so jobs that saw the same figure shared a commit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import Connection

from engine.store import queue_store
from engine.store.database import Store
from engine.store.group_commit import GroupCommitWriter
from tests.engine.store.writer_gate import Gate


@pytest.fixture
def store(data_dir):
    store = Store.open(data_dir)
    yield store
    store.close()


def noting(writer: GroupCommitWriter, ran: list[tuple[str, int]], name: str,
           then: Callable[[Connection], None] | None = None) -> Callable[[Connection], None]:
    """A job that notes its name and the commits so far when it runs (then does *then*)."""
    def job(connection: Connection) -> None:
        ran.append((name, writer.batches))
        if then is not None:
            then(connection)
    return job


def test_work_submitted_first_makes_the_commit_the_writer_is_running(store):
    writer = GroupCommitWriter(store.engine, max_batch=1)
    ran: list[tuple[str, int]] = []
    gate = Gate()
    gate.hold(writer)
    writer.submit_nowait(noting(writer, ran, "queued before"))
    writer.submit_first(noting(writer, ran, "first"))
    gate.open()
    writer.close()
    # in the gate's commit (the first), ahead of what was queued before it
    assert ran == [("first", 0), ("queued before", 1)]


def test_work_submitted_first_to_an_idle_writer_is_committed(store):
    writer = GroupCommitWriter(store.engine)
    writer.submit_first(queue_store.add_tracking([(5, 1.0, "delivered")]))

    async def settled() -> None:
        await writer.submit(lambda _connection: None)

    asyncio.run(settled())
    assert queue_store.tracking_events(store.engine, 5) == [(1.0, "delivered")]
    writer.close()


def test_a_late_joiner_that_fails_leaves_the_others_committed_once(store):
    """The batch a late joiner joined takes the slow path when it fails: every other
    piece is run again in a savepoint of its own and committed once."""
    writer = GroupCommitWriter(store.engine)
    gate = Gate()
    gate.hold(writer)
    writer.submit_first(queue_store.add_tracking([(5, 1.0, "delivered")]))

    def fails(_connection: Connection) -> None:
        raise RuntimeError("this piece fails")

    writer.submit_first(fails)
    gate.open()
    writer.close()
    assert queue_store.tracking_events(store.engine, 5) == [(1.0, "delivered")]
    assert writer.batches == 1


def test_a_loop_turns_work_is_handed_over_together_in_order(store):
    """What one loop turn submits reaches the writer at the turn's end, all at once: one
    commit, in the order submitted, each future resolved once it is durable."""
    writer = GroupCommitWriter(store.engine)
    ran: list[tuple[str, int]] = []

    async def one_turn() -> list[str]:
        futures = [writer.submit(noting(writer, ran, "a")),
                   writer.submit(noting(writer, ran, "b"))]
        writer.submit_nowait(noting(writer, ran, "c"))
        futures.append(writer.submit(lambda _connection: "d"))
        assert ran == []  # nothing handed over yet: the turn has not ended
        return await asyncio.gather(*futures)

    assert asyncio.run(one_turn()) == [None, None, "d"]
    writer.close()
    assert ran == [("a", 0), ("b", 0), ("c", 0)] and writer.batches == 1


def test_work_not_yet_handed_over_is_committed_at_close(store):
    writer = GroupCommitWriter(store.engine)

    async def submit_and_close() -> None:
        writer.submit_nowait(queue_store.add_tracking([(7, 2.0, "queued")]))
        writer.close()  # before the turn ends

    asyncio.run(submit_and_close())
    assert queue_store.tracking_events(store.engine, 7) == [(2.0, "queued")]
