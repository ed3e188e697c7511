"""Bounce messages (DSNs) to senders: made for every kind of hard bounce, delivered like
any mail, never made for a bounce, and not lost across a restart."""

from __future__ import annotations

import email
import re
from email.policy import compat32

import pytest

from engine.config.model import Endpoint, ScanAction
from engine.mail.mail_engine import MailEngine
from engine.mail.verdicts import EICAR
from engine.observe.tracking import family
from engine.smtp.server import Reply
from tests.engine.gateway_lab import until

pytestmark = pytest.mark.usefixtures("run")


def _report(raw: bytes):
    """(the DSN, its per-recipient status blocks, its text/rfc822-headers part's text)."""
    dsn = email.message_from_bytes(raw, policy=compat32)
    assert dsn.get_content_type() == "multipart/report"
    assert dsn.get_param("report-type") == "delivery-status"
    text, status, headers = dsn.get_payload()
    assert text.get_content_type() == "text/plain"
    assert status.get_content_type() == "message/delivery-status"
    assert headers.get_content_type() == "text/rfc822-headers"
    per_message, *per_recipient = status.get_payload()
    assert per_message["Reporting-MTA"] == "dns; gw.example.com"
    return dsn, per_recipient, headers.get_payload()


async def test_a_5xx_bounce_sends_one_dsn_for_its_recipients_to_the_sender(gateway):
    gateway.sink.faults["eom"] = [Reply(554, "5.7.1 Rejected by policy")]
    await gateway.start()
    await gateway.send("refused", body="the body stays here",
                       recipients=("bob@example.com", "tim@example.com"))
    # counted once the gateway has read the 250, a moment after the senders' server has it
    await until(lambda: gateway.engine.counters.host("example.org").delivered == 1)
    sender, recipients, raw, _ = gateway.senders.messages[0]
    assert (sender, recipients) == ("", ["alice@example.org"])  # from the null sender
    dsn, blocks, headers = _report(raw)
    assert dsn["From"] == "Mail Delivery System <MAILER-DAEMON@gw.example.com>"
    assert dsn["Subject"] == "Delivery Status Notification (Failure)"
    assert dsn["Auto-Submitted"] == "auto-replied"
    assert [(b["Final-Recipient"], b["Action"], b["Status"], b["Diagnostic-Code"])
            for b in blocks] == [
        ("rfc822; bob@example.com", "failed", "5.7.1", "smtp; 554 5.7.1 Rejected by policy"),
        ("rfc822; tim@example.com", "failed", "5.7.1", "smtp; 554 5.7.1 Rejected by policy"),
    ]
    assert "Subject: refused" in headers and "the body stays here" not in raw.decode()
    lines = gateway.lines()
    generated = next(i for i, line in enumerate(lines) if " was generated for bounce of MID 1" in line)
    mid = int(lines[generated].split()[1])
    assert lines[generated + 1:generated + 5] == [
        f"Start MID {mid} ICID 0", f"MID {mid} ICID 0 From: <>",
        f"MID {mid} ICID 0 RID 0 To: <alice@example.org>",
        f'MID {mid} Subject "Delivery Status Notification (Failure)"']
    ok, text = await gateway.command("status detail")
    assert ok and re.search(r"^\s+Gen\. Bounce Recipients\s+1\s+1\s+1$", text, re.M), text
    await gateway.engine.settled()
    linked = family(gateway.engine.store.engine, 1).describe()
    assert f"MID {mid}: bounce message for MID 1 (to alice@example.org)" in linked
    ok, text = await gateway.command("findevent -m 1")  # the history follows the bounce
    assert ok, text
    assert f"MID {mid} was generated for bounce of MID 1" in text
    assert re.search(rf"Message done DCID \d+ MID {mid} to RID \[0\]", text), text


async def test_a_dns_hard_bounce_and_an_expiry_each_tell_the_sender(gateway):
    gateway.config.delivery.max_queue_time = 0.5
    gateway.config.delivery.initial_retry = 0.2
    gateway.sink.faults["connect"] = [Reply(421, "4.3.2 busy")] * 50
    await gateway.start()
    await gateway.send("nowhere", recipients=("ann@nowhere.example.com",))  # NXDOMAIN
    await gateway.send("too old")
    await until(lambda: len(gateway.senders.messages) == 2, timeout=30)
    statuses = sorted(_report(raw)[1][0]["Status"] for _, _, raw, _ in gateway.senders.messages)
    assert statuses == ["5.1.2", "5.4.7"]  # bad destination host; delivery expired
    # the ordinary NXDOMAIN bounce in the appliance's form (ASYNCOS.md §7, SPL sample)
    assert ("Bounced: DCID 0 MID 1 From: <alice@example.org> To: <ann@nowhere.example.com> RID 0 - "
            "5.1.2 - Bad destination host ('000', ['DNS Hard Error looking up "
            "nowhere.example.com (MX): NXDomain'])") in gateway.lines(), gateway.lines()


async def test_a_bounced_virus_is_reported_without_the_virus(gateway):
    gateway.config.incoming.default.antivirus.action = ScanAction.BOUNCE
    await gateway.start()
    await gateway.send("infected", body=EICAR.decode())
    await until(lambda: len(gateway.senders.messages) == 1)
    raw = gateway.senders.messages[0][2]
    _, [block], headers = _report(raw)
    assert block["Status"] == "5.7.1" and block["Diagnostic-Code"] is None  # no remote reply
    assert "Subject: infected" in headers
    assert EICAR not in raw and gateway.sink.messages == []


async def test_a_bounce_that_bounces_is_a_double_bounce_and_goes_no_further(gateway):
    gateway.sink.faults["rcpt"] = [Reply(550, "5.1.1 no such user")]
    gateway.senders.faults["rcpt"] = [Reply(550, "5.1.1 no such sender")]
    await gateway.start()
    await gateway.send("unknown user")
    await until(lambda: any(line.startswith("Double bounce:") for line in gateway.lines()))
    await gateway.engine.settled()
    [bounce] = [line.split()[1] for line in gateway.lines()
                if line.endswith(" was generated for bounce of MID 1")]
    assert [line for line in gateway.lines() if line.startswith("Double bounce:")] == [
        f"Double bounce: MID {bounce} to 0 - 5.1.1 - Bad destination mailbox address "
        "('550', ['5.1.1 no such sender'])"]
    assert gateway.engine.counters.system.generated_bounces == 1
    assert gateway.senders.messages == [] and gateway.senders.mail_commands == 1


async def test_a_queued_bounce_is_delivered_after_a_restart(gateway):
    gateway.sink.faults["rcpt"] = [Reply(550, "5.1.1 no such user")]
    gateway.senders.faults["connect"] = [Reply(421, "4.3.2 down")] * 3  # the DSN waits
    gateway.config.delivery.initial_retry = 60
    await gateway.start()
    await gateway.send("unknown user")
    await until(lambda: gateway.engine.counters.host("example.org").soft_bounced_events == 1)
    await gateway.engine.stop()
    gateway.senders.faults.clear()
    engine = MailEngine(gateway.engine.store, gateway.engine.data_dir, lambda: gateway.config,
                        version="15.5.1-055", serial="S")
    try:
        await engine.start(Endpoint("127.0.0.1", 0))
        await until(lambda: len(gateway.senders.messages) == 1)
        assert gateway.senders.messages[0][1] == ["alice@example.org"]
        assert engine.counters.system.generated_bounces == 0  # made by the earlier process
    finally:
        await engine.stop()
