"""``tophosts`` against a live engine after real traffic: the figures, not just the headers."""

from __future__ import annotations

import re

import pytest

from engine.smtp.server import Reply
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\s+(\d+)([ *])\s+(\S+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)$",
                         line)
        if match:
            rows[match.group(3)] = [match.group(1), match.group(2), *match.groups()[3:]]
    return rows


async def test_tophosts_counts_deliveries_and_tdc_bounces(gateway):
    gateway.setd.faults["rcpt"] = [Reply(550, "5.1.1 unknown")]  # the first copy hard-bounces
    await gateway.start()
    for n in range(3):
        await gateway.send(f"m{n}")
    tdc = gateway.engine.tdc.counters
    example = gateway.engine.counters.host("example.com")
    # the link says QUIT after its last delivery: wait for it to close too
    await until(lambda: tdc.completed == 3 and tdc.connections_out == 0
                and example.delivered == 3 and example.connections_out == 0)
    ok, text = await gateway.command("tophosts 3")
    assert ok, text
    assert "Status as of:" in text and "Hosts marked with '*' were down" in text
    rows = _rows(text)
    # columns: rank, down-mark, active, conn out, delivered, soft bounced, hard bounced
    assert rows["example.com"][2:] == ["0", "0", "3", "0", "0"]
    assert rows["the.tdc.queue"][2:] == ["0", "0", "2", "0", "1"]
    assert rows["example.com"][0] == "1"  # sorted by delivered, descending (then by name)


async def test_tophosts_shows_active_recipients_while_setd_is_down(gateway, unused_port):
    gateway.config.host_ports["mx.setd.test"] = unused_port
    gateway.config.tdc.timers.time_scale = 1.0  # keep the copies queued for the test
    await gateway.start()
    for n in range(4):
        await gateway.send(f"m{n}")
    await until(lambda: gateway.log().count("enqueued for forwarding") == 4
                and gateway.engine.counters.host("the.tdc.queue").soft_bounced_events >= 1)
    ok, text = await gateway.command("tophosts 1")
    assert ok, text
    rows = _rows(text)
    assert rows["the.tdc.queue"][0] == "1" and rows["the.tdc.queue"][1] == "*"
    assert rows["the.tdc.queue"][2] == "4"
