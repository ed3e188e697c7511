"""Outgoing mail: hosts of the host access table's RELAYLIST relay to any domain, their
mail meets the outgoing mail policies and is never journaled; everyone else is still
held to the recipient access table (never an open relay)."""

from __future__ import annotations

import smtplib

import pytest

from engine.config.changes import AddPolicy, AddRelayHost, SetScan, replay
from engine.config.model import Direction, ScanAction
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")

RELAY_HOST = "127.0.0.2"  # any 127/8 address is on Linux's loopback interface


def _relaying(gateway, *entries: str, outgoing: tuple = ()) -> None:
    """Replace the gateway's configuration with one where *entries* may relay."""
    changes = [AddRelayHost(entry) for entry in entries] + list(outgoing)
    updated = replay(gateway.config, changes)
    gateway.config.listener = updated.listener
    gateway.config.outgoing = updated.outgoing
    gateway.dns_zone.add_mail_domain("partner.test")
    gateway.config.host_ports["mx.partner.test"] = gateway.config.host_ports["mx.example.com"]


async def test_a_relay_host_sends_outgoing_mail_to_any_domain_and_it_is_not_journaled(gateway):
    _relaying(gateway, "127.0.0.0/30", outgoing=[
        AddPolicy(Direction.OUTGOING, "staff", senders=("@example.com",))])
    await gateway.start()
    refused = await gateway.send("report", recipients=("carol@partner.test", "bob@example.com"),
                                 sender="alice@example.com", source=RELAY_HOST)
    assert refused == {}
    await until(lambda: len(gateway.sink.messages) == 2)  # one per destination domain
    await gateway.engine.settled()
    assert sorted((s, r) for s, r, _, _ in gateway.sink.messages) == [
        ("alice@example.com", ["bob@example.com"]), ("alice@example.com", ["carol@partner.test"])]
    log = gateway.lines()
    assert any(line.endswith("RELAY SG RELAYLIST match 127.0.0.0/30 SBRS rfc1918")
               for line in log), log
    assert any("matched all recipients for per-recipient policy staff in the outbound table"
               in line for line in log), log
    assert not any("inbound table" in line for line in log)
    assert gateway.tdc_lines() == [] and gateway.setd.messages == []
    assert gateway.engine.tdc.counters.completed == 0


async def test_other_hosts_are_still_held_to_the_recipient_access_table(gateway):
    _relaying(gateway, RELAY_HOST)
    await gateway.start()
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await gateway.send("relay attempt", recipients=("carol@partner.test",))
    assert refused.value.recipients["carol@partner.test"][0] == 550
    refused_some = await gateway.send("inbound", recipients=("carol@partner.test",
                                                             "bob@example.com"))
    assert list(refused_some) == ["carol@partner.test"]
    await until(lambda: len(gateway.setd.messages) == 1)  # incoming: journaled as ever
    log = gateway.lines()
    assert any(line.endswith("ACCEPT SG UNKNOWNLIST match sbrs[none] SBRS rfc1918") for line in log)
    assert any("To: <carol@partner.test> Rejected by RAT" in line for line in log)
    assert any("in the inbound table" in line for line in log)
    assert not any("RELAY SG" in line for line in log)


async def test_outgoing_policies_split_recipients_and_apply_their_own_verdict_actions(gateway):
    _relaying(gateway, RELAY_HOST, outgoing=[
        AddPolicy(Direction.OUTGOING, "partners", recipients=("@partner.test",)),
        SetScan(Direction.OUTGOING, "partners", "antispam", enabled=True,
                action=ScanAction.DROP),
    ])
    await gateway.start()
    gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"
    await gateway.send("mixed", body=gtube, recipients=("carol@partner.test", "bob@example.com"),
                       source=RELAY_HOST)
    await until(lambda: len(gateway.sink.messages) == 1)
    await gateway.engine.settled()
    log = gateway.lines()
    assert any("matched all recipients for per-recipient policy partners in the outbound table"
               in line for line in log), log
    assert any("was split creating MID" in line and "policy DEFAULT in the outbound table" in line
               for line in log), log
    assert any(line.startswith("Message aborted MID ") and line.endswith(" Dropped by CASE")
               for line in log), log
    assert [r for _, r, _, _ in gateway.sink.messages] == [["bob@example.com"]]  # partners' dropped
    assert gateway.setd.messages == []  # spam or not, outgoing mail is never journaled
