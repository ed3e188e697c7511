"""Message tracking's search and details (engine/observe/tracking_search.py) against a live
engine after real SMTP traffic: journaled, split and not-yet-delivered messages."""

from __future__ import annotations

import asyncio
import smtplib
import time

import pytest

from engine.observe.tracking_search import MOST, Match, Query, TextFilter, details, search
from tests.engine.gateway_lab import CUSTOM, INTAKE, until

pytestmark = pytest.mark.usefixtures("run")

TRACKED = "was delivered for scanning with Cisco Secure Email Threat Defense."


async def send_raw(gateway, sender: str, subject: str,
                   recipients: tuple[str, ...] = ("bob@example.com",)) -> None:
    """A message whose subject is sent as is (gateway.send makes a Message-ID of it)."""
    data = (f"From: {sender}\r\nTo: {', '.join(recipients)}\r\nSubject: {subject}\r\n"
            "Message-ID: <raw@example.org>\r\n\r\nbody\r\n").encode()

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
            client.sendmail(sender, list(recipients), data)
    await asyncio.to_thread(send)


async def _find(gateway, **fields) -> list[int]:
    results = await asyncio.to_thread(search, gateway.engine.store.engine, Query(**fields))
    return [m.mid for m in results.messages]


async def _traffic(gateway) -> None:
    """MID 1 (journaled as MID 2); MID 3 split into MID 4 for the sales policy, journaled
    as MID 5 and MID 6; MID 7 from another sender, with a hostile subject (journaled as MID 8)."""
    await gateway.start()
    await gateway.send("hello one")
    await gateway.send("split me", recipients=("bob@example.com", "carol@sales.example.com"))
    await send_raw(gateway, "Mallory@Evil.example.org", "<script>alert(1)</script> 100%_off")
    await until(lambda: gateway.log().count("Message finished MID") == 8)
    await until(lambda: gateway.log().count("successfully delivered for scanning") == 4)
    await gateway.engine.settled()


async def test_search_by_each_field_finds_the_messages_newest_first(gateway):
    await _traffic(gateway)
    contains = TextFilter
    assert await _find(gateway) == [7, 4, 3, 1]  # journal copies are not results of their own
    assert await _find(gateway, subject=contains("HELLO")) == [1]
    assert await _find(gateway, subject=contains("split", Match.BEGINS)) == [4, 3]
    assert await _find(gateway, subject=contains("split", Match.IS)) == []
    assert await _find(gateway, subject=contains("Split Me", Match.IS)) == [4, 3]
    # LIKE's own characters are only text
    assert await _find(gateway, subject=contains("100%_off")) == [7]
    assert await _find(gateway, subject=contains("100_")) == []
    assert await _find(gateway, sender=contains("mallory@evil", Match.BEGINS)) == [7]
    assert await _find(gateway, sender=contains("alice@example.org", Match.IS)) == [4, 3, 1]
    assert await _find(gateway, recipient=contains("carol@sales.example.com", Match.IS)) == [4, 3]
    assert await _find(gateway, recipient=contains("bob@", Match.BEGINS)) == [7, 3, 1]
    assert await _find(gateway, recipient=contains("example.com", Match.BEGINS)) == []
    assert await _find(gateway, mid=2) == [2]  # by MID: any message, a journal copy too
    assert await _find(gateway, mid=99) == []
    assert await _find(gateway, subject=contains("hello"), sender=contains("mallory")) == []


async def test_time_range_and_limit(gateway):
    await _traffic(gateway)
    now = time.time()
    assert await _find(gateway, since=now + 60) == []
    assert await _find(gateway, until=now - 3600) == []
    assert await _find(gateway, since=now - 3600, until=now + 60) == [7, 4, 3, 1]
    results = await asyncio.to_thread(search, gateway.engine.store.engine, Query(limit=2))
    assert [m.mid for m in results.messages] == [7, 4] and results.truncated
    results = await asyncio.to_thread(search, gateway.engine.store.engine, Query(limit=10 ** 6))
    assert len(results.messages) == 4 and not results.truncated and MOST < 10 ** 6


async def test_a_journaled_message_shows_its_events_and_the_single_tdc_line(gateway):
    await _traffic(gateway)
    [found] = (await asyncio.to_thread(search, gateway.engine.store.engine,
                                       Query(subject=TextFilter("hello one")))).messages
    assert found.state == "Delivered" and found.sender == "alice@example.org"
    assert found.recipients == ("bob@example.com",) and found.policy == "DEFAULT"
    shown = await asyncio.to_thread(details, gateway.engine.store.engine, found.mid)
    assert shown is not None and shown.message == found
    assert [m.kind for m in shown.family.members] == ["inbound", "journal"]
    [tdc] = shown.tdc
    assert tdc.endswith(f"  TDC: Message 2 {TRACKED}") and "(GMT +00:00)" in tdc
    texts = [event.text for event in shown.events]
    assert 'MID 1 Subject "hello one"' in texts
    assert f"TDC: Message 2 {TRACKED}" in texts
    assert any(text.startswith("Message done DCID") for text in texts)
    assert {(r.recipient, r.destination, r.state) for r in shown.recipients} == {
        ("bob@example.com", "example.com", "delivered"),
        (INTAKE, "the.tdc.queue", "delivered")}


async def test_a_split_message_has_one_tdc_line_per_journaled_part(gateway):
    await _traffic(gateway)
    split = await asyncio.to_thread(details, gateway.engine.store.engine, 4)
    assert split is not None and split.message.kind == "split" and split.message.origin_mid == 3
    assert split.message.policy == "sales"
    # the family is the same from any member: the original, its part, their journal copies
    assert [m.mid for m in split.family.members] == [3, 4, 5, 6]
    assert [line.partition("  ")[2] for line in split.tdc] == [
        f"TDC: Message 5 {TRACKED}", f"TDC: Message 6 {TRACKED}"]
    assert {r.recipient for r in split.recipients if r.destination == "the.tdc.queue"} == {
        INTAKE, CUSTOM}


async def test_a_message_not_journaled_has_no_tdc_line_and_an_unknown_mid_no_details(gateway):
    gateway.config.tdc.enabled = False
    await _traffic_without_tdc(gateway)
    shown = await asyncio.to_thread(details, gateway.engine.store.engine, 1)
    assert shown is not None and shown.tdc == [] and shown.message.state == "Delivered"
    assert await asyncio.to_thread(details, gateway.engine.store.engine, 42) is None


async def test_a_queued_message_is_queued(gateway):
    gateway.engine.suspend_delivery()
    await gateway.start()
    await gateway.send("waiting")
    await until(lambda: "Message 1 to RID" not in gateway.log() and _worked(gateway))
    await gateway.engine.settled()
    [found] = (await asyncio.to_thread(search, gateway.engine.store.engine, Query())).messages
    assert found.state == "Queued"


def _worked(gateway) -> bool:
    from engine.store import queue_store

    rows = queue_store.active_deliveries(gateway.engine.store.engine)
    return any(row["destination"] == "example.com" for row in rows)


async def _traffic_without_tdc(gateway) -> None:
    await gateway.start()
    await gateway.send("plain")
    await until(lambda: gateway.log().count("Message finished MID") == 1)
    await gateway.engine.settled()
