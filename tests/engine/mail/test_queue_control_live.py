"""Operators' queue commands against a live engine: what they say and what really happens."""

from __future__ import annotations

import asyncio

import pytest

from engine.smtp.server import Reply
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _host(gateway, name: str = "example.com"):
    return gateway.engine.counters.host(name)


async def _command(gateway, line: str) -> str:
    ok, text = await gateway.command(line)
    assert ok, text
    return text


async def test_suspenddel_holds_everything_until_resumedel(gateway):
    await gateway.start()
    assert "Mail delivery suspended." in await _command(gateway, "suspenddel")
    for n in range(3):
        await gateway.send(f"held {n}")
    await until(lambda: gateway.log().count("enqueued for forwarding") == 3)
    await asyncio.sleep(0.3)
    assert gateway.sink.messages == [] and gateway.setd.messages == []
    assert gateway.sink.connections == 0 and gateway.setd.connections == 0
    assert "Mail delivery resumed." in await _command(gateway, "resumedel")
    await until(lambda: len(gateway.sink.messages) == 3 and len(gateway.setd.messages) == 3)
    ok, text = await gateway.command("resumedel")
    assert not ok and "not suspended" in text


async def test_delivernow_retries_at_once(gateway, unused_port):
    real_port = gateway.config.host_ports["mx.example.com"]
    gateway.config.host_ports["mx.example.com"] = unused_port  # the first try fails
    await gateway.start()
    await gateway.send("soon")
    await until(lambda: _host(gateway).soft_bounced_events == 1)
    gateway.config.host_ports["mx.example.com"] = real_port  # the retry is 60 s away
    assert "Rescheduled 1 delivery attempt(s)" in await _command(gateway, "delivernow example.com")
    await until(lambda: _host(gateway).delivered == 1, timeout=10)


async def test_deleterecipients_by_host_and_bouncerecipients_by_sender(gateway, unused_port):
    gateway.config.host_ports["mx.example.com"] = unused_port
    gateway.config.host_ports["mx.setd.test"] = unused_port
    gateway.config.tdc.timers.time_scale = 1.0  # copies wait 10 s for their retry
    await gateway.start()
    await gateway.send("one", recipients=("bob@example.com", "tim@example.com"))
    await gateway.send("two", recipients=("sue@sales.example.com",))
    await until(lambda: _host(gateway).soft_bounced_events >= 1
                and _host(gateway, "sales.example.com").soft_bounced_events >= 1
                and gateway.engine.tdc.counters.soft_bounced_events >= 2)
    text = await _command(gateway, "deleterecipients host example.com")
    assert "Deleting messages, please wait.\n2 recipient(s) deleted." in text
    assert _host(gateway).deleted == 2 and _host(gateway).active == 0
    assert "MID 1 RID [0, 1] deleted from the queue by admin" in gateway.lines()
    text = await _command(gateway, "bouncerecipients sender alice@example.org")
    assert "1 recipient(s) bounced." in text
    assert _host(gateway, "sales.example.com").hard_bounced["other"] == 1
    text = await _command(gateway, "deleterecipients host the.tdc.queue")
    assert "2 recipient(s) deleted." in text
    tdc = gateway.engine.tdc.counters
    assert tdc.deleted == 2 and tdc.active == 0 and gateway.engine.tdc.active == 0


async def test_deleterecipients_asks_for_confirmation_at_a_terminal(gateway, unused_port):
    from commands.session import CliSession
    from tests.conftest import ScriptedTerminal
    from tests.engine.gateway_lab import _ApplianceView

    gateway.config.host_ports["mx.example.com"] = unused_port
    await gateway.start()
    await gateway.send("kept")
    await until(lambda: _host(gateway).soft_bounced_events == 1)
    terminal = ScriptedTerminal(["1", "example.com", ""], interactive=True)
    session = CliSession(_ApplianceView(gateway), terminal)
    await session.execute("deleterecipients")
    assert ("Please select how you would like to delete messages:\n1. By recipient host.\n"
            "2. By Envelope From address.\n3. All.\n[1]> ") in terminal.text
    assert ("Please enter the hostname for the messages you wish to delete.\n[]> "
            in terminal.text)
    assert ('Are you sure you want to delete all messages being delivered to "example.com"? '
            "[N]> ") in terminal.prompts
    assert _host(gateway).active == 1  # the default answer is No
    terminal = ScriptedTerminal(["2", "alice@example.org", "y"], interactive=True)
    await CliSession(_ApplianceView(gateway), terminal).execute("bouncerecipients")
    assert ("Are you sure you want to bounce all messages with the Envelope From address of "
            '"alice@example.org"? [N]> ') in terminal.prompts
    assert "Bouncing messages, please wait.\n1 recipient(s) bounced." in terminal.text
    assert _host(gateway).active == 0


async def test_suspendlistener_refuses_connections_until_resumed(gateway):
    await gateway.start()
    assert "Receiving suspended" in await _command(gateway, "suspendlistener")
    with pytest.raises(ConnectionRefusedError):
        await gateway.send("refused")
    assert "Receiving resumed" in await _command(gateway, "resumelistener")
    assert await gateway.send("accepted") == {}
    ok, text = await gateway.command("resumelistener")
    assert not ok and "not suspended" in text


