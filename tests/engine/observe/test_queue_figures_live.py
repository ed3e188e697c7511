"""The queue figures ``status``, ``rate`` and /xml/status read from the store (the queued
messages' size and the oldest of them) after real mail: the same as the computation they
replaced (a scan of every message not ``done``), and answered without reading the
history of done messages (issue 14; benchmarks/monitoring_history.py has the timings)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.observe import stats
from engine.store.queue_store import MESSAGES, QUEUED_STATES
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _previous(engine) -> tuple[int, float | None, tuple[int, float] | None]:
    """What stats computed before: every message not ``done``, read row by row."""
    not_done = MESSAGES.c.state != "done"
    with engine.connect() as connection:
        used, oldest = connection.execute(
            select(func.coalesce(func.sum(MESSAGES.c.size), 0), func.min(MESSAGES.c.received_at))
            .where(not_done)).one()
        row = connection.execute(select(MESSAGES.c.mid, MESSAGES.c.received_at).where(not_done)
                                 .order_by(MESSAGES.c.received_at, MESSAGES.c.mid).limit(1)).first()
    return -(-int(used) // 1024), oldest, None if row is None else (int(row[0]), float(row[1]))


def _current(engine, data_dir) -> tuple[int, float | None, tuple[int, float] | None]:
    usage = stats.queue_usage(engine, data_dir)
    return usage.kilobytes_used, usage.oldest_received_at, stats.oldest_message(engine)


async def test_queue_figures_match_the_full_scan_after_real_mail(gateway, unused_port):
    gateway.dns_zone.add_mail_domain("stuck.example.com", "mx.stuck.example.com")
    gateway.config.host_ports["mx.stuck.example.com"] = unused_port  # never delivered
    await gateway.start()
    engine, store = gateway.engine, gateway.engine.store.engine
    assert _current(engine.store.engine, engine.data_dir) == _previous(store) == (0, None, None)
    for n in range(3):  # history: delivered and journaled, all done
        await gateway.send(f"done {n}")
    await until(lambda: engine.counters.host("example.com").delivered == 3
                and engine.tdc.counters.completed == 3)
    await engine.settled()
    assert _current(store, engine.data_dir) == _previous(store) == (0, None, None)
    await gateway.send("stuck", recipients=("bob@stuck.example.com",))
    await until(lambda: engine.counters.host("stuck.example.com").soft_bounced_events >= 1)
    assert engine.pause_work("admin", "test")
    await gateway.send("waits in the work queue")
    await engine.settled()
    used, oldest, (mid, received_at) = _current(store, engine.data_dir)
    assert (used, oldest, (mid, received_at)) == _previous(store)
    assert used >= 1 and oldest == received_at
    with store.connect() as connection:
        states = dict(connection.execute(select(MESSAGES.c.state, func.count())
                                         .group_by(MESSAGES.c.state)).all())
    assert states["done"] >= 6 and states["queued"] >= 1 and states["work"] == 1, states
    assert set(states) == {"done", *QUEUED_STATES}  # a new state must be named there
    engine.resume_work()


@pytest.mark.parametrize("query", [
    "SELECT coalesce(sum(size), 0), min(received_at) FROM messages "
    "WHERE messages.state IN ('work', 'queued')",
    "SELECT mid, received_at FROM messages WHERE state = 'queued' "
    "ORDER BY received_at, mid LIMIT 1",
])
async def test_queue_figures_read_only_the_queued_messages_index_entries(gateway, query):
    """The plans of the queries stats runs: a search of the queued states' entries of
    the covering index, never a scan of the table (the history)."""
    await gateway.start()
    with gateway.engine.store.engine.connect() as connection:
        plan = " ".join(row[3] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {query}"))
    assert "SEARCH messages USING COVERING INDEX ix_messages_state_received (state=?)" in plan
    assert "SCAN" not in plan, plan
