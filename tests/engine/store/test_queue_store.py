"""The store jobs of the mail path (engine/store/queue_store.py) through the group-commit writer."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from engine.store import queue_store
from engine.store.database import Store
from engine.store.group_commit import GroupCommitWriter
from engine.store.queue_store import DELIVERIES, MESSAGES, NewDelivery, NewMessage
from tests.engine.store.writer_gate import Gate


@pytest.fixture
def store(data_dir):
    store = Store.open(data_dir)
    yield store
    store.close()


def _message(mid: int, **kwargs) -> NewMessage:
    values = dict(mid=mid, icid=7, sender="alice@example.org", recipients=("bob@example.com",),
                  body=b"Subject: hi\r\n\r\nhello\r\n", received_at=1.5, message_id="<m@x>",
                  subject="hi", direction="incoming")
    return NewMessage(**{**values, **kwargs})


def _rows(store, table):
    with store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(select(table))]


def test_accept_work_and_finish_leave_the_rows_as_recovery_reads_them(store):
    writer = GroupCommitWriter(store.engine)
    copy = _message(2, sender="", recipients=("intake@beta.cmd.cisco.com",), kind="journal",
                    origin_mid=1, policy="DEFAULT", state="queued")
    deliveries = [NewDelivery(1, 0, "bob@example.com", "example.com", 2.0, 9.0),
                  NewDelivery(2, 0, "intake@beta.cmd.cisco.com", "the.tdc.queue", 2.0, 3.0)]

    async def flow():
        assert await writer.submit(queue_store.insert_message(_message(1))) == 1
        assert [r["mid"] for r in queue_store.unprocessed_messages(store.engine)] == [1]
        ids = await writer.submit(queue_store.record_work(1, "DEFAULT", "queued", [copy], deliveries))
        active = queue_store.active_deliveries(store.engine)
        assert [r["id"] for r in active] == ids and len(set(ids)) == 2
        assert active[0]["body"] == _message(1).body and active[1]["origin_mid"] == 1
        await writer.submit(queue_store.finish_many([([ids[0]], "delivered", "")]))
        return ids

    ids = asyncio.run(flow())
    writer.close()
    messages = {row["mid"]: row for row in _rows(store, MESSAGES)}
    assert messages[1]["state"] == "done" and messages[1]["body"] == b""  # its only delivery
    assert messages[1]["policy"] == "DEFAULT" and messages[1]["envelope"] == '["bob@example.com"]'
    assert messages[2]["state"] == "queued" and messages[2]["body"] == copy.body
    assert messages[2]["size"] == len(copy.body) and messages[2]["kind"] == "journal"
    states = {row["id"]: (row["state"], row["attempts"]) for row in _rows(store, DELIVERIES)}
    assert states == {ids[0]: ("delivered", 0), ids[1]: ("active", 0)}


def test_a_message_is_done_only_when_its_last_delivery_is(store):
    writer = GroupCommitWriter(store.engine)
    two = [NewDelivery(1, rid, f"r{rid}@example.com", "example.com", 0.0, 9.0) for rid in (0, 1)]

    async def flow():
        await writer.submit(queue_store.insert_message(_message(1)))
        ids = await writer.submit(queue_store.record_work(1, "DEFAULT", "queued", [], two))
        await writer.submit(queue_store.finish_deliveries([ids[0]], "bounced", "550 no"))
        first = {row["mid"]: row["state"] for row in _rows(store, MESSAGES)}
        await writer.submit(queue_store.finish_many([([ids[1]], "delivered", "")]))
        return first

    first = asyncio.run(flow())
    writer.close()
    assert first == {1: "queued"}
    [message] = _rows(store, MESSAGES)
    assert (message["state"], message["body"]) == ("done", b"")
    errors = sorted((row["state"], row["last_error"]) for row in _rows(store, DELIVERIES))
    assert errors == [("bounced", "550 no"), ("delivered", "")]


def test_tracking_events_are_written_in_order(store):
    writer = GroupCommitWriter(store.engine)

    async def flow():
        await writer.submit(queue_store.add_tracking([(5, 1.0, "one"), (5, 2.0, "two")]))

    asyncio.run(flow())
    writer.close()
    assert queue_store.tracking_events(store.engine, 5) == [(1.0, "one"), (2.0, "two")]


def _statements(store, job) -> list[str]:
    """Run *job* in a transaction of its own; the SQL statements SQLite ran for it (one
    per row of an ``executemany``)."""
    ran: list[str] = []
    with store.engine.begin() as connection:
        raw = connection.connection.driver_connection
        raw.set_trace_callback(ran.append)
        try:
            job(connection)
        finally:
            raw.set_trace_callback(None)
    return ran


@pytest.mark.parametrize(("count", "statements"), [(0, 0), (1, 1), (13, 3), (300, 4)])
def test_tracking_events_go_in_few_statements_and_keep_their_order(store, count, statements):
    """Every statement lets go of the interpreter lock and takes it back: events go as
    multi-row INSERTs, one per power of two in their count (300 = 256 + 32 + 8 + 4)."""
    events = [(7, float(n), f"event {n}") for n in range(count)]
    ran = _statements(store, queue_store.add_tracking(events))
    assert len([s for s in ran if s.startswith("INSERT INTO tracking_events")]) == statements
    assert queue_store.tracking_events(store.engine, 7) == [(at, text) for _, at, text in events]


def _three_messages_delivered_to(store, recipients: int) -> list[int]:
    writer = GroupCommitWriter(store.engine)

    async def stored() -> list[int]:
        ids = []
        for mid in (1, 2, 3):
            await writer.submit(queue_store.insert_message(_message(mid)))
            ids += await writer.submit(queue_store.record_work(mid, "DEFAULT", "queued", [], [
                NewDelivery(mid, rid, f"r{rid}@example.com", "example.com", 0.0, 9.0)
                for rid in range(recipients)]))
        return ids

    ids = asyncio.run(stored())
    writer.close()
    return ids


def test_finished_deliveries_go_one_statement_per_outcome(store):
    ids = _three_messages_delivered_to(store, 2)  # messages 1, 2, 3: two deliveries each
    ran = _statements(store, queue_store.finish_many([
        (ids[0:2], "delivered", ""), ([ids[2]], "bounced", "550 no"), ([ids[3]], "delivered", ""),
        ([ids[4]], "bounced", "550 no"), ([ids[5]], "expired", "")]))
    assert len([s for s in ran if s.startswith("UPDATE deliveries")]) == 3
    states = {row["id"]: (row["state"], row["last_error"]) for row in _rows(store, DELIVERIES)}
    assert states == {ids[0]: ("delivered", ""), ids[1]: ("delivered", ""),
                      ids[2]: ("bounced", "550 no"), ids[3]: ("delivered", ""),
                      ids[4]: ("bounced", "550 no"), ids[5]: ("expired", "")}
    assert {row["mid"]: row["state"] for row in _rows(store, MESSAGES)} == {
        1: "done", 2: "done", 3: "done"}


def test_a_delivery_finished_twice_in_one_job_keeps_the_last_outcome(store):
    ids = _three_messages_delivered_to(store, 1)
    _statements(store, queue_store.finish_many([  # one statement per outcome would end in
        ([ids[0]], "expired", "late"), (ids[0:2], "delivered", ""),  # "delivered" for ids[0]
        ([ids[0]], "expired", "late"), ([ids[1]], "deleted", "")]))
    states = {row["id"]: (row["state"], row["last_error"]) for row in _rows(store, DELIVERIES)}
    assert states == {ids[0]: ("expired", "late"), ids[1]: ("deleted", ""), ids[2]: ("active", "")}
    assert {row["mid"]: row["state"] for row in _rows(store, MESSAGES)} == {
        1: "done", 2: "done", 3: "queued"}


def test_an_open_finish_takes_finishes_until_the_writer_runs_it(store):
    """queue_store.OpenFinishes: one job for the finishes noted until the writer takes it;
    a run again (the savepoint path) writes the same rows."""
    writer = GroupCommitWriter(store.engine)
    deliveries = [NewDelivery(1, rid, f"r{rid}@example.com", "example.com", 0.0, 9.0)
                  for rid in (0, 1, 2)]

    async def stored() -> list[int]:
        await writer.submit(queue_store.insert_message(_message(1)))
        return await writer.submit(queue_store.record_work(1, "DEFAULT", "queued", [], deliveries))

    ids = asyncio.run(stored())
    finishes = queue_store.OpenFinishes()
    assert finishes.add([ids[0]], "delivered") and finishes.add([ids[1]], "delivered")
    gate = Gate()
    gate.hold(writer)
    writer.submit_first(finishes)
    writer.submit_first(finishes)  # as the savepoint path would run it again
    gate.open()
    writer.close()
    assert not finishes.add([ids[2]], "delivered")  # too late: the caller starts a new one
    states = {row["id"]: row["state"] for row in queue_store.active_deliveries(store.engine)}
    assert states == {ids[2]: "active"}


def test_big_bodies_are_written_in_pieces_and_read_back_whole(store):
    """A body from BODY_IN_PIECES on goes into its row through SQLite's blob I/O (no copy of
    the whole body as a bound parameter): the row holds exactly its bytes, its size, and a
    small message stored with it in the same job is untouched."""
    writer = GroupCommitWriter(store.engine)
    big = bytes(range(256)) * (queue_store.BODY_IN_PIECES // 256 + 1234)
    copy = _message(2, body=big + b"journal", kind="journal", origin_mid=1, state="queued")
    small = _message(3, kind="journal", origin_mid=1, state="queued")
    deliveries = [NewDelivery(1, 0, "bob@example.com", "example.com", 2.0, 9.0)]

    async def flow():
        await writer.submit(queue_store.insert_message(_message(1, body=big)))
        await writer.submit(queue_store.record_work(1, "DEFAULT", "queued", [copy, small],
                                                    deliveries))

    asyncio.run(flow())
    writer.close()
    messages = {row["mid"]: row for row in _rows(store, MESSAGES)}
    assert messages[1]["body"] == big and messages[1]["size"] == len(big)
    assert messages[2]["body"] == big + b"journal" and messages[2]["size"] == len(big) + 7
    assert messages[3]["body"] == small.body
