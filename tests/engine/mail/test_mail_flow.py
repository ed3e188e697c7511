"""The mail engine end to end on loopback: real SMTP in, the lab DNS zone, a sink for
ordinary delivery and a TLS endpoint standing in for SETD."""

from __future__ import annotations

import asyncio
import smtplib
from email.header import decode_header, make_header

import pytest

from engine.mail.journal import attached_original
from engine.mail.verdicts import EICAR, GTUBE
from tests.engine.gateway_lab import CUSTOM, INTAKE, until

pytestmark = pytest.mark.usefixtures("run")


async def test_clean_mail_is_delivered_and_journaled(gateway):
    await gateway.start()
    assert await gateway.send("hello") == {}
    await until(lambda: gateway.sink.messages and gateway.setd.messages)
    await until(lambda: gateway.engine.tdc.active == 0)
    _, recipients, data, _ = gateway.sink.messages[0]
    assert recipients == ["bob@example.com"] and b"clean body" in data
    j_sender, j_recipients, journal, j_tls = gateway.setd.messages[0]
    assert (j_sender, j_recipients, j_tls) == ("", [INTAKE], True)
    assert attached_original(journal) == data  # byte for byte what was delivered
    text = gateway.log()
    assert ("TDC: MID 2 with Message-ID '<hello@example.org>' enqueued for forwarding to Cisco "
            f"Secure Email Threat Defense to the message intake address {INTAKE}") in text
    assert "TDC: MID 2 successfully delivered for scanning with Cisco Secure Email Threat Defense." in text
    assert "MID 1 matched all recipients for per-recipient policy DEFAULT in the inbound table" in text
    counters = gateway.engine.counters.host("the.tdc.queue")
    assert (counters.delivered, counters.active) == (1, 0)
    assert gateway.engine.counters.host("example.com").delivered == 1


async def test_a_message_id_that_is_not_ascii_is_delivered_and_journaled(gateway):
    """8-bit bytes in the original's Message-ID made the journal copy's header fail to
    encode: the work queue failed on the message at every start, so it was neither
    delivered nor journaled (found by benchmarks/fuzz.py)."""
    await gateway.start()
    raw = (b"From: alice@example.org\r\nTo: bob@example.com\r\nSubject: 8-bit id\r\n"
           b"Message-ID: <caf\xc3\xa9.\xff\x00@example.org>\r\n\r\nclean body\r\n")

    def send() -> None:
        with smtplib.SMTP("127.0.0.1", gateway.port, timeout=30) as client:
            client.sendmail("alice@example.org", ["bob@example.com"], raw)

    await asyncio.to_thread(send)
    await until(lambda: gateway.sink.messages and gateway.setd.messages)
    journal = gateway.setd.messages[0][2]
    assert attached_original(journal) == gateway.sink.messages[0][2]
    head = journal[:journal.index(b"\r\n\r\n")]
    assert head.isascii() and b"\x00" not in head
    [line] = [line for line in head.split(b"\r\n") if line.startswith(b"X-SEG-TDC-Original-Message-ID:")]
    shown = str(make_header(decode_header(line.split(b": ", 1)[1].decode())))
    assert shown.startswith("<caf") and shown.endswith("@example.org>") and shown.isprintable()
    assert "work queue failed" not in gateway.log()


async def test_gtube_and_eicar_are_not_journaled_and_policies_pick_the_intake(gateway):
    await gateway.start()
    await gateway.send("spam", GTUBE.decode())
    await gateway.send("virus", EICAR.decode())
    await gateway.send("sales", "for sales", ("sue@sales.example.com", "bob@example.com"))
    await until(lambda: len(gateway.setd.messages) == 2 and len(gateway.sink.messages) == 3)
    intakes = sorted(r[0] for _, r, _, _ in gateway.setd.messages)
    assert intakes == sorted([INTAKE, CUSTOM])  # the split message journals per policy
    assert all(b"Subject: sales" in attached_original(j) for _, _, j, _ in gateway.setd.messages)
    sunk = [data for _, _, data, _ in gateway.sink.messages]
    assert any(b"Subject: [SPAM] spam" in data for data in sunk)  # delivered, tagged
    assert not any(b"Subject: virus" in data for data in sunk)  # dropped
    assert "was split creating MID" in gateway.log()
    await gateway.engine.settled()
    # the virus: its verdict, the drop and the end, in the appliance's words (ASYNCOS.md §7)
    [virus_mid] = [line.split()[1] for line in gateway.lines()
                   if line.endswith(" antivirus positive 'EICAR-AV-Test'")]
    mine = [line for line in gateway.lines()
            if f"MID {virus_mid} " in f"{line} " and ("antivirus" in line or "finished" in line)]
    assert mine == [f"MID {virus_mid} antivirus positive 'EICAR-AV-Test'",
                    f"Message aborted MID {virus_mid} Dropped by antivirus",
                    f"Message finished MID {virus_mid} done"], mine


async def test_relay_is_refused(gateway):
    await gateway.start()
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await gateway.send("relay", "x", ("x@elsewhere.org",))
    assert gateway.engine.counters.system.rejected_recipients == 1
    assert "MID 1 ICID 1 To: <x@elsewhere.org> Rejected by RAT" in gateway.log()


async def test_a_policy_that_bounces_spam(gateway):
    from engine.config.model import ScanAction

    gateway.config.incoming.default.antispam.action = ScanAction.BOUNCE
    await gateway.start()
    await gateway.send("bounced spam", GTUBE.decode(), ("bob@example.com", "tim@example.com"))
    host = gateway.engine.counters.host("example.com")
    await until(lambda: host.hard_bounced["filter"] == 2)
    assert host.active == 0 and gateway.sink.messages == [] and gateway.setd.messages == []
    assert ("Bounced: DCID 0 MID 1 From: <alice@example.org> To: <bob@example.com> RID 0 - 5.7.1 - "
            "Message rejected by CASE ('000', ['Message rejected by CASE'])") in gateway.lines()
