"""Delivery connections wait for mail that is on its way to their destination's queue, and
close as soon as nothing more is coming."""

from __future__ import annotations

import asyncio

import pytest

from engine.mail import delivery
from engine.mail.clock import LOOP_CLOCK
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


async def test_a_stream_of_mail_reuses_the_connections(gateway, monkeypatch):
    monkeypatch.setattr(delivery, "IDLE_HOLD", 30.0)  # closing must not wait for the hold
    await gateway.start()
    host = gateway.engine.counters.host("example.com")
    for wave in range(4):  # several clients at once, wave after wave
        await asyncio.gather(*[gateway.send(f"w{wave} m{n}") for n in range(5)])
    await until(lambda: host.delivered == 20)
    assert gateway.sink.connections < 20  # a connection carried several of them
    await until(lambda: gateway.sink.open_connections == 0, timeout=10)


async def test_a_connection_closes_at_once_when_nothing_more_is_coming(gateway, monkeypatch):
    monkeypatch.setattr(delivery, "IDLE_HOLD", 30.0)
    await gateway.start()
    await gateway.send("alone")
    await until(lambda: gateway.engine.counters.host("example.com").delivered == 1)
    await until(lambda: gateway.sink.open_connections == 0, timeout=5)
    destination = gateway.engine.delivery._destinations["example.com"]
    assert destination.coming == 0 and not destination.idle


async def test_suspending_delivery_closes_a_connection_waiting_for_mail(gateway, monkeypatch):
    monkeypatch.setattr(delivery, "IDLE_HOLD", 30.0)
    await gateway.start()
    queues = gateway.engine.delivery
    destination = queues._destinations["example.com"]
    queues.expect(["example.com"])  # as if a message for example.com were in the work queue
    try:
        await gateway.send("first")
        await until(lambda: len(destination.idle) == 1)  # its connection waits for more
        queues.suspend()
        await until(lambda: gateway.sink.open_connections == 0, timeout=5)
    finally:
        queues.resume()
        queues.arrived(["example.com"])


async def test_when_nothing_more_is_coming_every_idle_link_wakes(gateway):
    """The last message's shipment is ready for one idle link: the others must not wait out
    the idle hold with nothing to carry (they close; the one that takes it carries it)."""
    queues = gateway.engine.delivery
    destination = queues._destinations["example.com"]
    waiters = [asyncio.ensure_future(destination.idle.wait(LOOP_CLOCK, 60.0)) for _ in range(3)]
    await asyncio.sleep(0)  # each of them waits
    queues.expect(["example.com"])
    destination.ready.append(object())  # the last message's shipment, just queued
    queues.arrived(["example.com"])
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1.0) == [True, True, True]
    destination.ready.clear()
