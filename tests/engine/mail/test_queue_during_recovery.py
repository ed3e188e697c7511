"""Operators' commands on the queue given while a restart is still reading it back
(engine/mail/queue_operations.py): they reach every stored recipient, those already read
and those read after the command, exactly as if the whole queue had been in memory.

The queue is built through real SMTP, the engine stopped, and a second engine started on
the same store with a recovery page of 3 rows, so that the recovery takes many loop
turns; each command is given as soon as the first page is queued.  Each test then proves,
from the store's rows, the mail log and what the servers received, that every recipient
got the command once, and that nothing was delivered twice or lost.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from engine.config.model import Endpoint
from engine.mail.mail_engine import MailEngine
from engine.store import queue_store
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")

MESSAGES = 24
LOCAL = [f"c{n}@example.com" for n in range(4)]  # each message: 4 here ...
EU = [f"e{n}@eu.example.com" for n in range(3)]  # ... and 3 at another destination


@pytest.fixture
def queued(run, gateway, unused_port):
    """A gateway whose queue holds MESSAGES messages for two unreachable destinations,
    and their journal copies for an unreachable SETD (delivery suspended meanwhile, so
    nothing is attempted before the restart)."""
    gateway.dns_zone.add_mail_domain("eu.example.com", "mx.eu.example.com")
    ports = gateway.config.host_ports
    sink_port = ports["mx.example.com"]
    for host in ("mx.example.com", "mx.eu.example.com", "mx.setd.test"):
        ports[host] = unused_port
    gateway.config.tdc.timers.time_scale = 10.0  # copies wait 100 s for their retry
    yield gateway, sink_port
    run(gateway.engine.stop())  # the restarted engine (the gateway fixture stops the first)


async def _fill_and_restart(gateway, *, suspended: bool = False) -> MailEngine:
    """Queue the messages through SMTP, stop, and start a new engine on the same store; it
    returns once the first page of the recovery is queued (many more are to come).
    *suspended*: the new engine starts with delivery suspended (``suspenddel``), so that no
    journal copy is in flight when the command comes (a copy is handed to its connection
    before it connects; one in flight is not the command's, as on the appliance)."""
    await gateway.start()
    await gateway.command("suspenddel")
    for n in range(MESSAGES):
        await gateway.send(f"queued {n}", recipients=(*LOCAL, *EU))
    await until(lambda: gateway.log().count("enqueued for forwarding") == MESSAGES)
    await gateway.engine.settled()
    await gateway.engine.stop()
    engine = MailEngine(gateway.engine.store, gateway.engine.data_dir, lambda: gateway.config,
                        version="15.5.1-055", serial="S")
    engine.recovery_page = 3
    gateway.engine = engine  # commands now reach it; the fixture ``queued`` stops it
    if suspended:
        engine.suspend_delivery()
    await engine.start(Endpoint("127.0.0.1", 0))
    while engine.recovered_recipients == 0:
        await asyncio.sleep(0)  # one loop turn at a time: the first page, not more
    return engine


async def _command_mid_recovery(gateway, engine: MailEngine, line: str) -> str:
    ok, text = await gateway.command(line)
    assert ok, text
    assert engine.recovering, "the recovery ended before the command: the test proves nothing"
    assert "The queue is still being read after the restart" in text
    await engine.recovery
    assert not engine.recovering
    await engine.settled()
    return text


def _rows(engine: MailEngine) -> list[dict]:
    table = queue_store.DELIVERIES
    with engine.store.engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(
            select(table.c.mid, table.c.recipient, table.c.destination, table.c.state))]


def _states(rows: list[dict], destination: str) -> dict[str, int]:
    states: dict[str, int] = {}
    for row in rows:
        if row["destination"] == destination:
            states[row["state"]] = states.get(row["state"], 0) + 1
    return states


def _count_in(text: str, word: str) -> int:
    [line] = [line for line in text.splitlines() if line.endswith(f" recipient(s) {word}.")]
    return int(line.split()[0])


