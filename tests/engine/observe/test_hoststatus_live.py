"""``hoststatus`` against a live engine after real traffic."""

from __future__ import annotations

import re

import pytest

from engine.smtp.server import Reply
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _figure(text: str, label: str) -> int:
    match = re.search(rf"^\s+{re.escape(label)}\s+([\d,]+)$", text, re.M)
    assert match, f"{label!r} not in:\n{text}"
    return int(match.group(1).replace(",", ""))


async def test_hoststatus_of_a_destination_and_of_the_tdc_queue(gateway):
    gateway.setd.faults["rcpt"] = [Reply(550, "5.1.1 unknown")]
    await gateway.start()
    for n in range(3):
        await gateway.send(f"m{n}")
    await until(lambda: gateway.engine.tdc.counters.completed == 3
                and gateway.engine.counters.host("example.com").delivered == 3)
    ok, text = await gateway.command("hoststatus example.com")
    assert ok, text
    assert "Host mail status for: 'example.com'" in text and "Host up/down:         up" in text
    assert _figure(text, "Delivered Recipients") == 3
    assert _figure(text, "Completed Recipients") == 3
    assert _figure(text, "Active Recipients") == 0
    assert "Oldest Message         No Messages" in text
    assert re.search(r"^10\s+127\.0\.0\.1 \(mx\.example\.com port \d+\)$", text, re.M)
    ok, text = await gateway.command("hoststatus the.tdc.queue")
    assert ok, text
    assert _figure(text, "Delivered Recipients") == 2
    assert _figure(text, "5XX Hard Bounces") == 1
    assert _figure(text, "Hard Bounced Recipients") == 1


async def test_hoststatus_shows_a_down_host_its_queue_and_last_error(gateway, unused_port):
    gateway.config.host_ports["mx.example.com"] = unused_port
    await gateway.start()
    await gateway.send("stuck")
    host = gateway.engine.counters.host("example.com")
    await until(lambda: host.soft_bounced_events >= 1)
    ok, text = await gateway.command("hoststatus example.com")
    assert ok, text
    assert "Host up/down:         down" in text
    assert _figure(text, "Active Recipients") == 1 and _figure(text, "Attempted Recipients") == 1
    assert "Oldest Message         No Messages" not in text
    assert "Last Error:" in text and "refused" in text.lower()


async def test_unknown_host(gateway):
    await gateway.start()
    ok, text = await gateway.command("hoststatus nowhere.example.net")
    assert not ok and "No record of host: nowhere.example.net" in text
