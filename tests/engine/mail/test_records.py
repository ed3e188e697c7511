"""MailRecords' outcomes of stored deliveries, and when they reach the store.

A delivered outcome (the next hop said ``250``) is handed to the writer within the call,
before the event loop turns, and makes the commit the writer is running: until it is
durable, a crash delivers the message again.  The other outcomes keep their place behind
what was submitted before them in the same loop turn (a bounce message is stored before its
bounced recipients are marked done).

Each test holds the writer inside a transaction (the gate of
tests/engine/store/writer_gate.py), notes an outcome, and opens the gate while the loop
thread waits -- synchronously, so the loop cannot turn -- for that transaction's commit.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Connection, select

from engine.mail.records import MailRecords
from engine.observe.mail_log import MailLog
from engine.store import queue_store
from engine.store.database import Store
from engine.store.group_commit import GroupCommitWriter
from engine.store.queue_store import DELIVERIES, NewDelivery, NewMessage
from tests.engine.store.writer_gate import WAIT, Gate

pytestmark = pytest.mark.usefixtures("run")


@pytest.fixture
def store(data_dir):
    store = Store.open(data_dir)
    yield store
    store.close()


@pytest.fixture
def writer(store):
    writer = GroupCommitWriter(store.engine)
    yield writer
    writer.close()


@pytest.fixture
def records(writer, tmp_path):
    mail_log = MailLog(tmp_path / "logs", version="15.5.1-055", serial="S")
    yield MailRecords(mail_log, writer)
    mail_log.close()


async def _queued(writer: GroupCommitWriter, recipients: int) -> list[int]:
    """A stored message with *recipients* active deliveries; their row ids."""
    message = NewMessage(mid=1, icid=7, sender="alice@example.org",
                         recipients=tuple(f"r{n}@example.com" for n in range(recipients)),
                         body=b"Subject: hi\r\n\r\nhello\r\n", received_at=1.5,
                         message_id="<m@x>", subject="hi", direction="incoming")
    deliveries = [NewDelivery(1, n, f"r{n}@example.com", "example.com", 0.0, 9.0)
                  for n in range(recipients)]
    await writer.submit(queue_store.insert_message(message))
    return await writer.submit(queue_store.record_work(1, "DEFAULT", "queued", [], deliveries))


def _states(store: Store) -> dict[int, str]:
    with store.engine.connect() as connection:
        return {row.id: row.state for row in connection.execute(select(DELIVERIES))}


def _commit_without_the_loop(writer: GroupCommitWriter, gate: Gate) -> None:
    """Open the gate and block this (the loop's) thread until the gate's transaction has
    committed: whatever the loop would only do at its next turn is not in it."""
    committed = writer.batches + 1
    gate.open()
    deadline = time.monotonic() + WAIT
    while writer.batches < committed:
        assert time.monotonic() < deadline, "the writer did not commit"
        time.sleep(0.001)


async def test_a_delivered_outcome_makes_the_commit_being_run_before_the_loop_turns(
        store, writer, records):
    [row] = await _queued(writer, 1)
    gate = Gate()
    gate.hold(writer)  # a commit in progress, as under load
    records.finish_deliveries([row], "delivered")
    _commit_without_the_loop(writer, gate)
    assert _states(store) == {row: "delivered"}


async def test_delivered_outcomes_noted_one_after_another_each_reach_the_writer(
        store, writer, records):
    """Noted while the writer holds a job of them open, or after it took it: none is lost."""
    rows = await _queued(writer, 3)
    gate = Gate()
    gate.hold(writer)
    records.finish_deliveries([rows[0]], "delivered")
    records.finish_deliveries([rows[1]], "delivered")  # joins the job not yet run
    _commit_without_the_loop(writer, gate)
    records.finish_deliveries([rows[2]], "delivered")  # that job ran: a new one
    await records.settled()
    assert _states(store) == dict.fromkeys(rows, "delivered")


async def test_a_bounced_outcome_stays_behind_what_follows_it_in_the_same_loop_turn(
        store, writer, records):
    """What a bounce relies on: its message, submitted right after the recipients'
    "bounced" outcome, is stored first (engine/mail/bounces.py)."""
    [row] = await _queued(writer, 1)
    seen: list[str] = []

    def bounce_message(connection: Connection) -> None:  # stands for the bounce's insert
        seen.append(connection.execute(select(DELIVERIES.c.state)).scalar_one())

    gate = Gate()
    gate.hold(writer)
    records.finish_deliveries([row], "bounced", "550 no")
    writer.submit_nowait(bounce_message)
    _commit_without_the_loop(writer, gate)
    await records.settled()
    assert seen == ["active"]
    assert _states(store) == {row: "bounced"}