async def test_deleterecipients_during_recovery_deletes_every_stored_recipient(queued):
    gateway, sink_port = queued
    engine = await _fill_and_restart(gateway)
    text = await _command_mid_recovery(gateway, engine, "deleterecipients host example.com")
    now = _count_in(text, "deleted")
    assert 0 < now < MESSAGES * len(LOCAL)  # some in memory, the rest read afterwards
    rows = _rows(engine)
    assert _states(rows, "example.com") == {"deleted": MESSAGES * len(LOCAL)}
    assert _states(rows, "eu.example.com") == {"active": MESSAGES * len(EU)}
    assert _states(rows, "the.tdc.queue") == {"active": MESSAGES}
    host = engine.counters.host("example.com")
    assert (host.deleted, host.active) == (MESSAGES * len(LOCAL), 0)
    deleted = [line for line in gateway.lines() if line.endswith(" deleted from the queue by admin")]
    assert len(deleted) == MESSAGES  # one line per message, none twice
    # the destination that was not deleted comes back: each of its recipients arrives once
    gateway.config.host_ports["mx.eu.example.com"] = sink_port
    await gateway.command("delivernow all")
    await until(lambda: engine.counters.host("eu.example.com").delivered == MESSAGES * len(EU))
    received = sorted(r for _, recipients, *_ in gateway.sink.messages for r in recipients)
    assert received == sorted(EU * MESSAGES)


async def test_deleterecipients_all_during_recovery_takes_the_journal_copies_too(queued):
    gateway, _ = queued
    engine = await _fill_and_restart(gateway, suspended=True)
    await _command_mid_recovery(gateway, engine, "deleterecipients all")
    rows = _rows(engine)
    assert {row["state"] for row in rows} == {"deleted"}
    assert len(rows) == MESSAGES * (len(LOCAL) + len(EU) + 1)
    assert engine.tdc.active == 0 and engine.counters.host("the.tdc.queue").deleted == MESSAGES
    assert sum(host.active for host in engine.counters.hosts.values()) == 0


async def test_bouncerecipients_during_recovery_bounces_each_message_once(queued):
    gateway, _ = queued
    engine = await _fill_and_restart(gateway)
    text = await _command_mid_recovery(gateway, engine, "bouncerecipients sender alice@example.org")
    assert 0 < _count_in(text, "bounced") < MESSAGES * (len(LOCAL) + len(EU))
    rows = _rows(engine)
    for destination in ("example.com", "eu.example.com"):
        assert set(_states(rows, destination)) == {"bounced"}, destination
    assert _states(rows, "the.tdc.queue") == {"active": MESSAGES}  # a copy's sender is null
    # one DSN per message and destination, each to the sender, none twice
    await until(lambda: len(gateway.senders.messages) == 2 * MESSAGES)
    await asyncio.sleep(0.3)
    assert len(gateway.senders.messages) == 2 * MESSAGES
    assert {tuple(recipients) for _, recipients, *_ in gateway.senders.messages} == \
        {("alice@example.org",)}


async def test_redirectrecipients_during_recovery_sends_every_recipient_there_once(queued):
    gateway, _ = queued
    engine = await _fill_and_restart(gateway)
    await _command_mid_recovery(gateway, engine, "redirectrecipients example.org")
    total = MESSAGES * (len(LOCAL) + len(EU))
    await until(lambda: engine.counters.host("example.org").delivered == total)
    await engine.settled()
    received = sorted(r for _, recipients, *_ in gateway.senders.messages for r in recipients)
    assert received == sorted((LOCAL + EU) * MESSAGES)  # every one, once
    rows = _rows(engine)
    assert _states(rows, "example.org") == {"delivered": total}  # stored: a restart keeps it
    assert _states(rows, "the.tdc.queue") == {"active": MESSAGES}  # copies stay for SETD
    assert gateway.sink.messages == []
