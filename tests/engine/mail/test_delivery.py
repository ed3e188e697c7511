"""Ordinary delivery to example.com's sink: bounces, retries, expiry, connection reuse and
limits, SMTP routes."""

from __future__ import annotations

import pytest

from engine.config.model import SmtpRoute
from engine.smtp.server import Reply
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _host(gateway, name: str = "example.com"):
    return gateway.engine.counters.host(name)


async def test_5xx_bounces_each_recipient(gateway):
    gateway.sink.faults["eom"] = [Reply(554, "5.7.1 Rejected by policy")]
    await gateway.start()
    await gateway.send("nope", recipients=("bob@example.com", "tim@example.com"))
    await until(lambda: _host(gateway).hard_bounced_total == 2)
    bounced = [line.split(" MID ", 1)[1] for line in gateway.lines() if line.startswith("Bounced: DCID")]
    assert bounced == [
        "1 From: <alice@example.org> To: <bob@example.com> RID 0 - 5.7.1 - Delivery not "
        "authorized, message refused ('554', ['5.7.1 Rejected by policy'])",
        "1 From: <alice@example.org> To: <tim@example.com> RID 1 - 5.7.1 - Delivery not "
        "authorized, message refused ('554', ['5.7.1 Rejected by policy'])",
    ]
    assert _host(gateway).hard_bounced["5xx"] == 2 and _host(gateway).active == 0


async def test_4xx_is_retried_on_the_schedule(gateway):
    gateway.config.delivery.initial_retry = 0.3
    gateway.sink.faults["rcpt"] = [Reply(451, "4.3.2 Not now")]
    await gateway.start()
    await gateway.send("later")
    await until(lambda: _host(gateway).delivered == 1)
    lines = gateway.lines()
    assert any(line.startswith("Delayed: DCID ") and line.endswith(
        " MID 1 From: <alice@example.org> To: <bob@example.com> RID 0 - 4.3.2 - Not accepting "
        "messages at this time ('451', ['4.3.2 Not now'])") for line in lines)
    assert any(line.startswith("Message 1 to RID [0] pending till ") for line in lines)
    assert _host(gateway).soft_bounced_events == 1 and gateway.sink.mail_commands == 2


async def test_a_message_expires_after_the_maximum_time_in_queue(gateway, unused_port):
    gateway.config.host_ports["mx.example.com"] = unused_port
    gateway.config.delivery.initial_retry = 0.2
    gateway.config.delivery.max_queue_time = 1.0
    await gateway.start()
    await gateway.send("old")
    await until(lambda: _host(gateway).hard_bounced["expired"] == 1)
    assert ("Bounced: DCID 0 MID 1 From: <alice@example.org> To: <bob@example.com> RID 0 - 5.4.7 - "
            "Delivery expired (message too old) ('000', ['timeout'])") in gateway.lines()
    assert any(line.startswith("Connection Error: DCID") and "reason: network error" in line
               for line in gateway.lines())


async def test_connections_carry_several_messages_within_the_limits(gateway):
    gateway.config.destination("example.com").max_concurrency = 2
    gateway.config.destination("example.com").max_messages_per_connection = 10
    await gateway.start()
    for n in range(8):
        await gateway.send(f"m{n}")
    await until(lambda: _host(gateway).delivered == 8)
    assert gateway.sink.connections <= 8  # reused: fewer connections than messages, never more
    await until(lambda: gateway.sink.open_connections == 0)


async def test_concurrency_limit_is_respected(gateway):
    """A slow destination builds a backlog; the gateway never opens more than the limit."""
    import asyncio

    gateway.config.destination("example.com").max_concurrency = 2
    gateway.sink.faults["eom"] = [asyncio.sleep(0.2) for _ in range(6)]
    counters = _host(gateway)
    peak = 0

    async def watch():
        nonlocal peak
        while True:
            peak = max(peak, counters.connections_out + counters.pending_connections)
            await asyncio.sleep(0.002)

    watcher = asyncio.ensure_future(watch())
    try:
        await gateway.start()
        await asyncio.gather(*[gateway.send(f"m{n}") for n in range(6)])
        await until(lambda: counters.delivered == 6)
    finally:
        watcher.cancel()
    assert peak == 2


async def test_some_recipients_refused_the_others_delivered(gateway):
    gateway.sink.faults["rcpt"] = [None, Reply(550, "5.1.1 No such user")]
    await gateway.start()
    await gateway.send("mixed", recipients=("bob@example.com", "ghost@example.com"))
    await until(lambda: _host(gateway).completed == 2)
    assert _host(gateway).delivered == 1 and _host(gateway).hard_bounced["5xx"] == 1
    assert gateway.sink.messages[0][1] == ["bob@example.com"]
    # the replies quoted as the servers sent them, enhanced status code included
    log = gateway.lines()
    assert any(line.startswith("Bounced: DCID ") and line.endswith(
        "RID 1 - 5.1.1 - Bad destination mailbox address ('550', ['5.1.1 No such user'])")
        for line in log), log
    assert "MID 1 RID [0] Response '2.0.0 Ok: queued'" in log, log


async def test_smtp_route_to_dev_null_discards(gateway):
    gateway.config.smtp_routes = [SmtpRoute("example.com", ["/dev/null"])]
    await gateway.start()
    await gateway.send("gone")
    await until(lambda: _host(gateway).delivered == 1)
    assert gateway.sink.messages == [] and gateway.sink.connections == 0


async def test_smtp_route_to_host_and_port(gateway):
    port = gateway.config.host_ports.pop("mx.example.com")
    gateway.config.smtp_routes = [SmtpRoute(".example.com", [f"127.0.0.1:{port}"]),
                                  SmtpRoute("example.com", [f"127.0.0.1:{port}"])]
    await gateway.start()
    await gateway.send("routed", recipients=("bob@example.com", "sue@sales.example.com"))
    await until(lambda: len(gateway.sink.messages) == 2)


@pytest.mark.parametrize("addresses", [
    ["a@example.com", "b@example.com", "c@example.com"],
    ["odd\nline@example.com", "b@example.com", ""],  # a line feed: kept as a tuple
])
def test_a_shipment_packs_its_recipients_and_gives_them_back_as_they_were(addresses):
    from array import array

    from engine.mail.delivery import Shipment

    recipients = list(zip([0, 2, 5], addresses, strict=True))  # RIDs not following each other
    shipment = Shipment(7, "s@example.org", "example.com", recipients, b"body", 1.0, 2.0,
                        row_ids=[10, 11, 12])
    assert shipment.recipients == recipients and shipment.count == 3
    assert shipment.rids == [0, 2, 5] and shipment.row_ids == [10, 11, 12]
    assert isinstance(shipment._rids, array) and shipment._row_ids == range(10, 13)
    assert shipment.row_ids_of({2, 5}) == [11, 12]
    shipment.without({2})
    assert shipment.recipients == [recipients[0], recipients[2]]
    assert shipment.row_ids == [10, 12] and shipment.count == 2
    shipment.without({0, 5})
    assert (shipment.recipients, shipment.row_ids, shipment.count) == ([], [], 0)
