"""``workqueue pause`` in the engine: accepted mail waits in the store, unprocessed, until
resume (or a restart); nothing is lost either way."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text

from engine.config.model import Endpoint
from engine.mail.mail_engine import MailEngine
from engine.store import queue_store
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _states(engine: MailEngine) -> list[str]:
    with engine.store.engine.connect() as connection:
        return [row[0] for row in connection.execute(
            text("SELECT state FROM messages WHERE kind = 'inbound' ORDER BY mid"))]


async def _held_while_paused(gateway, count: int) -> None:
    """Pause, send *count* messages (all acknowledged), and show none was processed."""
    engine = gateway.engine
    assert engine.pause_work("admin", "maintenance")
    assert not engine.pause_work("operator", "again")  # the first pause stands
    for n in range(count):
        await gateway.send(f"held {n}")
    await asyncio.sleep(0.3)  # time enough for the work queue, had it run
    assert engine.work_pause.user == "admin" and engine.work_pause.reason == "maintenance"
    assert engine.counters.system.messages_in_work_queue == count
    assert _states(engine) == ["work"] * count
    assert "matched all recipients" not in gateway.log()
    assert not gateway.sink.messages and not gateway.setd.messages


async def test_paused_work_queue_holds_mail_and_resume_processes_all_of_it(gateway):
    await gateway.start()
    await _held_while_paused(gateway, 3)
    assert gateway.engine.resume_work() == 3
    assert gateway.engine.work_pause is None
    await until(lambda: len(gateway.sink.messages) == 3 and len(gateway.setd.messages) == 3)
    # the sink has a message before the gateway has read its 250 and stored the outcome
    await until(lambda: [s for s in _states(gateway.engine) if s != "done"] == [])
    assert gateway.engine.counters.system.messages_in_work_queue == 0
    assert gateway.engine.resume_work() == 0  # not paused: nothing to do


async def test_mail_held_by_a_pause_is_processed_after_a_restart(gateway):
    await gateway.start()
    await _held_while_paused(gateway, 2)
    await gateway.engine.stop()
    engine = MailEngine(gateway.engine.store, gateway.engine.data_dir, lambda: gateway.config,
                        version="15.5.1-055", serial="S")
    try:
        await engine.start(Endpoint("127.0.0.1", 0))
        assert engine.work_pause is None  # a pause lasts as long as the process
        await until(lambda: len(gateway.sink.messages) == 2 and len(gateway.setd.messages) == 2)
    finally:
        await engine.stop()


async def test_a_restart_queues_each_delivery_once_however_slow_the_store(
        gateway, monkeypatch, unused_port):
    """Recovery reads the stored deliveries before the held mail is processed again: the
    work queue's own deliveries must not be read back and queued a second time."""
    await gateway.start()
    await _held_while_paused(gateway, 2)
    await gateway.engine.stop()
    for host in ("mx.example.com", "mx.setd.test"):  # nothing leaves: the queues stay full
        gateway.config.host_ports[host] = unused_port
    gateway.config.delivery.initial_retry = 600
    gateway.config.tdc.timers.time_scale = 1.0  # the copies wait 10 s for their retry
    read_page = queue_store.active_deliveries_page

    def slow_read(*args):
        time.sleep(1.0)  # a slow disk: time enough for held mail to be processed meanwhile
        return read_page(*args)

    monkeypatch.setattr(queue_store, "active_deliveries_page", slow_read)
    engine = MailEngine(gateway.engine.store, gateway.engine.data_dir, lambda: gateway.config,
                        version="15.5.1-055", serial="S")
    try:
        await engine.start(Endpoint("127.0.0.1", 0))  # recovers in the background
        await engine.recovery
        await until(lambda: engine.counters.system.messages_in_work_queue == 0)
        assert engine.counters.host("example.com").active == 2
        assert engine.counters.host("the.tdc.queue").active == 2
    finally:
        await engine.stop()
