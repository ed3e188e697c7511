"""A journal copy recovered after a crash has a whole history (issue 10, item 3): the
``enqueued`` line the process died before writing is written at recovery, and a copy
whose line is there gets no second one."""

from __future__ import annotations

import pytest

from engine.config.model import Endpoint
from engine.mail.mail_engine import MailEngine
from engine.store import queue_store
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")

ENQUEUED = " enqueued for forwarding to Cisco Secure Email Threat Defense to the message intake address "


def _enqueued(lines: list[str], mid: int) -> list[str]:
    return [line for line in lines
            if line.startswith(f"TDC: MID {mid} with Message-ID ") and ENQUEUED in line]


def _copy_mid(lines: list[str]) -> int:
    [mid] = [int(line.split()[2]) for line in lines
             if line.startswith("TDC: MID ") and " was generated based on MID " in line]
    return mid


async def _restart(gateway) -> MailEngine:
    engine = MailEngine(gateway.engine.store, gateway.engine.data_dir, lambda: gateway.config,
                        version="15.5.1-055", serial="S")
    await engine.start(Endpoint("127.0.0.1", 0))
    await engine.recovery  # the stored queue is back (start recovers it in the background)
    return engine


async def test_a_copy_stored_before_its_enqueued_line_gets_it_at_recovery(gateway):
    await gateway.start()
    # the process dies between "was generated based on" and "enqueued": the copy is stored,
    # its line never written
    gateway.engine.tdc.enqueue = lambda copy, **_: None
    await gateway.send("hello")
    await until(lambda: len(gateway.sink.messages) == 1)
    await gateway.engine.settled()
    mid = _copy_mid(gateway.lines())
    assert _enqueued(gateway.lines(), mid) == []
    await gateway.engine.stop()
    stored = queue_store.message_body(gateway.engine.store.engine, mid)
    assert b"hello" in stored

    engine = await _restart(gateway)
    try:
        await until(lambda: len(gateway.setd.messages) == 1)
        await until(lambda: engine.counters.host("the.tdc.queue").delivered == 1)
    finally:
        await engine.stop()
    # recovered without its body (read from the store as it is sent): the copy stored
    [(_, _, data, _)] = gateway.setd.messages
    assert data.rstrip(b"\r\n") == stored.rstrip(b"\r\n")
    lines = gateway.lines()
    [line] = _enqueued(lines, mid)
    assert line.endswith(f"address {gateway.config.tdc.intake_address}")
    assert lines.index(line) < lines.index(
        f"TDC: MID {mid} successfully delivered for scanning with Cisco Secure Email Threat Defense.")


async def test_a_recovered_copy_with_its_enqueued_line_gets_no_second_one(gateway, unused_port):
    gateway.config.host_ports["mx.setd.test"] = unused_port  # the copy stays queued
    gateway.config.tdc.timers.retry_delay = 600
    await gateway.start()
    await gateway.send("hello")
    await until(lambda: gateway.engine.counters.host("the.tdc.queue").soft_bounced_events == 1)
    mid = _copy_mid(gateway.lines())
    await gateway.engine.stop()

    engine = await _restart(gateway)
    try:
        await until(lambda: engine.counters.host("the.tdc.queue").active == 1)
        queue = engine.counters.host("the.tdc.queue")  # tried before: attempted again
        assert (queue.attempted, queue.unattempted) == (1, 0)
        engine.records.flush()
    finally:
        await engine.stop()
    assert len(_enqueued(gateway.lines(), mid)) == 1
