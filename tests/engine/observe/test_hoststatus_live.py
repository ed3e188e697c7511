"""``hoststatus`` against a live engine after real traffic."""

from __future__ import annotations

import re

import pytest

from engine.config.model import SmtpRoute
from engine.smtp.server import HANG, Reply
from engine.store import queue_store
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
    _assert_appliance_sections(text, gateway)
    ok, text = await gateway.command("hoststatus the.tdc.queue")
    assert ok, text
    assert _figure(text, "Delivered Recipients") == 2
    assert _figure(text, "5XX Hard Bounces") == 1
    assert _figure(text, "Hard Bounced Recipients") == 1
    _assert_appliance_sections(text, gateway)  # the intake domain's addresses
    assert re.search(r"^10\s+127\.0\.0\.1 \(mx\.setd\.test port \d+\)$", text, re.M)


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
    assert "Virtual Gateway(tm) information:" in text
    assert re.search(r"^    Host up/down:          down$", text, re.M)
    assert "Last Error" not in text  # the appliance prints no such block


async def test_hoststatus_of_the_tdc_queue_shows_its_oldest_copy_as_the_store_has_it(gateway):
    """The TDC queue's Oldest Message comes from the queue in memory (no thread, no query
    over the queued copies); it is the time the store holds for that copy."""
    gateway.setd.faults["eom"] = [HANG]  # the copy stays on the queue
    await gateway.start()
    await gateway.send("waiting")
    tdc = gateway.engine.tdc
    await until(lambda: tdc.active == 1 and queue_store.oldest_active(
        gateway.engine.store.engine, "the.tdc.queue") is not None)
    assert tdc.oldest() == queue_store.oldest_active(gateway.engine.store.engine,
                                   "the.tdc.queue")
    ok, text = await gateway.command("hoststatus the.tdc.queue")
    assert ok, text
    assert _figure(text, "Active Recipients") == 1
    assert re.search(r"^Oldest Message         \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT$",
                     text, re.M), text


async def test_hoststatus_lists_the_smtp_route_before_the_addresses(gateway):
    gateway.config.smtp_routes = [SmtpRoute("example.com", ["mx.example.com"])]
    await gateway.start()
    await gateway.send("routed")
    await until(lambda: gateway.engine.counters.host("example.com").delivered == 1)
    ok, text = await gateway.command("hoststatus example.com")
    assert ok, text
    routes = text.index("SMTP routes for this host:\n    mx.example.com\n")
    assert text.index("Virtual Gateway(tm) information:") < routes
    assert routes < text.index("Ordered IP addresses: (expiring at ")


async def test_unknown_host(gateway):
    await gateway.start()
    ok, text = await gateway.command("hoststatus nowhere.example.net")
    assert not ok and "No record of host: nowhere.example.net" in text


def _assert_appliance_sections(text: str, gateway) -> None:
    """The end of the appliance's sample (ASYNCOS.md §2), in its order."""
    tail = text[text.index("Last Activity  "):]
    vg = tail.index("Virtual Gateway(tm) information:")
    ordered = tail.index("Ordered IP addresses: (expiring at ")
    assert vg < ordered
    name = re.escape(gateway.config.hostname)
    assert re.search(rf"^=+\n{name} \(Management\):\n    Host up/down:          up\n"
                     r"    Last Activity          \w{3} .+ GMT\n    Active Recipients      0\n=+$",
                     tail, re.M), tail
    assert re.search(r"\(expiring at \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT\)\n"
                     r"Preference  IPs\n", tail), tail
    assert "Journal copies go" not in text


async def test_the_oldest_message_comes_from_the_queues_and_matches_the_store(gateway, unused_port):
    """``hoststatus``'s Oldest Message is read from the queues in memory (issue 14: the
    store query took 237 ms at a million recipients): it must say what the store says,
    ready, waiting for a retry, and once the oldest message has gone."""
    import asyncio

    from engine.store import queue_store

    gateway.config.host_ports["mx.example.com"] = unused_port
    gateway.config.host_ports["mx.setd.test"] = unused_port
    gateway.config.tdc.timers.time_scale = 10.0  # copies wait 100 s for their retry
    await gateway.start()
    engine = gateway.engine
    await gateway.command("suspenddel")
    await gateway.send("first", sender="early@example.org")
    await asyncio.sleep(0.05)
    await gateway.send("second")
    await until(lambda: gateway.log().count("enqueued for forwarding") == 2)

    async def agree(host: str) -> float | None:
        await engine.settled()
        stored = queue_store.oldest_active(engine.store.engine, host)
        assert await engine.oldest_queued(host) == stored
        return stored

    ready = {host: await agree(host) for host in ("example.com", "the.tdc.queue")}
    assert all(ready.values())
    await gateway.command("resumedel")
    await until(lambda: engine.counters.host("example.com").soft_bounced_events >= 2
                and engine.tdc.counters.soft_bounced_events >= 2)
    assert {host: await agree(host) for host in ready} == ready  # waiting for a retry
    await gateway.command("deleterecipients sender early@example.org")
    later = await agree("example.com")
    assert later is not None and later > ready["example.com"]
    await gateway.command("deleterecipients all")
    assert await agree("example.com") is None and await agree("the.tdc.queue") is None
