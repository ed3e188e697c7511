"""``showrecipients`` and ``showmessage`` against a live engine with mail held in the queues
(the.tdc.queue's journal copies included)."""

from __future__ import annotations

import re

import pytest

from tests.engine.gateway_lab import CUSTOM, INTAKE, until

pytestmark = pytest.mark.usefixtures("run")


async def _held(gateway, unused_port) -> None:
    """Two messages whose deliveries, and journal copies, wait for a retry."""
    gateway.config.host_ports["mx.example.com"] = unused_port
    gateway.config.host_ports["mx.setd.test"] = unused_port
    gateway.config.tdc.timers.time_scale = 1.0  # copies wait 10 s for their retry
    await gateway.start()
    await gateway.send("one", recipients=("bob@example.com", "tim@example.com"))
    await gateway.send("two", recipients=("sue@sales.example.com",), sender="carol@example.org")
    host = gateway.engine.counters.host
    await until(lambda: host("example.com").soft_bounced_events >= 1
                and host("sales.example.com").soft_bounced_events >= 1
                and gateway.engine.tdc.counters.soft_bounced_events >= 2)


async def _command(gateway, line: str) -> str:
    ok, text = await gateway.command(line)
    assert ok, text
    return text


async def test_showrecipients_all_by_host_and_by_sender(gateway, unused_port):
    await _held(gateway, unused_port)
    text = await _command(gateway, "showrecipients all")
    assert "Showing messages, please wait.\n\n" in text
    assert re.search(r"^MID/\s+Bytes/\s+Sender/\s+Subject\n\[RID\]\s+\[Atmps\]\s+Recipient$",
                     text, re.M), text
    assert re.search(r"^1\s+[\d,]+\s+alice@example\.org\s+one\n\[0\]\s+\[\d+\]\s+bob@example\.com\n"
                     r"\[1\]\s+\[\d+\]\s+tim@example\.com$", text, re.M), text
    assert INTAKE in text and CUSTOM in text  # the journal copies, on the.tdc.queue
    text = await _command(gateway, "showrecipients host the.tdc.queue")
    assert INTAKE in text and CUSTOM in text and "bob@example.com" not in text
    text = await _command(gateway, "showrecipients sender CAROL@example.org")
    assert "sue@sales.example.com" in text and "bob@example.com" not in text
    text = await _command(gateway, "showrecipients host nowhere.example.net")
    assert "No messages found." in text


async def test_showrecipients_asks_like_the_appliance(gateway, unused_port):
    from commands.session import CliSession
    from tests.conftest import ScriptedTerminal
    from tests.engine.gateway_lab import _ApplianceView

    await _held(gateway, unused_port)
    terminal = ScriptedTerminal(["1", "sales.example.com"], interactive=True)
    await CliSession(_ApplianceView(gateway), terminal).execute("showrecipients")
    assert ("Please select how you would like to show messages:\n1. By recipient host.\n"
            "2. By Envelope From address.\n3. All.\n[1]> ") in terminal.text
    assert "Please enter the hostname for the messages you wish to show." in terminal.text
    assert "sue@sales.example.com" in terminal.text and "bob@" not in terminal.text


async def test_showmessage_prints_a_queued_message(gateway, unused_port):
    await _held(gateway, unused_port)
    text = await _command(gateway, "showmessage 1")
    assert "Subject: one\n" in text and "clean body" in text and "\r" not in text
    ok, text = await gateway.command("showmessage 999")
    assert not ok and "MID 999 is not in the delivery queues." in text
    for line in ("showmessage x", "showmessage -1", "showmessage 1 2", "showmessage ９"):
        ok, text = await gateway.command(line)
        assert not ok and "Invalid arguments when processing" in text, line


async def test_bad_showrecipients_lines(gateway):
    await gateway.start()
    for line in ("showrecipients host", "showrecipients all x", "showrecipients bogus y"):
        ok, text = await gateway.command(line)
        assert not ok and "Invalid arguments when processing" in text, line