async def test_bad_one_line_forms(gateway):
    await gateway.start()
    for line in ("deleterecipients host", "bouncerecipients everything x", "delivernow a b",
                 "deleterecipients all x", "bouncerecipients sender"):
        ok, text = await gateway.command(line)
        assert not ok and "Invalid arguments when processing" in text, line


async def test_redirectrecipients_sends_the_queue_to_another_host(gateway, unused_port):
    gateway.config.host_ports["mx.example.com"] = unused_port
    await gateway.start()
    await gateway.send("elsewhere", recipients=("bob@example.com", "tim@example.com"))
    await until(lambda: _host(gateway).soft_bounced_events >= 1)
    text = await _command(gateway, "redirectrecipients example.org")
    assert "Redirect command successful." in text
    await until(lambda: len(gateway.senders.messages) == 1, timeout=10)  # example.org's MX
    # counted once the 250 is read, a moment after the message was stored at the other end
    await until(lambda: _host(gateway, "example.org").delivered == 2)
    assert _host(gateway).active == 0 and _host(gateway).deleted == 0
    await until(lambda: gateway.engine.tdc.counters.delivered == 1)  # the copy went to SETD


async def test_redirectrecipients_warns_and_asks_at_a_terminal(gateway, unused_port):
    from commands.session import CliSession
    from tests.conftest import ScriptedTerminal
    from tests.engine.gateway_lab import _ApplianceView

    gateway.config.host_ports["mx.example.com"] = unused_port
    await gateway.start()
    await gateway.send("kept")
    await until(lambda: _host(gateway).soft_bounced_events == 1)
    terminal = ScriptedTerminal(["the.tdc.queue", "example.org", ""], interactive=True)
    await CliSession(_ApplianceView(gateway), terminal).execute("redirectrecipients")
    assert ("Please enter the hostname or IP address of the machine you want to send all mail "
            "to.\n[]> ") in terminal.text
    assert "the.tdc.queue is the gateway's own queue, not a host to send mail to." in terminal.text
    assert ("WARNING: redirecting recipients to a host or IP address that is not prepared to "
            "accept them may result in lost mail.") in terminal.text
    assert ('Are you sure you want to redirect all mail in the queue to "example.org"? [N]> '
            in terminal.prompts)
    assert _host(gateway).active == 1  # the default answer is No
    for line in ("redirectrecipients a b", "redirectrecipients the.tdc.queue",
                 "redirectrecipients -bad-", "redirectrecipients host:0",
                 "redirectrecipients host:x", "redirectrecipients [::1", "redirectrecipients 1.2.3.4:"):
        ok, text = await gateway.command(line)
        assert not ok and "Invalid arguments when processing" in text, line
    assert _host(gateway).active == 1  # nothing moved


async def test_redirectrecipients_to_an_ip_address_and_port_leaves_journal_copies(
        gateway, unused_port):
    """The queue goes to the machine named by address and port; the journal copy waiting on
    the.tdc.queue stays there and reaches SETD once SETD answers again."""
    gateway.config.host_ports["mx.example.com"] = unused_port
    refusals = [Reply(421, "4.3.2 busy")] * 1000
    gateway.setd.faults["connect"] = refusals
    await gateway.start()
    await gateway.send("elsewhere", recipients=("bob@example.com", "tim@example.com"))
    tdc = gateway.engine.tdc.counters
    await until(lambda: _host(gateway).soft_bounced_events >= 1 and tdc.soft_bounced_events >= 1)
    machine = f"127.0.0.1:{gateway.config.host_ports['mx.example.org']}"  # the senders' server
    text = await _command(gateway, f"redirectrecipients {machine}")
    assert "Redirect command successful." in text
    await until(lambda: _host(gateway, machine).delivered == 2)
    assert [sorted(m[1]) for m in gateway.senders.messages] == [["bob@example.com", "tim@example.com"]]
    assert _host(gateway).active == 0 and tdc.active == 1  # the copy waits for SETD
    refusals.clear()
    await until(lambda: tdc.delivered == 1)
    assert len(gateway.setd.messages) == 1 and len(gateway.senders.messages) == 1


async def test_redirectrecipients_to_a_bare_ip_address_uses_port_25_or_the_lab_port(
        gateway, unused_port):
    """An IP address without a port is that machine on port 25 (here a lab port mapped to
    the address, as for any host: labconfig)."""
    gateway.config.host_ports["mx.example.com"] = unused_port
    await gateway.start()
    await gateway.send("by address")
    await until(lambda: _host(gateway).soft_bounced_events >= 1)
    gateway.config.host_ports["127.0.0.1"] = gateway.config.host_ports["mx.example.org"]
    await _command(gateway, "redirectrecipients 127.0.0.1")
    await until(lambda: _host(gateway, "127.0.0.1").delivered == 1)
    assert len(gateway.senders.messages) == 1
