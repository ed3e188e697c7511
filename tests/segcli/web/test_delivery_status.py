"""Delivery Status's rows and a host's status (segcli/web/delivery_status.py) against a live
engine after real SMTP traffic, compared with what ``tophosts`` and ``hoststatus`` print."""

from __future__ import annotations

import re

import pytest

from engine.smtp.server import Reply
from segcli.web.delivery_status import KEYS, BadSort, Sort, delivery_rows, host_status
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _tophosts(text: str) -> dict[str, list[int]]:
    rows = {}
    for line in text.splitlines():
        match = re.match(r"\s+\d+[ *]\s+(\S+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)$",
                         line)
        if match:
            rows[match.group(1)] = [int(n.replace(",", "")) for n in match.groups()[1:]]
    return rows


async def _traffic(gateway) -> None:
    gateway.setd.faults["rcpt"] = [Reply(550, "5.1.1 unknown")]  # the first copy hard-bounces
    await gateway.start()
    for n in range(3):
        await gateway.send(f"m{n}")
    await gateway.send("sales", recipients=("carol@sales.example.com", "dave@sales.example.com"))
    tdc = gateway.engine.tdc.counters
    await until(lambda: tdc.completed == 4 and tdc.connections_out == 0
                and gateway.engine.counters.host("example.com").delivered == 3
                and gateway.engine.counters.host("sales.example.com").delivered == 2)
    await until(lambda: all(h.connections_out == 0 for h in gateway.engine.counters.hosts.values()))


async def test_the_rows_are_the_figures_of_tophosts(gateway):
    await _traffic(gateway)
    rows = delivery_rows(gateway.engine, True)
    ok, text = await gateway.command("tophosts 1")
    assert ok, text
    printed = _tophosts(text)
    assert {row.host for row in rows} == set(printed) == {
        "example.com", "sales.example.com", "the.tdc.queue"}
    for row in rows:
        assert [row.active, row.conn_out, row.delivered, row.soft_bounced,
                row.hard_bounced] == printed[row.host]
    tdc = next(row for row in rows if row.host == "the.tdc.queue")
    assert (tdc.delivered, tdc.hard_bounced) == (3, 1)  # one copy per message, one refused
    assert tdc.as_json()["host"] == "the.tdc.queue" and tdc.as_json()["delivered"] == 3


async def test_every_column_sorts_both_ways_ties_by_name(gateway):
    await _traffic(gateway)
    for key in KEYS:
        for order in ("asc", "desc"):
            rows = delivery_rows(gateway.engine, True, Sort.parse(key, order))
            values = [getattr(row, key) for row in rows]
            assert values == sorted(values, reverse=order == "desc"), (key, order)
    by_delivered = delivery_rows(gateway.engine, True, Sort.parse("delivered", None))
    assert [row.host for row in by_delivered] == ["example.com", "the.tdc.queue",  # 3, 3
                                                  "sales.example.com"]
    by_active = delivery_rows(gateway.engine, True, Sort())  # all 0: by name
    assert [row.host for row in by_active] == ["example.com", "sales.example.com",
                                               "the.tdc.queue"]
    by_name = delivery_rows(gateway.engine, True, Sort.parse("host", None))
    assert [row.host for row in by_name] == ["example.com", "sales.example.com", "the.tdc.queue"]


def test_a_sort_the_page_does_not_offer_is_refused():
    assert Sort.parse(None, None) == Sort("active", True)
    assert Sort.parse("host", None) == Sort("host", False)
    assert Sort.parse("delivered", "asc").toggled("delivered") == Sort("delivered", True)
    assert Sort.parse("delivered", "asc").toggled("host") == Sort("host", False)
    for column, order in (("body", None), ("active", "up"), ("__class__", None)):
        with pytest.raises(BadSort):
            Sort.parse(column, order)


async def test_the_tdc_queue_shows_before_its_first_copy(gateway):
    await gateway.start()
    assert [row.host for row in delivery_rows(gateway.engine, True)] == ["the.tdc.queue"]
    ok, text = await gateway.command("tophosts 1")
    assert ok and list(_tophosts(text)) == ["the.tdc.queue"]
    status = await host_status(gateway.engine, True, "the.tdc.queue")
    assert status is not None and status.row.active == 0 and status.oldest is None


async def test_a_host_status_has_the_figures_of_hoststatus(gateway):
    await _traffic(gateway)
    status = await host_status(gateway.engine, True, "THE.TDC.QUEUE")
    assert status is not None and status.host == "the.tdc.queue" and status.up
    ok, text = await gateway.command("hoststatus the.tdc.queue")
    assert ok, text
    for line in status.lines:
        if line.value is not None:
            assert re.search(rf"^ {{{line.indent}}}{re.escape(line.label)}\s+{line.value:,}$", text,
                             re.M), line
    figures = {line.label: line.value for line in status.lines}
    assert figures["Delivered Recipients"] == 3 and figures["5XX Hard Bounces"] == 1
    assert figures["Active Recipients"] == 0 and status.last_activity is not None
    assert await host_status(gateway.engine, True, "nowhere.example") is None


async def test_a_host_with_queued_mail_has_its_oldest_message(gateway, unused_port):
    gateway.config.host_ports["mx.example.com"] = unused_port  # example.com is down
    await gateway.start()
    await gateway.send("stuck")
    await until(lambda: gateway.engine.counters.host("example.com").soft_bounced_events >= 1)
    await gateway.engine.settled()
    [row] = [r for r in delivery_rows(gateway.engine, True) if r.host == "example.com"]
    assert row.active == 1 and not row.up
    status = await host_status(gateway.engine, True, "example.com")
    assert status is not None and status.oldest is not None and not status.up
