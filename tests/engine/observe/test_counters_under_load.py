"""Counters are exact under load with injected faults: for the.tdc.queue, delivered + hard
bounced (all causes) + active = journal copies made, at every moment and at the end, and
tophosts/hoststatus print exactly those figures."""

from __future__ import annotations

import asyncio
import re

import pytest

from engine.smtp.server import DISCONNECT, Reply
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")
MESSAGES = 40


async def test_tdc_counters_add_up_under_faults(gateway):
    # Faults strike the next copies in turn: a permanent refusal, temporary ones (one
    # retry each, some recovering), a disconnect after the dot.
    gateway.setd.faults["rcpt"] = [Reply(550, "5.1.1 gone")] * 3 + [Reply(451, "4.3.0 later")] * 6
    gateway.setd.faults["eom"] = [None, DISCONNECT, None, DISCONNECT]
    await gateway.start()
    tdc = gateway.engine.tdc.counters
    checks = []

    async def watch():
        while True:
            made = gateway.log().count("enqueued for forwarding")
            checks.append((made, tdc.delivered + tdc.hard_bounced_total + tdc.active))
            await asyncio.sleep(0.01)

    watcher = asyncio.ensure_future(watch())
    try:
        await asyncio.gather(*[gateway.send(f"load {n}") for n in range(MESSAGES)])
        await until(lambda: tdc.completed == MESSAGES and tdc.active == 0, timeout=60)
    finally:
        watcher.cancel()
    assert tdc.delivered + tdc.hard_bounced_total == MESSAGES
    assert tdc.hard_bounced["5xx"] >= 3 and tdc.soft_bounced_events >= 6
    assert len(gateway.setd.messages) >= tdc.delivered  # at least once: every delivered copy arrived
    # The invariant held at every sample, not just at the end (the log is flushed per turn,
    # so a sample may see a copy counted before its line is written: made <= counted).
    assert all(made <= counted <= MESSAGES for made, counted in checks)

    ok, text = await gateway.command("tophosts 3")
    assert ok, text
    row = re.search(r"the\.tdc\.queue\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)", text)
    active, _conn, delivered, soft, hard = (int(v.replace(",", "")) for v in row.groups())
    assert (active, delivered, soft, hard) == (0, tdc.delivered, tdc.soft_bounced_events,
                                               tdc.hard_bounced_total)
    ok, text = await gateway.command("hoststatus the.tdc.queue")
    assert ok, text
    figures = dict(re.findall(r"^\s+([A-Z][A-Za-z0-9 ]+?)\s{2,}([\d,]+)$", text, re.M))
    assert int(figures["Delivered Recipients"]) + int(figures["Hard Bounced Recipients"]) == MESSAGES
    assert int(figures["Completed Recipients"]) == MESSAGES
    assert gateway.engine.counters.host("example.com").delivered == MESSAGES
