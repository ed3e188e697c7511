"""Lifetime and since-reset counters survive a restart of the engine on the same store,
saved through the group-commit writer (engine/observe/counter_store.py)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.config.model import Endpoint
from engine.mail.mail_engine import MailEngine
from engine.observe.counter_store import CounterStore
from engine.observe.counters import Column
from engine.store.models import LifetimeCounterRow
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _restarted(gateway) -> MailEngine:
    old = gateway.engine
    return MailEngine(old.store, old.data_dir, lambda: gateway.config, version="15.5.1-055",
                      serial="S")


async def test_lifetime_and_reset_columns_survive_a_restart(gateway):
    await gateway.start()
    for n in range(3):
        await gateway.send(f"m{n}")
    example = gateway.engine.counters.host("example.com")
    await until(lambda: example.delivered == 3 and gateway.engine.tdc.counters.delivered == 3)
    await gateway.engine.stop()
    engine = _restarted(gateway)
    try:
        await engine.start(Endpoint("127.0.0.1", 0))
        totals = engine.counters.totals()
        assert totals["messages_received"] == Column(reset=3, uptime=0, lifetime=3)
        assert totals["delivered"] == Column(reset=6, uptime=0, lifetime=6)  # 3 + 3 copies
        assert engine.counters.hosts.get("example.com") is None  # tophosts starts afresh
        reset_at = await engine.counter_store.reset()
    finally:
        await engine.stop()
    again = _restarted(gateway)
    try:
        await again.start(Endpoint("127.0.0.1", 0))
        totals = again.counters.totals()
        assert totals["messages_received"] == Column(reset=0, uptime=0, lifetime=3)
        assert again.counters.reset_at == reset_at
    finally:
        await again.stop()


async def test_counters_are_saved_periodically_without_a_stop(gateway):
    engine = gateway.engine
    engine.counter_store = CounterStore(engine.counters, engine.store.engine, engine.writer,
                                        interval=0.05)
    await gateway.start()
    await gateway.send("periodic")

    def stored() -> dict[tuple[str, str], int]:
        with engine.store.engine.connect() as connection:
            rows = connection.execute(select(LifetimeCounterRow.__table__)).all()
        return {(row.scope, row.name): row.lifetime for row in rows}
    await until(lambda: stored().get(("", "messages_received")) == 1
                and stored().get(("example.com", "delivered")) == 1)
